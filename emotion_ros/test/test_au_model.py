"""The shipped AU model: offline loading, batching, and sense on real faces."""
import numpy as np
import pytest
from conftest import SHARED_DATA, read_frames, requires_shared

from emotion_ros.au_model import SHIPPED_MODEL_DIR, AUModel
from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FaceTracker
from emotion_ros.training.data import AU_CODES, load_ckplus


@pytest.fixture(scope='module')
def model():
    return AUModel()


def test_shipped_model_loads_from_the_installed_package(model):
    assert model.model_dir == SHIPPED_MODEL_DIR
    assert model.au_codes == AU_CODES and len(model.au_codes) >= 17
    assert model.input_size == 48 and model.mirror_average   # the detector's crops as they are
    # A few MB at most (745k parameters, as Keras, FP32 and FP16 IR: 7.6 MB).
    assert sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.iterdir()) < 10e6


@requires_shared
def test_batches_match_single_faces_and_any_crop_size(model):
    faces = load_ckplus(SHARED_DATA)['images'][:9]
    batched = AUModel(max_batch=4).predict_proba(faces)   # 2 faces and their mirror images a call
    one_by_one = np.concatenate([model.predict_proba(faces[i:i + 1]) for i in range(9)])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    upscaled = np.array([np.kron(f, np.ones((2, 2), np.uint8)) for f in faces])  # 96x96
    np.testing.assert_allclose(model.predict_proba(upscaled), batched, atol=0.05)
    assert model.predict_proba([]).shape == (0, len(AU_CODES))


def test_unknown_backend_and_missing_model_are_refused(tmp_path):
    with pytest.raises(ValueError, match='unknown AU backend'):
        AUModel(backend='onnx')
    with pytest.raises(FileNotFoundError):
        AUModel(tmp_path)


def test_smile_raises_au12_on_a_real_clip(model):
    """single_face.mp4 goes neutral, smile, neutral: AU12 (lip corner puller) must follow."""
    frames, fps = read_frames('single_face.mp4')
    stage = FacePerception(make_detector('blazeface'), FaceTracker())
    crops = [stage.process(frame, i / fps)[0].crop for i, frame in enumerate(frames)]
    au12 = model.predict_proba(np.array(crops))[:, AU_CODES.index(12)]
    third = len(au12) // 3
    start, middle = au12[:third // 2], au12[third:2 * third]
    assert middle.mean() > start.mean() + 0.3, np.round(au12, 2)
    assert middle.mean() > 0.5


@requires_shared
def test_mirror_averaging_answers_a_face_and_its_mirror_image_alike(model):
    """The shipped model averages each face with its mirror image (au_model.json), in one call."""
    faces = load_ckplus(SHARED_DATA)['images'][::50]
    mirrored = faces[:, :, ::-1]
    np.testing.assert_allclose(model.predict_proba(mirrored), model.predict_proba(faces), atol=1e-5)
    single = AUModel(max_batch=1)            # a face and its mirror image need a batch of two
    assert single.max_batch == 2
    np.testing.assert_allclose(single.predict_proba(faces), model.predict_proba(faces), atol=1e-5)
