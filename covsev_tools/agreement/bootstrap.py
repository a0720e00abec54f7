"""Case-level bootstrap, vectorised: one (B, n) matrix of resampled case counts for every statistic.

Resampling is over cases (all ratings of a case move together), never over single ratings. The
resampled case indices are drawn once, as a (B, n) matrix, from ``numpy.random.default_rng(seed)``;
they are turned into a (B, n) matrix ``W`` of how many times each case appears in each resample.
Every statistic below is written as sums over cases, so its B bootstrap replicates come from
matrix products ``W @ per_case_terms`` — no Python loop over resamples.

References
----------
Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993 (percentile CI).
"""
from __future__ import annotations

import numpy as np


def case_indices(n_cases: int, n_boot: int, seed=0) -> np.ndarray:
    """Case indices of ``n_boot`` resamples with replacement, shape ``(n_boot, n_cases)``.

    The one draw of the package: :func:`case_weights` counts these indices, and the validation
    report indexes score vectors with them, so a seed gives the same resamples everywhere.

    Examples
    --------
    >>> case_indices(3, 2, seed=0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_cases, size=(n_boot, n_cases))


def case_weights(n_cases: int, n_boot: int, seed=0) -> np.ndarray:
    """Point-estimate row plus ``n_boot`` bootstrap rows of case multiplicities.

    Parameters
    ----------
    n_cases : int
        Number of cases (rows of the ratings matrix).
    n_boot : int
        Number of bootstrap resamples (0: point estimate only).
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same resamples.

    Returns
    -------
    ndarray, shape (1 + n_boot, n_cases)
        Row 0 is all ones (the original sample); row ``b`` counts how often each case was drawn
        in resample ``b``.

    Examples
    --------
    >>> w = case_weights(4, 3, seed=0)
    >>> w.shape, w[0].tolist(), w[1:].sum(axis=1).tolist()
    ((4, 4), [1.0, 1.0, 1.0, 1.0], [4.0, 4.0, 4.0])
    """
    weights = np.ones((1 + n_boot, n_cases))
    if n_boot:
        index = case_indices(n_cases, n_boot, seed)
        offsets = (np.arange(n_boot) * n_cases)[:, None]
        counts = np.bincount((index + offsets).ravel(), minlength=n_boot * n_cases)
        weights[1:] = counts.reshape(n_boot, n_cases)
    return weights


def percentile_ci(replicates: np.ndarray, level: float = 0.95):
    """Percentile bootstrap interval of the finite replicates.

    Returns ``(low, high, n_valid)``; ``(None, None, 0)`` without finite replicates. Resamples in
    which the statistic is undefined (e.g. a resample with a single category) are left out and
    their number is reported by the callers.
    """
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None, 0
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high), int(values.size)


def with_bootstrap_ci(estimates: np.ndarray, level: float = 0.95) -> dict:
    """Fields ``ci95`` (+ ``n_boot_valid`` when some resamples were undefined) from row 0 + replicates."""
    boot = estimates[1:]
    if boot.size == 0:
        return {}
    low, high, n_valid = percentile_ci(boot, level)
    fields = {"ci95": None if low is None else [low, high], "ci_method": "bootstrap percentile"}
    if n_valid < boot.size:
        fields["n_boot_valid"] = n_valid
    return fields
