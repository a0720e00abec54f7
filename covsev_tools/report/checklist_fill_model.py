"""What the study says for each checklist topic: the data, the reference standard and the model.

The fillers of :mod:`covsev_tools.report.checklist_fill` for the data and model side, and
:data:`FILLERS`, every topic a checklist item can point to (the ``fact`` of
:class:`~covsev_tools.report.checklist_items.Item`).

Examples
--------
>>> from covsev_tools.report.checklist_items import GUIDELINES
>>> sorted({i.fact for g in GUIDELINES.values() for i in g.items if i.fact} - set(FILLERS))
[]
"""
from __future__ import annotations

from covsev_tools.agreement.typeset import format_level
from covsev_tools.report import checklist_fill as fill
from covsev_tools.report.checklist_facts import ChecklistFacts
from covsev_tools.report.checklist_fill import AUTHOR, FILLED, PARTLY, Fill, described, record_hint
from covsev_tools.report.tables import fmt, fmt_ci

__all__ = ["FILLERS"]

_MAPPING = {"extent": "0.8705 x + 3.4137 clamped to 0–8", "opacity": "0.5484 x + 2.5536 clamped to 0–6"}


def _reference_standard(facts: ChecklistFacts) -> Fill:
    s = facts.study
    text = f"Reference score per case: {s['reference']}."
    if s.get("n_adjudicated") is not None:
        text += f" {s['n_adjudicated']} cases were adjudicated."
    rule = facts.description.get("adjudication_rule")
    if facts.settings.get("reference") == "consensus" and not rule:
        return Fill(PARTLY, text, "report.html#study", "State when a case went to adjudication and "
                    "who decided (covsev adjudicate flags differences of 2 or more by default). "
                    + record_hint("adjudication_rule"))
    return Fill(FILLED, text + (f" Adjudication: {rule}." if rule else ""), "report.html#study")


def _annotation(facts: ChecklistFacts) -> Fill:
    if facts.real_cohort:
        return Fill(FILLED, f"Raters scored on covsev's scoring page (covsev "
                    f"{facts.versions['covsev']}), which shows each scale's level definitions. "
                    + fill._blinding_text(facts) + " " + fill._scale(facts).text, "report.html#study")
    return Fill(PARTLY, fill._scale(facts).text, "report.html#study",
                "Describe the annotation tool and instructions of the real readings.")


def _missing(facts: ChecklistFacts) -> Fill:
    s, flagged = facts.study, facts.readings.get("not_assessable")
    text = f"{s['n_cases'] - s['n_predicted']} of {s['n_cases']} cases have no model prediction."
    if flagged is not None:
        text += f" {flagged} readings were marked not assessable and count as missing."
    line = next((l for l in facts.methods if l.startswith("Missing ratings")), "")
    if facts.result.inputs.ratings is not None:
        text += " " + line
    return Fill(FILLED, text, "report.html#methods")


def _flow(facts: ChecklistFacts) -> Fill:
    s = facts.study
    text = (f"{s['n_cases']} images with a reference score, {s['n_predicted']} of them with a "
            f"model prediction")
    if s.get("n_complete") is not None:
        text += f", {s['n_complete']} rated by every rater"
    return Fill(PARTLY, text + ".", "report.html#study", "Draw the flow from the source population: "
                "exclusions made before the cohort was built are not known to covsev.")


def _characteristics(facts: ChecklistFacts) -> Fill:
    meta = facts.result.inputs.metadata
    parts = []
    for column in ("sex", "view", "site"):
        if column in meta.columns:
            counts = meta[column].value_counts()
            parts.append(f"{column}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if "age" in meta.columns and meta["age"].notna().any():
        age = meta["age"].astype(float)
        parts.append(f"age median {fmt(age.median(), 0)} (range {fmt(age.min(), 0)}–{fmt(age.max(), 0)})")
    text = "; ".join(parts) + ". " if parts else ""
    return Fill(PARTLY, text + fill.severity_text(facts), "tables/reference.csv",
                "Add clinical characteristics (diagnosis, setting, timing) the metadata do not hold.")


def _severity_distribution(facts: ChecklistFacts) -> Fill:
    return Fill(FILLED, fill.severity_text(facts), "tables/reference.csv")


def _data_sources(facts: ChecklistFacts) -> Fill:
    recorded = facts.description.get("data_source")
    if recorded:
        return Fill(FILLED, f"{recorded} (recorded in study.yaml).", "study.yaml")
    files = ", ".join(f"{k}: {v}" for k, v in facts.result.inputs.sources.items() if v)
    return Fill(PARTLY, f"Inputs read: {files}.", "report.html#study", record_hint("data_source"))


def _predictions_note(facts: ChecklistFacts) -> Fill | None:
    """Model facts hold only for predictions made by ``covsev predict`` on a real cohort."""
    if facts.simulated:
        return Fill(PARTLY, "This study is simulated (covsev demo): its ratings, and its "
                    "predictions unless the demo ran the model on images (--images), are simulated.",
                    "report.html#study", "Describe the real model run.")
    return None


def _preprocessing(facts: ChecklistFacts) -> Fill:
    text = ("covsev predict decodes each image to one grey channel (DICOM with modality LUT, VOI "
            "window and MONOCHROME1 inversion), then prepares torchxrayvision's input: values "
            "scaled to [−1024, 1024], centre crop to a square, anti-aliased resize to 224 × 224.")
    if facts.simulated or "xrv:Lung Opacity" not in facts.result.inputs.predictions.columns:
        return _predictions_note(facts) or Fill(AUTHOR, hint="Describe how the images were "
                                                "prepared for the model.")
    if facts.real_cohort:
        return Fill(FILLED, text, "report.html#methods")
    return Fill(PARTLY, text, "report.html#methods", "Confirm the predictions were made by covsev "
                "predict (this report was given a predictions file, not a cohort).")


def _deidentification(facts: ChecklistFacts) -> Fill:
    recorded = facts.description.get("deidentification")
    shown = ("Raters saw 8-bit PNG display copies without any source metadata under random case "
             "IDs; file names and patient IDs stay in the coordinator's key.csv.")
    if recorded:
        return Fill(FILLED, f"{recorded}. " + (shown if facts.real_cohort else ""), "study.yaml")
    if facts.real_cohort:
        return Fill(PARTLY, shown, "report.html#study", record_hint("deidentification"))
    return Fill(AUTHOR, hint=record_hint("deidentification"))


def _partitions(facts: ChecklistFacts) -> Fill:
    text = (f"The model was not trained or tuned on this cohort (published weights used as is): "
            f"all {facts.study['n_cases']} cases are test data.")
    table = facts.result.tables.get("external_validation")
    labels = ([] if table is None or "mapping" not in table.columns
              else [m for m in table["mapping"].unique() if str(m).startswith("refitted")])
    if labels:
        unit = ("each patient's images in one fold" if facts.settings.get("cluster_col")
                else "each image its own group (no patient column)")
        text += f" The refitted mapping beside it is scored out of fold: {labels[0]}, {unit}."
    return Fill(FILLED, text, "report.html#external-validation")


def _disjoint(facts: ChecklistFacts) -> Fill:
    column, n = facts.settings.get("cluster_col"), facts.settings.get("n_clusters")
    unit = (f"patient (column {column}, {n} patients)" if column else "image (no patient column)")
    return Fill(PARTLY, f"Refit folds and bootstrap resamples are disjoint by {unit}.",
                "report.html#methods", "State whether any cohort image could have been in the "
                "model's training data (covsev cannot know).")


def _model(facts: ChecklistFacts) -> Fill:
    mapping = "; ".join(f"{s} = {_MAPPING[s]}" for s in facts.result.inputs.scales if s in _MAPPING)
    text = ("torchxrayvision DenseNet-121 (weights densenet121-res224-all), its raw 'Lung Opacity' "
            f"output x mapped linearly to each score as published (Cohen et al. 2020): {mapping}.")
    simulated = _predictions_note(facts)
    if simulated:
        return Fill(PARTLY, f"{simulated.text} {text}", simulated.link, simulated.hint)
    if facts.weights and facts.real_cohort:
        return Fill(FILLED, text + f" Weights file on this machine: sha256 "
                    f"{facts.weights['sha256']}.", "report.html#methods")
    return Fill(PARTLY, text + (f" Weights file on this machine: sha256 {facts.weights['sha256']}."
                                if facts.weights else ""), "report.html#methods",
                "Confirm the weights the predictions were made with (give the file's sha256).")


def _model_output(facts: ChecklistFacts) -> Fill:
    ranges = ", ".join(f"{s} {_MAPPING[s].split('clamped to ')[1]}" for s in facts.result.inputs.scales
                       if s in _MAPPING)
    return Fill(FILLED, f"A continuous score per scale ({ranges}); no threshold or category.",
                "report.html#methods")


def _model_development(facts: ChecklistFacts) -> Fill:
    return Fill(PARTLY, "Developed elsewhere and not retrained here: DenseNet-121 of "
                "torchxrayvision trained on public chest X-ray collections; linear mapping fitted "
                "on 94 published images (Cohen et al. 2020).", "report.html#methods",
                "Cite the development papers and their sample sizes.")


def _predictors(facts: ChecklistFacts) -> Fill:
    return Fill(FILLED, "The only input is the image itself; no clinical variable enters the model.",
                "report.html#methods")


def _software(facts: ChecklistFacts) -> Fill:
    text = ", ".join(f"{k} {v}" for k, v in facts.versions.items() if v != "not installed")
    return Fill(FILLED, f"Software: {text}.", "report.html#software")


def _devices(facts: ChecklistFacts) -> Fill:
    recorded = facts.description.get("acquisition")
    text = _software(facts).text
    if recorded:
        return Fill(FILLED, f"{recorded} (recorded in study.yaml). {text}", "study.yaml")
    return Fill(PARTLY, text, "report.html#software", "Name the X-ray devices (manufacturer, "
                "model). " + record_hint("acquisition"))


def _level(facts: ChecklistFacts) -> str:
    """The report's confidence level as printed before "CI" (``95``)."""
    return format_level(facts.settings.get("confidence", 0.95))


def _performance(facts: ChecklistFacts) -> Fill:
    if "model_vs_reference" not in facts.result.tables:  # a reader study before its model run
        return Fill(AUTHOR, hint=facts.result.notes.get("model", "No model predictions."))
    table, parts = facts.result.tables["model_vs_reference"], []
    for scale_name in facts.result.inputs.scales:
        bits = [f"{stat} {value}" for stat in ("MAE", "CCC", "Bias (pred − ref)")
                if (value := fill._estimate(table, scale=scale_name, statistic=stat))]
        n = table.loc[table["scale"] == scale_name, "n"]
        if bits:
            parts.append(f"{scale_name} (n = {int(n.iloc[0])}): " + ", ".join(bits))
    text = f"Model vs reference ({_level(facts)}% CI): " + "; ".join(parts) + "."
    calibration = facts.result.tables.get("calibration")
    if calibration is not None and len(calibration):
        fits = [f"{s} slope {slope}, intercept {intercept}" for s in facts.result.inputs.scales
                if (slope := fill._estimate(calibration, scale=s, statistic="Slope"))
                and (intercept := fill._estimate(calibration, scale=s, statistic="Intercept"))]
        text += (f" Calibration, reference = intercept + slope × prediction ({_level(facts)}% CI): "
                 + "; ".join(fits) + ".")
    return Fill(FILLED, text, "tables/model_vs_reference.csv")


def _external(facts: ChecklistFacts) -> Fill:
    table = facts.result.tables.get("external_validation")
    if table is None or not len(table):
        return Fill(AUTHOR, hint=facts.result.notes.get("external_validation", "No refit was possible."))
    parts = [f"{s}: {value}" for s in facts.result.inputs.scales
             if (value := fill._estimate(table, scale=s, statistic="Δ MAE (refit − published)"))]
    return Fill(FILLED, "The published mapping was not updated; a mapping refitted on this cohort "
                f"(out of fold) is reported beside it, Δ MAE refit − published ({_level(facts)}% CI): "
                + "; ".join(parts) + ".", "tables/external_validation.csv")


def _robustness(facts: ChecklistFacts) -> Fill:
    table = facts.result.tables.get("subgroups")
    if table is None or not len(table):
        return Fill(AUTHOR, hint="No subgroup analysis: covsev report --subgroup COLUMN (view, "
                    "site, sex) adds one.")
    groups = "; ".join(f"{variable}: " + ", ".join(
        f"{level} (n = {n})" for level, n in rows.drop_duplicates("level")[["level", "n"]].itertuples(index=False))
        for variable, rows in table.groupby("variable", sort=False))
    mae = table.loc[table["statistic"] == "MAE", "estimate"]
    return Fill(FILLED, f"Model vs reference within subgroups ({groups}); MAE from "
                f"{fmt(mae.min())} to {fmt(mae.max())}.", "tables/subgroups.csv")


def _limitations(facts: ChecklistFacts) -> Fill:
    notes = [facts.study["warning"]] if facts.study.get("warning") else []
    notes += [v for k, v in facts.result.notes.items() if k != "context"]
    if facts.description.get("limitations"):
        notes.append(facts.description["limitations"])
    hint = "Discuss bias, uncertainty and generalisability."
    return Fill(PARTLY, " ".join(notes), "report.html", hint) if notes else Fill(AUTHOR, hint=hint)


def _study_goal(facts: ChecklistFacts) -> Fill:
    return Fill(FILLED, "Evaluation (external validation) of an existing model: the published "
                "severity model applied unchanged to this cohort, against the raters' reference "
                "and the raters' own agreement.", "report.html#external-validation")


def _stored_outputs(facts: ChecklistFacts) -> Fill:
    text = "Every prediction is kept in predictions.csv and the report's numbers in tables/ and summary.json"
    if facts.real_cohort:
        return Fill(FILLED, text + "; every reading in the raters' append-only label logs.", "tables/")
    return Fill(PARTLY, text + ".", "tables/", "Say where the readings are kept.")


def _availability(facts: ChecklistFacts) -> Fill:
    recorded = facts.description.get("data_availability")
    if recorded:
        return Fill(FILLED, f"{recorded} (recorded in study.yaml).", "study.yaml")
    return Fill(AUTHOR, hint=record_hint("data_availability"))


def _code(facts: ChecklistFacts) -> Fill:
    recorded = facts.description.get("code_availability")
    made_by = facts.settings.get("command") or "covsev_tools.validation.validate"
    text = f"Analysis by covsev {facts.versions['covsev']} (open source), made by: {made_by}."
    if recorded:
        return Fill(FILLED, f"{recorded}. {text}", "study.yaml")
    return Fill(PARTLY, text, "report.html#methods", record_hint("code_availability"))


FILLERS = {
    "counts": fill._counts, "rater_population": fill._rater_population,
    "rater_characteristics": fill._rater_characteristics, "blinding": fill._blinding,
    "rating_process": fill._rating_process, "independence": fill._independence,
    "sample_size": fill._sample_size, "population": fill._population, "scale": fill._scale,
    "statistics": fill._statistics, "uncertainty": fill._uncertainty,
    "agreement_estimates": fill._agreement_estimates, "variability": fill._variability,
    "interpretation": fill._interpretation, "detailed_results": fill._detailed_results,
    "reference_standard": _reference_standard, "annotation": _annotation, "missing": _missing,
    "flow": _flow, "characteristics": _characteristics, "severity_distribution": _severity_distribution,
    "data_sources": _data_sources, "preprocessing": _preprocessing,
    "deidentification": _deidentification, "partitions": _partitions, "disjoint": _disjoint,
    "model": _model, "model_output": _model_output, "model_development": _model_development,
    "predictors": _predictors, "software": _software, "devices": _devices, "performance": _performance,
    "external": _external, "robustness": _robustness, "limitations": _limitations,
    "study_goal": _study_goal, "stored_outputs": _stored_outputs, "availability": _availability,
    "code": _code,
    "index_blinding": lambda facts: Fill(FILLED, "The model read only the image file: no clinical "
                                         "data and no reference score.", "report.html#methods"),
    "index_timing": lambda facts: Fill(FILLED, "The model and the raters read the same image: "
                                       "no time passed between index test and reference.",
                                       "report.html#study"),
    "cross_tabulation": lambda facts: Fill(FILLED, "Continuous scores: prediction against "
                                           "reference as a scatter plot and a Bland-Altman plot.",
                                           "report.html#model-vs-reference"),
    "sampling": described("sampling", "Say how cases were chosen."),
    "intended_use": described("intended_use"), "design": described("design"),
    "eligibility": described("eligibility"), "acquisition": described("acquisition"),
    "dates": described("dates"), "setting": described("setting"), "ethics": described("ethics"),
    "funding": described("funding"), "conflicts": described("conflicts"),
    "registration": described("registration"), "protocol": described("protocol"),
}
