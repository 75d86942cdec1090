"""Build the k-NN emotion classifier from the AU vectors of labelled faces.

    python -m emotion_ros.training.build_emotion_knn \
        --out emotion_ros/emotion_ros/models/emotion_knn.npz

The AU model (default: the shipped one) turns every FER2013 Training face
whose FER+ majority is one of the 7 emotions into an AU vector; those
vectors with their FER+ majority labels are the neighbourhood (FER2013's
own labels disagree with the majority of 10 taggers on ~1 face in 3).
k and the metric are chosen by FER+ majority accuracy on PublicTest
(validation data, never the held-out test set), and the same faces fit the
classifier's calibration (temperature and label biases, see
emotion_classifier.py). The same Training faces shrunk to 40, 32, 24 and
16 px (as in evaluate_sizes) give the neighbourhoods of faces that small,
and PublicTest shrunk alike fits their temperature factors: by log loss,
then raised where needed so that a far face is not acted on more readily
than a near one (no more FER+-neutral faces read sad, fear or angry at the
event threshold than at full size). Writes the classifier and a JSON of
the selection beside it in results/.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from ..au_model import SHIPPED_MODEL_DIR, AUModel
from ..emotion_classifier import AUEmotionClassifier
from .augment import shrink_faces
from .data import FER_CLASSES, load_ferplus_faces
from .evaluate_emotions import acting_on
from .train import DEFAULT_DATA, REPO

# At most 21 neighbours: an emotion added with ~10 labelled points (add_emotion, the worked
# pain example) must be able to carry a face's vote; with 161 the 10 never did. With this AU
# model, candidates up to 161 read PublicTest at most 0.14 points better (0.8423 at k=161,
# manhattan, against 0.8409 at 21: results/emotion_knn_selection_k_up_to_161.json).
K_CANDIDATES = (5, 11, 21)
METRICS = ('euclidean', 'manhattan')
# Crop widths (px) of the small-face calibration: faces 2-4 m from a robot's camera.
SMALL_FACE_WIDTHS = (16, 24, 32, 40)
# Step and ceiling of the raise of a small-face temperature factor that holds false alarms.
FACTOR_STEP, FACTOR_CEILING = 0.02, 2.0


def calm_false_alarms(classifier: AUEmotionClassifier, vectors, names, width=None) -> float:
    """Share of the FER+-neutral faces read sad, fear or angry at the event threshold."""
    return acting_on(classifier.labels, classifier.predict_proba(vectors, face_widths=width),
                     names)['neutral_read_negative_at_threshold']


def hold_false_alarms(classifier: AUEmotionClassifier, width: int, vectors, names,
                      limit: float) -> float:
    """Raise the temperature factor of `width` (softer confidence) until calm faces that small
    are read negative at the event threshold no more often than `limit`; the rate reached."""
    rate = calm_false_alarms(classifier, vectors, names, width)
    while rate > limit and classifier.size_temperatures[width] < FACTOR_CEILING:
        classifier.size_temperatures[width] += FACTOR_STEP
        rate = calm_false_alarms(classifier, vectors, names, width)
    return rate


def ferplus_faces(data_dir: Path, split: str, limit: int | None = None):
    """Faces of `split` that have a FER+ majority emotion, and its name."""
    images, _, majority = load_ferplus_faces(data_dir, split)
    if limit:
        rows = np.sort(np.random.default_rng(0).permutation(len(images))[:limit])
        images, majority = images[rows], majority[rows]
    return images, np.array(FER_CLASSES)[majority]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--report', type=Path, default=REPO / 'results' / 'emotion_knn_selection.json')
    parser.add_argument('--limit', type=int, help='smoke runs: a subset of the faces')
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    train_images, train_y = ferplus_faces(args.data, 'Training', args.limit)
    train_x = model.predict_proba(train_images)
    val_images, val_y = ferplus_faces(args.data, 'PublicTest', args.limit)
    val_x = model.predict_proba(val_images)
    trials = []
    for metric in METRICS:
        for k in K_CANDIDATES:
            classifier = AUEmotionClassifier(model.au_codes, k, metric).fit(train_x, train_y)
            predicted = classifier.predict(val_x)
            trials.append({'k': k, 'metric': metric,
                           'ferplus_publictest_accuracy': float(accuracy_score(val_y, predicted)),
                           'ferplus_publictest_macro_f1': float(f1_score(val_y, predicted, average='macro'))})
            print(json.dumps(trials[-1]), flush=True)
    best = max(trials, key=lambda t: t['ferplus_publictest_accuracy'])
    small_points = {width: model.predict_proba(shrink_faces(train_images, width))
                    for width in SMALL_FACE_WIDTHS}
    classifier = AUEmotionClassifier(model.au_codes, best['k'], best['metric']) \
        .fit(train_x, train_y, small_points)
    classifier.calibrate(val_x, val_y)
    calibrated = classifier.predict(val_x)
    full_size_false_alarms = calm_false_alarms(classifier, val_x, val_y)
    small_faces = {}
    for width in SMALL_FACE_WIDTHS:
        small_x = model.predict_proba(shrink_faces(val_images, width))
        classifier.calibrate_size(width, small_x, val_y)
        fitted = classifier.size_temperatures[width]
        false_alarms = hold_false_alarms(classifier, width, small_x, val_y, full_size_false_alarms)
        small_faces[width] = {
            'temperature_factor_by_log_loss': fitted,
            'temperature_factor': classifier.size_temperatures[width],
            'neutral_read_negative_at_threshold': false_alarms,
            'ferplus_publictest_accuracy': float(accuracy_score(
                val_y, classifier.predict(small_x, face_widths=width))),
            'ferplus_publictest_accuracy_full_size_points': float(accuracy_score(
                val_y, classifier.predict(small_x)))}
        print(f'{width} px: {json.dumps(small_faces[width])}', flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(args.out)
    report = {'command': ' '.join(['python -m emotion_ros.training.build_emotion_knn',
                                   *(sys.argv[1:] if argv is None else argv)]),
              'points': int(len(train_x)), 'labels': list(classifier.labels), 'chosen': best,
              'calibration': {'temperature': classifier.temperature,
                              'label_bias': classifier.label_bias,
                              'small_face_temperature_factors': classifier.size_temperatures,
                              'ferplus_publictest_accuracy': float(accuracy_score(val_y, calibrated))},
              'trials': trials,
              'small_faces': {'note': 'PublicTest shrunk to each width, read by the points of '
                                      'that width (as shipped) and by the full-size points; '
                                      'FER+-neutral faces read sad/fear/angry at the event '
                                      'threshold: at most as at full size',
                              'neutral_read_negative_at_threshold_full_size': full_size_false_alarms,
                              **{str(width): row for width, row in small_faces.items()}}}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + '\n')
    print(f"chose k={best['k']} {best['metric']}: FER+ PublicTest accuracy "
          f"{best['ferplus_publictest_accuracy']:.3f}, {report['calibration']['ferplus_publictest_accuracy']:.3f} "
          f"calibrated (T={classifier.temperature:.2f}); saved {args.out}")


if __name__ == '__main__':
    main()
