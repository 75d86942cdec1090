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


def specs(**given):
    """node_specs for the launch arguments `given`, the others at their defaults."""
    launch = load_launch_module()
    args = {name: default for name, (default, _) in launch.ARGUMENTS.items()}
    return launch.node_specs({**args, 'params_file': 'my.yaml',
                              'config_dir': str(PACKAGE_DIR / 'config'), **given})


def by_executable(node_specs):
    return {spec['executable']: spec for spec in node_specs}


def test_defaults_leave_the_params_file_in_charge():
    nodes = by_executable(specs())
    assert set(nodes) == {'face_detector', 'au_estimator', 'emotion'}
    for spec in nodes.values():
        assert spec['parameters'] == ['my.yaml', {'use_sim_time': False}]
        assert spec['ros_arguments'] == ['--log-level', 'info'] and spec['respawn'] is False
    # Either input the params file chooses is remapped (here: onto itself).
    assert nodes['face_detector']['remappings'] == [('image', 'image'),
                                                    ('image/compressed', 'image/compressed')]


def test_arguments_reach_every_node():
    nodes = by_executable(specs(image='/camera/image_raw/', compressed='true', use_sim_time='true',
                                log_level='debug', respawn='true', respawn_delay='5',
                                namespace='robot', behaviour='true', au_device='NPU'))
    assert set(nodes) == {'face_detector', 'au_estimator', 'emotion', 'care_speaker'}
    for spec in nodes.values():
        assert spec['parameters'][1]['use_sim_time'] is True
        assert spec['ros_arguments'] == ['--log-level', 'debug']
        assert spec['respawn'] is True and spec['respawn_delay'] == 5.0
        assert spec['namespace'] == 'robot'
    assert nodes['face_detector']['parameters'][1]['input_compressed'] is True
    assert ('image/compressed', '/camera/image_raw/compressed') in nodes['face_detector']['remappings']
    assert nodes['au_estimator']['parameters'][1] == {'use_sim_time': True, 'device': 'NPU'}
    assert specs(compressed='false')[0]['parameters'][1]['input_compressed'] is False


def test_composed_runs_the_pipeline_executable_with_the_same_settings():
    (spec,) = specs(composed='true', compressed='true', behaviour='true', au_backend='tensorflow',
                    use_sim_time='true', image='/cam')
    assert spec['executable'] == 'pipeline' and 'name' not in spec
    assert spec['arguments'] == ['--behaviour', '--au-backend', 'tensorflow']
    assert spec['parameters'] == ['my.yaml', {'use_sim_time': True, 'input_compressed': True}]
    assert spec['remappings'] == [('image', '/cam'), ('image/compressed', '/cam/compressed')]


def test_saliency_view_runs_in_its_own_process_in_either_mode():
    """saliency_view:=true adds the debug node, never inside the composed runner."""
    for composed in ('false', 'true'):
        started = specs(composed=composed, saliency_view='true', use_sim_time='true')
        assert started[-1]['executable'] == 'saliency_view', started
        assert started[-1]['parameters'] == ['my.yaml', {'use_sim_time': True}]
        assert [s['executable'] for s in specs(composed=composed)].count('saliency_view') == 0
    assert [s['executable'] for s in specs(composed='true', saliency_view='true')] == \
        ['pipeline', 'saliency_view']


def test_profile_adds_its_file_over_the_params_file_in_every_process():
    """profile:=robot: config/robot.yaml after params_file (so it wins) for each node, and for
    the composed runner; a profile the package lacks is refused."""
    robot = str(PACKAGE_DIR / 'config' / 'robot.yaml')
    for spec in specs(profile='robot', behaviour='true'):
        assert spec['parameters'][:2] == ['my.yaml', robot], spec
    (spec,) = specs(profile='robot', composed='true')
    assert spec['parameters'][:2] == ['my.yaml', robot] and '--profile' not in spec['arguments']
    with pytest.raises(ValueError, match='not installed'):
        specs(profile='spaceship')


def test_launch_description_builds_where_launch_ros_is_installed():
    pytest.importorskip('launch_ros', reason='launch_ros is not on PyPI; runs on ROS installs')
    from launch import LaunchContext
    from launch_ros.actions import Node

    launch = load_launch_module()
    description = launch.generate_launch_description()
    arguments = {entity.name for entity in description.entities if hasattr(entity, 'default_value')}
    assert arguments == set(launch.ARGUMENTS) | {'params_file'}
    context = LaunchContext()
    for entity in description.entities:
        if hasattr(entity, 'default_value'):
            context.launch_configurations[entity.name] = ''.join(
                context.perform_substitution(part) for part in entity.default_value)
    context.launch_configurations['composed'] = 'true'
    (node,) = launch._nodes(context)
    assert isinstance(node, Node) and node.node_executable == 'pipeline'
