"""Validation of a severity model on a new cohort, against the raters' own agreement.

The question a reader study asks of a model is not only "how far is it from the reference?" but
"is it as close to the experts as the experts are to each other?". This module answers both:

* model vs reference (MAE, RMSE, Pearson, Spearman, CCC, Bland-Altman) with bootstrap CIs over
  cases, and the calibration of the published mapping on the new cohort;
* the model as one more rater: leave-one-rater-out MAE against the consensus of the *other*
  raters, with a paired bootstrap CI of model minus rater, and the ICC with and without the model;
* is the model within the radiologists' variability: its excess disagreement with the raters over
  theirs with each other, readers random (a two-way bootstrap over cases and raters) and fixed;
* intra-rater reliability from hidden repeats, subgroups by metadata, longitudinal change, and the
  published mapping against a mapping refitted on the cohort (external validation).

Every agreement statistic comes from :mod:`covsev_tools.agreement` so the report's numbers equal
those of ``covsev agreement``. Bootstrap CIs are percentile intervals (Efron & Tibshirani 1993)
over patients with all their images when a patient column is known, else over images; seeded;
paired comparisons reuse the same resamples.

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

from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.agreement.continuous import LOA_MULTIPLIER
from covsev_tools.validation.accuracy import (calibration, model_vs_reference, paired_scores,
                                              reference_summary)
from covsev_tools.validation.equivalence import disagreement_profiles, model_equivalence_section
from covsev_tools.validation.external import external_validation, mapping_coefficients
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.interrater import PAIRWISE_KAPPA, inter_rater, kappa_matrix
from covsev_tools.validation.intrarater import intra_rater, repeat_pairs
from covsev_tools.validation.raters import (MODEL_SUMMARY, complete_panel, consensus,
                                            icc_with_and_without_model, icc_with_model,
                                            leave_one_rater_out, model_as_rater, model_summary_mae,
                                            model_within_raters_sentence,
                                            model_within_raters_sentences, pairwise_mae, to_long)
from covsev_tools.validation.study import load_inputs
from covsev_tools.validation.subgroups import (longitudinal, longitudinal_pairs, subgroup_columns,
                                               subgroups, trajectory_series)

#: The validation API in one place (each function lives in the module of its section).
__all__ = [
    "ValidationResult", "validate", "load_inputs", "paired_scores", "reference_summary",
    "model_vs_reference", "calibration", "inter_rater", "complete_panel", "consensus",
    "leave_one_rater_out", "model_summary_mae", "model_within_raters_sentence",
    "model_within_raters_sentences", "icc_with_and_without_model", "icc_with_model",
    "model_as_rater", "pairwise_mae", "repeat_pairs", "intra_rater", "subgroup_columns",
    "subgroups", "longitudinal_pairs", "longitudinal", "external_validation",
    "mapping_coefficients", "to_long", "model_equivalence_section", "disagreement_profiles",
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
        ``n_boot``, ``seed``, ``confidence``, ``reference``, ``cluster_col`` (the patient column
        resampled, None for images), ...
    extras : dict
        Objects the figures need (pairwise matrices, trajectories).

    Examples
    --------
    >>> ValidationResult(inputs=None).tables
    {}
    """

    inputs: ValidationInputs
    tables: dict = field(default_factory=dict)
    sentences: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- everything

def validate(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
             seed: int = 0, confidence: float = DEFAULT_CONFIDENCE, subgroup_by=None,
             multiplier: float = LOA_MULTIPLIER, margin: float | None = None,
             command: str | None = None, on_section=None) -> ValidationResult:
    """Run every section the inputs allow and collect tables, sentences and notes.

    Parameters
    ----------
    inputs : ValidationInputs
        From :func:`covsev_tools.validation.study.load_inputs` or :func:`~covsev_tools.validation.study.load_study`.
    cluster : str or None
        Patient column every bootstrap resamples as a whole (default: the one the inputs were
        read with, ``patient_id`` else ``patientid``; None: resample images).
    n_boot : int
        Bootstrap resamples (of patients when known, else of images) for every CI.
    seed : int
        Seed of the resamples (the same seed gives the same report).
    confidence : float
        Confidence level of every interval and of the methods text.
    subgroup_by : list of str, optional
        Metadata columns for subgroups (default: view, site, sex when present).
    multiplier : float
        Bland-Altman limits are bias ± multiplier × SD (default 1.96).
    margin : float, optional
        Non-inferiority margin of the model's excess MAE over the raters' own (every scale);
        None: 0.25 × the raters' own MAE of each scale (see
        :func:`~covsev_tools.validation.equivalence.model_equivalence_section`).
    command : str, optional
        The command line or notebook that ran the validation (stated in the methods).
    on_section : callable, optional
        Called as ``on_section(name, result)`` after each section (``"accuracy"``,
        ``"longitudinal"``, ``"inter_rater"``, ``"model_as_rater"``, ``"equivalence"``,
        ``"external"``,
        ``"intra_rater"``, ``"subgroups"``), with the tables so far: the report starts drawing
        a figure as soon as its numbers are in, and a notebook can show progress.

    Returns
    -------
    ValidationResult

    Examples
    --------
    >>> folder = getfixture("simulated_cohort")  # simulate_cohort(seed=0).write(folder)
    >>> inputs = load_inputs(folder / "ratings.csv", folder / "predictions.csv",
    ...                      key_path=folder / "key.csv")
    >>> result = validate(inputs, n_boot=20)
    >>> result.settings["cluster_col"], result.sentences["model_vs_raters:extent"][:24]
    ('patientid', "On extent, the model's M")
    """
    subgroup_columns(inputs.metadata, subgroup_by)  # a misspelled column fails before any work
    inputs = inputs.resampled_by(cluster)
    boot = dict(n_boot=n_boot, seed=seed, confidence=confidence)
    result = ValidationResult(inputs, settings=_settings(inputs, boot, multiplier, command))
    t = result.tables
    done = (lambda name: on_section(name, result)) if on_section else (lambda name: None)
    t["reference"] = reference_summary(inputs)
    if not inputs.has_model:
        return _reader_study(result, boot, done)
    t["model_vs_reference"] = model_vs_reference(inputs, multiplier=multiplier, **boot)
    t["calibration"] = calibration(inputs, confidence=confidence)
    missing = [s for s in inputs.scales
               if not len(t["calibration"]) or s not in set(t["calibration"]["scale"])]
    if missing:
        result.notes["calibration"] = (f"No calibration for {', '.join(missing)}: it needs at least "
                                       "3 cases and predictions that are not all the same value.")
    done("accuracy")
    # the sections with a figure come first, so that the report draws every figure while the
    # others are computed
    _longitudinal_section(result, boot)
    done("longitudinal")
    _inter_rater_section(result, boot)
    done("inter_rater")
    _model_as_rater_section(result, boot)
    done("model_as_rater")
    _equivalence_section(result, boot, margin)
    done("equivalence")
    t["external_validation"] = external_validation(inputs, **boot)
    t["external_mapping"] = mapping_coefficients(inputs)
    if t["external_validation"].attrs["note"]:
        result.notes["external_validation"] = t["external_validation"].attrs["note"]
    done("external")
    _intra_rater_section(result)
    done("intra_rater")
    t["subgroups"] = subgroups(inputs, subgroup_by, **boot)
    if not len(t["subgroups"]):
        result.notes["subgroups"] = "No metadata column with 2 to 8 levels (view, site, sex)."
    done("subgroups")
    return result


#: What a report without predictions says in place of the model's sections.
NO_MODEL_NOTE = ("No model predictions: the model's sections (model vs reference, calibration, the model "
                 "as one more rater, external validation, subgroups, longitudinal change) are absent. "
                 "Run `covsev predict` on the cohort and make the report again to add them.")


def _reader_study(result: ValidationResult, boot: dict, done) -> ValidationResult:
    """The raters' sections of a study without predictions: inter-rater, intra-rater, adjudication."""
    result.notes["model"] = NO_MODEL_NOTE
    done("accuracy")
    _inter_rater_section(result, boot)
    done("inter_rater")
    _intra_rater_section(result)
    done("intra_rater")
    _adjudication_section(result)
    return result


def _adjudication_section(result: ValidationResult) -> None:
    """Cases whose reference is the adjudicated consensus, and how far it moved from the raters' mean."""
    inputs = result.inputs
    reference = inputs.reference
    if "source" not in reference.columns or inputs.ratings is None:
        result.notes["adjudication"] = ("The reference is not the adjudicated consensus "
                                        "(`--reference consensus`), so no adjudication is reported.")
        return
    rows = []
    for scale in inputs.scales:
        totals = reference[(reference["scale"] == scale) & (reference["component"] == "total")].set_index("case")
        adjudicated = totals.index[totals["source"] == "consensus"]
        raters_mean = inputs.totals(scale).mean(axis=1).reindex(adjudicated)
        moved = (totals.loc[adjudicated, "reference"] - raters_mean).abs().dropna()
        rows.append({"scale": scale, "n_cases": len(totals), "n_adjudicated": len(adjudicated),
                     "mean_abs_change": float(moved.mean()) if len(moved) else float("nan"),
                     "max_abs_change": float(moved.max()) if len(moved) else float("nan")})
    result.tables["adjudication"] = pd.DataFrame(rows)
    if not sum(r["n_adjudicated"] for r in rows):
        result.notes["adjudication"] = "No case has been adjudicated yet (no consensus records)."


def _settings(inputs: ValidationInputs, boot: dict, multiplier, command) -> dict:
    """What the methods section states: resamples, seed, resampled unit, reference, command."""
    cases = sorted(set(inputs.reference["case"]))
    codes = inputs.clusters(cases)
    column = inputs.patient_column if codes is not None else None
    return {"n_boot": boot["n_boot"], "seed": boot["seed"], "reference": inputs.reference_method,
            "confidence": boot["confidence"], "multiplier": multiplier, "cluster_col": column,
            "n_clusters": int(codes.max() + 1) if codes is not None and len(codes) else None,
            "unit": "patient" if column else "image", "command": command}


def _inter_rater_section(result: ValidationResult, boot: dict) -> None:
    inputs = result.inputs
    if inputs.ratings is None or len(inputs.raters) < 2:
        result.notes["inter_rater"] = (
            "Inter-rater agreement needs individual ratings of at least two raters "
            f"({'reference-only input' if inputs.ratings is None else f'{len(inputs.raters)} rater'}).")
        return
    rows = inter_rater(inputs, **boot)
    pairs = rows["statistic"] == PAIRWISE_KAPPA
    table = rows[~pairs].drop(columns=["rater_a", "rater_b"]).reset_index(drop=True)
    pairwise = rows[pairs].drop(columns="statistic").reset_index(drop=True)
    result.tables["inter_rater"], result.tables["pairwise_kappa"] = table, pairwise
    totals = pairwise[pairwise["component"] == "total"]
    result.extras["kappa_matrices"] = {scale: kappa_matrix(group)
                                       for scale, group in totals.groupby("scale", sort=False)}
    note = kappa_icc_note(table)
    if note:
        result.notes["inter_rater_kappa"] = note
    small = table[table["n"] < SMALL_N]
    if len(small):
        result.notes["inter_rater_small"] = (
            f"Fewer than {SMALL_N} cases behind some statistics (n = {int(small['n'].min())} at least): "
            "their intervals are wide or unreliable; read them as descriptive only.")


#: Below this many cases (or repeat pairs), the report says an estimate rests on too few.
SMALL_N = 10


def kappa_icc_note(table: pd.DataFrame) -> str | None:
    """Why unweighted Fleiss' κ can sit far below the ICC on the same scores (None if it does not).

    Fleiss' κ counts only exact matches of levels and corrects for the agreement the level
    frequencies give by chance; on ordinal totals with many levels, a one-point difference is a
    full disagreement to it, and when most cases fall in a few levels (prevalence) chance
    agreement is high, so κ is low. The ICC (and quadratic-weighted κ, Krippendorff's α, Gwet's
    AC2) credit near agreement by its distance.

    Examples
    --------
    >>> t = pd.DataFrame({"scale": "extent", "component": "total", "statistic": ["ICC(2,1)", "Fleiss κ"],
    ...                   "estimate": [0.81, 0.19]})
    >>> kappa_icc_note(t)[:46]
    'On extent (total), unweighted Fleiss κ is 0.19'
    """
    rows = table[table["component"] == "total"].set_index(["scale", "statistic"])["estimate"]
    parts = []
    for scale in dict.fromkeys(table["scale"]):
        kappa, icc = rows.get((scale, "Fleiss κ")), rows.get((scale, "ICC(2,1)"))
        if kappa is not None and icc is not None and np.isfinite(kappa) and np.isfinite(icc) and icc - kappa >= 0.2:
            parts.append(f"On {scale} (total), unweighted Fleiss κ is {kappa:.2f} while ICC(2,1) is {icc:.2f}")
    if not parts:
        return None
    return ("; ".join(parts) + ". They measure different things: Fleiss' κ counts only identical levels as "
            "agreement (a total one point apart is a full disagreement) and corrects for the chance agreement "
            "that the levels' frequencies give (high when most cases share a few levels), while the ICC and "
            "the weighted statistics (quadratic-weighted κ, Krippendorff's α, Gwet's AC2) credit near "
            "agreement by its distance. For ordinal severity totals, read the ICC and weighted statistics; "
            "exact agreement is in the table for completeness.")


def _model_as_rater_section(result: ValidationResult, boot: dict) -> None:
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
    table = model_as_rater(inputs, **boot)
    result.tables["model_as_rater"] = table
    result.tables["icc"] = icc_with_model(inputs, confidence=boot["confidence"])
    result.extras["pairwise"] = pairwise_mae(inputs)
    summary = table[table["statistic"] == MODEL_SUMMARY]
    result.extras["model_summary"] = {row.scale: {"estimate": row.estimate, "ci_low": row.ci_low,
                                                  "ci_high": row.ci_high}
                                      for row in summary.itertuples()}
    for scale, sentence in model_within_raters_sentences(table).items():
        result.sentences[f"model_vs_raters:{scale}"] = sentence


def _equivalence_section(result: ValidationResult, boot: dict, margin) -> None:
    inputs = result.inputs
    if inputs.ratings is None or len(inputs.raters) < 2:
        result.notes["equivalence"] = (
            "Comparing the model with the variability of the raters needs individual ratings of "
            "at least two raters (three for readers random).")
        return
    table = model_equivalence_section(inputs, margin=margin, **boot)
    result.tables["equivalence"] = table
    margins = table.groupby("scale", sort=False)["margin"].first().to_dict()
    result.extras["equivalence_profiles"] = disagreement_profiles(inputs, margins, **boot)
    for scale, sentence in table.attrs["sentences"].items():
        result.sentences[f"equivalence:{scale}"] = sentence
    if table.attrs["note"]:
        result.notes["equivalence"] = table.attrs["note"]
    result.settings["margin"] = margin


def _longitudinal_section(result: ValidationResult, boot: dict) -> None:
    inputs = result.inputs
    result.tables["longitudinal"] = longitudinal(inputs, **boot)
    if not len(result.tables["longitudinal"]):
        result.notes["longitudinal"] = ("No longitudinal pairs: metadata need a patient column "
                                        "(patient_id or patientid) and offset, "
                                        "and at least 3 pairs of consecutive images of a patient.")
    result.extras["longitudinal_series"] = {s: trajectory_series(inputs, s) for s in inputs.scales}


def _intra_rater_section(result: ValidationResult) -> None:
    table = intra_rater(result.inputs, confidence=result.settings["confidence"])
    result.tables["intra_rater"] = table
    if not len(table):
        result.notes["intra_rater"] = ("No hidden repeat readings in the ratings (is_repeat), so "
                                       "intra-rater reliability cannot be estimated.")
    elif (table["n"] < SMALL_N).any():
        few = int(table["n"].min())
        result.notes["intra_rater"] = (
            f"Small numbers: as few as {few} repeat pair{'s' if few != 1 else ''} per rater (fewer than "
            f"{SMALL_N}). An ICC of 1.00 from so few pairs says only that these pairs matched; its "
            "interval is not a reliable statement about the rater.")
