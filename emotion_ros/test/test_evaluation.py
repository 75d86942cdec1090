"""The emotion evaluation's measures, on real FER2013 faces and on hand-made readings."""
import numpy as np
import pytest
from conftest import SHARED_DATA, requires_shared

from emotion_ros.training.data import load_fer2013
from emotion_ros.training.evaluate_emotions import (acting_on, expected_calibration_error,
                                                     near_copies)


@requires_shared
def test_near_copies_are_found_and_other_faces_are_not():
    train, _ = load_fer2013(SHARED_DATA, 'Training')
    reference = train[:2000]
    rng = np.random.default_rng(0)
    noisy = np.clip(reference[:5].astype(int) + rng.integers(-2, 3, reference[:5].shape), 0, 255)
    brighter = np.clip(reference[5:10].astype(int) + 12, 0, 255)
    others = train[5000:5005]                         # other photos of the same data set
    found = near_copies(np.concatenate([reference[:5], noisy, brighter, others]).astype(np.uint8),
                        reference)
    assert list(found) == [True] * 10 + [False] * 10


def test_false_alarms_and_recall_at_the_event_threshold():
    labels = ('angry', 'fear', 'happy', 'neutral', 'sad')
    readings = {    # truth: (reading, confidence)
        'neutral': [('neutral', 0.9), ('sad', 0.6), ('sad', 0.4), ('happy', 0.7)],
        'sad': [('sad', 0.8), ('sad', 0.45), ('neutral', 0.6)],
        'fear': [('fear', 0.55)],
        'angry': [('neutral', 0.5)],
    }
    truth, probabilities = [], []
    for true, faces in readings.items():
        for reading, confidence in faces:
            row = np.full(len(labels), (1 - confidence) / (len(labels) - 1))
            row[labels.index(reading)] = confidence
            truth.append(true)
            probabilities.append(row)
    result = acting_on(labels, np.array(probabilities), np.array(truth), threshold=0.5)
    assert result['neutral_faces'] == 4
    assert result['neutral_read_negative'] == pytest.approx(2 / 4)
    assert result['neutral_read_negative_at_threshold'] == pytest.approx(1 / 4)
    assert result['sad_recall'] == pytest.approx(2 / 3)
    assert result['sad_recall_at_threshold'] == pytest.approx(1 / 3)
    assert result['fear_recall_at_threshold'] == 1 and result['angry_recall'] == 0


def test_expected_calibration_error():
    confidence = np.array([0.9] * 10 + [0.6] * 10)
    correct = np.array([True] * 9 + [False] + [True] * 6 + [False] * 4)
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)
    assert expected_calibration_error(confidence, ~correct) == pytest.approx(0.5 * 0.8 + 0.5 * 0.2)


@requires_shared
def test_size_evaluation_smoke_run(tmp_path):
    """evaluate_sizes on 300 PublicTest faces with the shipped model: files, every size, and the
    chain reading full-size faces better than 16 px ones, small ones by the k-NN's points of their
    size."""
    import json

    from emotion_ros.training import evaluate_sizes
    evaluate_sizes.main(['--data', str(SHARED_DATA), '--limit', '300', '--sizes', '48', '24', '16',
                         '--out', str(tmp_path)])
    report = json.loads((tmp_path / 'metrics.json').read_text())
    assert (tmp_path / 'by_size.png').stat().st_size > 10_000
    rows = {row['width_px']: row for row in report['sizes']}
    assert sorted(rows) == [16, 24, 48]
    accuracy = {width: row['ferplus_majority_accuracy']['value'] for width, row in rows.items()}
    assert accuracy[48] > accuracy[16] + 0.1, accuracy
    low, high = rows[48]['ferplus_majority_accuracy']['interval_95']
    assert low <= accuracy[48] <= high
    # Small faces are read by the shipped k-NN's points of their size, 48 px by the full-size
    # points (the same reading either way).
    assert rows[16]['own_points'] and rows[24]['own_points'] and not rows[48]['own_points']
    assert rows[48]['as_full_size_face']['ferplus_majority_accuracy']['value'] == accuracy[48]
