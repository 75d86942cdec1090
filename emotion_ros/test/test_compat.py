"""Library compatibility: the oldest supported versions (make test-compat), OpenCV
without pip's cv2.data (Debian, Ubuntu), and BlazeFace IR that old OpenVINO reads."""
import importlib
import importlib.metadata
import os
import shutil
from pathlib import Path

import cv2
import pytest
from conftest import REPO, read_image

from emotion_ros import face_detection
from emotion_ros.face_detection import BLAZEFACE_VARIANTS, MODELS_DIR, HaarFaceDetector
from emotion_ros.openvino_runtime import openvino_runtime
from emotion_ros.training.export_openvino import MAX_OPSET_2022_3, ir_version_and_opsets

MINIMUM = REPO / 'requirements-minimum.txt'
# Import names of requirements-minimum.txt's distributions.
MODULES = {'numpy': 'numpy', 'scipy': 'scipy', 'scikit-learn': 'sklearn', 'joblib': 'joblib',
           'threadpoolctl': 'threadpoolctl', 'opencv-python-headless': 'cv2',
           'openvino': 'openvino', 'ml_dtypes': 'ml_dtypes'}


@pytest.mark.skipif(os.environ.get('EMOTION_ROS_COMPAT') != '1',
                    reason='checks the libraries of make test-compat (EMOTION_ROS_COMPAT=1)')
def test_the_compat_job_runs_on_the_minimum_versions():
    """What makes the rest of the compatibility job mean something: each library of
    requirements-minimum.txt is imported from .cache/compat at its pinned version."""
    pins = dict(line.split('==') for line in MINIMUM.read_text().split('\n')
                if line and not line.startswith('#'))
    assert set(pins) == set(MODULES)
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version.strip()
        module = importlib.import_module(MODULES[name])
        assert (REPO / '.cache' / 'compat') in Path(module.__file__).parents, module.__file__
    assert openvino_runtime().get_version().startswith(pins['openvino'].strip())


def test_haar_cascade_is_found_where_debian_keeps_it(monkeypatch, tmp_path):
    """Debian's and Ubuntu's python3-opencv has no cv2.data: the cascade comes from
    /usr/share/opencv4/haarcascades (here a copy of the real file in a stand-in folder)."""
    cascade = face_detection.find_haar_cascade()
    system_dir = tmp_path / 'opencv4' / 'haarcascades'
    system_dir.mkdir(parents=True)
    shutil.copy(cascade, system_dir / cascade.name)
    monkeypatch.delattr(cv2, 'data', raising=False)
    monkeypatch.setattr(face_detection, 'SYSTEM_HAAR_DIRS', (str(tmp_path / 'absent'), str(system_dir)))
    assert face_detection.find_haar_cascade() == system_dir / cascade.name
    assert 3 <= len(HaarFaceDetector().detect(read_image('multi_face.jpg'))) <= 5
    (system_dir / cascade.name).unlink()
    with pytest.raises(FileNotFoundError, match='opencv-data') as error:
        HaarFaceDetector()
    assert str(tmp_path / 'absent') in str(error.value) and str(system_dir) in str(error.value)


def test_shipped_blazeface_ir_is_readable_by_openvino_2022_3():
    """OpenVINO IR, not the .tflite that OpenVINO <= 2023.0 cannot read, with opsets of 2022.3
    (the last release with MYRIAD): scripts/convert_mediapipe.py makes it."""
    for variant in BLAZEFACE_VARIANTS.values():
        path = MODELS_DIR / variant.filename
        assert path.suffix == '.xml' and path.with_suffix('.bin').is_file()
        version, opsets = ir_version_and_opsets(path)
        assert version == 11 and max(opsets) <= MAX_OPSET_2022_3
