"""The composed runner's in-process hand-off, over real DDS and a real `pipeline` process.

In one process the detector feeds the AU stage and that the emotion stage
directly (node_support.StageOutput): nobody subscribes to faces or
action_units over DDS, yet both are still published to other subscribers;
a stage whose input is remapped away from its upstream's output listens
over DDS as in separate processes; the stages of a chain run one callback
at a time, also under a MultiThreadedExecutor.
"""
import threading
import time

from builtin_interfaces.msg import Time
from conftest import read_frames, read_image
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, FaceArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotion_ros.ros_messages import bgr_to_image_msg


def send_until_answered(test_node, publisher, image, answers, timeout=30.0):
    """Publish `image` (stamped now) until an /emotions message with a face comes back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.time_ns()
        stamp = Time(sec=now // 10 ** 9, nanosec=now % 10 ** 9)
        publisher.publish(bgr_to_image_msg(image, Header(stamp=stamp, frame_id='camera')))
        if test_node.spin_until(lambda: any(m.faces for m in answers), 0.5):
            return True
    return False


def start_and_feed(start_node, test_node, namespace, remap=None):
    remap = {'image': f'{namespace}/camera/image_raw', **(remap or {})}
    pipeline = start_node('pipeline', namespace=namespace, remap=remap)
    emotions = []
    node = test_node.node
    node.create_subscription(EmotionArray, f'{namespace}/emotions', emotions.append, 10)
    publisher = node.create_publisher(Image, f'{namespace}/camera/image_raw',
                                      QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    test_node.wait_for_subscribers(publisher, timeout=60)
    assert test_node.spin_until(lambda: node.count_publishers(f'{namespace}/emotions') > 0, 60), \
        pipeline.log()
    assert send_until_answered(test_node, publisher, read_image('single_face.jpg'), emotions), \
        pipeline.log()
    return pipeline, publisher, emotions


def test_stages_are_fed_in_process_and_still_publish_to_others(start_node, test_node):
    namespace = '/composed_in_process'
    pipeline, publisher, emotions = start_and_feed(start_node, test_node, namespace)
    node = test_node.node
    # The AU and emotion stages take their input in-process: no DDS subscriber.
    assert node.count_subscribers(f'{namespace}/faces') == 0
    assert node.count_subscribers(f'{namespace}/action_units') == 0
    assert f'fed in-process by face_detector on {namespace}/faces' in pipeline.log()
    assert f'fed in-process by au_estimator on {namespace}/action_units' in pipeline.log()
    # Another subscriber (rosbag record, rqt) still gets both topics, with crops.
    faces, action_units = [], []
    node.create_subscription(FaceArray, f'{namespace}/faces', faces.append, 10)
    node.create_subscription(ActionUnitsArray, f'{namespace}/action_units', action_units.append, 10)
    assert test_node.spin_until(lambda: node.count_subscribers(f'{namespace}/faces') == 1, 15)
    emotions.clear()
    assert send_until_answered(test_node, publisher, read_image('single_face.jpg'), emotions)
    assert test_node.spin_until(lambda: faces and action_units, 5), pipeline.log()
    face = faces[-1].faces[0]
    assert face.crop.width == face.crop.height == 48
    assert len(action_units[-1].faces[0].probabilities) == len(action_units[-1].faces[0].au_codes)
    assert [f.face_id for f in action_units[-1].faces] == [f.id for f in faces[-1].faces]


def test_a_stage_remapped_away_from_its_upstream_listens_over_dds(start_node, test_node):
    namespace = '/composed_remapped'
    other_faces = f'{namespace}/other_faces'
    node = test_node.node
    # The AU stage reads other_faces, which the test relays from the detector's faces.
    relay = node.create_publisher(FaceArray, other_faces, 10)
    node.create_subscription(FaceArray, f'{namespace}/faces', relay.publish, 10)
    pipeline, *_ = start_and_feed(start_node, test_node, namespace,
                                  remap={'au_estimator:faces': other_faces})
    assert node.count_subscribers(other_faces) == 1
    assert f'listening on {other_faces}' in pipeline.log()
    # The emotion stage is still fed in-process by the AU stage.
    assert node.count_subscribers(f'{namespace}/action_units') == 0
    assert f'fed in-process by au_estimator on {namespace}/action_units' in pipeline.log()


def test_an_in_process_chain_runs_one_callback_at_a_time(rclpy_context):
    """Under a MultiThreadedExecutor a downstream stage's own callbacks (timers, lifecycle and
    parameter services) must not run while its upstream feeds it from another thread: the
    stages of a chain share one lock around every callback."""
    from emotion_ros.au_estimator_node import AUEstimatorNode
    from emotion_ros.emotion_node import EmotionNode
    from emotion_ros.face_detector_node import FaceDetectorNode
    detector = FaceDetectorNode()
    au = AUEstimatorNode(upstream=detector)
    emotion = EmotionNode(upstream=au)
    lone = EmotionNode()   # fed over DDS: a lock of its own
    try:
        assert detector._lock is au._lock is emotion._lock and lone._lock is not emotion._lock
        configured = threading.Event()

        def configure_emotion():   # as a lifecycle service call in another executor thread
            emotion.trigger_configure()
            configured.set()
        with detector._lock:   # the detector is in a callback (that feeds the chain)
            threading.Thread(target=configure_emotion, daemon=True).start()
            assert not configured.wait(0.5)   # the emotion stage's transition waits for it
            lone.trigger_configure()          # another chain's stage does not
        assert configured.wait(30) and emotion.state_label == lone.state_label == 'inactive'
    finally:
        for node in (lone, emotion, au, detector):
            node.destroy_node()


def test_frames_given_the_last_looks_faces_are_not_read_again(rclpy_context):
    """The robot mode's frames between two looks (detection_interval) carry the last look's
    face messages: in-process, the AU stage gives those faces its last answer back and the
    emotion stage its last k-NN reading, without decoding, checking or searching again; what
    /emotions says is the same as for copies of those messages (as over DDS), frame by frame."""
    from rclpy.parameter import Parameter
    from rclpy.serialization import deserialize_message, serialize_message

    from emotion_ros.au_estimator_node import AUEstimatorNode
    from emotion_ros.emotion_node import EmotionNode
    from emotion_ros.face_detector_node import FaceDetectorNode
    from emotion_ros.node_support import bring_up
    common = [Parameter('max_frame_age', value=0.0)]
    detector = FaceDetectorNode(parameter_overrides=[
        *common, Parameter('detection_interval', value=0.2)])
    au = AUEstimatorNode(upstream=detector, parameter_overrides=[
        *common, Parameter('au_rate', value=5.0)])
    emotion = EmotionNode(upstream=au, parameter_overrides=common)
    # The same stages fed copies of the detector's messages: new objects every frame.
    au_copies = AUEstimatorNode(namespace='/copies', parameter_overrides=[
        *common, Parameter('au_rate', value=5.0)])
    emotion_copies = EmotionNode(upstream=au_copies, namespace='/copies',
                                 parameter_overrides=common)
    stages = [detector, au, emotion, au_copies, emotion_copies]
    try:
        for stage in stages:
            bring_up(stage)
        faces, aus, answers, copied_answers, searches = [], [], [], [], []
        detector.faces_pub.publish = lambda msg, publish=detector.faces_pub.publish: (
            faces.append(msg), publish(msg))
        au.au_pub.publish = lambda msg, publish=au.au_pub.publish: (aus.append(msg), publish(msg))
        emotion.emotions_pub.publish = answers.append
        emotion_copies.emotions_pub.publish = copied_answers.append
        predict_proba = emotion.classifier.predict_proba
        emotion.classifier.predict_proba = lambda *args, **kwargs: (
            searches.append(1), predict_proba(*args, **kwargs))[1]
        frames, fps = read_frames('single_face.mp4')
        for i, frame in enumerate(frames):
            seconds = i / fps
            stamp = Time(sec=int(seconds), nanosec=int(round(seconds % 1 * 1e9)))
            detector._work(bgr_to_image_msg(frame, Header(stamp=stamp, frame_id='camera')))
            au_copies._work(deserialize_message(serialize_message(faces[-1]), FaceArray))
        held = [i for i in range(1, len(faces))
                if faces[i].faces and faces[i].faces[0] is faces[i - 1].faces[0]]
        assert len(held) > len(frames) / 2 and all(len(f.faces) == 1 for f in faces)
        # The AU stage answers a held face with its last message (its crop was read already) ...
        assert all(aus[i].faces[0] is aus[i - 1].faces[0] for i in held)
        new_aus = [i for i in range(len(aus)) if i == 0 or aus[i].faces[0] is not aus[i - 1].faces[0]]
        # ... and the emotion stage asks the k-NN only about new AU messages (looks, readings).
        assert len(searches) == len(new_aus) < len(frames) / 2
        assert [(a.faces[0].label, a.faces[0].probabilities, a.faces[0].pain_score)
                for a in answers] == \
            [(a.faces[0].label, a.faces[0].probabilities, a.faces[0].pain_score)
             for a in copied_answers]
        assert {a.faces[0].label for a in answers} == {'neutral', 'happy'}
    finally:
        for node in reversed(stages):
            node.destroy_node()


def test_last_frame_answers_go_to_the_very_same_message_with_the_same_key():
    """The held-frame cache both stages use: the same object and settings get the last
    frame's answer; a copy, other settings, or a face not kept in the last frame do not."""
    from emotion_ros.node_support import LastFrameAnswers
    from emotion_ros_msgs.msg import Face
    face, copy, other = Face(id=1), Face(id=1), Face(id=2)
    answers = LastFrameAnswers()
    answers.keep([(1, face, 'reading', (0.5, True)), (2, other, 'other reading', None)])
    assert answers.seen(1, face) and not answers.seen(1, copy) and not answers.seen(3, face)
    assert answers.answer(1, face, (0.5, True)) == 'reading'
    assert answers.answer(1, face, (0.6, True)) is None and answers.answer(1, copy, (0.5, True)) is None
    assert answers.answer(2, other) == 'other reading'
    answers.keep([(2, other, 'newer', None)])     # the next frame: face 1 gone
    assert not answers.seen(1, face) and answers.answer(2, other) == 'newer'


def test_a_crop_read_already_is_read_again_once_its_face_was_forgotten(rclpy_context):
    """The same crop is not read twice in a row, but a face back after the reading schedule
    forgot it (gone for a while, a bag played again) is read again, even from the same pixels:
    every frame still gets the face's AUs."""
    import cv2
    from rclpy.parameter import Parameter

    from emotion_ros.au_estimator_node import AUEstimatorNode
    from emotion_ros.node_support import bring_up
    from emotion_ros.reading_rate import FORGET_AFTER
    from emotion_ros_msgs.msg import Face
    crop = cv2.resize(cv2.cvtColor(read_image('single_face.jpg'), cv2.COLOR_BGR2GRAY), (48, 48))
    au = AUEstimatorNode(parameter_overrides=[Parameter('max_frame_age', value=0.0),
                                              Parameter('au_rate', value=5.0)])
    try:
        bring_up(au)
        outputs, reads = [], []
        au.au_pub.publish = outputs.append
        predict_proba = au.model.predict_proba
        au.model.predict_proba = lambda crops: (reads.append(len(crops)), predict_proba(crops))[1]
        for seconds in (1.0, 1.3, 1.3 + FORGET_AFTER + 0.5, 10.0, 1.0):
            header = Header(stamp=Time(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)))
            face = Face(id=1, crop=bgr_to_image_msg(crop, header, 'mono8'))
            face.box.width = face.box.height = 100.0
            au._work(FaceArray(header=header, faces=[face]))
        assert [len(o.faces) for o in outputs] == [1] * 5
        # Read at first; not 0.3 s later (due, the same pixels); read again once forgotten, and
        # when the clock goes back.
        assert reads == [1, 0, 1, 1, 1]
        assert len({tuple(o.faces[0].probabilities) for o in outputs}) == 1
    finally:
        au.destroy_node()
