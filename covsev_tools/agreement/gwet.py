"""Gwet's AC1 (unweighted) and AC2 (linear / quadratic weights) with their standard errors."""
from __future__ import annotations

import numpy as np
from scipy import stats

from covsev_tools.agreement._result import result_entry, to_frame, undefined_result
from covsev_tools.agreement._table import as_matrix
from covsev_tools.agreement.fleiss import NOT_CATEGORICAL, agreement_weights, category_counts
from covsev_tools.defaults import DEFAULT_CONFIDENCE

NAMES = {"AC1": None, "AC2_linear": "linear", "AC2_quadratic": "quadratic"}


def gwet_from_counts(counts: np.ndarray, w: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """AC1/AC2, SE and t-interval from per-case category counts (n, q) and agreement weights."""
    n, q = counts.shape
    if q < 2:
        return undefined_result("needs at least 2 categories (all ratings are in one category; pass the "
                    "scale's categories)")
    raters = counts.sum(axis=1)
    pairable = raters >= 2
    n_pairable = int(pairable.sum())
    if n_pairable == 0:
        return undefined_result("needs cases rated by at least 2 raters")
    weighted = counts @ w.T
    agree_terms = (counts * (weighted - 1)).sum(axis=1)
    pair_count = np.where(pairable, raters * (raters - 1), 1.0)
    pa_case = np.where(pairable, agree_terms / pair_count, 0.0)
    pa = pa_case[pairable].mean()
    pi = (counts / raters[:, None]).mean(axis=0)
    chance_scale = w.sum() / (q * (q - 1))
    pe = chance_scale * (pi * (1 - pi)).sum()
    if pe >= 1:
        return undefined_result("undefined: chance agreement is 1")
    ac = (pa - pe) / (1 - pe)
    # Linearisation variance of Gwet (2008, 2014), as irrCAC.raw.CAC.gwet (finite population f=0).
    ac_case = (n / n_pairable) * (pa_case - pe * pairable) / (1 - pe)
    pe_case = chance_scale * (counts @ (1 - pi)) / raters
    ac_case_star = ac_case - 2 * (1 - ac) * (pe_case - pe) / (1 - pe)
    se = np.sqrt(((ac_case_star - ac) ** 2).sum() / (n * (n - 1))) if n > 1 else np.nan
    half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * se if n > 1 else np.nan
    # The upper bound is capped at 1, the coefficient's maximum (as irrCAC).
    return result_entry(ac, [ac - half, min(1.0, ac + half)], se=se, n=n,
                ci_method="ac ± t(n-1)·se, upper capped at 1 (Gwet 2014)")


def gwet_ac(data, *, weights: str | None = None, case: str = "case", rater: str = "rater",
            score: str = "score", categories=None, confidence: float = DEFAULT_CONFIDENCE):
    """Gwet's agreement coefficient AC1 (``weights=None``) or AC2 (linear/quadratic weights).

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater; missing ratings allowed.
    weights : {None, "linear", "quadratic"}
        None gives AC1; otherwise AC2 with agreement weights on the category values.
    case, rater, score : str
        Column names.
    categories : str or sequence, optional
        Full category set (e.g. ``"0-8"``). Unlike kappa, AC1's chance agreement depends on the
        number of categories q, so pass the scale's categories. Default: observed integer scores.
    confidence : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row (``AC1``, ``AC2_linear`` or ``AC2_quadratic``): ``estimate, ci_low, ci_high, n,
        method, se`` (+ ``reason`` when undefined).

    Notes
    -----
    Values and standard errors equal ``irrCAC.raw.CAC(...).gwet()`` (tests, 1e-9): observed
    agreement over cases with ≥ 2 ratings, category propensities over all rated cases, variance by
    linearisation; CI = AC ± t(n-1, 0.975)·SE with the upper limit capped at 1.

    References
    ----------
    .. [1] Gwet KL (2008). Computing inter-rater reliability and its variance in the presence of
           high agreement. Br J Math Stat Psychol 61(1):29-48.
    .. [2] Gwet KL (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                       "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> round(gwet_ac(table, categories="0-3").loc["AC1", "estimate"], 3)
    0.671
    """
    name = {None: "AC1", "linear": "AC2_linear", "quadratic": "AC2_quadratic"}.get(weights)
    if name is None:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    matrix = as_matrix(data, case, rater, score, categories)
    return to_frame({name: gwet_result(matrix, weights, confidence)}, confidence)


def gwet_result(matrix, weights: str | None, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Gwet AC1/AC2 result dict of a RatingsMatrix."""
    if matrix.categories is None:
        return undefined_result(NOT_CATEGORICAL)
    counts = category_counts(matrix.category_index(), matrix.categories.size)
    return gwet_from_counts(counts, agreement_weights(matrix.categories, weights), confidence)
