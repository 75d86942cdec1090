"""Detect, track and crop the faces of one frame, with their FaceMesh landmarks: the face
detector node's core."""
from dataclasses import dataclass

import cv2
import numpy as np

from .alignment import CROP_MARGIN, CROP_SIZE, align_face
from .face_detection import Detections, box_iou, correction_between
from .face_landmarks import FACEMESH_MIN_PRESENCE
from .tracking import FaceTracker


@dataclass
class TrackedFace:
    id: int
    box: np.ndarray                 # [x, y, w, h] pixels
    score: float
    keypoints: np.ndarray | None    # (K, 2) pixels, or None
    roll: float                     # rad, counter-clockwise
    crop: np.ndarray | None         # (crop_size, crop_size) uint8, or None
    mesh: np.ndarray | None = None  # (468, 2) FaceMesh points in pixels, or None


class FacePerception:
    """A detector, a tracker and the crop settings, applied frame by frame.

    crop_size 0 switches the crops off (faces only). face_mesh: a
    face_landmarks.FaceMesh, or None for no landmarks; a tracked face whose
    crop FaceMesh finds no face in gets none.
    region_detector (face_detection.RegionDetector) and full_detection_interval
    (s): between two looks at the whole frame at most that far apart, the faces
    of the last frame (up to max_region_faces of them) are found again in a
    region around each, for a third of the CPU; a face not found there, or a
    frame without faces, sends the next look to the whole frame. New faces are
    found by the whole-frame looks: up to full_detection_interval late. At a
    whole-frame look the tracked faces are also found in their regions, and
    each face's region boxes are corrected to its own whole-frame box from
    then on (face_detection.correction_between), so that its crops keep the
    framing of the whole-frame look; until then, the region detector's
    box_correction applies.
    detection_interval (s): the least time between two looks (whole frame or
    regions); a frame sooner is given the last look's faces again (boxes,
    crops, ids) without running a network: the robot budget mode's way to
    answer every frame at a fraction of the CPU. 0 = a look on every frame.
    """

    def __init__(self, detector, tracker: FaceTracker, crop_size: int = CROP_SIZE,
                 crop_margin: float = CROP_MARGIN, face_mesh=None, region_detector=None,
                 full_detection_interval: float = 0.0, max_region_faces: int = 2,
                 detection_interval: float = 0.0):
        self.detector = detector
        self.tracker = tracker
        self.crop_size = crop_size
        self.crop_margin = crop_margin
        self.face_mesh = face_mesh
        self.region_detector = region_detector
        self.full_detection_interval = full_detection_interval
        self.max_region_faces = max_region_faces
        self.detection_interval = detection_interval
        self.whole_frame_looks = 0      # frames the detector saw whole
        self.region_looks = 0           # frames whose faces were found in their regions
        self.held_frames = 0            # frames given the last look's faces again
        self._last_whole_frame = -float('inf')
        self._last_look = -float('inf')
        self._last_faces = []           # the tracked faces of the last frame
        self._corrections = {}          # track id -> its region boxes' correction

    def _detect(self, image: np.ndarray, stamp: float):
        following = self.region_detector is not None and \
            0 < len(self._last_faces) <= self.max_region_faces
        lost = False    # a followed face not in its region this frame
        if following and 0 <= stamp - self._last_whole_frame < self.full_detection_interval:
            detections = self.region_detector.detect(
                image, [face.box for face in self._last_faces],
                [self._corrections.get(face.id) for face in self._last_faces])
            if detections is not None:
                self.region_looks += 1
                return detections
            lost = True
        self._last_whole_frame = stamp
        self.whole_frame_looks += 1
        detections = self.detector.detect(image)
        if following and not lost and self.region_detector.box_correction is not None \
                and len(detections):
            self._learn_corrections(image, detections)
        return detections

    def _learn_corrections(self, image: np.ndarray, whole: Detections):
        """Each followed face's correction from its region box to its whole-frame box."""
        found = self.region_detector.find(image, [face.box for face in self._last_faces])
        if found is None:
            return
        overlap = box_iou(found.boxes, whole.boxes)
        for row, face in enumerate(self._last_faces):
            match = int(overlap[row].argmax())
            if overlap[row, match] >= 0.4:
                self._corrections[face.id] = correction_between(found.boxes[row],
                                                                whole.boxes[match])

    def process(self, image: np.ndarray, stamp: float) -> list[TrackedFace]:
        """Faces of a BGR frame taken at `stamp` seconds, highest score first."""
        # A clock that went back (a bag played again) is looked at at once.
        if 0 <= stamp - self._last_look < self.detection_interval:
            self.held_frames += 1
            return list(self._last_faces)
        self._last_look = stamp
        detections = self._detect(image, stamp)
        ids = self.tracker.update(detections.boxes, detections.scores, stamp)
        faces = []
        for i, face_id in enumerate(ids):
            if face_id == 0:
                continue
            keypoints = None if detections.keypoints is None else detections.keypoints[i]
            crop, roll = None, 0.0
            if self.crop_size:
                crop, roll = align_face(image, detections.boxes[i], keypoints,
                                        self.crop_size, self.crop_margin)
            faces.append(TrackedFace(int(face_id), detections.boxes[i],
                                     float(detections.scores[i]), keypoints, roll, crop))
        if self.face_mesh is not None and faces:
            points, presence = self.face_mesh.landmarks(
                image, [face.box for face in faces],
                None if detections.keypoints is None else [face.keypoints for face in faces])
            for face, face_points, score in zip(faces, points, presence):
                face.mesh = face_points if score >= FACEMESH_MIN_PRESENCE else None
        self._last_faces = faces
        ids = {face.id for face in faces}
        self._corrections = {i: c for i, c in self._corrections.items() if i in ids}
        return faces


def draw_faces(image: np.ndarray, faces, labels=None) -> np.ndarray:
    """A copy of `image` with each face's box, id, keypoints and optional label."""
    out = image.copy()
    for i, face in enumerate(faces):
        x, y, w, h = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 200, 0), 2)
        text = f'#{face.id}' + (f' {labels[i]}' if labels is not None else '')
        cv2.putText(out, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 200, 0), 1, cv2.LINE_AA)
        if face.mesh is not None:
            for px, py in face.mesh.astype(int):
                cv2.circle(out, (int(px), int(py)), 1, (255, 200, 0), -1)
        if face.keypoints is not None:
            for px, py in face.keypoints.astype(int):
                cv2.circle(out, (int(px), int(py)), 2, (0, 0, 255), -1)
    return out
