"""All agreement statistics of a ratings table in one JSON-ready dictionary (schema in the README)."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from covsev_tools.agreement._result import clean, null
from covsev_tools.agreement._table import as_matrix
from covsev_tools.agreement.alpha import LEVELS, alpha_result
from covsev_tools.agreement.bootstrap import case_weights
from covsev_tools.agreement.continuous import continuous_xy
from covsev_tools.agreement.gwet import NAMES as GWET_NAMES, gwet_result
from covsev_tools.agreement.icc import icc_cases_used, icc_result
from covsev_tools.agreement.kappa import NOT_CATEGORICAL, agreement_weights, fleiss_result, kappa_result, pair_tables

KAPPA_FIELDS = {"kappa": None, "kappa_linear": "linear", "kappa_quadratic": "quadratic"}


def _pair_kappas(matrix, index, a, b, weights, level) -> dict:
    if matrix.categories is None:
        return {name: null(NOT_CATEGORICAL) for name in KAPPA_FIELDS}
    q = matrix.categories.size
    tables = pair_tables(index[:, a], index[:, b], q, weights)
    return {name: kappa_result(tables, agreement_weights(matrix.categories, w), level)
            for name, w in KAPPA_FIELDS.items()}


def _pairs(matrix, weights, level, loa_ci) -> list[dict]:
    index = matrix.category_index() if matrix.categories is not None else None
    out = []
    for a, b in combinations(range(len(matrix.raters)), 2):
        x, y = matrix.scores[:, a], matrix.scores[:, b]
        fields = continuous_xy(x, y, level, loa_ci)
        entry = {"rater_a": matrix.raters[a], "rater_b": matrix.raters[b], "n": fields.pop("n")}
        entry.update(_pair_kappas(matrix, index, a, b, weights, level))
        entry.update(fields)
        out.append(entry)
    return out


def _vs_others(matrix, level, loa_ci) -> list[dict]:
    out = []
    for j, name in enumerate(matrix.raters):
        others = np.delete(matrix.scores, j, axis=1)
        if others.shape[1] == 0:
            continue
        present = np.isfinite(others).any(axis=1)
        mean_others = np.full(others.shape[0], np.nan)
        mean_others[present] = np.nanmean(others[present], axis=1)
        out.append({"rater": name, **continuous_xy(matrix.scores[:, j], mean_others, level, loa_ci)})
    return out


def pairwise_agreement(data, *, case: str = "case", rater: str = "rater", score: str = "score",
                       categories=None, n_boot: int = 2000, seed=0, level: float = 0.95,
                       loa_ci: str = "exact") -> list[dict]:
    """Agreement of every rater pair: Cohen's kappas and the continuous statistics.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater.
    case, rater, score : str
        Column names.
    categories : str or sequence, optional
        Full category set for the kappas (e.g. ``"0-8"``).
    n_boot, seed : int
        Case bootstrap resamples and seed (kappa CIs).
    level : float
        Confidence level.
    loa_ci : {"exact", "approximate"}
        Interval of the Bland-Altman limits (see :func:`bland_altman`).

    Returns
    -------
    list of dict
        One entry per pair (raters in table order): ``rater_a, rater_b, n, kappa,
        kappa_linear, kappa_quadratic, pearson, spearman, ccc, mae, rmse, bland_altman``
        (the ``pairs`` of the JSON schema). Differences are rater_a - rater_b.

    See Also
    --------
    cohen_kappa, pearson, spearman, concordance_ccc, bland_altman

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> [round(p["kappa"]["value"], 3) for p in pairwise_agreement(t, n_boot=0)]
    [0.667]
    """
    matrix = as_matrix(data, case, rater, score, categories)
    return clean(_pairs(matrix, case_weights(len(matrix.cases), n_boot, seed), level, loa_ci))


def _method(matrix, n_boot, seed, level, loa_ci) -> dict:
    used, dropped = icc_cases_used(matrix)
    cats = None if matrix.categories is None else [
        int(c) if float(c).is_integer() else float(c) for c in matrix.categories]
    return {
        "confidence_level": level,
        "missing_ratings": "empty scores are missing ratings; each statistic uses the cases it can",
        "n_missing_scores": matrix.n_missing,
        "icc": {"cases": "complete cases only (rated by every rater)", "n_used": used,
                "n_dropped": dropped, "ci": "exact F intervals of McGraw & Wong (1996)"},
        "kappa": "Cohen: cases rated by both raters; Fleiss: generalised to varying raters "
                 "per case (Gwet 2014); SE of Fleiss, Cohen & Everitt (1969)",
        "krippendorff_alpha": "all pairable values (cases with >= 2 ratings)",
        "gwet": "linearisation SE and t interval (Gwet 2014), as irrCAC",
        "continuous": "pairs: cases rated by both; vs_others: mean of the other raters who "
                      "rated the case; Pearson/Spearman Fisher z CIs, CCC z-transform (Lin)",
        "bland_altman": {"difference": "rater_a - rater_b (vs_others: rater - mean of others)",
                         "loa_ci": loa_ci},
        "bootstrap": {"n_boot": n_boot, "seed": seed, "unit": "case",
                      "ci": "percentile", "used_for": ["kappa", "kappa_linear",
                                                       "kappa_quadratic", "fleiss_kappa",
                                                       "krippendorff_alpha"]},
        "categories": cats,
        "categories_source": matrix.categories_source,
    }


def agreement_report(data, *, case: str = "case", rater: str = "rater", score: str = "score",
                     categories=None, n_boot: int = 2000, seed=0, level: float = 0.95,
                     loa_ci: str = "exact") -> dict:
    """Every agreement statistic of a ratings table, as a JSON-ready dictionary.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater (missing ratings allowed).
    case, rater, score : str
        Column names (``case`` falls back to ``case_id``).
    categories : str or sequence, optional
        Full category set (``"0-8"``, ``"0,1,2,3"`` or a list); needed for kappa/Gwet/alpha
        nominal and ordinal when scores are not integers, and so unused values still count.
    n_boot, seed : int
        Case bootstrap resamples (one (B, n) resample matrix shared by all statistics) and seed.
    level : float
        Confidence level (0.95 for the ``ci95`` fields).
    loa_ci : {"exact", "approximate"}
        Interval of the Bland-Altman limits of agreement.

    Returns
    -------
    dict
        Keys ``n_cases, n_raters, n_ratings, method, icc, fleiss_kappa, krippendorff_alpha,
        gwet, pairs, vs_others`` (schema: docs/readme/agreement.md). Statistics that cannot be
        computed are ``{"value": None, "reason": ...}``; there is no NaN anywhere.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> report = agreement_report(t, n_boot=200)
    >>> round(report["icc"]["ICC2"]["value"], 3), report["n_cases"]
    (0.923, 4)
    """
    matrix = as_matrix(data, case, rater, score, categories)
    weights = case_weights(len(matrix.cases), n_boot, seed)
    report = {
        "n_cases": len(matrix.cases), "n_raters": len(matrix.raters),
        "n_ratings": matrix.n_ratings, "raters": list(matrix.raters),
        "method": _method(matrix, n_boot, seed, level, loa_ci),
        "icc": icc_result(matrix, level),
        "fleiss_kappa": (fleiss_result(matrix, weights, level) if matrix.categories is not None
                         else null(NOT_CATEGORICAL)),
        "krippendorff_alpha": {name: alpha_result(matrix, name, weights, level) for name in LEVELS},
        "gwet": {name: gwet_result(matrix, w, level) for name, w in GWET_NAMES.items()},
        "pairs": _pairs(matrix, weights, level, loa_ci),
        "vs_others": _vs_others(matrix, level, loa_ci) if len(matrix.raters) > 2 else [],
    }
    return clean(report)
