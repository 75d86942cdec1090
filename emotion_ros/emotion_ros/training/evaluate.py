"""Evaluate the AU model: subject-exclusive CV on CK+ and an emotion probe on FER+.

    python -m emotion_ros.training.evaluate --out results/au_evaluation

1. Cross-validation: CK+ subjects are split into k folds (GroupKFold by
   subject); for each fold, stage 2 is trained from the stage-1 base on the
   other folds' subjects (plus FER2013 Training with FER+ votes) exactly as the shipped model
   was, and predicts the held-out subjects. Per-AU F1, precision, recall
   (presence at probability >= 0.5) and ROC AUC over all out-of-fold
   predictions, and their means over every AU (none dropped).
2. Emotion probe: the shipped model's AU vectors of FER2013 Training fit a
   logistic regression to the FER+ majority; its accuracy on PublicTest
   (FER+ majority) says how well the AU vector alone separates the 7
   emotions (what the k-NN stage relies on).

Writes metrics.json and au_f1.png to --out; fold predictions are kept in
--work so an interrupted run resumes.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, f1_score, precision_score, recall_score,
                             roc_auc_score)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..au_model import SHIPPED_MODEL_DIR, AUModel, model_input
from .data import AU_CODES, FER_CLASSES, load_ckplus, load_ferplus_faces, select, subject_folds
from .train import DEFAULT_BASE, DEFAULT_DATA, REPO, fer_features, load_base, train_au

FER_COPIES = 2      # as train_au's default, the shipped model's recipe


def au_metrics(truth: np.ndarray, probabilities: np.ndarray, au_codes, threshold: float = 0.5):
    """Per-AU and mean F1, precision, recall (at threshold) and ROC AUC."""
    predicted = probabilities >= threshold
    per_au = {}
    for i, code in enumerate(au_codes):
        t, p = truth[:, i], predicted[:, i]
        per_au[f'AU{code}'] = {
            'positives': int(t.sum()),
            'f1': float(f1_score(t, p, zero_division=0)),
            'precision': float(precision_score(t, p, zero_division=0)),
            'recall': float(recall_score(t, p, zero_division=0)),
            'roc_auc': float(roc_auc_score(t, probabilities[:, i])) if 0 < t.sum() < len(t) else None,
        }
    means = {name: float(np.mean([m[name] for m in per_au.values() if m[name] is not None]))
             for name in ('f1', 'precision', 'recall', 'roc_auc')}
    return per_au, means


def cross_validate(data_dir: Path, base: Path, work: Path, folds: int, epochs: int, seed: int,
                   limit: int | None = None):
    """Out-of-fold AU probabilities for every CK+ image, and the fold of each."""
    ckplus = load_ckplus(data_dir)
    if limit:
        ckplus = select(ckplus, np.arange(0, len(ckplus['images']), max(1, len(ckplus['images']) // limit)))
    # The FER half of stage 2 is the same for every fold: its features once.
    fer_data = None
    probabilities = np.zeros_like(ckplus['au'])
    fold_of = np.zeros(len(ckplus['au']), int)
    for fold, (train_rows, test_rows) in enumerate(subject_folds(ckplus['subjects'], folds, seed)):
        assert not set(ckplus['subjects'][train_rows]) & set(ckplus['subjects'][test_rows])
        saved = work / f'fold{fold}.npz'
        if saved.is_file():
            fold_probabilities = np.load(saved)['probabilities']
        else:
            print(f'fold {fold + 1}/{folds}: training on {len(set(ckplus["subjects"][train_rows]))} '
                  f'subjects, testing on {len(set(ckplus["subjects"][test_rows]))}', flush=True)
            fer_data = fer_data or fer_features(load_base(base), data_dir, FER_COPIES, seed, limit)
            model = train_au(data_dir, base, work / f'fold{fold}', epochs,
                             ckplus=select(ckplus, train_rows), fer_copies=FER_COPIES, seed=seed,
                             limit=limit, fer_data=fer_data, verbose=0)
            faces = model_input(ckplus['images'][test_rows], int(model.input.shape[1]))
            fold_probabilities = model.predict(faces, verbose=0)['au']
            np.savez(saved, probabilities=fold_probabilities, rows=test_rows)
        probabilities[test_rows] = fold_probabilities
        fold_of[test_rows] = fold
    return ckplus, probabilities, fold_of


def emotion_probe(data_dir: Path, model_dir: Path, limit: int | None = None):
    """Logistic regression from AU vectors to the FER+ majority (7 emotions): PublicTest accuracy."""
    model = AUModel(model_dir, max_batch=256)
    train_x, _, train_y = load_ferplus_faces(data_dir, 'Training')
    test_x, _, test_y = load_ferplus_faces(data_dir, 'PublicTest')
    if limit:
        train_x, train_y = train_x[::len(train_x) // limit], train_y[::len(train_y) // limit]
        test_x, test_y = test_x[::len(test_x) // limit], test_y[::len(test_y) // limit]
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(model.predict_proba(train_x), train_y)
    predicted = probe.predict(model.predict_proba(test_x))
    return {'accuracy': float(accuracy_score(test_y, predicted)),
            'macro_f1': float(f1_score(test_y, predicted, average='macro')),
            'classes': list(FER_CLASSES), 'train_images': int(len(train_x)),
            'test_images': int(len(test_x))}


def plot_per_au(per_au: dict, means: dict, png: Path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(per_au)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(12, 4))
    for offset, metric in ((-0.27, 'precision'), (0.0, 'f1'), (0.27, 'recall')):
        ax.bar(x + offset, [per_au[n][metric] for n in names], 0.27, label=metric)
    ax.axhline(means['f1'], color='k', linestyle='--', linewidth=1, label=f"mean F1 {means['f1']:.3f}")
    ax.set_xticks(x, [f"{n}\n({per_au[n]['positives']})" for n in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel('score')
    ax.set_title('CK+ subject-exclusive CV: per-AU scores (positives in brackets)')
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--base', type=Path, default=DEFAULT_BASE, help='stage-1 model')
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR, help='model for the probe')
    parser.add_argument('--out', type=Path, default=REPO / 'results' / 'au_evaluation')
    parser.add_argument('--work', type=Path, default=REPO / 'runs' / 'au_cv')
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--limit', type=int, help='smoke runs: a subset of the images')
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)

    ckplus, probabilities, fold_of = cross_validate(args.data, args.base, args.work, args.folds,
                                                    args.epochs, args.seed, args.limit)
    per_au, means = au_metrics(ckplus['au'], probabilities, AU_CODES)
    fold_f1 = [au_metrics(ckplus['au'][fold_of == k], probabilities[fold_of == k], AU_CODES)[1]['f1']
               for k in range(args.folds)]
    probe = emotion_probe(args.data, args.model, args.limit)
    report = {
        'command': ' '.join(['python -m emotion_ros.training.evaluate', *(sys.argv[1:] if argv is None else argv)]),
        'ckplus_cv': {'folds': args.folds, 'split': 'by subject (GroupKFold)',
                      'images': int(len(probabilities)),
                      'subjects': int(len(set(ckplus['subjects']))), 'threshold': 0.5,
                      'stage2_epochs': args.epochs,
                      'mean': means, 'fold_mean_f1': fold_f1, 'per_au': per_au},
        'ferplus_emotion_probe': probe,
    }
    (args.out / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    plot_per_au(per_au, means, args.out / 'au_f1.png')
    print(f"CK+ {args.folds}-fold subject CV: mean F1 {means['f1']:.3f}, precision "
          f"{means['precision']:.3f}, recall {means['recall']:.3f}, ROC AUC {means['roc_auc']:.3f}")
    for name, m in per_au.items():
        print(f"  {name:<5} F1 {m['f1']:.3f}  P {m['precision']:.3f}  R {m['recall']:.3f}  "
              f"AUC {m['roc_auc'] if m['roc_auc'] is None else round(m['roc_auc'], 3)}  (n={m['positives']})")
    print(f"FER+ PublicTest, logistic probe on the AU vector: accuracy {probe['accuracy']:.3f}, "
          f"macro F1 {probe['macro_f1']:.3f}")
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
