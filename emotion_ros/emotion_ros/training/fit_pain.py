"""Fit the pain event threshold on FER+ Training faces (models/pain_calibration.json).

    python -m emotion_ros.training.fit_pain      # make fit-pain

The pain score (affect.PainCalibration) is the PSPI of the AU model's
probabilities, capped at `calm_cap` as far as the emotion k-NN reads the face
as calm or smiling. Its event threshold is the lowest score that at most
`--calm-share` of the FER+-neutral and of the FER+-happy Training faces reach
(and never below calm_cap + 0.1, so a calm or smiling reading alone never
reaches it). Only Training faces are used: PublicTest and CK+ stay for
`evaluate_pain`. The shipped k-NN's points are these same Training faces, so
each face's emotion distribution comes from a k-NN (the shipped k, metric and
calibration) over the other folds' faces, never from itself.
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from ..affect import PSPI_MAX, SHIPPED_PAIN_CALIBRATION, PainCalibration
from ..au_model import SHIPPED_MODEL_DIR, AUModel
from ..emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .data import FER_CLASSES, load_ferplus_faces
from .evaluate_emotions import with_neighbourhood
from .train import DEFAULT_DATA

CALM_CAP = 5.0          # one PSPI term: the most a face read calm or smiling counts
CALM_SHARE = 0.02       # of FER+-neutral and of FER+-happy Training faces reaching the threshold


def ferplus_vectors(model: AUModel, data_dir: Path, split: str, limit: int | None = None):
    """AU probabilities of the FER+-rated faces of `split` and their FER+ majority names."""
    images, _, majority = load_ferplus_faces(data_dir, split)
    if limit:
        step = max(1, len(images) // limit)
        images, majority = images[::step], majority[::step]
    return model.predict_proba(images), np.array(FER_CLASSES)[majority]


def cross_fitted_distributions(classifier: AUEmotionClassifier, vectors, names, folds: int = 5,
                               seed: int = 0):
    """Each face's emotion distribution from a k-NN over the other folds' faces: (labels, [N, L])."""
    parts = np.array_split(np.random.default_rng(seed).permutation(len(vectors)), folds)
    distributions, labels = None, None
    for part in parts:
        rest = np.setdiff1d(np.arange(len(vectors)), part)
        fold = with_neighbourhood(classifier, vectors[rest], names[rest])
        if distributions is None:
            labels = fold.labels
            distributions = np.zeros((len(vectors), len(labels)), np.float32)
        order = [fold.labels.index(label) for label in labels]
        distributions[part] = fold.predict_proba(vectors[part])[:, order]
    return labels, distributions


def fit_threshold(scores, names, calm_cap: float = CALM_CAP, calm_share: float = CALM_SHARE) -> float:
    """The lowest score (to 0.01) that at most `calm_share` of the neutral and of the happy faces reach."""
    highest = max(np.quantile(scores[names == name], 1 - calm_share) for name in ('neutral', 'happy'))
    return float(max(np.ceil(highest * 100 + 1e-9) / 100, calm_cap + 0.1))


def add_chain_arguments(parser: argparse.ArgumentParser):
    """--data, --model, --classifier: the data and the AU model and k-NN the pain score reads."""
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR, help='AU model directory')
    parser.add_argument('--classifier', type=Path, default=SHIPPED_CLASSIFIER_PATH, help='k-NN .npz')


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_chain_arguments(parser)
    parser.add_argument('--out', type=Path, default=SHIPPED_PAIN_CALIBRATION)
    parser.add_argument('--calm-share', type=float, default=CALM_SHARE)
    parser.add_argument('--limit', type=int, help='smoke runs: a subset of the Training faces')
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    classifier = AUEmotionClassifier.load(args.classifier, model.au_codes)
    vectors, names = ferplus_vectors(model, args.data, 'Training', args.limit)
    labels, distributions = cross_fitted_distributions(classifier, vectors, names)
    calm_labels = ('neutral', 'happy')
    scores = PainCalibration(PSPI_MAX, CALM_CAP, calm_labels).scores(model.au_codes, vectors, labels, distributions)
    threshold = fit_threshold(scores, names, CALM_CAP, args.calm_share)
    shares = {name: float(np.mean(scores[names == name] >= threshold)) for name in FER_CLASSES}
    calibration = {
        'threshold': threshold, 'calm_cap': CALM_CAP, 'calm_labels': list(calm_labels),
        'command': ' '.join(['python -m emotion_ros.training.fit_pain',
                             *(sys.argv[1:] if argv is None else argv)]),
        'fitted_on': f'FER+ Training faces ({len(vectors)}), emotion distributions from a k-NN over '
                     'the other folds (5) of them',
        'calm_share': args.calm_share,
        'training_share_at_threshold': shares,
        'au_model': {'au_codes': list(model.au_codes),
                     'keras_sha256': file_sha256(Path(args.model) / 'au_model.keras')},
        'classifier_sha256': file_sha256(args.classifier),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(calibration, indent=2) + '\n')
    PainCalibration.load(args.out)
    print(f"threshold {threshold:.2f} (calm_cap {CALM_CAP}): reached by "
          + ', '.join(f'{name} {share:.1%}' for name, share in shares.items())
          + f' of the Training faces; wrote {args.out}')


if __name__ == '__main__':
    main()
