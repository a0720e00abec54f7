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

from covsev_tools.validation import stats as vs
from covsev_tools.validation.external import external_validation
from covsev_tools.validation.raters import (complete_panel, consensus, icc_with_and_without_model, intra_rater,
                     leave_one_rater_out, model_as_rater, model_summary_mae,
                     model_within_raters_sentence, repeat_pairs, to_long)
from covsev_tools.validation.inputs import ValidationInputs, load_inputs
from covsev_tools.validation.subgroups import (longitudinal, longitudinal_pairs, subgroup_columns, subgroups,
                        trajectory_series)
from covsev_tools.validation.stats import bootstrap_indices, ci_row

__all__ = [
    "ValidationResult", "validate", "load_inputs", "paired_scores", "reference_summary",
    "model_vs_reference", "calibration", "complete_panel", "consensus", "leave_one_rater_out",
    "model_summary_mae", "model_within_raters_sentence", "icc_with_and_without_model",
    "model_as_rater", "repeat_pairs", "intra_rater", "subgroup_columns", "subgroups",
    "longitudinal_pairs", "longitudinal", "external_validation", "to_long",
]


@dataclass
class ValidationResult:
    """Tables, sentences and notes of one validation run (input to :mod:`covsev_tools.report.build`).

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


# --------------------------------------------------------------------------- model vs reference

def paired_scores(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Cases with both a reference total and a prediction: columns ``reference, prediction``."""
    return inputs.paired(scale)


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
        rows += [ci_row(scale, "MAE", np.abs(err).mean(), np.abs(err)[idx].mean(axis=1), n),
                 ci_row(scale, "RMSE", np.sqrt((err ** 2).mean()), np.sqrt((err ** 2)[idx].mean(axis=1)), n)]
        for name, key in (("Pearson r", "pearson"), ("Spearman ρ", "spearman"), ("CCC", "ccc")):
            rows.append({"scale": scale, "statistic": name, **vs.paired_stat(key, pred, ref, n_boot, seed),
                         "n": n})
        ba = vs.bland_altman(pred, ref, n_boot, seed)
        for name, key in (("Bias (pred − ref)", "bias"), ("Lower LoA", "loa_low"), ("Upper LoA", "loa_high")):
            rows.append({"scale": scale, "statistic": name, **ba[key], "n": n})
    return pd.DataFrame(rows)


def calibration(inputs: ValidationInputs, min_clusters: int = 20) -> pd.DataFrame:
    """Calibration of the predictions on the cohort: OLS of reference on prediction.

    A well-calibrated mapping has slope 1 and intercept 0. When metadata give ``patientid`` for
    at least ``min_clusters`` patients with some patient imaged more than once, the standard errors
    are cluster-robust by patient (images of one patient are not independent); with fewer
    clusters the cluster-robust SEs are unreliable (Cameron & Miller 2015), so plain OLS is used.

    Returns
    -------
    DataFrame
        ``scale, statistic (Slope/Intercept), estimate, ci_low, ci_high, n, se_type``; a scale
        with fewer than 3 cases or no spread in the predictions is left out.
    """
    import statsmodels.api as sm

    rows = []
    for scale in inputs.scales:
        pair = paired_scores(inputs, scale)
        if len(pair) < 3 or pair["prediction"].nunique() < 2:
            continue
        model = sm.OLS(pair["reference"].to_numpy(), sm.add_constant(pair["prediction"].to_numpy()))
        groups = _patient_groups(inputs, pair.index)
        clustered = groups is not None and min_clusters <= len(np.unique(groups)) < len(groups)
        fit = (model.fit(cov_type="cluster", cov_kwds={"groups": groups}) if clustered
               else model.fit())
        ci = fit.conf_int(0.05)
        for j, name in ((1, "Slope"), (0, "Intercept")):
            rows.append({"scale": scale, "statistic": name, "estimate": float(fit.params[j]),
                         "ci_low": float(ci[j, 0]), "ci_high": float(ci[j, 1]), "n": len(pair),
                         "se_type": "cluster (patient)" if clustered else "OLS"})
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
        From :func:`covsev_tools.validation.inputs.load_inputs`.
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
    >>> from covsev_tools.datasets.simulate import simulate_cohort
    >>> folder = simulate_cohort(seed=0).write("out/sim")                    # doctest: +SKIP
    >>> inputs = load_inputs(folder / "ratings.csv", folder / "predictions.csv",
    ...                      key_path=folder / "key.csv")                    # doctest: +SKIP
    >>> validate(inputs, n_boot=200).sentences["model_vs_raters:extent"]    # doctest: +SKIP
    """
    result = ValidationResult(inputs, settings={"n_boot": n_boot, "seed": seed,
                                                "reference": inputs.reference_method,
                                                "confidence": 0.95})
    t = result.tables
    t["reference"] = reference_summary(inputs)
    t["model_vs_reference"] = model_vs_reference(inputs, n_boot, seed)
    t["calibration"] = calibration(inputs)
    missing = [s for s in inputs.scales
               if not len(t["calibration"]) or s not in set(t["calibration"]["scale"])]
    if missing:
        result.notes["calibration"] = (f"No calibration for {', '.join(missing)}: it needs at least "
                                       "3 cases and predictions that are not all the same value.")
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
    result.extras["longitudinal_series"] = {s: trajectory_series(inputs, s) for s in inputs.scales}
    return result


def _model_as_rater_section(result: ValidationResult, n_boot: int, seed: int) -> None:
    inputs = result.inputs
    if inputs.ratings is None:
        result.notes["model_as_rater"] = (
            "Individual ratings are not available (reference-only input, e.g. the published mean "
            "scores), so the model cannot be compared with the raters' own agreement.")
        return
    if len(inputs.raters) < 2:
        result.notes["model_as_rater"] = (
            f"Only {len(inputs.raters)} rater: comparing the model with the raters' own agreement "
            f"needs at least two.")
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
