"""The emotion node over DDS: AU vectors of real faces in, /emotions and events out; events
for late subscribers, on deactivation, and under a paused sim clock."""
from builtin_interfaces.msg import Time
from conftest import SYNTHETIC_STAMPS, frames_answered
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, EmotionEvent, FaceActionUnits
from lifecycle_msgs.msg import Transition
from ros_services import transition
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Header

from emotion_ros.node_common import EVENTS_QOS

# These tests are about the k-NN label episodes. The most sad face is also pain-like (its pain
# score may reach the pain threshold), which would add a pain episode beside the sad one:
# pain episodes are tested in test_pain_events.py.
LABELS_ONLY = {'pain_events': False}


def start_emotion_node(start_node, test_node, namespace, params):
    """The node under test, started and connected: (node, emotions, events, AU publisher)."""
    node = start_node('emotion', namespace=namespace, params=params)
    emotions, events = [], []
    test_node.node.create_subscription(EmotionArray, f'{namespace}/emotions', emotions.append, 10)
    test_node.node.create_subscription(EmotionEvent, f'{namespace}/emotion_events', events.append,
                                       10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, f'{namespace}/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers(f'{namespace}/emotion_events') > 0, 10), node.log()
    return node, emotions, events, publisher


def test_sustained_sadness_gives_one_start_and_one_end(start_node, test_node, typical_vectors):
    codes, vectors = typical_vectors
    node, emotions, events, publisher = start_emotion_node(
        start_node, test_node, '/emo',
        {'event_min_duration': 1.0, **LABELS_ONLY, **SYNTHETIC_STAMPS})

    def frame(i, emotion):
        msg = ActionUnitsArray(header=Header(stamp=Time(sec=100 + i // 10, nanosec=(i % 10) * 10 ** 8),
                                             frame_id='cam'), image_width=640, image_height=480)
        msg.faces = [FaceActionUnits(face_id=4, au_codes=list(codes),
                                     probabilities=vectors[emotion].tolist())]
        return msg

    # 2.5 s of a sad face, then 1 s of a happy one, at 10 frames/s; each frame waits for its reply.
    sequence = ['sad'] * 25 + ['happy'] * 10
    for i, emotion in enumerate(sequence):
        publisher.publish(frame(i, emotion))
        assert test_node.spin_until(lambda: len(frames_answered(emotions)) > i, 5), node.log()
    test_node.spin_until(lambda: len(events) >= 2, 2)

    emotions = frames_answered(emotions)
    assert len(emotions) == len(sequence)
    labels = [e.faces[0].label for e in emotions]
    assert labels[:25] == ['sad'] * 25 and labels[-1] == 'happy'
    last = emotions[-1].faces[0]
    assert last.face_id == 4 and last.frame_count == 35 and abs(last.time_span - 3.4) < 1e-3
    assert len(last.labels) == len(last.probabilities) == 7 and abs(sum(last.probabilities) - 1) < 1e-4
    assert emotions[12].faces[0].valence < 0 < last.valence
    assert [(e.type, e.emotion, e.face_id) for e in events] == [
        (EmotionEvent.START, 'sad', 4), (EmotionEvent.END, 'sad', 4)]
    start = events[0]
    assert (start.since.sec, start.since.nanosec) == (100, 0)
    assert 1.0 <= start.duration.sec + start.duration.nanosec * 1e-9 < 1.2
    assert events[1].duration.sec + events[1].duration.nanosec * 1e-9 >= 2.0


def au_frame(codes, vector, stamp: Time, face_id=4) -> ActionUnitsArray:
    return ActionUnitsArray(header=Header(stamp=stamp, frame_id='cam'), faces=[
        FaceActionUnits(face_id=face_id, au_codes=list(codes), probabilities=vector.tolist())])


def late_events(test_node, topic):
    """Events a subscriber that joins now receives: transient local, as a behaviour node asks."""
    events = []
    test_node.node.create_subscription(EmotionEvent, topic, events.append, EVENTS_QOS)
    test_node.spin_until(lambda: False, 1.0)
    return [(e.type, e.emotion, e.face_id) for e in events]


def test_a_late_subscriber_gets_the_open_episode_and_deactivate_ends_it(start_node, test_node,
                                                                        typical_vectors):
    codes, vectors = typical_vectors
    node, emotions, events, publisher = start_emotion_node(
        start_node, test_node, '/late',
        {'event_min_duration': 0.5, 'face_timeout': 5.0, **LABELS_ONLY, **SYNTHETIC_STAMPS})
    for i in range(10):   # 1 s of a sad face at 10 frames/s: the episode starts after 0.5 s
        publisher.publish(au_frame(codes, vectors['sad'], Time(sec=300, nanosec=i * 10 ** 8)))
        assert test_node.spin_until(lambda: len(emotions) > i, 5), node.log()
    assert test_node.spin_until(lambda: len(events) == 1, 2), node.log()
    open_episode = [(EmotionEvent.START, 'sad', 4)]
    assert late_events(test_node, '/late/emotion_events') == open_episode

    # Deactivated with the episode open: its END, and an empty EmotionArray (nobody in view).
    assert transition(test_node, '/late/emotion', Transition.TRANSITION_DEACTIVATE)
    assert test_node.spin_until(lambda: len(events) == 2 and not emotions[-1].faces, 5), node.log()
    assert [(e.type, e.emotion, e.face_id) for e in events] == [
        *open_episode, (EmotionEvent.END, 'sad', 4)]
    # Joining now, a subscriber sees the episode closed.
    assert late_events(test_node, '/late/emotion_events') == [
        *open_episode, (EmotionEvent.END, 'sad', 4)]
    assert 'stopping: dropping 1 face(s)' in node.log()


def test_a_paused_sim_clock_drops_no_face(start_node, test_node, typical_vectors):
    """A paused bag (ros2 bag play --clock, paused): /clock stands still and no input
    arrives. Faces time out on ROS time only: not while the clock is paused."""
    codes, vectors = typical_vectors
    node, emotions, events, publisher = start_emotion_node(
        start_node, test_node, '/sim', {'use_sim_time': True, 'face_timeout': 0.5,
                                        'event_min_duration': 0.5, **LABELS_ONLY})
    clock = test_node.node.create_publisher(Clock, '/clock', 10)
    test_node.wait_for_subscribers(clock, timeout=10)
    now = [5000 * 10 ** 9]   # ns of sim time

    def tick(with_face=True):
        """The bag advances 50 ms: /clock, then (if a face is in view) its AUs."""
        now[0] += 50 * 10 ** 6
        stamp = Time(sec=now[0] // 10 ** 9, nanosec=now[0] % 10 ** 9)
        clock.publish(Clock(clock=stamp))
        test_node.spin_until(lambda: False, 0.02)
        if with_face:
            count = len(emotions)
            publisher.publish(au_frame(codes, vectors['sad'], stamp))
            assert test_node.spin_until(lambda: len(emotions) > count, 5), node.log()

    # The first AUs before the first /clock (ROS time still 0), as a bag's first frame can be.
    publisher.publish(au_frame(codes, vectors['sad'], Time(sec=now[0] // 10 ** 9)))
    assert test_node.spin_until(lambda: emotions, 5), node.log()
    for _ in range(20):   # 1 s of a sad face
        tick()
    assert [e.type for e in events] == [EmotionEvent.START] and emotions[-1].faces
    frames = emotions[-1].faces[0].frame_count

    test_node.spin_until(lambda: False, 2.0)   # paused: 4 face_timeouts of wall time
    assert emotions[-1].faces and [e.type for e in events] == [EmotionEvent.START], node.log()
    tick()   # played on: the same face, its smoothing and episode go on
    assert emotions[-1].faces[0].face_id == 4 and emotions[-1].faces[0].frame_count == frames + 1
    assert [e.type for e in events] == [EmotionEvent.START]
    assert 'no input' not in node.log()

    # The sim clock runs on without input: the face times out after face_timeout of sim time.
    for _ in range(20):
        tick(with_face=False)
        test_node.spin_until(lambda: False, 0.05)
        if not emotions[-1].faces:
            break
    assert not emotions[-1].faces and [e.type for e in events] == [EmotionEvent.START,
                                                                   EmotionEvent.END], node.log()
    assert 0.5 <= (now[0] * 1e-9 - 5001.05) <= 0.8


def test_stopping_the_process_ends_the_open_episode(start_node, test_node, typical_vectors):
    """Ctrl-C, or ros2 launch stopping the node (SIGINT), or SIGTERM: a lifecycle shutdown,
    so the open episode gets its END before the process ends."""
    codes, vectors = typical_vectors
    node, emotions, events, publisher = start_emotion_node(
        start_node, test_node, '/stopped_process',
        {'event_min_duration': 0.5, 'face_timeout': 5.0, **LABELS_ONLY, **SYNTHETIC_STAMPS})
    for i in range(10):
        publisher.publish(au_frame(codes, vectors['sad'], Time(sec=500, nanosec=i * 10 ** 8)))
        assert test_node.spin_until(lambda: len(emotions) > i, 5), node.log()
    assert test_node.spin_until(lambda: len(events) == 1, 2), node.log()
    node.stop()
    assert test_node.spin_until(lambda: len(events) == 2 and not emotions[-1].faces, 5), node.log()
    assert [(e.type, e.emotion, e.face_id) for e in events] == [
        (EmotionEvent.START, 'sad', 4), (EmotionEvent.END, 'sad', 4)]
    assert node.process.returncode == 0
