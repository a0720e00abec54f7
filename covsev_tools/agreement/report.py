"""All agreement statistics of a ratings table in one JSON-ready dictionary (schema in the README)."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from covsev_tools.agreement import _fast
from covsev_tools.agreement._result import json_safe, tidy_entry, to_frame, undefined_result  # noqa: F401 (tidy_entry: for the validation stage)
from covsev_tools.agreement._table import as_matrix, resampling
from covsev_tools.agreement.alpha import LEVELS, alpha_job
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, run_jobs
from covsev_tools.agreement.continuous import LOA_MULTIPLIER, continuous_xy
from covsev_tools.agreement.gwet import NAMES as GWET_NAMES, gwet_result
from covsev_tools.agreement.icc import icc_cases_used, icc_result
from covsev_tools.agreement.fleiss import KAPPA_NAMES, NOT_CATEGORICAL, fleiss_job
from covsev_tools.agreement.cohen import pair_kappas_job

KAPPA_FIELDS = {name: weights for weights, name in KAPPA_NAMES.items()}


def _pair_job(matrix, confidence, unit):
    """One job for the kappas of every rater pair (a null per pair without categories)."""
    pairs = list(combinations(range(len(matrix.raters)), 2))
    if matrix.categories is None or not pairs:
        return {pair: {name: undefined_result(NOT_CATEGORICAL) for name in KAPPA_FIELDS} for pair in pairs}
    return pair_kappas_job(matrix, pairs, KAPPA_FIELDS, confidence, unit)


def _complete_rater_ranks(matrix) -> dict:
    """Average ranks of each rater who rated every case: the same in all of that rater's pairs."""
    complete = np.isfinite(matrix.scores).all(axis=0)
    return {j: _fast.ranks(matrix.scores[:, j]) for j in np.flatnonzero(complete)}


def _pairs(matrix, kappas: dict, confidence, loa_ci, multiplier) -> list[dict]:
    out = []
    ranks = _complete_rater_ranks(matrix) if kappas else {}
    for (a, b), pair_kappas in kappas.items():
        x, y = matrix.scores[:, a], matrix.scores[:, b]
        shared = (ranks[a], ranks[b]) if a in ranks and b in ranks else None
        fields = continuous_xy(x, y, confidence, loa_ci, multiplier, ranks=shared)
        entry = {"rater_a": matrix.raters[a], "rater_b": matrix.raters[b], "n": fields.pop("n")}
        entry.update(pair_kappas)
        entry.update(fields)
        out.append(entry)
    return out


def _vs_others(matrix, confidence, loa_ci, multiplier) -> list[dict]:
    out = []
    for j, name in enumerate(matrix.raters):
        others = np.delete(matrix.scores, j, axis=1)
        if others.shape[1] == 0:
            continue
        present = np.isfinite(others).any(axis=1)
        mean_others = np.full(others.shape[0], np.nan)
        mean_others[present] = np.nanmean(others[present], axis=1)
        out.append({"rater": name, **continuous_xy(matrix.scores[:, j], mean_others, confidence,
                                                   loa_ci, multiplier)})
    return out


def _statistics(matrix, n_boot, seed, confidence, loa_ci, multiplier) -> dict:
    """Every statistic of the report, the bootstrap ones in one pass over shared resamples."""
    plan = resampling(matrix, n_boot, seed)
    jobs = {"fleiss_kappa": fleiss_job(matrix, confidence, plan.unit)}
    jobs.update({("alpha", name): alpha_job(matrix, name, confidence, plan.unit)
                 for name in LEVELS})
    jobs["pairs"] = _pair_job(matrix, confidence, plan.unit)
    done = run_jobs(plan, jobs)
    kappas = done["pairs"]
    return {"fleiss_kappa": done["fleiss_kappa"],
            "krippendorff_alpha": {name: done[("alpha", name)] for name in LEVELS},
            "pairs": _pairs(matrix, kappas, confidence, loa_ci, multiplier), "plan": plan}


_PAIR_STATISTICS = ("kappa", "kappa_linear", "kappa_quadratic", "pearson", "spearman", "ccc")


def _pairs_frame(pairs: list[dict], confidence: float):
    """Tidy rows of the ``pairs`` of a report: one per pair × statistic."""
    import pandas as pd

    from covsev_tools.agreement.continuous import bland_altman_frame

    frames = []
    for pair in pairs:
        who = {"rater_a": pair["rater_a"], "rater_b": pair["rater_b"]}
        entries = {key: pair[key] for key in _PAIR_STATISTICS}
        entries.update(mae={"value": pair["mae"], "n": pair["n"], "ci_method": "descriptive"},
                       rmse={"value": pair["rmse"], "n": pair["n"], "ci_method": "descriptive"})
        ba = bland_altman_frame(pair["bland_altman"], confidence, **who)
        ba.index = "bland_altman_" + ba.index
        frames += [to_frame(entries, confidence, **who), ba]
    if not frames:
        return to_frame({}, confidence).assign(rater_a=[], rater_b=[]).reset_index()
    out = pd.concat(frames).reset_index()
    out.attrs["confidence"] = confidence
    return out


def pairwise_agreement(data, *, case: str = "case", rater: str = "rater", score: str = "score",
                       categories=None, cluster: str | None = DEFAULT_CLUSTER,
                       n_boot: int = DEFAULT_N_BOOT, seed=0, confidence: float = DEFAULT_CONFIDENCE,
                       multiplier: float = LOA_MULTIPLIER, loa_ci: str = "exact"):
    """Agreement of every rater pair: Cohen's kappas and the continuous statistics, tidy.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater.
    case, rater, score : str
        Column names.
    categories : str or sequence, optional
        Full category set for the kappas (e.g. ``"0-8"``).
    cluster : str or None
        Patient column for the patient bootstrap (default: ``patient_id``, else ``patientid``, when present).
    n_boot, seed : int
        Bootstrap resamples and seed (kappa CIs).
    confidence : float
        Confidence level.
    multiplier : float
        Bland-Altman limits are bias ± multiplier·SD (default 1.96).
    loa_ci : {"exact", "approximate"}
        Interval of the Bland-Altman limits (see :func:`bland_altman`).

    Returns
    -------
    pandas.DataFrame
        One row per pair × statistic (raters in table order): columns ``statistic, estimate,
        ci_low, ci_high, n, method, rater_a, rater_b`` and the statistics' own (``se``,
        ``pval``, ``sd``, ``multiplier``, ``reason`` ...). Statistics: ``kappa, kappa_linear,
        kappa_quadratic, pearson, spearman, ccc, mae, rmse, bland_altman_bias,
        bland_altman_loa_low, bland_altman_loa_high, bland_altman_proportional_bias``.
        Differences are rater_a - rater_b.

    See Also
    --------
    cohen_kappa, pearson, spearman, concordance_ccc, bland_altman

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> table = pairwise_agreement(t, n_boot=0).set_index("statistic")
    >>> round(table.loc["kappa", "estimate"], 3)
    0.667
    """
    matrix = as_matrix(data, case, rater, score, categories, cluster)
    plan = resampling(matrix, n_boot, seed)
    kappas = run_jobs(plan, {"pairs": _pair_job(matrix, confidence, plan.unit)})["pairs"]
    pairs = json_safe(_pairs(matrix, kappas, confidence, loa_ci, multiplier))
    return _pairs_frame(pairs, confidence)


def _method(matrix, plan, confidence, loa_ci, multiplier) -> dict:
    used, dropped = icc_cases_used(matrix)
    cats = None if matrix.categories is None else [
        int(c) if float(c).is_integer() else float(c) for c in matrix.categories]
    return {
        "confidence_level": confidence,
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
                         "loa_ci": loa_ci, "multiplier": multiplier,
                         "limits": f"bias ± {multiplier:g} × SD of the differences",
                         "proportional_bias": "OLS slope of the difference on the mean, t interval"},
        "bootstrap": {**plan.describe(), "ci": "percentile",
                      "used_for": ["kappa", "kappa_linear", "kappa_quadratic", "fleiss_kappa",
                                   "krippendorff_alpha"],
                      "resampled": ("patients (column '{}') with all their images".format(
                          plan.cluster_column) if plan.unit == "patient" else "cases")},
        "categories": cats,
        "categories_source": matrix.categories_source,
    }


def agreement_report(data, *, case: str = "case", rater: str = "rater", score: str = "score",
                     categories=None, cluster: str | None = DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
                     seed=0, confidence: float = DEFAULT_CONFIDENCE, multiplier: float = LOA_MULTIPLIER,
                     loa_ci: str = "exact") -> dict:
    """Every agreement statistic of a ratings table, as a JSON-ready dictionary.

    Parameters
    ----------
    data : pandas.DataFrame or RatingsMatrix
        Tidy long table, one row per case × rater (missing ratings allowed).
    case, rater, score : str
        Column names (``case`` falls back to ``case_id``).
    categories : str or sequence, optional
        Full category set (``"0-8"``, ``"0,1,2,3"`` or a list); needed for kappa/Gwet/alpha
        nominal and ordinal when scores are not integers, and so unused values still count.
    cluster : str or None
        Patient column: every bootstrap resamples patients with all their images (default
        ``patient_id``, else ``patientid``, when the table has one); None resamples cases.
    n_boot, seed : int
        Bootstrap resamples (one resample plan shared by all statistics) and seed.
    confidence : float
        Confidence level (0.95 for the ``ci95`` fields of the documented schema).
    multiplier : float
        Bland-Altman limits are bias ± multiplier·SD (default 1.96).
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
    matrix = as_matrix(data, case, rater, score, categories, cluster)
    stats = _statistics(matrix, n_boot, seed, confidence, loa_ci, multiplier)
    report = {
        "n_cases": len(matrix.cases), "n_raters": len(matrix.raters),
        "n_ratings": matrix.n_ratings, "raters": list(matrix.raters),
        "method": _method(matrix, stats["plan"], confidence, loa_ci, multiplier),
        "icc": icc_result(matrix, confidence),
        "fleiss_kappa": stats["fleiss_kappa"],
        "krippendorff_alpha": stats["krippendorff_alpha"],
        "gwet": {name: gwet_result(matrix, w, confidence) for name, w in GWET_NAMES.items()},
        "pairs": stats["pairs"],
        "vs_others": (_vs_others(matrix, confidence, loa_ci, multiplier)
                      if len(matrix.raters) > 2 else []),
    }
    if matrix.n_patients is not None:
        report["n_patients"] = matrix.n_patients
    return json_safe(report)
