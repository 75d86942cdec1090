"""Pain events by default, over DDS: the emotion node with the shipped AU model's k-NN (no
`pain` label) fed a lasting pain-like face gives one pain START and one END, and care_speaker
says its pain phrase once."""
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from conftest import SHARED_DATA, SYNTHETIC_STAMPS, frames_answered, skip_without_shared
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, EmotionEvent, FaceActionUnits
from std_msgs.msg import Header, String
from test_care_speaker_node import speaker_ready

from emotion_ros.care_responses import DEFAULT_RESPONSES, parse_responses


@pytest.fixture(scope='module')
def pain_like_vector():
    """The AU vector of a real CK+ face coded with the full PSPI pattern (AU4, AU6/7, AU9/10):
    of those faces, the one whose pain score is the median."""
    from emotion_ros.affect import PainCalibration
    from emotion_ros.au_model import AUModel
    from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
    from emotion_ros.training.data import load_ckplus
    from emotion_ros.training.evaluate_pain import coded_pspi
    skip_without_shared()
    codes = (4, 6, 7, 9, 10)
    ckplus = load_ckplus(SHARED_DATA, codes)
    full = coded_pspi(ckplus['au'], codes) >= 3
    model, classifier = AUModel(), AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
    assert 'pain' not in classifier.labels
    vectors = model.predict_proba(ckplus['images'][full])
    scores = PainCalibration.load().scores(model.au_codes, vectors, classifier.labels,
                                           classifier.predict_proba(vectors))
    return vectors[np.argsort(scores)[len(scores) // 2]]


def test_lasting_pain_gives_one_episode_and_the_robot_asks_once(start_node, test_node,
                                                                  typical_vectors, pain_like_vector):
    codes, vectors = typical_vectors
    # Label episodes for pain only (a k-NN pain label, which the shipped k-NN has not): the
    # pain-like face is also read sad, and its sad episode runs beside the pain one
    # (test_pain tests both); here the pain score's episode alone.
    emotion = start_node('emotion', namespace='/pain',
                         params={'event_min_duration': 1.0, 'event_emotions': ['pain'],
                                 **SYNTHETIC_STAMPS})
    speaker = start_node('care_speaker', namespace='/pain', params={'min_interval': 60.0})
    speech, emotions, events = [], [], []
    test_node.node.create_subscription(String, '/speech', speech.append, 10)
    test_node.node.create_subscription(EmotionArray, '/pain/emotions', emotions.append, 10)
    test_node.node.create_subscription(EmotionEvent, '/pain/emotion_events', events.append, 10)
    publisher = test_node.node.create_publisher(ActionUnitsArray, '/pain/action_units', 10)
    test_node.wait_for_subscribers(publisher, timeout=30)
    assert test_node.spin_until(lambda: speaker_ready(test_node, '/pain'), 15), speaker.log()

    # 10 frames/s in real time: 1 s of a happy face, 2 s of the pain-like one, 2 s happy again.
    sequence = [vectors['happy']] * 10 + [pain_like_vector] * 20 + [vectors['happy']] * 20
    for i, vector in enumerate(sequence):
        msg = ActionUnitsArray(header=Header(stamp=Time(sec=600 + i // 10, nanosec=(i % 10) * 10 ** 8),
                                             frame_id='cam'))
        msg.faces = [FaceActionUnits(face_id=8, au_codes=list(codes), probabilities=vector.tolist())]
        publisher.publish(msg)
        assert test_node.spin_until(lambda: len(frames_answered(emotions)) > i, 5), emotion.log()
        test_node.spin_until(lambda: False, 0.1)
    test_node.spin_until(lambda: len(events) >= 2 and speech, 2)

    assert [(e.type, e.emotion, e.face_id) for e in events] == [
        (EmotionEvent.START, 'pain', 8), (EmotionEvent.END, 'pain', 8)], emotion.log()
    # Only the frames' own answers: waiting for the last event or the speech can outlast
    # face_timeout, and then the node says that nobody is in view (an empty EmotionArray).
    answers = [e.faces[0] for e in frames_answered(emotions)]
    assert len(answers) == len(sequence)
    assert all('pain' not in face.labels for face in answers)
    scores = [face.pain_score for face in answers]
    assert max(scores[:10]) < max(scores[10:30])
    assert [s.data for s in speech] == [parse_responses(DEFAULT_RESPONSES)['pain']], \
        speaker.log() + emotion.log()
    assert speaker.log().count('face 8 pain') == 1
