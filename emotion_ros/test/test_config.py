"""The YAML file documents exactly the parameters the nodes declare, each with a description."""
from pathlib import Path

import pytest
import yaml

from emotion_ros import (au_estimator_node, care_speaker_node, emotion_node, face_detector_node,
                         saliency_view_node)
from emotion_ros.node_support import STAGE_PARAMETERS

CONFIG = Path(__file__).resolve().parents[1] / 'config'
# Declared by rclpy, not by emotion_ros: the read-only QoS overrides of each topic, and the
# node's own (use_sim_time; start_type_description_service since Jazzy).
NOT_OURS = ('qos_overrides.', 'use_sim_time', 'start_type_description_service')

NODES = [
    ('/**/face_detector', face_detector_node.FaceDetectorNode),
    ('/**/au_estimator', au_estimator_node.AUEstimatorNode),
    ('/**/emotion', emotion_node.EmotionNode),
    ('/**/care_speaker', care_speaker_node.CareSpeakerNode),
    ('/**/saliency_view', saliency_view_node.SaliencyViewNode),
]


@pytest.mark.parametrize('section, node_class', NODES, ids=[s.split('/')[-1] for s, _ in NODES])
def test_yaml_matches_declared_parameters(rclpy_context, section, node_class):
    parameters = yaml.safe_load((CONFIG / 'pipeline.yaml').read_text())[section]['ros__parameters']
    node = node_class()   # declares its parameters; a stage loads nothing before configure
    try:
        names = [name for name in node.list_parameters([], 0).names if not name.startswith(NOT_OURS)]
        declared = {name: node.get_parameter(name).value for name in names}
    finally:
        node.destroy_node()
    assert flatten(parameters) == declared


@pytest.mark.parametrize('module', [au_estimator_node, care_speaker_node, emotion_node,
                                    face_detector_node, saliency_view_node])
def test_every_parameter_has_a_description(module):
    parameters = {**module.PARAMETERS, **STAGE_PARAMETERS}
    assert not [name for name, param in parameters.items() if not param.description]


def flatten(parameters: dict, prefix='') -> dict:
    """YAML's nested parameters as ROS names them: diagnostics: {period: 1} -> diagnostics.period."""
    flat = {}
    for name, value in parameters.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{name}.'))
        else:
            flat[f'{prefix}{name}'] = value
    return flat


ROBOT_FILES = sorted(path.name for path in CONFIG.glob('*.yaml') if path.name != 'pipeline.yaml')


@pytest.mark.parametrize('robot_file', ROBOT_FILES)
def test_robot_parameter_files_set_only_real_parameters_to_good_values(robot_file):
    """A robot's file (pepper.yaml, ...) overlays pipeline.yaml: each of its names must be a
    parameter of that node, of the same type, and pass the node's own check."""
    defaults = yaml.safe_load((CONFIG / 'pipeline.yaml').read_text())
    specs = {'/**/face_detector': face_detector_node.PARAMETERS,
             '/**/au_estimator': au_estimator_node.PARAMETERS,
             '/**/emotion': emotion_node.PARAMETERS,
             '/**/care_speaker': care_speaker_node.PARAMETERS}
    robot = yaml.safe_load((CONFIG / robot_file).read_text())
    assert robot and set(robot) <= set(specs)
    for section, content in robot.items():
        known = flatten(defaults[section]['ros__parameters'])
        checks = {**specs[section], **(STAGE_PARAMETERS if section != '/**/care_speaker' else {})}
        for name, value in flatten(content['ros__parameters']).items():
            assert name in known, f'{robot_file}: {section} has no parameter {name}'
            assert type(value) is type(known[name]), f'{robot_file}: {name}={value!r}'
            assert checks[name].problem(value) is None, f'{robot_file}: {name}={value!r}'
