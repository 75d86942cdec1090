"""pipeline.launch.py names only executables setup.py installs and files the package has.

`launch` is not on PyPI, so the file keeps what it starts and reads in plain
constants; where launch_ros is importable the description is built too.
"""
import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]
LAUNCH_FILE = PACKAGE_DIR / 'launch' / 'pipeline.launch.py'


def load_launch_module():
    spec = importlib.util.spec_from_file_location('pipeline_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def console_scripts() -> set[str]:
    """Names of setup.py's console_scripts, read from its AST (setup() is not run)."""
    tree = ast.parse((PACKAGE_DIR / 'setup.py').read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ' = emotion_ros.' in node.value:
            names.add(node.value.split('=')[0].strip())
    return names


def test_launch_names_installed_executables_and_existing_files():
    launch = load_launch_module()
    assert launch.PACKAGE == 'emotion_ros'
    assert set(launch.EXECUTABLES) <= console_scripts()
    assert (PACKAGE_DIR / launch.CONFIG_FILE).is_file()
    source = LAUNCH_FILE.read_text()
    started = {keyword.value.value for keyword in ast.walk(ast.parse(source))
               if isinstance(keyword, ast.keyword) and keyword.arg == 'executable'
               and isinstance(keyword.value, ast.Constant)}
    assert started == set(launch.EXECUTABLES)


def test_launch_description_builds_where_launch_ros_is_installed():
    pytest.importorskip('launch_ros', reason='launch_ros is not on PyPI; runs on ROS installs')
    description = load_launch_module().generate_launch_description()
    arguments = {entity.name for entity in description.entities if hasattr(entity, 'default_value')}
    assert {'image', 'compressed', 'au_backend', 'au_device', 'namespace', 'behaviour'} <= arguments
