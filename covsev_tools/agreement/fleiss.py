"""Kappa arithmetic (agreement weights, tables, Fleiss-Cohen-Everitt SE) and Fleiss' kappa.

Cohen's kappa of rater pairs is in :mod:`covsev_tools.agreement.cohen`.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from covsev_tools.agreement._result import result_entry, to_frame, undefined_result
from covsev_tools.agreement.bootstrap import (DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, Job,
                                              Weights, run_jobs, with_bootstrap_ci)
from covsev_tools.agreement._table import as_matrix, resampling

NOT_CATEGORICAL = ("scores are not categorical (non-integer values); kappa-type statistics need "
                   "categories: pass categories='0-8' (CLI --categories) with integer scores")


def agreement_weights(categories: np.ndarray, weights: str | None) -> np.ndarray:
    """Agreement weight matrix: identity, ``"linear"`` 1-|i-j|/range or ``"quadratic"`` 1-(i-j)²/range².

    Distances are in category *values* (Cicchetti & Allison 1971; Fleiss & Cohen 1973), so for
    equally spaced categories they equal scikit-learn's / irrCAC's index-based weights.

    Examples
    --------
    >>> agreement_weights(np.array([0.0, 1.0, 2.0]), "linear")[0].tolist()
    [1.0, 0.5, 0.0]
    """
    cats = np.asarray(categories, dtype=float)
    if weights is None or cats.size < 2:
        return np.eye(cats.size)
    diff = np.abs(cats[:, None] - cats[None, :]) / (cats.max() - cats.min())
    if weights == "linear":
        return 1 - diff
    if weights == "quadratic":
        return 1 - diff ** 2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")


class PairTables:
    """Contingency tables of one rater pair for chunks of resample weights (the direct way).

    A sparse (q², n) indicator of each case's cell times the chunk's case-major weights
    (:attr:`Weights.by_case`). The statistics use the faster all-pairs products of
    :mod:`covsev_tools.agreement.cohen`; this stays as their reference (tests).
    """

    def __init__(self, index_a: np.ndarray, index_b: np.ndarray, q: int):
        both = (index_a >= 0) & (index_b >= 0)
        cases = np.flatnonzero(both)
        cells = index_a[cases] * q + index_b[cases]
        self.q = q
        self.indicator = sparse.csr_matrix((np.ones(cases.size), (cells, cases)),
                                           shape=(q * q, index_a.size))
        self.sample = self.indicator.sum(axis=1).A.reshape(q, q)

    def __call__(self, weights) -> np.ndarray:
        """(R, q, q) tables, one per row of the chunk."""
        counts = self.indicator @ weights.by_case            # (q², R)
        return np.ascontiguousarray(counts.T).reshape(-1, self.q, self.q)


def pair_tables(index_a: np.ndarray, index_b: np.ndarray, q: int, weights: np.ndarray) -> np.ndarray:
    """(R, q, q) contingency tables of a rater pair for each row of case weights (R, n)."""
    return PairTables(index_a, index_b, q)(Weights(np.asarray(weights, dtype=float)))


def kappa_from_tables(tables: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted kappa of each (q × q) table: (po - pe) / (1 - pe) with agreement weights ``w``.

    Examples
    --------
    >>> table = np.array([[[20.0, 5.0], [10.0, 15.0]]])
    >>> kappa_from_tables(table, np.eye(2)).round(3).tolist()
    [0.4]
    """
    total = tables.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = tables / total[:, None, None]
        rows, cols = p.sum(axis=2), p.sum(axis=1)
        po = (p * w).sum(axis=(1, 2))
        pe = np.einsum("ri,rj,ij->r", rows, cols, w)
        return (po - pe) / (1 - pe)


def kappa_se(table: np.ndarray, w: np.ndarray, kappa: float) -> float:
    """Large-sample (non-null) standard error of Fleiss, Cohen & Everitt (1969)."""
    n = table.sum()
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    pe = rows @ w @ cols
    w_row, w_col = w @ cols, rows @ w
    term = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (term - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    return float(np.sqrt(max(var, 0.0))) if np.isfinite(var) else float("nan")


def kappa_result(tables: np.ndarray, w: np.ndarray, confidence: float = DEFAULT_CONFIDENCE,
                 kappas: np.ndarray | None = None, unit: str = "case") -> dict:
    """Result dict from the sample table ``tables[0]`` and the kappas of row 0 + resamples.

    ``kappas`` (1 + B,) may be given when the tables were reduced chunk by chunk; otherwise they
    are computed from ``tables`` (R, q, q).
    """
    n = int(round(tables[0].sum()))
    if n < 2:
        return undefined_result(f"needs at least 2 cases rated by both raters; found {n}")
    if kappas is None:
        kappas = kappa_from_tables(tables, w)
    if not np.isfinite(kappas[0]):
        return undefined_result("undefined: both raters used a single and the same category (expected "
                    "agreement = 1)", n=n)
    return result_entry(kappas[0], se=kappa_se(tables[0], w, kappas[0]), n=n,
                se_method="asymptotic (Fleiss, Cohen & Everitt 1969)",
                **with_bootstrap_ci(kappas, confidence, unit))


def two_raters(matrix, rater_a, rater_b):
    if rater_a is None and rater_b is None:
        if len(matrix.raters) != 2:
            raise ValueError(f"name rater_a and rater_b: the table has {len(matrix.raters)} raters "
                             f"({', '.join(map(str, matrix.raters))})")
        return matrix.raters
    if rater_a is None or rater_b is None or rater_a == rater_b:
        raise ValueError(f"name two different raters (got {rater_a!r} and {rater_b!r})")
    for name in (rater_a, rater_b):
        if name not in matrix.raters:
            raise ValueError(f"rater {name!r} not in the table (raters: "
                             f"{', '.join(map(str, matrix.raters))})")
    return rater_a, rater_b


#: Row name of each weighting of Cohen's kappa (the keys of a pair in the JSON report).
KAPPA_NAMES = {None: "kappa", "linear": "kappa_linear", "quadratic": "kappa_quadratic"}


def category_counts(index: np.ndarray, q: int) -> np.ndarray:
    """(n, q) number of raters who put each case in each category.

    Examples
    --------
    >>> category_counts(np.array([[0, 1, 1], [2, 2, -1]]), 3).tolist()
    [[1.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    """
    n = index.shape[0]
    rows = np.repeat(np.arange(n), index.shape[1])
    flat = index.ravel()
    keep = flat >= 0
    return np.bincount(rows[keep] * q + flat[keep], minlength=n * q).reshape(n, q).astype(float)


def fleiss_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa (generalised to varying raters per case) for each row of case weights."""
    raters = counts.sum(axis=1)
    pairable = raters >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        agree = np.where(pairable, (counts * (counts - 1)).sum(axis=1) / (raters * (raters - 1)), 0.0)
        shares = counts / raters[:, None]
        pa = (weights @ agree) / (weights @ pairable.astype(float))
        pi = (weights @ shares) / weights.sum(axis=1)[:, None]
        pe = (pi ** 2).sum(axis=1)
        return (pa - pe) / (1 - pe)


def fleiss_kappa(data, *, case: str = "case", rater: str = "rater", score: str = "score",
                 categories=None, cluster: str | None = DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
                 seed=0, confidence: float = DEFAULT_CONFIDENCE):
    """Fleiss' kappa for two or more raters, with a bootstrap CI.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater; missing ratings allowed.
    case, rater, score : str
        Column names.
    categories : str or sequence, optional
        The full category set (e.g. ``"0-8"``). Default: distinct observed integer scores.
    cluster : str or None
        Patient column for the patient bootstrap (default: ``patient_id``, else ``patientid``, when present).
    n_boot, seed : int
        Bootstrap resamples and seed of the percentile CI.
    confidence : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row ``fleiss_kappa``: ``estimate, ci_low, ci_high, n, method`` (+ ``n_boot_valid``,
        ``reason``).

    Notes
    -----
    With complete data this is Fleiss (1971), equal to ``statsmodels.stats.inter_rater
    .fleiss_kappa``. With missing ratings it is Gwet's (2014) generalisation, as
    ``irrCAC.raw.CAC.fleiss``: observed agreement averaged over cases with ≥ 2 ratings, category
    shares averaged over cases with ≥ 1 rating.

    References
    ----------
    .. [1] Fleiss JL (1971). Measuring nominal scale agreement among many raters. Psychological
           Bulletin 76(5):378-382.
    .. [2] Gwet KL (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"case": [1, 1, 1, 2, 2, 2, 3, 3, 3], "rater": list("abcabcabc"),
    ...                       "score": [0, 0, 0, 1, 1, 0, 2, 2, 2]})
    >>> round(fleiss_kappa(table, n_boot=0).loc["fleiss_kappa", "estimate"], 3)
    0.654
    """
    matrix = as_matrix(data, case, rater, score, categories, cluster)
    if matrix.categories is None:
        return to_frame({"fleiss_kappa": undefined_result(NOT_CATEGORICAL)}, confidence)
    plan = resampling(matrix, n_boot, seed)
    result = run_jobs(plan, {"f": fleiss_job(matrix, confidence, plan.unit)})["f"]
    return to_frame({"fleiss_kappa": result}, confidence)


def fleiss_job(matrix, confidence: float = DEFAULT_CONFIDENCE, unit: str = "case"):
    """Fleiss' kappa of a RatingsMatrix as a bootstrap :class:`Job` (or a null result)."""
    if matrix.categories is None:
        return undefined_result(NOT_CATEGORICAL)
    counts = category_counts(matrix.category_index(), matrix.categories.size)
    n_pairable = int((counts.sum(axis=1) >= 2).sum())
    if n_pairable < 1:
        return undefined_result("needs cases rated by at least 2 raters")

    def finish(kappas):
        if not np.isfinite(kappas[0]):
            return undefined_result("undefined: every rating is in the same category (expected agreement = 1)")
        return result_entry(kappas[0], n=n_pairable, **with_bootstrap_ci(kappas, confidence, unit))

    return Job(lambda chunk: fleiss_from_counts(counts, chunk.rows), finish)
