"""Train the AU model in two stages, with curves and metrics on disk.

    # Stage 1: the base network learns expressions from the FER+ votes of
    # the FER2013 Training faces, a quarter of them at 16-40 px (PublicTest's
    # FER+ majority picks the best epoch; resumes where it stopped when run
    # again with the same --out). The shipped base (make pretrain) is
    # artifacts/ferplus_base/.
    python -m emotion_ros.training.train pretrain --out runs/ferplus_base --epochs 24 \
        --low-resolution 0.25
    # Stage 2 on the frozen base (default: the shipped one): AU head on CK+ AU
    # codes + emotion head, reading only the AUs, on the FER+ votes;
    # --export writes the shipped model (AU output only) and its metadata.
    python -m emotion_ros.training.train au --out runs/au \
        --export emotion_ros/emotion_ros/models/au_model

Each writes history.csv, curves.png and metrics.json to --out. `--limit`
(and `--steps` for pretrain) make the tiny runs the tests use. Training
faces are 48 px; they reach a base of another size through the same resize
(au_model.model_input) as camera crops do at run time.
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np

from ..au_model import model_input
from .augment import augment_faces
from .data import (AU_CODES, FER_CLASSES, load_ckplus, load_fer2013, load_ferplus_faces, select,
                   vote_distribution)

REPO = Path(__file__).resolve().parents[3]
# The shipped AU model's stage 1 (`make pretrain` trains it anew into runs/ferplus_base).
DEFAULT_BASE = REPO / 'artifacts' / 'ferplus_base' / 'best.keras'
# Stage 2's heads read this layer of the base: the last conv stage's 6x6x192 map, before its
# pooling ('stage4_pool', 3x3x192), so that each AU unit can be given its half of the face.
FEATURE_LAYER = 'stage4b_relu'
# Stage 2's AU units: > 0 confines each to its part of the face (see train_au): the
# lower-face units read the bottom 3 of the 6 rows (the lower half of the crop), the
# upper-face units the top 3; 0 lets every unit read the whole map.
LOWER_FACE_ROWS = 3
# Stage 2's AU loss weighs each AU's positives by (negatives / positives) ** this (positive_weights).
POSITIVE_WEIGHT_POWER = 0.5
# --rare-au-copies copies the faces showing an AU coded on at most this share of them.
RARE_AU_SHARE = 0.08
DEFAULT_DATA = Path(os.environ.get('EMOTION_ROS_SHARED', REPO.parent / 'shared')) / 'data'


def _keras():
    import keras
    return keras


def subset(limit: int | None, seed: int, *arrays):
    """The same random `limit` rows of each array (all rows without a limit); for smoke runs."""
    if not limit:
        return arrays
    rows = np.sort(np.random.default_rng(seed).permutation(len(arrays[0]))[:limit])
    return tuple(a[rows] for a in arrays)


def make_fer_batches(images, labels, batch_size: int, seed: int, augment: bool, size: int,
                     low_resolution: float = 0.0):
    keras = _keras()

    class FerBatches(keras.utils.PyDataset):
        """FER2013 faces and labels, reshuffled and re-augmented every epoch."""

        def __init__(self):
            super().__init__()
            self.epoch = 0

        def __len__(self):
            return int(np.ceil(len(images) / batch_size))

        def __getitem__(self, index):
            order = np.random.default_rng([seed, self.epoch]).permutation(len(images)) \
                if augment else np.arange(len(images))
            chosen = order[index * batch_size:(index + 1) * batch_size]
            faces = images[chosen]
            if augment:
                faces = augment_faces(faces, np.random.default_rng([seed, self.epoch, index]),
                                      low_resolution=low_resolution)
            return model_input(faces, size), labels[chosen]

        def on_epoch_end(self):
            self.epoch += 1

    return FerBatches()


def positive_weights(au: np.ndarray, cap: float = 10.0, power: float = POSITIVE_WEIGHT_POWER) -> np.ndarray:
    """(negatives / positives) ** power per AU, between 1 and `cap`: rare AUs weigh more."""
    positives = au.sum(0)
    return np.clip(((len(au) - positives) / np.maximum(positives, 1)) ** power, 1.0, cap)


def rare_au_faces(au: np.ndarray, max_share: float) -> np.ndarray:
    """Rows of the faces that show an AU present in at most `max_share` of the faces in `au`."""
    rare = au.mean(0) <= max_share
    return np.flatnonzero((au[:, rare] > 0).any(1))


def _callbacks(out: Path, monitor: str | None):
    """Backup every epoch (resume), the history, and with `monitor` the best model so far."""
    keras = _keras()
    callbacks = [keras.callbacks.BackupAndRestore(str(out / 'backup')),
                 keras.callbacks.CSVLogger(str(out / 'history.csv'), append=True)]
    if monitor:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(out / 'best.keras'), monitor=monitor,
                                                         mode='max', save_best_only=True))
    return callbacks


def plot_curves(history_csv: Path, png: Path, title: str):
    import csv

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(history_csv) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r['epoch']) + 1 for r in rows]
    keys = [k for k in rows[0] if k not in ('epoch', 'learning_rate')]
    losses = [k for k in keys if 'loss' in k]
    scores = [k for k in keys if 'loss' not in k]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, group, label in ((axes[0], losses, 'loss'), (axes[1], scores, 'metric')):
        for key in group:
            ax.plot(epochs, [float(r[key]) for r in rows], label=key)
        ax.set_xlabel('epoch')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if group:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def expression_targets(data_dir: Path, split: str, labels: str):
    """(faces, targets [N,7]) for stage 1: 'ferplus' gives the FER+ vote distribution of each face
    whose FER+ majority is one of the 7 emotions on the training split and that majority (one-hot)
    on the validation split; 'fer2013' the data set's own labels, one-hot."""
    if labels == 'fer2013':
        images, fer_labels = load_fer2013(data_dir, split)
        return images, np.eye(len(FER_CLASSES), dtype=np.float32)[fer_labels]
    images, votes, majority = load_ferplus_faces(data_dir, split)
    targets = vote_distribution(votes) if split == 'Training' else \
        np.eye(len(FER_CLASSES), dtype=np.float32)[majority]
    return images, targets


def pretrain(data_dir: Path, out: Path, epochs: int, batch_size: int = 64, seed: int = 1,
             limit: int | None = None, steps: int | None = None, learning_rate: float = 2e-3,
             labels: str = 'ferplus', weight_decay: float = 1e-4, init: Path | None = None,
             low_resolution: float = 0.0, widths: tuple | None = None):
    """Stage 1: expression classification from FER+ votes (or FER2013 labels).

    Keeps the epoch with the best PublicTest (majority) accuracy. The learning
    rate follows one cosine over all `epochs` (AdamW), so a run resumed from
    its backup continues the same schedule. init: a stage-1 model whose
    weights this run starts from (a second cosine cycle on a base that was
    still improving when its first ended). low_resolution: the share of
    training faces seen at 16-40 px (augment.augment_faces). widths: the
    base's filters per stage (model.BASE_WIDTHS by default).
    """
    keras = _keras()
    from .model import BASE_WIDTHS, INPUT_SIZE, build_base, build_pretrain_model
    widths = tuple(widths or BASE_WIDTHS)
    keras.utils.set_random_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    train_x, train_y = subset(limit, seed, *expression_targets(data_dir, 'Training', labels))
    val_x, val_y = subset(limit, seed, *expression_targets(data_dir, 'PublicTest', labels))
    batches = make_fer_batches(train_x, train_y, batch_size, seed, augment=True, size=INPUT_SIZE,
                               low_resolution=low_resolution)
    model = build_pretrain_model(build_base(INPUT_SIZE, widths), len(FER_CLASSES))
    if init:
        model.set_weights(keras.models.load_model(init).get_weights())
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * (steps or len(batches)),
                                                      alpha=0.01)
    model.compile(keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
                  'categorical_crossentropy', metrics=[keras.metrics.CategoricalAccuracy('accuracy')])
    model.fit(batches, validation_data=(model_input(val_x, INPUT_SIZE), val_y), epochs=epochs,
              steps_per_epoch=steps, callbacks=_callbacks(out, 'val_accuracy'),
              verbose=2)
    best = keras.models.load_model(out / 'best.keras')
    loss, accuracy = best.evaluate(model_input(val_x, INPUT_SIZE), val_y, verbose=0)
    metrics = {'stage': 'pretrain', 'labels': labels,
               'publictest_accuracy': round(float(accuracy), 4),
               'publictest_loss': round(float(loss), 4), 'epochs': epochs,
               'train_images': int(len(train_x)), 'validation_images': int(len(val_x)), 'seed': seed,
               'learning_rate': learning_rate, 'low_resolution': low_resolution,
               'widths': list(widths), 'init': str(init.name if init else None)}
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    plot_curves(out / 'history.csv', out / 'curves.png', f'Stage 1: expressions ({labels} labels)')
    print(json.dumps(metrics))
    return metrics


def load_base(path: Path, feature_layer: str = FEATURE_LAYER) -> 'keras.Model':
    """The convolutional base of a stage-1 model (pretrain's best.keras), up to feature_layer."""
    keras = _keras()
    base = keras.models.load_model(path).get_layer('base')
    if feature_layer == base.layers[-1].name:
        return base
    return keras.Model(base.input, base.get_layer(feature_layer).output, name='base')


def augmented_copies(images: np.ndarray, copies: int, seed: int) -> np.ndarray:
    """The images, then `copies` randomly augmented versions of them (augment.py)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([images] + [augment_faces(images, rng) for _ in range(copies)])


def base_features(base, images: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """The frozen base's feature maps [N, ...] of 48 px faces, resized as the AU model resizes crops."""
    size = int(base.input.shape[1])
    return np.concatenate([base.predict(model_input(images[start:start + chunk], size),
                                        batch_size=256, verbose=0)
                           for start in range(0, len(images), chunk)])


def fer_features(base, data_dir: Path, fer_copies: int, seed: int = 1, limit: int | None = None):
    """Stage 2's FER data as base features: (Training faces and their augmented copies, their
    FER+ vote distributions, PublicTest faces, their FER+ majority one-hot); see expression_targets."""
    train_x, train_y = subset(limit, seed, *expression_targets(data_dir, 'Training', 'ferplus'))
    val_x, val_y = subset(limit, seed, *expression_targets(data_dir, 'PublicTest', 'ferplus'))
    return (base_features(base, augmented_copies(train_x, fer_copies, seed)),
            np.tile(train_y, (1 + fer_copies, 1)), base_features(base, val_x), val_y)


def train_au(data_dir: Path, base_path: Path, out: Path, epochs: int, ckplus: dict | None = None,
             fer_copies: int = 2, ckplus_copies: int = 29, batch_size: int = 256, seed: int = 1,
             limit: int | None = None, learning_rate: float = 1e-3, emotion_weight: float = 1.0,
             dropout: float = 0.3, fer_data: tuple | None = None,
             lower_face_rows: int = LOWER_FACE_ROWS, feature_layer: str = FEATURE_LAYER,
             rare_au_copies: int = 0, rare_au_share: float = RARE_AU_SHARE,
             positive_weight_power: float = POSITIVE_WEIGHT_POWER,
             verbose: int = 2):
    """Stage 2 on the CK+ faces given (default: all): heads trained on the frozen base's features.

    The base stays as stage 1 left it, so its features are computed once, for the faces and
    `fer_copies` / `ckplus_copies` augmented copies of each; CK+ gets more
    copies because it has 38 times fewer faces. Trains a fixed number of
    epochs: no early stopping on data that may be someone's test fold.
    fer_data: fer_features' result, to reuse across runs on the same base.
    lower_face_rows: > 0 confines each AU unit to its part of the face (model.face_region_rows:
    lower-face units read that many bottom rows of the feature map, upper-face units the rest).
    feature_layer: the base's layer the heads read (load_base).
    rare_au_copies: extra augmented copies of each CK+ face that shows an AU with at most
    `rare_au_share` of the faces positive (rare_au_faces), on top of its `ckplus_copies`.
    positive_weight_power: the AU loss weighs each AU's positives by (negatives / positives)
    to this power (positive_weights), counted on the CK+ faces before copying.
    Returns the two-output model (base + heads).
    """
    keras = _keras()
    from .model import WeightedBinaryCrossentropy, build_au_model, build_heads, face_region_rows
    keras.utils.set_random_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    ckplus = ckplus if ckplus is not None else load_ckplus(data_dir)
    if limit:
        ckplus = select(ckplus, subset(limit, seed, np.arange(len(ckplus['images'])))[0])
    base = load_base(base_path, feature_layer)
    fer_x, fer_y, val_x, val_y = fer_data or fer_features(base, data_dir, fer_copies, seed, limit)
    ck_images = augmented_copies(ckplus['images'], ckplus_copies, seed + 1)
    ck_source = np.tile(np.arange(len(ckplus['images'])), 1 + ckplus_copies)
    rare = rare_au_faces(ckplus['au'], rare_au_share) if rare_au_copies else np.zeros(0, int)
    if len(rare):
        ck_images = np.concatenate([ck_images, augmented_copies(
            ckplus['images'][rare], rare_au_copies, seed + 2)[len(rare):]])
        ck_source = np.concatenate([ck_source, np.tile(rare, rare_au_copies)])
    ck_x = base_features(base, ck_images)
    fer_rows, ck_rows = len(fer_x), len(ck_x)
    ck_emotions = ckplus['emotions'][ck_source]
    num_aus = ckplus['au'].shape[1]
    features = np.concatenate([fer_x, ck_x])
    targets = {'au': np.concatenate([np.zeros((fer_rows, num_aus), np.float32),
                                     ckplus['au'][ck_source]]),
               'emotion': np.concatenate([fer_y, np.eye(len(FER_CLASSES), dtype=np.float32)[
                   np.maximum(ck_emotions, 0)]])}
    # Sample weights mask the targets a face lacks (FER faces: AUs; CK+ contempt: emotion).
    weights = {'au': np.concatenate([np.zeros(fer_rows), np.ones(ck_rows)]).astype(np.float32),
               'emotion': np.concatenate([np.ones(fer_rows), ck_emotions >= 0]).astype(np.float32)}
    ck_fraction = ck_rows / len(features)

    rows_per_au = face_region_rows(AU_CODES, features.shape[1], lower_face_rows) \
        if lower_face_rows else None
    heads = build_heads(features.shape[1:], num_aus, len(FER_CLASSES), dropout,
                        rows_per_au=rows_per_au)
    steps = int(np.ceil(len(features) / batch_size))
    heads.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps,
                                                                     alpha=0.05)),
        loss={'au': WeightedBinaryCrossentropy(positive_weights(ckplus['au'],
                                                                  power=positive_weight_power)),
              'emotion': 'categorical_crossentropy'},
        # Masked samples count as zeros in the batch mean: scale the AU loss back up.
        loss_weights={'au': 1.0 / ck_fraction, 'emotion': emotion_weight},
        metrics={'emotion': [keras.metrics.CategoricalAccuracy('accuracy')]})
    validation = (val_x,
                  {'au': np.zeros((len(val_x), num_aus), np.float32), 'emotion': val_y},
                  {'au': np.zeros(len(val_x), np.float32), 'emotion': np.ones(len(val_x), np.float32)})
    heads.fit(features, targets, sample_weight=weights, batch_size=batch_size, epochs=epochs,
              shuffle=True, validation_data=validation, callbacks=_callbacks(out, None),
              verbose=verbose)
    model = build_au_model(base, heads)
    model.save(out / 'au_emotion.keras')
    plot_curves(out / 'history.csv', out / 'curves.png', 'Stage 2: AUs (CK+) and emotions (FER+ votes)')
    return model


def export(model, directory: Path, metrics: dict | None = None, mirror_average: bool = True):
    """Write the shipped AU model: au_model.keras (face -> AU probabilities) and au_model.json.

    mirror_average: the model's answer for a face is the mean over the face and
    its mirror image (AUModel reads this from au_model.json); see the AU
    model card for what it gained on FER2013 PublicTest.
    """
    from .model import au_only
    directory.mkdir(parents=True, exist_ok=True)
    au_only(model).save(directory / 'au_model.keras')
    metadata = {
        'au_codes': list(AU_CODES),
        'input': {'size': int(model.input.shape[1]), 'channels': 1, 'dtype': 'float32', 'range': [0, 255],
                  'layout': 'NHWC',
                  'framing': 'upright grey face crop as emotion_ros.alignment.align_face makes it'},
        'output': 'sigmoid probability of each AU in au_codes',
        'mirror_average': bool(mirror_average),
        **({'training': metrics} if metrics else {}),
    }
    (directory / 'au_model.json').write_text(json.dumps(metadata, indent=2) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='stage', required=True)
    for name in ('pretrain', 'au'):
        p = sub.add_parser(name)
        p.add_argument('--data', type=Path, default=DEFAULT_DATA)
        p.add_argument('--out', type=Path, required=True)
        p.add_argument('--epochs', type=int, default=30)
        p.add_argument('--seed', type=int, default=1)
        p.add_argument('--limit', type=int, help='use only N random images (smoke runs)')
    sub.choices['pretrain'].add_argument('--batch-size', type=int, default=64)
    sub.choices['pretrain'].add_argument('--steps', type=int, help='steps per epoch')
    sub.choices['pretrain'].add_argument('--learning-rate', type=float, default=2e-3,
                                         help='peak of the cosine schedule')
    sub.choices['pretrain'].add_argument('--init', type=Path,
                                         help="start from this stage-1 model's weights")
    sub.choices['pretrain'].add_argument('--low-resolution', type=float, default=0.0,
                                         help='share of training faces shrunk to 16-40 px')
    sub.choices['pretrain'].add_argument('--widths', type=lambda text: tuple(map(int, text.split(','))),
                                         help="the base's filters per stage, e.g. 16,32,96,192 "
                                              '(default: model.BASE_WIDTHS)')
    sub.choices['pretrain'].add_argument('--labels', choices=('ferplus', 'fer2013'), default='ferplus',
                                         help='FER+ vote distributions (default) or FER2013 labels')
    sub.choices['au'].add_argument('--base', type=Path, default=DEFAULT_BASE,
                                   help="stage-1 model: a pretrain run's best.keras (default: "
                                        "the shipped model's)")
    sub.choices['au'].add_argument('--fer-copies', type=int, default=2,
                                   help='augmented copies of each FER2013 face (FER+ votes)')
    sub.choices['au'].add_argument('--ckplus-copies', type=int, default=29,
                                   help='augmented copies of each CK+ face')
    sub.choices['au'].add_argument('--lower-face-rows', type=int, default=LOWER_FACE_ROWS,
                                   help='bottom rows of the feature map the lower-face AU units '
                                        'read (upper-face units read the rest); 0: every unit reads all')
    sub.choices['au'].add_argument('--feature-layer', default=FEATURE_LAYER,
                                   help="the base's layer the heads read")
    sub.choices['au'].add_argument('--rare-au-copies', type=int, default=0,
                                   help='extra augmented copies of each CK+ face showing an AU '
                                        f'coded on at most {RARE_AU_SHARE * 100:.0f}%% of the faces')
    sub.choices['au'].add_argument('--positive-weight-power', type=float, default=POSITIVE_WEIGHT_POWER,
                                   help="AU loss weight of each AU's positives: "
                                        '(negatives / positives) ** this, capped at 10')
    sub.choices['au'].add_argument('--export', type=Path, help='directory for the shipped model')
    args = parser.parse_args(argv)
    if args.stage == 'pretrain':
        pretrain(args.data, args.out, args.epochs, args.batch_size, args.seed, args.limit, args.steps,
                 args.learning_rate, labels=args.labels, init=args.init,
                 low_resolution=args.low_resolution, widths=args.widths)
    else:
        model = train_au(args.data, args.base, args.out, args.epochs, fer_copies=args.fer_copies,
                         ckplus_copies=args.ckplus_copies, seed=args.seed, limit=args.limit,
                         lower_face_rows=args.lower_face_rows, feature_layer=args.feature_layer,
                         rare_au_copies=args.rare_au_copies,
                         positive_weight_power=args.positive_weight_power)
        metrics = {'stage': 'au', 'epochs': args.epochs, 'seed': args.seed,
                   'fer_copies': args.fer_copies, 'ckplus_copies': args.ckplus_copies,
                   'lower_face_rows': args.lower_face_rows,
                   'feature_layer': args.feature_layer, 'rare_au_copies': args.rare_au_copies,
                   'positive_weight_power': args.positive_weight_power,
                   'ckplus_images': 'all dev subjects', 'base': args.base.name}
        (args.out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
        if args.export:
            export(model, args.export, metrics)
            print(f'exported to {args.export}')


if __name__ == '__main__':
    main()
