"""The code stays Python 3.10 (ROS 2 Humble's): this checkout runs 3.11, where code
needing 3.11 (tomllib, ExceptionGroup, typing.Self, ...) would pass every other test."""
import subprocess
import sys

import pytest
from conftest import REPO


def test_code_needs_no_python_newer_than_3_10():
    pytest.importorskip('vermin', reason='vermin (pip, requirements.txt) checks the Python versions')
    paths = [REPO / 'emotion_ros' / 'emotion_ros', REPO / 'emotion_ros' / 'launch',
             REPO / 'emotion_ros' / 'test', REPO / 'emotion_ros' / 'setup.py', REPO / 'scripts']
    vermin = [sys.executable, '-c', 'import sys, vermin; sys.exit(vermin.main())']
    result = subprocess.run([*vermin, '-t=3.10-', '--no-tips', '--violations', '--eval-annotations',
                             *(str(p) for p in paths if p.exists())], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Minimum required versions: 3.' in result.stdout, result.stdout
