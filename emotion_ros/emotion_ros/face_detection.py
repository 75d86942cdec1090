"""Face detectors: BlazeFace (OpenVINO) and OpenCV's Haar cascade.

Both take a BGR uint8 image and return `Detections` in image pixels, so
the tracker and the node do not care which one runs. BlazeFace is the
default: it finds three-quarter views and small faces that the Haar
cascade (what the original systems used) misses, and it gives eye
keypoints for alignment. Its weights are MediaPipe's, shipped in
`emotion_ros/models` as OpenVINO IR converted from the `.tflite` files
(Apache-2.0; the model card there says how): OpenVINO 2023.0 and older
cannot read the full-range `.tflite`. The anchor decoding below follows
MediaPipe's SsdAnchorsCalculator and TensorsToDetectionsCalculator options
for these two models.
"""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .openvino_runtime import INFERENCE_THREADS, cpu_settings, openvino_runtime, precision_hint

MODELS_DIR = Path(__file__).resolve().parent / 'models'


@dataclass
class Detections:
    """Faces found in one image, sorted by score, highest first.

    boxes: (N, 4) float32 [x, y, width, height] in pixels.
    scores: (N,) float32, 0..1.
    keypoints: (N, K, 2) float32 pixels, or None when the detector gives none.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None

    def __len__(self):
        return len(self.boxes)

    @classmethod
    def empty(cls, num_keypoints: int | None = None):
        keypoints = None if num_keypoints is None else np.zeros((0, num_keypoints, 2), np.float32)
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), keypoints)


@dataclass(frozen=True)
class BlazeFaceVariant:
    """What MediaPipe's graph config says about one BlazeFace model."""

    filename: str
    input_size: int
    strides: tuple
    anchors_per_layer: int


BLAZEFACE_VARIANTS = {
    # face_detection_full_range.pbtxt: 1 layer, stride 4, no interpolated anchor.
    'full_range': BlazeFaceVariant('face_detection_full_range_sparse.xml', 192, (4,), 1),
    # face_detection_short_range.pbtxt: 4 layers, interpolated anchor -> 2 per layer.
    'short_range': BlazeFaceVariant('face_detection_short_range.xml', 128, (8, 16, 16, 16), 2),
}
# BlazeFace keypoint order (the person's right eye is on the image's left).
BLAZEFACE_KEYPOINTS = ('right_eye', 'left_eye', 'nose_tip', 'mouth_centre',
                       'right_ear_tragion', 'left_ear_tragion')


def ssd_anchor_centres(input_size: int, strides, anchors_per_layer: int) -> np.ndarray:
    """Anchor centres (A, 2) as (x, y) in 0..1, in the order the model outputs them.

    With fixed-size anchors only the centres matter: consecutive layers of
    equal stride share one feature map, each cell holding all their anchors.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        anchors_per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            anchors_per_cell += anchors_per_layer
            layer += 1
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing='ij')
        grid = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        centres.append(np.repeat(grid, anchors_per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def weighted_nms(boxes, scores, keypoints, iou_threshold: float, max_count: int):
    """MediaPipe-style blending NMS: overlapping boxes are averaged by score.

    Blending rather than discarding steadies boxes from frame to frame,
    which the tracker and the crops downstream both profit from.
    Returns (boxes, scores, keypoints) of at most `max_count` faces.
    """
    order = np.argsort(-scores)
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    remaining = np.ones(len(boxes), bool)
    out_boxes, out_scores, out_keypoints = [], [], []
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        overlap = box_iou(boxes[i:i + 1], boxes)[0]
        group = remaining & (overlap >= iou_threshold)
        group[i] = True
        weights = scores[group][:, None]
        out_boxes.append((boxes[group] * weights).sum(0) / weights.sum())
        out_keypoints.append((keypoints[group] * weights[:, :, None]).sum(0) / weights.sum())
        out_scores.append(scores[i])
        remaining &= ~group
        if len(out_boxes) == max_count:
            break
    if not out_boxes:
        return boxes[:0], scores[:0], keypoints[:0]
    return (np.array(out_boxes, np.float32), np.array(out_scores, np.float32),
            np.array(out_keypoints, np.float32))


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging; large shrinks halve first, on OpenCV's fast path for exact
    halves: 0.5 ms instead of 1.2 ms for 640x480 -> 192x144, the same detections within
    1 frame in 240 (WolfgangLanger_Pexels.mp4)."""
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)
    interpolation = cv2.INTER_AREA if image.shape[1] > width else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes [x, y, w, h]: (N, 4) x (M, 4) -> (N, M)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    inter_w = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    inter_h = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = inter_w * inter_h
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


class BlazeFaceDetector:
    """MediaPipe BlazeFace run through OpenVINO on a letterboxed frame.

    `variant` 'full_range' (192 px input, faces up to ~5 m, also small
    and turned faces) or 'short_range' (128 px, faces within ~2 m).
    threads: OpenVINO inference threads on the CPU (openvino_runtime.cpu_settings).
    precision: the CPU's inference precision ('f32', 'bf16', 'f16'; openvino_runtime.precision_hint).
    """

    def __init__(self, variant: str = 'full_range', score_threshold: float = 0.5,
                 nms_threshold: float = 0.3, max_faces: int = 10, min_face_size: float = 0.0,
                 device: str = 'CPU', model_path: str | None = None,
                 threads: int = INFERENCE_THREADS, precision: str = 'f32'):
        if variant not in BLAZEFACE_VARIANTS:
            raise ValueError(f"unknown BlazeFace variant '{variant}' "
                             f"(choose from {', '.join(BLAZEFACE_VARIANTS)})")
        ov = openvino_runtime()
        self.variant = BLAZEFACE_VARIANTS[variant]
        self.precision = precision
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_faces = max_faces
        self.min_face_size = min_face_size
        path = Path(model_path) if model_path else MODELS_DIR / self.variant.filename
        if not path.is_file():
            raise FileNotFoundError(f'BlazeFace model not found: {path}')
        core = ov.Core()
        config = cpu_settings(threads, **precision_hint(precision), PERFORMANCE_HINT='LATENCY') \
            if device == 'CPU' else {}
        self._compiled = core.compile_model(self._with_preprocessing(core.read_model(str(path))),
                                            device, config)
        self._request = self._compiled.create_infer_request()
        # The letterbox is drawn straight into the request's input tensor: no copy, and no
        # infer() keyword (its sharing option changed name in OpenVINO 2023.1).
        self._letterbox = self._request.get_input_tensor().data[0]
        self._anchors = ssd_anchor_centres(self.variant.input_size, self.variant.strides,
                                           self.variant.anchors_per_layer)
        outputs = {tuple(o.get_partial_shape().to_shape())[-1]: o for o in self._compiled.outputs}
        self._regressors, self._classificators = outputs[16], outputs[1]

    @staticmethod
    def _with_preprocessing(model):
        """The model taking the BGR uint8 letterbox as it is: the RGB order and the scaling
        to -1..1 that MediaPipe feeds it run inside the compiled network, fused."""
        ov = openvino_runtime()
        from openvino.preprocess import ColorFormat, PrePostProcessor

        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout('NHWC')) \
            .set_color_format(ColorFormat.BGR)
        ppp.input().model().set_layout(ov.Layout('NHWC'))
        ppp.input().preprocess().convert_element_type(ov.Type.f32) \
            .convert_color(ColorFormat.RGB).mean(127.5).scale(127.5)
        return ppp.build()

    def detect(self, image: np.ndarray, region=None) -> Detections:
        """Faces in a BGR image. region (x, y, side) in pixels: only those in that square of
        the image (what lies outside the image reads black), which the network then sees at
        its whole input size, so a small face there is seen larger than in the whole frame."""
        size = self.variant.input_size
        height, width = image.shape[:2]
        if region is None:
            scale = size / max(height, width)
            left, top, right, bottom = 0, 0, width, height
            content_w, content_h = max(1, round(width * scale)), max(1, round(height * scale))
            pad_x, pad_y = (size - content_w) // 2, (size - content_h) // 2
        else:
            x, y, side = (float(v) for v in region)
            scale = size / max(side, 1.0)
            left, top = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
            right, bottom = min(width, int(np.ceil(x + side))), min(height, int(np.ceil(y + side)))
            # Even sides: OpenCV halves those on its fast path (0.09 against 1.1 ms here).
            right, bottom = right - (right - left) % 2, bottom - (bottom - top) % 2
            if right - left < 2 or bottom - top < 2:
                return Detections.empty(len(BLAZEFACE_KEYPOINTS))
            pad_x = min(size - 1, max(0, round((left - x) * scale)))
            pad_y = min(size - 1, max(0, round((top - y) * scale)))
            content_w = max(1, min(size - pad_x, round((right - left) * scale)))
            content_h = max(1, min(size - pad_y, round((bottom - top) * scale)))
        resized = resize_to(image[top:bottom, left:right], content_w, content_h)
        self._letterbox[:] = 0
        self._letterbox[pad_y:pad_y + content_h, pad_x:pad_x + content_w] = resized
        self._request.infer()
        raw = self._request.get_tensor(self._regressors).data[0]
        logits = np.clip(self._request.get_tensor(self._classificators).data[0, :, 0]
                         .astype(np.float64), -100.0, 100.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.score_threshold
        if not keep.any():
            return Detections.empty(len(BLAZEFACE_KEYPOINTS))
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep]

        # Offsets are in input pixels relative to the anchor centre; to letterbox pixels.
        centres = raw[:, 0:2] + anchors * size
        sizes = raw[:, 2:4]
        boxes = np.concatenate([centres - sizes / 2, sizes], axis=1)
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :] * size
        boxes, scores, keypoints = weighted_nms(boxes, scores, keypoints,
                                                self.nms_threshold, self.max_faces)
        # Letterbox pixels -> image pixels (the resized part starts at the pad, the region's
        # part of the image at left, top; a region's scale is the rounded one).
        scale_xy = np.array([scale, scale] if region is None else
                            [content_w / (right - left), content_h / (bottom - top)], np.float32)
        offset = np.array([pad_x, pad_y], np.float32)
        origin = np.array([left, top], np.float32)
        boxes[:, 0:2] = (boxes[:, 0:2] - offset) / scale_xy + origin
        boxes[:, 2:4] /= scale_xy
        keypoints = (keypoints - offset) / scale_xy + origin
        big_enough = np.minimum(boxes[:, 2], boxes[:, 3]) >= self.min_face_size
        return Detections(boxes[big_enough], scores[big_enough], keypoints[big_enough])


HAAR_CASCADE = 'haarcascade_frontalface_default.xml'
# Where Debian's and Ubuntu's OpenCV (python3-opencv, opencv-data) keep the cascades.
SYSTEM_HAAR_DIRS = ('/usr/share/opencv4/haarcascades', '/usr/share/opencv/haarcascades')


def find_haar_cascade(name: str = HAAR_CASCADE) -> Path:
    """OpenCV's cascade file: in `cv2.data` where OpenCV came from pip, which
    Debian's and Ubuntu's python3-opencv lack, else in the system's share directory."""
    pip_data = getattr(getattr(cv2, 'data', None), 'haarcascades', None)
    candidates = ([Path(pip_data)] if pip_data else []) + [Path(d) for d in SYSTEM_HAAR_DIRS]
    for directory in candidates:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"OpenCV's Haar cascade {name} is in none of {', '.join(map(str, candidates))}: install "
        f'opencv-data (Debian, Ubuntu) or opencv-python, or use the BlazeFace detector')


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, as the original systems used.

    Frontal faces only and no keypoints; it reports a score of 1.0 for
    every detection since the cascade has no calibrated confidence.
    """

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_face_size: float = 24.0, max_faces: int = 10, cascade_path: str | None = None):
        if cascade_path is None:
            cascade_path = str(find_haar_cascade())
        self._cascade = cv2.CascadeClassifier(cascade_path)
        if self._cascade.empty():
            raise FileNotFoundError(f'Haar cascade could not be loaded: {cascade_path}')
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_size = int(min_face_size)
        self.max_faces = max_faces

    def detect(self, image: np.ndarray) -> Detections:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_face_size, self.min_face_size))
        if len(found) == 0:
            return Detections.empty()
        boxes = np.asarray(found, np.float32)
        # Largest first, as a stand-in for a score order.
        boxes = boxes[np.argsort(-boxes[:, 2] * boxes[:, 3])][:self.max_faces]
        return Detections(boxes, np.ones(len(boxes), np.float32), None)


class FallbackDetector:
    """A primary detector, and a second one asked only for frames where the first finds no face.

    Full-range BlazeFace misses most faces that fill the picture (a
    portrait crop, someone leaning into the camera), which the short-range
    model finds: the pair costs the second network only on frames without a face.
    """

    def __init__(self, primary, fallback):
        self.primary = primary
        self.fallback = fallback

    def detect(self, image: np.ndarray) -> Detections:
        detections = self.primary.detect(image)
        return detections if len(detections) else self.fallback.detect(image)


# The short-range model's boxes, read as the full-range model's: its box is this factor
# smaller and its centre this many (of its) box widths right and down of the full-range box's
# on the same face; medians over FER2013 Training faces (`python scripts/fit_region_boxes.py`,
# results/region_boxes.json). The crops (crop_margin) were framed on full-range boxes.
SHORT_TO_FULL_RANGE_BOX = {'scale': 1.059, 'shift': (0.012, 0.042)}


class RegionDetector:
    """Finds tracked faces again, each in a square around where it was.

    The short-range model on a square `region_size` face sizes wide costs a
    third of the full-range model on the whole frame (128 against 192 px
    input) and sees the face larger. It only follows faces already found:
    new faces need the whole frame (FacePerception decides when).
    detector: a short-range BlazeFaceDetector. box_correction: its boxes as
    the main detector draws them ({'scale', 'shift'}, see
    SHORT_TO_FULL_RANGE_BOX), or None when they need none.
    """

    def __init__(self, detector: BlazeFaceDetector, box_correction: dict | None = None,
                 region_size: float = 2.0):
        self.detector = detector
        self.box_correction = box_correction
        self.region_size = region_size

    def find(self, image: np.ndarray, boxes) -> Detections | None:
        """The short-range detection nearest each box's centre, uncorrected, in the boxes'
        order; None when a face is not in its region any more (turned away, hidden, moved
        fast): only the whole frame can say where it went."""
        found = []
        for box in np.asarray(boxes, np.float32).reshape(-1, 4):
            centre = box[:2] + box[2:] / 2
            side = self.region_size * float(max(box[2], box[3]))
            detections = self.detector.detect(image, (*(centre - side / 2), side))
            if not len(detections):
                return None
            nearest = int(np.argmin(np.linalg.norm(
                detections.boxes[:, :2] + detections.boxes[:, 2:] / 2 - centre, axis=1)))
            found.append((detections.boxes[nearest], detections.scores[nearest],
                          detections.keypoints[nearest]))
        if not found:
            return Detections.empty(len(BLAZEFACE_KEYPOINTS))
        boxes, scores, keypoints = (np.stack(column).astype(np.float32) for column in zip(*found))
        return Detections(boxes, scores, keypoints)

    def detect(self, image: np.ndarray, boxes, corrections=None) -> Detections | None:
        """find's detections with their boxes corrected, highest score first as every
        detector's. corrections: one {'scale', 'shift'} per box (a face's own, see
        correction_between), or None for box_correction."""
        found = self.find(image, boxes)
        if found is None or not len(found):
            return found
        corrections = [c or self.box_correction for c in (corrections or [None] * len(found))]
        if any(c is not None for c in corrections):
            scale = np.array([c['scale'] if c else 1.0 for c in corrections], np.float32)
            shift = np.array([c['shift'] if c else (0.0, 0.0) for c in corrections], np.float32)
            sizes = found.boxes[:, 2:]
            centres = found.boxes[:, :2] + sizes / 2 - shift * sizes
            found.boxes = np.concatenate([centres - sizes * scale[:, None] / 2,
                                          sizes * scale[:, None]], axis=1).astype(np.float32)
        order = np.argsort(-found.scores, kind='stable')
        return Detections(found.boxes[order], found.scores[order], found.keypoints[order])


def correction_between(region_box, box) -> dict:
    """The {'scale', 'shift'} that turns a short-range box into the main detector's box of the
    same face in the same frame (the form of SHORT_TO_FULL_RANGE_BOX)."""
    region_box, box = np.asarray(region_box, np.float64), np.asarray(box, np.float64)
    scale = float(np.sqrt(box[2] * box[3] / max(region_box[2] * region_box[3], 1e-6)))
    shift = ((region_box[:2] + region_box[2:] / 2) - (box[:2] + box[2:] / 2)) / \
        np.maximum(region_box[2:], 1e-6)
    return {'scale': scale, 'shift': tuple(float(v) for v in shift)}


# The short-range network that finds followed faces again between whole-frame looks runs in
# bf16 where the CPU computes in it (avx512_bf16, AMX; other CPUs run it in f32): 0.91 against
# 1.39 ms per call on a 2-core AMD EPYC, its boxes overlapping f32's by a mean IoU of 0.997 on
# the sample clips, the same smoothed labels on 100% and 97.7% of the replay clips' frames
# (README, "CPU at camera rate"). The whole-frame network stays f32: in bf16 it moved the
# Wolfgang clip's labels on 8.7% of its frames.
REGION_PRECISION = 'bf16'


def make_region_detector(detector, threads: int = INFERENCE_THREADS, device: str = 'CPU',
                         precision: str = REGION_PRECISION):
    """The RegionDetector that follows the faces of `detector` (one of make_detector's), or
    None for one without (Haar). It uses the detector's short-range network (the close-face
    fallback's, or the detector itself when that is the short-range model) where that runs
    in `precision` (on a device other than the CPU, which takes no precision hint, always),
    else a short-range network of its own."""
    primary = detector.primary if isinstance(detector, FallbackDetector) else detector
    if not isinstance(primary, BlazeFaceDetector):
        return None
    own_boxes = primary.variant is BLAZEFACE_VARIANTS['short_range']
    short_range = primary if own_boxes else \
        detector.fallback if isinstance(detector, FallbackDetector) else None
    if short_range is None or (device == 'CPU' and short_range.precision != precision):
        short_range = BlazeFaceDetector('short_range', primary.score_threshold,
                                        primary.nms_threshold, primary.max_faces,
                                        primary.min_face_size, device, threads=threads,
                                        precision=precision)
    return RegionDetector(short_range, None if own_boxes else SHORT_TO_FULL_RANGE_BOX)


DETECTORS = ('blazeface', 'blazeface_short', 'haar')


def make_detector(name: str, score_threshold: float = 0.5, nms_threshold: float = 0.3,
                  max_faces: int = 10, min_face_size: float = 0.0, device: str = 'CPU',
                  close_face_fallback: bool = True, threads: int = INFERENCE_THREADS):
    """Build a detector by name: 'blazeface' (full range), 'blazeface_short' or 'haar'.

    close_face_fallback: 'blazeface' asks the short-range model on frames where
    it finds no face (FallbackDetector).
    """
    if name == 'blazeface':
        full_range = BlazeFaceDetector('full_range', score_threshold, nms_threshold, max_faces,
                                       min_face_size, device, threads=threads)
        if not close_face_fallback:
            return full_range
        return FallbackDetector(full_range, BlazeFaceDetector(
            'short_range', score_threshold, nms_threshold, max_faces, min_face_size, device,
            threads=threads))
    if name == 'blazeface_short':
        return BlazeFaceDetector('short_range', score_threshold, nms_threshold, max_faces,
                                 min_face_size, device, threads=threads)
    if name == 'haar':
        return HaarFaceDetector(max_faces=max_faces, min_face_size=max(min_face_size, 24.0))
    raise ValueError(f"unknown detector '{name}' (choose from {', '.join(DETECTORS)})")
