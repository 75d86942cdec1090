"""A standard colcon workspace whose src/ holds a clone of this repo builds both packages."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


@pytest.mark.slow
def test_colcon_build_in_a_fresh_workspace(tmp_path):
    venv = Path(sys.prefix)
    colcon = venv / 'bin' / 'colcon'
    if not colcon.is_file():
        pytest.fail('colcon missing from the environment: run scripts/setup.sh')
    source = tmp_path / 'ws' / 'src' / 'emotion_ros'
    # The working tree as it is (tracked and new files), as a clone would hold it.
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv), CMAKE_PREFIX_PATH=str(venv),
               PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    build = subprocess.run(
        [str(colcon), 'build', '--event-handlers', 'console_cohesion+',
         '--cmake-args', f'-DPython3_EXECUTABLE={venv / "bin" / "python"}', '-DBUILD_TESTING=OFF'],
        cwd=tmp_path / 'ws', env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    assert '2 packages finished' in build.stdout
    install = tmp_path / 'ws' / 'install'
    # `ros2 run emotion_ros face_detector` looks for lib/emotion_ros/face_detector.
    assert (install / 'emotion_ros' / 'lib' / 'emotion_ros' / 'face_detector').is_file()
    assert (install / 'emotion_ros' / 'share' / 'emotion_ros' / 'config' / 'pipeline.yaml').is_file()
    models = list((install / 'emotion_ros' / 'lib').glob('python3*/site-packages/emotion_ros/models/*.tflite'))
    assert len(models) == 2
    # The built messages import from the new install alone.
    check = subprocess.run(
        ['bash', '-c', f'. {install}/setup.bash && python -c "from emotion_ros_msgs.msg import EmotionArray; '
         'import emotion_ros.face_detection as m; print(m.__file__)"'],
        env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert str(install) in check.stdout
