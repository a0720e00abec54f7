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
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.agreement.report import tidy_entry
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.resample import bootstrap_row, patient_codes, result_frame, shared_resampling

__all__ = ["ICC_FORMS", "INTER_RATER_COLUMNS", "PAIRWISE_KAPPA", "inter_rater", "kappa_matrix",
           "matrix_of", "percent_agreement", "rater_components"]

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


def percent_agreement(wide: pd.DataFrame, *, tolerance: float = 0, cluster=None,
                      n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                      confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Share of rater pairs that agree (exactly, or within ``tolerance``), averaged over cases.

    Each case with at least two ratings contributes the share of its rater pairs whose scores
    differ by at most ``tolerance``; missing ratings simply form no pair.

    Parameters
    ----------
    wide : DataFrame
        Cases × raters, NaN for a missing rating.
    tolerance : float
        0 for exact agreement, 1 for within ±1 point.
    cluster : array-like, optional
        The patient of each row of ``wide``: resample patients with all their images; None
        resamples rows.
    n_boot, seed, confidence
        Bootstrap resamples, seed and confidence level of the percentile interval.

    Returns
    -------
    DataFrame
        One row: ``statistic`` (``Exact agreement`` or ``Agreement within ±<tolerance>``),
        ``estimate, ci_low, ci_high, n, method`` (n: cases with at least two ratings);
        ``attrs``: ``confidence, n_boot, seed, cluster``.

    Examples
    --------
    >>> wide = pd.DataFrame({"A": [1, 2, 3], "B": [1, 3, None], "C": [1, 2, 5]})
    >>> row = percent_agreement(wide, n_boot=0).iloc[0]
    >>> row["statistic"], round(row["estimate"], 4), row["n"]
    ('Exact agreement', 0.5, 3)
    >>> round(percent_agreement(wide, tolerance=1, n_boot=0)["estimate"].iloc[0], 4)
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
    draws = shared_resampling(len(x), n_boot, seed, patient_codes(cluster))
    sums = np.concatenate([w.rows @ np.column_stack([share, keep]) for w in draws.chunks()])
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = sums[:, 0] / sums[:, 1]
    name = "Exact agreement" if tolerance == 0 else f"Agreement within ±{tolerance:g}"
    row = bootstrap_row(reps, draws, n=int(rated.sum()), confidence=confidence, statistic=name)
    return result_frame([row], confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=None if cluster is None else "patient")


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


#: The statistic of the pairwise rows of :func:`inter_rater` (one per pair of raters).
PAIRWISE_KAPPA = "Cohen κ (quadratic)"
#: Columns of :func:`inter_rater`, in this order.
INTER_RATER_COLUMNS = ["scale", "component", "statistic", "rater_a", "rater_b", "estimate", "ci_low",
                       "ci_high", "n", "method"]


def _one_component(inputs, scale, component, options) -> list[dict]:
    """The rows of one total or component: the panel's statistics, then every pair's κ.

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
    report = agreement.agreement_report(matrix, **options)
    where = {"scale": scale, "component": component, "rater_a": None, "rater_b": None}
    entries = [(label, report["icc"][form]) for form, label in ICC_FORMS.items()]
    if integer:
        entries.append(("Fleiss κ", report["fleiss_kappa"]))
    entries += [(f"Krippendorff α ({level})", report["krippendorff_alpha"][level])
                for level in (("ordinal", "interval") if integer else ("interval",))]
    if integer:
        entries.append(("Gwet AC2 (quadratic)", report["gwet"]["AC2_quadratic"]))
    rows = [{**where, "statistic": name, **tidy_entry(entry)} for name, entry in entries]
    for tolerance in (0, 1):
        share = percent_agreement(wide, tolerance=tolerance, cluster=clusters, **options)
        rows.append({**where, **share.iloc[0].to_dict()})
    if integer:
        rows += [{**where, "statistic": PAIRWISE_KAPPA, "rater_a": pair["rater_a"],
                  "rater_b": pair["rater_b"], **tidy_entry(pair["kappa_quadratic"]), "n": pair["n"]}
                 for pair in report["pairs"]]
    return rows


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


def inter_rater(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
                seed: int = 0, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """The inter-rater section: agreement statistics and pairwise κ per total and component.

    Parameters
    ----------
    inputs : ValidationInputs
        With the raters' individual ratings (at least two raters).
    cluster : str or None
        Patient column resampled as a whole (default: the inputs'; None: images).
    n_boot, seed, confidence
        Bootstrap resamples, seed and confidence level of every interval.

    Returns
    -------
    DataFrame
        :data:`INTER_RATER_COLUMNS`: per scale and component the ICC forms, Fleiss' κ,
        Krippendorff's α, Gwet's AC2 and percent agreement (``rater_a``, ``rater_b`` empty),
        then the quadratic-weighted κ of every pair of raters (statistic
        :data:`PAIRWISE_KAPPA`); ``attrs``: ``confidence, n_boot, seed, cluster``.
        :func:`kappa_matrix` turns a scale's pairwise rows into the figure's matrix.

    Examples
    --------
    >>> table = inter_rater(getfixture("simulated_inputs"), n_boot=20)  # a simulated study
    >>> sorted(set(table["component"])), int((table["statistic"] == PAIRWISE_KAPPA).sum())
    (['left', 'right', 'total'], 36)
    """
    inputs = inputs.resampled_by(cluster)
    options = dict(n_boot=n_boot, seed=seed, confidence=confidence)
    rows = [row for scale in dict.fromkeys(inputs.ratings["scale"])
            for component in rater_components(inputs, scale)
            for row in _one_component(inputs, scale, component, options)]
    return result_frame(rows, columns=INTER_RATER_COLUMNS, cluster=inputs.bootstrap_cluster, **options)
