"""Validation of a severity model on a new cohort, against the raters' own agreement.

The question a reader study asks of a model is not only "how far is it from the reference?" but
"is it as close to the experts as the experts are to each other?". This module answers both:

* model vs reference (MAE, RMSE, Pearson, Spearman, CCC, Bland-Altman) with bootstrap CIs over
  cases, and the calibration of the published mapping on the new cohort;
* the model as one more rater: leave-one-rater-out MAE against the consensus of the *other*
  raters, with a paired bootstrap CI of model minus rater, and the ICC with and without the model;
* intra-rater reliability from hidden repeats, subgroups by metadata, longitudinal change, and the
  published mapping against a mapping refitted on the cohort (external validation).

Every agreement statistic comes from :mod:`covsev_tools.agreement` so the report's numbers equal
those of ``covsev agreement``. Bootstrap CIs are percentile intervals over cases (Efron &
Tibshirani 1993), seeded; paired comparisons reuse the same resamples.

References
----------
Cohen JP et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray with Deep Learning.
Cureus 12(7):e9448, 2020.
Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical
measurement. Lancet 1986;327:307-310.
Lin LI. A concordance correlation coefficient to evaluate reproducibility. Biometrics 1989;45:255-268.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import validation_stats as vs
from .external import external_validation
from .validation_stats import bootstrap_indices, percentile_ci
from .reference import ValidationInputs, scale_range
from .tables import fmt

#: Statistics of the model-vs-reference table, in report order.
MODEL_STATISTICS = ("MAE", "RMSE", "Pearson r", "Spearman ρ", "CCC", "Bias (pred − ref)",
                    "Lower LoA", "Upper LoA")

#: Metadata columns tried for subgroups when none are named (levels must be few).
DEFAULT_SUBGROUPS = ("view", "site", "sex")


@dataclass
class ValidationResult:
    """Tables, sentences and notes of one validation run (input to :mod:`covsev_tools.report`).

    Attributes
    ----------
    inputs : ValidationInputs
    tables : dict of str to DataFrame
        Raw numbers (estimate, ci_low, ci_high columns) keyed by section name.
    sentences : dict of str to str
        Plain-language conclusions per scale, e.g. ``"model_vs_raters:extent"``.
    notes : dict of str to str
        Why a section is missing or limited (e.g. reference-only input).
    settings : dict
        ``n_boot``, ``seed``, ``reference``, ``confidence``.
    extras : dict
        Objects the figures need (pairwise matrices, trajectories).
    """

    inputs: ValidationInputs
    tables: dict = field(default_factory=dict)
    sentences: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- bootstrap helpers

def _row(scale, statistic, estimate, reps, n, confidence=0.95) -> dict:
    low, high = percentile_ci(reps, confidence)
    return {"scale": scale, "statistic": statistic, "estimate": float(estimate),
            "ci_low": low, "ci_high": high, "n": int(n)}


# --------------------------------------------------------------------------- model vs reference

def paired_scores(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Cases with both a reference total and a prediction: columns ``reference, prediction``."""
    ref = inputs.reference_total(scale).rename("reference")
    pred = inputs.predictions[scale].rename("prediction")
    return pd.concat([ref, pred], axis=1, join="inner").dropna().sort_index()


def model_vs_reference(inputs: ValidationInputs, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """MAE, RMSE, Pearson, Spearman, CCC and Bland-Altman of the model against the reference.

    Parameters
    ----------
    inputs : ValidationInputs
    n_boot : int
        Bootstrap resamples of cases for the 95% CIs (the same resamples for every statistic).
    seed : int

    Returns
    -------
    DataFrame
        ``scale, statistic, estimate, ci_low, ci_high, n``; statistics as in ``MODEL_STATISTICS``.
    """
    rows = []
    for scale in inputs.scales:
        pair = paired_scores(inputs, scale)
        ref, pred = pair["reference"].to_numpy(), pair["prediction"].to_numpy()
        n = len(pair)
        idx = bootstrap_indices(n, n_boot, seed)
        err = pred - ref
        rows += [_row(scale, "MAE", np.abs(err).mean(), np.abs(err)[idx].mean(axis=1), n),
                 _row(scale, "RMSE", np.sqrt((err ** 2).mean()), np.sqrt((err ** 2)[idx].mean(axis=1)), n)]
        for name, key in (("Pearson r", "pearson"), ("Spearman ρ", "spearman"), ("CCC", "ccc")):
            rows.append({"scale": scale, "statistic": name, **vs.paired_stat(key, pred, ref, n_boot, seed),
                         "n": n})
        ba = vs.bland_altman(pred, ref, n_boot, seed)
        for name, key in (("Bias (pred − ref)", "bias"), ("Lower LoA", "loa_low"), ("Upper LoA", "loa_high")):
            rows.append({"scale": scale, "statistic": name, **ba[key], "n": n})
    return pd.DataFrame(rows)


def calibration(inputs: ValidationInputs) -> pd.DataFrame:
    """Calibration of the predictions on the cohort: OLS of reference on prediction.

    A well-calibrated mapping has slope 1 and intercept 0. When metadata give ``patientid``, the
    standard errors are cluster-robust by patient (several images of one patient are not
    independent).

    Returns
    -------
    DataFrame
        ``scale, statistic (Slope/Intercept), estimate, ci_low, ci_high, n, se_type``.
    """
    import statsmodels.api as sm

    rows = []
    for scale in inputs.scales:
        pair = paired_scores(inputs, scale)
        design = sm.add_constant(pair["prediction"].to_numpy())
        model = sm.OLS(pair["reference"].to_numpy(), design)
        groups = _patient_groups(inputs, pair.index)
        if groups is not None and len(np.unique(groups)) < len(groups):
            fit, se_type = model.fit(cov_type="cluster", cov_kwds={"groups": groups}), "cluster (patient)"
        else:
            fit, se_type = model.fit(), "OLS"
        ci = fit.conf_int(0.05)
        for j, name in ((1, "Slope"), (0, "Intercept")):
            rows.append({"scale": scale, "statistic": name, "estimate": float(fit.params[j]),
                         "ci_low": float(ci[j, 0]), "ci_high": float(ci[j, 1]), "n": len(pair),
                         "se_type": se_type})
    return pd.DataFrame(rows)


def _patient_groups(inputs: ValidationInputs, cases) -> np.ndarray | None:
    """Integer patient code per case, or None without a ``patientid`` column."""
    meta = inputs.metadata
    if "patientid" not in meta.columns:
        return None
    patients = meta["patientid"].reindex(cases)
    if patients.isna().any():
        return None
    return pd.factorize(patients.astype(str))[0]


# --------------------------------------------------------------------------- model as a rater

def complete_panel(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """First-reading totals of every rater plus the model, on cases where all are present."""
    wide = inputs.totals(scale)
    wide = wide.join(inputs.predictions[scale].rename("model"), how="inner")
    return wide.dropna()


def consensus(scores: pd.DataFrame, method: str = "mean") -> pd.Series:
    """Row-wise consensus (mean or median) of the raters' columns."""
    return scores.mean(axis=1) if method == "mean" else scores.median(axis=1)


def leave_one_rater_out(panel: pd.DataFrame, method: str = "mean", n_boot: int = 1000,
                        seed: int = 0) -> pd.DataFrame:
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
    idx = bootstrap_indices(len(panel), n_boot, seed)
    model = panel["model"].to_numpy(dtype=float)
    rows = []
    for rater in raters:
        others = consensus(panel[[r for r in raters if r != rater]], method).to_numpy(dtype=float)
        rater_err = np.abs(panel[rater].to_numpy(dtype=float) - others)
        model_err = np.abs(model - others)
        rows.append(_loro_row(rater, rater_err, model_err, idx))
    return pd.DataFrame(rows)


def _loro_row(rater: str, rater_err: np.ndarray, model_err: np.ndarray, idx: np.ndarray) -> dict:
    """Point estimates and paired percentile CIs for one left-out rater."""
    rater_reps, model_reps = rater_err[idx].mean(axis=1), model_err[idx].mean(axis=1)
    row = {"rater": rater, "n": len(rater_err)}
    for name, est, reps in (("rater_mae", rater_err.mean(), rater_reps),
                            ("model_mae", model_err.mean(), model_reps),
                            ("difference", model_err.mean() - rater_err.mean(), model_reps - rater_reps)):
        low, high = percentile_ci(reps)
        row.update({name: float(est), f"{name}_ci_low": low, f"{name}_ci_high": high})
    return row


def model_summary_mae(panel: pd.DataFrame, method: str = "mean", n_boot: int = 1000,
                      seed: int = 0) -> dict:
    """The model's MAE against the other-rater consensus, averaged over the left-out raters.

    Returns
    -------
    dict
        ``estimate, ci_low, ci_high`` (same resamples as :func:`leave_one_rater_out`).
    """
    raters = [c for c in panel.columns if c != "model"]
    idx = bootstrap_indices(len(panel), n_boot, seed)
    model = panel["model"].to_numpy(dtype=float)
    errs = np.array([np.abs(model - consensus(panel[[r for r in raters if r != rater]], method)
                            .to_numpy(dtype=float)) for rater in raters])
    per_case = errs.mean(axis=0)
    low, high = percentile_ci(per_case[idx].mean(axis=1))
    return {"estimate": float(per_case.mean()), "ci_low": low, "ci_high": high}


def model_within_raters_sentence(loro: pd.DataFrame, summary: dict, scale: str) -> str:
    """One sentence: does the model's MAE lie within the range of the raters' own MAE?

    The closest rater is the one whose MAE is nearest the model's; the paired difference to that
    rater carries the uncertainty of the comparison.
    """
    low, high = loro["rater_mae"].min(), loro["rater_mae"].max()
    est = summary["estimate"]
    where = ("lies within" if low <= est <= high else
             "is below (better than)" if est < low else "is above (worse than)")
    closest = loro.iloc[(loro["rater_mae"] - est).abs().argmin()]
    return (f"On {scale}, the model's MAE against the consensus of the other raters "
            f"({fmt(est)}, 95% CI {fmt(summary['ci_low'])}–{fmt(summary['ci_high'])}) {where} "
            f"the range of the raters' own MAE ({fmt(low)}–{fmt(high)}); the paired difference to "
            f"the closest rater ({closest['rater']}) is {fmt(closest['difference'])} "
            f"({fmt(closest['difference_ci_low'])} to {fmt(closest['difference_ci_high'])}).")


def icc_with_and_without_model(panel: pd.DataFrame) -> pd.DataFrame:
    """ICC among the raters, and with the model added as one more rater.

    Returns
    -------
    DataFrame
        ``panel (raters / raters + model), type, estimate, ci_low, ci_high, n, k``.
    """
    rows = []
    raters = [c for c in panel.columns if c != "model"]
    for label, columns in (("raters", raters), ("raters + model", raters + ["model"])):
        forms = vs.icc(to_long(panel[columns]))
        for form in ("ICC2", "ICC2k"):
            rows.append({"panel": label, "form": forms[form]["label"], **_strip(forms[form]),
                         "n": len(panel), "k": len(columns)})
    return pd.DataFrame(rows)


def _strip(result: dict) -> dict:
    return {key: result[key] for key in ("estimate", "ci_low", "ci_high")}


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """Wide (case × rater) scores to the tidy ``case, rater, score`` table of the agreement API."""
    long = wide.rename_axis(index="case", columns="rater").stack().rename("score").reset_index()
    long["rater"] = long["rater"].astype(str)
    return long


def model_as_rater(inputs: ValidationInputs, n_boot: int = 1000, seed: int = 0) -> dict:
    """Leave-one-rater-out, ICC with/without the model and pairwise agreement, per scale.

    Returns
    -------
    dict
        ``loro`` (DataFrame, a ``scale`` column added), ``icc``, ``pairwise`` (dict scale ->
        DataFrame), ``sentences`` (dict scale -> str), ``summary`` (dict scale -> dict).
    """
    out = {"loro": [], "icc": [], "pairwise": {}, "sentences": {}, "summary": {}}
    for scale in inputs.scales:
        panel = complete_panel(inputs, scale)
        if panel.shape[1] < 3 or len(panel) < 3:
            continue
        loro = leave_one_rater_out(panel, inputs.reference_method, n_boot, seed)
        summary = model_summary_mae(panel, inputs.reference_method, n_boot, seed)
        out["loro"].append(loro.assign(scale=scale))
        out["icc"].append(icc_with_and_without_model(panel).assign(scale=scale))
        out["pairwise"][scale] = vs.pairwise_matrix(to_long(panel))
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
    """
    rows = []
    if inputs.ratings is None or not inputs.ratings["is_repeat"].any():
        return pd.DataFrame()
    scales = [s for s in inputs.ratings["scale"].unique()]
    for scale in scales:
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
        wide = pd.DataFrame({"reading 1": first, "reading 2": repeat})
        icc = vs.icc(to_long(wide))["ICC2"]
        out.update({"icc": icc["estimate"], "icc_ci_low": icc["ci_low"], "icc_ci_high": icc["ci_high"]})
        out["weighted_kappa"] = vs.weighted_kappa(to_long(wide), categories)
    return out


# --------------------------------------------------------------------------- subgroups, longitudinal

def _categories(scale: str):
    """Full category range of a scale total (so an unused score still counts in the kappa)."""
    try:
        low, high = scale_range(scale)
    except (KeyError, LookupError, ValueError, OSError):
        return None
    return f"{low}-{high}"


def subgroup_columns(metadata: pd.DataFrame, requested=None, max_levels: int = 8) -> list[str]:
    """Metadata columns usable as subgroups: the requested ones, else view/site/sex if present
    with 2..max_levels levels."""
    if requested:
        missing = [c for c in requested if c not in metadata.columns]
        if missing:
            raise KeyError(f"subgroup column(s) not in the metadata: {', '.join(missing)}")
        return list(requested)
    return [c for c in DEFAULT_SUBGROUPS if c in metadata.columns
            and 2 <= metadata[c].nunique() <= max_levels]


def subgroups(inputs: ValidationInputs, columns=None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Model vs reference within each level of each metadata column.

    Returns
    -------
    DataFrame
        ``scale, variable, level, n, mae (+ci), bias, ccc``.
    """
    rows = []
    for column in subgroup_columns(inputs.metadata, columns):
        levels = inputs.metadata[column].fillna("missing").astype(str)
        for scale in inputs.scales:
            pair = paired_scores(inputs, scale).join(levels.rename("level"), how="inner")
            for level, grp in pair.groupby("level"):
                rows.append(_subgroup_row(scale, column, level, grp, n_boot, seed))
    return pd.DataFrame(rows)


def _subgroup_row(scale, column, level, grp, n_boot, seed) -> dict:
    ref, pred = grp["reference"].to_numpy(), grp["prediction"].to_numpy()
    err = np.abs(pred - ref)
    low, high = percentile_ci(err[bootstrap_indices(len(err), n_boot, seed)].mean(axis=1))
    ccc = vs.paired_stat("ccc", pred, ref, 0, seed)["estimate"] if len(grp) >= 3 else np.nan
    return {"scale": scale, "variable": column, "level": level, "n": len(grp),
            "mae": float(err.mean()), "mae_ci_low": low, "mae_ci_high": high,
            "bias": float((pred - ref).mean()), "ccc": ccc}


def longitudinal_pairs(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Consecutive images of each patient: change in reference and in prediction.

    Returns
    -------
    DataFrame
        ``patientid, case_from, case_to, days, delta_reference, delta_prediction``.
    """
    meta = inputs.metadata
    if not {"patientid", "offset"} <= set(meta.columns):
        return pd.DataFrame()
    pair = paired_scores(inputs, scale).join(meta[["patientid", "offset"]], how="inner")
    pair = pair.dropna(subset=["patientid", "offset"]).sort_values(["patientid", "offset"])
    rows = []
    for pid, grp in pair.groupby("patientid"):
        for (a, ra), (b, rb) in zip(grp.iterrows(), list(grp.iterrows())[1:]):
            rows.append({"patientid": pid, "case_from": a, "case_to": b,
                         "days": float(rb["offset"]) - float(ra["offset"]),
                         "delta_reference": rb["reference"] - ra["reference"],
                         "delta_prediction": rb["prediction"] - ra["prediction"]})
    return pd.DataFrame(rows)


def longitudinal(inputs: ValidationInputs, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Does the model follow change within patients? Change in prediction vs change in reference.

    Returns
    -------
    DataFrame
        ``scale, statistic, estimate, ci_low, ci_high, n`` with the Pearson r of the changes,
        the MAE of the change, and the fraction of pairs whose direction agrees (among pairs whose
        reference changed).
    """
    rows = []
    for scale in inputs.scales:
        pairs = longitudinal_pairs(inputs, scale)
        if len(pairs) < 3:
            continue
        dref, dpred = pairs["delta_reference"].to_numpy(), pairs["delta_prediction"].to_numpy()
        idx = bootstrap_indices(len(pairs), n_boot, seed)
        moved = dref != 0
        same = (np.sign(dref) == np.sign(dpred)).astype(float)
        rows += [
            {"scale": scale, "statistic": "Pearson r of change",
             **vs.paired_stat("pearson", dpred, dref, n_boot, seed), "n": len(pairs)},
            _row(scale, "MAE of change", np.abs(dpred - dref).mean(),
                 np.abs(dpred - dref)[idx].mean(axis=1), len(pairs)),
            _row(scale, "Direction agreement", same[moved].mean() if moved.any() else np.nan,
                 [same[i][moved[i]].mean() if moved[i].any() else np.nan for i in idx],
                 int(moved.sum())),
        ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- reference

def reference_summary(inputs: ValidationInputs) -> pd.DataFrame:
    """Distribution of the reference scores per scale and component (total, right, left).

    Returns
    -------
    DataFrame
        ``scale, component, n_cases, raters_per_case, mean, sd, median, q1, q3, min, max``.
    """
    rows = []
    ref = inputs.reference
    for (scale, component), grp in ref.groupby(["scale", "component"], sort=False):
        values = grp["reference"]
        rows.append({"scale": scale, "component": component, "n_cases": len(grp),
                     "raters_per_case": float(grp["n_raters"].median()) if grp["n_raters"].notna().any()
                     else np.nan, "mean": values.mean(), "sd": values.std(ddof=1),
                     "median": values.median(), "q1": values.quantile(0.25),
                     "q3": values.quantile(0.75), "min": values.min(), "max": values.max()})
    order = {"total": 0, "right": 1, "left": 2}
    out = pd.DataFrame(rows)
    return out.sort_values(["scale", "component"], key=lambda c: c.map(order).fillna(3)
                           if c.name == "component" else c, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- everything

def validate(inputs: ValidationInputs, n_boot: int = 1000, seed: int = 0,
             subgroup_by=None) -> ValidationResult:
    """Run every section the inputs allow and collect tables, sentences and notes.

    Parameters
    ----------
    inputs : ValidationInputs
        From :func:`covsev_tools.reference.load_inputs`.
    n_boot : int
        Bootstrap resamples of cases for every CI.
    seed : int
        Seed of the resamples (the same seed gives the same report).
    subgroup_by : list of str, optional
        Metadata columns for subgroups (default: view, site, sex when present).

    Returns
    -------
    ValidationResult

    Examples
    --------
    >>> from covsev_tools.simulate import simulate_cohort          # doctest: +SKIP
    >>> result = validate(inputs_from_simulation(simulate_cohort()), n_boot=200)  # doctest: +SKIP
    >>> result.sentences["model_vs_raters:extent"]                  # doctest: +SKIP
    """
    result = ValidationResult(inputs, settings={"n_boot": n_boot, "seed": seed,
                                                "reference": inputs.reference_method,
                                                "confidence": 0.95})
    t = result.tables
    t["reference"] = reference_summary(inputs)
    t["model_vs_reference"] = model_vs_reference(inputs, n_boot, seed)
    t["calibration"] = calibration(inputs)
    _model_as_rater_section(result, n_boot, seed)
    t["external_validation"], t["external_mapping"], note = external_validation(inputs, n_boot, seed)
    if note:
        result.notes["external_validation"] = note
    _intra_rater_section(result)
    t["subgroups"] = subgroups(inputs, subgroup_by, n_boot, seed)
    if not len(t["subgroups"]):
        result.notes["subgroups"] = "No metadata column with 2 to 8 levels (view, site, sex)."
    t["longitudinal"] = longitudinal(inputs, n_boot, seed)
    if not len(t["longitudinal"]):
        result.notes["longitudinal"] = ("No longitudinal pairs: metadata need patientid and offset, "
                                        "and at least 3 pairs of consecutive images of a patient.")
    result.extras["longitudinal_series"] = {s: _series(inputs, s) for s in inputs.scales}
    return result


def _model_as_rater_section(result: ValidationResult, n_boot: int, seed: int) -> None:
    inputs = result.inputs
    if len(inputs.raters) < 2:
        result.notes["model_as_rater"] = (
            "Individual ratings are not available (reference-only input, e.g. the published mean "
            "scores), so the model cannot be compared with the raters' own agreement.")
        return
    section = model_as_rater(inputs, n_boot, seed)
    result.tables["model_as_rater"] = section["loro"]
    result.tables["icc"] = section["icc"]
    result.extras["pairwise"] = section["pairwise"]
    result.extras["model_summary"] = section["summary"]
    for scale, sentence in section["sentences"].items():
        result.sentences[f"model_vs_raters:{scale}"] = sentence


def _intra_rater_section(result: ValidationResult) -> None:
    table = intra_rater(result.inputs)
    result.tables["intra_rater"] = table
    if not len(table):
        result.notes["intra_rater"] = ("No hidden repeat readings in the ratings (is_repeat), so "
                                       "intra-rater reliability cannot be estimated.")


def _series(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Per-image reference and prediction with patient and day, for the trajectory figure."""
    meta = inputs.metadata
    if not {"patientid", "offset"} <= set(meta.columns):
        return pd.DataFrame()
    pair = paired_scores(inputs, scale).join(meta[["patientid", "offset"]], how="inner")
    return pair.dropna(subset=["patientid", "offset"]).reset_index()
