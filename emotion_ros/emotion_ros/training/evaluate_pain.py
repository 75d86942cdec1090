"""Evaluate the pain score: calm and smiling faces, and CK+'s coded PSPI, subject-exclusive.

    python -m emotion_ros.training.evaluate_pain      # make evaluate-pain

No public pain data set can be used here (UNBC-McMaster, BioVid and 3D-Pain
are restricted or unreachable), so the score is checked against what FACS
defines and against faces that must not read as pain:

1. FER+ PublicTest (faces with a FER+ majority): the pain score's
   distribution on neutral, happy and the other faces, and the share of each
   at or above the event threshold (the shipped AU model and k-NN; the
   threshold was fitted on Training faces only).
2. CK+ (expert-coded AU occurrence), subject-exclusive: every face's AU
   probabilities come from the fold AU model trained without its subject
   (evaluate.cross_validate, cached in --work), its emotion distribution from
   the shipped k-NN (FER+ Training faces only, no CK+ face in it). The coded
   PSPI counts each coded AU as 1 (CK+ codes occurrence, not intensity) and
   AU43 as 0 (CK+ has no AU43 codes): 0..3, 3 being the full pattern
   (AU4, AU6 or AU7, AU9 or AU10). Pearson r between the pain score and the
   coded PSPI, and the share of faces with coded PSPI >= 3 at or above the
   threshold.

Writes metrics.json and pain_scores.png to --out.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..affect import SHIPPED_PAIN_CALIBRATION, PainCalibration
from ..au_model import AUModel
from ..emotion_classifier import AUEmotionClassifier
from .evaluate import cross_validate
from .fit_pain import add_chain_arguments, ferplus_vectors
from .data import AU_CODES
from .intervals import bootstrap_interval, mean_rate
from .train import DEFAULT_BASE, REPO

CALM = ('neutral', 'happy')


def coded_pspi(au, au_codes) -> np.ndarray:
    """PSPI from 0/1 AU codes (AU43 as 0): AU4 + max(AU6, AU7) + max(AU9, AU10)."""
    column = {code: i for i, code in enumerate(au_codes)}
    return (au[:, column[4]] + np.maximum(au[:, column[6]], au[:, column[7]])
            + np.maximum(au[:, column[9]], au[:, column[10]]))


def distribution_summary(scores, threshold: float) -> dict:
    return {'faces': int(len(scores)),
            'quantiles': {f'p{q}': float(np.percentile(scores, q)) for q in (10, 25, 50, 75, 90, 97)},
            'mean': float(scores.mean()),
            'at_or_above_threshold': mean_rate(scores >= threshold)}


def evaluate_publictest(model: AUModel, classifier: AUEmotionClassifier, calibration: PainCalibration,
                        data_dir: Path, limit: int | None = None):
    vectors, names = ferplus_vectors(model, data_dir, 'PublicTest', limit)
    scores = calibration.scores(model.au_codes, vectors, classifier.labels,
                                classifier.predict_proba(vectors))
    groups = {'neutral': names == 'neutral', 'happy': names == 'happy', 'other': ~np.isin(names, CALM)}
    groups.update({name: names == name for name in sorted(set(names) - set(CALM))})
    return {group: distribution_summary(scores[rows], calibration.threshold)
            for group, rows in groups.items() if rows.any()}, scores, names


def evaluate_ckplus(args, classifier: AUEmotionClassifier, calibration: PainCalibration):
    """CK+ through the fold AU models (subject held out) and the shipped k-NN; intervals by subject."""
    ckplus, probabilities, _, _ = cross_validate(args.data, args.base, args.classifier, args.work,
                                                 args.folds, args.epochs, args.seed, args.ck_limit)
    # The fold models predict data.AU_CODES; the k-NN reads its own AUs from them.
    knn_input = probabilities[:, [AU_CODES.index(code) for code in classifier.au_codes]]
    scores = calibration.scores(AU_CODES, probabilities, classifier.labels,
                                classifier.predict_proba(knn_input))
    coded = coded_pspi(ckplus['au'], AU_CODES)
    full = coded >= 3
    subjects = ckplus['subjects']
    above = scores >= calibration.threshold
    by_level = {str(int(level)): distribution_summary(scores[coded == level], calibration.threshold)
                for level in np.unique(coded)}
    return {'faces': int(len(scores)), 'subjects': int(len(set(subjects))), 'folds': args.folds,
            'pearson_r': float(np.corrcoef(scores, coded)[0, 1]),
            'pearson_r_interval_95': bootstrap_interval(
                lambda rows: np.corrcoef(scores[rows], coded[rows])[0, 1], len(scores), subjects),
            'coded_pspi_3_at_or_above_threshold': {
                'value': float(above[full].mean()), 'faces': int(full.sum()),
                'interval_95': bootstrap_interval(lambda rows: above[rows][full[rows]].mean()
                                                  if full[rows].any() else None, len(scores), subjects)},
            'by_coded_pspi': by_level}, scores, coded


def plot(publictest_scores, names, ck_scores, coded, threshold: float, png: Path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(0, 16, 33)
    for group, rows in (('neutral', names == 'neutral'), ('happy', names == 'happy'),
                        ('other', ~np.isin(names, CALM))):
        axes[0].hist(publictest_scores[rows], bins, histtype='step', density=True, lw=1.5,
                     label=f'FER+ {group} ({rows.sum()})')
    axes[0].set_xlabel('pain score')
    axes[0].set_ylabel('density')
    axes[0].set_title('FER+ PublicTest', fontsize=9)
    levels = np.unique(coded)
    axes[1].boxplot([ck_scores[coded == level] for level in levels])
    axes[1].set_xticks(np.arange(1, len(levels) + 1),
                       [f'{int(level)}\n({(coded == level).sum()})' for level in levels])
    axes[1].set_xlabel('coded PSPI (faces)')
    axes[1].set_ylabel('pain score')
    axes[1].set_title(f'CK+, subject-exclusive: r = {np.corrcoef(ck_scores, coded)[0, 1]:.3f}',
                      fontsize=9)
    for ax in axes:
        (ax.axvline if ax is axes[0] else ax.axhline)(threshold, color='grey', lw=0.8, ls='--')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_chain_arguments(parser)
    parser.add_argument('--calibration', type=Path, default=SHIPPED_PAIN_CALIBRATION)
    parser.add_argument('--out', type=Path, default=REPO / 'results' / 'pain_evaluation')
    parser.add_argument('--base', type=Path, default=DEFAULT_BASE, help='stage-1 model of the CK+ folds')
    parser.add_argument('--work', type=Path, default=REPO / 'runs' / 'au_cv',
                        help="CK+ fold cache, shared with make evaluate-au's (same configuration)")
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--limit', type=int, help='smoke runs: a subset of the PublicTest faces')
    parser.add_argument('--ck-limit', type=int, help='smoke runs: a subset of CK+ (its own folds)')
    args = parser.parse_args(argv)

    model = AUModel(args.model, max_batch=256)
    classifier = AUEmotionClassifier.load(args.classifier, model.au_codes)
    calibration = PainCalibration.load(args.calibration)
    publictest, publictest_scores, names = evaluate_publictest(model, classifier, calibration,
                                                               args.data, args.limit)
    args.work.mkdir(parents=True, exist_ok=True)
    ckplus, ck_scores, coded = evaluate_ckplus(args, classifier, calibration)
    report = {
        'command': ' '.join(['python -m emotion_ros.training.evaluate_pain',
                             *(sys.argv[1:] if argv is None else argv)]),
        'calibration': json.loads(args.calibration.read_text()),
        'publictest_ferplus': publictest,
        'ckplus_subject_exclusive': ckplus,
        'intervals': '95% bootstrap intervals: PublicTest faces resampled, CK+ subjects resampled',
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    plot(publictest_scores, names, ck_scores, coded, calibration.threshold, args.out / 'pain_scores.png')
    for group in ('neutral', 'happy', 'other'):
        figure = publictest[group]
        low, high = figure['at_or_above_threshold']['interval_95']
        print(f"FER+ PublicTest {group} ({figure['faces']}): median {figure['quantiles']['p50']:.2f}, "
              f"at or above {calibration.threshold}: {figure['at_or_above_threshold']['value']:.1%} "
              f"[{low:.1%}, {high:.1%}]")
    full = ckplus['coded_pspi_3_at_or_above_threshold']
    r_low, r_high = ckplus['pearson_r_interval_95']
    print(f"CK+ subject-exclusive ({ckplus['faces']} faces): Pearson r {ckplus['pearson_r']:.3f} "
          f"[{r_low:.3f}, {r_high:.3f}] with the coded PSPI; coded PSPI >= 3 at or above the threshold: {full['value']:.1%} "
          f"[{full['interval_95'][0]:.1%}, {full['interval_95'][1]:.1%}]")
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
