"""The shipped emotion stage on real data: a real clip end to end, and adding an emotion by the documented route."""
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, read_frames, requires_shared

from emotion_ros.add_emotion import main as add_emotion, read_points
from emotion_ros.au_model import AUModel
from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from emotion_ros.emotion_smoothing import EmotionSmoother
from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FaceTracker
from emotion_ros.training.data import load_fer2013

PAIN_EXAMPLE = Path(__file__).resolve().parents[2] / 'docs' / 'examples' / 'pain_au_examples.yaml'


@pytest.fixture(scope='module')
def shipped():
    return AUModel(), AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)


def test_real_clip_is_happy_during_the_smile_only(shipped):
    """single_face.mp4: a neutral start (about 0.5 s), then a smile to the end."""
    model, classifier = shipped
    frames, fps = read_frames('single_face.mp4')
    stage = FacePerception(make_detector('blazeface'), FaceTracker())
    faces = [stage.process(frame, i / fps) for i, frame in enumerate(frames)]
    assert all(len(f) == 1 for f in faces)
    distributions = classifier.predict_proba(model.predict_proba([f[0].crop for f in faces]))
    smoother = EmotionSmoother(classifier.labels, half_life=0.5, switch_margin=0.1)
    labels = [smoother.update(faces[i][0].id, p, i / fps).label for i, p in enumerate(distributions)]
    start, smile = labels[:int(0.4 * fps)], labels[-len(labels) // 3:]
    assert 'happy' not in start, labels
    assert smile == ['happy'] * len(smile), labels
    assert sum(a != b for a, b in zip(labels, labels[1:])) <= 2, labels


@requires_shared
def test_documented_route_adds_pain(shipped, tmp_path):
    """docs/examples/pain_au_examples.yaml through `python -m emotion_ros.add_emotion`."""
    _, shipped_classifier = shipped
    out = tmp_path / 'with_pain.npz'
    add_emotion(['--points', str(PAIN_EXAMPLE), '--out', str(out)])
    extended = AUEmotionClassifier.load(out, shipped_classifier.au_codes)
    assert 'pain' in extended.labels and 'pain' not in shipped_classifier.labels
    pain_points, _ = read_points(PAIN_EXAMPLE, shipped_classifier.au_codes)
    rng = np.random.default_rng(0)
    queries = np.clip(pain_points.mean(0) + rng.normal(0, 0.05, (40, len(pain_points[0]))), 0, 1)
    assert (shipped_classifier.predict(queries) == 'pain').sum() == 0
    assert (extended.predict(queries) == 'pain').mean() >= 0.8
    happy = np.zeros(len(pain_points[0]), np.float32)        # AU6 + AU12 + AU25: a smile
    for code in (6, 12, 25):
        happy[shipped_classifier.au_codes.index(code)] = 0.95
    assert extended.predict([happy])[0] == shipped_classifier.predict([happy])[0] == 'happy'
    model, _ = shipped                                       # real faces keep their labels
    faces, _ = load_fer2013(SHARED_DATA, 'PublicTest')
    real = model.predict_proba(faces)
    assert (extended.predict(real) == shipped_classifier.predict(real)).all()


def test_point_files_refuse_aus_the_model_lacks(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('pain:\n  - {AU4: 0.9, AU43: 1.0}\n')
    with pytest.raises(ValueError, match='AU43'):
        read_points(bad, (4, 6, 7))
    csv_file = tmp_path / 'points.csv'
    csv_file.write_text('label,AU4,AU7\nconfused,0.8,0.3\nconfused,0.7,\n')
    vectors, labels = read_points(csv_file, (4, 6, 7))
    assert labels.tolist() == ['confused', 'confused']
    np.testing.assert_allclose(vectors, [[0.8, 0, 0.3], [0.7, 0, 0]], atol=1e-6)


def test_images_route_labels_the_faces_of_a_folder(shipped, tmp_path, capsys):
    """--images: the AU model reads the largest face of each image, also of a portrait crop that
    the face fills; images without one are skipped and counted."""
    import cv2

    from emotion_ros.face_detection import make_detector
    frames, _ = read_frames('single_face.mp4')
    for i in (50, 60, 70):
        cv2.imwrite(str(tmp_path / f'smile_{i}.png'), frames[i])
    x, y, w, h = make_detector('blazeface').detect(frames[40]).boxes[0].astype(int)
    side = int(h / 1.05)                 # the face box fills the whole picture, and more
    top, left = y + h // 2 - side // 2, x + w // 2 - side // 2
    cv2.imwrite(str(tmp_path / 'portrait.png'), frames[40][top:top + side, left:left + side])
    cv2.imwrite(str(tmp_path / 'blank.png'), np.full((240, 320, 3), 128, np.uint8))
    out = tmp_path / 'cheerful.npz'
    add_emotion(['--images', str(tmp_path), '--label', 'cheerful', '--out', str(out)])
    assert 'a face in 4 of 5 images' in capsys.readouterr().out
    extended = AUEmotionClassifier.load(out)
    _, shipped_classifier = shipped
    assert len(extended.points) == len(shipped_classifier.points) + 4
    assert 'cheerful' in extended.labels
    # The four faces also join the small faces' neighbourhoods, each as it reads that small.
    assert sorted(extended.size_points) == sorted(shipped_classifier.size_points) != []
    for width, vectors in extended.size_points.items():
        assert len(vectors) == len(extended.points)
        assert not np.allclose(vectors[-4:], extended.points[-4:], atol=1e-3), width
