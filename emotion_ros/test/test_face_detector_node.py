"""The face_detector node as `ros2 run` starts it, fed real frames over DDS."""
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from conftest import SYNTHETIC_STAMPS, read_frames, read_image
from emotion_ros_msgs.msg import Face, FaceArray
from rclpy.qos import qos_profile_sensor_data
from ros_services import reconfigure
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from emotion_ros.face_landmarks import RIGHT_EYE_EAR
from emotion_ros.image_conversion import bgr_to_compressed
from emotion_ros.ros_messages import bgr_to_image_msg


class Camera:
    """Publishes frames to a node under test and collects its faces messages."""

    def __init__(self, test_node, namespace, compressed=False, frame_period=1.0):
        self.test_node = test_node
        self.frame_period = frame_period    # s between the stamps of two frames
        node = test_node.node
        self.faces = []
        node.create_subscription(FaceArray, f'{namespace}/faces', self.faces.append, 10)
        topic, msg_type = ((f'{namespace}/image/compressed', CompressedImage) if compressed
                           else (f'{namespace}/image', Image))
        self.publisher = node.create_publisher(msg_type, topic, qos_profile_sensor_data)
        test_node.wait_for_subscribers(self.publisher, timeout=30)
        self.time = 1000.0

    def send(self, msg, timeout=10.0):
        """Publish msg with a fresh stamp; return the faces message for it, or None."""
        self.time += self.frame_period
        nanoseconds = round(self.time * 1e9)
        msg.header = Header(stamp=Time(sec=nanoseconds // 10 ** 9, nanosec=nanoseconds % 10 ** 9
                                       or 500), frame_id='head_camera')
        stamp = msg.header.stamp

        def answered():
            return any(f.header.stamp == stamp for f in self.faces)

        # Best-effort input: resend every ~0.2 s until the node answers.
        polls = iter(range(10 ** 6))

        def resend_until_answered():
            if answered():
                return True
            if next(polls) % 4 == 0:
                self.publisher.publish(msg)
            return False
        if not self.test_node.spin_until(resend_until_answered, timeout):
            return None
        return next(f for f in self.faces if f.header.stamp == stamp)


def raw(image, encoding='bgr8'):
    return bgr_to_image_msg(image, Header(), encoding)


def compressed(image, fmt='jpeg'):
    return CompressedImage(format=fmt, data=bgr_to_compressed(image, fmt))


@pytest.fixture
def raw_node(start_node):
    return start_node('face_detector', namespace='/raw', params={'landmarks': True,
                                                                 **SYNTHETIC_STAMPS})


def test_faces_of_a_real_photo(raw_node, test_node):
    camera = Camera(test_node, '/raw')
    image = read_image('multi_face.jpg')
    faces = camera.send(raw(image))
    assert faces is not None, raw_node.log()
    assert faces.header.frame_id == 'head_camera'
    assert (faces.image_width, faces.image_height) == (image.shape[1], image.shape[0])
    assert len(faces.faces) == 5
    assert len({f.id for f in faces.faces}) == 5 and all(f.id > 0 for f in faces.faces)
    for face in faces.faces:
        assert 0 <= face.box.x < image.shape[1] and 0 <= face.box.y < image.shape[0]
        assert face.box.width > 40 and face.confidence >= 0.7
        # FaceMesh's 468 points, then BlazeFace's 6 keypoints (Face.msg).
        assert face.landmark_type == Face.LANDMARKS_FACEMESH_468
        assert len(face.landmarks) == 2 * (468 + 6)
        points = np.array(face.landmarks).reshape(-1, 2)
        right_eye = points[list(RIGHT_EYE_EAR)].mean(axis=0)
        assert np.linalg.norm(right_eye - points[468]) < 0.1 * face.box.width   # eye ~0.2 wide
        assert np.all((points[:, 0] > face.box.x - 0.2 * face.box.width)
                      & (points[:, 0] < face.box.x + 1.2 * face.box.width))
        assert (face.crop.width, face.crop.height, face.crop.encoding) == (48, 48, 'mono8')
        assert len(face.crop.data) == 48 * 48
        assert face.crop.header.stamp == faces.header.stamp


def test_ids_stay_stable_over_a_clip(raw_node, test_node):
    camera = Camera(test_node, '/raw')
    frames, _ = read_frames('single_face.mp4', limit=30)
    ids = []
    for frame in frames[::3]:
        faces = camera.send(raw(frame))
        assert faces is not None, raw_node.log()
        ids.append([f.id for f in faces.faces])
    assert all(frame_ids == ids[0] for frame_ids in ids) and len(ids[0]) == 1


def test_faces_are_followed_between_looks_at_the_whole_frame(start_node, test_node):
    """Frames 1/30 s apart: the whole frame is looked at every full_detection_interval (here
    0.2 s) and the face is found again around where it was in between, keeping its id;
    /diagnostics counts both."""
    node = start_node('face_detector', namespace='/follow',
                      params={'full_detection_interval': 0.2, **SYNTHETIC_STAMPS})
    reports = []
    test_node.node.create_subscription(DiagnosticArray, '/diagnostics', reports.append, 20)
    camera = Camera(test_node, '/follow', frame_period=1 / 30)
    frames, _ = read_frames('single_face.mp4', limit=30)
    ids = []
    for frame in frames:
        faces = camera.send(raw(frame))
        assert faces is not None, node.log()
        ids.append([f.id for f in faces.faces])
    assert all(frame_ids == ids[0] for frame_ids in ids) and len(ids[0]) == 1

    def counts():
        """(whole-frame looks, region looks, frames processed) in the latest report. A frame
        resent before the node answered it (best effort, a loaded machine) is processed, and
        looked at, twice."""
        for array in reversed(reports):
            for status in array.status:
                if status.name.endswith('/follow/face_detector'):
                    values = {v.key: v.value for v in status.values}
                    return tuple(int(values[key]) for key in
                                 ('whole-frame looks', 'region looks', 'frames processed'))
        return None

    assert test_node.spin_until(lambda: counts() is not None and counts()[2] >= 30, 10), reports
    whole, region, processed = counts()
    assert whole + region == processed      # one look per processed frame
    assert whole <= 10 and region >= 20, (whole, region)


@pytest.mark.parametrize('encoding', ['rgb8', 'mono8', 'bgra8', 'rgba8'])
def test_other_encodings_give_the_same_face(raw_node, test_node, encoding):
    camera = Camera(test_node, '/raw')
    image = read_image('single_face.jpg')
    reference = camera.send(raw(image)).faces
    other = camera.send(raw(image, encoding))
    assert other is not None, raw_node.log()
    assert len(other.faces) == 1 == len(reference)
    assert abs(other.faces[0].box.x - reference[0].box.x) < 8


def test_bad_raw_frames_are_logged_and_the_next_frame_is_processed(raw_node, test_node):
    camera = Camera(test_node, '/raw')
    image = read_image('single_face.jpg')
    unsupported = raw(image)
    unsupported.encoding = 'bayer_rggb8'
    empty = Image(encoding='bgr8', height=0, width=0, step=0)
    truncated = raw(image)
    truncated.data = truncated.data[:1000]
    for bad in (unsupported, empty, truncated):
        assert camera.send(bad, timeout=1.5) is None   # dropped, no faces message
        good = camera.send(raw(image))
        assert good is not None and len(good.faces) == 1, raw_node.log()
    assert raw_node.alive()
    log = raw_node.log()
    assert "unsupported encoding 'bayer_rggb8'" in log
    assert 'zero size' in log


def test_compressed_input_and_a_corrupt_jpeg(start_node, test_node):
    node = start_node('face_detector', namespace='/jpeg', params={'input_compressed': True,
                                                                  **SYNTHETIC_STAMPS})
    camera = Camera(test_node, '/jpeg', compressed=True)
    image = read_image('multi_face.jpg')
    faces = camera.send(compressed(image)).faces
    assert len(faces) == 5
    # Without FaceMesh (the default): BlazeFace's 6 keypoints alone.
    assert all(f.landmark_type == Face.LANDMARKS_BLAZEFACE_6 and len(f.landmarks) == 12
               for f in faces)
    jpeg = bgr_to_compressed(image)
    corrupt = CompressedImage(format='jpeg', data=jpeg[:len(jpeg) // 3] + b'\x00' * 100)
    broken_png = CompressedImage(format='png', data=b'\x89PNG not really')
    for bad in (corrupt, broken_png):
        reply = camera.send(bad, timeout=1.5)
        # A truncated JPEG may still decode partly (OpenCV fills the rest grey);
        # either way the node answers or drops it, and must keep running.
        assert reply is None or isinstance(reply, FaceArray)
        assert len(camera.send(compressed(image, 'png')).faces) == 5, node.log()
    assert node.alive()
    assert 'could not be decoded' in node.log()


def test_haar_detector_by_parameter(start_node, test_node):
    node = start_node('face_detector', namespace='/haar', params={**SYNTHETIC_STAMPS, 'detector': 'haar',
                                                                  'crop_size': 0, 'landmarks': True})
    camera = Camera(test_node, '/haar')
    faces = camera.send(raw(read_image('multi_face.jpg')))
    assert faces is not None, node.log()
    assert 3 <= len(faces.faces) <= 5
    assert all(f.crop.width == 0 for f in faces.faces)
    # No keypoints from the cascade: FaceMesh's 468 points alone, on a crop without roll.
    assert all(f.landmark_type == Face.LANDMARKS_FACEMESH_468 and len(f.landmarks) == 2 * 468
               for f in faces.faces)


def test_ids_are_not_reused_after_a_reconfigure_or_a_restart(start_node, test_node):
    image = read_image('multi_face.jpg')
    node = start_node('face_detector', namespace='/ids', params=SYNTHETIC_STAMPS)
    camera = Camera(test_node, '/ids')
    first = {f.id for f in camera.send(raw(image)).faces}
    assert len(first) == 5, node.log()
    # A new tracker after cleanup and configure: the node's id sequence goes on.
    reconfigure(test_node, '/ids/face_detector')
    test_node.wait_for_subscribers(camera.publisher, timeout=30)
    after_reconfigure = {f.id for f in camera.send(raw(image)).faces}
    assert len(after_reconfigure) == 5 and min(after_reconfigure) > max(first), node.log()
    # A new run starts from its start time, above the earlier run's ids.
    node.stop()
    start_node('face_detector', namespace='/ids', params=SYNTHETIC_STAMPS)
    camera = Camera(test_node, '/ids')
    after_restart = {f.id for f in camera.send(raw(image)).faces}
    assert len(after_restart) == 5 and min(after_restart) > max(after_reconfigure)
