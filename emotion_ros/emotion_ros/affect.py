"""Pain score and circumplex affect from AU and emotion estimates.

PSPI (Prkachin & Solomon 2008) = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43,
with AU4..AU10 as FACS intensities 0..5 and AU43 (eyes closed) 0 or 1, so
0..16. The AU model predicts occurrence probabilities, not intensities, so
each intensity is approximated as 5 x probability (an expected-intensity
proxy), and AU43 counts with its probability where the AU message has one
(from the face landmarks), else as 0: 0..15 without AU43.

Pain is not laughter, nor a calm face: laughter shares AU6 (and AU10, AU25)
with pain, and the AU model reads brow lowering (AU4) on many calm faces.
The pain score therefore caps the PSPI by how calm or smiling the emotion
k-NN reads the face: with w = P(neutral) + P(happy) (labels of
PainCalibration.calm_labels; AU12, lip-corner pulling, acts through the
k-NN's happy),

    pain = (1 - w) * PSPI + w * min(PSPI, calm_cap)

so a face read as calm or smiling counts at most calm_cap (5, one PSPI term)
and the PSPI pattern counts in full only on faces read otherwise. The pain
event threshold (above calm_cap) is fitted on FER+ Training faces by
`python -m emotion_ros.training.fit_pain` and kept with calm_cap in
models/pain_calibration.json (card: models/PAIN_SCORE_MODEL_CARD.md).

Valence and arousal are the probability-weighted mean of each emotion's
place on Russell's circumplex (1980); the coordinates below are the usual
approximate positions of the category labels. Labels without a place
(added emotions the table does not know) add nothing and the rest are
renormalised.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PSPI_AUS = (4, 6, 7, 9, 10)
INTENSITY_SCALE = 5.0
PSPI_MAX = 16.0
SHIPPED_PAIN_CALIBRATION = Path(__file__).resolve().parent / 'models' / 'pain_calibration.json'

# label -> (valence, arousal), each -1..1.
CIRCUMPLEX = {
    'happy': (0.8, 0.5),
    'surprise': (0.2, 0.8),
    'neutral': (0.0, 0.0),
    'sad': (-0.7, -0.4),
    'angry': (-0.6, 0.7),
    'fear': (-0.6, 0.6),
    'disgust': (-0.7, 0.3),
    'contempt': (-0.5, 0.2),
    'pain': (-0.8, 0.5),
}


def pspi(au_codes, probabilities) -> float:
    """PSPI pain score from one face's AU probabilities; NaN when AU4, AU6/7 or AU9/10 are missing."""
    return float(pspi_array(au_codes, np.asarray(probabilities, np.float64)[None])[0])


def pspi_array(au_codes, probabilities) -> np.ndarray:
    """PSPI of each row of [N, len(au_codes)] AU probabilities (NaN as pspi says)."""
    column = {int(code): i for i, code in enumerate(au_codes)}
    probabilities = np.asarray(probabilities, np.float64)
    if 4 not in column or not ({6, 7} & column.keys()) or not ({9, 10} & column.keys()):
        return np.full(len(probabilities), math.nan)

    def intensity(*codes):
        present = [INTENSITY_SCALE * probabilities[:, column[c]] for c in codes if c in column]
        return np.max(present, axis=0)
    eyes_closed = probabilities[:, column[43]] if 43 in column else 0.0
    return intensity(4) + intensity(6, 7) + intensity(9, 10) + eyes_closed


@dataclass(frozen=True)
class PainCalibration:
    """What turns PSPI into the pain score and the score into events (pain_calibration.json)."""
    threshold: float                          # pain score at or above which pain is read
    calm_cap: float = 5.0                     # most a face read calm or smiling counts
    calm_labels: tuple = ('neutral', 'happy')

    @classmethod
    def load(cls, path=None) -> 'PainCalibration':
        """From a file fit_pain wrote (default: the shipped one); read, never downloaded."""
        data = json.loads(Path(path or SHIPPED_PAIN_CALIBRATION).read_text())
        calibration = cls(float(data['threshold']), float(data['calm_cap']),
                          tuple(data['calm_labels']))
        if not calibration.calm_cap < calibration.threshold <= PSPI_MAX:
            raise ValueError(f'{path}: the threshold {calibration.threshold} must lie above calm_cap '
                             f'{calibration.calm_cap} and at most {PSPI_MAX}')
        return calibration

    def scores(self, au_codes, au_probabilities, labels, distributions) -> np.ndarray:
        """Pain score of each face: [N, AUs] probabilities and [N, labels] emotion distributions."""
        raw = pspi_array(au_codes, au_probabilities)
        calm = [i for i, label in enumerate(labels) if label in self.calm_labels]
        w = np.clip(np.asarray(distributions, np.float64)[:, calm].sum(1), 0.0, 1.0)
        return (1 - w) * raw + w * np.minimum(raw, self.calm_cap)

    def score(self, au_codes, au_probabilities, labels, distribution) -> float:
        return float(self.scores(au_codes, [au_probabilities], labels, [distribution])[0])


def valence_arousal(labels, probabilities, circumplex=CIRCUMPLEX) -> tuple[float, float]:
    """Probability-weighted circumplex position of a distribution over emotion labels."""
    known = [(circumplex[label], p) for label, p in zip(labels, probabilities) if label in circumplex]
    total = sum(p for _, p in known)
    if total <= 0:
        return 0.0, 0.0
    coords = np.array([c for c, _ in known])
    weights = np.array([p for _, p in known]) / total
    valence, arousal = weights @ coords
    return float(valence), float(arousal)
