"""Every message type, fully filled, goes to another process and back unchanged."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Duration, Time
from conftest import NodeProcess
from sensor_msgs.msg import Image
from std_msgs.msg import Header

import emotion_ros_msgs.msg as msgs
from echo_messages import TYPES


def header():
    return Header(stamp=Time(sec=1700000000, nanosec=123456789), frame_id='camera_optical')


def box(i=0):
    return msgs.BoundingBox(x=10.5 + i, y=20.25, width=64.0, height=72.5)


def face(i):
    crop = Image(header=header(), height=4, width=4, encoding='mono8', step=4,
                 data=np.arange(16, dtype=np.uint8).tobytes())
    return msgs.Face(id=i, box=box(i), confidence=0.875, landmark_type=msgs.Face.LANDMARKS_BLAZEFACE_6,
                     landmarks=[float(v) for v in range(12)], roll=0.25, crop=crop)


def action_units(i):
    return msgs.FaceActionUnits(face_id=i, box=box(i), au_codes=[1, 2, 4, 12, 43],
                                probabilities=[0.5, 0.25, 0.125, 1.0, 0.0],
                                intensities=[2.5, 1.0, 0.5, 5.0, 0.0], present=[1, 12])


def emotion(i):
    return msgs.FaceEmotion(face_id=i, box=box(i), label='sad', confidence=0.625,
                            labels=['happy', 'sad', 'pain'], probabilities=[0.125, 0.625, 0.25],
                            pain_score=3.5, valence=-0.5, arousal=-0.25, frame_count=42,
                            time_span=1.5)


SAMPLES = {
    'BoundingBox': box(),
    'Face': face(3),
    'FaceArray': msgs.FaceArray(header=header(), image_width=640, image_height=480,
                                faces=[face(1), face(2)]),
    'FaceActionUnits': action_units(3),
    'ActionUnitsArray': msgs.ActionUnitsArray(header=header(), image_width=640, image_height=480,
                                              faces=[action_units(1), action_units(2)]),
    'FaceEmotion': emotion(3),
    'EmotionArray': msgs.EmotionArray(header=header(), image_width=640, image_height=480,
                                      faces=[emotion(1), emotion(2)]),
    'EmotionEvent': msgs.EmotionEvent(header=header(), type=msgs.EmotionEvent.END, face_id=5,
                                      emotion='pain', since=Time(sec=1699999990, nanosec=5),
                                      duration=Duration(sec=10, nanosec=123456784), confidence=0.75),
}


@pytest.fixture(scope='module')
def echo(tmp_path_factory):
    script = Path(__file__).with_name('echo_messages.py')
    process = NodeProcess([sys.executable, str(script)],
                          tmp_path_factory.mktemp('echo') / 'echo.log')
    yield process
    process.stop()


def test_every_type_has_a_sample():
    assert sorted(SAMPLES) == sorted(TYPES)


@pytest.mark.parametrize('name', TYPES)
def test_round_trip_between_processes(name, echo, test_node):
    msg_type = getattr(msgs, name)
    received = []
    test_node.node.create_subscription(msg_type, f'roundtrip/{name}/out', received.append, 10)
    publisher = test_node.node.create_publisher(msg_type, f'roundtrip/{name}/in', 10)
    test_node.wait_for_subscribers(publisher)
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers(f'roundtrip/{name}/out') > 0, 10), echo.log()
    sent = SAMPLES[name]
    # Discovery of the echo's publisher by our subscription may still be under way: resend.
    assert test_node.spin_until(lambda: received or publisher.publish(sent), 10), echo.log()
    assert received[0] == sent


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'mono8'])
def test_decoded_raw_image_gives_the_pixels_and_header_of_rclpys(encoding):
    """The face detector decodes raw frames with rosbags (decode_image): same pixels, same header."""
    from rclpy.serialization import deserialize_message, serialize_message

    from emotion_ros.ros_messages import bgr_to_image_msg, decode_image, header_msg, image_msg_to_bgr
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    raw = serialize_message(bgr_to_image_msg(frame, header(), encoding))
    decoded, converted = decode_image(raw), deserialize_message(raw, Image)
    np.testing.assert_array_equal(image_msg_to_bgr(decoded), image_msg_to_bgr(converted))
    assert header_msg(decoded.header) == header_msg(converted.header) == header()


def test_rosbags_is_imported_by_the_raw_frame_decoder_only():
    """Every node module loads without rosbags; decoding a raw frame brings it in."""
    check = ('import sys\n'
             'import emotion_ros.pipeline  # all four nodes\n'
             'assert "rosbags" not in sys.modules\n'
             'from rclpy.serialization import serialize_message\n'
             'from sensor_msgs.msg import Image\n'
             'from emotion_ros.ros_messages import decode_image\n'
             'image = decode_image(serialize_message(Image(height=1, width=2, encoding="mono8", '
             'step=2, data=[7, 9])))\n'
             'assert list(image.data) == [7, 9] and "rosbags" in sys.modules\n')
    run = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_label_constants_are_the_labels_the_package_uses():
    from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
    from emotion_ros.sustained_emotion import EVENT_EMOTIONS
    from emotion_ros.training.data import FER_CLASSES
    constants = {name: value for name, value in vars(msgs.FaceEmotion).items()
                 if name.isupper() and isinstance(value, str)}
    assert all(value == name.lower() for name, value in constants.items())
    assert set(constants.values()) == set(FER_CLASSES) | {'pain'}
    assert set(EVENT_EMOTIONS) <= set(constants.values())
    assert set(AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH).labels) <= set(constants.values())
