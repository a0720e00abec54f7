"""What the study says for each checklist topic: the raters, the readings and the reference.

Each filler takes the :class:`~covsev_tools.report.checklist_facts.ChecklistFacts` of a study and
returns a :class:`Fill`: ``filled`` (a sentence with the study's own numbers and where the
report shows them), ``partly`` (what the study knows, and what the author must add) or
``author`` (only the author can write it; a hint says what, and how to record it once). A filler
never states what the study did not record: without hidden repeats, a training round or a
recorded description, the item is ``author`` with a hint, not a guess. The model's topics are in
:mod:`covsev_tools.report.checklist_fill_model`; :data:`FILLERS` joins both.
"""
from __future__ import annotations

from dataclasses import dataclass

from covsev_tools.agreement.typeset import format_level
from covsev_tools.validation.intrarater import INTRA_STATISTICS
from covsev_tools.report.checklist_facts import ChecklistFacts
from covsev_tools.report.description import TEXT_FIELDS
from covsev_tools.report.methods import scale_text
from covsev_tools.report.tables import fmt, fmt_ci

__all__ = ["AUTHOR", "FILLED", "Fill", "PARTLY", "STATUSES", "record_hint"]

FILLED, PARTLY, AUTHOR = "filled", "partly", "author"
STATUSES = (FILLED, PARTLY, AUTHOR)


@dataclass(frozen=True)
class Fill:
    """A checklist answer: status, the sentence, where the report shows it, what the author adds.

    Examples
    --------
    >>> Fill(FILLED, "4 raters.", "report.html#study").status
    'filled'
    """

    status: str
    text: str = ""
    link: str = ""
    hint: str = ""


def record_hint(field: str, example: str = "...") -> str:
    """How to record a fact covsev cannot know, once, in the study's ``study.yaml``.

    Examples
    --------
    >>> record_hint("ethics")[:50]
    'Record it once: covsev study describe STUDY --set '
    """
    what = TEXT_FIELDS.get(field, field.replace("_", " "))
    return f"Record it once: covsev study describe STUDY --set {field}='{example}' ({what})."


def _recorded(facts: ChecklistFacts, field: str) -> Fill | None:
    text = facts.description.get(field)
    return Fill(FILLED, f"{text} (recorded in study.yaml).", "study.yaml") if text else None


def described(field: str, hint: str = ""):
    """A filler for a fact only the coordinator can record: filled from ``study.yaml``, else author.

    Examples
    --------
    >>> described("ethics")(_example_facts()).status
    'author'
    """
    def fill(facts: ChecklistFacts) -> Fill:
        return _recorded(facts, field) or Fill(AUTHOR, hint=(hint + " " if hint else "")
                                               + record_hint(field))
    return fill


def _example_facts() -> ChecklistFacts:
    """Facts of an empty study (no ratings, no description), for the examples."""
    import pandas as pd

    from covsev_tools.validation import ValidationInputs, ValidationResult

    ref = pd.DataFrame({"case": ["a"], "scale": "extent", "component": "total", "reference": [1.0],
                        "n_raters": 1})
    inputs = ValidationInputs(None, ref, pd.DataFrame(), pd.DataFrame(), "case_id", "published", {})
    return ChecklistFacts(ValidationResult(inputs, settings={"n_boot": 0, "seed": 0}),
                          {"n_cases": 1, "n_raters": 0, "raters": []}, {"n_boot": 0, "seed": 0})


# --------------------------------------------------------------------------- raters and readings

def _counts(facts: ChecklistFacts) -> Fill:
    s = facts.study
    cases = f"{s['n_cases']} cases (images)"
    if s.get("n_patients"):
        cases += f" of {s['n_patients']} patients"
    if not s["n_raters"]:
        cases += _images_per_patient(facts)
        return Fill(PARTLY, f"{cases} with a published reference score; individual ratings were "
                    "not part of this analysis.", "report.html#study",
                    "State how many raters made the published reference.")
    per_patient = _images_per_patient(facts)
    text = f"{s['n_raters']} raters ({', '.join(s['raters'])}); {cases}{per_patient}"
    if s.get("n_complete") is not None:
        text += f"; {s['n_complete']} of {s['n_cases']} cases rated by every rater"
    text += (f"; hidden repeats: {s['n_repeat_cases']} cases read a second time "
             f"({s['n_repeats']} repeat readings)." if s["n_repeats"] else "; no repeat readings.")
    return Fill(FILLED, text, "report.html#study")


def _images_per_patient(facts: ChecklistFacts) -> str:
    """`` (images per patient: median 1, range 1–4)`` when the patient column is known."""
    column = facts.study.get("patient_column")
    meta = facts.result.inputs.metadata
    if not facts.study.get("n_patients") or column not in meta.columns:
        return ""
    cases = sorted(set(facts.result.inputs.reference["case"]))
    per = meta[column].reindex(cases).dropna().value_counts()
    return (f" (images per patient: median {fmt(per.median(), 1)}, range {per.min()}–{per.max()})"
            if len(per) else "")


def _rater_lines(facts: ChecklistFacts) -> tuple[list[str], list[str]]:
    """One phrase per rater from the description, and the raters whose experience is missing."""
    recorded = facts.description.get("raters", {})
    lines, missing = [], []
    for rater in facts.study["raters"]:
        info = recorded.get(rater, {})
        parts = [info[k] for k in ("role", "specialty", "institution") if info.get(k)]
        if "experience_years" in info:
            parts.append(f"{info['experience_years']:g} years' experience")
        else:
            missing.append(rater)
        lines.append(f"{rater} ({', '.join(map(str, parts))})" if parts else rater)
    return lines, missing


def _training_text(facts: ChecklistFacts) -> str | None:
    training = facts.training
    if training is None:
        return None
    status = training.get("status")
    text = (f"Before the study every rater had to pass a training round (set "
            f"{training['training_set'].rstrip('/').rsplit('/', 1)[-1]}, mean absolute error of "
            f"each scale total at most {fmt(training['max_mae'])})")
    if status is None or not len(status):
        return text + "; no training records were found."
    passed = sorted(status.loc[status["passed"], "rater"])
    failed = sorted(status.loc[~status["passed"], "rater"])
    return (text + f": passed {', '.join(passed) or 'nobody'}"
            + (f"; not passed {', '.join(failed)}" if failed else "") + " (covsev training status).")


def _rater_population(facts: ChecklistFacts) -> Fill:
    if not facts.study["n_raters"]:
        return Fill(AUTHOR, hint="Describe the raters the results should generalise to.")
    lines, missing = _rater_lines(facts)
    roles = [r for r in facts.study["raters"] if facts.description.get("raters", {}).get(r, {}).get("role")]
    text = f"{facts.study['n_raters']} raters: {'; '.join(lines)}."
    if len(roles) == facts.study["n_raters"]:
        return Fill(FILLED, text, "study.yaml")
    return Fill(PARTLY, text, "report.html#study", "State which raters the results generalise to "
                "(e.g. board-certified radiologists). " + record_hint(
                    f"raters.{facts.study['raters'][0]}.role", "radiologist"))


def _rater_characteristics(facts: ChecklistFacts) -> Fill:
    if not facts.study["n_raters"]:
        return Fill(AUTHOR, hint="Give the qualifications of those who made the reference.")
    lines, missing = _rater_lines(facts)
    training = _training_text(facts)
    text = f"{facts.study['n_raters']} raters: {'; '.join(lines)}."
    text += " " + (training or "No training round was required before the study.")
    hint = "" if training else ("Say how the raters were prepared (to calibrate them on known "
                                "cases first: covsev training build, then covsev training require). ")
    if missing:
        hint += (f"Experience not recorded for {', '.join(missing)}: covsev study describe STUDY "
                 f"--set raters.{missing[0]}.experience_years=N (and role, specialty).")
    if hint:
        return Fill(PARTLY, text, "report.html#study", hint.strip())
    return Fill(FILLED, text, "study.yaml")


def _blinding_text(facts: ChecklistFacts) -> str:
    text = ("Each rater scored alone on covsev's scoring page: one display image at a time under "
            "an opaque case ID, in the rater's own seeded order, with no clinical information, no "
            "other rater's score and no model prediction")
    text += "; hidden repeats carried IDs of their own" if facts.study["n_repeats"] else ""
    if facts.hub:
        text += ("; the study ran on covsev's JupyterHub, each rater under a Unix account of their "
                 "own that cannot read the cohort's key or its list of hidden repeats")
    return text + "."


def _blinding(facts: ChecklistFacts) -> Fill:
    if facts.real_cohort:
        return Fill(FILLED, _blinding_text(facts), "report.html#study")
    if facts.simulated:
        return Fill(PARTLY, "The ratings of this study are simulated (covsev demo): no reader was "
                    "blinded.", "report.html#study", "Describe the blinding of the real readers.")
    return Fill(AUTHOR, hint="Say what the raters could see (clinical data, other readings, the "
                "model's output). covsev's cohorts and scoring page blind them for you.")


def _repeat_text(facts: ChecklistFacts) -> tuple[str, bool]:
    """The hidden repeats and their spacing; the flag is True when the spacing was measured."""
    s, spacing = facts.study, facts.spacing
    if not s["n_repeats"]:
        return "", True
    gap = (facts.cohort or {}).get("repeats", {}).get("min_gap")
    text = f"{s['n_repeat_cases']} cases were shown again as hidden repeats"
    if gap:
        text += f", each at least {gap} cases after its first showing"
    if spacing:
        text += (f"; time between first and repeat reading, from the records' save times: median "
                 f"{fmt(spacing['median_days'])} days (range {fmt(spacing['min_days'])}–"
                 f"{fmt(spacing['max_days'])}, {spacing['n_pairs']} pairs).")
        return text, True
    return text + "; the time between readings is not known (the records carry no save times).", False


def _rating_process(facts: ChecklistFacts) -> Fill:
    repeats, measured = _repeat_text(facts)
    if not facts.real_cohort:
        base = _blinding(facts)
        text = " ".join(t for t in (base.text, repeats) if t)
        status = PARTLY if text else AUTHOR
        return Fill(status, text, "report.html#study", base.hint or "Describe how readings were made.")
    text = _blinding_text(facts) + (" " + repeats if repeats else " No case was shown twice.")
    if not facts.study["n_repeats"]:
        return Fill(PARTLY, text, "report.html#study", "No repeat readings: intra-rater agreement "
                    "was not measured; say so (covsev cohort create --repeat-fraction adds hidden "
                    "repeats).")
    if not measured:
        return Fill(PARTLY, text, "report.html#study",
                    "State the time between first and repeat readings.")
    return Fill(FILLED, text, "report.html#study")


def _independence(facts: ChecklistFacts) -> Fill:
    if facts.real_cohort:
        return Fill(FILLED, "Readings were independent: each rater saved to a label log of their "
                    "own, in their own reading order, and never saw another rater's scores.",
                    "report.html#study")
    if facts.simulated:
        return Fill(PARTLY, "Simulated ratings (covsev demo), drawn independently per rater.",
                    "report.html#study", "State how the real readings were kept independent.")
    return Fill(AUTHOR, hint="State whether raters read independently of each other.")


def _sample_size(facts: ChecklistFacts) -> Fill:
    plan, s = facts.description.get("sample_size", {}), facts.study
    actual = f"Actual: {s['n_cases']} cases, {s['n_raters']} raters, {s['n_repeats']} repeat readings."
    if plan.get("rationale"):
        planned = ", ".join(f"{plan[k]} {k.split('_')[1]}" for k in
                            ("planned_cases", "planned_raters", "planned_repeats") if k in plan)
        return Fill(FILLED, f"{plan['rationale']}" + (f" Planned: {planned}." if planned else "")
                    + f" {actual}", "study.yaml")
    return Fill(PARTLY, actual, "report.html#study", "Explain how the size was chosen (covsev plan "
                "computes cases for a target CI width) and record it: covsev study describe STUDY "
                "--set sample_size.rationale='...' --set sample_size.planned_cases=N.")


def _population(facts: ChecklistFacts) -> Fill:
    recorded = _recorded(facts, "population")
    if recorded:
        return recorded
    s = facts.study
    text = f"{s['n_cases']} images" + (f" of {s['n_patients']} patients" if s.get("n_patients") else "")
    return Fill(PARTLY, text + ".", "report.html#study", record_hint("population"))


def _scale(facts: ChecklistFacts) -> Fill:
    ratings = facts.result.inputs.ratings
    # the scales the raters scored (a linked cohort's, e.g. Brixia), else the reference's
    scales = (sorted(ratings["scale"].unique()) if ratings is not None and len(ratings)
              else facts.result.inputs.scales)
    return Fill(FILLED, " ".join(scale_text(s) for s in scales), "report.html#study")


def _statistics(facts: ChecklistFacts) -> Fill:
    starts = ("Model vs reference", "Inter-rater agreement", "Intra-rater", "Missing ratings")
    lines = [line for line in facts.methods if line.startswith(starts)]
    if facts.result.inputs.ratings is None:
        lines = lines[:1]
    return Fill(FILLED, " ".join(lines), "report.html#methods")


def _uncertainty(facts: ChecklistFacts) -> Fill:
    line = next((line for line in facts.methods if "% CIs:" in line), "")
    if not facts.settings.get("n_boot"):
        return Fill(PARTLY, line, "report.html#methods", "The report was run without bootstrap "
                    "resamples: run covsev report --bootstrap 1000 (or more) for intervals.")
    return Fill(FILLED, line, "report.html#methods")


def _estimate(table, **where) -> str | None:
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    if not len(rows):
        return None
    row = rows.iloc[0]
    return fmt_ci(row["estimate"], row["ci_low"], row["ci_high"])


def _agreement_estimates(facts: ChecklistFacts) -> Fill:
    table = facts.result.tables.get("inter_rater")
    if table is None or not len(table):
        return Fill(AUTHOR, hint=facts.result.notes.get("inter_rater", "No inter-rater table."))
    parts = []
    for scale_name in table["scale"].unique():  # the raters' own scales
        bits = [f"{stat} {value}" for stat in ("ICC(2,1)", "Krippendorff α (interval)",
                                               "Gwet AC2 (quadratic)")
                if (value := _estimate(table, scale=scale_name, component="total", statistic=stat))]
        if bits:
            parts.append(f"{scale_name} total: " + ", ".join(bits))
    text = f"Inter-rater ({format_level(table.attrs.get('confidence', 0.95))}% CI): " + "; ".join(parts) + "."
    intra = facts.result.tables.get("intra_rater")
    if intra is not None and len(intra):
        icc = intra.loc[intra["statistic"] == INTRA_STATISTICS[0], "estimate"]
        text += (f" Intra-rater ICC from hidden repeats: {fmt(icc.min())}–"
                 f"{fmt(icc.max())} across raters and scales.")
    return Fill(FILLED, text, "tables/inter_rater.csv")


def _variability(facts: ChecklistFacts) -> Fill:
    base = _agreement_estimates(facts)
    if base.status == AUTHOR:
        return base
    s = facts.study
    text = base.text + (f" Discordant cases adjudicated: {s['n_adjudicated']}."
                        if s.get("n_adjudicated") is not None else "")
    if not s["n_repeats"]:
        return Fill(PARTLY, text + " No repeat readings: intra-rater variability not measured.",
                    base.link, "Say that intra-rater variability was not measured.")
    return Fill(FILLED, text, base.link)


def _interpretation(facts: ChecklistFacts) -> Fill:
    sentences = " ".join(facts.result.sentences.values())
    hint = "Interpret the numbers for practice: is the model as close to the raters as they are to each other?"
    return Fill(PARTLY, sentences, "report.html#model-as-rater", hint) if sentences else Fill(AUTHOR, hint=hint)


def severity_text(facts: ChecklistFacts) -> str:
    """The reference score's distribution per scale total, as the report's reference table has it.

    Examples
    --------
    >>> severity_text(_example_facts())
    ''
    """
    table = facts.result.tables.get("reference")
    if table is None or not len(table):
        return ""
    rows = table[table["component"] == "total"]
    return "Reference score: " + "; ".join(
        f"{r.scale} total mean {fmt(r.mean)} (SD {fmt(r.sd)}), median {fmt(r.median)} "
        f"[{fmt(r.q1)}–{fmt(r.q3)}], range {fmt(r.min)}–{fmt(r.max)}, {r.n_cases} cases"
        for r in rows.itertuples()) + "."


def _detailed_results(facts: ChecklistFacts) -> Fill:
    return Fill(FILLED, "Every table as CSV, Markdown and LaTeX (tables/), every figure as PNG and "
                "PDF (figures/), key numbers in summary.json, ready as supplementary files.",
                "tables/")
