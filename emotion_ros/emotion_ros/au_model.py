"""Face crops -> FACS Action Unit probabilities, through an exchangeable backend.

A model is a directory: `au_model.json` (AU codes, input format) beside the
network file of each backend (`au_model.keras` for TensorFlow; OpenVINO IR
`au_model.xml` in FP32 and `au_model_fp16.xml`, made by
`python -m emotion_ros.training.export_openvino`). The shipped
one is `emotion_ros/models/au_model`, inside the installed package, so
loading is offline and needs no path. All faces of a frame go through the
network as one batch (split at `max_batch`): one call per frame, never an
eager Keras call per face.
"""
import json
from pathlib import Path

import cv2
import numpy as np

from .openvino_runtime import INFERENCE_THREADS, cpu_settings, openvino_runtime, precision_hint

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / 'models' / 'au_model'


def model_input(crops, size: int) -> np.ndarray:
    """[N, size, size, 1] float32 in 0..255 from grey (or BGR) crops of any size.

    Training resizes its 48 px faces with this same function, so a 48 px
    crop reaches a 64 px model exactly as the training faces did.
    """
    faces = np.empty((len(crops), size, size, 1), np.float32)
    for i, crop in enumerate(crops):
        if crop.ndim == 3:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        if crop.shape != (size, size):
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        faces[i, :, :, 0] = crop
    return faces


class TensorFlowBackend:
    """Keras model run through one traced tf.function (any batch size, no retracing)."""

    name = 'tensorflow'

    def __init__(self, model_dir: Path, input_size: int, device: str = 'CPU', max_batch: int = 16):
        if device.upper() != 'CPU':
            raise ValueError(f"the tensorflow backend runs on CPU only, not '{device}'")
        self.device, self.note = 'CPU', ''
        import keras
        import tensorflow as tf
        self.model = keras.models.load_model(model_dir / 'au_model.keras', compile=False)
        spec = tf.TensorSpec([None, input_size, input_size, 1], tf.float32)
        self._infer = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])

    def infer(self, faces: np.ndarray) -> np.ndarray:
        return self._infer(faces).numpy()


class OpenVINOBackend:
    """The IR through OpenVINO: CPU, GPU, NPU (Core Ultra), MYRIAD (NCS2, OpenVINO 2022.3 only), AUTO.

    precision: CPU/GPU inference precision hint, 'f32' (default: parity with
        TensorFlow), 'bf16' or 'f16' (faster where the CPU has them), '' = the
        device's default (bf16 on CPUs with AMX).
    weights: 'fp32', 'fp16' or 'auto' (FP16 for NPU and MYRIAD, FP32 otherwise).
    fallback_device: used, with a note, when `device` is not there ('' = fail).
    threads: inference threads on the CPU (openvino_runtime.cpu_settings).
    Works with the current `openvino` API and 2022.3's `openvino.runtime`.
    NPU and MYRIAD need static shapes: the batch is fixed at `max_batch` and padded.
    """

    name = 'openvino'
    STATIC_SHAPE_DEVICES = ('NPU', 'MYRIAD')

    def __init__(self, model_dir: Path, input_size: int, device: str = 'CPU', precision: str = 'f32',
                 weights: str = 'auto', fallback_device: str = '', max_batch: int = 16,
                 threads: int = INFERENCE_THREADS):
        ov = openvino_runtime()
        version = ov.get_version()
        core = ov.Core()
        self.device, self.note = device.upper(), ''
        problem = self.device_problem(self.device, core.available_devices, version)
        if problem and not fallback_device:
            raise RuntimeError(problem)
        if problem:
            self.note = f'{problem}; running on {fallback_device.upper()} instead (fallback_device)'
            self.device = fallback_device.upper()
            if self.device_problem(self.device, core.available_devices, version):
                raise RuntimeError(f'{problem}; fallback_device {fallback_device} is not there either')
        if weights == 'auto':
            weights = 'fp16' if self.device in self.STATIC_SHAPE_DEVICES else 'fp32'
        path = model_dir / ('au_model_fp16.xml' if weights == 'fp16' else 'au_model.xml')
        if not path.is_file():
            raise FileNotFoundError(f'{path} missing: run python -m emotion_ros.training.export_openvino')
        model = core.read_model(str(path))
        self.static_batch = None
        if self.device in self.STATIC_SHAPE_DEVICES:
            self.static_batch = max_batch
            model.reshape([max_batch, input_size, input_size, 1])
        config = precision_hint(precision) if self.device in ('CPU', 'GPU') else {}
        if self.device == 'CPU':
            config = cpu_settings(threads, **config)
        self.compiled = core.compile_model(model, self.device, config)
        self.request = self.compiled.create_infer_request()

    @staticmethod
    def device_problem(device: str, available, version: str) -> str:
        """'' if `device` can run here, else one sentence on what to do."""
        if device == 'AUTO' or any(d.split('.')[0] == device for d in available):
            return ''
        if device == 'MYRIAD' and not version.startswith('2022'):
            return (f'MYRIAD (Movidius NCS2) is served only by OpenVINO 2022.3.1 (Python <= 3.10, '
                    f'e.g. ROS 2 Humble on Ubuntu 22.04), not {version}: install that, or use '
                    f'device NPU (its successor) or CPU')
        return (f"OpenVINO device '{device}' is not present (available: "
                f"{', '.join(available) or 'none'}); plug it in and install its driver, or set "
                f'device or fallback_device to one of those')

    def infer(self, faces: np.ndarray) -> np.ndarray:
        count = len(faces)
        if self.static_batch:
            padded = np.zeros((self.static_batch, *faces.shape[1:]), np.float32)
            padded[:count] = faces
            faces = padded
        self.request.infer({0: faces})
        return self.request.get_output_tensor(0).data[:count].copy()


BACKENDS = {'tensorflow': TensorFlowBackend, 'openvino': OpenVINOBackend}


class AUModel:
    """AU probabilities for batches of grey face crops.

    model_dir: a model directory (default: the shipped model).
    backend: a key of BACKENDS. device: where the backend runs it.
    max_batch: most images per network call (a face and its mirror image are two when
        au_model.json asks for mirror averaging; at least 2 then).
    openvino_options: precision, weights, fallback_device, threads (see OpenVINOBackend).
    """

    def __init__(self, model_dir: str | Path | None = None, backend: str = 'tensorflow',
                 device: str = 'CPU', max_batch: int = 16, **openvino_options):
        self.model_dir = Path(model_dir) if model_dir else SHIPPED_MODEL_DIR
        metadata_path = self.model_dir / 'au_model.json'
        if not metadata_path.is_file():
            raise FileNotFoundError(f'no AU model at {self.model_dir} (au_model.json missing)')
        self.metadata = json.loads(metadata_path.read_text())
        self.au_codes = tuple(int(code) for code in self.metadata['au_codes'])
        self.input_size = int(self.metadata['input']['size'])
        if backend not in BACKENDS:
            raise ValueError(f"unknown AU backend '{backend}' (choose from {', '.join(BACKENDS)})")
        # au_model.json says whether the model answers for a face and its mirror image
        # together (the mean of both), as it was evaluated.
        self.mirror_average = bool(self.metadata.get('mirror_average', False))
        self.max_batch = max(2 if self.mirror_average else 1, int(max_batch))
        self.backend = BACKENDS[backend](self.model_dir, self.input_size, device,
                                         max_batch=self.max_batch, **openvino_options)
        # Trace and allocate now rather than on the first camera frame.
        self.predict_proba(np.zeros((1, self.input_size, self.input_size), np.uint8))

    def predict_proba(self, crops) -> np.ndarray:
        """[N, len(au_codes)] probabilities, 0..1, for N crops."""
        if len(crops) == 0:
            return np.zeros((0, len(self.au_codes)), np.float32)
        faces = model_input(crops, self.input_size)
        if not self.mirror_average:
            return np.concatenate([self.backend.infer(faces[start:start + self.max_batch])
                                   for start in range(0, len(faces), self.max_batch)])
        # Each face and its mirror image in the same call; their mean is the answer.
        chunk = self.max_batch // 2
        outputs = []
        for start in range(0, len(faces), chunk):
            part = faces[start:start + chunk]
            both = self.backend.infer(np.concatenate([part, part[:, :, ::-1]]))
            outputs.append((both[:len(part)] + both[len(part):]) / 2)
        return np.concatenate(outputs)
