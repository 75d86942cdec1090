"""The OpenVINO backend: the shipped IR against TensorFlow on real faces, and clear device failures."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, requires_shared

from emotion_ros.au_model import SHIPPED_MODEL_DIR, AUModel, OpenVINOBackend
from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from emotion_ros.training.data import load_ckplus, load_fer2013
from emotion_ros.training.export_openvino import MAX_OPSET_2022_3, ir_version_and_opsets

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'


@pytest.fixture(scope='module')
def publictest_vectors():
    """AU vectors of all FER2013 PublicTest faces and 200 CK+ faces, TensorFlow as the reference."""
    faces = np.concatenate([load_fer2013(SHARED_DATA, 'PublicTest')[0],
                            load_ckplus(SHARED_DATA)['images'][::4][:200]])
    return faces, AUModel(max_batch=256).predict_proba(faces)


@pytest.mark.parametrize('weights, tolerance', [('fp32', 1e-3), ('fp16', 1e-2)])
@requires_shared
def test_ir_matches_tensorflow_on_real_faces(publictest_vectors, weights, tolerance):
    faces, reference = publictest_vectors
    vectors = AUModel(backend='openvino', max_batch=256, weights=weights).predict_proba(faces)
    assert np.abs(vectors - reference).max() <= tolerance
    classifier = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
    fer = slice(0, len(faces) - 200)
    same = classifier.predict(vectors[fer]) == classifier.predict(reference[fer])
    assert same.mean() >= 0.99, same.mean()


def test_shipped_ir_is_readable_by_openvino_2022_3():
    for name in ('au_model.xml', 'au_model_fp16.xml'):
        version, opsets = ir_version_and_opsets(SHIPPED_MODEL_DIR / name)
        assert version == 11 and max(opsets) <= MAX_OPSET_2022_3


def test_static_batch_devices_pad_and_missing_devices_say_what_to_do():
    assert OpenVINOBackend.device_problem('CPU', ['CPU'], '2026.4.1') == ''
    assert OpenVINOBackend.device_problem('GPU', ['CPU', 'GPU.0'], '2026.4.1') == ''
    myriad = OpenVINOBackend.device_problem('MYRIAD', ['CPU'], '2026.4.1')
    assert '2022.3.1' in myriad and 'NPU' in myriad
    assert 'not present' in OpenVINOBackend.device_problem('NPU', ['CPU'], '2026.4.1')
    with pytest.raises(RuntimeError, match='not present'):
        AUModel(backend='openvino', device='NPU')
    model = AUModel(backend='openvino', device='NPU', fallback_device='CPU')
    assert model.backend.device == 'CPU' and 'instead' in model.backend.note


@requires_shared
def test_openvino_2023_0_reads_the_shipped_ir_with_the_old_api():
    """scripts/check_openvino.py --compat on real faces: installs OpenVINO 2023.0.2 in its own venv."""
    spec = importlib.util.spec_from_file_location('check_openvino', SCRIPTS / 'check_openvino.py')
    check_openvino = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_openvino)
    faces = load_fer2013(SHARED_DATA, 'PublicTest')[0][:64]
    version, outputs = check_openvino.old_openvino_outputs(faces)
    assert version.startswith('2023.0')
    reference = AUModel().predict_proba(faces)
    assert np.abs(outputs['au_model'] - reference).max() <= 1e-3
    assert np.abs(outputs['au_model_fp16'] - reference).max() <= 1e-2


@requires_shared
def test_inference_threads_reach_openvino_and_keep_the_answers():
    """One inference thread by default (less CPU at camera rate), any number on request, 0 for
    OpenVINO's own choice; the AU model and BlazeFace answer the same either way."""
    import cv2

    from conftest import SAMPLES
    from emotion_ros.face_detection import BlazeFaceDetector
    from emotion_ros.openvino_runtime import INFERENCE_THREADS, openvino_runtime
    faces = load_ckplus(SHARED_DATA)['images'][:16]
    default, single, own = (AUModel(backend='openvino', **options)
                            for options in ({}, {'threads': 1}, {'threads': 0}))
    assert INFERENCE_THREADS == 1
    # Compiled models report their threads from OpenVINO 2023.1 on (the compat job's 2023.0
    # refuses the question; it still takes the setting).
    reported = not openvino_runtime().get_version().startswith(('2022.', '2023.0'))
    threads = lambda compiled: compiled.get_property('INFERENCE_NUM_THREADS')
    if reported:
        assert threads(default.backend.compiled) == threads(single.backend.compiled) == 1
        assert threads(own.backend.compiled) >= 1
    np.testing.assert_allclose(single.predict_proba(faces), own.predict_proba(faces), atol=1e-5)
    np.testing.assert_allclose(default.predict_proba(faces), own.predict_proba(faces), atol=1e-5)
    frame = cv2.imread(str(SAMPLES / 'multi_face.jpg'))
    detectors = [BlazeFaceDetector(threads=n) for n in (1, 0)]
    if reported:
        assert threads(detectors[0]._compiled) == 1
    boxes = [detector.detect(frame).boxes for detector in detectors]
    assert len(boxes[0]) == 5
    np.testing.assert_allclose(boxes[0], boxes[1], atol=1e-3)
