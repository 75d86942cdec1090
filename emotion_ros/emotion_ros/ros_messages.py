"""Between the numpy core and ROS messages: the only place the nodes share ROS conversions."""
import functools

import numpy as np
from builtin_interfaces.msg import Time
from emotion_ros_msgs.msg import BoundingBox, Face
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from .image_conversion import bgr_to_raw, compressed_to_bgr, raw_to_bgr


def image_msg_to_bgr(msg, max_pixels: int | None = None) -> np.ndarray:
    """BGR pixels of a sensor_msgs/Image (or decode_image's) or CompressedImage (raises
    ImageConversionError)."""
    if isinstance(msg, CompressedImage):
        return compressed_to_bgr(msg.data, max_pixels)
    return raw_to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data, max_pixels)


@functools.cache
def _image_deserializer():
    """rosbags' Image decoder, imported on first use: only the face detector's raw-frame
    input needs rosbags, so the other nodes neither load it nor depend on it."""
    from . import bags
    store = bags.typestore()
    return lambda raw: store.deserialize_cdr(raw, bags.IMAGE_TYPE)


def decode_image(raw: bytes):
    """A serialized sensor_msgs/Image as rosbags decodes it: the pixels a numpy view of `raw`.

    rclpy's conversion copies a 640x480 frame into a Python array first: from
    stamp to callback between two processes 3.7 ms here against 2.4 ms this
    way (one-off measurement). image_msg_to_bgr and header_msg take the result
    as they take an rclpy Image.
    """
    return _image_deserializer()(raw)


def header_msg(header) -> Header:
    """An rclpy std_msgs/Header with the stamp and frame_id of `header` (rclpy's or rosbags')."""
    return Header(stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                  frame_id=header.frame_id)


def bgr_to_image_msg(image: np.ndarray, header, encoding: str = 'bgr8') -> Image:
    """A sensor_msgs/Image of a BGR (or grey, for mono8) array."""
    step, data = bgr_to_raw(image, encoding)
    return Image(header=header, height=image.shape[0], width=image.shape[1], encoding=encoding,
                 is_bigendian=0, step=step, data=data)


def stamp_to_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def face_id_problem(face_id: int, ids_so_far: set) -> str | None:
    """Why a face id in a message cannot be used, or None (ids start at 1, unique per message)."""
    if face_id == 0 or face_id in ids_so_far:
        return (f'dropped a face with id {face_id}: ids start at 1 and are unique within a '
                'message')
    return None


def box_msg(box) -> BoundingBox:
    x, y, w, h = (float(v) for v in box)
    return BoundingBox(x=x, y=y, width=w, height=h)


def face_msg(face, header) -> Face:
    """A Face message of a face_perception.TrackedFace; the crop gets the image's header."""
    msg = Face(id=face.id, box=box_msg(face.box), confidence=face.score, roll=face.roll)
    if face.keypoints is not None:
        msg.landmark_type = Face.LANDMARKS_BLAZEFACE_6
        msg.landmarks = face.keypoints.astype(np.float32).ravel().tolist()
    if face.crop is not None:
        msg.crop = bgr_to_image_msg(face.crop, header, 'mono8')
    return msg
