"""What the pipeline knows, in ROS4HRI (REP-155) terms: plain values, no ROS imports, so that
the mapping is tested without hri_msgs and the node stays a thin shell.

The strings and array size below are those of hri_msgs (Expression's constants,
FacialActionUnits' 99-entry arrays); test_hri_mapping checks them against hri_msgs where
it is installed.
"""
import math

# hri_msgs/FacialActionUnits: intensity and confidence are float32[99], indexed by AU code.
FACS_SIZE = 99
# FACS intensities are on the 0..5 scale (FaceActionUnits.intensities); ROS4HRI's are 0..1.
FACS_MAX_INTENSITY = 5.0

# Our labels (FaceEmotion's constants) -> hri_msgs/Expression's. `pain` and labels users
# add have no ROS4HRI counterpart unless they are spelt as one (e.g. "bored").
EXPRESSIONS = {
    'angry': 'angry',
    'disgust': 'disgusted',
    'fear': 'scared',
    'happy': 'happy',
    'sad': 'sad',
    'surprise': 'surprised',
    'neutral': 'neutral',
}
# Every hri_msgs/Expression constant; a label already spelt as one passes through.
HRI_EXPRESSIONS = frozenset((
    'neutral', 'angry', 'sad', 'happy', 'surprised', 'disgusted', 'scared', 'pleading',
    'vulnerable', 'despaired', 'guilty', 'disappointed', 'embarrassed', 'horrified',
    'skeptical', 'annoyed', 'furious', 'suspicious', 'rejected', 'bored', 'tired', 'asleep',
    'confused', 'amazed', 'excited'))


def face_hri_id(face_id: int) -> str:
    """REP-155 face id of our track id: 'f' + the decimal id (e.g. 'f1733112345').

    A ROS 2 name token must not start with a digit, and the id is a token of the per-face
    topics (/humans/faces/<id>/roi); the decimal keeps it easy to match with our logs.
    """
    return f'f{int(face_id)}'


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def normalized_roi(x: float, y: float, width: float, height: float,
                   image_width: int, image_height: int) -> tuple[float, float, float, float]:
    """Our pixel box -> (xmin, ymin, xmax, ymax) in 0..1 of the image, clipped to it (a box
    may extend past the border of the image; REP-155 wants [0, 1])."""
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f'image size {image_width}x{image_height} is not positive')
    return (_unit(x / image_width), _unit(y / image_height),
            _unit((x + width) / image_width), _unit((y + height) / image_height))


def expression_of(label: str) -> str:
    """hri_msgs/Expression.expression for our label; '' where ROS4HRI has no such
    expression (e.g. 'pain'): valence and arousal still describe the face then."""
    label = label.strip().lower()
    if label in EXPRESSIONS:
        return EXPRESSIONS[label]
    return label if label in HRI_EXPRESSIONS else ''


def _finite(value: float, default: float = 0.0) -> float:
    return float(value) if math.isfinite(value) else default


def expression_values(valence: float, arousal: float, confidence: float) -> tuple[float, float, float]:
    """(valence, arousal, confidence) clipped to Expression's ranges (-1..1, -1..1, 0..1)."""
    return (min(1.0, max(-1.0, _finite(valence))), min(1.0, max(-1.0, _finite(arousal))),
            _unit(_finite(confidence)))


def facs_arrays(au_codes, probabilities, intensities=()) -> tuple[list[float], list[float]]:
    """(intensity[99], confidence[99]) of hri_msgs/FacialActionUnits, indexed by AU code.

    intensity: the FACS intensity / 5 where the message gives one for the AU, else the AU's
    probability (both 0..1; with eyes_closed only AU 43 has an intensity). confidence: how sure the model is of the AU's presence or
    absence, max(p, 1 - p). AUs the model does not estimate: 0 and confidence 0 (unknown).
    Codes past the array and non-finite values are left out.
    """
    intensity = [0.0] * FACS_SIZE
    confidence = [0.0] * FACS_SIZE
    with_intensities = len(intensities) == len(au_codes) and len(au_codes) > 0
    for i, (code, probability) in enumerate(zip(au_codes, probabilities)):
        code = int(code)
        if not 0 <= code < FACS_SIZE or not math.isfinite(probability):
            continue
        value = intensities[i] / FACS_MAX_INTENSITY if with_intensities else probability
        if not math.isfinite(value):   # no intensity for this AU (others have one: AU 43)
            value = probability
        intensity[code] = _unit(float(value))
        p = _unit(float(probability))
        confidence[code] = max(p, 1.0 - p)
    return intensity, confidence
