"""The agreement statistics the validation report needs, taken from :mod:`covsev_tools.agreement`.

One thin layer, so that every number of the report is the agreement module's own: this file only
reshapes inputs (two score vectors → the tidy ``case, rater, score`` table) and outputs (the
module's ``{"value", "ci95"}`` dicts → ``estimate, ci_low, ci_high``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.bootstrap import case_indices, percentile_ci as agreement_percentile_ci


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


def unpack(result: dict) -> dict:
    """``{"value", "ci95"}`` of the agreement module → ``estimate, ci_low, ci_high`` (NaN if none)."""
    value = result.get("value")
    ci = result.get("ci95") or (None, None)
    as_float = lambda v: np.nan if v is None else float(v)  # noqa: E731
    return {"estimate": as_float(value), "ci_low": as_float(ci[0]), "ci_high": as_float(ci[1])}


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Case indices of ``n_boot`` resamples with replacement, shape ``(n_boot, n)``.

    The draw of :func:`covsev_tools.agreement.bootstrap.case_indices`, so a seed gives the same
    resamples here and in ``covsev agreement``. All statistics of one comparison share the matrix,
    which makes their differences paired.

    Examples
    --------
    >>> bootstrap_indices(3, 2, seed=0).shape
    (2, 3)
    """
    return case_indices(n, n_boot, seed)


def percentile_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (undefined replicates ignored; NaN if none).

    :func:`covsev_tools.agreement.bootstrap.percentile_ci` with NaN for a missing bound.
    """
    low, high, _ = agreement_percentile_ci(values, confidence)
    return (np.nan, np.nan) if low is None else (low, high)


def ci_row(scale: str, statistic: str, estimate, replicates, n: int) -> dict:
    """One table row: estimate and the percentile CI of its bootstrap replicates."""
    low, high = percentile_ci(replicates)
    return {"scale": scale, "statistic": statistic, "estimate": float(estimate),
            "ci_low": low, "ci_high": high, "n": int(n)}


#: Public agreement function and its two-array kernel, per statistic.
_PAIRED = {"pearson": ("pearson", "pearson_xy"), "spearman": ("spearman", "spearman_xy"),
           "ccc": ("concordance_ccc", "ccc_xy")}


def paired_stat(name: str, x, y, n_boot: int = 1000, seed: int = 0) -> dict:
    """Pearson r, Spearman rho or Lin's CCC of two score vectors, with a bootstrap CI.

    The estimate is :mod:`covsev_tools.agreement`'s public function on the two vectors (as raters
    ``model`` and ``reference``); the bootstrap replicates apply the same module's kernel to case
    resamples. The module's own analytic interval is kept as ``ci_*_analytic``.

    Parameters
    ----------
    name : {"pearson", "spearman", "ccc"}
    x, y : array-like
        Prediction and reference of the same cases.
    n_boot, seed : int
        Case resamples (see :func:`bootstrap_indices`); 0 gives the estimate only.

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high, ci_low_analytic, ci_high_analytic``.
    """
    from covsev_tools.agreement import continuous

    public, kernel = _PAIRED[name]
    result = getattr(agreement, public)(two_column_table(x, y), "model", "reference")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # a degenerate resample is just NaN
        reps = [unpack(getattr(continuous, kernel)(x[i], y[i]))["estimate"]
                for i in bootstrap_indices(len(x), n_boot, seed)]
    low, high = percentile_ci(reps)
    analytic = unpack(result)
    return {"estimate": analytic["estimate"], "ci_low": low, "ci_high": high,
            "ci_low_analytic": analytic["ci_low"], "ci_high_analytic": analytic["ci_high"]}


def bland_altman(x, y, n_boot: int = 1000, seed: int = 0) -> dict:
    """Bland-Altman bias and 95% limits of agreement of ``x - y``, each with a bootstrap CI.

    Returns
    -------
    dict
        ``bias, loa_low, loa_high``, each ``{estimate, ci_low, ci_high, ci_low_analytic,
        ci_high_analytic}`` (analytic: the agreement module's t / exact non-central t intervals).
    """
    from covsev_tools.agreement.continuous import limits_of_agreement

    result = agreement.bland_altman(two_column_table(x, y), "model", "reference")
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    d = d[np.isfinite(d)]
    # every resample at once: row b of d[idx] holds the differences of resample b
    bias, _, loa_low, loa_high = limits_of_agreement(d[bootstrap_indices(len(d), n_boot, seed)])
    reps = {"bias": bias, "loa_low": loa_low, "loa_high": loa_high}
    out = {}
    for key in ("bias", "loa_low", "loa_high"):
        low, high = percentile_ci(reps[key])
        analytic = result.get(f"{key}_ci95") or (np.nan, np.nan)
        out[key] = {"estimate": float(result[key]), "ci_low": low, "ci_high": high,
                    "ci_low_analytic": analytic[0], "ci_high_analytic": analytic[1]}
    return out


def icc(long: pd.DataFrame) -> dict:
    """All ICC forms of a tidy ``case, rater, score`` table: form → ``estimate, ci_low, ci_high,
    label`` (the exact F intervals of :func:`covsev_tools.agreement.icc`)."""
    out = {}
    for form, result in agreement.icc(long).items():
        out[form] = {**unpack(result), "label": result.get("label", form)}
    return out


def weighted_kappa(long: pd.DataFrame, categories=None) -> float:
    """Quadratic-weighted Cohen's kappa of the two raters of ``long`` (point estimate)."""
    result = agreement.cohen_kappa(long, weights="quadratic", categories=categories, n_boot=0)
    return unpack(result)["estimate"]


def pairwise_matrix(long: pd.DataFrame, statistic: str = "mae") -> pd.DataFrame:
    """Square rater × rater matrix of one statistic of :func:`agreement.pairwise_agreement`.

    Parameters
    ----------
    long : DataFrame
        Tidy ``case, rater, score``.
    statistic : str
        Key of a pair entry: ``"mae"``, ``"rmse"`` (numbers) or ``"ccc"``, ``"pearson"`` (dicts).
    """
    raters = sorted(long["rater"].unique(), key=lambda r: (r == "model", r))
    matrix = pd.DataFrame(np.nan, index=raters, columns=raters)
    for pair in agreement.pairwise_agreement(long, n_boot=0):
        value = pair.get(statistic)
        if isinstance(value, dict):
            value = value.get("value")
        value = np.nan if value is None else value
        matrix.loc[pair["rater_a"], pair["rater_b"]] = value
        matrix.loc[pair["rater_b"], pair["rater_a"]] = value
    return matrix
