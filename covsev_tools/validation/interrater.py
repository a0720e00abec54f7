"""Inter-rater agreement: the first table of a reader-study paper, per total and per component.

For each scale total and each component (lung or zone), on the raters' first readings (the model
is not a rater here, nor is the adjudicator's consensus):

* ICC in the Shrout & Fleiss (1979) forms a reader study reports -- ICC(2,1), ICC(2,k) (absolute
  agreement) and ICC(3,1), ICC(3,k) (consistency) -- with the exact F-based intervals;
* quadratic-weighted Cohen's κ for every pair of raters (a rater × rater matrix);
* Fleiss' κ, Krippendorff's α (ordinal and interval), Gwet's AC2 (quadratic weights);
* percent exact agreement and agreement within ±1 point.

Every number comes from :mod:`covsev_tools.agreement` except percent agreement, which is a
weighted mean over cases computed here. Bootstrap intervals resample patients when a patient
column is known.

References
----------
Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability.
Psychological Bulletin 1979;86(2):420-428.
Gwet KL. Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics, 2014.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.resample import ci, plan

__all__ = ["ICC_FORMS", "inter_rater", "kappa_matrix", "matrix_of", "percent_agreement",
           "rater_components"]

#: ICC forms of the table: agreement function's row name -> Shrout & Fleiss label.
ICC_FORMS = {"ICC2": "ICC(2,1)", "ICC2k": "ICC(2,k)", "ICC3": "ICC(3,1)", "ICC3k": "ICC(3,k)"}

_CLUSTER = "patient"


def rater_components(inputs: ValidationInputs, scale: str) -> list[str]:
    """``total`` then the scale's components that were rated, in the scale's order.

    Examples
    --------
    >>> r = pd.DataFrame({"case": "a", "rater": "x", "scale": "extent", "is_repeat": False,
    ...                   "component": ["left", "total", "right"], "score": [1, 3, 2]})
    >>> inputs = ValidationInputs(r, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "case_id",
    ...                           "mean", {})
    >>> rater_components(inputs, "extent")
    ['total', 'right', 'left']
    """
    rated = set(inputs.ratings.loc[inputs.ratings["scale"] == scale, "component"])
    try:
        from covsev_tools.scales import load_scale

        order = list(load_scale(scale).component_keys)
    except (LookupError, ValueError, OSError):
        order = []
    others = sorted(rated - set(order) - {"total"})
    return [c for c in ["total", *order, *others] if c in rated]


def _categories(scale: str, component: str):
    """The full category range, so an unused score still counts (``"0-8"``); None if unknown."""
    try:
        from covsev_tools.scales import load_scale

        s = load_scale(scale)
    except (LookupError, ValueError, OSError):
        return None
    low, high = (s.min_total, s.max_total) if component == "total" else (min(s.values), max(s.values))
    return f"{low}-{high}"


def percent_agreement(wide: pd.DataFrame, *, tolerance: float = 0, n_boot: int = 0, seed: int = 0,
                      clusters=None) -> dict:
    """Share of rater pairs that agree (exactly, or within ``tolerance``), averaged over cases.

    Each case with at least two ratings contributes the share of its rater pairs whose scores
    differ by at most ``tolerance``; missing ratings simply form no pair.

    Parameters
    ----------
    wide : DataFrame
        Cases × raters, NaN for a missing rating.
    tolerance : float
        0 for exact agreement, 1 for within ±1 point.
    n_boot, seed : int
    clusters : ndarray of int, optional
        Patient code per case (resample patients).

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high, n`` (n: cases with at least two ratings).

    Examples
    --------
    >>> wide = pd.DataFrame({"A": [1, 2, 3], "B": [1, 3, None], "C": [1, 2, 5]})
    >>> round(percent_agreement(wide)["estimate"], 4), percent_agreement(wide)["n"]
    (0.5, 3)
    >>> round(percent_agreement(wide, tolerance=1)["estimate"], 4)
    0.6667
    """
    x = wide.to_numpy(dtype=float)
    agree = np.zeros(len(x))
    pairs = np.zeros(len(x))
    for a, b in combinations(range(x.shape[1]), 2):
        both = np.isfinite(x[:, a]) & np.isfinite(x[:, b])
        pairs += both
        agree += both & (np.abs(x[:, a] - x[:, b]) <= tolerance + 1e-9)
    rated = pairs > 0
    share = np.where(rated, agree / np.where(rated, pairs, 1), 0.0)
    keep = rated.astype(float)
    resampling = plan(len(x), n_boot, seed, clusters)
    sums = np.concatenate([w.rows @ np.column_stack([share, keep]) for w in resampling.chunks()])
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = sums[:, 0] / sums[:, 1]
    low, high = ci(reps)
    return {"estimate": float(reps[0]), "ci_low": low, "ci_high": high, "n": int(rated.sum())}


def matrix_of(wide: pd.DataFrame, categories=None, clusters=None) -> agreement.RatingsMatrix:
    """The agreement module's ratings matrix of a checked cases × raters table, built once.

    Every agreement function accepts it in place of a tidy table; building it once per table
    spares each of them re-reading and re-checking a long table (a third of a second each at
    20,000 cases). The scores were checked when read (:mod:`covsev_tools.validation.inputs`).

    Examples
    --------
    >>> m = matrix_of(pd.DataFrame({"A": [0, 1], "B": [1, None]}), categories="0-4")
    >>> m.scores.shape, m.n_missing, m.categories.tolist()
    ((2, 2), 1, [0.0, 1.0, 2.0, 3.0, 4.0])
    """
    scores = wide.to_numpy(dtype=float)
    cats = None if categories is None else agreement.parse_categories(categories)
    return agreement.RatingsMatrix(
        scores=scores, cases=list(wide.index), raters=[str(r) for r in wide.columns],
        categories=cats, categories_source="given" if cats is not None else "not categorical",
        n_missing=int(np.isnan(scores).sum()),
        clusters=None if clusters is None else np.asarray(clusters, dtype=np.int64),
        cluster_column=None if clusters is None else _CLUSTER)


def _row(scale, component, statistic, entry: dict, n=None, method=None) -> dict:
    """One row of the table from an entry of the agreement report (``value``, ``ci95``, ``n``)."""
    ci95 = entry.get("ci95") or (None, None)
    as_float = lambda v: np.nan if v is None else float(v)  # noqa: E731
    return {"scale": scale, "component": component, "statistic": statistic,
            "estimate": as_float(entry.get("value")), "ci_low": as_float(ci95[0]),
            "ci_high": as_float(ci95[1]), "n": entry.get("n") if n is None else n,
            "method": method or entry.get("ci_method") or entry.get("reason") or ""}


def _one_component(inputs, scale, component, n_boot, seed):
    """Rows of the agreement table and the pairwise κ table of one total or component.

    One :func:`covsev_tools.agreement.agreement_report` per component: its bootstrap statistics
    (Fleiss, Krippendorff, the pairwise κ) share one pass over one set of resamples, where a
    call per statistic would draw and walk them four times.
    """
    wide = inputs.components(scale, component)
    wide = wide[wide.notna().sum(axis=1) >= 1]
    clusters = inputs.clusters(wide.index)
    values = wide.to_numpy(dtype=float)
    integer = bool(np.all(np.isnan(values) | (values == np.round(values))))
    matrix = matrix_of(wide, _categories(scale, component) if integer else None, clusters)
    report = agreement.agreement_report(matrix, n_boot=n_boot, seed=seed)
    rows = [_row(scale, component, label, report["icc"][form]) for form, label in ICC_FORMS.items()]
    if integer:
        rows.append(_row(scale, component, "Fleiss κ", report["fleiss_kappa"]))
    for level in ("ordinal", "interval") if integer else ("interval",):
        rows.append(_row(scale, component, f"Krippendorff α ({level})",
                         report["krippendorff_alpha"][level]))
    if integer:
        rows.append(_row(scale, component, "Gwet AC2 (quadratic)", report["gwet"]["AC2_quadratic"]))
    for tolerance, name in ((0, "Exact agreement"), (1, "Agreement within ±1")):
        share = percent_agreement(wide, tolerance=tolerance, n_boot=n_boot, seed=seed, clusters=clusters)
        rows.append(_row(scale, component, name, {"value": share["estimate"], "n": share["n"],
                                                  "ci95": (share["ci_low"], share["ci_high"])},
                         method="bootstrap percentile"))
    pairs = [{"scale": scale, "component": component, "rater_a": pair["rater_a"],
              "rater_b": pair["rater_b"], **_estimate(pair["kappa_quadratic"]), "n": pair["n"]}
             for pair in report["pairs"]] if integer else []
    return rows, pairs


def _estimate(entry: dict) -> dict:
    ci95 = entry.get("ci95") or (None, None)
    return {"estimate": np.nan if entry.get("value") is None else float(entry["value"]),
            "ci_low": np.nan if ci95[0] is None else float(ci95[0]),
            "ci_high": np.nan if ci95[1] is None else float(ci95[1])}


def kappa_matrix(pairs: pd.DataFrame) -> pd.DataFrame:
    """Square rater × rater matrix of the pairwise weighted κ (diagonal 1).

    Examples
    --------
    >>> pairs = pd.DataFrame({"rater_a": ["A"], "rater_b": ["B"], "estimate": [0.8]})
    >>> kappa_matrix(pairs).values.tolist()
    [[1.0, 0.8], [0.8, 1.0]]
    """
    raters = sorted(set(pairs["rater_a"]) | set(pairs["rater_b"]))
    matrix = pd.DataFrame(np.eye(len(raters)), index=raters, columns=raters)
    for a, b, value in zip(pairs["rater_a"], pairs["rater_b"], pairs["estimate"]):
        matrix.loc[a, b] = matrix.loc[b, a] = value
    return matrix


def inter_rater(inputs: ValidationInputs, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """The inter-rater section: agreement statistics and pairwise κ per total and component.

    Returns
    -------
    dict
        ``table`` (``scale, component, statistic, estimate, ci_low, ci_high, n, method``),
        ``pairwise`` (``scale, component, rater_a, rater_b, estimate, ci_low, ci_high, n``) and
        ``matrices`` (scale -> rater × rater κ matrix of the totals, for the figure).

    Examples
    --------
    >>> section = inter_rater(getfixture("simulated_inputs"), n_boot=20)  # a simulated study
    >>> sorted(set(section["table"]["component"]))
    ['left', 'right', 'total']
    """
    rows, pairs = [], []
    for scale in dict.fromkeys(inputs.ratings["scale"]):
        for component in rater_components(inputs, scale):
            more_rows, more_pairs = _one_component(inputs, scale, component, n_boot, seed)
            rows += more_rows
            pairs += more_pairs
    pairwise = pd.DataFrame(pairs)
    matrices = {}
    if len(pairwise):
        totals = pairwise[pairwise["component"] == "total"]
        matrices = {scale: kappa_matrix(group) for scale, group in totals.groupby("scale", sort=False)}
    return {"table": pd.DataFrame(rows), "pairwise": pairwise, "matrices": matrices}
