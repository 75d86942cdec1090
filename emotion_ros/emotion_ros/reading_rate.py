"""Reading each tracked face at its own rate: the robot budget mode's core (ROS-free).

A face's expression does not change 30 times a second, its box may: the
face detector and tracker run on every frame, but the AU model (and the
k-NN after it) need read a face only a few times a second. ReadingSchedule
says which faces of a frame are due for a fresh reading, at most `rate`
readings a second per face (0: every face on every frame), and keeps each
face's last reading, which the faces not due are given again. A new face is
read at once. Times are the frames' stamps (camera time, so a bag played
faster than real time is read as the camera saw it).
"""
from dataclasses import dataclass

# s: a frame this much before a face's next reading is due still counts as due (stamps
# that are whole frames apart are not exactly so in floating point).
EARLY = 1e-3
# s a face may be missing from the frames and keep its last reading and schedule.
FORGET_AFTER = 1.0


@dataclass
class _Face:
    reading: object
    next_due: float
    seen: float


class ReadingSchedule:
    """Which faces to read in a frame, and each face's last reading.

    rate: readings a second per face; 0 = every face on every frame (a live
    setting: assign it at any time).
    """

    def __init__(self, rate: float = 0.0):
        self.rate = float(rate)
        self._faces: dict[int, _Face] = {}
        self._latest = None

    def due(self, face_ids, stamp: float) -> list[bool]:
        """For each of a frame's faces, whether it gets a fresh reading now (then give it
        to read()); the others keep last(). Faces not seen for FORGET_AFTER s are
        forgotten, all of them when time goes back (a bag started again)."""
        if self._latest is not None and stamp < self._latest:
            self._faces.clear()
        self._latest = stamp
        self._faces = {face_id: face for face_id, face in self._faces.items()
                       if stamp - face.seen <= FORGET_AFTER}
        flags = []
        for face_id in face_ids:
            face = self._faces.get(face_id)
            if face is not None:
                face.seen = stamp
            flags.append(self.rate <= 0 or face is None or stamp + EARLY >= face.next_due)
        return flags

    def read(self, face_id: int, stamp: float, reading):
        """The face's fresh reading at `stamp`; its next is due 1/rate s after the one
        before (so that frames a little late do not lower the rate), or after this one."""
        period = 1.0 / self.rate if self.rate > 0 else 0.0
        face = self._faces.get(face_id)
        next_due = stamp + period
        if face is not None and stamp < face.next_due + period:
            next_due = face.next_due + period
        self._faces[face_id] = _Face(reading, next_due, stamp)

    def last(self, face_id: int):
        """The face's last reading, or None."""
        face = self._faces.get(face_id)
        return None if face is None else face.reading
