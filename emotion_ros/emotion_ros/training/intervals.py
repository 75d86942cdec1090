"""95% bootstrap intervals for the evaluation figures, resampling faces or whole subjects.

A figure from one test set is one draw: the interval says how far another
draw of the same size could land. Faces of one person are not independent
(CK+ has several frames per subject), so there the subjects are resampled.
"""
import numpy as np

REPEATS = 1000
LEVEL = 0.95


def bootstrap_interval(statistic, count: int, groups=None, repeats: int = REPEATS,
                       level: float = LEVEL, seed: int = 0) -> list[float]:
    """[low, high] percentile interval of `statistic(rows)` over bootstrap resamples.

    statistic: rows (an index array into the `count` test items) -> float.
    groups: a group label per item (e.g. the subject); then whole groups are
    drawn with replacement, each bringing all its items.
    """
    rng = np.random.default_rng(seed)
    members = None if groups is None else [np.flatnonzero(np.asarray(groups) == g)
                                           for g in np.unique(groups)]
    units = count if members is None else len(members)
    values = []
    for _ in range(repeats):
        drawn = rng.integers(0, units, units)
        rows = drawn if members is None else np.concatenate([members[i] for i in drawn])
        value = statistic(rows)
        if value is not None and np.isfinite(value):
            values.append(value)
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def mean_rate(hits: np.ndarray) -> dict:
    """A share of items (accuracy, a recall, a false-alarm rate) with its interval: the
    share of True among `hits`, resampling the items."""
    hits = np.asarray(hits, bool)
    if not len(hits):
        return {'value': None, 'interval_95': None, 'faces': 0}
    return {'value': float(hits.mean()),
            'interval_95': bootstrap_interval(lambda rows: hits[rows].mean(), len(hits)),
            'faces': int(len(hits))}
