"""Dense face landmarks (MediaPipe FaceMesh through OpenVINO) and eye closure (AU43) from them.

FaceMesh takes a square, upright crop around a detected face and gives
468 points (x, y, depth) in the crop's pixels. Its weights are MediaPipe's
`face_landmark.tflite`, shipped as OpenVINO IR converted by
scripts/convert_mediapipe.py (Apache-2.0; BLAZEFACE_MODEL_CARD.md, FaceMesh
section). The crop follows MediaPipe's face_detection_front_detection_to_roi
graph: the detection box's centre, its longer side x 1.5, turned by the roll
the two eye keypoints give.

Eye closure (AU43): the eye aspect ratio (EAR, Soukupova and Cech 2016) of
each eye from six eyelid and corner points, averaged over both eyes: the lid
gap divided by the eye's width, so normalised by each face's own size (and
the same for near and far faces). It maps to an AU43 probability, a logistic
around the usual EAR blink threshold of 0.2, and a 0..5 intensity, the
fraction of the open lid gap (EAR 0.3) that is closed, reaching 5 at EAR 0.1
(FaceMesh's lid points stay that far apart on shut eyes). The mapping is
stateless: a per-track open-eye level would adapt to eyes that stay closed,
and a track may start with them closed (the crying sample clip does).
"""
import math
from collections import deque

import cv2
import numpy as np

from .alignment import roll_from_keypoints
from .face_detection import MODELS_DIR
from .openvino_runtime import INFERENCE_THREADS, cpu_settings, openvino_runtime

FACEMESH_MODEL = 'face_landmark.xml'
FACEMESH_INPUT_SIZE = 192
FACEMESH_POINTS = 468
# MediaPipe's RectTransformationCalculator options for the landmark crop.
FACEMESH_CROP_SCALE = 1.5
# Below this FaceMesh presence score a crop holds no face (MediaPipe's min_tracking_confidence).
FACEMESH_MIN_PRESENCE = 0.5

# EAR points (p1..p6) of FaceMesh's canonical mesh: outer corner, two upper-lid points,
# inner corner, two lower-lid points (p2 above p6, p3 above p5). "Right" is the person's.
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (263, 387, 385, 362, 380, 373)
# EAR levels: the blink threshold (probability 0.5), the logistic's width, open and shut lids.
EAR_CLOSED_THRESHOLD = 0.2
EAR_LOGISTIC_WIDTH = 0.02
EAR_OPEN = 0.3
EAR_SHUT = 0.1
AU43 = 43
FACS_MAX_INTENSITY = 5.0


class FaceMesh:
    """MediaPipe FaceMesh on OpenVINO: a BGR (or grey) image and face boxes in, 468 points out.

    Loading compiles the network (explicit, as the detectors do); nothing is downloaded.
    threads: OpenVINO inference threads on the CPU (openvino_runtime.cpu_settings).
    """

    def __init__(self, device: str = 'CPU', model_path: str | None = None,
                 threads: int = INFERENCE_THREADS):
        ov = openvino_runtime()
        path = model_path or str(MODELS_DIR / FACEMESH_MODEL)
        core = ov.Core()
        model = core.read_model(path)
        from openvino.preprocess import ColorFormat, PrePostProcessor

        # The BGR uint8 crop as it is: RGB order and MediaPipe's 0..1 scaling run inside
        # the compiled network.
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout('NHWC')) \
            .set_color_format(ColorFormat.BGR)
        ppp.input().model().set_layout(ov.Layout('NHWC'))
        ppp.input().preprocess().convert_element_type(ov.Type.f32) \
            .convert_color(ColorFormat.RGB).scale(255.0)
        config = cpu_settings(threads, INFERENCE_PRECISION_HINT='f32', PERFORMANCE_HINT='LATENCY') \
            if device == 'CPU' else {}
        self._compiled = core.compile_model(ppp.build(), device, config)
        self._request = self._compiled.create_infer_request()
        self._crop = self._request.get_input_tensor().data[0]
        outputs = {tuple(o.get_partial_shape().to_shape())[-1]: o for o in self._compiled.outputs}
        self._points, self._presence = outputs[FACEMESH_POINTS * 3], outputs[1]

    @staticmethod
    def crop_transform(box, keypoints: np.ndarray | None) -> np.ndarray:
        """2x3 affine from image pixels to the 192 px FaceMesh crop of a detection.

        box: [x, y, w, h] pixels; keypoints: BlazeFace's (6, 2) (eyes first) or None (no roll).
        """
        x, y, w, h = (float(v) for v in box)
        side = max(w, h) * FACEMESH_CROP_SCALE
        size = FACEMESH_INPUT_SIZE
        warp = cv2.getRotationMatrix2D((x + w / 2, y + h / 2),
                                       -math.degrees(roll_from_keypoints(keypoints)),
                                       size / max(side, 1e-6))
        warp[:, 2] += np.array([size / 2 - (x + w / 2), size / 2 - (y + h / 2)])
        return warp

    def landmarks(self, image: np.ndarray, boxes, keypoints=None):
        """(points, presence) of each face: (N, 468, 2) float32 image pixels and (N,) 0..1.

        image: BGR or grey uint8. boxes: (N, 4) [x, y, w, h]. keypoints: (N, K, 2) or None.
        presence is FaceMesh's own score that the crop holds a face.
        """
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        size = FACEMESH_INPUT_SIZE
        points = np.zeros((len(boxes), FACEMESH_POINTS, 2), np.float32)
        presence = np.zeros(len(boxes), np.float32)
        for i, box in enumerate(boxes):
            warp = self.crop_transform(box, None if keypoints is None else keypoints[i])
            cv2.warpAffine(image, warp, (size, size), dst=self._crop, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
            self._request.infer()
            crop_points = self._request.get_tensor(self._points).data.reshape(-1, 3)[:, :2]
            logit = float(self._request.get_tensor(self._presence).data.ravel()[0])
            presence[i] = 1.0 / (1.0 + math.exp(-min(max(logit, -100.0), 100.0)))
            points[i] = cv2.transform(crop_points[None].astype(np.float32),
                                      cv2.invertAffineTransform(warp))[0]
        return points, presence


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes from FaceMesh's (468, 2+) points: lid gap / eye width."""
    ratios = []
    for p1, p2, p3, p4, p5, p6 in (RIGHT_EYE_EAR, LEFT_EYE_EAR):
        width = np.linalg.norm(points[p1, :2] - points[p4, :2])
        gap = np.linalg.norm(points[p2, :2] - points[p6, :2]) + \
            np.linalg.norm(points[p3, :2] - points[p5, :2])
        ratios.append(gap / (2.0 * max(width, 1e-6)))
    return float(np.mean(ratios))


def au43_from_ear(ear: float) -> tuple[float, float]:
    """(probability, intensity 0..5) of AU43, eyes closed, from the mean eye aspect ratio."""
    z = (EAR_CLOSED_THRESHOLD - ear) / EAR_LOGISTIC_WIDTH
    probability = 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))
    closed = (EAR_OPEN - ear) / (EAR_OPEN - EAR_SHUT)
    return probability, FACS_MAX_INTENSITY * min(max(closed, 0.0), 1.0)


def au43(points: np.ndarray) -> tuple[float, float]:
    """(probability, intensity 0..5) of AU43 from FaceMesh's (468, 2) points."""
    return au43_from_ear(eye_aspect_ratio(points))
