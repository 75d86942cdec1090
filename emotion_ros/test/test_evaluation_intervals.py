"""The evaluations' 95% intervals and their refusal of stale cached folds."""
import json

import numpy as np
import pytest
from conftest import SHARED_DATA, requires_shared

from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH
from emotion_ros.training.evaluate import cross_validate
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
