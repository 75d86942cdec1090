"""The pain score's core: calm and smiling caps, the shipped calibration on real faces, the pain
episode and its merge with a k-NN pain label, the laughing part of a real clip, and the
fit and evaluation commands on tiny runs."""
import json
import math

import numpy as np
import pytest
from conftest import SHARED_DATA, read_frames, requires_shared

from emotion_ros.affect import PSPI_MAX, SHIPPED_PAIN_CALIBRATION, PainCalibration, pspi
from emotion_ros.emotion_smoothing import EmotionSmoother
from emotion_ros.sustained_emotion import END, START, PainEpisodeDetector, SustainedEmotionDetector

CODES = (4, 6, 7, 9, 10, 12)
PAIN_LIKE = [0.9, 0.8, 0.7, 0.9, 0.3, 0.0]       # AU4, AU6, AU7, AU9, AU10 up, no smile
LABELS = ('happy', 'neutral', 'sad')


def test_calm_and_smiling_readings_cap_the_pspi():
    calibration = PainCalibration(threshold=7.0, calm_cap=5.0)
    raw = pspi(CODES, PAIN_LIKE)
    assert raw == pytest.approx(4.5 + 4.0 + 4.5)
    assert calibration.score(CODES, PAIN_LIKE, LABELS, [0, 0, 1]) == pytest.approx(raw)
    assert calibration.score(CODES, PAIN_LIKE, LABELS, [1, 0, 0]) == pytest.approx(5.0)
    assert calibration.score(CODES, PAIN_LIKE, LABELS, [0, 1, 0]) == pytest.approx(5.0)
    # Half calm: half of the PSPI above the cap counts.
    assert calibration.score(CODES, PAIN_LIKE, LABELS, [0.25, 0.25, 0.5]) == pytest.approx(5 + 4)
    low = [0.2, 0.2, 0.0, 0.2, 0.0, 0.0]        # below the cap: the reading does not matter
    assert calibration.score(CODES, low, LABELS, [1, 0, 0]) == pytest.approx(pspi(CODES, low))
    # A classifier without calm labels: the PSPI itself. AU43 counts where it is sent.
    assert calibration.score(CODES, PAIN_LIKE, ('sad', 'pain'), [0.5, 0.5]) == pytest.approx(raw)
    assert calibration.score(CODES + (43,), PAIN_LIKE + [1.0], LABELS, [0, 0, 1]) == \
        pytest.approx(raw + 1)
    assert math.isnan(calibration.score((6, 7, 9), [1, 1, 1], LABELS, [0, 0, 1]))


def test_the_shipped_calibration_loads_and_a_bad_one_is_refused(tmp_path):
    shipped = PainCalibration.load()
    assert shipped.calm_cap < shipped.threshold <= PSPI_MAX
    assert set(shipped.calm_labels) == {'neutral', 'happy'}
    record = json.loads(SHIPPED_PAIN_CALIBRATION.read_text())
    assert record['command'].startswith('python -m emotion_ros.training.fit_pain')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({**record, 'threshold': record['calm_cap']}))
    with pytest.raises(ValueError, match='above calm_cap'):
        PainCalibration.load(bad)


def test_the_smoother_averages_the_pain_score_with_the_distribution():
    smoother = EmotionSmoother(LABELS, half_life=1.0)
    assert smoother.update(1, [0, 0, 1], 0.0, 10.0).pain_score == pytest.approx(10.0)
    # One half-life later, half way to the new value.
    assert smoother.update(1, [0, 0, 1], 1.0, 2.0).pain_score == pytest.approx(6.0)
    assert math.isnan(smoother.update(2, [0, 0, 1], 0.0).pain_score)


def feed(detector, frames, face_id=3, rate=10.0):
    """frames: (label, confidence, pain score) at `rate` per s; the events, in order."""
    events = []
    for i, (label, confidence, score) in enumerate(frames):
        events += detector.update(face_id, label, confidence, score, i / rate)
    return [(e.kind, e.emotion) for e in events], events


def test_a_lasting_pain_score_opens_one_pain_episode_whatever_the_label():
    detector = PainEpisodeDetector(7.0, min_duration=1.0)
    frames = [('neutral', 0.9, 3.0)] * 5 + [('angry', 0.6, 9.0)] * 20 + [('neutral', 0.9, 4.0)] * 5
    kinds, events = feed(detector, frames)
    assert kinds == [(START, 'pain'), (END, 'pain')]
    assert events[0].since == pytest.approx(0.5) and events[0].duration == pytest.approx(1.0)
    assert events[0].confidence == pytest.approx(9.0 / PSPI_MAX)
    # Too short a spell: nothing. Without a threshold the score starts no episode; NaN never does.
    assert feed(PainEpisodeDetector(7.0, min_duration=1.0),
                [('neutral', 0.9, 9.0)] * 5 + [('neutral', 0.9, 1.0)] * 5)[0] == []
    assert feed(PainEpisodeDetector(None, min_duration=1.0), [('neutral', 0.9, 15.0)] * 30)[0] == []
    assert feed(PainEpisodeDetector(7.0, min_duration=1.0), [('neutral', 0.9, math.nan)] * 30)[0] == []


def test_a_knn_pain_label_and_the_score_make_one_episode_not_two():
    """A user-added pain label: the k-NN reads pain for a while, the score crosses the threshold
    during it and stays above after the label has gone: one pain episode throughout."""
    detector = PainEpisodeDetector(7.0, min_duration=1.0)
    frames = ([('pain', 0.7, 5.0)] * 10 + [('pain', 0.8, 12.0)] * 10 + [('sad', 0.6, 10.0)] * 10
              + [('sad', 0.6, 2.0)] * 3)
    kinds, events = feed(detector, frames)
    assert kinds == [(START, 'pain'), (END, 'pain')]
    assert events[0].since == 0.0 and events[1].duration == pytest.approx(2.9)
    # Mean confidence: the k-NN's 0.7 for 10 frames, then max(0.8, 12/16), then 10/16.
    assert events[1].confidence == pytest.approx((0.7 * 10 + 0.8 * 10 + 10 / 16 * 10) / 30)
    # The label alone, the score low: the same single episode; a label not confident enough or
    # not watched (label_source False) counts nothing.
    assert feed(PainEpisodeDetector(7.0, min_duration=1.0),
                [('pain', 0.7, 2.0)] * 15 + [('neutral', 0.9, 2.0)])[0] == \
        [(START, 'pain'), (END, 'pain')]
    assert feed(PainEpisodeDetector(7.0, min_duration=1.0), [('pain', 0.4, 2.0)] * 30)[0] == []
    assert feed(PainEpisodeDetector(7.0, False, min_duration=1.0), [('pain', 0.9, 2.0)] * 30)[0] == []
    # A face lost mid-episode ends it once.
    detector = PainEpisodeDetector(7.0, min_duration=0.5)
    assert feed(detector, [('pain', 0.9, 9.0)] * 10)[0] == [(START, 'pain')]
    assert [(e.kind, e.emotion) for e in detector.face_lost(3)] == [(END, 'pain')]
    assert detector.active_faces() == []


def test_a_sad_and_pain_like_face_gets_both_episodes():
    """The label episodes and the pain episode are two readings of one face, side by side."""
    sad = SustainedEmotionDetector(('sad',), 0.5, 1.0)
    pain = PainEpisodeDetector(7.0, min_duration=1.0)
    events = []
    for i, score in enumerate([9.0] * 20 + [3.0] * 5):
        events += sad.update(3, 'sad', 0.8, i / 10) + pain.update(3, 'sad', 0.8, score, i / 10)
    assert [(e.kind, e.emotion) for e in events] == [(START, 'sad'), (START, 'pain'), (END, 'pain')]


@pytest.fixture(scope='module')
def shipped():
    from emotion_ros.au_model import AUModel
    from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
    return AUModel(), AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH), PainCalibration.load()


def test_laughing_is_not_pain_in_the_wolfgang_clip(shipped):
    """WolfgangLanger_Pexels.mp4 through the real chain (BlazeFace, tracker, AU model, k-NN,
    smoothing and the episode detector with the emotion node's defaults): no pain START while
    he laughs (frames 256-471)."""
    from emotion_ros.emotion_node import PARAMETERS
    from emotion_ros.face_detection import make_detector
    from emotion_ros.face_perception import FacePerception
    from emotion_ros.tracking import FaceTracker
    model, classifier, calibration = shipped
    frames, fps = read_frames('WolfgangLanger_Pexels.mp4', 472)
    assert len(frames) == 472
    stage = FacePerception(make_detector('blazeface'), FaceTracker())
    smoother = EmotionSmoother(classifier.labels, PARAMETERS['half_life'].default,
                               PARAMETERS['switch_margin'].default, PARAMETERS['face_timeout'].default)
    detector = PainEpisodeDetector(calibration.threshold, True,
                                   PARAMETERS['event_min_confidence'].default,
                                   PARAMETERS['event_min_duration'].default)
    starts, laughing_scores = [], []
    for i, frame in enumerate(frames):
        faces = stage.process(frame, i / fps)
        if not faces:
            continue
        au = model.predict_proba([f.crop for f in faces])
        distributions = classifier.predict_proba(au)
        for face, vector, distribution in zip(faces, au, distributions):
            score = calibration.score(model.au_codes, vector, classifier.labels, distribution)
            smoothed = smoother.update(face.id, distribution, i / fps, score)
            if i >= 256:
                laughing_scores.append(smoothed.pain_score)
            starts += [i for e in detector.update(face.id, smoothed.label, smoothed.confidence,
                                                  smoothed.pain_score, i / fps) if e.kind == START]
    assert len(laughing_scores) >= 0.9 * (472 - 256)
    assert not [i for i in starts if i >= 256], (starts, np.percentile(laughing_scores, [50, 90, 100]))
    assert np.median(laughing_scores) < calibration.threshold


@requires_shared
def test_fit_and_evaluation_commands_on_tiny_runs(tmp_path, capsys):
    from emotion_ros.training import evaluate_pain, fit_pain
    from emotion_ros.training.data import load_ferplus_faces
    calibration = tmp_path / 'pain_calibration.json'
    fit_pain.main(['--data', str(SHARED_DATA), '--limit', '300', '--out', str(calibration)])
    fitted = PainCalibration.load(calibration)
    record = json.loads(calibration.read_text())
    assert record['training_share_at_threshold']['neutral'] <= 0.05
    assert fitted.threshold > fitted.calm_cap
    out = tmp_path / 'evaluation'
    evaluate_pain.main(['--data', str(SHARED_DATA), '--calibration', str(calibration), '--limit', '200',
                        '--ck-limit', '50', '--folds', '2', '--epochs', '1', '--work',
                        str(tmp_path / 'work'), '--out', str(out)])
    report = json.loads((out / 'metrics.json').read_text())
    assert (out / 'pain_scores.png').stat().st_size > 10_000
    publictest = report['publictest_ferplus']
    assert {'neutral', 'happy', 'other'} <= set(publictest)
    rated = len(load_ferplus_faces(SHARED_DATA, 'PublicTest')[0])
    assert sum(publictest[g]['faces'] for g in ('neutral', 'happy', 'other')) == \
        len(range(0, rated, rated // 200))
    ckplus = report['ckplus_subject_exclusive']
    assert ckplus['faces'] == 50 and -1 <= ckplus['pearson_r'] <= 1
    assert report['calibration']['threshold'] == fitted.threshold
    assert 'Pearson r' in capsys.readouterr().out
