"""What a care robot says when an emotion lasts: the example behaviour's core.

A START event of a sustained emotion gets that emotion's phrase, if the
face is still in view (it appeared on /emotions in the last `max_age` s)
and the robot has not spoken for `min_interval` s: a robot that talks to
an empty room or repeats itself every few seconds is worse than a silent
one. A START heard before its face is in view (a node that started late
gets the events of ongoing episodes first) waits for the face, until its
END. A face may have two episodes at once (e.g. sad, and pain from the pain
score): each waits on its own, and the first START heard is said first.
"""

DEFAULT_RESPONSES = (
    'sad: You look sad. Can I help?',
    'pain: Are you in pain? Shall I call someone?',
    'fear: You seem worried. I am here with you.',
    'angry: You seem upset. Do you want me to give you some space?',
)


def parse_responses(entries) -> dict:
    """{'sad': 'You look sad...'} from 'emotion: phrase' strings (the ROS parameter's form)."""
    responses = {}
    for entry in entries:
        emotion, separator, phrase = entry.partition(':')
        if not separator or not emotion.strip() or not phrase.strip():
            raise ValueError(f"response '{entry}' is not of the form 'emotion: phrase'")
        responses[emotion.strip()] = phrase.strip()
    return responses


class CareResponder:
    def __init__(self, responses: dict, min_interval: float = 30.0, max_age: float = 1.0):
        self.responses = dict(responses)
        self.min_interval = min_interval
        self.max_age = max_age
        self._last_spoken = None
        self._faces_seen = {}
        self._waiting = {}       # (face id, emotion) of STARTs heard before the face was seen

    def faces_seen(self, face_ids, now: float):
        """Note the faces of an /emotions message received at `now` s."""
        for face_id in face_ids:
            self._faces_seen[face_id] = now

    def on_start(self, face_id: int, emotion: str, now: float) -> str | None:
        """The phrase to say for a START event at `now` s, or None."""
        phrase = self.responses.get(emotion)
        seen = self._faces_seen.get(face_id)
        if phrase is None:
            return None
        if seen is None or now - seen > self.max_age:
            self._waiting[face_id, emotion] = True
            return None
        self._waiting.pop((face_id, emotion), None)
        if self._last_spoken is not None and now - self._last_spoken < self.min_interval:
            return None
        self._last_spoken = now
        return phrase

    def on_end(self, face_id: int, emotion: str):
        """The face's episode of `emotion` ended: its START, if still waiting for the face, is dropped."""
        self._waiting.pop((face_id, emotion), None)

    def waiting_start(self, now: float) -> tuple[int, str, str | None] | None:
        """A START heard before its face was in view, now that it is: (face id, emotion,
        phrase or None as on_start says), or None."""
        for face_id, emotion in list(self._waiting):
            seen = self._faces_seen.get(face_id)
            if seen is not None and now - seen <= self.max_age:
                return face_id, emotion, self.on_start(face_id, emotion, now)
        return None
