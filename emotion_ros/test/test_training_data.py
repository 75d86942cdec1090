"""Data loaders of the AU training pipeline, on the real data in ../shared."""
import csv

import cv2
import numpy as np
from conftest import SHARED_DATA, load_shared, requires_shared

from emotion_ros.training.data import (AU_CODES, FER_CLASSES, load_au_csv, load_ckplus,
                                       load_fer2013, load_ferplus, select, subject_folds,
                                       vote_distribution)


@requires_shared
def test_fer2013_splits():
    images, labels = load_fer2013(SHARED_DATA, 'PublicTest')
    assert images.shape == (3589, 48, 48) and images.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(len(FER_CLASSES)))


@requires_shared
def test_ferplus_votes_follow_the_fer2013_faces_and_classes():
    raw = load_shared('ferplus/ferplus_PublicTest.npz')
    votes, majority = load_ferplus(SHARED_DATA, 'PublicTest')
    assert votes.shape == (3589, len(FER_CLASSES)) and majority.shape == (3589,)
    columns = list(raw['columns'])
    for i, name in enumerate(('anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise',
                              'neutral')):
        assert np.array_equal(votes[:, i], np.maximum(raw['votes'][:, columns.index(name)], 0))
    rated = majority >= 0
    # A majority is the unique top count of all 10 columns, one of the 7 emotions.
    assert np.all(votes[rated].max(1) == raw['votes'][rated].max(1))
    assert np.all((votes[rated] == votes[rated].max(1, keepdims=True)).sum(1) == 1)
    assert np.all(votes[rated].argmax(1) == majority[rated])
    assert 3300 < rated.sum() < 3589          # faces without images, unknown or NF are out
    assert np.all(majority[raw['votes'][:, 0] < 0] == -1)
    # FER+ and FER2013 disagree on about a third of the faces (../shared/README.md).
    _, fer_labels = load_fer2013(SHARED_DATA, 'PublicTest')
    assert 0.55 < (fer_labels[rated] == majority[rated]).mean() < 0.75


def test_vote_distribution_drops_single_votes():
    targets = vote_distribution(np.array([[6, 1, 3, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0]], np.float32))
    np.testing.assert_allclose(targets[0], [6 / 9, 0, 3 / 9, 0, 0, 0, 0])
    np.testing.assert_allclose(targets[1], [0, 1, 0, 0, 0, 0, 0])    # a lone vote is kept


@requires_shared
def test_ckplus_au_columns_follow_the_au_list():
    ckplus = load_ckplus(SHARED_DATA)
    raw = load_shared('ckplus_au/ckplus48_au.npz')
    names = list(raw['au_names'])
    for i, code in enumerate(AU_CODES):
        assert np.array_equal(ckplus['au'][:, i], raw['au'][:, names.index(f'AU{code}')])
    assert len(AU_CODES) >= 17
    # Every CK+ emotion but contempt maps to a FER2013 class.
    contempt = raw['emotion'] == 'contempt'
    assert np.all(ckplus['emotions'][contempt] == -1) and np.all(ckplus['emotions'][~contempt] >= 0)


@requires_shared
def test_subject_folds_never_share_a_subject():
    subjects = load_ckplus(SHARED_DATA)['subjects']
    folds = subject_folds(subjects, k=5, seed=0)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(subjects)))          # each image tested once
    for train, test in folds:
        assert not set(subjects[train]) & set(subjects[test])
        assert len(set(subjects[test])) >= 15


@requires_shared
def test_csv_format_for_own_data(tmp_path):
    """Real CK+ faces written as PNG files and a CSV with intensities, read back."""
    ckplus = select(load_ckplus(SHARED_DATA), slice(0, 12))
    header = ['image', 'subject', 'emotion'] + [f'AU{code}' for code in AU_CODES]
    with open(tmp_path / 'faces.csv', 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, (image, au, subject) in enumerate(zip(ckplus['images'], ckplus['au'], ckplus['subjects'])):
            cv2.imwrite(str(tmp_path / f'{i}.png'), image)
            intensities = [int(v) * (1 + i % 5) for v in au]   # FACS intensity 0-5
            writer.writerow([f'{i}.png', subject, 'happy'] + intensities)
    loaded = load_au_csv(tmp_path / 'faces.csv')
    assert np.array_equal(loaded['images'], ckplus['images'])
    assert np.array_equal(loaded['au'], ckplus['au'])
    assert list(loaded['subjects']) == list(ckplus['subjects'])
    assert np.all(loaded['emotions'] == FER_CLASSES.index('happy'))
