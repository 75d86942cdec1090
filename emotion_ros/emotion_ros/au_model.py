"""Face crops -> FACS Action Unit probabilities, through an exchangeable backend.

A model is a directory: `au_model.json` (AU codes, input format) beside the
network file of each backend (`au_model.keras` for TensorFlow). The shipped
one is `emotion_ros/models/au_model`, inside the installed package, so
loading is offline and needs no path. All faces of a frame go through the
network as one batch (split at `max_batch`): one call per frame, never an
eager Keras call per face.
"""
import json
from pathlib import Path

import cv2
import numpy as np

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / 'models' / 'au_model'


class TensorFlowBackend:
    """Keras model run through one traced tf.function (any batch size, no retracing)."""

    name = 'tensorflow'

    def __init__(self, model_dir: Path, input_size: int, device: str = 'CPU'):
        if device.upper() != 'CPU':
            raise ValueError(f"the tensorflow backend runs on CPU only, not '{device}'")
        import keras
        import tensorflow as tf
        self.model = keras.models.load_model(model_dir / 'au_model.keras', compile=False)
        spec = tf.TensorSpec([None, input_size, input_size, 1], tf.float32)
        self._infer = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])

    def infer(self, faces: np.ndarray) -> np.ndarray:
        return self._infer(faces).numpy()


BACKENDS = {'tensorflow': TensorFlowBackend}


class AUModel:
    """AU probabilities for batches of grey face crops.

    model_dir: a model directory (default: the shipped model).
    backend: a key of BACKENDS. device: where the backend runs it.
    max_batch: most faces per network call.
    """

    def __init__(self, model_dir: str | Path | None = None, backend: str = 'tensorflow',
                 device: str = 'CPU', max_batch: int = 16):
        self.model_dir = Path(model_dir) if model_dir else SHIPPED_MODEL_DIR
        metadata_path = self.model_dir / 'au_model.json'
        if not metadata_path.is_file():
            raise FileNotFoundError(f'no AU model at {self.model_dir} (au_model.json missing)')
        self.metadata = json.loads(metadata_path.read_text())
        self.au_codes = tuple(int(code) for code in self.metadata['au_codes'])
        self.input_size = int(self.metadata['input']['size'])
        if backend not in BACKENDS:
            raise ValueError(f"unknown AU backend '{backend}' (choose from {', '.join(BACKENDS)})")
        self.backend = BACKENDS[backend](self.model_dir, self.input_size, device)
        self.max_batch = max(1, int(max_batch))
        # Trace and allocate now rather than on the first camera frame.
        self.predict_proba(np.zeros((1, self.input_size, self.input_size), np.uint8))

    def preprocess(self, crops) -> np.ndarray:
        """[N, S, S, 1] float32 in 0..255 from grey (or BGR) crops of any size."""
        size = self.input_size
        faces = np.empty((len(crops), size, size, 1), np.float32)
        for i, crop in enumerate(crops):
            if crop.ndim == 3:
                crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            if crop.shape != (size, size):
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            faces[i, :, :, 0] = crop
        return faces

    def predict_proba(self, crops) -> np.ndarray:
        """[N, len(au_codes)] probabilities, 0..1, for N crops."""
        if len(crops) == 0:
            return np.zeros((0, len(self.au_codes)), np.float32)
        faces = self.preprocess(crops)
        return np.concatenate([self.backend.infer(faces[start:start + self.max_batch])
                               for start in range(0, len(faces), self.max_batch)])
