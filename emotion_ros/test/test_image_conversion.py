"""Image conversion without cv_bridge, on a real photo."""
import numpy as np
import pytest
from conftest import read_image

from emotion_ros.face_detection import box_iou, make_detector
from emotion_ros.image_conversion import (SUPPORTED_ENCODINGS, ImageConversionError,
                                          bgr_to_compressed, bgr_to_raw, compressed_to_bgr,
                                          raw_to_bgr)

# What bgr_to_raw writes (the nodes' own outputs); cameras' YUV 4:2:2 is only read.
WRITTEN_ENCODINGS = ('bgr8', 'rgb8', 'mono8', 'bgra8', 'rgba8')
YUV422_ORDERS = {'yuv422': 'UYVY', 'uyvy': 'UYVY', 'yuv422_yuy2': 'YUYV', 'yuyv': 'YUYV'}


@pytest.fixture(scope='module')
def photo():
    return read_image('single_face.jpg')


def test_every_encoding_is_written_or_a_camera_yuv_layout():
    assert set(SUPPORTED_ENCODINGS) == set(WRITTEN_ENCODINGS) | set(YUV422_ORDERS)


@pytest.mark.parametrize('encoding', WRITTEN_ENCODINGS)
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
    (('nv21', 4, 4, 4, bytes(24)), 'unsupported_encoding'),
    (('yuv422', 4, 3, 6, bytes(24)), 'size_mismatch'),    # 4:2:2 needs pixel pairs
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


def yuv422(image: np.ndarray, order: str) -> np.ndarray:
    """A BGR image packed as a USB camera sends YUV 4:2:2 (BT.601, video range): rows of
    U Y0 V Y1 (UYVY) or Y0 U Y1 V (YUYV), each pixel pair sharing its mean chroma.

    Written out here because OpenCV before 4.9 cannot convert BGR to packed 4:2:2."""
    b, g, r = (image[..., i].astype(np.float64) / 255 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    planes = {'Y0': y[:, 0::2], 'Y1': y[:, 1::2],
              'U': (u[:, 0::2] + u[:, 1::2]) / 2, 'V': (v[:, 0::2] + v[:, 1::2]) / 2}
    names = ('U', 'Y0', 'V', 'Y1') if order == 'UYVY' else ('Y0', 'U', 'Y1', 'V')
    packed = np.stack([planes[name] for name in names], axis=-1)
    return np.clip(np.rint(packed), 0, 255).astype(np.uint8).reshape(image.shape[0], -1)


@pytest.fixture(scope='module')
def even_photo(photo):
    return np.ascontiguousarray(photo[:, :photo.shape[1] // 2 * 2])


@pytest.mark.parametrize('encoding', YUV422_ORDERS)
def test_yuv422_camera_frames_give_the_photo_back(even_photo, encoding):
    height, width = even_photo.shape[:2]
    packed = yuv422(even_photo, YUV422_ORDERS[encoding])
    back = raw_to_bgr(encoding, height, width, packed.strides[0], packed.tobytes())
    assert back.shape == even_photo.shape and back.dtype == np.uint8
    # Only chroma shared by pixel pairs and rounding differ.
    assert np.abs(back.astype(int) - even_photo).mean() < 1.5
    # The other byte order reads luma as chroma: the layouts are not interchangeable.
    other = 'yuv422_yuy2' if YUV422_ORDERS[encoding] == 'UYVY' else 'yuv422'
    wrong = raw_to_bgr(other, height, width, packed.strides[0], packed.tobytes())
    assert np.abs(wrong.astype(int) - even_photo).mean() > 20


def test_face_is_found_alike_in_a_yuv422_frame(even_photo):
    detector = make_detector('blazeface')
    packed = yuv422(even_photo, 'YUYV')
    frame = raw_to_bgr('yuv422_yuy2', *even_photo.shape[:2], packed.strides[0], packed.tobytes())
    found, reference = detector.detect(frame), detector.detect(even_photo)
    assert len(found) == len(reference) == 1
    assert box_iou(found.boxes, reference.boxes)[0, 0] > 0.9
