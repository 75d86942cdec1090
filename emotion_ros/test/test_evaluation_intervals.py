"""The evaluations' 95% intervals, their refusal of stale cached folds, and the CK+ coding report."""
import json

import numpy as np
import pytest
from conftest import SHARED_DATA, requires_shared

from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH
from emotion_ros.training.data import AU_CODES, FER_CLASSES, load_ckplus
from emotion_ros.training.evaluate import coding_by_emotion, cross_validate
from emotion_ros.training.intervals import bootstrap_interval, mean_rate
from emotion_ros.training.train import DEFAULT_BASE


def test_interval_holds_the_rate_and_narrows_with_more_faces():
    rng = np.random.default_rng(1)
    small, large = rng.random(100) < 0.7, rng.random(4000) < 0.7
    small_rate, large_rate = mean_rate(small), mean_rate(large)
    for rate, hits in ((small_rate, small), (large_rate, large)):
        low, high = rate['interval_95']
        assert low < hits.mean() < high and rate['faces'] == len(hits)
    width = {name: r['interval_95'][1] - r['interval_95'][0]
             for name, r in (('small', small_rate), ('large', large_rate))}
    # The binomial standard error shrinks with the square root of the count (~6.3x here).
    assert 4 < width['small'] / width['large'] < 9
    assert width['large'] == pytest.approx(2 * 1.96 * np.sqrt(0.7 * 0.3 / 4000), rel=0.2)


def test_resampling_subjects_widens_the_interval_when_a_subjects_faces_agree():
    # 40 subjects with 10 faces each; each subject's faces are all right or all wrong.
    subject_right = np.random.default_rng(2).random(40) < 0.6
    hits = np.repeat(subject_right, 10)
    subjects = np.repeat(np.arange(40), 10)

    def accuracy(rows):
        return hits[rows].mean()

    by_face = bootstrap_interval(accuracy, len(hits))
    by_subject = bootstrap_interval(accuracy, len(hits), subjects)
    assert by_face[0] < hits.mean() < by_face[1] and by_subject[0] < hits.mean() < by_subject[1]
    # 40 independent units, not 400: about sqrt(10) times wider.
    assert (by_subject[1] - by_subject[0]) > 2.5 * (by_face[1] - by_face[0])


@requires_shared
def test_cached_folds_made_otherwise_are_refused(tmp_path):
    """A fold file from another configuration (here: other epochs) stops the run, not reused."""
    np.savez(tmp_path / 'fold0.npz', probabilities=np.zeros((1, 17)), rows=np.arange(1),
             chain=np.array(['']), configuration=json.dumps({'epochs': 99}))
    with pytest.raises(SystemExit, match='another configuration'):
        cross_validate(SHARED_DATA, DEFAULT_BASE, SHIPPED_CLASSIFIER_PATH, tmp_path, folds=3,
                       epochs=1, seed=1, limit=60)


@requires_shared
def test_coding_report_counts_subjects_and_false_alarms_per_emotion():
    ckplus = load_ckplus(SHARED_DATA)
    exact = coding_by_emotion(ckplus, ckplus['au'], AU_CODES)
    always = coding_by_emotion(ckplus, np.ones_like(ckplus['au']), AU_CODES)
    disgust = FER_CLASSES.index('disgust')
    rows = ckplus['emotions'] == disgust
    assert exact['subjects']['disgust'] == len(set(ckplus['subjects'][rows]))
    for i, code in enumerate(AU_CODES):
        name = f'AU{code}'
        positive = ckplus['au'][:, i] > 0.5
        assert exact['per_au'][name]['subjects_coded'] == len(set(ckplus['subjects'][positive]))
        assert all(e['false_positives'] == 0 for e in exact['per_au'][name]['by_emotion'].values())
        # An AU read on every face is a false alarm on each face not coded with it.
        assert sum(e['false_positives'] for e in always['per_au'][name]['by_emotion'].values()) == \
            (~positive).sum()
        assert always['per_au'][name]['by_emotion']['disgust']['false_positives'] == \
            (rows & ~positive).sum()
    # The fact the README cites: CK+ codes AU9 in nearly every disgust subject, AU10 in few.
    by_emotion = {name: exact['per_au'][name]['by_emotion']['disgust']['subjects_coded']
                  for name in ('AU9', 'AU10')}
    assert by_emotion['AU9'] > 5 * by_emotion['AU10'] > 0
