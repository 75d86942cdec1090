"""Augmentation with OpenCV in the input pipeline (Keras' Random* layers crashed TF 2.21 here)."""
import cv2
import numpy as np


def augment_faces(images: np.ndarray, rng: np.random.Generator, max_rotation: float = 10.0,
                  max_shift: float = 0.08, zoom: float = 0.1, max_shear: float = 0.1,
                  brightness: float = 0.25, flip: bool = True) -> np.ndarray:
    """Random flip, rotation, shear, zoom, shift and brightness/contrast of [N,H,W] uint8 faces."""
    out = np.empty_like(images)
    size = images.shape[1]
    centre = size / 2
    for i, image in enumerate(images):
        angle = rng.uniform(-max_rotation, max_rotation)
        scale = rng.uniform(1 - zoom, 1 + zoom)
        matrix = cv2.getRotationMatrix2D((centre, centre), angle, scale)
        shear = rng.uniform(-max_shear, max_shear)
        matrix[0, 1] += shear
        matrix[0, 2] -= shear * centre
        matrix[:, 2] += rng.uniform(-max_shift, max_shift, 2) * size
        warped = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
        if flip and rng.random() < 0.5:
            warped = warped[:, ::-1]
        gain = rng.uniform(1 - brightness, 1 + brightness)
        offset = rng.uniform(-brightness, brightness) * 64
        out[i] = np.clip(warped * gain + offset, 0, 255)
    return out
