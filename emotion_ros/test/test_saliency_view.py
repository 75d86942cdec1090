"""The saliency_view debug node over DDS: no input while nobody watches, pictures while someone does."""
import numpy as np
from builtin_interfaces.msg import Time
from conftest import read_image
from emotion_ros_msgs.msg import FaceArray
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotion_ros.ros_messages import face_msg

NAMESPACE = '/debug_view'


def real_faces_msg(stamp: int) -> FaceArray:
    """The five faces of multi_face.jpg with their aligned crops, as the face detector sends them."""
    from emotion_ros.face_detection import make_detector
    from emotion_ros.face_perception import FacePerception
    from emotion_ros.tracking import FaceTracker
    perception = FacePerception(make_detector('blazeface'), FaceTracker(min_new_score=0.0))
    header = Header(stamp=Time(sec=stamp), frame_id='camera')
    faces = perception.process(read_image('multi_face.jpg'), 0.0)
    return FaceArray(header=header, faces=[face_msg(face, header) for face in faces])


def test_pictures_only_while_watched(start_node, test_node):
    view = start_node('saliency_view', namespace=NAMESPACE, params={'rate': 4.0, 'max_faces': 2})
    node = test_node.node
    faces_topic, view_topic = f'{NAMESPACE}/faces', f'{NAMESPACE}/faces/saliency'
    publisher = node.create_publisher(FaceArray, faces_topic, 10)
    msg = real_faces_msg(stamp=77)
    assert len(msg.faces) == 5
    assert test_node.spin_until(lambda: node.count_publishers(view_topic) == 1, 60), view.log()
    # Unwatched: it does not listen, so a detector would serialise no faces for it.
    test_node.spin_until(lambda: False, 2.0)
    assert node.count_subscribers(faces_topic) == 0, view.log()

    pictures = []
    subscription = node.create_subscription(Image, view_topic, pictures.append, 1)
    assert test_node.spin_until(lambda: node.count_subscribers(faces_topic) == 1, 15), view.log()

    def answered_after_sending() -> bool:
        publisher.publish(msg)
        return test_node.spin_until(lambda: bool(pictures), 0.3)

    assert any(answered_after_sending() for _ in range(200)), view.log()    # ~60 s at most
    picture = pictures[0]
    assert picture.header.stamp.sec == 77 and picture.header.frame_id == 'camera'
    # Two faces (max_faces) of 2x 48 px tiles: the crop and its three most probable AUs' maps.
    assert (picture.encoding, picture.height, picture.width) == ('bgr8', 2 * 96, 4 * 96)
    pixels = np.frombuffer(picture.data, np.uint8).reshape(picture.height, picture.width, 3)
    assert pixels[:, 96:].std() > 10          # maps, not blank tiles
    assert 'watched: listening on faces' in view.log()

    node.destroy_subscription(subscription)
    assert test_node.spin_until(lambda: node.count_subscribers(faces_topic) == 0, 15), view.log()
    assert 'no longer watched' in view.log()
