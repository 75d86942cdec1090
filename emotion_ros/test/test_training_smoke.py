"""Tiny real runs of the training code: both stages, export, reload, and resume."""
import csv
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED_DATA

from emotion_ros.au_model import AUModel
from emotion_ros.training.data import AU_CODES, load_ckplus
from emotion_ros.training.train import export, pretrain, train_au


@pytest.mark.slow
def test_two_stages_export_and_reload_give_identical_outputs(tmp_path):
    metrics = pretrain(SHARED_DATA, tmp_path / 'pre', epochs=1, limit=256, steps=3)
    for name in ('best.keras', 'history.csv', 'curves.png', 'metrics.json'):
        assert (tmp_path / 'pre' / name).is_file()
    assert 0 <= metrics['fer2013_publictest_accuracy'] <= 1

    model = train_au(SHARED_DATA, tmp_path / 'pre' / 'best.keras', tmp_path / 'au', epochs=1,
                     steps=3, limit=128, verbose=0)
    export(model, tmp_path / 'model')
    loaded = AUModel(tmp_path / 'model', max_batch=4)
    assert loaded.au_codes == AU_CODES
    faces = load_ckplus(SHARED_DATA)['images'][:10]
    expected = model.predict(faces.astype(np.float32)[..., None], verbose=0)['au']
    got = loaded.predict_proba(faces)           # 3 backend calls: 4 + 4 + 2 faces
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
