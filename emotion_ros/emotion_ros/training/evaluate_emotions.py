"""Evaluate the whole chain face image -> AU model -> k-NN emotion.

    python -m emotion_ros.training.evaluate_emotions      # make evaluate-emotions

1. FER2013 PublicTest through the chain (default: the shipped AU model and
   k-NN), against two label sets:
   - the FER+ majority of 10 taggers (faces whose majority is one of the 7
     emotions): accuracy, macro F1, recall of each class, confusion;
     also without the PublicTest faces that are near-copies of Training
     faces (mean absolute difference <= 3 grey levels), which the k-NN
     looks up rather than reads;
   - FER2013's own single labels (every face), as a second measure, beside
     the score of the FER+ majority itself against them: what a reader
     that agrees with the 10 taggers on every face would score.
2. What a care robot acts on: of FER+-neutral faces, the share read as sad,
   fear or angry, at any confidence and with confidence >= the emotion
   node's default event threshold, beside the recall of each negative
   emotion at that threshold; the same for every threshold as a curve
   (false_alarms.png). Calibration: expected calibration error of the top
   label's confidence, with the shipped calibration and without it (the raw
   k-NN vote shares); and, since the shipped calibration was fitted on
   PublicTest, the same figures with each half of PublicTest calibrated on
   the other half (`cross_fitted`).
3. CK+ (dev subjects, the 6 emotions FER2013 shares; contempt is skipped),
   subject-exclusive: GroupKFold by subject; for each fold the k-NN
   neighbourhood is the classifier's own points plus the CK+ faces of the
   other folds' subjects, and it labels the held-out subjects' faces.
   Caveat: the shipped AU model was trained on all 91 CK+ dev subjects'
   AU codes (stage 2), so only the k-NN step is subject-exclusive here.

Writes metrics.json and PNGs (confusions, false-alarm curve) to --out.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from ..au_model import SHIPPED_MODEL_DIR, AUModel
from ..emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from ..sustained_emotion import EVENT_MIN_CONFIDENCE
from .data import FER_CLASSES, load_ckplus, load_fer2013, load_ferplus, subject_folds
from .intervals import bootstrap_interval, mean_rate
from .train import DEFAULT_DATA, REPO

NEGATIVE = ('sad', 'fear', 'angry')          # the watched emotions the shipped k-NN can give
NEAR_COPY_GREY_LEVELS = 3.0
THRESHOLDS = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def scores(truth, predicted, labels, groups=None):
    """Accuracy and macro F1 (each with its 95% bootstrap interval, by `groups` when given),
    recall of each label, confusion counts."""
    labels = list(labels)
    truth, predicted = np.asarray(truth), np.asarray(predicted)

    def macro_f1(rows):
        return f1_score(truth[rows], predicted[rows], labels=labels, average='macro', zero_division=0)

    every = np.arange(len(truth))
    return {'faces': int(len(truth)),
            'accuracy': float(accuracy_score(truth, predicted)),
            'accuracy_interval_95': bootstrap_interval(
                lambda rows: np.mean(truth[rows] == predicted[rows]), len(truth), groups),
            'macro_f1': float(macro_f1(every)),
            'macro_f1_interval_95': bootstrap_interval(macro_f1, len(truth), groups, repeats=300),
            'recall': dict(zip(labels, map(float, recall_score(truth, predicted, labels=labels,
                                                               average=None, zero_division=0)))),
            'labels': labels,
            'confusion': confusion_matrix(truth, predicted, labels=labels).tolist()}


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


def near_copies(images: np.ndarray, reference: np.ndarray, grey_levels: float = NEAR_COPY_GREY_LEVELS,
                chunk: int = 512) -> np.ndarray:
    """Which `images` lie within a mean absolute difference of `grey_levels` of a `reference` face.

    Compared first as 8x8 block means (their difference is never larger than
    the pixels', so no near-copy is missed), then pixel by pixel.
    """
    def blocks(faces):
        return faces.reshape(len(faces), 8, faces.shape[1] // 8, 8, faces.shape[2] // 8) \
            .mean((2, 4)).reshape(len(faces), -1)

    coarse_reference = blocks(reference.astype(np.float32))
    flat_reference = reference.reshape(len(reference), -1).astype(np.float32)
    found = np.zeros(len(images), bool)
    for start in range(0, len(images), chunk):
        batch = images[start:start + chunk].astype(np.float32)
        coarse = cdist(blocks(batch), coarse_reference, 'cityblock') / 64
        for row, candidates in enumerate(coarse <= grey_levels):
            if candidates.any():
                distance = np.abs(flat_reference[candidates] - batch[row].ravel()).mean(1)
                found[start + row] = distance.min() <= grey_levels
    return found


def expected_calibration_error(confidence, correct, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their faces."""
    edges = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = edges == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def acting_on(labels, probabilities, truth, threshold: float = EVENT_MIN_CONFIDENCE) -> dict:
    """False alarms on FER+-neutral faces and recall of each negative emotion at `threshold`."""
    labels = np.asarray(labels)
    predicted = labels[probabilities.argmax(1)]
    confidence = probabilities.max(1)
    neutral = truth == 'neutral'
    negative_read = np.isin(predicted, NEGATIVE)
    result = {'threshold': threshold,
              'neutral_faces': int(neutral.sum()),
              'neutral_read_negative': float(negative_read[neutral].mean()),
              'neutral_read_negative_at_threshold':
                  float((negative_read & (confidence >= threshold))[neutral].mean())}
    for emotion in NEGATIVE:
        rows = truth == emotion
        result[f'{emotion}_recall'] = float((predicted[rows] == emotion).mean())
        result[f'{emotion}_recall_at_threshold'] = float(
            ((predicted == emotion) & (confidence >= threshold))[rows].mean())
    correct = predicted == truth
    result['expected_calibration_error'] = expected_calibration_error(confidence, correct)
    return result


def acting_on_intervals(labels, probabilities, truth, threshold: float = EVENT_MIN_CONFIDENCE):
    """acting_on's rates with their 95% bootstrap intervals (faces resampled)."""
    labels = np.asarray(labels)
    predicted = labels[probabilities.argmax(1)]
    confident = probabilities.max(1) >= threshold
    result = {'threshold': threshold, 'neutral_read_negative_at_threshold': mean_rate(
        (np.isin(predicted, NEGATIVE) & confident)[truth == 'neutral'])}
    for emotion in NEGATIVE:
        rows = truth == emotion
        result[f'{emotion}_recall'] = mean_rate(predicted[rows] == emotion)
        result[f'{emotion}_recall_at_threshold'] = mean_rate(((predicted == emotion) & confident)[rows])
    return result


def false_alarm_curve(labels, probabilities, truth) -> list[dict]:
    rows = []
    for threshold in THRESHOLDS:
        result = acting_on(labels, probabilities, truth, float(threshold))
        rows.append({key: result[key] for key in
                     ('threshold', 'neutral_read_negative_at_threshold', 'sad_recall_at_threshold',
                      'fear_recall_at_threshold', 'angry_recall_at_threshold')})
    return rows


def plot_false_alarms(curves: dict, png: Path, threshold: float = EVENT_MIN_CONFIDENCE):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, curve), style in zip(curves.items(), ('-', '--')):
        t = [row['threshold'] for row in curve]
        axes[0].plot(t, [row['neutral_read_negative_at_threshold'] for row in curve], 'k' + style,
                     label=f'FER+-neutral read sad/fear/angry ({name})')
        for emotion, colour in zip(NEGATIVE, ('tab:blue', 'tab:purple', 'tab:red')):
            axes[0].plot(t, [row[f'{emotion}_recall_at_threshold'] for row in curve], style,
                         color=colour, label=f'{emotion} recall ({name})')
        axes[1].plot([row['neutral_read_negative_at_threshold'] for row in curve],
                     [row['sad_recall_at_threshold'] for row in curve], 'tab:blue',
                     linestyle=style, marker='.', label=name)
    axes[0].axvline(threshold, color='grey', lw=0.8)
    axes[0].set_xlabel('confidence threshold (event_min_confidence)')
    axes[0].set_ylabel('share of FER+ PublicTest faces')
    axes[0].legend(fontsize=6)
    axes[1].set_xlabel('false alarms: FER+-neutral faces read sad/fear/angry')
    axes[1].set_ylabel('FER+-sad faces read sad')
    axes[1].set_title('each point a threshold', fontsize=9)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def with_neighbourhood(classifier: AUEmotionClassifier, points, labels) -> AUEmotionClassifier:
    """A k-NN with `classifier`'s k, metric and calibration over other labelled points (a
    fold's neighbourhood)."""
    return AUEmotionClassifier(classifier.au_codes, classifier.n_neighbors, classifier.metric,
                               classifier.temperature, classifier.label_bias,
                               classifier.size_temperatures).fit(points, labels)


def cross_fitted_probabilities(classifier: AUEmotionClassifier, vectors, truth, seed: int = 0):
    """Each half of the faces through a copy of the classifier calibrated on the other half."""
    halves = np.array_split(np.random.default_rng(seed).permutation(len(vectors)), 2)
    probabilities = np.zeros((len(vectors), len(classifier.labels)), np.float32)
    for test, fit in (halves, halves[::-1]):
        half = AUEmotionClassifier(classifier.au_codes, classifier.n_neighbors, classifier.metric)
        half.fit(classifier.points, classifier.point_labels).calibrate(vectors[fit], truth[fit])
        probabilities[test] = half.predict_proba(vectors[test])
    return probabilities


def evaluate_publictest(model: AUModel, classifier: AUEmotionClassifier, data_dir: Path,
                        limit: int | None = None):
    images, fer_labels = load_fer2013(data_dir, 'PublicTest')
    _, majority = load_ferplus(data_dir, 'PublicTest')
    if limit:
        images, fer_labels, majority = images[:limit], fer_labels[:limit], majority[:limit]
    vectors = model.predict_proba(images)
    labels = np.asarray(classifier.labels)
    probabilities = classifier.predict_proba(vectors)
    predicted = labels[probabilities.argmax(1)]
    rated = majority >= 0
    truth = np.array(FER_CLASSES)[majority[rated]]
    copies = near_copies(images, load_fer2013(data_dir, 'Training')[0])
    clean = ~copies[rated]        # rated faces without a near-copy among the k-NN's points
    ferplus = scores(truth, predicted[rated], FER_CLASSES)
    ferplus['without_near_copies'] = {
        **scores(truth[clean], predicted[rated][clean], FER_CLASSES),
        'near_copies': int(copies[rated].sum()),
        'accuracy_on_near_copies': float(accuracy_score(truth[~clean], predicted[rated][~clean]))
        if (~clean).any() else None}
    vote_shares = classifier.vote_shares(vectors[rated])
    cross_fitted = cross_fitted_probabilities(classifier, vectors[rated], truth) \
        if classifier.calibrated else probabilities[rated]
    curves = {'shipped': false_alarm_curve(labels, probabilities[rated], truth),
              'uncalibrated': false_alarm_curve(labels, vote_shares, truth)}
    fer2013 = scores(np.array(FER_CLASSES)[fer_labels], predicted, FER_CLASSES)
    fer2013['ferplus_majority_as_reading'] = float((majority[rated] == fer_labels[rated]).mean())
    fer2013['without_near_copies'] = scores(np.array(FER_CLASSES)[fer_labels[~copies]],
                                            predicted[~copies], FER_CLASSES)
    return {
        'ferplus_majority': ferplus,
        'fer2013_labels': fer2013,
        'acting_on': {
            'shipped': acting_on(labels, probabilities[rated], truth),
            'shipped_with_intervals': {
                'all_faces': acting_on_intervals(labels, probabilities[rated], truth),
                'without_near_copies': acting_on_intervals(labels, probabilities[rated][clean],
                                                           truth[clean])},
            'uncalibrated': acting_on(labels, vote_shares, truth),
            'cross_fitted': {**acting_on(labels, cross_fitted, truth), 'accuracy': float(
                accuracy_score(truth, labels[cross_fitted.argmax(1)]))},
            'calibration': {'temperature': classifier.temperature,
                            'label_bias': classifier.label_bias},
        },
        'false_alarm_curve': curves,
    }


def evaluate_ckplus(model: AUModel, classifier: AUEmotionClassifier, data_dir: Path,
                    folds: int = 5, seed: int = 1):
    ckplus = load_ckplus(data_dir)
    keep = ckplus['emotions'] >= 0
    vectors = model.predict_proba(ckplus['images'][keep])
    truth = np.array(FER_CLASSES)[ckplus['emotions'][keep]]
    subjects = ckplus['subjects'][keep]
    predicted = np.empty_like(truth)
    for train_rows, test_rows in subject_folds(subjects, folds, seed):
        fold_classifier = with_neighbourhood(
            classifier, np.concatenate([classifier.points, vectors[train_rows]]),
            np.concatenate([classifier.point_labels, truth[train_rows]]))
        predicted[test_rows] = fold_classifier.predict(vectors[test_rows])
    present = [label for label in FER_CLASSES if label in set(truth)]
    result = scores(truth, predicted, present, groups=subjects)
    result.update({'subjects': int(len(set(subjects))), 'folds': folds})
    return result


# What chose the shipped model's settings: PublicTest figures are validation figures, not test ones.
SELECTION = ('FER2013 PublicTest chose the stage-1 epoch kept (best FER+ majority accuracy), the '
             "k-NN's k and metric, and fitted its calibration: every PublicTest figure here is "
             'optimistic by the selection; the intervals are 95% bootstrap intervals (faces '
             'resampled; CK+ by subject) and do not include that bias')


def figure_text(figure: dict, key: str = 'accuracy') -> str:
    low, high = figure[f'{key}_interval_95']
    return f"{figure[key]:.3f} [{low:.3f}, {high:.3f}]"


def rate_text(figure: dict) -> str:
    low, high = figure['interval_95']
    return f"{figure['value']:.1%} [{low:.1%}, {high:.1%}]"


def summary_lines(report: dict) -> list[str]:
    """The report's headline figures with their 95% intervals, all faces and near-copy-free."""
    publictest = report['publictest']
    ferplus, fer2013 = publictest['ferplus_majority'], publictest['fer2013_labels']
    lines = [f"FER+ majority ({ferplus['faces']} faces): accuracy {figure_text(ferplus)}, macro F1 "
             f"{figure_text(ferplus, 'macro_f1')}; without the {ferplus['without_near_copies']['near_copies']} "
             f"near-copies of Training faces: {figure_text(ferplus['without_near_copies'])}",
             f"FER2013 labels: accuracy {figure_text(fer2013)}, without near-copies "
             f"{figure_text(fer2013['without_near_copies'])} (the FER+ majority itself: "
             f"{fer2013['ferplus_majority_as_reading']:.3f})"]
    for subset, acting in publictest['acting_on']['shipped_with_intervals'].items():
        lines.append(f"{subset}: FER+-neutral read sad/fear/angry with confidence >= "
                     f"{acting['threshold']}: {rate_text(acting['neutral_read_negative_at_threshold'])}; "
                     f"FER+-sad read sad: {rate_text(acting['sad_recall'])}")
    ckplus = report['ckplus_subject_cv']
    lines.append(f"CK+ subject CV (k-NN step only held out): accuracy {figure_text(ckplus)}, macro F1 "
                 f"{figure_text(ckplus, 'macro_f1')}")
    lines.append(f"selection: {report['selection']}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR, help='AU model directory')
    parser.add_argument('--classifier', type=Path, default=SHIPPED_CLASSIFIER_PATH,
                        help='k-NN .npz')
    parser.add_argument('--out', type=Path, default=REPO / 'results' / 'emotion_evaluation')
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--limit', type=int, help='smoke runs: the first faces of PublicTest only')
    parser.add_argument('--no-mirror-average', action='store_true',
                        help="read each face alone, not averaged with its mirror image as the "
                             "model's au_model.json asks (measures what mirror averaging gains)")
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    if args.no_mirror_average:
        model.mirror_average = False
    classifier = AUEmotionClassifier.load(args.classifier, model.au_codes)
    publictest = evaluate_publictest(model, classifier, args.data, args.limit)
    report = {
        'command': ' '.join(['python -m emotion_ros.training.evaluate_emotions',
                             *(sys.argv[1:] if argv is None else argv)]),
        'classifier': {'points': int(len(classifier.points)), 'k': classifier.n_neighbors,
                       'metric': classifier.metric},
        'mirror_average': model.mirror_average,
        'selection': SELECTION,
        'publictest': publictest,
        'ckplus_subject_cv': evaluate_ckplus(model, classifier, args.data, args.folds),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    plot_confusion(publictest['ferplus_majority'], 'FER+ majority, PublicTest',
                   args.out / 'confusion_ferplus.png')
    plot_confusion(publictest['fer2013_labels'], 'FER2013 labels, PublicTest',
                   args.out / 'confusion_fer2013.png')
    plot_confusion(report['ckplus_subject_cv'], 'CK+ subject CV', args.out / 'confusion_ckplus.png')
    plot_false_alarms(publictest['false_alarm_curve'], args.out / 'false_alarms.png')
    for line in summary_lines(report):
        print(line)
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
