"""The ROS-free emotion pieces: k-NN, smoothing, pain score, affect, episodes."""
import math

import numpy as np
import pytest
from scipy.special import softmax

from emotion_ros.affect import pspi, valence_arousal
from emotion_ros.care_responses import DEFAULT_RESPONSES, CareResponder, parse_responses
from emotion_ros import emotion_classifier
from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from emotion_ros.emotion_smoothing import EmotionSmoother
from emotion_ros.sustained_emotion import END, START, SustainedEmotionDetector

CODES = (1, 2, 4, 6, 7, 9, 10, 12, 25)


def clusters(rng, centres, per_label=40, noise=0.05):
    x, y = [], []
    for label, centre in centres.items():
        x.append(np.clip(np.array(centre) + rng.normal(0, noise, (per_label, len(CODES))), 0, 1))
        y += [label] * per_label
    return np.concatenate(x), np.array(y)


CENTRES = {'happy': [0, 0, 0, .9, .3, 0, 0, .9, .6], 'sad': [.8, 0, .7, 0, 0, 0, 0, 0, 0],
           'surprise': [.9, .9, 0, 0, 0, 0, 0, 0, .9]}


def test_knn_classifies_saves_and_refuses_another_au_list(tmp_path):
    x, y = clusters(np.random.default_rng(0), CENTRES)
    classifier = AUEmotionClassifier(CODES, n_neighbors=7).fit(x, y)
    p = classifier.predict_proba([CENTRES['sad'], CENTRES['happy']])
    assert classifier.labels == ('happy', 'sad', 'surprise')
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    assert list(classifier.predict([CENTRES['sad'], CENTRES['happy']])) == ['sad', 'happy']
    classifier.save(tmp_path / 'knn.npz')
    loaded = AUEmotionClassifier.load(tmp_path / 'knn.npz', au_codes=CODES)
    np.testing.assert_allclose(loaded.predict_proba(x), classifier.predict_proba(x))
    with pytest.raises(ValueError, match='made for AUs'):
        AUEmotionClassifier.load(tmp_path / 'knn.npz', au_codes=CODES[:-1])
    with pytest.raises(ValueError, match='NaN'):
        classifier.predict_proba([[math.nan] * len(CODES)])


def test_knn_works_with_scikit_learn_before_1_3(monkeypatch):
    """Ubuntu 22.04 (Humble) has scikit-learn 0.23, whose config_context refuses
    skip_parameter_validation (>= 1.3): the k-NN passes it only where it is taken,
    and its answers do not change."""
    import sklearn
    calls = []

    def config_context_1_2(*, assume_finite=None, working_memory=None, print_changed_only=None,
                           display=None):
        """scikit-learn 1.2's signature, doing the installed one's work."""
        calls.append(assume_finite)
        return sklearn.config_context(assume_finite=assume_finite, working_memory=working_memory,
                                      print_changed_only=print_changed_only, display=display)

    classifier = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
    vectors = np.random.default_rng(0).uniform(0, 1, (200, len(classifier.au_codes)))
    expected = classifier.predict_proba(vectors)
    old_config = emotion_classifier.query_config(config_context_1_2)
    assert old_config == {'assume_finite': True}
    # 0.23's config_context takes **new_config, checked only by the set_config it calls.
    assert emotion_classifier.query_config(lambda **new_config: None) == old_config
    monkeypatch.setattr(emotion_classifier, 'config_context', config_context_1_2)
    monkeypatch.setattr(emotion_classifier, 'QUERY_CONFIG', old_config)
    np.testing.assert_array_equal(classifier.predict_proba(vectors), expected)
    assert calls == [True]


def test_calibration_makes_confidence_match_accuracy_and_travels_with_the_file(tmp_path):
    """Overlapping clusters: the k-NN's vote shares are overconfident; the calibrated
    probabilities lower the log loss on new faces, are saved, and keep added labels."""
    rng = np.random.default_rng(3)
    x, y = clusters(rng, CENTRES, per_label=60, noise=0.6)
    classifier = AUEmotionClassifier(CODES, n_neighbors=5).fit(x, y)
    fit_x, fit_y = clusters(rng, CENTRES, per_label=200, noise=0.6)
    test_x, test_y = clusters(rng, CENTRES, per_label=200, noise=0.6)
    column = {label: i for i, label in enumerate(classifier.labels)}
    truth = np.array([column[label] for label in test_y])

    def log_loss(p):
        return -np.log(np.clip(p[np.arange(len(truth)), truth], 1e-6, 1)).mean()

    raw = classifier.predict_proba(test_x)
    assert not classifier.calibrated
    classifier.calibrate(fit_x, fit_y)
    assert classifier.calibrated and classifier.temperature > 1     # vote shares overconfident
    calibrated = classifier.predict_proba(test_x)
    np.testing.assert_allclose(calibrated.sum(1), 1, atol=1e-5)
    # scipy's softmax, which the calibration was fitted with (predict_proba computes it itself).
    scores = np.log(raw.astype(np.float64) + emotion_classifier.EPS) / classifier.temperature \
        + np.array([classifier.label_bias[label] for label in classifier.labels])
    np.testing.assert_allclose(calibrated, softmax(scores, axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(classifier.vote_shares(test_x), raw)
    assert log_loss(calibrated) < log_loss(raw)

    classifier.save(tmp_path / 'knn.npz')
    loaded = AUEmotionClassifier.load(tmp_path / 'knn.npz')
    np.testing.assert_allclose(loaded.predict_proba(test_x), calibrated, rtol=1e-5)
    loaded.add_examples(np.full((10, len(CODES)), 0.5), 'pain')
    assert 'pain' in loaded.labels and loaded.predict_proba(test_x).shape == (len(test_x), 4)
    with pytest.raises(ValueError, match='not labels of the points'):
        loaded.calibrate(test_x[:3], ['happy', 'sad', 'contempt'])


def test_small_faces_get_their_own_temperature_and_keep_it_in_the_file(tmp_path):
    """Noisier vectors stand in for small faces: their fitted factor softens the confidence
    (lower log loss on new such faces); full-size faces and faces without a width keep the
    base calibration; the factors are saved."""
    rng = np.random.default_rng(4)
    x, y = clusters(rng, CENTRES, per_label=60, noise=0.6)
    classifier = AUEmotionClassifier(CODES, n_neighbors=5).fit(x, y)
    classifier.calibrate(*clusters(rng, CENTRES, per_label=200, noise=0.6))
    small_fit = clusters(rng, CENTRES, per_label=200, noise=1.4)
    small_x, small_y = clusters(rng, CENTRES, per_label=200, noise=1.4)
    column = {label: i for i, label in enumerate(classifier.labels)}
    truth = np.array([column[label] for label in small_y])

    def log_loss(p):
        return -np.log(np.clip(p[np.arange(len(truth)), truth], 1e-6, 1)).mean()

    before = classifier.predict_proba(small_x, face_widths=24)
    classifier.calibrate_size(24, *small_fit)
    assert classifier.size_temperatures[24] > 1
    after = classifier.predict_proba(small_x, face_widths=24)
    assert log_loss(after) < log_loss(before)
    assert after.max(1).mean() < before.max(1).mean()
    np.testing.assert_array_equal(classifier.predict_proba(small_x, face_widths=60), before)
    np.testing.assert_array_equal(classifier.predict_proba(small_x), before)
    np.testing.assert_array_equal(classifier.size_factors([10, 24, 25, 100], 4),
                                  [classifier.size_temperatures[24], classifier.size_temperatures[24],
                                   1, 1])
    classifier.save(tmp_path / 'knn.npz')
    loaded = AUEmotionClassifier.load(tmp_path / 'knn.npz')
    assert loaded.size_temperatures == pytest.approx(classifier.size_temperatures)
    np.testing.assert_allclose(loaded.predict_proba(small_x, face_widths=20), after, rtol=1e-5)


def test_small_faces_are_answered_by_the_points_of_their_size(tmp_path):
    """A small face's AU vector drifts (here: every face reads 60% of the way towards sad);
    the same faces read at that size are its neighbourhood, so it is read right where the
    full-size points read it wrong; full-size faces keep the full-size points; the points of
    each size are saved, and an added emotion joins every size."""
    rng = np.random.default_rng(5)
    x, y = clusters(rng, CENTRES)
    drift = lambda v: (0.4 * np.asarray(v) + 0.6 * np.array(CENTRES['sad'])).astype(np.float32)
    classifier = AUEmotionClassifier(CODES, n_neighbors=7).fit(x, y, size_points={24: drift(x)})
    happy_small = drift(CENTRES['happy'])     # nearer the full-size sad points than the happy
    assert classifier.predict([happy_small])[0] != 'happy'
    assert classifier.predict([happy_small], face_widths=20)[0] == 'happy'
    assert classifier.predict([happy_small], face_widths=24)[0] == 'happy'
    assert list(classifier.predict([happy_small, CENTRES['happy'], CENTRES['sad']],
                                   face_widths=[20, 80, 80])) == ['happy', 'happy', 'sad']
    # Width 0: no box (an AU message made without one), read as a full-size face.
    assert classifier.predict([happy_small], face_widths=0)[0] != 'happy'
    with pytest.raises(ValueError, match='row for row'):
        AUEmotionClassifier(CODES).fit(x, y, size_points={24: x[:5]})
    pain_centre = np.array([0, 0, .9, .8, .9, .7, .6, 0, .3], np.float32)
    pain_points, _ = clusters(rng, {'pain': pain_centre}, per_label=10)
    classifier.add_examples(pain_points, 'pain', size_points={24: drift(pain_points)})
    assert classifier.predict([drift(pain_centre)], face_widths=24)[0] == 'pain'
    assert len(classifier.size_points[24]) == len(classifier.points)
    classifier.save(tmp_path / 'knn.npz')
    loaded = AUEmotionClassifier.load(tmp_path / 'knn.npz', au_codes=CODES)
    np.testing.assert_array_equal(loaded.size_points[24], classifier.size_points[24])
    np.testing.assert_allclose(loaded.predict_proba(x, face_widths=24),
                               classifier.predict_proba(x, face_widths=24))


def test_adding_labelled_points_adds_an_emotion():
    rng = np.random.default_rng(1)
    x, y = clusters(rng, CENTRES)
    classifier = AUEmotionClassifier(CODES, n_neighbors=7).fit(x, y)
    pain_centre = [0, 0, .9, .8, .9, .7, .6, 0, .3]          # brow lowerer, cheek raiser, nose wrinkler
    assert classifier.predict([pain_centre])[0] != 'pain'
    pain_points, _ = clusters(rng, {'pain': pain_centre}, per_label=10)
    classifier.add_examples(pain_points, 'pain')
    assert 'pain' in classifier.labels
    assert classifier.predict([pain_centre])[0] == 'pain'
    assert classifier.predict([CENTRES['happy']])[0] == 'happy'


def test_noisy_frames_give_a_stable_label():
    rng = np.random.default_rng(2)
    smoother = EmotionSmoother(('happy', 'sad', 'neutral'), half_life=0.5, switch_margin=0.1)
    labels, raw = [], []
    for i in range(90):                    # 3 s at 30 fps, truth 'sad' with noisy frames
        p = np.array([0.25, 0.45, 0.30]) + rng.normal(0, 0.15, 3)
        p = np.clip(p, 0.01, None)
        raw.append(int(p.argmax()))
        labels.append(smoother.update(7, p / p.sum(), i / 30).label)
    raw_flips = sum(a != b for a, b in zip(raw, raw[1:]))
    assert raw_flips > 20                  # the frames alone flicker...
    assert labels[15:] == ['sad'] * 75     # ...the smoothed label does not
    last = smoother.update(7, [0.2, 0.5, 0.3], 3.0)
    assert last.frame_count == 91 and last.time_span == pytest.approx(3.0)


def test_smoothing_is_by_time_and_resets_after_a_gap():
    smoother = EmotionSmoother(('happy', 'sad'), half_life=1.0, switch_margin=0.0, max_gap=2.0)
    smoother.update(1, [1.0, 0.0], 0.0)
    half = smoother.update(1, [0.0, 1.0], 1.0)     # one half-life later: halfway
    assert half.probabilities[1] == pytest.approx(0.5)
    fresh = smoother.update(1, [0.0, 1.0], 5.0)    # gap > max_gap: starts over
    assert fresh.label == 'sad' and fresh.frame_count == 1 and fresh.time_span == 0
    smoother.forget_all_but([])
    assert smoother.update(1, [1.0, 0.0], 5.1).frame_count == 1


def test_pspi():
    codes = (4, 6, 7, 9, 10, 12)
    assert pspi(codes, [1, 0.2, 0.6, 0, 0.4, 1]) == pytest.approx(5 + 3 + 2)
    assert pspi(codes + (43,), [1, 1, 1, 1, 1, 0, 1]) == pytest.approx(16)
    assert math.isnan(pspi((6, 7, 9, 10), [1, 1, 1, 1]))


def test_valence_arousal():
    v, a = valence_arousal(('happy', 'sad'), (0.9, 0.1))
    assert v > 0.5 and a > 0.3
    v, a = valence_arousal(('happy', 'sad', 'confusion'), (0.0, 0.5, 0.5))   # unknown label ignored
    assert (v, a) == pytest.approx((-0.7, -0.4))


def test_one_start_and_one_end_per_episode():
    detector = SustainedEmotionDetector(min_confidence=0.5, min_duration=2.0)
    events = []
    for i in range(40):                             # 4 s sad at 10 fps, then happy
        events += detector.update(3, 'sad', 0.7, i / 10)
    for i in range(40, 50):
        events += detector.update(3, 'happy', 0.8, i / 10)
    assert [e.kind for e in events] == [START, END]
    start, end = events
    assert start.since == 0 and start.duration == pytest.approx(2.0) and start.emotion == 'sad'
    assert end.duration == pytest.approx(3.9) and end.confidence == pytest.approx(0.7)


def test_short_or_weak_spells_give_no_event_and_a_lost_face_ends_its_episode():
    detector = SustainedEmotionDetector(min_confidence=0.5, min_duration=2.0)
    events = []
    for i in range(15):
        events += detector.update(1, 'sad', 0.9, i / 10)         # 1.4 s only
    events += detector.update(1, 'neutral', 0.9, 1.5)
    for i in range(30):
        events += detector.update(1, 'sad', 0.3, 2 + i / 10)      # too weak
    assert events == []
    for i in range(30):
        events += detector.update(2, 'pain', 0.8, i / 10)
    events += detector.face_lost(2)
    assert [(e.kind, e.emotion, e.face_id) for e in events] == [(START, 'pain', 2), (END, 'pain', 2)]


def test_care_responder_speaks_once_per_interval_and_only_to_faces_in_view():
    responder = CareResponder(parse_responses(DEFAULT_RESPONSES), min_interval=30.0, max_age=1.0)
    assert responder.on_start(4, 'sad', 10.0) is None              # face 4 never seen
    responder.faces_seen([4], 10.0)
    assert responder.on_start(4, 'sad', 10.5) == 'You look sad. Can I help?'
    responder.faces_seen([4, 5], 20.0)
    assert responder.on_start(5, 'pain', 20.2) is None             # too soon after the last
    assert responder.on_start(4, 'happy', 45.0) is None            # no phrase for happy
    responder.faces_seen([5], 45.0)
    assert responder.on_start(5, 'pain', 45.1).startswith('Are you in pain')
    with pytest.raises(ValueError):
        parse_responses(['no separator here'])


@pytest.mark.parametrize('metric', ['shipped', 'manhattan'])
def test_a_frames_faces_get_scikit_learns_answer_and_a_repeated_face_its_last(metric):
    """The few faces of a frame are searched directly (emotion_classifier.FRAME_FACES): the
    shipped neighbourhood gives scikit-learn's KNeighborsClassifier's vote shares, also for a
    face on one of the points (only the neighbours at distance 0 vote), and the same for a
    face asked again (remembered) or in a batch large enough for scikit-learn's own search;
    with the shipped metric (euclidean) and with manhattan over the same points (the k-d
    tree's p=2 and p=1)."""
    from sklearn.neighbors import KNeighborsClassifier

    def make():
        shipped = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
        if metric == 'shipped':
            return shipped
        return AUEmotionClassifier(shipped.au_codes, shipped.n_neighbors, metric).fit(
            shipped.points, shipped.point_labels)
    classifier = make()
    reference = KNeighborsClassifier(classifier.n_neighbors, weights='distance',
                                     metric=classifier.metric).fit(
        classifier.points.astype(np.float64), classifier.point_labels)
    rng = np.random.default_rng(5)
    near_points = classifier.points[rng.choice(len(classifier.points), 60)]
    vectors = np.concatenate([np.clip(near_points[:40] + rng.normal(0, 0.03, (40, 1)), 0, 1),
                              near_points[40:]]).astype(np.float32)
    expected = reference.predict_proba(vectors.astype(np.float64))
    for batch in (1, 3, emotion_classifier.FRAME_FACES):
        got = np.concatenate([classifier.vote_shares(vectors[i:i + batch])
                              for i in range(0, len(vectors), batch)])
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert len(vectors) > emotion_classifier.FRAME_FACES
    np.testing.assert_allclose(classifier.vote_shares(vectors), expected, atol=1e-6)
    searched = make()
    searched.recent_answers = 0
    computed = searched.predict_proba(vectors[:3])
    np.testing.assert_array_equal(classifier.predict_proba(vectors[:3]), computed)
    # Asked again a moment later (a face's held AUs): the same answer, remembered.
    assert len(classifier._recent) == 3
    np.testing.assert_array_equal(classifier.predict_proba(vectors[:3]), computed)
    if metric == 'shipped':
        # ... but not across face sizes: a small face gets its own points' answer.
        width = min(classifier.size_points)
        np.testing.assert_array_equal(classifier.predict_proba(vectors[:3], width),
                                      searched.predict_proba(vectors[:3], width))
        assert not np.array_equal(classifier.predict_proba(vectors[:3], width), computed)
