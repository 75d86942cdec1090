"""Emotions from AU vectors by their labelled neighbours (scikit-learn k-NN).

The classifier is its labelled points: AU probability vectors, in a fixed
AU order, each with an emotion name. Adding an emotion (pain, contempt,
confusion, ...) means adding a few labelled points; nothing is retrained.
Saved as one .npz file holding the points, their labels, the AU order,
the k-NN settings and the calibration; loading checks the AU order against
the model's.

Calibration: a distance-weighted k-NN's vote shares are not probabilities
(a face among sad-labelled neighbours gets 0.9 "sad" whether or not 9 of 10
such faces are sad). `calibrate` fits, on labelled validation faces, a
temperature T and a bias per label b so that softmax(log(p + EPS) / T + b)
minimises the log loss (temperature scaling with label priors): the
confidence that events compare with their threshold then means what it
says. Labels added later (pain, ...) get bias 0.

Small faces: a face a few metres away reaches the AU model as a crop of
16-40 px scaled up, and its AU vector drifts from the one the same face
gives close up. For chosen crop widths the classifier can hold the points'
own faces as they read shrunk to that width (size_points, row for row with
the points and their labels): a small face is answered by the
neighbourhood of its size, which reads small faces better than the
full-size one (results/size_evaluation). `calibrate_size` fits, for a crop
width, one more temperature factor on faces shrunk to that width, so that a
small face's confidence says how often such faces are read right.
predict_proba applies both to faces as small (face_widths): a face uses the
smallest listed width at or above its own; wider faces, or faces without a
width, the full-size points.

Speed: scikit-learn answers a batch of faces well, but its per-call work
(checks, chunking, thread pools) is most of a call for one face: the few
faces of one frame (at most FRAME_FACES) are answered by the same exact
search done directly (the k nearest of the same points from a k-d tree, scipy's cKDTree,
in the same metric; scikit-learn's distance weights), and a face whose AU vector is the one it
had a moment ago (the au_estimator's `au_rate` repeats a face's last
reading between two) gets its last answer back without a search.
"""
import inspect
from collections import OrderedDict
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree
from scipy.special import log_softmax
from sklearn import config_context
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import ThreadpoolController

# The neighbourhood shipped in the package (built by training/build_emotion_knn.py).
SHIPPED_CLASSIFIER_PATH = Path(__file__).resolve().parent / 'models' / 'emotion_knn.npz'
# Floor under the k-NN's vote shares before the log: a label none of the k neighbours has.
EPS = 1e-3


def query_config(config_context) -> dict:
    """scikit-learn settings for the k-NN's queries, whose vectors _check has validated:
    skip_parameter_validation (scikit-learn >= 1.3) saves its second check; older releases
    (Ubuntu 22.04's is 0.23) refuse the option, and check less anyway."""
    config = {'assume_finite': True}
    if 'skip_parameter_validation' in inspect.signature(config_context).parameters:
        config['skip_parameter_validation'] = True
    return config


QUERY_CONFIG = query_config(config_context)
# Most faces in one query that take the direct search (a frame's faces); larger batches
# (evaluations, calibration) go through scikit-learn's.
FRAME_FACES = 16
# scikit-learn's metric names -> the Minkowski p of the direct search's k-d tree.
MINKOWSKI_P = {'manhattan': 1, 'cityblock': 1, 'l1': 1, 'euclidean': 2, 'l2': 2}
# AU vectors whose answers are remembered (a few faces' last readings).
RECENT_ANSWERS = 64


def size_bands(widths, face_widths, count: int) -> np.ndarray:
    """For each of `count` faces, the smallest of `widths` (crop widths, px) at or above the
    face's width: its size band; 0 (full size) for faces wider than all, without face_widths,
    or of width 0 (unknown: an AU message without a box)."""
    bands = np.zeros(count, np.int64)
    if face_widths is None or not len(widths):
        return bands
    face_widths = np.broadcast_to(np.asarray(face_widths, np.float64), (count,))
    for width in sorted(widths, reverse=True):
        bands[(face_widths > 0) & (face_widths <= width)] = width
    return bands


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """The softmax of each row: scipy's, without its per-call overhead (~50 us, a quarter of
    a repeated face's k-NN answer at camera rate)."""
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


class AUEmotionClassifier:
    """Distance-weighted k-NN over AU probability vectors.

    au_codes: FACS numbers of the vector's columns, in order.
    n_neighbors, metric: as in sklearn's KNeighborsClassifier.
    temperature, label_bias ({label: bias}): the calibration (see the module
        docstring); 1 and none leave the k-NN's vote shares as they are.
    size_temperatures ({crop width px: factor}): the temperature's factor for
        faces of at most that width (the smallest listed width at or above the
        face's); wider faces than every listed width get none.
    The points (and size_points) are given to fit.
    """

    def __init__(self, au_codes, n_neighbors: int = 15, metric: str = 'euclidean',
                 temperature: float = 1.0, label_bias: dict | None = None,
                 size_temperatures: dict | None = None):
        self.au_codes = tuple(int(c) for c in au_codes)
        self.n_neighbors = int(n_neighbors)
        self.metric = metric
        self.temperature = float(temperature)
        self.label_bias = {str(k): float(v) for k, v in (label_bias or {}).items()}
        self.size_temperatures = {int(k): float(v) for k, v in
                                  sorted((size_temperatures or {}).items())}
        self.points = np.zeros((0, len(self.au_codes)), np.float32)
        self.point_labels = np.zeros((0,), dtype='<U32')
        self.size_points = {}           # crop width px -> the points' faces read at that width
        # 0 (full size) or a size_points width -> (a KNeighborsClassifier over its points, the
        # direct search's k-d tree over them or None)
        self._searches = {}
        self._threads = ThreadpoolController()
        self._point_columns = None      # each point's label column, for the direct search
        self._recent = OrderedDict()    # size bands + AU vector bytes -> predict_proba row
        self.recent_answers = RECENT_ANSWERS   # how many it keeps; 0 = compute every time

    def fit(self, au_vectors, labels, size_points: dict | None = None):
        """Replace the labelled points.

        size_points ({crop width px: AU vectors}): the same faces, row for row, as
        they read shrunk to that width: the neighbourhood of faces that small.
        """
        au_vectors = self._check(au_vectors)
        labels = np.asarray(labels).astype(str)
        if len(labels) != len(au_vectors):
            raise ValueError(f'{len(au_vectors)} AU vectors but {len(labels)} labels')
        size_points = {int(width): self._check(vectors)
                       for width, vectors in sorted((size_points or {}).items())}
        for width, vectors in size_points.items():
            if len(vectors) != len(au_vectors):
                raise ValueError(f'{len(vectors)} AU vectors at {width} px but {len(au_vectors)} '
                                 f'points: size_points hold the points\' own faces, row for row')
        self.points, self.point_labels, self.size_points = au_vectors, labels, size_points
        self._searches = {band: self._neighbour_search(vectors)
                          for band, vectors in {0: au_vectors, **size_points}.items()}
        self._point_columns = np.searchsorted(self.labels, self.point_labels)
        self._recent.clear()
        return self

    def _neighbour_search(self, vectors: np.ndarray) -> tuple:
        """A KNeighborsClassifier over the points (with point_labels), and for a Minkowski
        metric a k-d tree over them (the direct search, _nearest; ~15 ms to
        build for 27k points).
        sklearn computes distances in float64: converting once here, not per query, saves time
        (and scikit-learn keeps float64 input as it is, without a copy of its own)."""
        vectors = vectors.astype(np.float64)
        knn = KNeighborsClassifier(n_neighbors=min(self.n_neighbors, len(vectors)),
                                   weights='distance', metric=self.metric)
        knn.fit(vectors, self.point_labels)
        tree = cKDTree(vectors) if self.metric in MINKOWSKI_P else None
        return knn, tree

    def _nearest(self, queries: np.ndarray, band: int, k: int) -> tuple:
        """The k nearest points of each query row (float64) and their exact distances, from
        the band's k-d tree: in one thread, and on the shipped neighbourhood about half the
        time of a search through all the points for a lone face here (README, Speed)."""
        distances, nearest = self._searches[band][1].query(queries, k, p=MINKOWSKI_P[self.metric])
        return nearest.reshape(len(queries), k), distances.reshape(len(queries), k)

    def add_examples(self, au_vectors, labels, size_points: dict | None = None):
        """Add labelled points (a new emotion, or more of a known one) and refit.

        size_points ({crop width px: AU vectors}): the added faces as they read at
        the classifier's small-face widths; a width not given gets au_vectors
        (the faces as they read full size).
        """
        au_vectors = self._check(au_vectors)
        labels = np.broadcast_to(np.asarray(labels).astype(str), (len(au_vectors),))
        given = size_points or {}
        return self.fit(np.concatenate([self.points, au_vectors]),
                        np.concatenate([self.point_labels, labels]),
                        {width: np.concatenate([vectors, self._check(given.get(width, au_vectors))])
                         for width, vectors in self.size_points.items()})

    @property
    def labels(self) -> tuple:
        """Emotion names, in the column order of predict_proba."""
        return tuple(self._searches[0][0].classes_) if self._searches else ()

    @property
    def calibrated(self) -> bool:
        return self.temperature != 1.0 or any(self.label_bias.values())

    def predict_proba(self, au_vectors, face_widths=None) -> np.ndarray:
        """Calibrated probabilities of each label (columns in `labels` order).

        face_widths: each face's crop width in source pixels (None: all full size), for
        the points and temperature factor of small faces.
        """
        au_vectors = self._check(au_vectors)
        if not self.recent_answers or not 0 < len(au_vectors) <= FRAME_FACES:
            return self._calibrated(au_vectors, face_widths)
        # A frame's faces: the answer to a vector asked a moment ago at the same size is given
        # back (the au_estimator's au_rate repeats a face's last reading between two).
        count = len(au_vectors)
        keys = [points.to_bytes(2, 'little') + factor.to_bytes(2, 'little') + vector.tobytes()
                for points, factor, vector in zip(
                    size_bands(self.size_points, face_widths, count).tolist(),
                    size_bands(self.size_temperatures, face_widths, count).tolist(), au_vectors)]
        answers = [self._recent.get(key) for key in keys]
        new = [i for i, answer in enumerate(answers) if answer is None]
        if new:
            widths = None if face_widths is None else \
                np.broadcast_to(np.asarray(face_widths, np.float64), (count,))[new]
            for i, row in zip(new, self._calibrated(au_vectors[new], widths)):
                answers[i] = self._recent[keys[i]] = row
        for key in keys:
            self._recent.move_to_end(key)
        while len(self._recent) > self.recent_answers:
            self._recent.popitem(last=False)
        return np.stack(answers)

    def _calibrated(self, au_vectors: np.ndarray, face_widths=None) -> np.ndarray:
        """predict_proba, computed."""
        shares = self.vote_shares(au_vectors, face_widths)
        if not self.calibrated or not len(shares):
            return shares
        temperature = self.temperature * self.size_factors(face_widths, len(shares))[:, None]
        return softmax_rows(np.log(shares + EPS) / temperature + self._bias()).astype(np.float32)

    def size_factors(self, face_widths, count: int) -> np.ndarray:
        """The temperature factor of each of `count` faces (1 without widths or calibration)."""
        return np.array([self.size_temperatures.get(width, 1.0) for width in
                         size_bands(self.size_temperatures, face_widths, count)])

    def _bias(self) -> np.ndarray:
        return np.array([self.label_bias.get(label, 0.0) for label in self.labels])

    def calibrate(self, au_vectors, labels):
        """Fit the temperature and label biases on labelled faces the points do not include."""
        column = {label: i for i, label in enumerate(self.labels)}
        unknown = set(np.asarray(labels).astype(str)) - set(column)
        if unknown:
            raise ValueError(f"calibration labels {', '.join(sorted(unknown))} are not labels of "
                             f'the points')
        truth = np.array([column[label] for label in np.asarray(labels).astype(str)])
        logs = np.log(self.vote_shares(au_vectors).astype(np.float64) + EPS)

        def log_loss(params):
            scores = logs / np.exp(params[0]) + params[1:]
            return -log_softmax(scores, axis=1)[np.arange(len(truth)), truth].mean()

        fitted = minimize(log_loss, np.zeros(1 + len(self.labels)), method='L-BFGS-B').x
        self.temperature = float(np.exp(fitted[0]))
        # Biases are defined up to a constant: centred, so added labels (bias 0) sit mid-way.
        bias = fitted[1:] - fitted[1:].mean()
        self.label_bias = {label: float(b) for label, b in zip(self.labels, bias)}
        self._recent.clear()
        return self

    def calibrate_size(self, width: int, au_vectors, labels):
        """Fit the temperature factor of faces up to `width` px on labelled faces of that width
        (after calibrate: the label biases and base temperature stay)."""
        column = {label: i for i, label in enumerate(self.labels)}
        truth = np.array([column[label] for label in np.asarray(labels).astype(str)])
        logs = np.log(self.vote_shares(au_vectors, width).astype(np.float64) + EPS)
        bias = self._bias()

        def log_loss(params):
            scores = logs / (self.temperature * np.exp(params[0])) + bias
            return -log_softmax(scores, axis=1)[np.arange(len(truth)), truth].mean()

        factor = float(np.exp(minimize(log_loss, np.zeros(1), method='L-BFGS-B').x[0]))
        self.size_temperatures = dict(sorted({**self.size_temperatures, int(width): factor}.items()))
        self._recent.clear()
        return self

    def vote_shares(self, au_vectors, face_widths=None) -> np.ndarray:
        """The k-NN's distance-weighted vote share of each label, uncalibrated; each face
        among the points of its size (face_widths, as in predict_proba)."""
        if not self._searches:
            raise RuntimeError('the classifier has no labelled points: fit or load it first')
        au_vectors = self._check(au_vectors)
        bands = size_bands(self.size_points, face_widths, len(au_vectors))
        if len(bands) and (bands == bands[0]).all():    # one size: most frames, every evaluation
            return self._band_vote_shares(au_vectors, int(bands[0]))
        shares = np.zeros((len(au_vectors), len(self.labels)), np.float32)
        for band in np.unique(bands):
            rows = bands == band
            shares[rows] = self._band_vote_shares(au_vectors[rows], int(band))
        return shares

    def _band_vote_shares(self, au_vectors: np.ndarray, band: int) -> np.ndarray:
        """vote_shares among the points of one size (0: full size)."""
        if len(au_vectors) <= FRAME_FACES and self.metric in MINKOWSKI_P:
            return self._frame_vote_shares(au_vectors, band)
        knn = self._searches[band][0]
        # One OpenMP thread: on an idle machine two are a little faster, but where the other
        # core is busy (the detector, DDS) scikit-learn's two threads waited for each other,
        # up to 70 ms a call here against 1-2 ms on one (README, Speed).
        with self._threads.limit(limits=1, user_api='openmp'), config_context(**QUERY_CONFIG):
            return knn.predict_proba(au_vectors.astype(np.float64)).astype(np.float32)

    def _frame_vote_shares(self, au_vectors: np.ndarray, band: int = 0) -> np.ndarray:
        """vote_shares of a frame's faces: scikit-learn's brute-force answer (its weights:
        1 / distance, or only the neighbours at distance 0 where there are any), found
        directly."""
        k = self._searches[band][0].n_neighbors
        nearest, distances = self._nearest(au_vectors.astype(np.float64), band, k)
        with np.errstate(divide='ignore'):
            weights = 1.0 / distances
        exact = np.isinf(weights)
        on_a_point = exact.any(axis=1)
        weights[on_a_point] = exact[on_a_point]
        shares = np.zeros((len(au_vectors), len(self.labels)))
        np.add.at(shares, (np.arange(len(au_vectors))[:, None], self._point_columns[nearest]),
                  weights)
        shares /= shares.sum(axis=1, keepdims=True)
        return shares.astype(np.float32)

    def predict(self, au_vectors, face_widths=None) -> np.ndarray:
        return np.asarray(self.labels)[self.predict_proba(au_vectors, face_widths).argmax(1)]

    def save(self, path):
        np.savez_compressed(path, points=self.points, labels=self.point_labels,
                            au_codes=np.array(self.au_codes), n_neighbors=self.n_neighbors,
                            metric=self.metric, temperature=self.temperature,
                            bias_labels=np.array(list(self.label_bias), dtype='<U32'),
                            bias_values=np.array(list(self.label_bias.values()), np.float64),
                            size_widths=np.array(list(self.size_temperatures), np.int64),
                            size_factors=np.array(list(self.size_temperatures.values()), np.float64),
                            size_points_widths=np.array(list(self.size_points), np.int64),
                            size_points=np.array(list(self.size_points.values()), np.float32)
                            .reshape(len(self.size_points), *self.points.shape))

    @classmethod
    def load(cls, path, au_codes=None):
        """Load a saved classifier; with au_codes, refuse one made for another AU list."""
        with np.load(Path(path), allow_pickle=False) as data:
            saved_codes = tuple(int(c) for c in data['au_codes'])
            if au_codes is not None and tuple(int(c) for c in au_codes) != saved_codes:
                raise ValueError(f'{path} was made for AUs {saved_codes}, the AU model gives '
                                 f'{tuple(au_codes)}: rebuild it for this model')
            calibration = {}
            if 'temperature' in data:       # neighbourhoods saved before calibration existed
                calibration = {'temperature': float(data['temperature']), 'label_bias': dict(
                    zip(data['bias_labels'].astype(str), data['bias_values'].astype(float)))}
            if 'size_widths' in data:       # ... and before the small-face calibration
                calibration['size_temperatures'] = dict(
                    zip(data['size_widths'].astype(int), data['size_factors'].astype(float)))
            classifier = cls(saved_codes, int(data['n_neighbors']), str(data['metric']),
                             **calibration)
            size_points = dict(zip(data['size_points_widths'].astype(int), data['size_points'])) \
                if 'size_points' in data else {}    # ... and before the small faces' points
            return classifier.fit(data['points'], data['labels'], size_points)

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
