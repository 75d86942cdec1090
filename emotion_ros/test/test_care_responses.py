"""The example behaviour's core: a START heard before its face is in view waits for the face."""
from emotion_ros.care_responses import DEFAULT_RESPONSES, CareResponder, parse_responses

SAD = parse_responses(DEFAULT_RESPONSES)['sad']


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
    responder.on_end(7)
    responder.faces_seen([7, 8], 10.2)
    assert responder.waiting_start(10.2) is None
