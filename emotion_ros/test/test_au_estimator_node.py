"""The au_estimator node with the shipped model, over DDS."""
import numpy as np
from builtin_interfaces.msg import Time
from conftest import SYNTHETIC_STAMPS, read_frames, read_image
from emotion_ros_msgs.msg import ActionUnitsArray, FaceArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotion_ros import face_landmarks
from emotion_ros.au_model import AUModel
from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.ros_messages import bgr_to_image_msg, face_msg
from emotion_ros.tracking import FaceTracker


def collect(test_node, topic, msg_type):
    received = []
    test_node.node.create_subscription(msg_type, topic, received.append, 10)
    return received


def send_until(test_node, publisher, msg, received, timeout=15.0):
    stamp = msg.header.stamp
    polls = iter(range(10 ** 6))

    def answered():
        if any(m.header.stamp == stamp for m in received):
            return True
        if next(polls) % 5 == 0:
            publisher.publish(msg)
        return False
    assert test_node.spin_until(answered, timeout)
    return next(m for m in received if m.header.stamp == stamp)


def received_with_stamp(test_node, received, stamp, timeout: float = 10.0):
    """The message of `received` with that stamp, waiting for it: the detector's faces may
    reach the test node after the AUs the estimator made from them (two topics, no order)."""
    def matching():
        return [m for m in received if m.header.stamp == stamp]
    assert test_node.spin_until(matching, timeout), f'no message stamped {stamp}'
    return matching()[0]


def start_chain(start_node, test_node, namespace, estimator_params=None, detector_params=None):
    """face_detector and au_estimator in `namespace`, connected; returns the two nodes, the
    faces and action units seen, and a camera publisher."""
    detector = start_node('face_detector', namespace=namespace,
                          params={**(detector_params or {}), **SYNTHETIC_STAMPS})
    estimator = start_node('au_estimator', namespace=namespace,
                           params={**(estimator_params or {}), **SYNTHETIC_STAMPS})
    faces_seen = collect(test_node, f'{namespace}/faces', FaceArray)
    aus_seen = collect(test_node, f'{namespace}/action_units', ActionUnitsArray)
    camera = test_node.node.create_publisher(Image, f'{namespace}/image', qos_profile_sensor_data)
    test_node.wait_for_subscribers(camera, timeout=30)
    assert test_node.spin_until(
        lambda: test_node.node.count_subscribers(f'{namespace}/faces') >= 2, 60), estimator.log()
    return detector, estimator, faces_seen, aus_seen, camera


def test_detector_and_au_nodes_chain_over_dds(start_node, test_node):
    detector, estimator, faces_seen, aus_seen, camera = start_chain(start_node, test_node, '/chain')

    image = read_image('multi_face.jpg')
    msg = bgr_to_image_msg(image, Header(stamp=Time(sec=77, nanosec=5), frame_id='cam'))
    aus = send_until(test_node, camera, msg, aus_seen, timeout=60)
    faces = received_with_stamp(test_node, faces_seen, msg.header.stamp)
    assert aus.header.frame_id == 'cam'
    assert (aus.image_width, aus.image_height) == (image.shape[1], image.shape[0])
    assert sorted(a.face_id for a in aus.faces) == sorted(f.id for f in faces.faces)
    assert len(aus.faces) == 5
    codes = list(aus.faces[0].au_codes)
    assert len(codes) >= 17 and codes == sorted(codes)
    for face in aus.faces:
        p = np.array(face.probabilities)
        assert len(p) == len(codes) and np.all((p >= 0) & (p <= 1))
        assert list(face.present) == [c for c, v in zip(codes, p) if v >= 0.5]
        assert 43 not in codes and len(face.intensities) == 0   # eyes_closed is off by default
    assert detector.alive() and estimator.alive()


def test_eyes_closed_au43_from_the_detector_landmarks_over_dds(start_node, test_node):
    """Detector with FaceMesh, estimator with eyes_closed: AU 43 follows the model's AUs, high
    on a frame of the crying clip with the eyes squeezed shut, low on one with them open
    (frames marked in test_face_landmarks), and equal to the core's value."""
    _, estimator, faces_seen, aus_seen, camera = start_chain(start_node, test_node, '/eyes',
                                                             {'eyes_closed': True},
                                                             {'landmarks': True})
    frames, _ = read_frames('WolfgangLanger_Pexels.mp4', limit=201)
    model_codes = list(AUModel().au_codes)
    au43 = {}
    for number in (40, 200):
        msg = bgr_to_image_msg(frames[number], Header(stamp=Time(sec=100 + number), frame_id='cam'))
        aus = send_until(test_node, camera, msg, aus_seen, timeout=60)
        faces = received_with_stamp(test_node, faces_seen, msg.header.stamp)
        assert len(aus.faces) == 1 == len(faces.faces)
        face = aus.faces[0]
        assert list(face.au_codes) == model_codes + [43]
        assert len(face.intensities) == len(face.au_codes)
        assert np.all(np.isnan(face.intensities[:-1])) and 0 <= face.intensities[-1] <= 5
        points = np.array(faces.faces[0].landmarks[:2 * 468], np.float32).reshape(-1, 2)
        np.testing.assert_allclose([face.probabilities[-1], face.intensities[-1]],
                                   face_landmarks.au43(points), atol=1e-5)
        au43[number] = face.probabilities[-1]
        assert (43 in face.present) == (face.probabilities[-1] >= 0.5)
    assert au43[40] > 0.5 > au43[200], au43
    assert estimator.alive()


def test_node_matches_the_core_model_and_survives_faces_without_crops(start_node, test_node):
    estimator = start_node('au_estimator', namespace='/direct', params={'max_batch': 2, **SYNTHETIC_STAMPS})
    aus_seen = collect(test_node, '/direct/action_units', ActionUnitsArray)
    publisher = test_node.node.create_publisher(FaceArray, '/direct/faces', 10)
    test_node.wait_for_subscribers(publisher, timeout=60)

    perception = FacePerception(make_detector('blazeface'), FaceTracker())
    image = read_image('multi_face.jpg')
    tracked = perception.process(image, 1.0)
    header = Header(stamp=Time(sec=5, nanosec=0), frame_id='cam')
    msg = FaceArray(header=header, image_width=image.shape[1], image_height=image.shape[0],
                    faces=[face_msg(f, header) for f in tracked])
    reply = send_until(test_node, publisher, msg, aus_seen, timeout=60)
    expected = AUModel().predict_proba(np.array([f.crop for f in tracked]))
    got = np.array([f.probabilities for f in reply.faces])
    np.testing.assert_allclose(got, expected, atol=1e-4)

    no_crop = FaceArray(header=Header(stamp=Time(sec=6), frame_id='cam'), faces=[face_msg(tracked[0], header)])
    no_crop.faces[0].crop = Image()
    reply = send_until(test_node, publisher, no_crop, aus_seen)
    assert len(reply.faces) == 0
    assert "has no crop" in estimator.log()
    header.stamp = Time(sec=7)
    msg.header = header
    assert len(send_until(test_node, publisher, msg, aus_seen).faces) == len(tracked)
    assert estimator.alive()


def test_ctrl_c_while_the_model_still_loads_ends_quietly(start_node):
    """SIGINT (Ctrl-C, ros2 launch stopping) in the middle of configure: the stage is in no
    state a lifecycle shutdown starts from; it exits 0 without a traceback."""
    import time
    node = start_node('au_estimator', params={'backend': 'tensorflow'})   # 5-7 s to configure
    time.sleep(2.5)
    assert node.alive() and 'active:' not in node.log(), node.log()
    node.stop()
    assert node.process.returncode == 0, node.log()
    assert 'Traceback' not in node.log(), node.log()
