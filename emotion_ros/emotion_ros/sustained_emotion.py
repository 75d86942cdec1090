"""Episodes of a lasting emotion per face, for /emotion_events.

An episode runs while a face's smoothed emotion is one of the watched
labels (e.g. sad, pain) with at least `min_confidence`. It is announced
once, with a START, when it has lasted `min_duration` seconds, and closed
with an END when the condition stops or the face is lost. A change from one
watched label to another ends one episode and begins the next.
"""
from dataclasses import dataclass

START, END = 'start', 'end'
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
