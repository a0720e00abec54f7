"""The agreement statistics the validation report needs, taken from :mod:`covsev_tools.agreement`.

One thin layer, so that every number of the report is the agreement module's own: this file only
reshapes inputs (two score vectors → the tidy ``case, rater, score`` table) and outputs (the
module's tidy rows → ``estimate, ci_low, ci_high``), and runs the paired bootstrap of a comparison.

The bootstrap resamples cases, or patients with all their images when ``cluster=`` gives the
patient of every case (images of one patient are not independent). Its replicates are weighted
sums over cases computed chunk by chunk (:class:`covsev_tools.agreement.bootstrap.Resampling`),
so there is no Python loop over resamples and memory does not grow with their number.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.bootstrap import Resampling, case_indices, cluster_codes
from covsev_tools.agreement.bootstrap import percentile_ci as agreement_percentile_ci
from covsev_tools.agreement.continuous import LOA_MULTIPLIER


def two_column_table(x, y, names=("model", "reference")) -> pd.DataFrame:
    """Two aligned score vectors as a tidy long table with raters ``names``.

    Examples
    --------
    >>> two_column_table([1, 2], [1, 3]).shape
    (4, 3)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    cases = np.arange(len(x))
    return pd.DataFrame({"case": np.concatenate([cases, cases]),
                         "rater": np.repeat(list(names), len(x)),
                         "score": np.concatenate([x, y])})


def unpack(row) -> dict:
    """One tidy row of the agreement module → ``estimate, ci_low, ci_high`` (NaN if undefined).

    Examples
    --------
    >>> unpack(agreement.pearson(two_column_table([1, 2, 3, 5], [1, 3, 2, 5])))["estimate"] > 0.8
    True
    """
    if isinstance(row, pd.DataFrame):
        row = row.iloc[0]
    return {"estimate": float(row["estimate"]), "ci_low": float(row["ci_low"]),
            "ci_high": float(row["ci_high"])}


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Case indices of ``n_boot`` resamples with replacement, shape ``(n_boot, n)``.

    The draw of :func:`covsev_tools.agreement.bootstrap.case_indices`, so a seed gives the same
    resamples here and in ``covsev agreement``. For a patient bootstrap use
    :func:`bootstrap_weights` (resamples of patients have different numbers of images).

    Examples
    --------
    >>> bootstrap_indices(3, 2, seed=0).shape
    (2, 3)
    """
    return case_indices(n, n_boot, seed)


def resampling(n: int, n_boot: int, seed: int = 0, cluster=None) -> Resampling:
    """The bootstrap plan of ``n`` aligned cases: over patients when ``cluster`` labels them.

    Examples
    --------
    >>> resampling(4, 10, cluster=["p1", "p1", "p2", "p3"]).unit
    'patient'
    """
    codes = None if cluster is None else cluster_codes(cluster)
    if codes is not None and len(codes) != n:
        raise ValueError(f"cluster has {len(codes)} labels for {n} cases")
    return Resampling(n, n_boot, seed, codes, "patient" if codes is not None else None)


def bootstrap_weights(n: int, n_boot: int, seed: int = 0, cluster=None) -> np.ndarray:
    """How often each case is drawn in each of ``n_boot`` resamples, shape ``(n_boot, n)``.

    Without ``cluster`` these are the counts of :func:`bootstrap_indices` (same seed, same
    resamples); with patient labels per case every image of a drawn patient counts. A statistic
    that is a mean over cases is then ``weights @ values / weights.sum(axis=1)``.

    Examples
    --------
    >>> w = bootstrap_weights(4, 2, seed=0, cluster=["a", "a", "b", "c"])
    >>> w.shape, bool((w[:, 0] == w[:, 1]).all())
    ((2, 4), True)
    """
    return resampling(n, n_boot, seed, cluster).weights()[1:]


def weighted_mean(values, weights) -> np.ndarray:
    """Mean of ``values`` (n,) in each resample of ``weights`` (B, n).

    Examples
    --------
    >>> weighted_mean([1.0, 3.0], np.array([[1, 1], [2, 0]])).tolist()
    [2.0, 1.0]
    """
    weights = np.asarray(weights, dtype=float)
    return weights @ np.asarray(values, dtype=float) / weights.sum(axis=1)


def percentile_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (undefined replicates ignored; NaN if none).

    :func:`covsev_tools.agreement.bootstrap.percentile_ci` with NaN for a missing bound.

    Examples
    --------
    >>> percentile_ci([np.nan, np.nan])
    (nan, nan)
    """
    low, high, _ = agreement_percentile_ci(values, confidence)
    return (np.nan, np.nan) if low is None else (low, high)


def ci_row(scale: str, statistic: str, estimate, replicates, n: int) -> dict:
    """One table row: estimate and the percentile CI of its bootstrap replicates.

    Examples
    --------
    >>> ci_row("extent", "MAE", 1.0, [0.9, 1.1], 20)["ci_low"] < 1.0
    True
    """
    low, high = percentile_ci(replicates)
    return {"scale": scale, "statistic": statistic, "estimate": float(estimate),
            "ci_low": low, "ci_high": high, "n": int(n)}


def _moments(w, x, y):
    """Weighted means, variances and covariance (1/W) of x, y in each resample row of ``w``."""
    total = w.sum(axis=1)
    mx, my = (w @ x) / total, (w @ y) / total
    vx = (w @ x ** 2) / total - mx ** 2
    vy = (w @ y ** 2) / total - my ** 2
    cxy = (w @ (x * y)) / total - mx * my
    return mx, my, vx, vy, cxy


def _varies(w, x, y):
    """Resamples in which both raters give more than one distinct score (else: undefined)."""
    drawn = w > 0
    def spread(v):
        high = np.where(drawn, v, -np.inf).max(axis=1)
        low = np.where(drawn, v, np.inf).min(axis=1)
        return high > low
    return spread(x) & spread(y)


def _pearson_rows(w, x, y):
    _, _, vx, vy, cxy = _moments(w, x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cxy / np.sqrt(vx * vy)
    return np.where(_varies(w, x, y), np.clip(r, -1, 1), np.nan)


def _midranks(w, values):
    """Midranks of ``values`` (n,) within each weighted resample (B, n): ties share their mean."""
    order = np.argsort(values, kind="stable")
    distinct, starts, inverse = np.unique(values[order], return_index=True, return_inverse=True)
    per_value = np.add.reduceat(w[:, order], starts, axis=1)          # (B, U)
    below = np.cumsum(per_value, axis=1) - per_value
    ranks_sorted = (below + (per_value + 1) / 2)[:, inverse]          # (B, n) in sorted order
    ranks = np.empty_like(ranks_sorted)
    ranks[:, order] = ranks_sorted
    return ranks


def _spearman_rows(w, x, y):
    rx, ry = _midranks(w, x), _midranks(w, y)
    total = w.sum(axis=1)
    mx, my = (w * rx).sum(axis=1) / total, (w * ry).sum(axis=1) / total
    dx, dy = rx - mx[:, None], ry - my[:, None]
    vx, vy = (w * dx ** 2).sum(axis=1), (w * dy ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (w * dx * dy).sum(axis=1) / np.sqrt(vx * vy)
    return np.where(_varies(w, x, y), np.clip(r, -1, 1), np.nan)


def _ccc_rows(w, x, y):
    mx, my, vx, vy, cxy = _moments(w, x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = 2 * cxy / (vx + vy + (mx - my) ** 2)
    return np.where(_varies(w, x, y), rc, np.nan)


#: Public agreement function and its vectorised resample kernel, per statistic.
_PAIRED = {"pearson": ("pearson", _pearson_rows), "spearman": ("spearman", _spearman_rows),
           "ccc": ("concordance_ccc", _ccc_rows)}


def paired_replicates(name: str, x, y, n_boot: int = 1000, seed: int = 0, *,
                      cluster=None) -> np.ndarray:
    """Bootstrap replicates (n_boot,) of Pearson r, Spearman rho or Lin's CCC of aligned x, y.

    Each replicate equals the agreement module's statistic on the resampled pairs (tests compare
    with a loop over ``x[i], y[i]``); undefined resamples (no variance) are NaN.

    Examples
    --------
    >>> paired_replicates("pearson", [1, 2, 3, 4, 6], [1, 2, 4, 3, 6], n_boot=3).shape
    (3,)
    """
    kernel = _PAIRED[name][1]
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    # one common shift keeps the one-pass moments accurate; all three statistics are invariant
    # to shifting both raters by the same amount (CCC is not to shifting one)
    shift = np.nanmean(np.concatenate([x, y]))
    paired = np.isfinite(x) & np.isfinite(y)   # a case missing either score weighs nothing
    x, y = np.where(paired, x - shift, 0.0), np.where(paired, y - shift, 0.0)
    plan = resampling(len(x), n_boot, seed, cluster)
    return plan.replicates(lambda chunk: kernel(chunk.rows * paired, x, y))[1:]


def paired_stat(name: str, x, y, n_boot: int = 1000, seed: int = 0, *, cluster=None) -> dict:
    """Pearson r, Spearman rho or Lin's CCC of two score vectors, with a bootstrap CI.

    The estimate is :mod:`covsev_tools.agreement`'s public function on the two vectors (as raters
    ``model`` and ``reference``); the bootstrap resamples cases, or patients with all their
    images when ``cluster`` gives the patient of every case. The module's own analytic interval
    is kept as ``ci_*_analytic``.

    Parameters
    ----------
    name : {"pearson", "spearman", "ccc"}
    x, y : array-like
        Prediction and reference of the same cases.
    n_boot, seed : int
        Resamples (see :func:`bootstrap_weights`); 0 gives the estimate only.
    cluster : array-like, optional
        Patient label of every case.

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high, ci_low_analytic, ci_high_analytic`` (the resampled unit:
        ``resampling(len(x), n_boot, seed, cluster).unit``).

    Examples
    --------
    >>> out = paired_stat("ccc", [1, 2, 3, 4, 6], [1, 2, 4, 3, 6], n_boot=50)
    >>> round(out["estimate"], 3), out["ci_low"] <= out["estimate"]
    (0.932, True)
    """
    public = _PAIRED[name][0]
    result = getattr(agreement, public)(two_column_table(x, y), rater_a="model",
                                        rater_b="reference")
    low, high = percentile_ci(paired_replicates(name, x, y, n_boot, seed, cluster=cluster))
    analytic = unpack(result)
    return {"estimate": analytic["estimate"], "ci_low": low, "ci_high": high,
            "ci_low_analytic": analytic["ci_low"], "ci_high_analytic": analytic["ci_high"]}


def _limit_replicates(d, plan, multiplier):
    def kernel(chunk):
        w = chunk.rows
        total = w.sum(axis=1)
        bias = (w @ d) / total
        sd = np.sqrt((w @ d ** 2 - total * bias ** 2) / (total - 1))
        return np.stack([bias, bias - multiplier * sd, bias + multiplier * sd], axis=1)
    return plan.replicates(kernel)[1:]


def bland_altman(x, y, n_boot: int = 1000, seed: int = 0, *, cluster=None,
                 multiplier: float = LOA_MULTIPLIER) -> dict:
    """Bland-Altman bias and limits (bias ± multiplier·SD) of ``x - y``, each with a bootstrap CI.

    Parameters
    ----------
    x, y : array-like
        Prediction and reference of the same cases (pairs with a NaN are left out).
    n_boot, seed : int
        Resamples and seed.
    cluster : array-like, optional
        Patient label of every case: resample patients with all their images.
    multiplier : float
        Limits are bias ± multiplier·SD (default 1.96, as Bland & Altman).

    Returns
    -------
    dict
        ``bias, loa_low, loa_high``, each ``{estimate, ci_low, ci_high, ci_low_analytic,
        ci_high_analytic}`` (analytic: the agreement module's t / exact non-central t
        intervals), and ``proportional_bias`` (slope of the difference on the mean, with its
        t interval) and ``multiplier``.

    Examples
    --------
    >>> out = bland_altman([1, 2, 3, 4, 6], [1, 2.5, 3, 4.5, 6], n_boot=20)
    >>> out["bias"]["estimate"], out["multiplier"]
    (-0.2, 1.96)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    frame = agreement.bland_altman(two_column_table(x, y), rater_a="model", rater_b="reference",
                                   multiplier=multiplier)
    keep = np.isfinite(x) & np.isfinite(y)
    d = (x - y)[keep]
    labels = None if cluster is None else np.asarray(cluster, dtype=object)[keep]
    reps = _limit_replicates(d - d.mean(), resampling(len(d), n_boot, seed, labels), multiplier)
    reps = reps + np.array([d.mean(), d.mean(), d.mean()])
    out = {}
    for column, key in enumerate(("bias", "loa_low", "loa_high")):
        low, high = percentile_ci(reps[:, column])
        analytic = unpack(frame.loc[[key]])
        out[key] = {"estimate": analytic["estimate"], "ci_low": low, "ci_high": high,
                    "ci_low_analytic": analytic["ci_low"], "ci_high_analytic": analytic["ci_high"]}
    if "proportional_bias" in frame.index:
        out["proportional_bias"] = unpack(frame.loc[["proportional_bias"]])
    out["multiplier"] = multiplier
    return out


def icc(long: pd.DataFrame) -> dict:
    """All ICC forms of a tidy ``case, rater, score`` table: form → ``estimate, ci_low, ci_high,
    label`` (the exact F intervals of :func:`covsev_tools.agreement.icc`).

    Examples
    --------
    >>> round(icc(two_column_table([1, 2, 3, 5], [1, 3, 3, 5]))["ICC2"]["estimate"], 3)
    0.955
    """
    frame = agreement.icc(long)
    return {form: {**unpack(frame.loc[[form]]), "label": frame.loc[form, "label"]}
            for form in frame.index}


def weighted_kappa(long: pd.DataFrame, categories=None) -> float:
    """Quadratic-weighted Cohen's kappa of the two raters of ``long`` (point estimate).

    Examples
    --------
    >>> weighted_kappa(two_column_table([0, 1, 2], [0, 1, 2]))
    1.0
    """
    result = agreement.cohen_kappa(long, weights="quadratic", categories=categories, n_boot=0)
    return unpack(result)["estimate"]


def pairwise_matrix(long: pd.DataFrame, statistic: str = "mae") -> pd.DataFrame:
    """Square rater × rater matrix of one statistic of :func:`agreement.pairwise_agreement`.

    Parameters
    ----------
    long : DataFrame
        Tidy ``case, rater, score``.
    statistic : str
        A statistic of the tidy pairs table: ``"mae"``, ``"rmse"``, ``"ccc"``, ``"pearson"`` ...

    Examples
    --------
    >>> pairwise_matrix(two_column_table([1, 2, 3], [1, 2, 4])).loc["reference", "model"]
    0.3333333333333333
    """
    raters = sorted(long["rater"].unique(), key=lambda r: (r == "model", r))
    matrix = pd.DataFrame(np.nan, index=raters, columns=raters)
    pairs = agreement.pairwise_agreement(long, n_boot=0, cluster=None)
    for row in pairs[pairs["statistic"] == statistic].itertuples():
        matrix.loc[row.rater_a, row.rater_b] = row.estimate
        matrix.loc[row.rater_b, row.rater_a] = row.estimate
    return matrix
