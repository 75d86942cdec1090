"""Episodes of a lasting emotion per face, for /emotion_events.

An episode runs while a face's smoothed emotion is one of the watched
labels (e.g. sad, pain) with at least `min_confidence`. It is announced
once, with a START, when it has lasted `min_duration` seconds, and closed
with an END when the condition stops or the face is lost. A change from one
watched label to another ends one episode and begins the next.

Pain episodes run beside these, per face (PainEpisodeDetector): pain is a
second reading of the face (the pain score), not one of the labels, so a
face may be sad and pain-like at once and get both episodes. Pain has two
sources and one episode: the smoothed pain score at or above its threshold
(affect.PainCalibration), and a k-NN with a user-added `pain` label reading
pain confidently; while either holds, the face's one pain episode runs.
"""
import math
from dataclasses import dataclass

from .affect import PSPI_MAX

START, END = 'start', 'end'
PAIN = 'pain'
# Defaults of the emotion node's event_emotions and event_min_confidence; the emotion
# evaluation reports false alarms and recall at this confidence.
EVENT_EMOTIONS = ('sad', 'fear', 'angry', 'pain')
EVENT_MIN_CONFIDENCE = 0.5


@dataclass
class EmotionEpisodeEvent:
    kind: str           # START or END
    face_id: int
    emotion: str
    since: float        # s, stamp of the episode's first frame
    duration: float     # s, up to this event
    confidence: float   # mean smoothed confidence over the episode


@dataclass
class _Episode:
    emotion: str
    since: float
    last: float
    confidence_sum: float = 0.0
    frames: int = 0
    announced: bool = False

    def event(self, kind, face_id, stamp):
        return EmotionEpisodeEvent(kind, face_id, self.emotion, self.since, stamp - self.since,
                                   self.confidence_sum / max(self.frames, 1))


class SustainedEmotionDetector:
    def __init__(self, watched=EVENT_EMOTIONS, min_confidence: float = EVENT_MIN_CONFIDENCE,
                 min_duration: float = 3.0):
        self.watched = frozenset(watched)
        self.min_confidence = min_confidence
        self.min_duration = min_duration
        self._episodes: dict[int, _Episode] = {}

    def update(self, face_id: int, emotion: str, confidence: float, stamp: float):
        """Events caused by this frame of face `face_id` (a list, usually empty)."""
        events = []
        episode = self._episodes.get(face_id)
        holds = emotion in self.watched and confidence >= self.min_confidence
        if episode is not None and (not holds or emotion != episode.emotion):
            events += self._close(face_id)
            episode = None
        if holds:
            if episode is None:
                episode = self._episodes[face_id] = _Episode(emotion, stamp, stamp)
            episode.last = stamp
            episode.confidence_sum += confidence
            episode.frames += 1
            if not episode.announced and stamp - episode.since >= self.min_duration:
                episode.announced = True
                events.append(episode.event(START, face_id, stamp))
        return events

    def face_lost(self, face_id: int):
        """END of the face's announced episode, if any, when its track is gone."""
        episode = self._episodes.get(face_id)
        return self._close(face_id) if episode else []

    def active_faces(self):
        return list(self._episodes)

    def _close(self, face_id):
        """END (up to the episode's last frame) if the episode was announced."""
        episode = self._episodes.pop(face_id)
        return [episode.event(END, face_id, episode.last)] if episode.announced else []


class PainEpisodeDetector:
    """The pain episode of each face, from the pain score and from a k-NN `pain` label.

    threshold: pain score at or above which a frame counts (None: the score
        starts no episode). label_source: whether a k-NN `pain` label with at
        least `min_confidence` counts (the emotion node: when `pain` is one of
        its event_emotions). A frame's confidence is the larger of the k-NN's
        (when its label counts) and pain_score / PSPI_MAX (when the score counts).
    """

    def __init__(self, threshold: float | None, label_source: bool = True,
                 min_confidence: float = EVENT_MIN_CONFIDENCE, min_duration: float = 3.0):
        self.threshold = threshold
        self.label_source = label_source
        self.min_confidence = min_confidence
        self._episodes = SustainedEmotionDetector((PAIN,), 0.0, min_duration)

    def update(self, face_id: int, label: str, confidence: float, pain_score: float, stamp: float):
        """Events caused by this frame: the smoothed label and confidence, and pain score."""
        by_label = self.label_source and label == PAIN and confidence >= self.min_confidence
        by_score = self.threshold is not None and not math.isnan(pain_score) \
            and pain_score >= self.threshold
        strength = max(confidence if by_label else 0.0,
                       min(1.0, pain_score / PSPI_MAX) if by_score else 0.0)
        return self._episodes.update(face_id, PAIN if by_label or by_score else '', strength, stamp)

    def face_lost(self, face_id: int):
        return self._episodes.face_lost(face_id)

    def active_faces(self):
        return self._episodes.active_faces()
