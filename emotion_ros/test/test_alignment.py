"""Face crops: roll from the eyes, upright output, on a real face."""
import math

import cv2
import numpy as np
import pytest
from conftest import read_image

from emotion_ros.alignment import align_face, roll_from_keypoints
from emotion_ros.face_detection import make_detector


@pytest.fixture(scope='module')
def detector():
    return make_detector('blazeface')


def rotate(image, degrees):
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_roll_sign_convention():
    # Left eye (image right) higher than the right eye: counter-clockwise tilt.
    assert roll_from_keypoints(np.array([[0, 10], [10, 0]], np.float32)) == pytest.approx(math.pi / 4)
    assert roll_from_keypoints(None) == 0.0


@pytest.mark.parametrize('degrees', [-20, 0, 15])
def test_roll_of_a_rotated_photo_is_measured_and_removed(detector, degrees):
    image = rotate(read_image('single_face.jpg'), degrees)
    found = detector.detect(image)
    assert len(found) == 1
    crop, roll = align_face(image, found.boxes[0], found.keypoints[0])
    upright = read_image('single_face.jpg')
    reference = detector.detect(upright)
    reference_crop, own_roll = align_face(upright, reference.boxes[0], reference.keypoints[0])
    # The head in the photo is itself tilted a little: compare with that.
    assert math.degrees(roll - own_roll) == pytest.approx(degrees, abs=4)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # Removing the roll makes the crop look like the upright photo's crop, far more
    # than the same crop without it (blurred a little: a pixel of shift is no matter).
    unaligned, _ = align_face(image, found.boxes[0], None)
    if degrees:
        assert similarity(crop, reference_crop) > 0.85
        assert similarity(crop, reference_crop) > similarity(unaligned, reference_crop) + 0.15


def similarity(a, b):
    a, b = (cv2.GaussianBlur(x, (0, 0), 1.5).astype(float).ravel() for x in (a, b))
    return np.corrcoef(a, b)[0, 1]


def test_crop_without_keypoints_and_at_the_border():
    image = read_image('single_face.jpg')
    crop, roll = align_face(image, [-20, -20, 100, 100], None, size=48, margin=0.0)
    assert crop.shape == (48, 48) and roll == 0.0
