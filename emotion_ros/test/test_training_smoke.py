"""Tiny real runs of the training code: both stages, export, reload, and resume."""
import csv
import os
import signal
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from conftest import SHARED_DATA, requires_shared

from emotion_ros.au_model import AUModel, model_input
from emotion_ros.training.data import AU_CODES, load_ckplus
from emotion_ros.training.train import export, pretrain, train_au

pytestmark = requires_shared


@pytest.mark.slow
def test_two_stages_export_and_reload_give_identical_outputs(tmp_path):
    metrics = pretrain(SHARED_DATA, tmp_path / 'pre', epochs=1, limit=256, steps=3)
    for name in ('best.keras', 'history.csv', 'curves.png', 'metrics.json'):
        assert (tmp_path / 'pre' / name).is_file()
    assert 0 <= metrics['publictest_accuracy'] <= 1 and metrics['labels'] == 'ferplus'

    model = train_au(SHARED_DATA, tmp_path / 'pre' / 'best.keras', tmp_path / 'au', epochs=2,
                     limit=128, fer_copies=1, ckplus_copies=2, verbose=0)
    # Stage 2 trains the heads only: the base is as stage 1 left it.
    base = keras.models.load_model(tmp_path / 'pre' / 'best.keras').get_layer('base')
    for before, after in zip(base.get_weights(), model.get_layer('base').get_weights()):
        np.testing.assert_array_equal(before, after)
    assert (tmp_path / 'au' / 'history.csv').read_text().count('\n') == 3   # header + 2 epochs
    _export_reload_and_compare(model, tmp_path / 'model', size=48)


@pytest.mark.slow
def test_face_region_heads_read_only_their_half_of_the_map(tmp_path):
    """lower_face_rows on the 6x6 map: each AU unit's weights are zero outside its rows after
    training, and the shipped file is a plain dense layer (no training-time constraint).
    The base here has other widths than the default: stage 2 and the export follow the file."""
    from emotion_ros.training.model import UPPER_FACE_AUS
    metrics = pretrain(SHARED_DATA, tmp_path / 'pre', epochs=1, limit=256, steps=1,
                       widths=(8, 16, 24, 40))
    assert metrics['widths'] == [8, 16, 24, 40]
    model = train_au(SHARED_DATA, tmp_path / 'pre' / 'best.keras', tmp_path / 'au', epochs=2,
                     limit=128, fer_copies=1, ckplus_copies=2, lower_face_rows=3,
                     feature_layer='stage4b_relu', verbose=0)
    assert tuple(model.get_layer('base').output.shape[1:]) == (6, 6, 40)
    kernel = model.get_layer('au').get_weights()[0].reshape(6, 6 * 40, len(AU_CODES))
    for unit, code in enumerate(AU_CODES):
        read, unread = ((slice(0, 3), slice(3, 6)) if code in UPPER_FACE_AUS
                        else (slice(3, 6), slice(0, 3)))
        assert np.all(kernel[unread, :, unit] == 0) and np.any(kernel[read, :, unit] != 0), code
    _export_reload_and_compare(model, tmp_path / 'model', size=48)
    with zipfile.ZipFile(tmp_path / 'model' / 'au_model.keras') as saved:
        assert 'KernelMask' not in saved.read('config.json').decode()


def _export_reload_and_compare(model, directory, size):
    export(model, directory, mirror_average=True)
    loaded = AUModel(directory, max_batch=4)
    assert loaded.au_codes == AU_CODES and loaded.input_size == size and loaded.mirror_average
    faces = load_ckplus(SHARED_DATA)['images'][:10]          # 48 px, resized as in training
    inputs = model_input(faces, size)
    expected = (model.predict(inputs, verbose=0)['au'] +
                model.predict(inputs[:, :, ::-1], verbose=0)['au']) / 2
    got = loaded.predict_proba(faces)           # 5 backend calls: 2 faces + their mirror images
    assert got.shape == (10, len(AU_CODES))
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.slow
def test_interrupted_training_resumes_where_it_stopped(tmp_path):
    command = [sys.executable, '-u', '-m', 'emotion_ros.training.train', 'pretrain',
               '--data', str(SHARED_DATA), '--out', str(tmp_path / 'run'), '--epochs', '3',
               '--limit', '256', '--steps', '2']
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    seen = []
    for line in first.stdout:
        seen.append(line)
        if line.startswith('Epoch 2/3'):   # epoch 1 finished and backed up
            os.killpg(first.pid, signal.SIGKILL)
            break
    first.wait()
    assert any(line.startswith('Epoch 2/3') for line in seen), ''.join(seen)[-3000:]

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert 'Epoch 1/3' not in second.stdout and 'Epoch 2/3' in second.stdout
    with open(tmp_path / 'run' / 'history.csv') as handle:
        epochs = [int(row['epoch']) for row in csv.DictReader(handle)]
    assert epochs == [0, 1, 2]


@pytest.mark.slow
def test_a_second_cycle_starts_from_the_first_ones_weights(tmp_path):
    """--init: the run's starting weights are the given model's (its first evaluation shows it)."""
    pretrain(SHARED_DATA, tmp_path / 'first', epochs=1, limit=256, steps=3)
    first = keras.models.load_model(tmp_path / 'first' / 'best.keras')
    second = pretrain(SHARED_DATA, tmp_path / 'second', epochs=1, limit=256, steps=1,
                      learning_rate=0.0, init=tmp_path / 'first' / 'best.keras', low_resolution=0.5)
    # A zero learning rate leaves the trained weights where --init put them (AdamW's decay
    # scales with it); batch norm's moving statistics still follow the new batches.
    again = keras.models.load_model(tmp_path / 'second' / 'best.keras')
    for before, after in zip(first.trainable_weights, again.trainable_weights):
        np.testing.assert_allclose(before, after, atol=1e-6)
    assert second['init'] == 'best.keras' and second['low_resolution'] == 0.5


def test_knn_build_with_its_calibrations(tmp_path):
    """build_emotion_knn on 300 faces with the shipped AU model: k and metric chosen, the
    calibration, and per small-face width its points and temperature factor, saved and
    reported."""
    import json

    from emotion_ros.emotion_classifier import AUEmotionClassifier
    from emotion_ros.training import build_emotion_knn
    build_emotion_knn.main(['--data', str(SHARED_DATA), '--limit', '300',
                            '--out', str(tmp_path / 'knn.npz'), '--report', str(tmp_path / 'knn.json')])
    classifier = AUEmotionClassifier.load(tmp_path / 'knn.npz', AU_CODES)
    report = json.loads((tmp_path / 'knn.json').read_text())
    assert classifier.calibrated and len(classifier.points) == report['points'] == 300
    assert sorted(classifier.size_temperatures) == list(build_emotion_knn.SMALL_FACE_WIDTHS)
    assert sorted(classifier.size_points) == list(build_emotion_knn.SMALL_FACE_WIDTHS)
    assert all(v.shape == classifier.points.shape for v in classifier.size_points.values())
    # The 16 px faces read differently from full-size ones: their own points differ too.
    assert not np.allclose(classifier.size_points[16], classifier.points, atol=0.01)
    small = report['small_faces']
    assert sorted(small) == sorted(['note', 'neutral_read_negative_at_threshold_full_size',
                                    *map(str, classifier.size_points)])
    for width in build_emotion_knn.SMALL_FACE_WIDTHS:   # a far face: no more false alarms
        row = small[str(width)]
        assert row['temperature_factor'] >= row['temperature_factor_by_log_loss']
        assert (row['neutral_read_negative_at_threshold'] <=
                small['neutral_read_negative_at_threshold_full_size']
                or row['temperature_factor'] >= build_emotion_knn.FACTOR_CEILING)
    assert report['chosen']['k'] == classifier.n_neighbors
    # The 16 px faces are read worst: their confidence is softened most.
    assert classifier.size_temperatures[16] == max(classifier.size_temperatures.values())


def test_rare_au_faces_and_positive_weights_follow_the_ck_plus_counts():
    from emotion_ros.training.train import positive_weights, rare_au_faces
    au = load_ckplus(SHARED_DATA)['au']
    share = au.mean(0)
    rare = rare_au_faces(au, 0.08)
    rare_columns = share <= 0.08
    assert {AU_CODES[i] for i in np.flatnonzero(rare_columns)} == {10, 20, 26}   # 36, 60, 36 of 750
    np.testing.assert_array_equal(rare, np.flatnonzero(au[:, rare_columns].any(1)))
    ratio = (len(au) - au.sum(0)) / au.sum(0)
    np.testing.assert_allclose(positive_weights(au), np.clip(np.sqrt(ratio), 1, 10), rtol=1e-6)
    linear = positive_weights(au, power=1.0)
    assert linear.max() == 10 and np.all(linear >= positive_weights(au))


@pytest.mark.slow
def test_stage2_with_rare_au_copies_trains(tmp_path):
    metrics = pretrain(SHARED_DATA, tmp_path / 'pre', epochs=1, limit=256, steps=1,
                       widths=(8, 16, 24, 40))
    assert metrics['widths'] == [8, 16, 24, 40]
    model = train_au(SHARED_DATA, tmp_path / 'pre' / 'best.keras', tmp_path / 'au', epochs=1,
                     limit=200, fer_copies=1, ckplus_copies=1, rare_au_copies=2,
                     positive_weight_power=1.0, verbose=0)
    au = model.predict(model_input(load_ckplus(SHARED_DATA)['images'][:8], 48), verbose=0)['au']
    assert au.shape == (8, len(AU_CODES)) and np.all((au > 0) & (au < 1))
