"""Evaluate the whole chain face image -> AU model -> k-NN emotion.

    python -m emotion_ros.training.evaluate_emotions

1. FER2013 PublicTest (7 classes): every face through the AU model and the
   k-NN classifier (default: both shipped). Accuracy, macro F1, confusion.
2. CK+ (dev subjects, the 6 emotions FER2013 shares; contempt is skipped),
   subject-exclusive: GroupKFold by subject; for each fold the k-NN
   neighbourhood is the classifier's own points plus the CK+ faces of the
   other folds' subjects, and it labels the held-out subjects' faces.
   Caveat: the shipped AU model was trained on all 91 CK+ dev subjects'
   AU codes (stage 2), so only the k-NN step is subject-exclusive here.

Writes metrics.json and a confusion-matrix PNG per data set to --out.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from ..au_model import SHIPPED_MODEL_DIR, AUModel
from ..emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .data import FER_CLASSES, load_ckplus, load_fer2013, subject_folds
from .train import DEFAULT_DATA, REPO


def scores(truth, predicted, labels):
    return {'faces': int(len(truth)),
            'accuracy': float(accuracy_score(truth, predicted)),
            'macro_f1': float(f1_score(truth, predicted, labels=list(labels), average='macro',
                                       zero_division=0)),
            'labels': list(labels),
            'confusion': confusion_matrix(truth, predicted, labels=list(labels)).tolist()}


def plot_confusion(result: dict, title: str, png: Path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    counts = np.array(result['confusion'], float)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    labels = result['labels']
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(rates, cmap='Blues', vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f'{rates[i, j]:.2f}', ha='center', va='center', fontsize=7,
                    color='white' if rates[i, j] > 0.5 else 'black')
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha='right')
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true (rows sum to 1)')
    ax.set_title(f"{title}: accuracy {result['accuracy']:.3f}, macro F1 {result['macro_f1']:.3f}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def evaluate_fer(model: AUModel, classifier: AUEmotionClassifier, data_dir: Path,
                 limit: int | None = None):
    images, labels = load_fer2013(data_dir, 'PublicTest')
    if limit:
        images, labels = images[:limit], labels[:limit]
    predicted = classifier.predict(model.predict_proba(images))
    return scores(np.array(FER_CLASSES)[labels], predicted, FER_CLASSES)


def evaluate_ckplus(model: AUModel, classifier: AUEmotionClassifier, data_dir: Path,
                    folds: int = 5, seed: int = 1):
    ckplus = load_ckplus(data_dir)
    keep = ckplus['emotions'] >= 0
    vectors = model.predict_proba(ckplus['images'][keep])
    truth = np.array(FER_CLASSES)[ckplus['emotions'][keep]]
    subjects = ckplus['subjects'][keep]
    predicted = np.empty_like(truth)
    for train_rows, test_rows in subject_folds(subjects, folds, seed):
        fold_classifier = AUEmotionClassifier(classifier.au_codes, classifier.n_neighbors,
                                              classifier.metric)
        fold_classifier.fit(np.concatenate([classifier.points, vectors[train_rows]]),
                            np.concatenate([classifier.point_labels, truth[train_rows]]))
        predicted[test_rows] = fold_classifier.predict(vectors[test_rows])
    present = [label for label in FER_CLASSES if label in set(truth)]
    result = scores(truth, predicted, present)
    result.update({'subjects': int(len(set(subjects))), 'folds': folds})
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR, help='AU model directory')
    parser.add_argument('--classifier', type=Path, default=SHIPPED_CLASSIFIER_PATH,
                        help='k-NN .npz')
    parser.add_argument('--out', type=Path, default=REPO / 'results' / 'emotion_evaluation')
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--limit', type=int, help='smoke runs: the first faces of PublicTest only')
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    classifier = AUEmotionClassifier.load(args.classifier, model.au_codes)
    report = {
        'command': ' '.join(['python -m emotion_ros.training.evaluate_emotions',
                             *(sys.argv[1:] if argv is None else argv)]),
        'classifier': {'points': int(len(classifier.points)), 'k': classifier.n_neighbors,
                       'metric': classifier.metric},
        'fer2013_publictest': evaluate_fer(model, classifier, args.data, args.limit),
        'ckplus_subject_cv': evaluate_ckplus(model, classifier, args.data, args.folds),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    plot_confusion(report['fer2013_publictest'], 'FER2013 PublicTest',
                   args.out / 'confusion_fer2013.png')
    plot_confusion(report['ckplus_subject_cv'], 'CK+ subject CV', args.out / 'confusion_ckplus.png')
    for name in ('fer2013_publictest', 'ckplus_subject_cv'):
        print(f"{name}: accuracy {report[name]['accuracy']:.3f}, "
              f"macro F1 {report[name]['macro_f1']:.3f} ({report[name]['faces']} faces)")
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
