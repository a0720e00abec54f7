"""Reporting checklists filled from the study: GRRAS, CLAIM 2024, TRIPOD+AI and STARD-AI.

Journals ask for a completed checklist with a reliability or AI-validation paper. Most items are
facts a covsev study already holds (raters, cases, repeats and their spacing, blinding, the
statistics and their intervals, the model and its versions); :func:`fill_checklists` answers each
item of each guideline from the validation result, the study folder and the coordinator's
``study.yaml`` (:mod:`covsev_tools.report.description`), as ``filled``, ``partly`` or ``author``
(:mod:`covsev_tools.report.checklist_fill`), and :func:`write_checklists` writes
``checklist-<guideline>.md`` and ``.csv`` for the submission. The HTML report shows them in a
collapsed "Reporting checklists" section.

The item paraphrases are covsev's own words, not the guidelines' text: the author still submits
the official checklist, with these answers and locations.

References
----------
Kottner J et al. J Clin Epidemiol 2011;64:96-106 (GRRAS). Tejani AS et al. Radiol Artif Intell
2024;6:e240300 (CLAIM 2024). Collins GS et al. BMJ 2024;385:e078378 (TRIPOD+AI). Sounderajah V
et al. Nat Med 2025 (STARD-AI).

Examples
--------
>>> frames = fill_checklists(getfixture("simulated_result"))
>>> list(frames), len(frames["claim"])
(['grras', 'claim', 'tripod-ai', 'stard-ai'], 44)
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from covsev_tools.errors import CovsevError
from covsev_tools.files import write_csv_atomic, write_text_atomic
from covsev_tools.report.checklist_facts import ChecklistFacts, gather_facts
from covsev_tools.report.checklist_fill import AUTHOR, STATUSES, Fill
from covsev_tools.report.checklist_fill_model import FILLERS
from covsev_tools.report.checklist_items import GUIDELINES, Item

__all__ = ["CHECKLIST_COLUMNS", "ChecklistError", "applicable_checklists", "checklist_counts",
           "choose_checklists", "fill_checklists", "html_checklists", "write_checklists"]

#: Columns of ``checklist-<guideline>.csv``.
CHECKLIST_COLUMNS = ("item", "section", "topic", "status", "study_text", "where", "author_to_add")


class ChecklistError(CovsevError):
    """An unknown checklist name."""


def applicable_checklists(result) -> list[str]:
    """The guidelines that apply to a validation result.

    GRRAS needs individual ratings (agreement between or within raters); CLAIM, TRIPOD+AI and
    STARD-AI apply to every covsev report, which always evaluates the model against a reference.

    Examples
    --------
    >>> applicable_checklists(getfixture("simulated_result"))
    ['grras', 'claim', 'tripod-ai', 'stard-ai']
    """
    names = list(GUIDELINES)
    if result.inputs.ratings is None:
        names.remove("grras")
    return names


def choose_checklists(spec, result) -> list[str]:
    """The checklists asked for: ``"grras,claim"``, ``"all"``, ``"none"``, or None (those that apply).

    Raises
    ------
    ChecklistError
        An unknown name, naming the ``--checklists`` option and the known names.

    Examples
    --------
    >>> choose_checklists("claim, GRRAS", getfixture("simulated_result"))
    ['grras', 'claim']
    >>> choose_checklists("tripod", None)
    Traceback (most recent call last):
    ...
    covsev_tools.report.checklists.ChecklistError: --checklists tripod: unknown checklist 'tripod' (known: grras, claim, tripod-ai, stard-ai, all, none)
    """
    if spec is None:
        return applicable_checklists(result)
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    for name in names:
        if name not in GUIDELINES and name not in ("all", "none"):
            raise ChecklistError(f"--checklists {spec}: unknown checklist {name!r} (known: "
                                 f"{', '.join(GUIDELINES)}, all, none)")
    if "none" in names:
        return []
    if "all" in names:
        return list(GUIDELINES)
    return [key for key in GUIDELINES if key in names]


def _answer(item: Item, facts: ChecklistFacts, answers: dict) -> Fill:
    if item.fact is None:
        return Fill(AUTHOR, hint=item.hint or "Write it in the manuscript.")
    if item.fact not in answers:  # several items of several guidelines ask the same fact
        answers[item.fact] = FILLERS[item.fact](facts)
    answer = answers[item.fact]
    if answer.status == AUTHOR and item.hint and item.hint not in answer.hint:
        answer = Fill(AUTHOR, answer.text, answer.link, f"{item.hint} {answer.hint}".strip())
    return answer


def fill_checklists(result, names=None, *, study_dir=None, labels_dir=None,
                    facts: ChecklistFacts | None = None) -> dict[str, pd.DataFrame]:
    """Answer every item of each chosen guideline from the study.

    Parameters
    ----------
    result : ValidationResult
    names : str or list of str, optional
        Guidelines (see :func:`choose_checklists`); default: those that apply.
    study_dir : path, optional
        The study (cohort) folder: its ``study.yaml``, ``cohort.json`` and training requirement.
    labels_dir : path, optional
        Label store root (for the training round's records).
    facts : ChecklistFacts, optional
        Already gathered facts (else :func:`~covsev_tools.report.checklist_facts.gather_facts`).

    Returns
    -------
    dict of str to DataFrame
        Per guideline, one row per item: :data:`CHECKLIST_COLUMNS`; ``attrs`` hold the
        guideline's ``title``, ``reference`` and status ``counts``.

    Examples
    --------
    >>> frame = fill_checklists(getfixture("simulated_result"), "grras")["grras"]
    >>> frame.loc[frame["item"] == "11", "study_text"].item()[:29]
    '4 raters (R1, R2, R3, R4); 94'
    """
    chosen = choose_checklists(names, result)
    facts = facts or gather_facts(result, study_dir, labels_dir)
    out, answers = {}, {}
    for key in chosen:
        guideline = GUIDELINES[key]
        rows = []
        for item in guideline.items:
            answer = _answer(item, facts, answers)
            rows.append({"item": item.number, "section": item.section, "topic": item.topic,
                         "status": answer.status, "study_text": answer.text,
                         "where": answer.link, "author_to_add": answer.hint})
        frame = pd.DataFrame(rows, columns=list(CHECKLIST_COLUMNS))
        frame.attrs.update(title=guideline.title, reference=guideline.reference,
                           counts=checklist_counts(frame))
        out[key] = frame
    return out


def checklist_counts(frame: pd.DataFrame) -> dict:
    """How many items are filled, partly filled, and left to the author.

    Examples
    --------
    >>> checklist_counts(pd.DataFrame({"status": ["filled", "author", "filled"]}))
    {'filled': 2, 'partly': 0, 'author': 1}
    """
    return {status: int((frame["status"] == status).sum()) for status in STATUSES}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def checklist_markdown(frame: pd.DataFrame) -> str:
    """One checklist as Markdown: title, reference, counts and a table of every item.

    Examples
    --------
    >>> frame = fill_checklists(getfixture("simulated_result"), "grras")["grras"]
    >>> checklist_markdown(frame).splitlines()[0]
    '# GRRAS: reporting checklist filled from the study'
    """
    c = frame.attrs["counts"]
    lines = [f"# {frame.attrs['title']}: reporting checklist filled from the study", "",
             f"Guideline: {frame.attrs['reference']}", "",
             f"{c['filled']} items filled from the study, {c['partly']} partly (the author adds "
             f"what is marked), {c['author']} for the author. Topics are paraphrased by covsev; "
             "submit the official checklist with these answers.", "",
             "| Item | Topic | Status | What the study says | Where | Author to add |",
             "|---|---|---|---|---|---|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in (
            row.item, row.topic, row.status, row.study_text, row.where, row.author_to_add)) + " |")
    return "\n".join(lines) + "\n"


def write_checklists(frames: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write ``checklist-<guideline>.md`` and ``.csv`` for each checklist; return the paths.

    Examples
    --------
    >>> frames = fill_checklists(getfixture("simulated_result"), "grras")
    >>> [p.name for p in write_checklists(frames, getfixture("tmp_path"))]
    ['checklist-grras.md', 'checklist-grras.csv']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, frame in frames.items():
        paths.append(write_text_atomic(out / f"checklist-{key}.md", checklist_markdown(frame)))
        paths.append(write_csv_atomic(frame, out / f"checklist-{key}.csv"))
    return [Path(p) for p in paths]


def html_checklists(frames: dict[str, pd.DataFrame]) -> list[dict]:
    """What the report's "Reporting checklists" section shows: per guideline, counts and rows.

    Links into the report become in-page anchors (``#methods``); file links stay relative.

    Examples
    --------
    >>> shown = html_checklists(fill_checklists(getfixture("simulated_result"), "grras"))
    >>> shown[0]["key"], sum(shown[0]["counts"].values())
    ('grras', 15)
    """
    shown = []
    for key, frame in frames.items():
        rows = frame.to_dict(orient="records")
        for row in rows:
            row["href"] = row["where"].removeprefix("report.html") or "#" if row["where"] else ""
        shown.append({"key": key, "title": frame.attrs["title"],
                      "reference": frame.attrs["reference"], "counts": frame.attrs["counts"],
                      "rows": rows})
    return shown
