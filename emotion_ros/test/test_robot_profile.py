"""The robot budget mode: each face's AUs read a few times a second, /emotions every frame.

The schedule (reading_rate, ROS-free), the au_estimator with `au_rate` over
DDS against the shipped model, and the composed runner with
`--profile robot` on the replay clips (test_replay's fixture), whose
expectations must hold in that mode too.
"""
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from conftest import SYNTHETIC_STAMPS, read_frames, read_image, sample_path
from emotion_ros_msgs.msg import ActionUnitsArray, FaceArray
from std_msgs.msg import Header
from test_au_estimator_node import collect, send_until
from test_replay import NEGATIVE, labels_by_frame, replay  # noqa: F401 (replay: a fixture)

from emotion_ros import bags
from emotion_ros.au_model import AUModel
from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.reading_rate import FORGET_AFTER, ReadingSchedule
from emotion_ros.ros_messages import face_msg
from emotion_ros.tracking import FaceTracker

FPS = 30


def play(schedule, frames, faces_of):
    """Drive `schedule` over `frames` frames at FPS; returns {face: [frames it was read]}."""
    reads = collections.defaultdict(list)
    for i in range(frames):
        stamp = 100 + i / FPS
        ids = faces_of(i)
        for face_id, due in zip(ids, schedule.due(ids, stamp)):
            if due:
                schedule.read(face_id, stamp, (face_id, i))
                reads[face_id].append(i)
            assert schedule.last(face_id)[0] == face_id
    return reads


def test_each_face_is_read_at_the_rate_and_a_new_face_at_once():
    reads = play(ReadingSchedule(5.0), 3 * FPS, lambda i: [1] if i < 10 else [1, 2])
    assert reads[1] == list(range(0, 90, 6))                # 5 a second at 30 frames/s
    assert reads[2] == list(range(10, 90, 6))               # new at frame 10: read at once


def test_late_frames_do_not_lower_the_rate_and_rate_0_reads_every_frame():
    schedule = ReadingSchedule(5.0)
    reads = []
    for i in range(3 * FPS):
        stamp = i / FPS + (0.004 if i % 2 else 0.0)         # every other frame 4 ms late
        if schedule.due([7], stamp)[0]:
            schedule.read(7, stamp, i)
            reads.append(i)
    assert len(reads) == 15, reads
    assert play(ReadingSchedule(0.0), 20, lambda i: [3])[3] == list(range(20))


def test_the_last_reading_is_kept_until_the_next_and_forgotten_with_the_face():
    schedule = ReadingSchedule(2.0)
    assert schedule.due([4], 10.0) == [True]
    schedule.read(4, 10.0, 'first')
    assert schedule.due([4], 10.3) == [False] and schedule.last(4) == 'first'
    assert schedule.due([4], 10.5) == [True]
    schedule.read(4, 10.5, 'second')
    assert schedule.due([], 10.5 + FORGET_AFTER + 0.01) == [] and schedule.last(4) is None
    schedule.read(4, 20.0, 'third')
    assert schedule.due([4], 5.0) == [True] and schedule.last(4) is None   # a bag started again
    schedule.rate = 0.0                                                     # live
    schedule.read(4, 5.0, 'fourth')
    assert schedule.due([4], 5.0) == [True]


def test_au_estimator_reads_a_face_at_au_rate_and_repeats_its_last_aus_over_dds(start_node,
                                                                              test_node):
    """Frames 1/30 s apart, each with a new crop of single_face.mp4's face: the AUs published
    for frame i are the shipped model's on the crop of the last frame read (0, 6, 12, ...);
    a second face appearing at frame 10 is read at once; each face has this frame's box."""
    namespace = '/robot_au'
    estimator = start_node('au_estimator', namespace=namespace,
                           params={'au_rate': 5.0, **SYNTHETIC_STAMPS})
    aus_seen = collect(test_node, f'{namespace}/action_units', ActionUnitsArray)
    publisher = test_node.node.create_publisher(FaceArray, f'{namespace}/faces', 10)
    test_node.wait_for_subscribers(publisher, timeout=60)
    frames, _ = read_frames('single_face.mp4', limit=20)
    perception = FacePerception(make_detector('blazeface'), FaceTracker())
    tracked = [perception.process(frame, i / FPS) for i, frame in enumerate(frames)]
    assert all(len(faces) == 1 for faces in tracked)
    other = FacePerception(make_detector('blazeface'), FaceTracker()).process(
        read_image('multi_face.jpg'), 0.0)[0]
    other.id = tracked[0][0].id + 1000
    model = AUModel()
    expected_single = model.predict_proba(np.array([faces[0].crop for faces in tracked]))
    expected_other = model.predict_proba(other.crop[None])[0]
    for i, faces in enumerate(tracked):
        header = Header(stamp=Time(sec=50, nanosec=round(i * 1e9 / FPS)), frame_id='cam')
        faces = faces + ([other] if i >= 10 else [])
        msg = FaceArray(header=header, image_width=640, image_height=360,
                        faces=[face_msg(f, header) for f in faces])
        reply = send_until(test_node, publisher, msg, aus_seen, timeout=60)
        assert [f.face_id for f in reply.faces] == [f.id for f in faces]
        assert [f.box for f in reply.faces] == [f.box for f in msg.faces]   # this frame's boxes
        np.testing.assert_allclose(reply.faces[0].probabilities, expected_single[i - i % 6],
                                   atol=1e-4, err_msg=f'frame {i}')
        if i >= 10:
            np.testing.assert_allclose(reply.faces[1].probabilities, expected_other, atol=1e-4)
    assert estimator.alive()


def distinct_readings(output_bag, topic):
    """Per face: how many times its published AU vector changed."""
    last, changes = {}, collections.Counter()
    for *_, msg in bags.read_messages(output_bag, [topic]):
        for face in msg.faces:
            vector = tuple(face.probabilities)
            changes[face.face_id] += last.get(face.face_id) != vector
            last[face.face_id] = vector
    return changes


def test_robot_profile_answers_every_frame_and_reads_single_face_neutral_then_happy(replay):
    """`pipeline --profile robot`: every frame answered on /emotions (the fixture plays in
    lockstep and asserts none unanswered), the face's AUs read 5 times a second of the clip,
    and the clip still reads neutral at the start and happy at the end."""
    output_bag, stamps, pipeline = replay('single_face.mp4', '/robot_single', ['--profile', 'robot'])
    frames = labels_by_frame(output_bag, '/robot_single/emotions')
    assert len(frames) == len(stamps) and all(len(f) == 1 for f in frames)
    labels = [next(iter(f.values())) for f in frames]
    assert 'happy' not in labels[:12], labels
    assert labels[-24:] == ['happy'] * 24, labels
    seconds = (stamps[-1][0] - stamps[0][0]) + (stamps[-1][1] - stamps[0][1]) * 1e-9
    (readings,) = distinct_readings(output_bag, '/robot_single/action_units').values()
    assert readings <= 5 * seconds + 2 and readings < len(stamps) / 3, (readings, len(stamps))


@pytest.fixture
def robot_wolfgang(replay):
    output_bag, *_ = replay('WolfgangLanger_Pexels.mp4', '/robot_wolfgang', ['--profile', 'robot'])
    frames = labels_by_frame(output_bag, '/robot_wolfgang/emotions')
    labels = [next(iter(f.values())) for f in frames if f]
    assert len(labels) >= 0.95 * len(frames)
    return labels


def test_robot_profile_keeps_the_wolfgang_clips_first_and_last_thirds(robot_wolfgang):
    """test_replay's expectations of the clip in the robot mode: crying at the start read
    negative more than happy, the laughing last third happy."""
    third = len(robot_wolfgang) // 3
    first = collections.Counter(robot_wolfgang[:third])
    last = collections.Counter(robot_wolfgang[-third:])
    assert sum(first[label] for label in NEGATIVE) > first['happy'], first
    assert last.most_common(1)[0][0] == 'happy', last


def test_compare_profiles_plays_a_clip_with_parameters_over_a_profile(tmp_path):
    """scripts/compare_profiles.py with `default:full_detection_interval:=0.0` (the whole frame
    every frame) against the default (the face followed between whole-frame looks): both read
    single_face.mp4 neutral, then happy, and nearly every frame alike."""
    sample_path('single_face.mp4')
    scripts = Path(__file__).resolve().parents[2] / 'scripts'
    out = tmp_path / 'replay.json'
    whole_frame = 'default:full_detection_interval:=0.0'
    subprocess.run([sys.executable, str(scripts / 'compare_profiles.py'), '--clips',
                    'single_face.mp4', '--profiles', whole_frame, 'default', '--out', str(out)],
                   cwd=scripts, check=True, timeout=600, env=os.environ.copy())
    report = json.loads(out.read_text())
    assert report['profiles'] == [whole_frame, 'default']
    clip = report['clips']['single_face.mp4']
    assert clip['frames'] == 72 and clip['same_label_share'] >= 0.9, clip
    for profile in (whole_frame, 'default'):
        assert clip[profile]['unanswered'] == 0
        first, _, last = clip[profile]['thirds']
        assert first == {'neutral': 24} and last == {'happy': 24}, clip[profile]
