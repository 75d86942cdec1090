"""The example behaviour node over DDS, fed by the real emotion node: lasting sadness -> one phrase."""
import subprocess
import sys

from builtin_interfaces.msg import Time
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, FaceActionUnits
from std_msgs.msg import Header, String
from conftest import SYNTHETIC_STAMPS

from emotion_ros.care_responses import DEFAULT_RESPONSES, parse_responses

# Sadness only: the most sad face may also be pain-like, whose pain episode (tested in
# test_pain_events.py) would race the sad one for the single phrase.
LABELS_ONLY = {'pain_events': False}


def speaker_ready(test_node, namespace) -> bool:
    """Whether the care_speaker in `namespace` is seen: it listens to the events and
    publishes /speech (an earlier test's speaker may still be in the graph)."""
    node = test_node.node
    return (node.count_subscribers(f'{namespace}/emotion_events') > 0
            and any(info.node_namespace == namespace
                    for info in node.get_publishers_info_by_topic('/speech')))


def test_lasting_sadness_makes_the_robot_ask_once(start_node, test_node, typical_vectors):
    codes, vectors = typical_vectors
    emotion = start_node('emotion', namespace='/care', params={'event_min_duration': 1.0, **LABELS_ONLY, **SYNTHETIC_STAMPS})
    speaker = start_node('care_speaker', namespace='/care', params={'min_interval': 60.0})
    speech, emotions = [], []
    # naoqi_driver's /speech, also from a node in a namespace.
    test_node.node.create_subscription(String, '/speech', speech.append, 10)
    test_node.node.create_subscription(EmotionArray, '/care/emotions', emotions.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/care/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(lambda: speaker_ready(test_node, '/care'), 15), speaker.log()

    # At 10 frames/s in real time (the speaker's clock is the wall clock): 1 s happy, then two
    # sad spells of 2 s parted by 1 s of happiness: two START events, but the robot speaks once
    # (min_interval 60 s).
    sequence = ['happy'] * 10 + ['sad'] * 20 + ['happy'] * 10 + ['sad'] * 20
    for i, label in enumerate(sequence):
        msg = ActionUnitsArray(header=Header(stamp=Time(sec=200 + i // 10, nanosec=(i % 10) * 10 ** 8),
                                             frame_id='cam'))
        msg.faces = [FaceActionUnits(face_id=9, au_codes=list(codes),
                                     probabilities=vectors[label].tolist())]
        publisher.publish(msg)
        assert test_node.spin_until(lambda: len(emotions) > i, 5), emotion.log()
        test_node.spin_until(lambda: False, 0.1)
    test_node.spin_until(lambda: len(speech) >= 2, 2)
    assert [s.data for s in speech] == [parse_responses(DEFAULT_RESPONSES)['sad']], speaker.log() + emotion.log()
    assert speaker.log().count('face 9 sad') == 1
    assert emotion.log().count('START: face 9 sad') == 2


def test_a_speaker_started_during_an_episode_speaks_once_the_face_is_in_view(start_node, test_node,
                                                                             typical_vectors):
    codes, vectors = typical_vectors
    emotion = start_node('emotion', namespace='/late_care',
                         params={'event_min_duration': 0.5, 'face_timeout': 5.0, **LABELS_ONLY,
                                 **SYNTHETIC_STAMPS})
    speech, emotions = [], []
    test_node.node.create_subscription(String, '/speech', speech.append, 10)
    test_node.node.create_subscription(EmotionArray, '/late_care/emotions', emotions.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/late_care/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    frames = iter(range(10 ** 6))

    def sad_frame():
        i = next(frames)
        msg = ActionUnitsArray(header=Header(stamp=Time(sec=400 + i // 10, nanosec=(i % 10) * 10 ** 8)))
        msg.faces = [FaceActionUnits(face_id=6, au_codes=list(codes), probabilities=vectors['sad'].tolist())]
        count = len(emotions)
        publisher.publish(msg)
        assert test_node.spin_until(lambda: len(emotions) > count, 5), emotion.log()

    for _ in range(10):   # 1 s of sadness: the episode is open
        sad_frame()
    assert test_node.spin_until(lambda: 'START: face 6 sad' in emotion.log(), 2), emotion.log()
    speaker = start_node('care_speaker', namespace='/late_care')
    assert test_node.spin_until(lambda: speaker_ready(test_node, '/late_care')
                                and test_node.node.count_subscribers('/late_care/emotions') > 1,
                                15), speaker.log()
    for _ in range(30):   # the face stays in view (10 frames/s); the START came from the history
        sad_frame()
        if test_node.spin_until(lambda: speech, 0.1):
            break
    test_node.spin_until(lambda: False, 0.5)
    assert [s.data for s in speech] == [parse_responses(DEFAULT_RESPONSES)['sad']], \
        speaker.log() + emotion.log()
    assert speaker.log().count('face 6 sad') == 1


def test_the_behaviour_node_imports_messages_not_the_perception_stack():
    code = ('import sys, emotion_ros.care_speaker_node; print(sorted(m for m in sys.modules if '
            "m.split('.')[0] in ('rosbags', 'cv2', 'openvino', 'sklearn', 'scipy') or m in "
            "('emotion_ros.node_support', 'emotion_ros.ros_messages', 'emotion_ros.emotion_node')))")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == '[]'
