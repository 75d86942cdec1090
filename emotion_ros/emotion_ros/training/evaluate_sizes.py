"""Evaluate the chain on small faces: FER2013 PublicTest shrunk to 48, 40, 32, 24 and 16 px.

    python -m emotion_ros.training.evaluate_sizes      # part of make evaluate-emotions

A robot's camera sees a person 2-4 m away with a face 25-40 px wide. Each
PublicTest face is shrunk to the width (area averaging) and enlarged back
to 48 px (bilinear, as alignment.align_face enlarges a small face: the
same augment.shrink_and_restore that low-resolution training uses), then
read by the shipped AU model and k-NN as the emotion node reads a face that
small (the k-NN's points and temperature factor of its size). Per size: FER+
majority and FER2013 label accuracy, and what a care robot acts on
(FER+-neutral faces read sad, fear or angry with confidence >= the event
threshold; FER+-sad faces read sad), each with a 95% bootstrap interval;
accuracy and the latter also as a full-size face would be read (full-size
points, no factor), which shows what the size-aware k-NN adds. Writes
metrics.json and by_size.png to --out.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..au_model import SHIPPED_MODEL_DIR, AUModel
from ..emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .augment import shrink_faces
from .data import FER_CLASSES, load_fer2013, load_ferplus
from .evaluate_emotions import SELECTION, acting_on_intervals
from .intervals import mean_rate
from .train import DEFAULT_DATA, REPO

SIZES = (48, 40, 32, 24, 16)


def evaluate_size(model: AUModel, classifier: AUEmotionClassifier, images, fer_labels, majority,
                  width: int) -> dict:
    vectors = model.predict_proba(shrink_faces(images, width))
    probabilities = classifier.predict_proba(vectors, face_widths=width)
    as_full_size = classifier.predict_proba(vectors)
    labels = np.asarray(classifier.labels)
    predicted = labels[probabilities.argmax(1)]
    rated = majority >= 0
    truth = np.array(FER_CLASSES)[majority[rated]]
    return {'width_px': width,
            'temperature_factor': float(classifier.size_factors(width, 1)[0]),
            'own_points': width in classifier.size_points,
            'ferplus_majority_accuracy': mean_rate(predicted[rated] == truth),
            'fer2013_labels_accuracy': mean_rate(predicted == np.array(FER_CLASSES)[fer_labels]),
            'acting_on': acting_on_intervals(labels, probabilities[rated], truth),
            'as_full_size_face': {
                'ferplus_majority_accuracy': mean_rate(
                    labels[as_full_size.argmax(1)][rated] == truth),
                'acting_on': acting_on_intervals(labels, as_full_size[rated], truth)}}


def plot_sizes(rows: list[dict], png: Path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    widths = [row['width_px'] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = (
        (axes[0], lambda r: r['ferplus_majority_accuracy'], 'FER+ majority accuracy', 'tab:blue'),
        (axes[0], lambda r: r['as_full_size_face']['ferplus_majority_accuracy'],
         'FER+ majority accuracy, read as a full-size face', 'tab:cyan'),
        (axes[0], lambda r: r['fer2013_labels_accuracy'], 'FER2013 label accuracy', 'tab:grey'),
        (axes[1], lambda r: r['acting_on']['neutral_read_negative_at_threshold'],
         'FER+-neutral read sad/fear/angry (>= threshold)', 'black'),
        (axes[1], lambda r: r['acting_on']['sad_recall'], 'FER+-sad read sad', 'tab:blue'))
    for ax, figure, label, colour in series:
        values = [figure(r)['value'] for r in rows]
        low = [figure(r)['interval_95'][0] for r in rows]
        high = [figure(r)['interval_95'][1] for r in rows]
        ax.plot(widths, values, marker='o', color=colour, label=label)
        ax.fill_between(widths, low, high, color=colour, alpha=0.15)
    for ax in axes:
        ax.set_xlabel('face width (px), shrunk and enlarged back to 48')
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel('share of PublicTest faces')
    fig.suptitle('FER2013 PublicTest by face size (95% bootstrap intervals)', fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA)
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR, help='AU model directory')
    parser.add_argument('--classifier', type=Path, default=SHIPPED_CLASSIFIER_PATH,
                        help='k-NN .npz')
    parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
    parser.add_argument('--out', type=Path, default=REPO / 'results' / 'size_evaluation')
    parser.add_argument('--limit', type=int, help='smoke runs: the first faces of PublicTest only')
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    classifier = AUEmotionClassifier.load(args.classifier, model.au_codes)
    images, fer_labels = load_fer2013(args.data, 'PublicTest')
    _, majority = load_ferplus(args.data, 'PublicTest')
    if args.limit:
        images, fer_labels, majority = images[:args.limit], fer_labels[:args.limit], majority[:args.limit]
    rows = [evaluate_size(model, classifier, images, fer_labels, majority, width)
            for width in args.sizes]
    report = {'command': ' '.join(['python -m emotion_ros.training.evaluate_sizes',
                                   *(sys.argv[1:] if argv is None else argv)]),
              'selection': SELECTION, 'sizes': rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    plot_sizes(rows, args.out / 'by_size.png')
    for row in rows:
        acting = row['acting_on']
        print(f"{row['width_px']:>3} px: FER+ {row['ferplus_majority_accuracy']['value']:.3f} "
              f"({row['as_full_size_face']['ferplus_majority_accuracy']['value']:.3f} as a full-size "
              f"face), "
              f"FER2013 {row['fer2013_labels_accuracy']['value']:.3f}, neutral read negative >= "
              f"threshold {acting['neutral_read_negative_at_threshold']['value']:.1%}, sad read sad "
              f"{acting['sad_recall']['value']:.1%}")
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
