"""Build the k-NN emotion classifier from the AU vectors of labelled faces.

    python -m emotion_ros.training.build_emotion_knn \
        --out emotion_ros/emotion_ros/models/emotion_knn.npz

The AU model (default: the shipped one) turns every FER2013 Training face
into an AU vector; those vectors with their emotion labels are the
neighbourhood. k and the metric are chosen by accuracy on FER2013
PublicTest (validation data, never the held-out test set). Writes the
classifier and a JSON of the selection beside it in results/.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from ..au_model import SHIPPED_MODEL_DIR, AUModel
from ..emotion_classifier import AUEmotionClassifier
from .data import FER_CLASSES, load_fer2013
from .train import DEFAULT_DATA, REPO

K_CANDIDATES = (5, 11, 21, 41, 81, 161)
METRICS = ('euclidean', 'manhattan')


def fer_au_vectors(model: AUModel, data_dir: Path, split: str, limit: int | None = None):
    images, labels = load_fer2013(data_dir, split)
    if limit:
        rows = np.random.default_rng(0).permutation(len(images))[:limit]
        images, labels = images[rows], labels[rows]
    return model.predict_proba(images), np.array(FER_CLASSES)[labels]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--report', type=Path, default=REPO / 'results' / 'emotion_knn_selection.json')
    parser.add_argument('--limit', type=int, help='smoke runs: a subset of the faces')
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    train_x, train_y = fer_au_vectors(model, args.data, 'Training', args.limit)
    val_x, val_y = fer_au_vectors(model, args.data, 'PublicTest', args.limit)
    trials = []
    for metric in METRICS:
        for k in K_CANDIDATES:
            classifier = AUEmotionClassifier(model.au_codes, k, metric).fit(train_x, train_y)
            predicted = classifier.predict(val_x)
            trials.append({'k': k, 'metric': metric,
                           'publictest_accuracy': float(accuracy_score(val_y, predicted)),
                           'publictest_macro_f1': float(f1_score(val_y, predicted, average='macro'))})
            print(json.dumps(trials[-1]), flush=True)
    best = max(trials, key=lambda t: t['publictest_accuracy'])
    classifier = AUEmotionClassifier(model.au_codes, best['k'], best['metric']).fit(train_x, train_y)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(args.out)
    report = {'command': ' '.join(['python -m emotion_ros.training.build_emotion_knn',
                                   *(sys.argv[1:] if argv is None else argv)]),
              'points': int(len(train_x)), 'labels': list(classifier.labels), 'chosen': best,
              'trials': trials}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + '\n')
    print(f"chose k={best['k']} {best['metric']}: PublicTest accuracy "
          f"{best['publictest_accuracy']:.3f}; saved {args.out} (speed: scripts/benchmark_emotion.py)")


if __name__ == '__main__':
    main()
