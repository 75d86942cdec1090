"""Image conversion without cv_bridge, on a real photo."""
import numpy as np
import pytest
from conftest import read_image

from emotion_ros.image_conversion import (SUPPORTED_ENCODINGS, ImageConversionError,
                                          bgr_to_compressed, bgr_to_raw, compressed_to_bgr,
                                          raw_to_bgr)


@pytest.fixture(scope='module')
def photo():
    return read_image('single_face.jpg')


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_raw_round_trip(photo, encoding):
    step, data = bgr_to_raw(photo, encoding)
    back = raw_to_bgr(encoding, photo.shape[0], photo.shape[1], step, data)
    assert back.shape == photo.shape and back.dtype == np.uint8
    if encoding == 'mono8':
        assert np.all(back[..., 0] == back[..., 2])  # grey replicated to 3 channels
    else:
        assert np.array_equal(back, photo)


def test_padded_rows_are_dropped(photo):
    step, data = bgr_to_raw(photo, 'bgr8')
    rows = np.frombuffer(data, np.uint8).reshape(photo.shape[0], step)
    padded = np.concatenate([rows, np.full((photo.shape[0], 8), 255, np.uint8)], axis=1)
    back = raw_to_bgr('bgr8', photo.shape[0], photo.shape[1], step + 8, padded.tobytes())
    assert np.array_equal(back, photo)


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_compressed_round_trip(photo, fmt):
    back = compressed_to_bgr(bgr_to_compressed(photo, fmt))
    assert back.shape == photo.shape
    tolerance = 0 if fmt == 'png' else 12
    assert np.abs(back.astype(int) - photo).mean() <= tolerance


@pytest.mark.parametrize('args, kind', [
    (('16UC1', 4, 4, 8, bytes(32)), 'unsupported_encoding'),
    (('yuv422', 4, 4, 8, bytes(32)), 'unsupported_encoding'),
    (('bgr8', 0, 0, 0, b''), 'empty_image'),
    (('bgr8', 4, 4, 6, bytes(24)), 'size_mismatch'),      # step < width * 3
    (('bgr8', 4, 4, 12, bytes(40)), 'size_mismatch'),     # data shorter than step * height
])
def test_bad_raw_images_raise(args, kind):
    with pytest.raises(ImageConversionError) as error:
        raw_to_bgr(*args)
    assert error.value.kind == kind


def test_corrupt_and_empty_compressed_raise(photo):
    jpeg = bgr_to_compressed(photo)
    for data, kind in [(jpeg[:200], 'corrupt_compressed'), (b'not an image', 'corrupt_compressed'),
                       (b'', 'empty_image')]:
        with pytest.raises(ImageConversionError) as error:
            compressed_to_bgr(data)
        assert error.value.kind == kind
