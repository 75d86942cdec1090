"""The example behaviour's core: a START heard before its face is in view waits for the face."""
from emotion_ros.care_responses import DEFAULT_RESPONSES, CareResponder, parse_responses

SAD = parse_responses(DEFAULT_RESPONSES)['sad']
PAIN = parse_responses(DEFAULT_RESPONSES)['pain']


def test_a_start_heard_before_the_face_is_said_once_the_face_is_in_view():
    responder = CareResponder(parse_responses(DEFAULT_RESPONSES), min_interval=30.0, max_age=1.0)
    # A late joiner: the START of an ongoing episode comes from the events' history first.
    assert responder.on_start(7, 'sad', 10.0) is None
    assert responder.waiting_start(10.0) is None               # face 7 not in view yet
    responder.faces_seen([7], 10.2)
    assert responder.waiting_start(10.2) == (7, 'sad', SAD)
    assert responder.waiting_start(10.3) is None               # said once


def test_an_ended_episode_no_longer_waits_for_its_face():
    responder = CareResponder(parse_responses(DEFAULT_RESPONSES), min_interval=30.0, max_age=1.0)
    assert responder.on_start(7, 'sad', 10.0) is None
    assert responder.on_start(8, 'happy', 10.0) is None        # no phrase: nothing waits
    responder.on_end(7, 'sad')
    responder.faces_seen([7, 8], 10.2)
    assert responder.waiting_start(10.2) is None


def test_two_episodes_of_one_face_wait_each_on_its_own_and_the_robot_speaks_once():
    """A sad face that is also pain-like: a late joiner hears a sad START and a pain START."""
    responder = CareResponder(parse_responses(DEFAULT_RESPONSES), min_interval=30.0, max_age=1.0)
    assert responder.on_start(7, 'pain', 10.0) is None
    assert responder.on_start(7, 'sad', 10.0) is None
    responder.on_end(7, 'sad')                                  # the sadness ended, the pain goes on
    responder.faces_seen([7], 10.2)
    assert responder.waiting_start(10.2) == (7, 'pain', PAIN)
    assert responder.waiting_start(10.3) is None
    assert responder.on_start(7, 'sad', 11.0) is None           # min_interval: said once
