"""The YAML files document exactly the parameters the nodes declare."""
from pathlib import Path

import pytest
import yaml

from emotion_ros import au_estimator_node, care_speaker_node, emotion_node, face_detector_node

CONFIG = Path(__file__).resolve().parents[1] / 'config'


@pytest.mark.parametrize('file, node_name, module', [
    ('face_detector.yaml', '/**/face_detector', face_detector_node),
    ('au_estimator.yaml', '/**/au_estimator', au_estimator_node),
    ('emotion.yaml', '/**/emotion', emotion_node),
    ('care_speaker.yaml', '/**/care_speaker', care_speaker_node),
])
def test_yaml_matches_declared_parameters(file, node_name, module):
    parameters = yaml.safe_load((CONFIG / file).read_text())[node_name]['ros__parameters']
    assert parameters == module.PARAMETERS
