"""Upright, square, grey face crops for the Action Unit stage.

The AU network sees faces the way its training sets framed them (FER2013,
CK+: centred, upright, grey, a little margin around the face). This
module turns a detection into such a crop: it removes the head's roll
(from the eye keypoints, when the detector gives them) and scales a square
around the face box to `size` pixels, in one affine warp.
"""
import math

import cv2
import numpy as np

RIGHT_EYE, LEFT_EYE = 0, 1  # BlazeFace keypoint order
# The AU model's input size, and the border that makes a crop around a
# BlazeFace box frame the face as FER2013 and CK+ do: their crops span
# a median 1.13-1.15 box sizes (BlazeFace run on the padded data sets).
CROP_SIZE = 48
CROP_MARGIN = 0.07


def roll_from_keypoints(keypoints: np.ndarray | None) -> float:
    """Head roll [rad], counter-clockwise in the image, from the two eye keypoints.

    The person's right eye appears on the image's left. Returns 0 without keypoints.
    """
    if keypoints is None or len(keypoints) < 2:
        return 0.0
    dx, dy = keypoints[LEFT_EYE] - keypoints[RIGHT_EYE]
    # Image y points down, so a counter-clockwise tilt raises the left eye (dy < 0).
    return float(-math.atan2(dy, dx))


def align_face(image: np.ndarray, box, keypoints: np.ndarray | None = None,
               size: int = CROP_SIZE, margin: float = CROP_MARGIN) -> tuple[np.ndarray, float]:
    """Return (crop, roll): a `size`x`size` uint8 grey crop with the roll removed.

    box: [x, y, w, h] pixels. margin: extra border on each side as a fraction
    of the face size (0.07 -> the crop spans 1.14 face sizes). Pixels outside
    the image are filled by repeating the border.
    """
    x, y, w, h = (float(v) for v in box)
    roll = roll_from_keypoints(keypoints)
    centre = (x + w / 2, y + h / 2)
    side = max(w, h) * (1 + 2 * margin)
    # cv2's positive angle turns the content counter-clockwise; undo the roll.
    warp = cv2.getRotationMatrix2D(centre, -math.degrees(roll), size / max(side, 1e-6))
    warp[:, 2] += np.array([size / 2, size / 2]) - np.array(centre)
    crop = cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    # Grey after the warp: the crop's pixels, not the whole frame's, are converted.
    return (crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)), roll
