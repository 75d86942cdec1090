"""hri_publisher over DDS: a ROS4HRI consumer that knows only hri_msgs, sensor_msgs and rclpy
gets the faces of a replayed clip (the composed pipeline with --hri, in its own process); and
without hri_msgs the node and the --hri option fail with one clear line."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SYNTHETIC_STAMPS, NodeProcess, installed_executable, requires_shared, \
    sample_path

from emotion_ros import bags
from emotion_ros.bag_tools import BagPlayer, collect_answers, stamp_key
from emotion_ros.hri_mapping import expression_of

NO_HRI_MSGS = ('hri_msgs is not installed: install ros-<distro>-hri-msgs, or for development '
               '../shared/vendor/ros2/install.sh (make test does)')
needs_hri_msgs = pytest.mark.skipif(importlib.util.find_spec('hri_msgs') is None,
                                    reason=NO_HRI_MSGS)


class Ros4HriConsumer:
    """What a ROS4HRI robot does (as pyhri does): follow /humans/faces/tracked and subscribe
    each face's topics when its id appears."""

    def __init__(self, node):
        from hri_msgs.msg import Expression, FacialActionUnits, IdsList, \
            NormalizedRegionOfInterest2D
        from sensor_msgs.msg import Image
        self.node = node
        self.types = {'roi': NormalizedRegionOfInterest2D, 'expression': Expression,
                      'facs': FacialActionUnits, 'aligned': Image}
        self.tracked = []                     # ids of each IdsList, in order
        self.received = {}                    # face id -> {topic: [messages]}
        node.create_subscription(IdsList, '/humans/faces/tracked', self.on_tracked, 100)

    def on_tracked(self, msg):
        self.tracked.append(list(msg.ids))
        for face in msg.ids:
            if face not in self.received:
                self.received[face] = {topic: [] for topic in self.types}
                for topic, msg_type in self.types.items():
                    self.node.create_subscription(
                        msg_type, f'/humans/faces/{face}/{topic}',
                        self.received[face][topic].append, 100)

    def connected(self) -> bool:
        """Every face tracked now has its topics' publishers matched."""
        return all(self.node.count_publishers(f'/humans/faces/{face}/{topic}') > 0
                   for face in (self.tracked or [[]])[-1] for topic in self.types)


@needs_hri_msgs
@requires_shared
def test_consumer_gets_every_face_and_sees_it_leave(start_node, test_node, tmp_path):
    """face_noface.mov: a face, then a cartoon title without one."""
    namespace = '/hri_replay'
    input_bag = tmp_path / 'input'
    frames = bags.video_to_bag(sample_path('face_noface.mov'), input_bag,
                               f'{namespace}/camera/image_raw')
    pipeline = start_node('pipeline', namespace=namespace, args=['--hri'],
                          params=SYNTHETIC_STAMPS, remap={'image': f'{namespace}/camera/image_raw'})
    consumer = Ros4HriConsumer(test_node.node)
    answers = collect_answers(test_node.node, f'{namespace}/emotions')
    player = BagPlayer(test_node.node, input_bag)
    assert player.wait_for_subscribers(test_node.executor, 60), pipeline.log()
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers('/humans/faces/tracked') > 0, 60), pipeline.log()

    def connect(*_):   # a new face's topics are matched before the next frame is played
        test_node.spin_until(consumer.connected, 5.0)

    unanswered = player.play_lockstep(test_node.executor, answers, on_message=connect)
    test_node.spin_until(lambda: False, 1.0)
    assert unanswered == 0, pipeline.log()

    assert len(consumer.tracked) >= 0.9 * frames, (len(consumer.tracked), frames)
    faces = list(consumer.received)
    assert faces and all(f[0] == 'f' and f[1:].isdigit() for f in faces), faces
    labels = {(stamp, f'f{face.face_id}'): face.label
              for stamp, msg in answers.items() for face in msg.faces}
    for face, topics in consumer.received.items():
        # Each of its topics got messages while the face was tracked.
        assert all(topics.values()), {t: len(m) for t, m in topics.items()}
        for roi in topics['roi']:
            assert 0.0 <= roi.xmin < roi.xmax <= 1.0 and 0.0 <= roi.ymin < roi.ymax <= 1.0
            assert 0.0 < roi.c <= 1.0
        for expression in topics['expression']:
            assert expression.expression == expression_of(
                labels[(stamp_key(expression.header.stamp), face)])
            assert -1.0 <= expression.valence <= 1.0 and -1.0 <= expression.arousal <= 1.0
            assert 0.0 < expression.confidence <= 1.0
        for facs in topics['facs']:
            assert len(facs.intensity) == len(facs.confidence) == 99
            assert sum(c > 0 for c in facs.confidence) >= 5     # the model's AUs, known
            assert all(0.0 <= v <= 1.0 for v in [*facs.intensity, *facs.confidence])
        crop = topics['aligned'][-1]
        assert crop.width == crop.height > 0 and crop.encoding == 'mono8'
    # The face was there at the start, and its id left `tracked` when it left the picture.
    assert consumer.tracked[0] and consumer.tracked[-1] == [], consumer.tracked
    assert all(ids == [] for ids in consumer.tracked[len(consumer.tracked) // 2:])
    # Its topics went with it.
    assert test_node.spin_until(lambda: not any(
        test_node.node.count_publishers(f'/humans/faces/{face}/roi') for face in faces), 10.0)
    assert 'face f' in pipeline.log() and ' left' in pipeline.log(), pipeline.log()
    assert 'Traceback' not in pipeline.log()


@needs_hri_msgs
def test_standalone_node_skips_bad_input_and_empties_tracked_when_stopped(start_node, test_node):
    """hri_publisher on its own, fed faces by hand: a face in a message with no image size
    gets no ROI but an error line (no crash); on SIGINT `tracked` becomes empty."""
    from emotion_ros_msgs.msg import Face, FaceArray
    namespace = '/hri_alone'
    node = start_node('hri_publisher', namespace=namespace)
    consumer = Ros4HriConsumer(test_node.node)
    faces_pub = test_node.node.create_publisher(FaceArray, f'{namespace}/faces', 10)
    test_node.wait_for_subscribers(faces_pub, timeout=30)
    face = Face(id=7, confidence=0.9)
    face.box.x, face.box.y, face.box.width, face.box.height = 160.0, 90.0, 320.0, 180.0
    faces_pub.publish(FaceArray(image_width=0, image_height=0, faces=[face]))
    def roi_received():   # sent again until the consumer has found the face's topics
        faces_pub.publish(FaceArray(image_width=640, image_height=360, faces=[face]))
        return test_node.spin_until(lambda: consumer.received.get('f7', {}).get('roi'), 0.2)

    assert test_node.spin_until(roi_received, 10), node.log()
    roi = consumer.received['f7']['roi'][-1]
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == (0.25, 0.25, 0.75, 0.75)
    assert ['f7'] in consumer.tracked
    node.stop()
    assert node.process.returncode == 0, node.log()
    assert test_node.spin_until(lambda: consumer.tracked[-1] == [], 5), consumer.tracked
    assert 'image size 0x0 is not positive' in node.log() and 'Traceback' not in node.log()


HIDE_HRI_MSGS = ("import runpy, sys; sys.modules['hri_msgs'] = None; "
                 "sys.argv = [sys.argv[1], *sys.argv[2:]]; "
                 "runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.mark.parametrize('executable, args', [('hri_publisher', []), ('pipeline', ['--hri'])])
def test_without_hri_msgs_it_fails_with_one_clear_line(executable, args):
    """The installed entry point with hri_msgs hidden, as on a robot without the package."""
    result = subprocess.run([sys.executable, '-c', HIDE_HRI_MSGS, installed_executable(executable),
                             *args], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1, lines
    assert len(lines) == 1 and 'hri-msgs' in lines[0] and 'hri_msgs is not installed' in lines[0], lines
    assert lines[0].startswith(f'[ERROR] [{executable}]')


def test_the_package_runs_without_hri_msgs():
    """Only the ROS4HRI option needs hri_msgs: the composed runner starts without it."""
    result = subprocess.run([sys.executable, '-c', HIDE_HRI_MSGS, installed_executable('pipeline'),
                             '--help'], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and '--hri' in result.stdout, result.stderr


def launch_specs(**given):
    """pipeline.launch.py's node_specs for the arguments `given` (plain data, no launch)."""
    path = Path(__file__).resolve().parents[1] / 'launch' / 'pipeline.launch.py'
    spec = importlib.util.spec_from_file_location('pipeline_launch', path)
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    args = {name: default for name, (default, _) in launch.ARGUMENTS.items()}
    return launch.node_specs({**args, 'params_file': 'my.yaml', **given})


def test_launch_argument_hri_adds_the_node_or_the_runner_option():
    assert 'hri_publisher' not in {s['executable'] for s in launch_specs()}
    nodes = {s['executable']: s for s in launch_specs(hri='true', namespace='robot')}
    assert set(nodes) == {'face_detector', 'au_estimator', 'emotion', 'hri_publisher'}
    assert nodes['hri_publisher']['namespace'] == 'robot'
    [composed] = launch_specs(hri='true', composed='true', behaviour='true')
    assert composed['arguments'] == ['--behaviour', '--hri']


@needs_hri_msgs
@pytest.mark.skipif(importlib.util.find_spec('launch_ros') is None or shutil.which('ros2') is None,
                    reason='`ros2 launch` needs launch_ros and the ros2 command (a ROS install, '
                    'or ../shared/vendor/ros2/install.sh)')
def test_ros2_launch_hri_true_starts_hri_publisher(test_node, tmp_path):
    """The real `ros2 launch`: hri_publisher in the namespace, publishing /humans/faces/tracked;
    SIGINT ends it with the rest."""
    launched = NodeProcess(['ros2', 'launch', 'emotion_ros', 'pipeline.launch.py', 'hri:=true',
                            'namespace:=hri_launch'], tmp_path / 'launch.log')
    try:
        assert test_node.spin_until(lambda: ('hri_publisher', '/hri_launch') in
                                    test_node.node.get_node_names_and_namespaces(), 60), \
            launched.log()
        assert test_node.spin_until(
            lambda: test_node.node.count_publishers('/humans/faces/tracked') > 0, 30), launched.log()
        # The stages active too (each subscribes its input then), so SIGINT finds them up.
        inputs = {'/hri_launch/image': 1, '/hri_launch/faces': 2, '/hri_launch/action_units': 2,
                  '/hri_launch/emotions': 1}
        assert test_node.spin_until(lambda: all(
            test_node.node.count_subscribers(topic) >= count for topic, count in inputs.items()),
            90), launched.log()
    finally:
        launched.stop(timeout=20)
    assert test_node.spin_until(
        lambda: test_node.node.count_publishers('/humans/faces/tracked') == 0, 10), launched.log()
    assert 'Traceback' not in launched.log(), launched.log()
