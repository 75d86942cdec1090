"""Reliability over DDS: bad input, bad parameters, lifecycle, diagnostics, a stopped
camera, overload and a restarted node. Every node runs as a real process."""
import os
import signal
import time

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from conftest import SYNTHETIC_STAMPS, read_frames, read_image
from diagnostic_msgs.msg import DiagnosticArray
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, EmotionEvent, FaceActionUnits, FaceArray
from lifecycle_msgs.msg import State, Transition
from rcl_interfaces.msg import ParameterType
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from ros_services import describe_parameters, get_parameter, set_parameter, state, transition
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from test_au_estimator_node import send_until
from test_face_detector_node import Camera, raw

from emotion_ros import bags
from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.ros_messages import bgr_to_image_msg, face_msg, stamp_to_seconds
from emotion_ros.tracking import FaceTracker


class Diagnostics:
    """The latest /diagnostics status of each node: (level, message, {key: value})."""

    def __init__(self, test_node):
        self.test_node = test_node
        self.latest = {}
        test_node.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_array, 50)

    def _on_array(self, msg):
        for status in msg.status:
            self.latest[status.name] = (status.level[0], status.message,
                                        {kv.key: kv.value for kv in status.values})

    def wait_for(self, node_name, predicate, timeout=10.0):
        """The values of `node_name`'s status once `predicate(values)` holds."""
        name = f'emotion_ros: {node_name}'

        def holds():
            return name in self.latest and predicate(self.latest[name][2])
        assert self.test_node.spin_until(holds, timeout), self.latest.get(name)
        return self.latest[name][2]


def count(values, key) -> int:
    return int(values.get(key) or 0)


def now_stamp(test_node) -> Time:
    return test_node.node.get_clock().now().to_msg()


def test_detector_drops_each_bad_image_counts_it_and_goes_on(start_node, test_node):
    node = start_node('face_detector', namespace='/bad_images',
                      params={**SYNTHETIC_STAMPS, 'max_image_pixels': 200_000})
    diagnostics = Diagnostics(test_node)
    camera = Camera(test_node, '/bad_images')
    image = read_image('single_face.jpg')          # 572 x 562 = 321k px: over the limit
    small = cv2.resize(image, (400, 393))
    unsupported = raw(small)
    unsupported.encoding = '16UC1'
    short_step = raw(small)
    short_step.step = 100
    truncated = raw(small)
    truncated.data = truncated.data[:1000]
    empty = Image(encoding='bgr8', height=0, width=0, step=0)
    for bad in (unsupported, short_step, truncated, empty, raw(image)):
        assert camera.send(bad, timeout=1.0) is None   # dropped: no faces message
        good = camera.send(raw(small))
        assert good is not None and len(good.faces) == 1, node.log()
    values = diagnostics.wait_for('/bad_images/face_detector',
                                  lambda v: count(v, 'frames processed') >= 5)
    assert count(values, 'errors: too_large') >= 1
    assert count(values, 'errors: unsupported_encoding') >= 1
    assert count(values, 'errors: size_mismatch') >= 2
    assert count(values, 'errors: empty_image') >= 1
    assert node.alive()
    log = node.log()
    assert "unsupported encoding '16UC1'" in log and 'over the limit of 200000 px' in log


def test_au_estimator_drops_bad_faces_and_keeps_the_good_ones(start_node, test_node):
    node = start_node('au_estimator', namespace='/bad_faces', params=SYNTHETIC_STAMPS)
    diagnostics = Diagnostics(test_node)
    received = []
    test_node.node.create_subscription(ActionUnitsArray, '/bad_faces/action_units', received.append, 10)
    publisher = test_node.node.create_publisher(FaceArray, '/bad_faces/faces', 10)
    test_node.wait_for_subscribers(publisher, timeout=60)

    image = read_image('multi_face.jpg')
    tracked = FacePerception(make_detector('blazeface'), FaceTracker()).process(image, 1.0)
    header = Header(stamp=Time(sec=10), frame_id='cam')
    good = [face_msg(face, header) for face in tracked[:2]]
    zero_id, duplicate, bad_encoding, truncated, no_crop = (face_msg(tracked[2], header)
                                                            for _ in range(5))
    zero_id.id = 0
    duplicate.id = good[0].id
    bad_encoding.crop.encoding = '32FC1'
    truncated.crop.data = truncated.crop.data[:10]
    no_crop.crop = Image()
    msg = FaceArray(header=header, image_width=image.shape[1], image_height=image.shape[0],
                    faces=[*good, zero_id, duplicate, bad_encoding, truncated, no_crop])
    reply = send_until(test_node, publisher, msg, received, timeout=30)
    assert [f.face_id for f in reply.faces] == [f.id for f in good]

    values = diagnostics.wait_for('/bad_faces/au_estimator',
                                  lambda v: count(v, 'errors: bad_face_id') >= 2)
    for kind in ('unsupported_encoding', 'size_mismatch', 'no_crop'):
        assert count(values, f'errors: {kind}') >= 1, values
    later = FaceArray(header=Header(stamp=Time(sec=11), frame_id='cam'), faces=good)
    assert len(send_until(test_node, publisher, later, received).faces) == 2
    assert node.alive()


def test_emotion_node_drops_bad_au_vectors_and_out_of_order_input(start_node, test_node,
                                                                  typical_vectors):
    codes, vectors = typical_vectors
    node = start_node('emotion', namespace='/bad_aus', params=SYNTHETIC_STAMPS)
    diagnostics = Diagnostics(test_node)
    emotions = []
    test_node.node.create_subscription(EmotionArray, '/bad_aus/emotions', emotions.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/bad_aus/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)

    def face(face_id, probabilities, au_codes=codes):
        return FaceActionUnits(face_id=face_id, au_codes=list(au_codes),
                               probabilities=[float(p) for p in probabilities])

    happy = vectors['happy']
    bad_faces = [
        face(5, np.where(np.arange(len(codes)) == 2, np.nan, happy)),
        face(6, np.where(np.arange(len(codes)) == 0, np.inf, happy)),
        face(7, happy[:-1]),
        face(8, np.minimum(happy * 3, 1.5)),
        face(9, happy, au_codes=[c + 1 for c in codes]),
        face(0, happy),
    ]
    msg = ActionUnitsArray(header=Header(stamp=Time(sec=50), frame_id='cam'),
                           faces=[face(3, happy), *bad_faces])
    reply = send_until(test_node, publisher, msg, emotions)
    assert [f.face_id for f in reply.faces] == [3]
    older = ActionUnitsArray(header=Header(stamp=Time(sec=49, nanosec=900_000_000)),
                             faces=[face(3, happy)])
    publisher.publish(older)
    test_node.spin_until(lambda: False, 0.5)
    assert not any(m.header.stamp == older.header.stamp for m in emotions)
    later = ActionUnitsArray(header=Header(stamp=Time(sec=51)), faces=[face(3, happy)])
    assert [f.face_id for f in send_until(test_node, publisher, later, emotions).faces] == [3]

    values = diagnostics.wait_for('/bad_aus/emotion',
                                  lambda v: count(v, 'errors: out_of_order') >= 1)
    assert count(values, 'errors: bad_au_vector') >= 3
    assert count(values, 'errors: au_mismatch') >= 1
    assert count(values, 'errors: bad_face_id') >= 1
    assert node.alive()


def test_a_stage_catches_up_one_waiting_message_and_drops_older_ones(test_node, typical_vectors):
    """Messages that came while a stage was busy: it processes the newest and the one before
    it, in order (a stall of about a frame costs no answer), and counts the older ones as
    superseded."""
    from rclpy.parameter import Parameter

    from emotion_ros.emotion_node import EmotionNode
    from emotion_ros.node_support import bring_up
    codes, vectors = typical_vectors
    stage = EmotionNode(namespace='/catch_up', parameter_overrides=[
        Parameter(name, value=value) for name, value in SYNTHETIC_STAMPS.items()])
    try:
        bring_up(stage)
        answers = []
        stage.emotions_pub.publish = answers.append
        publisher = test_node.node.create_publisher(ActionUnitsArray, '/catch_up/action_units', 10)
        test_node.wait_for_subscribers(publisher, timeout=30)
        for second in (1, 2, 3, 4):
            publisher.publish(ActionUnitsArray(header=Header(stamp=Time(sec=second)), faces=[
                FaceActionUnits(face_id=1, au_codes=list(codes),
                                probabilities=[float(p) for p in vectors['happy']])]))
        # Nothing spins the stage: the four wait on its input, as they would while it is busy.
        deadline = time.monotonic() + 10
        while (first := stage._take_waiting()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stage._on_input(first)
        assert [answer.header.stamp.sec for answer in answers] == [3, 4]
        assert stage.statistics.dropped == {'superseded': 2}
        assert stage.statistics.received == 4
    finally:
        stage.destroy_node()


def test_parameters_out_of_range_at_start_and_at_run_time(start_node, test_node, typical_vectors,
                                                           tmp_path):
    codes, vectors = typical_vectors
    # A whole number in YAML for a float parameter is used as a float.
    params_file = tmp_path / 'params.yaml'
    params_file.write_text('/**/emotion:\n  ros__parameters:\n    face_timeout: 2\n')
    node = start_node('emotion', namespace='/params', args=['--ros-args', '--params-file', str(params_file)],
                      params={**SYNTHETIC_STAMPS, 'half_life': -1.0, 'event_min_confidence': 2.0})
    diagnostics = Diagnostics(test_node)
    emotions = []
    test_node.node.create_subscription(EmotionArray, '/params/emotions', emotions.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/params/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    msg = ActionUnitsArray(header=Header(stamp=Time(sec=1)), faces=[FaceActionUnits(
        face_id=1, au_codes=list(codes), probabilities=vectors['sad'].tolist())])
    assert send_until(test_node, publisher, msg, emotions).faces[0].label == 'sad'
    log = node.log()
    assert 'half_life=-1.0 rejected: must be > 0.0; using the default 0.5' in log
    assert 'event_min_confidence=2.0 rejected: must be in [0.0, 1.0]' in log
    assert 'face_timeout' not in log
    values = diagnostics.wait_for('/params/emotion', lambda v: 'errors: bad_parameter' in v)
    assert count(values, 'errors: bad_parameter') == 2
    face_timeout = get_parameter(test_node, '/params/emotion', 'face_timeout')
    assert (face_timeout.type, face_timeout.double_value) == (ParameterType.PARAMETER_DOUBLE, 2.0)
    assert get_parameter(test_node, '/params/emotion', 'half_life').double_value == 0.5

    # What `ros2 param describe` shows: a description, and the range where there is one.
    described = describe_parameters(test_node, '/params/emotion',
                                    ['face_timeout', 'switch_margin', 'event_emotions',
                                     'diagnostics.drop_warn'])
    assert all(d.description for d in described.values())
    assert 'face is dropped' in described['face_timeout'].description
    assert described['face_timeout'].additional_constraints == '> 0.0'
    margin = described['switch_margin'].floating_point_range[0]
    assert (margin.from_value, margin.to_value) == (0.0, 1.0)
    drop_warn = described['diagnostics.drop_warn'].floating_point_range[0]
    assert (drop_warn.from_value, drop_warn.to_value) == (0.0, 1.0)
    assert not described['event_emotions'].floating_point_range

    # Out of the descriptor's range (rclpy says so), or failing the check the range cannot say.
    rejected = set_parameter(test_node, '/params/emotion', 'face_timeout', -3.0)
    assert not rejected.successful and 'face_timeout out of range' in rejected.reason
    rejected = set_parameter(test_node, '/params/emotion', 'face_timeout', 0.0)
    assert not rejected.successful and 'face_timeout=0.0: must be > 0.0' in rejected.reason
    # A parameter read at configure is refused while the node is configured, with the reason,
    # and keeps its value.
    refused = set_parameter(test_node, '/params/emotion', 'switch_margin', 0.2)
    assert not refused.successful
    assert refused.reason.startswith('switch_margin applies at configure: deactivate and clean up')
    assert get_parameter(test_node, '/params/emotion', 'switch_margin').double_value == 0.1
    # A whole number for a live float parameter, as `ros2 param set ... max_frame_age 1` sends it:
    # accepted, and stored as a float where rclpy has pre-set callbacks (Iron and later).
    assert set_parameter(test_node, '/params/emotion', 'max_frame_age', 1).successful
    max_frame_age = get_parameter(test_node, '/params/emotion', 'max_frame_age')
    if hasattr(Node, 'add_pre_set_parameters_callback'):
        assert (max_frame_age.type, max_frame_age.double_value) == (ParameterType.PARAMETER_DOUBLE, 1.0)
    else:   # Humble: an integer parameter, used as 1.0
        assert max_frame_age.integer_value == 1
    # max_frame_age applies at once: made-up stamps are now too old, the clock's are not.
    assert set_parameter(test_node, '/params/emotion', 'max_frame_age', 0.25).successful
    msg.header.stamp = Time(sec=2)
    publisher.publish(msg)
    test_node.spin_until(lambda: False, 0.7)
    assert not any(m.header.stamp == msg.header.stamp for m in emotions)
    msg.header.stamp = now_stamp(test_node)
    assert send_until(test_node, publisher, msg, emotions).faces[0].face_id == 1
    assert count(diagnostics.wait_for('/params/emotion', lambda v: 'dropped: stale' in v),
                 'dropped: stale') >= 1
    assert node.alive()


def test_lifecycle_configure_activate_deactivate_cleanup(start_node, test_node, typical_vectors):
    codes, vectors = typical_vectors
    node = start_node('emotion', namespace='/managed', params={**SYNTHETIC_STAMPS, 'autostart': False})
    emotions = []
    test_node.node.create_subscription(EmotionArray, '/managed/emotions', emotions.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/managed/action_units', 10)
    seconds = iter(range(1, 1000))

    def state_now():
        return state(test_node, '/managed/emotion')

    def go(transition_id):
        return transition(test_node, '/managed/emotion', transition_id)

    def answered(timeout=1.5) -> bool:
        """Whether the node answers an AU message within `timeout` s (1.5 to show that an
        inactive node does not; more where it must, for a loaded machine)."""
        msg = ActionUnitsArray(header=Header(stamp=Time(sec=next(seconds))), faces=[
            FaceActionUnits(face_id=2, au_codes=list(codes), probabilities=vectors['happy'].tolist())])
        return test_node.spin_until(lambda: publisher.publish(msg) or any(
            m.header.stamp == msg.header.stamp for m in emotions), timeout)

    assert state_now() == State.PRIMARY_STATE_UNCONFIGURED
    # Parameters read at configure can be set while unconfigured (not while configured).
    assert set_parameter(test_node, '/managed/emotion', 'switch_margin', 0.2).successful
    assert publisher.get_subscription_count() == 0 and not answered()
    assert go(Transition.TRANSITION_CONFIGURE) and state_now() == State.PRIMARY_STATE_INACTIVE
    assert not answered()
    assert go(Transition.TRANSITION_ACTIVATE) and state_now() == State.PRIMARY_STATE_ACTIVE
    test_node.wait_for_subscribers(publisher)
    assert answered(10.0)
    assert go(Transition.TRANSITION_DEACTIVATE) and state_now() == State.PRIMARY_STATE_INACTIVE
    assert not answered()
    assert go(Transition.TRANSITION_CLEANUP) and state_now() == State.PRIMARY_STATE_UNCONFIGURED
    assert go(Transition.TRANSITION_CONFIGURE) and go(Transition.TRANSITION_ACTIVATE)
    test_node.wait_for_subscribers(publisher)
    assert answered(10.0), node.log()
    assert node.alive()


def test_faces_are_dropped_when_the_input_stops(start_node, test_node, typical_vectors):
    codes, vectors = typical_vectors
    node = start_node('emotion', namespace='/stopped',
                      # sad episodes only: the most sad face may be pain-like too
                      params={'event_min_duration': 0.5, 'face_timeout': 0.5, 'pain_events': False})
    emotions, events = [], []
    test_node.node.create_subscription(EmotionArray, '/stopped/emotions', emotions.append, 10)
    test_node.node.create_subscription(EmotionEvent, '/stopped/emotion_events', events.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/stopped/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers('/stopped/emotion_events') > 0, 10)

    # 1.5 s of a sad face at 20 frames/s, stamped with the clock as a camera would.
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        publisher.publish(ActionUnitsArray(header=Header(stamp=now_stamp(test_node), frame_id='cam'),
                                           faces=[FaceActionUnits(face_id=1, au_codes=list(codes),
                                                                  probabilities=vectors['sad'].tolist())]))
        test_node.spin_until(lambda: False, 0.05)
    stopped = time.monotonic()
    assert test_node.spin_until(lambda: emotions and not emotions[-1].faces, 2.0), node.log()
    gone_after = time.monotonic() - stopped
    test_node.spin_until(lambda: False, 0.5)
    assert any(m.faces for m in emotions) and not emotions[-1].faces
    assert 0.4 < gone_after < 1.2
    assert [(e.type, e.emotion) for e in events] == [(EmotionEvent.START, 'sad'),
                                                     (EmotionEvent.END, 'sad')]
    assert 'no input for 0.5 s: dropping 1 face(s)' in node.log()


@pytest.fixture(scope='module')
def load_bag(tmp_path_factory):
    """WolfgangLanger_Pexels.mp4 at 640x480: 472 frames, 19.7 s."""
    from conftest import sample_path
    bag = tmp_path_factory.mktemp('load') / 'wolfgang_640x480'
    frames = bags.video_to_bag(sample_path('WolfgangLanger_Pexels.mp4'), bag,
                               '/load/camera/image_raw', size=(640, 480))
    return bag, frames


@pytest.mark.parametrize('rate, repeat', [('4', 1), ('0', 4)], ids=['4x', 'max'])
def test_overload_keeps_emotions_fresh_and_counts_the_drops(start_node, test_node, load_bag, rate,
                                                            repeat):
    """The bag played by `bag_tools play --restamp` (its own process) faster than the pipeline:
    at 4x (96 frames/s) once, and at the player's maximum rate four times over."""
    bag, frames = load_bag
    max_age = 0.3
    pipeline = start_node('pipeline', namespace='/load', params={'max_frame_age': max_age},
                          remap={'image': '/load/camera/image_raw'})
    diagnostics = Diagnostics(test_node)
    ages = []

    def on_emotions(msg):
        now = test_node.node.get_clock().now().nanoseconds * 1e-9
        ages.append(now - stamp_to_seconds(msg.header.stamp))
    test_node.node.create_subscription(EmotionArray, '/load/emotions', on_emotions, 100)
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers('/load/emotions') > 0, 60), pipeline.log()
    player = start_node('bag_tools', args=['play', str(bag), '--rate', rate, '--restamp',
                                           '--repeat', str(repeat)])
    assert test_node.spin_until(lambda: not player.alive(), 60), player.log()
    assert player.process.returncode == 0, player.log()
    test_node.spin_until(lambda: False, 1.0)

    assert len(ages) >= 20, pipeline.log()
    p95 = float(np.percentile(ages, 95))
    values = diagnostics.wait_for('/load/face_detector', lambda v: count(v, 'frames received') == (
        count(v, 'frames processed') + count(v, 'frames dropped')) > 0)
    print(f"rate {rate}: {count(values, 'frames received')} of {frames * repeat} frames received, "
          f"{count(values, 'frames dropped')} dropped; {len(ages)} /emotions, age p50 "
          f'{np.median(ages) * 1e3:.0f} ms p95 {p95 * 1e3:.0f} ms max {max(ages) * 1e3:.0f} ms')
    assert p95 < max_age
    assert count(values, 'frames dropped') > 0 and len(ages) < count(values, 'frames received')
    assert pipeline.alive()


def test_a_killed_and_restarted_au_node_resumes_within_5_s(start_node, test_node):
    # The default backend, OpenVINO, is active ~1 s after start; TensorFlow would take ~7 s.
    nodes = {name: start_node(name, namespace='/restart', params=params) for name, params in (
        ('face_detector', {}), ('au_estimator', {}), ('emotion', {'face_timeout': 1.0}))}
    emotions = []
    test_node.node.create_subscription(EmotionArray, '/restart/emotions', emotions.append, 100)
    publisher = test_node.node.create_publisher(Image, '/restart/image', qos_profile_sensor_data)
    frames, _ = read_frames('single_face.mp4')
    frame_msgs = [bgr_to_image_msg(frame, Header(frame_id='cam')) for frame in frames]
    sent = iter(range(10 ** 9))
    next_due = [time.monotonic()]

    def camera():
        """Publish the clip in a loop at 15 frames/s, stamped now."""
        if time.monotonic() >= next_due[0]:
            msg = frame_msgs[next(sent) % len(frame_msgs)]
            msg.header.stamp = now_stamp(test_node)
            publisher.publish(msg)
            next_due[0] += 1 / 15
        return False

    def faces_since(t):
        return lambda: camera() or any(
            m.faces and stamp_to_seconds(m.header.stamp) > t for m in emotions)

    def wall():
        return test_node.node.get_clock().now().nanoseconds * 1e-9

    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(faces_since(0), 60), nodes['au_estimator'].log()

    os.killpg(nodes['au_estimator'].process.pid, signal.SIGKILL)
    killed = wall()
    test_node.spin_until(camera, 2.0)
    assert nodes['face_detector'].alive() and nodes['emotion'].alive()
    # With the AU stage gone, the emotion node stops reporting the face after face_timeout.
    assert emotions[-1].faces == [] and not any(
        m.faces for m in emotions if stamp_to_seconds(m.header.stamp) > killed)

    restarted = wall()
    start_node('au_estimator', namespace='/restart')
    assert test_node.spin_until(faces_since(restarted), 5.0), 'no /emotions 5 s after the restart'
    print(f'/emotions resumed {wall() - restarted:.1f} s after the restart')
    assert nodes['face_detector'].alive() and nodes['emotion'].alive()
