"""Bootstrap replicates of the validation statistics, vectorised over resamples.

A resample is a row of case multiplicities ``w`` (how often each case was drawn; with a patient
column, every image of a drawn patient counts once per draw), produced in chunks by
:class:`covsev_tools.agreement.bootstrap.Resampling` -- the package's one bootstrap draw, so a seed
gives the same resamples here and in ``covsev agreement``. Each statistic is a weighted sum over
cases, so the replicates of a chunk are a few matrix products: no Python loop over resamples
(rather than a ``scipy.stats.pearsonr`` call per resample).

Without patients the weights count the same case draws as indexing ``x[idx]`` with
``case_indices``, so the replicates equal the per-resample library calls to rounding (tests check
1e-12). Row 0 of every result is the estimate on the sample itself (all weights one).
"""
from __future__ import annotations

import numpy as np

import pandas as pd

from covsev_tools.agreement.bootstrap import (CHUNK_CELLS, DEFAULT_CONFIDENCE, Resampling, Weights,
                                              percentile_ci)
from covsev_tools.agreement.bootstrap import bootstrap_method as agreement_bootstrap_method

__all__ = ["bootstrap_interval", "bootstrap_method", "bootstrap_row", "loa_replicates",
           "mean_replicates", "paired_replicates", "patient_codes", "result_frame", "shared_resampling"]


class StoredResampling:
    """The resamples of one :class:`Resampling`, drawn once and kept as small integer counts.

    A report asks for the same resamples many times (every statistic of a scale, every left-out
    rater, both mappings); drawing ~n × B random numbers each time cost more than the statistics.
    Counts are kept as uint8 (a case drawn more than 255 times in one resample is not a real
    bootstrap; uint16 then), i.e. n × B bytes: 20 MB at 20,000 cases × 1,000 resamples.

    Examples
    --------
    >>> stored = StoredResampling(Resampling(3, 2, seed=0))
    >>> stored.counts.dtype, stored.counts.shape
    (dtype('uint8'), (3, 3))
    """

    def __init__(self, resampling: Resampling):
        self.resampling = resampling
        rows = [chunk.rows for chunk in resampling.chunks()]
        high = max((float(r.max()) for r in rows if r.size), default=0)
        dtype = np.uint8 if high <= 255 else np.uint16
        self.counts = np.vstack([r.astype(dtype) for r in rows]) if rows else np.ones((1, 0), dtype)
        self.unit = resampling.unit

    def chunks(self):
        """:class:`Weights` of at most ``CHUNK_CELLS`` cells each, as floats, in order."""
        per_chunk = max(1, CHUNK_CELLS // max(self.counts.shape[1], 1))
        for start in range(0, len(self.counts), per_chunk):
            yield Weights(self.counts[start:start + per_chunk].astype(float))


_STORED: dict = {}


def shared_resampling(n_cases: int, n_boot: int, seed=0, clusters=None) -> StoredResampling:
    """The resamples of ``n_cases`` cases (or of their patients, given integer ``clusters``).

    The draw is :class:`covsev_tools.agreement.bootstrap.Resampling`'s; the last few are kept,
    so the statistics of the same cases (every statistic of a scale, every left-out rater, both
    mappings) share one draw.

    Examples
    --------
    >>> draws = shared_resampling(4, 2, clusters=np.array([0, 0, 1, 1]))
    >>> w = np.vstack([c.rows for c in draws.chunks()])
    >>> w[0].tolist(), w.shape, draws.unit
    ([1.0, 1.0, 1.0, 1.0], (3, 4), 'patient')
    """
    codes = None if clusters is None else np.asarray(clusters, dtype=np.int64)
    key = (n_cases, n_boot, seed, None if codes is None else codes.tobytes())
    if key not in _STORED:
        while len(_STORED) >= 4:  # bounded memory: a few draws of n x B bytes
            _STORED.pop(next(iter(_STORED)))
        _STORED[key] = StoredResampling(Resampling(n_cases, n_boot, seed, codes))
    return _STORED[key]


def patient_codes(cluster) -> np.ndarray | None:
    """Integer patient codes of a ``cluster=`` given per case: integer codes as they are, labels
    numbered in sorted order (as :meth:`ValidationInputs.patients` numbers them); None stays None.

    Examples
    --------
    >>> patient_codes(["p2", "p1", "p2"]).tolist(), patient_codes(np.array([1, 0, 1])).tolist()
    ([1, 0, 1], [1, 0, 1])
    """
    if cluster is None:
        return None
    values = np.asarray(cluster)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    return pd.factorize(values.astype(str), sort=True)[0].astype(np.int64)


def bootstrap_interval(replicates, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of the bootstrap rows (row 0, the estimate, left out); NaN if none.

    The percentiles are :func:`covsev_tools.agreement.bootstrap.percentile_ci`'s, the package's
    one percentile interval.

    Examples
    --------
    >>> bootstrap_interval(np.r_[5.0, np.arange(101.0)], 0.9)
    (5.0, 95.0)
    """
    low, high, _ = percentile_ci(np.asarray(replicates, dtype=float)[1:], confidence)
    return (np.nan, np.nan) if low is None else (low, high)


def bootstrap_method(resampling) -> str:
    """The ``method`` of a bootstrap row: the agreement package's words (:func:`~covsev_tools.agreement.bootstrap.bootstrap_method`).

    Examples
    --------
    >>> bootstrap_method(shared_resampling(2, 0)), bootstrap_method(shared_resampling(2, 0, clusters=[0, 1]))
    ('bootstrap percentile', 'bootstrap percentile, patients resampled')
    """
    return agreement_bootstrap_method(resampling.unit)


def bootstrap_row(replicates, resampling, *, n: int, confidence: float = DEFAULT_CONFIDENCE,
                  estimate=None, **columns) -> dict:
    """One tidy row: ``columns`` (scale, statistic, ...), the estimate and its percentile interval.

    The estimate is row 0 of ``replicates`` unless ``estimate`` is given: pass the value computed
    the plain way (e.g. ``errors.mean()``) to keep it bit-identical to earlier versions, as a
    matrix product may round the last digit differently.

    Examples
    --------
    >>> row = bootstrap_row([1.0, 0.9, 1.1], shared_resampling(10, 0), n=10, statistic="MAE")
    >>> row["statistic"], row["estimate"], row["method"]
    ('MAE', 1.0, 'bootstrap percentile')
    """
    low, high = bootstrap_interval(replicates, confidence)
    value = replicates[0] if estimate is None else estimate
    return {**columns, "estimate": float(value), "ci_low": low, "ci_high": high, "n": int(n),
            "method": bootstrap_method(resampling)}


def result_frame(rows, *, confidence: float, n_boot: int, seed, cluster, columns=None) -> pd.DataFrame:
    """The tidy frame of a section: ``rows`` in a DataFrame, the bootstrap settings in ``attrs``.

    ``attrs`` holds ``confidence``, ``n_boot``, ``seed`` and ``cluster`` (the patient column
    resampled, None for images), as the agreement package's frames hold ``confidence``.

    Examples
    --------
    >>> frame = result_frame([{"statistic": "MAE", "estimate": 1.0}], confidence=0.9, n_boot=10,
    ...                      seed=0, cluster=None)
    >>> frame.attrs
    {'confidence': 0.9, 'n_boot': 10, 'seed': 0, 'cluster': None}
    """
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs.update(confidence=confidence, n_boot=n_boot, seed=seed, cluster=cluster)
    return frame


def mean_replicates(values, resampling: Resampling) -> np.ndarray:
    """Weighted means of per-case ``values``: shape (1 + B,) or (1 + B, k) for (n, k) values.

    Examples
    --------
    >>> mean_replicates(np.array([1.0, 3.0]), shared_resampling(2, 0)).tolist()
    [2.0]
    """
    values = np.asarray(values, dtype=float)
    parts = [(w.rows @ values) / _column(w.rows.sum(axis=1), values) for w in resampling.chunks()]
    return np.concatenate(parts)


def _column(total, values):
    return total if values.ndim == 1 else total[:, None]


def loa_replicates(d, resampling: Resampling, multiplier: float) -> dict:
    """Bias, lower and upper limits of agreement (bias ∓ multiplier × SD, n − 1) of differences.

    Examples
    --------
    >>> reps = loa_replicates(np.array([0.0, 1.0, 2.0]), shared_resampling(3, 0), 2.0)
    >>> [round(float(reps[k][0]), 3) for k in ("bias", "loa_low", "loa_high")]
    [1.0, -1.0, 3.0]
    """
    d = np.asarray(d, dtype=float)
    out = {"bias": [], "loa_low": [], "loa_high": []}
    for chunk in resampling.chunks():
        w = chunk.rows
        total = w.sum(axis=1)
        bias = (w @ d) / total
        # two passes (centre, then square): exact for small samples, no cancellation
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt(np.einsum("bn,bn->b", w, (d[None, :] - bias[:, None]) ** 2) / (total - 1))
        out["bias"].append(bias)
        out["loa_low"].append(bias - multiplier * sd)
        out["loa_high"].append(bias + multiplier * sd)
    return {key: np.concatenate(parts) for key, parts in out.items()}


def paired_replicates(x, y, resampling, statistics=("pearson", "spearman", "ccc")) -> dict:
    """Pearson r, Spearman ρ and Lin's CCC of ``x`` and ``y`` for the sample and every resample.

    A resample in which ``x`` or ``y`` has a single value gives NaN (as the library functions,
    which call the statistic undefined there).

    Returns
    -------
    dict of str to ndarray
        Per statistic, (1 + B,) values; row 0 is the estimate on the sample.

    Examples
    --------
    >>> x, y = np.array([1.0, 2.0, 3.0, 5.0]), np.array([1.0, 3.0, 2.0, 4.0])
    >>> reps = paired_replicates(x, y, shared_resampling(4, 0))
    >>> round(float(reps["pearson"][0]), 6), round(float(reps["spearman"][0]), 6)
    (0.831522, 0.8)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ranks = (_TieGroups(x), _TieGroups(y)) if "spearman" in statistics else None
    out = {name: [] for name in statistics}
    for chunk in resampling.chunks():
        w = chunk.rows
        moments = _Moments(w, x, y)
        spread = moments.spread
        for name in statistics:
            if name == "spearman":
                value = _Moments(w, ranks[0].ranks(w), ranks[1].ranks(w)).pearson()
            else:
                value = moments.pearson() if name == "pearson" else moments.ccc()
            out[name].append(np.where(spread, value, np.nan))
    return {name: np.concatenate(parts) for name, parts in out.items()}


class _Moments:
    """Weighted means and centred second moments of x and y in every resample of a chunk.

    Fixed vectors go through matrix-vector products on values centred on the sample mean (five
    BLAS passes over the weights, no (B, n) temporaries); per-resample vectors (ranks) through
    one fused product each.
    """

    def __init__(self, w: np.ndarray, x: np.ndarray, y: np.ndarray):
        self.total = w.sum(axis=1)
        fixed = x.ndim == 1
        shift_x = x.mean() if fixed else 0.0
        shift_y = y.mean() if fixed else 0.0
        xc, yc = x - shift_x, y - shift_y  # centring first keeps the one-pass sums exact enough
        if fixed:
            sx, sy = w @ xc, w @ yc
            sxx, syy, sxy = w @ (xc * xc), w @ (yc * yc), w @ (xc * yc)
        else:
            sx, sy = np.einsum("bn,bn->b", w, xc), np.einsum("bn,bn->b", w, yc)
            sxx = np.einsum("bn,bn,bn->b", w, xc, xc)
            syy = np.einsum("bn,bn,bn->b", w, yc, yc)
            sxy = np.einsum("bn,bn,bn->b", w, xc, yc)
        self.mx, self.my = sx / self.total, sy / self.total
        self.sxx = sxx - sx * self.mx
        self.syy = syy - sy * self.my
        self.sxy = sxy - sx * self.my
        self.mean_gap = (self.mx + shift_x) - (self.my + shift_y)
        # a resample whose drawn values are all equal has a centred sum of rounding size only
        tiny_x = 1e-20 * self.total * (1.0 + float(np.max(np.abs(xc), initial=0.0)) ** 2)
        tiny_y = 1e-20 * self.total * (1.0 + float(np.max(np.abs(yc), initial=0.0)) ** 2)
        self.spread = (self.sxx > tiny_x) & (self.syy > tiny_y)

    def pearson(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(self.sxy / np.sqrt(self.sxx * self.syy), -1.0, 1.0)

    def ccc(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # 1/n moments, as Lin (1989)
            n = self.total
            return 2 * self.sxy / n / ((self.sxx + self.syy) / n + self.mean_gap ** 2)


class _TieGroups:
    """Average ranks of a vector within weighted resamples (ties share their mean rank).

    The values are sorted once; in a resample, the rank of a value is the number of drawn cases
    below it plus (its own draws + 1) / 2 -- what ``scipy.stats.rankdata`` gives on the
    resample written out case by case.
    """

    def __init__(self, values: np.ndarray):
        self.order = np.argsort(values, kind="stable")
        sorted_values = values[self.order]
        starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
        self.starts = np.flatnonzero(starts)
        group_of_sorted = np.cumsum(starts) - 1
        self.group = np.empty(len(values), dtype=np.int64)
        self.group[self.order] = group_of_sorted

    def ranks(self, w: np.ndarray) -> np.ndarray:
        counts = np.add.reduceat(w[:, self.order], self.starts, axis=1)
        below = np.cumsum(counts, axis=1) - counts
        return (below + (counts + 1) / 2)[:, self.group]
