"""Evaluate the AU model: subject-exclusive CV on CK+ and an emotion probe on FER+.

    python -m emotion_ros.training.evaluate --out results/au_evaluation

1. Cross-validation: CK+ subjects are split into k folds (GroupKFold by
   subject); for each fold, stage 2 is trained from the stage-1 base on the
   other folds' subjects (plus FER2013 Training with FER+ votes) exactly as the shipped model
   was, and predicts the held-out subjects. Per-AU F1, precision, recall
   (presence at probability >= 0.5) and ROC AUC over all out-of-fold
   predictions, and their means over every AU (none dropped); F1 with 95%
   intervals from resampling subjects.
2. The CK+ chain with nothing of the held-out subjects in it: each fold's
   AU model, and a k-NN (the shipped k, metric and calibration) over that
   model's vectors of the FER+ Training faces and the other folds' CK+
   faces, read the held-out faces' emotions (evaluate_emotions' CK+ figure
   uses the shipped AU model, trained on every CK+ subject).
3. Emotion probe: the shipped model's AU vectors of FER2013 Training fit a
   logistic regression to the FER+ majority; its accuracy on PublicTest
   (FER+ majority) says how well the AU vector alone separates the 7
   emotions (what the k-NN stage relies on); also without the PublicTest
   faces that are near-copies of Training faces.

Writes metrics.json and au_f1.png to --out; fold results are kept in
--work so an interrupted run resumes, with the configuration that made
them (base and classifier file hashes, folds, epochs, seed): a run with
another configuration refuses them.
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..au_model import SHIPPED_MODEL_DIR, AUModel, model_input
from ..emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .data import AU_CODES, FER_CLASSES, load_ckplus, load_ferplus_faces, select, subject_folds
from .evaluate_emotions import SELECTION, figure_text, near_copies, scores, with_neighbourhood
from .intervals import bootstrap_interval
from .train import (DEFAULT_BASE, DEFAULT_DATA, FEATURE_LAYER, LOWER_FACE_ROWS,
                    POSITIVE_WEIGHT_POWER, REPO,
                    base_features, fer_features, load_base, train_au)

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


def coding_by_emotion(ckplus: dict, probabilities: np.ndarray, au_codes, threshold: float = 0.5) -> dict:
    """The subjects showing each CK+ emotion and, for each AU and emotion, how many of them were
    coded with the AU and the model's false alarms of the AU on that emotion's faces. Says where
    an AU's coding, not the model, limits it (CK+ codes AU10 in few of the disgust faces that
    show AU9, whose FACS rules overlap)."""
    names = np.array([*FER_CLASSES, 'contempt or none'])
    emotions = names[np.where(ckplus['emotions'] >= 0, ckplus['emotions'], len(FER_CLASSES))]
    rows_of = {str(name): emotions == name for name in names if (emotions == name).any()}
    subjects = ckplus['subjects']
    present = ckplus['au'] > 0.5
    false = (probabilities >= threshold) & ~present

    def coded(rows):
        return int(len(set(subjects[rows])))

    return {'subjects': {name: coded(rows) for name, rows in rows_of.items()},
            'per_au': {f'AU{code}': {'subjects_coded': coded(present[:, i]), 'by_emotion': {
                name: {'subjects_coded': coded(rows & present[:, i]),
                       'false_positives': int(false[rows, i].sum())}
                for name, rows in rows_of.items()}} for i, code in enumerate(au_codes)}}


def fold_configuration(base: Path, classifier: Path, folds: int, epochs: int, seed: int,
                       limit: int | None, lower_face_rows: int = LOWER_FACE_ROWS,
                       feature_layer: str = FEATURE_LAYER, stage2: dict | None = None) -> str:
    """What a cached fold depends on, as JSON: a fold file made otherwise is stale."""
    return json.dumps({'base_sha256': file_sha256(base), 'classifier_sha256': file_sha256(classifier),
                       'folds': folds, 'epochs': epochs, 'seed': seed, 'limit': limit,
                       'fer_copies': FER_COPIES, 'au_codes': list(AU_CODES),
                       'lower_face_rows': lower_face_rows, 'feature_layer': feature_layer,
                       **(stage2 or {})},
                      sort_keys=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class NeighbourhoodFeatures:
    """The frozen base's features of the faces a fold's k-NN is built from and reads (FER+-rated
    Training faces, every CK+ face), each with its mirror image: computed once, then each fold's
    AU layer turns them into that fold's AU vectors, mirror-averaged as the shipped model is."""

    def __init__(self, base, data_dir: Path, ckplus: dict, limit: int | None = None):
        images, _, majority = load_ferplus_faces(data_dir, 'Training')
        if limit:
            images, majority = images[::len(images) // limit], majority[::len(majority) // limit]
        self.fer_labels = np.array(FER_CLASSES)[majority]
        self.fer = self._features(base, images)
        self.ckplus = self._features(base, ckplus['images'])

    @staticmethod
    def _features(base, images):
        return [base_features(base, faces).reshape(len(faces), -1)
                for faces in (images, images[:, :, ::-1].copy())]

    @staticmethod
    def au_vectors(model, features) -> np.ndarray:
        """What the fold model's AU layer (dense + sigmoid on the flattened features) gives."""
        weights, bias = model.get_layer('au').get_weights()
        return np.mean([1 / (1 + np.exp(-(f @ weights + bias))) for f in features], axis=0)


def fold_chain(model, neighbourhood: NeighbourhoodFeatures, shipped: AUEmotionClassifier,
               ckplus: dict, train_rows, test_rows) -> np.ndarray:
    """The held-out faces' emotions through the fold's own AU model and a k-NN (the shipped k,
    metric and calibration) over the fold model's vectors of the FER+ faces and of the other
    folds' CK+ faces: the chain with nothing of the held-out subjects in it. '' where the CK+
    face has no FER2013 emotion (contempt)."""
    ck_vectors = NeighbourhoodFeatures.au_vectors(model, [f for f in neighbourhood.ckplus])
    emotions = ckplus['emotions']
    known = train_rows[emotions[train_rows] >= 0]
    classifier = with_neighbourhood(
        shipped, np.concatenate([NeighbourhoodFeatures.au_vectors(model, neighbourhood.fer),
                                 ck_vectors[known]]),
        np.concatenate([neighbourhood.fer_labels, np.array(FER_CLASSES)[emotions[known]]]))
    predicted = np.full(len(test_rows), '', dtype=object)
    rated = emotions[test_rows] >= 0
    predicted[rated] = classifier.predict(ck_vectors[test_rows][rated])
    return predicted.astype(str)


def cross_validate(data_dir: Path, base: Path, classifier_path: Path, work: Path, folds: int,
                   epochs: int, seed: int, limit: int | None = None,
                   lower_face_rows: int = LOWER_FACE_ROWS, feature_layer: str = FEATURE_LAYER,
                   stage2: dict | None = None):
    """Out-of-fold AU probabilities and chain emotions for every CK+ image, and the fold of each.

    stage2: more train_au options (rare_au_copies, positive_weight_power) for every fold.

    Fold results are cached in `work` with the configuration that made them;
    a cached fold made with another base, classifier or setting is refused.
    """
    ckplus = load_ckplus(data_dir)
    if limit:
        ckplus = select(ckplus, np.arange(0, len(ckplus['images']), max(1, len(ckplus['images']) // limit)))
    configuration = fold_configuration(base, classifier_path, folds, epochs, seed, limit,
                                       lower_face_rows, feature_layer, stage2)
    shipped = AUEmotionClassifier.load(classifier_path, AU_CODES)
    # The FER half of stage 2 and the k-NN's features are the same for every fold: once.
    fer_data = neighbourhood = None
    probabilities = np.zeros_like(ckplus['au'])
    chain = np.full(len(ckplus['au']), '', dtype=object)
    fold_of = np.zeros(len(ckplus['au']), int)
    for fold, (train_rows, test_rows) in enumerate(subject_folds(ckplus['subjects'], folds, seed)):
        assert not set(ckplus['subjects'][train_rows]) & set(ckplus['subjects'][test_rows])
        saved = work / f'fold{fold}.npz'
        if saved.is_file():
            with np.load(saved) as cached:
                if 'configuration' not in cached or str(cached['configuration']) != configuration \
                        or not np.array_equal(cached['rows'], test_rows):
                    raise SystemExit(f'{saved} was made with another configuration than this run\'s '
                                     f'({configuration}): delete {work} or pass another --work')
                fold_probabilities, fold_chain_labels = cached['probabilities'], cached['chain']
        else:
            print(f'fold {fold + 1}/{folds}: training on {len(set(ckplus["subjects"][train_rows]))} '
                  f'subjects, testing on {len(set(ckplus["subjects"][test_rows]))}', flush=True)
            if fer_data is None:
                frozen = load_base(base, feature_layer)
                fer_data = fer_features(frozen, data_dir, FER_COPIES, seed, limit)
                neighbourhood = NeighbourhoodFeatures(frozen, data_dir, ckplus, limit)
            model = train_au(data_dir, base, work / f'fold{fold}', epochs,
                             ckplus=select(ckplus, train_rows), fer_copies=FER_COPIES, seed=seed,
                             limit=limit, fer_data=fer_data, lower_face_rows=lower_face_rows,
                             feature_layer=feature_layer, verbose=0, **(stage2 or {}))
            faces = model_input(ckplus['images'][test_rows], int(model.input.shape[1]))
            fold_probabilities = model.predict(faces, verbose=0)['au']
            fold_chain_labels = fold_chain(model, neighbourhood, shipped, ckplus, train_rows, test_rows)
            np.savez(saved, probabilities=fold_probabilities, rows=test_rows, chain=fold_chain_labels,
                     configuration=configuration)
        probabilities[test_rows] = fold_probabilities
        chain[test_rows] = fold_chain_labels
        fold_of[test_rows] = fold
    return ckplus, probabilities, chain.astype(str), fold_of


def emotion_probe(data_dir: Path, model_dir: Path, limit: int | None = None):
    """Logistic regression from AU vectors to the FER+ majority (7 emotions): PublicTest
    accuracy, on all faces and on those without a near-copy among the Training faces."""
    model = AUModel(model_dir, max_batch=256)
    train_x, _, train_y = load_ferplus_faces(data_dir, 'Training')
    test_x, _, test_y = load_ferplus_faces(data_dir, 'PublicTest')
    if limit:
        train_x, train_y = train_x[::len(train_x) // limit], train_y[::len(train_y) // limit]
        test_x, test_y = test_x[::len(test_x) // limit], test_y[::len(test_y) // limit]
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(model.predict_proba(train_x), train_y)
    names = np.array(FER_CLASSES)
    truth, predicted = names[test_y], names[probe.predict(model.predict_proba(test_x))]
    clean = ~near_copies(test_x, train_x)
    return {**scores(truth, predicted, FER_CLASSES),
            'without_near_copies': {**scores(truth[clean], predicted[clean], FER_CLASSES),
                                    'near_copies': int((~clean).sum())},
            'train_images': int(len(train_x))}


def au_f1_intervals(truth: np.ndarray, probabilities: np.ndarray, subjects, au_codes,
                    threshold: float = 0.5) -> dict:
    """95% intervals of each AU's F1 and of their mean, resampling whole subjects."""
    present = truth > 0.5

    def f1_of(rows):
        predicted, actual = probabilities[rows] >= threshold, present[rows]
        tp = (predicted & actual).sum(0)
        wrong = (predicted != actual).sum(0)
        return np.where(2 * tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)

    intervals = {f'AU{code}': bootstrap_interval(lambda rows, i=i: f1_of(rows)[i], len(truth), subjects)
                 for i, code in enumerate(au_codes)}
    intervals['mean'] = bootstrap_interval(lambda rows: f1_of(rows).mean(), len(truth), subjects)
    return intervals


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
    parser.add_argument('--classifier', type=Path, default=SHIPPED_CLASSIFIER_PATH,
                        help='k-NN whose k, metric and calibration the CK+ chain uses')
    parser.add_argument('--out', type=Path, default=REPO / 'results' / 'au_evaluation')
    parser.add_argument('--work', type=Path, default=REPO / 'runs' / 'au_cv')
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--limit', type=int, help='smoke runs: a subset of the images')
    parser.add_argument('--lower-face-rows', type=int, default=LOWER_FACE_ROWS,
                        help='stage 2 as train au --lower-face-rows')
    parser.add_argument('--feature-layer', default=FEATURE_LAYER,
                        help='stage 2 as train au --feature-layer')
    parser.add_argument('--rare-au-copies', type=int, default=0,
                        help='stage 2 as train au --rare-au-copies')
    parser.add_argument('--positive-weight-power', type=float, default=POSITIVE_WEIGHT_POWER,
                        help='stage 2 as train au --positive-weight-power')
    args = parser.parse_args(argv)
    # Only options off their default enter the fold configuration: the shipped recipe's
    # cached folds stay valid.
    stage2 = {name: value for name, value, default in (
        ('rare_au_copies', args.rare_au_copies, 0),
        ('positive_weight_power', args.positive_weight_power, POSITIVE_WEIGHT_POWER)) if value != default}
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)

    ckplus, probabilities, chain, fold_of = cross_validate(
        args.data, args.base, args.classifier, args.work, args.folds, args.epochs, args.seed, args.limit,
        args.lower_face_rows, args.feature_layer, stage2)
    per_au, means = au_metrics(ckplus['au'], probabilities, AU_CODES)
    intervals = au_f1_intervals(ckplus['au'], probabilities, ckplus['subjects'], AU_CODES)
    for name, interval in intervals.items():
        (per_au[name] if name in per_au else means)['f1_interval_95'] = interval
    fold_f1 = [au_metrics(ckplus['au'][fold_of == k], probabilities[fold_of == k], AU_CODES)[1]['f1']
               for k in range(args.folds)]
    rated = chain != ''
    chain_truth = np.array(FER_CLASSES)[ckplus['emotions'][rated]]
    chain_scores = scores(chain_truth, chain[rated], [c for c in FER_CLASSES if c in set(chain_truth)],
                          groups=ckplus['subjects'][rated])
    probe = emotion_probe(args.data, args.model, args.limit)
    report = {
        'command': ' '.join(['python -m emotion_ros.training.evaluate', *(sys.argv[1:] if argv is None else argv)]),
        'selection': SELECTION,
        'ckplus_cv': {'folds': args.folds, 'split': 'by subject (GroupKFold)',
                      'images': int(len(probabilities)),
                      'subjects': int(len(set(ckplus['subjects']))), 'threshold': 0.5,
                      'stage2_epochs': args.epochs, 'stage2_options': stage2,
                      'mean': means, 'fold_mean_f1': fold_f1, 'per_au': per_au,
                      'coding_by_emotion': coding_by_emotion(ckplus, probabilities, AU_CODES)},
        'ckplus_chain_au_model_held_out': {
            **chain_scores, 'subjects': int(len(set(ckplus['subjects'][rated]))),
            'how': 'per fold: the fold\'s AU model (trained without the held-out subjects) and a '
                   'k-NN over its vectors of the FER+ Training faces and the other folds\' CK+ faces'},
        'ferplus_emotion_probe': probe,
    }
    (args.out / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    plot_per_au(per_au, means, args.out / 'au_f1.png')
    low, high = means['f1_interval_95']
    print(f"CK+ {args.folds}-fold subject CV: mean F1 {means['f1']:.3f} [{low:.3f}, {high:.3f}], "
          f"precision {means['precision']:.3f}, recall {means['recall']:.3f}, ROC AUC {means['roc_auc']:.3f}")
    for name, m in per_au.items():
        low, high = m['f1_interval_95']
        print(f"  {name:<5} F1 {m['f1']:.3f} [{low:.3f}, {high:.3f}]  P {m['precision']:.3f}  "
              f"R {m['recall']:.3f}  AUC {m['roc_auc'] if m['roc_auc'] is None else round(m['roc_auc'], 3)}"
              f"  (n={m['positives']})")
    print(f"CK+ chain, AU model and k-NN held out per fold: accuracy {figure_text(chain_scores)}, "
          f"macro F1 {figure_text(chain_scores, 'macro_f1')}")
    print(f"FER+ PublicTest, logistic probe on the AU vector: accuracy {figure_text(probe)}; without "
          f"{probe['without_near_copies']['near_copies']} near-copies {figure_text(probe['without_near_copies'])}")
    print(f"selection: {SELECTION}")
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
