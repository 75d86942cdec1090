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

from .openvino_runtime import INFERENCE_THREADS, cpu_settings, openvino_runtime

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
    """

    def __init__(self, variant: str = 'full_range', score_threshold: float = 0.5,
                 nms_threshold: float = 0.3, max_faces: int = 10, min_face_size: float = 0.0,
                 device: str = 'CPU', model_path: str | None = None,
                 threads: int = INFERENCE_THREADS):
        if variant not in BLAZEFACE_VARIANTS:
            raise ValueError(f"unknown BlazeFace variant '{variant}' "
                             f"(choose from {', '.join(BLAZEFACE_VARIANTS)})")
        ov = openvino_runtime()
        self.variant = BLAZEFACE_VARIANTS[variant]
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_faces = max_faces
        self.min_face_size = min_face_size
        path = Path(model_path) if model_path else MODELS_DIR / self.variant.filename
        if not path.is_file():
            raise FileNotFoundError(f'BlazeFace model not found: {path}')
        core = ov.Core()
        config = cpu_settings(threads, INFERENCE_PRECISION_HINT='f32', PERFORMANCE_HINT='LATENCY') \
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

    def detect(self, image: np.ndarray) -> Detections:
        size = self.variant.input_size
        height, width = image.shape[:2]
        scale = size / max(height, width)
        resized = resize_to(image, max(1, round(width * scale)), max(1, round(height * scale)))
        pad_x, pad_y = (size - resized.shape[1]) // 2, (size - resized.shape[0]) // 2
        self._letterbox[:] = 0
        self._letterbox[pad_y:pad_y + resized.shape[0], pad_x:pad_x + resized.shape[1]] = resized
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
        # Letterbox pixels -> image pixels.
        offset = np.array([pad_x, pad_y], np.float32)
        boxes[:, 0:2] = (boxes[:, 0:2] - offset) / scale
        boxes[:, 2:4] /= scale
        keypoints = (keypoints - offset) / scale
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
