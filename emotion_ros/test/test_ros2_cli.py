"""`ros2 launch emotion_ros pipeline.launch.py` and the `ros2` command line, for real over DDS.

What a user types: the launch file with its arguments, a bag of a sample clip
played into it (`bag_tools play --restamp`, as a live camera stamps), and
`ros2 node list` / `ros2 param get` / `ros2 lifecycle` to look at and drive
the nodes it started; then SIGINT must end every node process without a
traceback: Ctrl-C on `ros2 launch` (its process group: each node gets SIGINT
twice, from the terminal and from launch), SIGINT to `ros2 launch` alone (it
passes it on to each node), and Ctrl-C on `ros2 run` (which passes nothing on).
`launch`, `launch_ros` and `ros2` have no PyPI wheels: they come from a ROS
install or from ../shared/vendor/ros2 (scripts/ros2_tools_env.sh, which
`make test` sources); without them this module skips.
"""
import importlib.util
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import NodeProcess, sample_path

from emotion_ros import bags

NO_ROS2_CLI = ('`ros2 launch` needs launch_ros and the ros2 command: on a ROS install source its '
               'setup, else source scripts/ros2_tools_env.sh with ../shared/vendor/ros2 beside '
               'the checkout (make test does)')
# slow: each launch takes seconds to start, the module ~1.5 minutes in all.
pytestmark = [pytest.mark.skipif(
    importlib.util.find_spec('launch_ros') is None or shutil.which('ros2') is None,
    reason=NO_ROS2_CLI), pytest.mark.slow]

SHIPPED_PARAMS = Path(__file__).resolve().parents[1] / 'config' / 'pipeline.yaml'
STAGES = ('face_detector', 'au_estimator', 'emotion')


def ros2(*words, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """One `ros2` command; queries of the graph neither start nor use the ros2 daemon (it
    would outlive the test) and spin 1 s for discovery."""
    command = ['ros2', *words]
    if words[0] in ('node', 'param', 'lifecycle', 'topic'):
        command[3:3] = ['--no-daemon', '--spin-time', '1']
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def ros2_until(*words, expect, timeout: float = 30.0, log=None) -> str:
    """stdout of the `ros2` command once expect(stdout) holds: right after start-up discovery
    can miss a node or its services, so the command is retried. log: a callable whose text
    (the launch's log) the failure shows."""
    deadline = time.monotonic() + timeout
    while True:
        result = ros2(*words)
        if result.returncode == 0 and expect(result.stdout):
            return result.stdout
        if time.monotonic() > deadline:
            pytest.fail(f'`ros2 {" ".join(words)}` after {timeout} s: rc {result.returncode}\n'
                        f'{result.stdout}{result.stderr}' + (f'\n{log()}' if log else ''))
        time.sleep(0.5)


def param(node: str, name: str) -> str:
    """The value `ros2 param get` prints, e.g. 'openvino' for 'String value is: openvino'."""
    out = ros2_until('param', 'get', node, name, expect=lambda out: 'value is:' in out)
    return out.split('value is:', 1)[1].strip()


def lifecycle_set(node: str, transition: str):
    """`ros2 lifecycle set`, again while it does not find the node yet (discovery)."""
    deadline = time.monotonic() + 20
    while True:
        result = ros2('lifecycle', 'set', node, transition)
        if 'Node not found' not in result.stderr or time.monotonic() > deadline:
            break
    assert result.returncode == 0 and 'Transitioning successful' in result.stdout, result


def node_list(expected: set[str], started: NodeProcess | None = None) -> set[str]:
    """The names `ros2 node list` prints once it lists every one of `expected`. started: the
    launch that starts them; its first listing may wait for 4 processes starting at once on a
    loaded machine (60 s), and a failure shows its log."""
    out = ros2_until('node', 'list', expect=lambda out: expected <= set(out.split()),
                     timeout=60.0 if started else 30.0, log=started.log if started else None)
    return set(out.split())


def subscriptions(test_node, name: str, namespace: str) -> dict:
    """{topic: [types]} a node subscribes, from the test node's view of the graph."""
    found = {}

    def query():
        try:
            found.update(test_node.node.get_subscriber_names_and_types_by_node(name, namespace))
        except Exception:  # not discovered yet: NodeNameNonExistentError
            return False
        return bool(found)
    assert test_node.spin_until(query, 20), f'{namespace}/{name} not discovered'
    return {topic: list(types) for topic, types in found.items()}


def session_processes(leader: int) -> list:
    """The processes of `leader`'s session but itself: the nodes `ros2 launch` / `ros2 run`
    started (they stay in the session started with start_new_session)."""
    import psutil
    members = []
    for process in psutil.process_iter():
        try:
            if process.pid != leader and os.getsid(process.pid) == leader:
                members.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return members


def assert_ends_cleanly_on_sigint(started: NodeProcess, nodes: int, group: bool):
    """SIGINT to the process group (Ctrl-C in a terminal: what `ros2 run` expects) or to the
    leader alone (`kill -INT`: `ros2 launch` passes it on to each node): every child gone, exit
    0, no traceback."""
    import psutil
    children = session_processes(started.process.pid)
    assert started.alive() and len(children) >= nodes, started.log()
    if group:
        started.stop(timeout=20)
    else:
        os.kill(started.process.pid, signal.SIGINT)
        try:
            started.process.wait(20)
        finally:
            started.stop()
    _, alive = psutil.wait_procs(children, timeout=5)
    log = started.log()
    assert not alive, f'left running after SIGINT: {[p.pid for p in alive]}\n{log}'
    assert started.process.returncode == 0, log
    assert 'Traceback' not in log, log


def launch(tmp_path: Path, *arguments: str) -> NodeProcess:
    return NodeProcess(['ros2', 'launch', 'emotion_ros', 'pipeline.launch.py', *arguments],
                       tmp_path / 'launch.log')


@pytest.fixture(scope='module')
def robot(tmp_path_factory):
    """The launch file with namespace, behaviour, image, the AU model's backend and device,
    the user's own params_file (which asks for tensorflow: the arguments win) and the robot
    profile over it."""
    tmp_path = tmp_path_factory.mktemp('launch')
    config = yaml.safe_load(SHIPPED_PARAMS.read_text())
    config['/**/au_estimator']['ros__parameters']['backend'] = 'tensorflow'
    config['/**/emotion']['ros__parameters']['half_life'] = 0.75
    config['/**/care_speaker']['ros__parameters']['min_interval'] = 12.5
    own_yaml = tmp_path / 'robot.yaml'
    own_yaml.write_text(yaml.safe_dump(config))
    started = launch(tmp_path, 'namespace:=cli', 'behaviour:=true', 'image:=/cli/camera/image_raw',
                     'au_backend:=openvino', 'au_device:=AUTO', f'params_file:={own_yaml}',
                     'profile:=robot')
    yield started
    started.stop(timeout=20)


def test_namespace_behaviour_and_params_file(robot):
    nodes = {f'/cli/{name}' for name in (*STAGES, 'care_speaker')}
    assert {n for n in node_list(nodes, robot) if n.startswith('/cli/')} == nodes
    assert param('/cli/emotion', 'half_life') == '0.75'
    assert param('/cli/care_speaker', 'min_interval') == '12.5'
    assert param('/cli/au_estimator', 'au_rate') == '5.0'         # config/robot.yaml


def test_au_backend_and_device_override_the_params_file(robot):
    assert param('/cli/au_estimator', 'backend') == 'openvino'
    assert param('/cli/au_estimator', 'device') == 'AUTO'


def test_image_argument_is_the_detectors_raw_input(robot, test_node):
    topics = subscriptions(test_node, 'face_detector', '/cli')
    assert topics.get('/cli/camera/image_raw') == ['sensor_msgs/msg/Image'], topics
    assert param('/cli/face_detector', 'input_compressed') == 'False'


def play(start_node, tmp_path, repeat: int = 1):
    bag = tmp_path / 'single_face'
    bags.video_to_bag(sample_path('single_face.mp4'), bag, '/cli/camera/image_raw')
    return start_node('bag_tools', args=['play', str(bag), '--restamp', '--repeat', str(repeat)])


def test_a_bag_played_into_the_launch_gives_emotions_of_its_face(robot, start_node, test_node,
                                                                  tmp_path):
    from emotion_ros_msgs.msg import EmotionArray
    emotions = []
    test_node.node.create_subscription(EmotionArray, '/cli/emotions', emotions.append, 100)
    node_list({f'/cli/{name}' for name in STAGES})
    player = play(start_node, tmp_path)
    assert test_node.spin_until(lambda: not player.alive(), 60), player.log()
    assert player.process.returncode == 0, player.log()
    test_node.spin_until(lambda: False, 1.0)
    with_face = [m for m in emotions if m.faces]
    # 72 frames at 30 fps; a loaded machine may drop some as older than max_frame_age.
    assert len(with_face) >= 20, (len(emotions), robot.log())
    for message in with_face:
        (face,) = message.faces
        assert face.label in face.labels and message.image_width == 640


def test_lifecycle_set_deactivates_and_reactivates_the_detector(robot, start_node, test_node,
                                                                tmp_path):
    from emotion_ros_msgs.msg import FaceArray
    faces = []
    test_node.node.create_subscription(FaceArray, '/cli/faces', faces.append, 100)
    state = ('lifecycle', 'get', '/cli/face_detector')
    ros2_until(*state, expect=lambda out: out.startswith('active'))
    player = play(start_node, tmp_path, repeat=25)  # 60 s, stopped at the end
    assert test_node.spin_until(lambda: len(faces) >= 5, 30), player.log()

    lifecycle_set('/cli/face_detector', 'deactivate')
    ros2_until(*state, expect=lambda out: out.startswith('inactive'))
    test_node.spin_until(lambda: False, 0.5)
    while_inactive = len(faces)
    test_node.spin_until(lambda: False, 1.5)
    assert len(faces) == while_inactive, 'the inactive detector still publishes /faces'

    lifecycle_set('/cli/face_detector', 'activate')
    ros2_until(*state, expect=lambda out: out.startswith('active'))
    assert test_node.spin_until(lambda: len(faces) >= while_inactive + 5, 10), robot.log()


def test_launch_ends_cleanly_on_ctrl_c(robot):
    node_list({f'/cli/{name}' for name in STAGES})
    assert_ends_cleanly_on_sigint(robot, nodes=4, group=True)
    log = robot.log()
    for name in (*STAGES, 'care_speaker'):
        assert f'[INFO] [{name}-' in log and 'process has finished cleanly' in log, log
    assert 'process has died' not in log, log


def test_compressed_without_namespace_or_behaviour(tmp_path, test_node):
    """Defaults elsewhere: no namespace, no care_speaker, the shipped params file."""
    started = launch(tmp_path, 'compressed:=true', 'image:=/cli_cam/image_raw')
    try:
        nodes = node_list({f'/{name}' for name in STAGES}, started)
        assert '/care_speaker' not in nodes
        topics = subscriptions(test_node, 'face_detector', '/')
        assert topics.get('/cli_cam/image_raw/compressed') == ['sensor_msgs/msg/CompressedImage']
        assert '/cli_cam/image_raw' not in topics, topics
        assert param('/face_detector', 'input_compressed') == 'True'
        assert param('/au_estimator', 'backend') == 'openvino'  # the shipped params file's
        assert_ends_cleanly_on_sigint(started, nodes=3, group=False)
    finally:
        started.stop()


def test_ros2_run_pipeline_ends_cleanly_on_sigint(tmp_path):
    started = NodeProcess(['ros2', 'run', 'emotion_ros', 'pipeline', '--profile', 'robot',
                           '--ros-args', '-r', '__ns:=/cli_run'], tmp_path / 'run.log')
    try:
        node_list({f'/cli_run/{name}' for name in STAGES}, started)
        assert param('/cli_run/au_estimator', 'au_rate') == '5.0'    # --profile robot
        assert_ends_cleanly_on_sigint(started, nodes=1, group=True)
    finally:
        started.stop()
