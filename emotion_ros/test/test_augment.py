"""The training augmentation's low-resolution step on real FER2013 faces."""
import cv2
import numpy as np
from conftest import SHARED_DATA, requires_shared

from emotion_ros.training.augment import augment_faces, shrink_and_restore
from emotion_ros.training.data import load_fer2013

pytestmark = requires_shared


def _sharpness(face):
    return float(cv2.Laplacian(face.astype(np.float32), cv2.CV_32F).var())


def test_shrinking_loses_detail_and_keeps_the_face():
    faces = load_fer2013(SHARED_DATA, 'PublicTest')[0][:50]
    for face in faces:
        small = shrink_and_restore(face, 24)
        assert small.shape == face.shape and small.dtype == np.uint8
        assert _sharpness(small) < _sharpness(face)
        # Still the same face: the mean grey level moves by little.
        assert abs(float(small.mean()) - float(face.mean())) < 3
    np.testing.assert_array_equal(shrink_and_restore(faces[0], 48), faces[0])


def test_low_resolution_share_of_augmented_faces():
    faces = np.repeat(load_fer2013(SHARED_DATA, 'PublicTest')[0][:1], 400, axis=0)
    plain = augment_faces(faces, np.random.default_rng(3))
    shrunk = augment_faces(faces, np.random.default_rng(3), low_resolution=0.25)
    sharp_plain = np.array([_sharpness(f) for f in plain])
    sharp_shrunk = np.array([_sharpness(f) for f in shrunk])
    threshold = np.median(sharp_plain) * 0.5
    assert np.mean(sharp_plain < threshold) < 0.05
    assert 0.15 < np.mean(sharp_shrunk < threshold) < 0.4
