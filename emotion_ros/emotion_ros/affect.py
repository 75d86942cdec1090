"""Pain score and circumplex affect from AU and emotion estimates.

PSPI (Prkachin & Solomon 2008) = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43,
with AU4..AU10 as FACS intensities 0..5 and AU43 (eyes closed) 0 or 1, so
0..16. The AU model predicts occurrence probabilities, not intensities, so
each intensity is approximated as 5 x probability (an expected-intensity
proxy), and AU43, which the model does not predict, counts as 0 unless an
AU43 probability is given: the score here ranges 0..15 without AU43.

Valence and arousal are the probability-weighted mean of each emotion's
place on Russell's circumplex (1980); the coordinates below are the usual
approximate positions of the category labels. Labels without a place
(added emotions the table does not know) add nothing and the rest are
renormalised.
"""
import math

import numpy as np

PSPI_AUS = (4, 6, 7, 9, 10)
INTENSITY_SCALE = 5.0

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
    """PSPI pain score from AU probabilities; NaN when AU4, AU6/7 or AU9/10 are missing."""
    value = dict(zip((int(c) for c in au_codes), (float(p) for p in probabilities)))
    if 4 not in value or not ({6, 7} & value.keys()) or not ({9, 10} & value.keys()):
        return math.nan

    def intensity(code):
        return INTENSITY_SCALE * value.get(code, 0.0)
    return (intensity(4) + max(intensity(6), intensity(7)) + max(intensity(9), intensity(10))
            + value.get(43, 0.0))


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
