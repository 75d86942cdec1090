"""The example behaviour node over DDS, fed by the real emotion node: lasting sadness -> one phrase."""
import subprocess
import sys

from builtin_interfaces.msg import Time
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, FaceActionUnits
from std_msgs.msg import Header, String
from conftest import SYNTHETIC_STAMPS

from emotion_ros.care_responses import DEFAULT_RESPONSES, parse_responses


def test_lasting_sadness_makes_the_robot_ask_once(start_node, test_node, typical_vectors):
    codes, vectors = typical_vectors
    emotion = start_node('emotion', namespace='/care', params={'event_min_duration': 1.0, **SYNTHETIC_STAMPS})
    speaker = start_node('care_speaker', namespace='/care', params={'min_interval': 60.0})
    speech, emotions = [], []
    # naoqi_driver's /speech, also from a node in a namespace.
    test_node.node.create_subscription(String, '/speech', speech.append, 10)
    test_node.node.create_subscription(EmotionArray, '/care/emotions', emotions.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/care/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(
        lambda: test_node.node.count_subscribers('/care/emotion_events') > 0
        and test_node.node.count_publishers('/speech') > 0, 15), speaker.log()

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


def test_the_behaviour_node_imports_messages_not_the_perception_stack():
    code = ('import sys, emotion_ros.care_speaker_node; print(sorted(m for m in sys.modules if '
            "m.split('.')[0] in ('rosbags', 'cv2', 'openvino', 'sklearn', 'scipy') or m in "
            "('emotion_ros.node_support', 'emotion_ros.ros_messages', 'emotion_ros.emotion_node')))")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == '[]'
