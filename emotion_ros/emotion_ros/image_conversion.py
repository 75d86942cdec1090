"""Camera images to and from numpy, without cv_bridge.

cv_bridge is not installable everywhere this package runs (it is missing
from PyPI), and the nodes only need a handful of encodings, so the
conversion lives here as plain numpy + OpenCV. Functions take the fields
of a sensor_msgs/Image or CompressedImage, not the message itself, so the
core stays free of ROS imports.
"""
import cv2
import numpy as np

# encoding -> (bytes per pixel, OpenCV conversion code to BGR or None)
_RAW_ENCODINGS = {
    'bgr8': (3, None),
    'rgb8': (3, cv2.COLOR_RGB2BGR),
    'mono8': (1, cv2.COLOR_GRAY2BGR),
    'bgra8': (4, cv2.COLOR_BGRA2BGR),
    'rgba8': (4, cv2.COLOR_RGBA2BGR),
    # YUV 4:2:2, two pixels in 4 bytes: the raw modes of USB cameras (usb_cam, v4l2_camera).
    # sensor_msgs names UYVY 'yuv422' and YUYV 'yuv422_yuy2'; some drivers send the V4L2 names.
    'yuv422': (2, cv2.COLOR_YUV2BGR_UYVY),
    'uyvy': (2, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': (2, cv2.COLOR_YUV2BGR_YUYV),
    'yuyv': (2, cv2.COLOR_YUV2BGR_YUYV),
}
SUPPORTED_ENCODINGS = tuple(_RAW_ENCODINGS)


class ImageConversionError(ValueError):
    """An image that cannot be turned into pixels; `kind` names why, for counters."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _check_size(width: int, height: int, max_pixels: int | None):
    if max_pixels and width * height > max_pixels:
        raise ImageConversionError(
            'too_large', f'image of {width}x{height} px is over the limit of {max_pixels} px')


def raw_to_bgr(encoding: str, height: int, width: int, step: int, data,
               max_pixels: int | None = None) -> np.ndarray:
    """Return the image as a contiguous HxWx3 uint8 BGR array.

    `data` is anything with the buffer protocol (bytes, array.array, numpy).
    Rows may be padded (step > width * channels); the padding is dropped.
    Images over `max_pixels` are refused before any pixel is touched.
    """
    if encoding not in _RAW_ENCODINGS:
        raise ImageConversionError(
            'unsupported_encoding',
            f"unsupported encoding '{encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    if height <= 0 or width <= 0:
        raise ImageConversionError('empty_image', f'image has zero size ({width}x{height})')
    _check_size(width, height, max_pixels)
    channels, code = _RAW_ENCODINGS[encoding]
    if channels == 2 and width % 2:
        raise ImageConversionError(
            'size_mismatch', f'{encoding} packs pixels in pairs: width {width} is odd')
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageConversionError(
            'size_mismatch', f'step {step} is smaller than width x {channels} bytes = {row_bytes}')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageConversionError(
            'size_mismatch',
            f'data has {buffer.size} bytes, {step * height} expected (step {step} x height {height})')
    rows = buffer[:step * height].reshape(height, step)[:, :row_bytes]
    pixels = rows.reshape(height, width, channels)
    if code is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, code)


def compressed_to_bgr(data, max_pixels: int | None = None) -> np.ndarray:
    """Decode JPEG or PNG bytes (a CompressedImage's data) to HxWx3 BGR.

    With `max_pixels`, data longer than such a raw image is refused undecoded,
    and so is a decoded image over the limit.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageConversionError('empty_image', 'compressed image has no data')
    if max_pixels and buffer.size > 3 * max_pixels:
        raise ImageConversionError(
            'too_large', f'compressed image of {buffer.size} bytes is over the limit of '
            f'{max_pixels} px')
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageConversionError('corrupt_compressed', 'compressed image could not be decoded')
    _check_size(image.shape[1], image.shape[0], max_pixels)
    return image


def bgr_to_raw(image: np.ndarray, encoding: str = 'bgr8'):
    """Encode a BGR (or, for mono8, single-channel) image; returns (step, bytes)."""
    if encoding == 'bgr8':
        pixels = image
    elif encoding == 'mono8':
        pixels = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif encoding == 'rgb8':
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif encoding == 'bgra8':
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    elif encoding == 'rgba8':
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
    else:
        raise ImageConversionError('unsupported_encoding', f"cannot encode to '{encoding}'")
    pixels = np.ascontiguousarray(pixels)
    return pixels.strides[0], pixels.tobytes()


def bgr_to_compressed(image: np.ndarray, fmt: str = 'jpeg', quality: int = 90) -> bytes:
    """Encode a BGR image as JPEG or PNG bytes."""
    if fmt == 'jpeg':
        ok, encoded = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif fmt == 'png':
        ok, encoded = cv2.imencode('.png', image)
    else:
        raise ImageConversionError('unsupported_encoding', f"cannot compress to '{fmt}'")
    if not ok:
        raise ImageConversionError('encode_failed', f'{fmt} encoding failed')
    return encoded.tobytes()
