"""The model as one more rater: leave-one-rater-out, and the ICC with and without the model.

* **Leave-one-rater-out**: each rater against the consensus of the *other* raters, and the model
  against that same consensus, with a paired bootstrap CI of the difference in MAE (cases
  resampled; the same resamples for rater and model). This puts the model on the raters' own
  scale of disagreement: the inter-rater ceiling.
* **ICC with and without the model** (the agreement module's ICC(A,1), ICC(A,k)).

References
----------
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients.
Psychological Methods 1996;1(1):30-46.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.agreement.typeset import format_level, format_number
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.resample import (bootstrap_row, mean_replicates, patient_codes,
                                              result_frame, shared_resampling)

__all__ = ["LORO_STATISTICS", "MODEL_SUMMARY", "complete_panel", "consensus", "icc_with_and_without_model",
           "icc_with_model", "leave_one_rater_out", "model_as_rater", "model_summary_mae",
           "model_within_raters_sentence", "model_within_raters_sentences", "pairwise_mae", "to_long"]

#: Rows of each left-out rater in :func:`leave_one_rater_out`: the rater's MAE against the others'
#: consensus, the model's against the same consensus, and the paired difference model − rater.
LORO_STATISTICS = ("Rater MAE", "Model MAE", "Model − rater")
#: The statistic of :func:`model_summary_mae`.
MODEL_SUMMARY = "Model MAE, mean over left-out raters"


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


def leave_one_rater_out(panel: pd.DataFrame, method: str = "mean", *, cluster=None,
                        n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                        confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Each rater, and the model, against the consensus of the other raters.

    For rater *r* the consensus is the mean (or median) of the other raters' scores of the case;
    the model is compared with that same consensus, so ``model MAE - rater MAE`` is a paired
    difference. Its interval resamples cases or patients (the same resamples for rater and model).

    Parameters
    ----------
    panel : DataFrame
        Index case, one column per rater and a ``model`` column (see :func:`complete_panel`).
    method : {"mean", "median"}
    cluster : array-like, optional
        The patient of each row of ``panel``: resample patients with all their images
        (see :func:`~covsev_tools.validation.resample.patient_codes`); None resamples rows.
    n_boot, seed, confidence
        Bootstrap resamples, seed and confidence level.

    Returns
    -------
    DataFrame
        Three rows per left-out rater (:data:`LORO_STATISTICS`): ``rater, statistic, estimate,
        ci_low, ci_high, n, method``; ``attrs``: ``confidence, n_boot, seed, cluster``.

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2], "B": [1, 2], "C": [2, 2], "model": [1, 2]})
    >>> loro = leave_one_rater_out(panel, n_boot=10)
    >>> loro[loro["statistic"] == "Rater MAE"]["estimate"].tolist()
    [0.75, 0.0, 0.75]
    """
    raters = [c for c in panel.columns if c != "model"]
    if len(raters) < 2:
        raise ValueError("leave-one-rater-out needs at least two raters")
    draws = shared_resampling(len(panel), n_boot, seed, patient_codes(cluster))
    model = panel["model"].to_numpy(dtype=float)
    rows = []
    for rater, others in _other_consensus(panel, method).items():
        rater_err = np.abs(panel[rater].to_numpy(dtype=float) - others)
        model_err = np.abs(model - others)
        rows += _loro_rows(rater, rater_err, model_err, draws, confidence)
    return result_frame(rows, confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=None if cluster is None else "patient", columns=_LORO_COLUMNS)


_LORO_COLUMNS = ["rater", "statistic", "estimate", "ci_low", "ci_high", "n", "method"]


def _other_consensus(panel: pd.DataFrame, method: str) -> dict:
    """Per rater of the panel, the consensus of the *other* raters for each case (array)."""
    raters = [c for c in panel.columns if c != "model"]
    return {rater: consensus(panel[[r for r in raters if r != rater]], method).to_numpy(dtype=float)
            for rater in raters}


def _loro_rows(rater: str, rater_err: np.ndarray, model_err: np.ndarray, draws, confidence) -> list[dict]:
    """Estimates and paired percentile intervals for one left-out rater (one pass of resamples)."""
    reps = mean_replicates(np.column_stack([rater_err, model_err]), draws)
    rater_reps, model_reps = reps[:, 0], reps[:, 1]
    values = (rater_err.mean(), model_err.mean(), model_err.mean() - rater_err.mean())
    replicates = (rater_reps, model_reps, model_reps - rater_reps)
    return [bootstrap_row(reps_, draws, n=len(rater_err), confidence=confidence, estimate=float(est),
                          rater=rater, statistic=name)
            for name, est, reps_ in zip(LORO_STATISTICS, values, replicates)]


def model_summary_mae(panel: pd.DataFrame, method: str = "mean", *, cluster=None,
                      n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                      confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """The model's MAE against the other-rater consensus, averaged over the left-out raters.

    Returns
    -------
    DataFrame
        One row :data:`MODEL_SUMMARY`: ``statistic, estimate, ci_low, ci_high, n, method`` (the
        same resamples as :func:`leave_one_rater_out` given the same ``cluster``, ``n_boot``
        and ``seed``); ``attrs``: ``confidence, n_boot, seed, cluster``.

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2, 4, 1], "B": [1, 2, 3, 1], "C": [2, 2, 5, 3],
    ...                       "model": [1, 3, 4, 2]}, dtype=float)
    >>> round(model_summary_mae(panel, n_boot=0)["estimate"].iloc[0], 4)
    0.5
    """
    model = panel["model"].to_numpy(dtype=float)
    errs = np.array([np.abs(model - others) for others in _other_consensus(panel, method).values()])
    per_case = errs.mean(axis=0)
    draws = shared_resampling(len(panel), n_boot, seed, patient_codes(cluster))
    row = bootstrap_row(mean_replicates(per_case, draws), draws, n=len(panel), confidence=confidence,
                        estimate=float(per_case.mean()), statistic=MODEL_SUMMARY)
    return result_frame([row], confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=None if cluster is None else "patient",
                        columns=["statistic", "estimate", "ci_low", "ci_high", "n", "method"])


#: The sentence's numbers: the package's one format, a missing value as an en dash (as the report).
_number = partial(format_number, missing="–")


def model_within_raters_sentence(loro: pd.DataFrame, summary: pd.DataFrame, scale: str) -> str:
    """One sentence: does the model's MAE lie within the range of the raters' own MAE?

    The closest rater is the one whose MAE is nearest the model's; the paired difference to that
    rater carries the uncertainty of the comparison. The confidence level is ``summary``'s.

    Parameters
    ----------
    loro : DataFrame
        :func:`leave_one_rater_out` of one scale.
    summary : DataFrame
        :func:`model_summary_mae` of the same panel.
    scale : str

    Examples
    --------
    >>> panel = pd.DataFrame({"A": [0, 2, 4, 1], "B": [1, 2, 3, 1], "C": [2, 2, 5, 3],
    ...                       "model": [1, 3, 4, 2]}, dtype=float)
    >>> loro = leave_one_rater_out(panel, n_boot=20)
    >>> model_within_raters_sentence(loro, model_summary_mae(panel, n_boot=20), "extent")[:45]
    "On extent, the model's MAE against the consen"
    """
    rater_mae = loro[loro["statistic"] == LORO_STATISTICS[0]].set_index("rater")["estimate"]
    difference = loro[loro["statistic"] == LORO_STATISTICS[2]].set_index("rater")
    low, high = rater_mae.min(), rater_mae.max()
    summary_row = summary.iloc[0]
    est = summary_row["estimate"]
    closest_rater = rater_mae.index[(rater_mae - est).abs().argmin()]
    closest = difference.loc[closest_rater]
    d_low, d_high = closest["ci_low"], closest["ci_high"]
    level = format_level(summary.attrs.get("confidence", DEFAULT_CONFIDENCE))
    # "better"/"worse" only when the paired interval to the closest rater excludes 0: a point
    # estimate outside the raters' range with an interval across 0 is no evidence of a difference
    shown = bool(np.isfinite(d_low) and np.isfinite(d_high) and (d_low > 0 or d_high < 0))
    if low <= est <= high:
        where = "lies within"
    elif est < low:
        where = "is below (better than)" if shown else "is below"
    else:
        where = "is above (worse than)" if shown else "is above"
    own = (f"the range of the raters' own MAE ({_number(low)}–{_number(high)})" if _number(low) != _number(high)
           else f"the raters' own MAE ({_number(low)})")
    if _number(low) == _number(high) and where == "lies within":
        where = "equals"
    sentence = (f"On {scale}, the model's MAE against the consensus of the other raters "
                f"({_number(est)}, {level}% CI {_number(summary_row['ci_low'])}–{_number(summary_row['ci_high'])}) "
                f"{where} {own}; the paired difference to the closest rater ({closest_rater}) is "
                f"{_number(closest['estimate'])} ({_number(d_low)} to {_number(d_high)})")
    if where in ("is below", "is above"):
        better = "better" if est < low else "worse"
        return (sentence + f", an interval that includes 0: the model is not shown to be {better} than "
                f"that rater.")
    return sentence + "."


def icc_with_and_without_model(panel: pd.DataFrame, *,
                               confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """ICC among the raters, and with the model added as one more rater.

    Returns
    -------
    DataFrame
        ``panel (raters / raters + model), form, estimate, ci_low, ci_high, n, method, k``
        (exact F-based intervals at ``confidence``, in ``attrs``).

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
        forms = agreement.icc(to_long(panel[columns]), confidence=confidence)
        for form in ("ICC2", "ICC2k"):
            rows.append({"panel": label, "form": forms.loc[form, "label"], **_strip(forms.loc[form]),
                         "n": len(panel), "method": forms.loc[form, "method"], "k": len(columns)})
    return result_frame(rows, confidence=confidence, n_boot=0, seed=None, cluster=None)


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


def _panels(inputs: ValidationInputs):
    """(scale, panel, consensus method) of every scale with 2 raters, the model and 3 cases."""
    method = inputs.reference_method if inputs.reference_method == "median" else "mean"
    for scale in inputs.scales:
        panel = complete_panel(inputs, scale)
        if panel.shape[1] >= 3 and len(panel) >= 3:
            yield scale, panel, method


def model_as_rater(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
                   seed: int = 0, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """The model as one more rater: leave-one-rater-out per scale, and the model's mean over raters.

    Per scale (cases every rater and the model scored): the rows of :func:`leave_one_rater_out`
    and the row of :func:`model_summary_mae` (``rater`` empty), on the same resamples.

    Parameters
    ----------
    inputs : ValidationInputs
    cluster : str or None
        Patient column resampled as a whole (default: the inputs'; None: images).
    n_boot, seed, confidence
        Bootstrap resamples, seed and confidence level.

    Returns
    -------
    DataFrame
        ``scale, rater, statistic, estimate, ci_low, ci_high, n, method``; ``attrs``:
        ``confidence, n_boot, seed, cluster``. :func:`model_within_raters_sentences` turns each
        scale's rows into the report's sentence.

    Examples
    --------
    >>> inputs = getfixture("simulated_inputs")  # load_inputs() of a simulated study
    >>> table = model_as_rater(inputs, n_boot=20)
    >>> sorted(table["rater"].dropna().unique()), table["statistic"].iloc[-1]
    (['R1', 'R2', 'R3', 'R4'], 'Model MAE, mean over left-out raters')
    """
    inputs = inputs.resampled_by(cluster)
    frames = []
    options = dict(n_boot=n_boot, seed=seed, confidence=confidence)
    for scale, panel, method in _panels(inputs):
        codes = inputs.clusters(panel.index)
        frames += [leave_one_rater_out(panel, method, cluster=codes, **options).assign(scale=scale),
                   model_summary_mae(panel, method, cluster=codes, **options).assign(scale=scale,
                                                                                     rater=None)]
    columns = ["scale", *_LORO_COLUMNS]
    rows = pd.concat(frames, ignore_index=True)[columns] if frames else None
    return result_frame(rows, confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=inputs.bootstrap_cluster, columns=None if frames else columns)


def model_within_raters_sentences(table: pd.DataFrame) -> dict:
    """Per scale of a :func:`model_as_rater` table, :func:`model_within_raters_sentence`.

    Examples
    --------
    >>> table = model_as_rater(getfixture("simulated_inputs"), n_boot=20)
    >>> model_within_raters_sentences(table)["extent"][:28]
    "On extent, the model's MAE a"
    """
    out = {}
    for scale, rows in table.groupby("scale", sort=False):
        summary = rows[rows["statistic"] == MODEL_SUMMARY].copy()
        summary.attrs = dict(table.attrs)
        out[scale] = model_within_raters_sentence(rows[rows["statistic"] != MODEL_SUMMARY], summary,
                                                  scale)
    return out


def icc_with_model(inputs: ValidationInputs, *, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """:func:`icc_with_and_without_model` of every scale (cases every rater and the model scored).

    Returns
    -------
    DataFrame
        ``scale, panel, form, estimate, ci_low, ci_high, n, method, k``; ``attrs``: ``confidence``.

    Examples
    --------
    >>> icc_with_model(getfixture("simulated_inputs"))["panel"].unique().tolist()
    ['raters', 'raters + model']
    """
    frames = [icc_with_and_without_model(panel, confidence=confidence).assign(scale=scale)
              for scale, panel, _ in _panels(inputs)]
    columns = ["scale", "panel", "form", "estimate", "ci_low", "ci_high", "n", "method", "k"]
    rows = pd.concat(frames, ignore_index=True)[columns] if frames else None
    return result_frame(rows, confidence=confidence, n_boot=0, seed=None, cluster=None,
                        columns=None if frames else columns)


def pairwise_mae(inputs: ValidationInputs) -> dict:
    """Per scale, the rater × rater (and model) matrix of the mean absolute difference (figure).

    Examples
    --------
    >>> pairwise_mae(getfixture("simulated_inputs"))["extent"].columns[-1]
    'model'
    """
    return {scale: _pairwise_mae(to_long(panel)) for scale, panel, _ in _panels(inputs)}
