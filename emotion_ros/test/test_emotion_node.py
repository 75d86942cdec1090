"""The emotion node over DDS: AU vectors of real faces in, /emotions and events out."""
from builtin_interfaces.msg import Time
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, EmotionEvent, FaceActionUnits
from std_msgs.msg import Header
from conftest import SYNTHETIC_STAMPS


def test_sustained_sadness_gives_one_start_and_one_end(start_node, test_node, typical_vectors):
    codes, vectors = typical_vectors
    node = start_node('emotion', namespace='/emo', params={'event_min_duration': 1.0, **SYNTHETIC_STAMPS})
    emotions, events = [], []
    test_node.node.create_subscription(EmotionArray, '/emo/emotions', emotions.append, 10)
    test_node.node.create_subscription(EmotionEvent, '/emo/emotion_events', events.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/emo/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers('/emo/emotion_events') > 0, 10), node.log()

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
        assert test_node.spin_until(lambda: len(emotions) > i, 5), node.log()
    test_node.spin_until(lambda: len(events) >= 2, 2)

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
