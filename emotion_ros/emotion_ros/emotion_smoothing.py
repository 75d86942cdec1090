"""Steady emotion estimates per face: time-based averaging and label hysteresis.

Per-frame emotion distributions flicker. Each face's distribution is
averaged exponentially with a half-life in seconds (frame rates vary, so
time and not frame count sets the weight of the past), and the reported
label only changes when another emotion leads the current one by a margin.
A face unseen for longer than `max_gap` starts over. The pain score
(affect.PainCalibration) is averaged alike, with the same weight.
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class SmoothedEmotion:
    label: str
    confidence: float            # smoothed probability of `label`
    probabilities: np.ndarray    # smoothed distribution over the labels
    frame_count: int             # frames since the state (re)started
    time_span: float             # s from the first of them to this one
    pain_score: float = math.nan  # smoothed pain score (NaN when none was given)


@dataclass
class _FaceState:
    probabilities: np.ndarray
    label_index: int
    first_stamp: float
    last_stamp: float
    frame_count: int
    pain_score: float = math.nan


class EmotionSmoother:
    def __init__(self, labels, half_life: float = 0.5, switch_margin: float = 0.1,
                 max_gap: float = 1.0):
        self.labels = tuple(labels)
        self.half_life = half_life
        self.switch_margin = switch_margin
        self.max_gap = max_gap
        self._faces: dict[int, _FaceState] = {}

    def update(self, face_id: int, probabilities, stamp: float,
               pain_score: float = math.nan) -> SmoothedEmotion:
        """Fold in one frame's distribution (and pain score) of face `face_id` taken at `stamp` s."""
        probabilities = np.asarray(probabilities, np.float64)
        state = self._faces.get(face_id)
        if state is None or not (0 <= stamp - state.last_stamp <= self.max_gap):
            state = _FaceState(probabilities.copy(), int(probabilities.argmax()), stamp, stamp, 1,
                               float(pain_score))
            self._faces[face_id] = state
        else:
            weight = 1.0 - 0.5 ** ((stamp - state.last_stamp) / self.half_life) \
                if self.half_life > 0 else 1.0
            state.probabilities += weight * (probabilities - state.probabilities)
            state.pain_score = float(pain_score) if math.isnan(state.pain_score) \
                else state.pain_score + weight * (pain_score - state.pain_score)
            state.last_stamp = stamp
            state.frame_count += 1
            leader = int(state.probabilities.argmax())
            if state.probabilities[leader] > state.probabilities[state.label_index] + self.switch_margin:
                state.label_index = leader
        return SmoothedEmotion(self.labels[state.label_index],
                               float(state.probabilities[state.label_index]),
                               state.probabilities.astype(np.float32), state.frame_count,
                               state.last_stamp - state.first_stamp, state.pain_score)

    def forget(self, face_id: int):
        self._faces.pop(face_id, None)

    def forget_all_but(self, face_ids):
        """Drop the state of faces not in `face_ids` (tracks the detector lost)."""
        keep = set(face_ids)
        for face_id in [f for f in self._faces if f not in keep]:
            del self._faces[face_id]
