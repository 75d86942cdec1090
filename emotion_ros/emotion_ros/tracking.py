"""Stable face ids across frames.

Detections of each frame are matched to the live tracks by optimal
assignment (Hungarian) on the distance between box centres, in units of
the track's face size, gated by overlap or closeness. Only a confident
detection (score >= `min_new_score`) starts a track; weaker ones can only
continue one, which keeps a real face through hard frames while a
flicker of low scores on the background never becomes a face (the idea
of ByteTrack's two thresholds). A track survives
`max_age` seconds without a match, so a face the detector misses for a
few frames keeps its id; after that it is forgotten and a face that
comes back gets a new id. Time, not frame count, drives the memory,
since camera rates vary.

Ids come from an iterator the tracker is given: a node keeps one for its
whole run (run_face_ids) and hands it to every tracker it creates, so a
reconfigure does not start the ids again at 1.
"""
import itertools
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from scipy.optimize import linear_sum_assignment

from .face_detection import box_iou


FACE_ID_LIMIT = 2 ** 32       # Face.id is a uint32; 0 means no id
RUN_IDS_PER_SECOND = 10


def run_face_ids(start_time: float | None = None) -> Iterator[int]:
    """Track ids for one run of a node, unique across its runs: counting up from its start
    time (wall clock, default now) in tenths of a second, modulo 2**32 - 1 and skipping 0.

    A run starts above every id an earlier run gave unless that run gave more than
    RUN_IDS_PER_SECOND new ids a second on average over its life; the start values wrap
    after 2**32 / 10 s, 13.6 years. Wall time, not ROS time: a sim clock restarts with
    every bag played.
    """
    start = int((time.time() if start_time is None else start_time) * RUN_IDS_PER_SECOND)
    return (1 + (start + n) % (FACE_ID_LIMIT - 1) for n in itertools.count())


@dataclass
class Track:
    id: int
    box: np.ndarray        # last matched box [x, y, w, h]
    first_seen: float      # seconds
    last_seen: float       # seconds
    hits: int = 1


class FaceTracker:
    """Assigns track ids to per-frame face boxes.

    min_iou: a detection overlapping a track by at least this IoU may match it.
    max_centre_distance: ... or one whose centre is within this many face
        sizes (sqrt(w*h) of the track) of the track's centre (fast motion).
    max_age: seconds a track lives on without a matching detection.
    min_new_score: lowest detection score that starts a new track.
    max_size_change: a detection whose size (sqrt(w*h)) differs from the
        track's by more than this factor never continues it, so a weak false
        detection near where a face just left cannot take over its track.
    ids: where new tracks take their ids; default 1, 2, 3, ...
    """

    def __init__(self, min_iou: float = 0.2, max_centre_distance: float = 0.6,
                 max_age: float = 1.0, min_new_score: float = 0.7, max_size_change: float = 1.5,
                 ids: Iterator[int] | None = None):
        self.min_iou = min_iou
        self.max_size_change = max_size_change
        self.min_new_score = min_new_score
        self.max_centre_distance = max_centre_distance
        self.max_age = max_age
        self.tracks: list[Track] = []
        self._ids = itertools.count(1) if ids is None else ids

    def reset(self):
        """Forget every track; ids keep counting up so none is reused."""
        self.tracks = []

    def update(self, boxes: np.ndarray, scores: np.ndarray, stamp: float) -> np.ndarray:
        """Match this frame's boxes (N, 4) at time `stamp` [s]; return their ids (N,).

        Id 0 marks a detection that matched no track and was too weak to start one.
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        # A stamp that goes back (bag looped, clock reset) would freeze
        # expiry: start over.
        if self.tracks and stamp < max(t.last_seen for t in self.tracks):
            self.reset()
        self.tracks = [t for t in self.tracks if stamp - t.last_seen <= self.max_age]

        ids = np.zeros(len(boxes), np.int64)
        unmatched = set(range(len(boxes)))
        if self.tracks and len(boxes):
            track_boxes = np.stack([t.box for t in self.tracks])
            cost = self._distance(track_boxes, boxes)
            allowed = ((box_iou(track_boxes, boxes) >= self.min_iou)
                       | (cost <= self.max_centre_distance)) & \
                (self._size_change(track_boxes, boxes) <= self.max_size_change)
            rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
            for row, col in zip(rows, cols):
                if not allowed[row, col]:
                    continue
                track = self.tracks[row]
                track.box, track.last_seen = boxes[col], stamp
                track.hits += 1
                ids[col] = track.id
                unmatched.discard(col)
        for col in sorted(unmatched):
            if scores[col] < self.min_new_score:
                continue
            track = Track(next(self._ids), boxes[col], stamp, stamp)
            self.tracks.append(track)
            ids[col] = track.id
        return ids

    @staticmethod
    def _size_change(track_boxes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(T, N) factor >= 1 between the face sizes sqrt(w*h) of tracks and detections."""
        track_size = np.sqrt(np.maximum(track_boxes[:, 2] * track_boxes[:, 3], 1e-6))[:, None]
        size = np.sqrt(np.maximum(boxes[:, 2] * boxes[:, 3], 1e-6))[None]
        return np.maximum(track_size / size, size / track_size)

    @staticmethod
    def _distance(track_boxes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Centre distance (T, N) in units of each track's face size."""
        track_centres = track_boxes[:, :2] + track_boxes[:, 2:] / 2
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        size = np.sqrt(track_boxes[:, 2] * track_boxes[:, 3])
        return np.linalg.norm(track_centres[:, None] - centres[None], axis=2) / \
            np.maximum(size, 1e-6)[:, None]
