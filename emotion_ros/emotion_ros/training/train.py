"""Train the AU model in two stages, resumable, with curves and metrics on disk.

    # Stage 1: the base learns faces from FER2013 expressions (PublicTest picks the best epoch).
    python -m emotion_ros.training.train pretrain --out runs/pretrain --epochs 40
    # Stage 2: AU head on CK+ AU codes + emotion head on FER2013, base fine-tuned;
    # --export writes the shipped model (AU output only) and its metadata.
    python -m emotion_ros.training.train au --base runs/pretrain/best.keras --out runs/au \
        --export emotion_ros/emotion_ros/models/au_model

Both stages resume where they stopped when run again with the same --out
(Keras' BackupAndRestore). Each writes history.csv, curves.png and metrics.json
to --out. `--limit` and `--steps` make the tiny runs the tests use.
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np

from .augment import augment_faces
from .data import AU_CODES, FER_CLASSES, load_ckplus, load_fer2013, select

DEFAULT_DATA = Path(os.environ.get('EMOTION_ROS_SHARED', Path(__file__).resolve().parents[3].parent / 'shared')) / 'data'


def _keras():
    import keras
    return keras


def _faces_tensor(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32)[..., None]


def subset(limit: int | None, seed: int, *arrays):
    """The same random `limit` rows of each array (all rows without a limit); for smoke runs."""
    if not limit:
        return arrays
    rows = np.sort(np.random.default_rng(seed).permutation(len(arrays[0]))[:limit])
    return tuple(a[rows] for a in arrays)


def make_fer_batches(images, labels, batch_size: int, seed: int, augment: bool):
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
                faces = augment_faces(faces, np.random.default_rng([seed, self.epoch, index]))
            return _faces_tensor(faces), labels[chosen]

        def on_epoch_end(self):
            self.epoch += 1

    return FerBatches()


def make_mixed_batches(fer_images, fer_labels, ckplus: dict, batch_size: int, ck_fraction: float,
                       steps: int, seed: int):
    """Batches of CK+ faces (AU targets, and emotion where CK+ has a FER class) and FER2013
    faces (emotion targets only); sample weights mask the targets a face lacks."""
    keras = _keras()
    ck_count = max(1, int(round(batch_size * ck_fraction)))
    fer_count = batch_size - ck_count
    num_aus = ckplus['au'].shape[1]

    class MixedBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0

        def __len__(self):
            return steps

        def __getitem__(self, index):
            rng = np.random.default_rng([seed, self.epoch, index])
            ck = rng.integers(0, len(ckplus['images']), ck_count)
            fer = rng.integers(0, len(fer_images), fer_count)
            faces = augment_faces(np.concatenate([ckplus['images'][ck], fer_images[fer]]), rng)
            ck_emotions = ckplus['emotions'][ck]
            targets = {
                'au': np.concatenate([ckplus['au'][ck], np.zeros((fer_count, num_aus), np.float32)]),
                'emotion': np.concatenate([np.maximum(ck_emotions, 0), fer_labels[fer]]),
            }
            weights = {
                'au': np.concatenate([np.ones(ck_count), np.zeros(fer_count)]).astype(np.float32),
                'emotion': np.concatenate([ck_emotions >= 0, np.ones(fer_count)]).astype(np.float32),
            }
            return _faces_tensor(faces), targets, weights

        def on_epoch_end(self):
            self.epoch += 1

    return MixedBatches()


def positive_weights(au: np.ndarray, cap: float = 10.0) -> np.ndarray:
    """sqrt(negatives / positives) per AU, between 1 and `cap`: rare AUs weigh more."""
    positives = au.sum(0)
    return np.clip(np.sqrt((len(au) - positives) / np.maximum(positives, 1)), 1.0, cap)


def _callbacks(out: Path, monitor: str | None):
    keras = _keras()
    callbacks = [keras.callbacks.BackupAndRestore(str(out / 'backup')),
                 keras.callbacks.CSVLogger(str(out / 'history.csv'), append=True)]
    if monitor:
        callbacks += [
            keras.callbacks.ModelCheckpoint(str(out / 'best.keras'), monitor=monitor, mode='max',
                                            save_best_only=True),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode='max', factor=0.5, patience=4,
                                              min_lr=1e-5),
        ]
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


def pretrain(data_dir: Path, out: Path, epochs: int, batch_size: int = 64, seed: int = 1,
             limit: int | None = None, steps: int | None = None, learning_rate: float = 1e-3):
    """Stage 1: FER2013 expression classification; keeps the epoch best on PublicTest."""
    keras = _keras()
    from .model import build_base, build_pretrain_model
    keras.utils.set_random_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    train_x, train_y = load_fer2013(data_dir, 'Training')
    val_x, val_y = load_fer2013(data_dir, 'PublicTest')
    train_x, train_y = subset(limit, seed, train_x, train_y)
    val_x, val_y = subset(limit, seed, val_x, val_y)
    model = build_pretrain_model(build_base(), len(FER_CLASSES))
    model.compile(keras.optimizers.Adam(learning_rate), 'sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    model.fit(make_fer_batches(train_x, train_y, batch_size, seed, augment=True),
              validation_data=(_faces_tensor(val_x), val_y), epochs=epochs, steps_per_epoch=steps,
              callbacks=_callbacks(out, 'val_accuracy'), verbose=2)
    best = keras.models.load_model(out / 'best.keras')
    loss, accuracy = best.evaluate(_faces_tensor(val_x), val_y, verbose=0)
    metrics = {'stage': 'pretrain', 'fer2013_publictest_accuracy': round(float(accuracy), 4),
               'fer2013_publictest_loss': round(float(loss), 4), 'epochs': epochs,
               'train_images': int(len(train_x)), 'seed': seed}
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    plot_curves(out / 'history.csv', out / 'curves.png', 'Stage 1: FER2013 expressions')
    print(json.dumps(metrics))
    return metrics


def base_of(pretrained) -> 'keras.Model':
    """The convolutional base inside a stage-1 model."""
    keras = _keras()
    return keras.Model(pretrained.input, pretrained.get_layer('block4_add').output, name='base')


def train_au(data_dir: Path, base_path: Path, out: Path, epochs: int, ckplus: dict | None = None,
             batch_size: int = 64, ck_fraction: float = 0.25, steps: int = 150, seed: int = 1,
             limit: int | None = None, learning_rate: float = 5e-4, verbose: int = 2):
    """Stage 2 on the CK+ faces given (default: all), fine-tuning the whole base.

    Trains a fixed number of epochs: no early stopping on data that may be
    someone's test fold. Returns the trained two-output model.
    """
    keras = _keras()
    from .model import WeightedBinaryCrossentropy, build_au_model
    keras.utils.set_random_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    ckplus = ckplus if ckplus is not None else load_ckplus(data_dir)
    fer_x, fer_y = load_fer2013(data_dir, 'Training')
    val_x, val_y = load_fer2013(data_dir, 'PublicTest')
    fer_x, fer_y = subset(limit, seed, fer_x, fer_y)
    val_x, val_y = subset(limit, seed, val_x, val_y)
    if limit:
        ckplus = select(ckplus, subset(limit, seed, np.arange(len(ckplus['images'])))[0])
    base = base_of(keras.models.load_model(base_path))
    model = build_au_model(base, ckplus['au'].shape[1], len(FER_CLASSES))
    model.compile(
        keras.optimizers.Adam(learning_rate),
        loss={'au': WeightedBinaryCrossentropy(positive_weights(ckplus['au'])),
              'emotion': 'sparse_categorical_crossentropy'},
        # Masked samples count as zeros in the batch mean: scale the AU loss back up.
        loss_weights={'au': 1.0 / ck_fraction, 'emotion': 0.5},
        metrics={'emotion': ['accuracy']})
    validation = (_faces_tensor(val_x),
                  {'au': np.zeros((len(val_x), ckplus['au'].shape[1]), np.float32), 'emotion': val_y},
                  {'au': np.zeros(len(val_x), np.float32), 'emotion': np.ones(len(val_x), np.float32)})
    model.fit(make_mixed_batches(fer_x, fer_y, ckplus, batch_size, ck_fraction, steps, seed),
              validation_data=validation, epochs=epochs, callbacks=_callbacks(out, None),
              verbose=verbose)
    model.save(out / 'au_emotion.keras')
    plot_curves(out / 'history.csv', out / 'curves.png', 'Stage 2: AUs (CK+) and emotions (FER2013)')
    return model


def export(model, directory: Path, metrics: dict | None = None):
    """Write the shipped AU model: au_model.keras (face -> AU probabilities) and au_model.json."""
    from .model import INPUT_SIZE, au_only
    directory.mkdir(parents=True, exist_ok=True)
    au_only(model).save(directory / 'au_model.keras')
    metadata = {
        'au_codes': list(AU_CODES),
        'input': {'size': INPUT_SIZE, 'channels': 1, 'dtype': 'float32', 'range': [0, 255],
                  'layout': 'NHWC',
                  'framing': 'upright grey face crop as emotion_ros.alignment.align_face makes it'},
        'output': 'sigmoid probability of each AU in au_codes',
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
        p.add_argument('--epochs', type=int, default=40 if name == 'pretrain' else 8)
        p.add_argument('--batch-size', type=int, default=64)
        p.add_argument('--seed', type=int, default=1)
        p.add_argument('--limit', type=int, help='use only the first N images (smoke runs)')
        p.add_argument('--steps', type=int, help='steps per epoch')
    sub.choices['au'].add_argument('--base', type=Path, required=True, help='stage-1 best.keras')
    sub.choices['au'].add_argument('--export', type=Path, help='directory for the shipped model')
    args = parser.parse_args(argv)
    if args.stage == 'pretrain':
        pretrain(args.data, args.out, args.epochs, args.batch_size, args.seed, args.limit, args.steps)
    else:
        model = train_au(args.data, args.base, args.out, args.epochs, batch_size=args.batch_size,
                         seed=args.seed, limit=args.limit, steps=args.steps or 150)
        metrics = {'stage': 'au', 'epochs': args.epochs, 'seed': args.seed,
                   'ckplus_images': 'all dev subjects', 'base': str(args.base)}
        (args.out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
        if args.export:
            export(model, args.export, metrics)
            print(f'exported to {args.export}')


if __name__ == '__main__':
    main()
