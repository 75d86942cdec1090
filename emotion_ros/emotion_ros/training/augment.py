"""Augmentation with OpenCV in the input pipeline (Keras' Random* layers crashed TF 2.21 here)."""
import cv2
import numpy as np


def augment_faces(images: np.ndarray, rng: np.random.Generator, max_rotation: float = 10.0,
                  max_shift: float = 0.08, zoom: float = 0.1, max_shear: float = 0.1,
                  brightness: float = 0.25, flip: bool = True, low_resolution: float = 0.0,
                  low_sizes: tuple = (16, 40)) -> np.ndarray:
    """Random flip, rotation, shear, zoom, shift and brightness/contrast of [N,H,W] uint8 faces.

    low_resolution: the share of faces also shrunk to a random width in
    `low_sizes` (pixels) and scaled back, as a face 2-4 m from a robot's
    camera reaches the model (issue "People across the room").
    """
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
        if low_resolution and rng.random() < low_resolution:
            out[i] = shrink_and_restore(out[i], int(rng.integers(low_sizes[0], low_sizes[1] + 1)))
    return out


def shrink_and_restore(face: np.ndarray, width: int) -> np.ndarray:
    """A face as it looks when only `width` pixels wide, scaled back to its size.

    Shrinks with area averaging (a camera's pixels integrate light) and
    enlarges bilinearly, as alignment.align_face's warp enlarges a small face.
    """
    size = face.shape[1]
    if width >= size:
        return face
    small = cv2.resize(face, (width, width), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def shrink_faces(faces: np.ndarray, width: int) -> np.ndarray:
    """[N,H,W] faces each as shrink_and_restore makes it at `width` (the size evaluations)."""
    return np.stack([shrink_and_restore(face, width) for face in faces])
