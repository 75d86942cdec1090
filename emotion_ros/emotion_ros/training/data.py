"""Face data sets for the AU model: FER2013 with its FER+ votes, CK+ AU codes, and a CSV format for your own.

All loaders return 48x48 (or `size`) uint8 grey faces. Splits are by
subject only: frames of one person (and CK+'s near-identical apex frames
of one sequence) never sit on both sides of a split.
"""
import csv
from pathlib import Path

import cv2
import numpy as np
from sklearn.model_selection import GroupKFold

# The 17 AUs the shipped model predicts (FACS numbers), chosen by what CK+ codes often enough.
AU_CODES = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26)
FER_CLASSES = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
# FER+ vote columns (Barsoum et al. 2016) of each FER2013 class, in FER_CLASSES order.
FERPLUS_COLUMNS = ('anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise', 'neutral')
# CK+ emotion names -> FER2013 class index; contempt has no FER class.
CKPLUS_TO_FER = {'anger': 0, 'disgust': 1, 'fear': 2, 'happy': 3, 'sadness': 4, 'surprise': 5}


def load_fer2013(data_dir, split: str):
    """(images [N,48,48] uint8, labels [N] int64 indexing FER_CLASSES) of 'Training' or 'PublicTest'."""
    with np.load(Path(data_dir) / 'fer2013' / f'{split}.npz') as data:
        classes = tuple(str(c) for c in data['classes'])
        if classes != FER_CLASSES:
            raise ValueError(f'unexpected FER2013 classes {classes}')
        return data['images'], data['labels'].astype(np.int64)


def load_ferplus(data_dir, split: str):
    """FER+ votes of the FER2013 faces of `split`, aligned row by row with load_fer2013's.

    Returns (votes [N,7] float32: the taggers' counts for FER_CLASSES,
    majority [N] int64: the FER_CLASSES index of the majority, or -1 where
    FER+ has no image, the top count is shared, or contempt, unknown or
    not-a-face has it). 7 classes: contempt (a majority on 0.3% of faces)
    is not kept.
    """
    split_dir = Path(data_dir)
    with np.load(split_dir / 'ferplus' / f'ferplus_{split}.npz') as data, \
            np.load(split_dir / 'fer2013' / f'{split}.npz') as fer:
        if not np.array_equal(data['names'], fer['names']):
            raise ValueError(f'FER+ {split} rows are not aligned with FER2013 {split}')
        columns = [str(c) for c in data['columns']]
        all_votes = data['votes'].astype(np.float32)
    votes = all_votes[:, [columns.index(name) for name in FERPLUS_COLUMNS]]
    top = all_votes.max(1, keepdims=True)
    unique_top = (all_votes == top).sum(1) == 1
    winner = all_votes.argmax(1)
    emotion_of_column = {columns.index(name): i for i, name in enumerate(FERPLUS_COLUMNS)}
    majority = np.array([emotion_of_column.get(int(w), -1) for w in winner], np.int64)
    majority[~unique_top | (all_votes[:, 0] < 0)] = -1
    return np.maximum(votes, 0), majority


def load_ferplus_faces(data_dir, split: str):
    """The FER2013 faces of `split` that have a FER+ majority emotion: (images, votes, majority)."""
    images, _ = load_fer2013(data_dir, split)
    votes, majority = load_ferplus(data_dir, split)
    rated = majority >= 0
    return images[rated], votes[rated], majority[rated]


def vote_distribution(votes: np.ndarray) -> np.ndarray:
    """Training targets from FER+ counts: single votes dropped as noise (as FER+'s own code
    does), the rest normalised to sum to 1 (the paper's probability / cross-entropy target)."""
    kept = np.where(votes > 1, votes, 0)
    kept = np.where(kept.sum(1, keepdims=True) > 0, kept, votes)
    return (kept / np.maximum(kept.sum(1, keepdims=True), 1e-6)).astype(np.float32)


def load_ckplus(data_dir, au_codes=AU_CODES):
    """CK+ apex frames with AU codes: dict of images, au [N,K] float32 0/1, subjects, emotions (FER index or -1)."""
    with np.load(Path(data_dir) / 'ckplus_au' / 'ckplus48_au.npz') as data:
        names = [str(n) for n in data['au_names']]
        columns = [names.index(f'AU{code}') for code in au_codes]
        return {
            'images': data['images'],
            'au': data['au'][:, columns].astype(np.float32),
            'subjects': data['subject'].astype(str),
            'emotions': np.array([CKPLUS_TO_FER.get(str(e), -1) for e in data['emotion']]),
        }


def load_au_csv(csv_path, au_codes=AU_CODES, size: int = 48):
    """Your own AU-coded faces (e.g. DISFA, BP4D): the same dict as load_ckplus.

    The CSV has a header with `image` (a path, relative to the CSV's folder),
    `subject`, and one column per AU named AU1, AU2, ...: 0/1 occurrence or a
    FACS intensity 0-5 (> 0 counts as present). An optional `emotion` column
    holds a FER2013 class name. Images are read as grey and resized to `size`;
    they should be face crops framed like FER2013 (see the model card).
    """
    csv_path = Path(csv_path)
    images, au, subjects, emotions = [], [], [], []
    with open(csv_path, newline='') as handle:
        for row in csv.DictReader(handle):
            image = cv2.imread(str(csv_path.parent / row['image']), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise FileNotFoundError(f"{row['image']} (from {csv_path}) cannot be read")
            images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
            au.append([float(row[f'AU{code}']) > 0 for code in au_codes])
            subjects.append(row['subject'])
            emotion = row.get('emotion', '')
            emotions.append(FER_CLASSES.index(emotion) if emotion in FER_CLASSES else -1)
    return {'images': np.array(images, np.uint8), 'au': np.array(au, np.float32),
            'subjects': np.array(subjects), 'emotions': np.array(emotions)}


def subject_folds(subjects, k: int = 5, seed: int = 0):
    """k (train, test) index pairs in which no subject is on both sides."""
    subjects = np.asarray(subjects)
    folds = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(subjects)), groups=subjects))


def select(dataset: dict, index) -> dict:
    return {key: value[index] for key, value in dataset.items()}
