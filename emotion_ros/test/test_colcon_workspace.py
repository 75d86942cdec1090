"""A standard colcon workspace whose src/ holds a clone of this repo builds both packages,
and its `colcon test` passes without the research data of ../shared."""
import ast
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import REPO

VENV = Path(sys.prefix)
# Modules with tests that need ../shared, the sample clips, both, or neither, and a `slow` mark.
COLCON_TEST_MODULES = ('test/test_training_data.py', 'test/test_training_smoke.py',
                       'test/test_face_detection.py')


def test_every_test_that_names_the_shared_data_skips_without_it():
    """Tests whose body names SHARED_DATA carry requires_shared (or their module does); the
    others reach ../shared through load_shared or the typical_vectors fixture, which skip."""
    unmarked = []
    for path in sorted(Path(__file__).parent.glob('test_*.py')):
        tree = ast.parse(path.read_text())
        module_marked = any(isinstance(node, ast.Assign) and 'pytestmark' in ast.unparse(node)
                            and 'requires_shared' in ast.unparse(node) for node in tree.body)
        for node in tree.body:
            if (isinstance(node, ast.FunctionDef) and node.name.startswith('test_')
                    and 'SHARED_DATA' in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                    and not module_marked
                    and not any('requires_shared' in ast.unparse(d) for d in node.decorator_list)):
                unmarked.append(f'{path.name}::{node.name}')
    assert unmarked == []


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """The workspace built, and the environment to run colcon in: the ROS 2 wheels as underlay,
    nothing of this checkout's own install, sample clips or research data."""
    colcon = VENV / 'bin' / 'colcon'
    if not colcon.is_file():
        pytest.fail('colcon missing from the environment: run scripts/setup.sh')
    if not (REPO / '.git').exists():
        pytest.skip(f'{REPO} is not a git checkout: this test copies one into a new workspace')
    ws = tmp_path_factory.mktemp('ws')
    source = ws / 'src' / 'emotion_ros'
    # The working tree as it is (tracked and new files), as a clone would hold it.
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    env = {name: value for name, value in os.environ.items()
           if name not in ('PYTHONPATH', 'EMOTION_ROS_SAMPLES', 'COLCON_PREFIX_PATH')}
    env.update(AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV),
               PATH=f"{VENV / 'bin'}:{os.environ['PATH']}",
               EMOTION_ROS_SHARED=str(ws / 'no_shared'))
    build = subprocess.run(
        [str(colcon), 'build', '--event-handlers', 'console_cohesion+',
         '--cmake-args', f'-DPython3_EXECUTABLE={VENV / "bin" / "python"}', '-DBUILD_TESTING=OFF'],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    assert '2 packages finished' in build.stdout
    return ws, env


@pytest.mark.slow
def test_colcon_build_in_a_fresh_workspace(workspace):
    ws, env = workspace
    install = ws / 'install'
    # `ros2 run emotion_ros face_detector` looks for lib/emotion_ros/face_detector.
    assert (install / 'emotion_ros' / 'lib' / 'emotion_ros' / 'face_detector').is_file()
    assert (install / 'emotion_ros' / 'share' / 'emotion_ros' / 'config' / 'pipeline.yaml').is_file()
    # Every model file (weights, model cards, licences) is installed with the code.
    models = ws / 'src' / 'emotion_ros' / 'emotion_ros' / 'emotion_ros' / 'models'
    installed = next((install / 'emotion_ros' / 'lib').glob('python3*/site-packages/emotion_ros/models'))
    assert ({path.relative_to(installed) for path in installed.rglob('*') if path.is_file()}
            >= {path.relative_to(models) for path in models.rglob('*') if path.is_file()})
    # The built messages import from the new install alone.
    check = subprocess.run(
        ['bash', '-c', f'. {install}/setup.bash && python -c "from emotion_ros_msgs.msg import EmotionArray; '
         'import emotion_ros.face_detection as m; print(m.__file__)"'],
        env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert str(install) in check.stdout


@pytest.mark.slow
def test_colcon_test_skips_what_needs_data_the_workspace_lacks(workspace):
    """A few modules, not all: the whole suite takes minutes (README: its run by hand)."""
    ws, env = workspace
    run = subprocess.run(
        [str(VENV / 'bin' / 'colcon'), 'test', '--packages-select', 'emotion_ros',
         '--event-handlers', 'console_direct+', '--pytest-args', *COLCON_TEST_MODULES],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    # emotion_ros/pytest.ini was read: its -ra summary, and the `slow` mark is known.
    assert 'short test summary info' in output and 'PytestUnknownMarkWarning' not in output
    suite = ET.parse(ws / 'build' / 'emotion_ros' / 'pytest.xml').getroot().find('testsuite')
    assert int(suite.get('failures')) == 0 and int(suite.get('errors')) == 0
    skipped = [case.find('skipped').get('message') for case in suite.iter('testcase')
               if case.find('skipped') is not None]
    passed = int(suite.get('tests')) - len(skipped)
    assert passed >= 3, output[-6000:]
    no_shared = [reason for reason in skipped if 'no_shared/data absent' in reason]
    no_samples = [reason for reason in skipped if 'sample clips' in reason]
    assert len(no_shared) >= 7 and len(no_samples) >= 3
    assert len(no_shared) + len(no_samples) == len(skipped), skipped
