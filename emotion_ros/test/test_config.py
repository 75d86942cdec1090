"""The YAML files document exactly the parameters the nodes declare."""
from pathlib import Path

import pytest
import yaml

from emotion_ros import au_estimator_node, care_speaker_node, emotion_node, face_detector_node
from emotion_ros.node_support import STAGE_PARAMETERS, defaults

CONFIG = Path(__file__).resolve().parents[1] / 'config'


@pytest.mark.parametrize('node_name, module', [
    ('/**/face_detector', face_detector_node),
    ('/**/au_estimator', au_estimator_node),
    ('/**/emotion', emotion_node),
    ('/**/care_speaker', care_speaker_node),
])
def test_yaml_matches_declared_parameters(node_name, module):
    parameters = yaml.safe_load((CONFIG / 'pipeline.yaml').read_text())[node_name]['ros__parameters']
    declared = defaults(module.PARAMETERS)
    if node_name != '/**/care_speaker':
        declared.update(defaults(STAGE_PARAMETERS))
    assert flatten(parameters) == declared


def flatten(parameters: dict, prefix='') -> dict:
    """YAML's nested parameters as ROS names them: diagnostics: {period: 1} -> diagnostics.period."""
    flat = {}
    for name, value in parameters.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{name}.'))
        else:
            flat[f'{prefix}{name}'] = value
    return flat
