"""The model as one more rater, and each rater against themself.

* **Leave-one-rater-out**: each rater against the consensus of the *other* raters, and the model
  against that same consensus, with a paired bootstrap CI of the difference in MAE (cases
  resampled; the same resamples for rater and model). This puts the model on the raters' own
  scale of disagreement: the inter-rater ceiling.
* **ICC with and without the model** (the agreement module's ICC(A,1), ICC(A,k)).
* **Intra-rater reliability** from the hidden repeat readings.

References
----------
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients.
Psychological Methods 1996;1(1):30-46.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.formatting import format_number
from covsev_tools.validation.inputs import ValidationInputs, scale_range
from covsev_tools.validation.resample import ci, mean_replicates, plan

__all__ = ["complete_panel", "consensus", "icc_with_and_without_model", "intra_rater",
           "leave_one_rater_out", "model_as_rater", "model_summary_mae",
           "model_within_raters_sentence", "repeat_pairs", "to_long"]


def _fmt(value) -> str:
    return format_number(value, missing="–")


def complete_panel(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """First-reading totals of every rater plus the model, on cases where all are present.

    Examples
    --------
    >>> cases = pd.Index(["a", "b"], name="case")
    >>> r = pd.DataFrame({"case": ["a", "a", "b"], "rater": ["x", "y", "x"], "scale": "extent",
    ...                   "component": "total", "score": [1.0, 2.0, 3.0], "is_repeat": False})
    >>> inputs = ValidationInputs(r, pd.DataFrame(), pd.DataFrame({"extent": [1.5, 2.5]}, index=cases),
    ...                           pd.DataFrame(index=cases), "case_id", "mean", {})
    >>> complete_panel(inputs, "extent").values.tolist()
    [[1.0, 2.0, 1.5]]
    """
    wide = inputs.totals(scale)
    wide = wide.join(inputs.predictions[scale].rename("model"), how="inner")
    return wide.dropna()


def consensus(scores: pd.DataFrame, method: str = "mean") -> pd.Series:
    """Row-wise consensus (mean or median) of the raters' columns.

    Examples
    --------
    >>> consensus(pd.DataFrame({"A": [1, 2], "B": [3, 2], "C": [8, 2]}), "median").tolist()
    [3.0, 2.0]
    """
    return scores.mean(axis=1) if method == "mean" else scores.median(axis=1)


def leave_one_rater_out(panel: pd.DataFrame, method: str = "mean", *, n_boot: int = 1000,
                        seed: int = 0, clusters=None) -> pd.DataFrame:
    """Each rater, and the model, against the consensus of the other raters.

    For rater *r* the consensus is the mean (or median) of the other raters' scores of the case;
    the model is compared with that same consensus, so ``model MAE - rater MAE`` is a paired
    difference. Its 95% CI resamples cases (the same resamples for rater and model).

    Parameters
    ----------
    panel : DataFrame
        Index case, one column per rater and a ``model`` column (see :func:`complete_panel`).
    method : {"mean", "median"}
    n_boot, seed : int
    clusters : ndarray of int, optional
        Patient code per case: resample patients with all their images.

    Returns
    -------
    DataFrame
        One row per left-out rater: ``rater, n, rater_mae (+ci), model_mae (+ci),
        difference (+ci)``.

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2], "B": [1, 2], "C": [2, 2], "model": [1, 2]})
    >>> leave_one_rater_out(panel, n_boot=10)["rater_mae"].tolist()
    [0.75, 0.0, 0.75]
    """
    raters = [c for c in panel.columns if c != "model"]
    if len(raters) < 2:
        raise ValueError("leave-one-rater-out needs at least two raters")
    resampling = plan(len(panel), n_boot, seed, clusters)
    model = panel["model"].to_numpy(dtype=float)
    rows = []
    for rater, others in _other_consensus(panel, method).items():
        rater_err = np.abs(panel[rater].to_numpy(dtype=float) - others)
        model_err = np.abs(model - others)
        rows.append(_loro_row(rater, rater_err, model_err, resampling))
    return pd.DataFrame(rows)


def _other_consensus(panel: pd.DataFrame, method: str) -> dict:
    """Per rater of the panel, the consensus of the *other* raters for each case (array)."""
    raters = [c for c in panel.columns if c != "model"]
    return {rater: consensus(panel[[r for r in raters if r != rater]], method).to_numpy(dtype=float)
            for rater in raters}


def _loro_row(rater: str, rater_err: np.ndarray, model_err: np.ndarray, resampling) -> dict:
    """Point estimates and paired percentile CIs for one left-out rater (one pass of resamples)."""
    reps = mean_replicates(np.column_stack([rater_err, model_err]), resampling)
    rater_reps, model_reps = reps[:, 0], reps[:, 1]
    row = {"rater": rater, "n": len(rater_err)}
    for name, est, values in (("rater_mae", rater_err.mean(), rater_reps),
                              ("model_mae", model_err.mean(), model_reps),
                              ("difference", model_err.mean() - rater_err.mean(), model_reps - rater_reps)):
        low, high = ci(values)
        row.update({name: float(est), f"{name}_ci_low": low, f"{name}_ci_high": high})
    return row


def model_summary_mae(panel: pd.DataFrame, method: str = "mean", *, n_boot: int = 1000,
                      seed: int = 0, clusters=None) -> dict:
    """The model's MAE against the other-rater consensus, averaged over the left-out raters.

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high`` (same resamples as :func:`leave_one_rater_out`).

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2, 4, 1], "B": [1, 2, 3, 1], "C": [2, 2, 5, 3],
    ...                       "model": [1, 3, 4, 2]}, dtype=float)
    >>> round(model_summary_mae(panel, n_boot=0)["estimate"], 4)
    0.5
    """
    model = panel["model"].to_numpy(dtype=float)
    errs = np.array([np.abs(model - others) for others in _other_consensus(panel, method).values()])
    per_case = errs.mean(axis=0)
    low, high = ci(mean_replicates(per_case, plan(len(panel), n_boot, seed, clusters)))
    return {"estimate": float(per_case.mean()), "ci_low": low, "ci_high": high}


def model_within_raters_sentence(loro: pd.DataFrame, summary: dict, scale: str) -> str:
    """One sentence: does the model's MAE lie within the range of the raters' own MAE?

    The closest rater is the one whose MAE is nearest the model's; the paired difference to that
    rater carries the uncertainty of the comparison.

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2, 4, 1], "B": [1, 2, 3, 1], "C": [2, 2, 5, 3],
    ...                       "model": [1, 3, 4, 2]}, dtype=float)
    >>> loro = leave_one_rater_out(panel, n_boot=20)
    >>> model_within_raters_sentence(loro, model_summary_mae(panel, n_boot=20), "extent")[:45]
    "On extent, the model's MAE against the consen"
    """
    low, high = loro["rater_mae"].min(), loro["rater_mae"].max()
    est = summary["estimate"]
    closest = loro.iloc[(loro["rater_mae"] - est).abs().argmin()]
    d_low, d_high = closest["difference_ci_low"], closest["difference_ci_high"]
    # "better"/"worse" only when the paired interval to the closest rater excludes 0: a point
    # estimate outside the raters' range with an interval across 0 is no evidence of a difference
    shown = bool(np.isfinite(d_low) and np.isfinite(d_high) and (d_low > 0 or d_high < 0))
    if low <= est <= high:
        where = "lies within"
    elif est < low:
        where = "is below (better than)" if shown else "is below"
    else:
        where = "is above (worse than)" if shown else "is above"
    own = (f"the range of the raters' own MAE ({_fmt(low)}–{_fmt(high)})" if _fmt(low) != _fmt(high)
           else f"the raters' own MAE ({_fmt(low)})")
    if _fmt(low) == _fmt(high) and where == "lies within":
        where = "equals"
    sentence = (f"On {scale}, the model's MAE against the consensus of the other raters "
                f"({_fmt(est)}, 95% CI {_fmt(summary['ci_low'])}–{_fmt(summary['ci_high'])}) {where} "
                f"{own}; the paired difference to the closest rater ({closest['rater']}) is "
                f"{_fmt(closest['difference'])} ({_fmt(d_low)} to {_fmt(d_high)})")
    if where in ("is below", "is above"):
        better = "better" if est < low else "worse"
        return (sentence + f", an interval that includes 0: the model is not shown to be {better} than "
                f"that rater.")
    return sentence + "."


def icc_with_and_without_model(panel: pd.DataFrame) -> pd.DataFrame:
    """ICC among the raters, and with the model added as one more rater.

    Returns
    -------
    DataFrame
        ``panel (raters / raters + model), type, estimate, ci_low, ci_high, n, k``.

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2, 4, 1], "B": [1, 2, 3, 1], "C": [2, 2, 5, 3],
    ...                       "model": [1, 3, 4, 2]}, dtype=float)
    >>> icc_with_and_without_model(panel)[["panel", "form", "k"]].values.tolist()[:2]
    [['raters', 'ICC(A,1)', 3], ['raters', 'ICC(A,k)', 3]]
    """
    rows = []
    raters = [c for c in panel.columns if c != "model"]
    for label, columns in (("raters", raters), ("raters + model", raters + ["model"])):
        forms = agreement.icc(to_long(panel[columns]))
        for form in ("ICC2", "ICC2k"):
            rows.append({"panel": label, "form": forms.loc[form, "label"], **_strip(forms.loc[form]),
                         "n": len(panel), "k": len(columns)})
    return pd.DataFrame(rows)


def _strip(result) -> dict:
    return {key: float(result[key]) for key in ("estimate", "ci_low", "ci_high")}


def _pairwise_mae(long: pd.DataFrame) -> pd.DataFrame:
    """Rater × rater matrix of the mean absolute difference (the model last)."""
    raters = sorted(long["rater"].unique(), key=lambda r: (r == "model", r))
    matrix = pd.DataFrame(np.nan, index=raters, columns=raters)
    pairs = agreement.pairwise_agreement(long, n_boot=0, cluster=None)
    for row in pairs[pairs["statistic"] == "mae"].itertuples():
        matrix.loc[row.rater_a, row.rater_b] = row.estimate
        matrix.loc[row.rater_b, row.rater_a] = row.estimate
    return matrix


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """Wide (case × rater) scores to the tidy ``case, rater, score`` table of the agreement API.

    Examples
    --------
    >>> to_long(pd.DataFrame({"A": [1.0], "B": [2.0]}, index=pd.Index(["c1"], name="case"))).values.tolist()
    [['c1', 'A', 1.0], ['c1', 'B', 2.0]]
    """
    long = wide.rename_axis(index="case", columns="rater").stack().rename("score").reset_index()
    long["rater"] = long["rater"].astype(str)
    return long


def model_as_rater(inputs: ValidationInputs, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Leave-one-rater-out, ICC with/without the model and pairwise agreement, per scale.

    Returns
    -------
    dict
        ``loro`` (DataFrame, a ``scale`` column added), ``icc``, ``pairwise`` (dict scale ->
        DataFrame), ``sentences`` (dict scale -> str), ``summary`` (dict scale -> dict).

    Examples
    --------
    >>> inputs = getfixture("simulated_inputs")  # load_inputs() of a simulated study
    >>> sorted(model_as_rater(inputs, n_boot=20)["loro"]["rater"].unique())
    ['R1', 'R2', 'R3', 'R4']
    """
    out = {"loro": [], "icc": [], "pairwise": {}, "sentences": {}, "summary": {}}
    for scale in inputs.scales:
        panel = complete_panel(inputs, scale)
        if panel.shape[1] < 3 or len(panel) < 3:
            continue
        method = inputs.reference_method if inputs.reference_method == "median" else "mean"
        clusters = inputs.clusters(panel.index)
        loro = leave_one_rater_out(panel, method, n_boot=n_boot, seed=seed, clusters=clusters)
        summary = model_summary_mae(panel, method, n_boot=n_boot, seed=seed, clusters=clusters)
        out["loro"].append(loro.assign(scale=scale))
        out["icc"].append(icc_with_and_without_model(panel).assign(scale=scale))
        out["pairwise"][scale] = _pairwise_mae(to_long(panel))
        out["sentences"][scale] = model_within_raters_sentence(loro, summary, scale)
        out["summary"][scale] = summary
    for key in ("loro", "icc"):
        out[key] = pd.concat(out[key], ignore_index=True) if out[key] else pd.DataFrame()
    return out


# --------------------------------------------------------------------------- intra-rater

def repeat_pairs(ratings: pd.DataFrame, scale: str) -> pd.DataFrame:
    """First and repeat reading of the same case by the same rater (scale totals).

    Returns
    -------
    DataFrame
        ``rater, case, first, repeat``.

    Examples
    --------
    >>> r = pd.DataFrame({"rater": "x", "case": ["a", "a"], "scale": "extent", "component": "total",
    ...                   "score": [3.0, 4.0], "is_repeat": [False, True]})
    >>> repeat_pairs(r, "extent").values.tolist()
    [['x', 'a', 3.0, 4.0]]
    """
    rows = ratings[(ratings["scale"] == scale) & (ratings["component"] == "total")]
    first = rows[~rows["is_repeat"]].groupby(["rater", "case"])["score"].first()
    again = rows[rows["is_repeat"]].groupby(["rater", "case"])["score"].first()
    pairs = pd.concat([first.rename("first"), again.rename("repeat")], axis=1, join="inner")
    return pairs.dropna().reset_index()


def intra_rater(inputs: ValidationInputs) -> pd.DataFrame:
    """Intra-rater reliability per rater and scale from the hidden repeats.

    Returns
    -------
    DataFrame
        ``scale, rater, n_pairs, icc (+ci), weighted_kappa, mae``. ICC is the two-way
        absolute-agreement single-measure ICC(2,1) of reading 1 vs reading 2; kappa is
        quadratic-weighted.

    Examples
    --------
    >>> r = pd.DataFrame({"rater": "x", "case": list("abcabc"), "scale": "extent", "component": "total",
    ...                   "score": [1.0, 4, 6, 2, 4, 6], "is_repeat": [False] * 3 + [True] * 3})
    >>> inputs = ValidationInputs(r, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "case_id", "mean", {})
    >>> intra_rater(inputs)[["rater", "n_pairs", "mae"]].values.tolist()
    [['x', 3, 0.3333333333333333]]
    """
    rows = []
    if inputs.ratings is None or not inputs.ratings["is_repeat"].any():
        return pd.DataFrame()
    for scale in inputs.ratings["scale"].unique():
        pairs = repeat_pairs(inputs.ratings, scale)
        for rater, grp in pairs.groupby("rater"):
            rows.append({"scale": scale, "rater": rater, "n_pairs": len(grp),
                         **_reliability(grp["first"].to_numpy(), grp["repeat"].to_numpy(),
                                        _categories(scale))})
    return pd.DataFrame(rows)


def _reliability(first: np.ndarray, repeat: np.ndarray, categories=None) -> dict:
    """ICC(2,1), quadratic-weighted kappa and MAE of two readings (NaN when too few pairs)."""
    out = {"icc": np.nan, "icc_ci_low": np.nan, "icc_ci_high": np.nan,
           "weighted_kappa": np.nan, "mae": float(np.abs(first - repeat).mean()) if len(first) else np.nan}
    if len(first) >= 3:
        long = to_long(pd.DataFrame({"reading 1": first, "reading 2": repeat}))
        icc = agreement.icc(long).loc["ICC2"]
        out.update({"icc": float(icc["estimate"]), "icc_ci_low": float(icc["ci_low"]),
                    "icc_ci_high": float(icc["ci_high"])})
        kappa = agreement.cohen_kappa(long, weights="quadratic", categories=categories, n_boot=0)
        out["weighted_kappa"] = float(kappa["estimate"].iloc[0])
    return out


def _categories(scale: str):
    """Full category range of a scale total (so an unused score still counts in the kappa)."""
    try:
        low, high = scale_range(scale)
    except (KeyError, LookupError, ValueError, OSError):
        return None
    return f"{low}-{high}"
