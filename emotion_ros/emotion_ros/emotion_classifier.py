"""Emotions from AU vectors by their labelled neighbours (scikit-learn k-NN).

The classifier is its labelled points: AU probability vectors, in a fixed
AU order, each with an emotion name. Adding an emotion (pain, contempt,
confusion, ...) means adding a few labelled points; nothing is retrained.
Saved as one .npz file holding the points, their labels, the AU order and
the k-NN settings; loading checks the AU order against the model's.
"""
from pathlib import Path

import numpy as np
from sklearn import config_context
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import ThreadpoolController

# The neighbourhood shipped in the package (built by training/build_emotion_knn.py).
SHIPPED_CLASSIFIER_PATH = Path(__file__).resolve().parent / 'models' / 'emotion_knn.npz'


class AUEmotionClassifier:
    """Distance-weighted k-NN over AU probability vectors.

    au_codes: FACS numbers of the vector's columns, in order.
    n_neighbors, metric: as in sklearn's KNeighborsClassifier.
    """

    def __init__(self, au_codes, n_neighbors: int = 15, metric: str = 'euclidean'):
        self.au_codes = tuple(int(c) for c in au_codes)
        self.n_neighbors = int(n_neighbors)
        self.metric = metric
        self.points = np.zeros((0, len(self.au_codes)), np.float32)
        self.point_labels = np.zeros((0,), dtype='<U32')
        self._knn = None
        self._threads = ThreadpoolController()

    def fit(self, au_vectors, labels):
        """Replace the labelled points."""
        au_vectors = self._check(au_vectors)
        labels = np.asarray(labels).astype(str)
        if len(labels) != len(au_vectors):
            raise ValueError(f'{len(au_vectors)} AU vectors but {len(labels)} labels')
        self.points, self.point_labels = au_vectors, labels
        self._knn = KNeighborsClassifier(n_neighbors=min(self.n_neighbors, len(labels)),
                                         weights='distance', metric=self.metric)
        # sklearn computes distances in float64: converting once here, not per query, saves time.
        self._knn.fit(self.points.astype(np.float64), self.point_labels)
        return self

    def add_examples(self, au_vectors, labels):
        """Add labelled points (a new emotion, or more of a known one) and refit."""
        au_vectors = self._check(au_vectors)
        labels = np.broadcast_to(np.asarray(labels).astype(str), (len(au_vectors),))
        return self.fit(np.concatenate([self.points, au_vectors]),
                        np.concatenate([self.point_labels, labels]))

    @property
    def labels(self) -> tuple:
        """Emotion names, in the column order of predict_proba."""
        return tuple(self._knn.classes_) if self._knn is not None else ()

    def predict_proba(self, au_vectors) -> np.ndarray:
        if self._knn is None:
            raise RuntimeError('the classifier has no labelled points: fit or load it first')
        au_vectors = self._check(au_vectors)
        if len(au_vectors) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        # One OpenMP thread: on an idle machine two are a little faster, but where the other
        # core is busy (the detector, DDS) scikit-learn's two threads waited for each other,
        # up to 70 ms a call here against 1-2 ms on one (README, Speed).
        # _check validated the vectors already: scikit-learn need not again.
        with self._threads.limit(limits=1, user_api='openmp'), \
                config_context(assume_finite=True, skip_parameter_validation=True):
            return self._knn.predict_proba(au_vectors.astype(np.float64)).astype(np.float32)

    def predict(self, au_vectors) -> np.ndarray:
        return np.asarray(self.labels)[self.predict_proba(au_vectors).argmax(1)]

    def save(self, path):
        np.savez_compressed(path, points=self.points, labels=self.point_labels,
                            au_codes=np.array(self.au_codes), n_neighbors=self.n_neighbors,
                            metric=self.metric)

    @classmethod
    def load(cls, path, au_codes=None):
        """Load a saved classifier; with au_codes, refuse one made for another AU list."""
        with np.load(Path(path), allow_pickle=False) as data:
            saved_codes = tuple(int(c) for c in data['au_codes'])
            if au_codes is not None and tuple(int(c) for c in au_codes) != saved_codes:
                raise ValueError(f'{path} was made for AUs {saved_codes}, the AU model gives '
                                 f'{tuple(au_codes)}: rebuild it for this model')
            classifier = cls(saved_codes, int(data['n_neighbors']), str(data['metric']))
            return classifier.fit(data['points'], data['labels'])

    def _check(self, au_vectors) -> np.ndarray:
        au_vectors = np.asarray(au_vectors, np.float32)
        if au_vectors.ndim == 1:
            au_vectors = au_vectors[None]
        if au_vectors.shape[1:] != (len(self.au_codes),):
            raise ValueError(f'AU vectors of shape {au_vectors.shape}, expected '
                             f'(N, {len(self.au_codes)}) for AUs {self.au_codes}')
        if not np.all(np.isfinite(au_vectors)):
            raise ValueError('AU vectors contain NaN or inf')
        return au_vectors
