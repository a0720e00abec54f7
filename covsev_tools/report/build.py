"""The validation report: tables (CSV, Markdown, LaTeX), figures (PNG, PDF), one HTML file.

:func:`build_report` reads a study's inputs (a cohort folder and its label store, or explicit
files), runs :func:`covsev_tools.validation.validate` and writes::

    <out>/report.html          self-contained (figures embedded as base64, no external URL)
    <out>/tables/<name>.csv    raw numbers (estimate, ci_low, ci_high, ...)
    <out>/tables/<name>.md     formatted "0.87 (0.81–0.91)"
    <out>/tables/<name>.tex    booktabs
    <out>/tables/tables.md, tables.tex   all tables in one file
    <out>/figures/<name>.png, <name>.pdf
    <out>/summary.json         key numbers and sentences, for scripts
    <out>/checklist-<guideline>.md, .csv   reporting checklists filled from the study

``covsev report`` and notebook 03 both call :func:`build_report`.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER
from covsev_tools.defaults import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.files import write_text_atomic
from covsev_tools.report.checklists import (choose_checklists, fill_checklists, html_checklists,
                                            write_checklists)
from covsev_tools.report.description import read_description
from covsev_tools.report.drawing import EarlyFigures, draw_figures, figure_specs, figure_workers
from covsev_tools.report.methods import methods_text, scale_text, software_versions, study_facts
from covsev_tools.report.sections import report_tables
from covsev_tools.report.tables import Table, write_combined, write_table
from covsev_tools.validation import ValidationResult, load_study, validate
from covsev_tools.validation.linked import link_reference, linked_comparison

__all__ = ["Report", "build_report", "render_html", "report_figures", "summary", "write_report"]


@dataclass
class Report:
    """A written report: where it is and what it holds.

    Attributes
    ----------
    html : Path
        ``<out_dir>/report.html``.
    result : ValidationResult
        The numbers, sentences and notes the report shows.
    tables : list of Table
    figures : list of dict
        ``name, caption, paths`` of each figure.

    Examples
    --------
    >>> Report(Path("out/report.html"), None, [], []).out_dir
    PosixPath('out')
    """

    html: Path
    result: ValidationResult
    tables: list
    figures: list

    @property
    def out_dir(self) -> Path:
        """The report folder."""
        return self.html.parent


# --------------------------------------------------------------------------- figures

def report_figures(result: ValidationResult, out_dir: Path, workers: int = 2) -> list[dict]:
    """Draw and save every figure the result supports (up to ``workers`` processes); return
    name, caption, paths and the PNG as base64.

    Examples
    --------
    >>> drawn = report_figures(getfixture("simulated_result"), getfixture("tmp_path"), workers=1)
    >>> sorted(path.name for path in drawn[0]["paths"].values())
    ['prediction_vs_reference.pdf', 'prediction_vs_reference.png']
    """
    return draw_figures(figure_specs(result), out_dir, workers)


# --------------------------------------------------------------------------- HTML

def _html_table(table: Table) -> str:
    return table.formatted.to_html(index=False, escape=True, border=0, classes="tbl", na_rep="–")


def render_html(result: ValidationResult, tables: list[Table], figs: list[dict], title: str,
                checklists: dict | None = None) -> str:
    """The report as one self-contained HTML string (Jinja2 template ``report.html.j2``).

    Examples
    --------
    >>> result = getfixture("simulated_result")  # validate() of a simulated study
    >>> render_html(result, [], [], "Test report").startswith("<!DOCTYPE html>")
    True
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("covsev_tools.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    return template.render(
        title=title, generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        study=study_facts(result), sentences=result.sentences, notes=result.notes,
        tables={t.name: {"caption": t.caption, "html": _html_table(t)} for t in tables},
        figures={f["name"]: f for f in figs}, versions=software_versions(),
        settings=result.settings, scale_text={s: scale_text(s) for s in result.inputs.scales},
        methods=methods_text(result), checklists=html_checklists(checklists or {}))


# --------------------------------------------------------------------------- entry point

def write_report(result: ValidationResult, out_dir: str | Path,
                 title: str = "Severity model validation report", workers=2,
                 started: dict | None = None, checklists: dict | None = None) -> Report:
    """Write tables, figures, summary.json, checklists and report.html for a validation result.

    The figures are drawn by up to ``workers`` processes (or by an executor from
    :func:`~covsev_tools.report.drawing.figure_workers`, with ``started`` the figures it is
    already drawing) while this one writes the tables. ``checklists`` are filled checklists
    (:func:`~covsev_tools.report.checklists.fill_checklists`); default: those that apply, from
    the result alone.

    Examples
    --------
    >>> result = getfixture("simulated_result")  # validate() of a simulated study
    >>> write_report(result, getfixture("tmp_path") / "r").html.name
    'report.html'
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    tables = report_tables(result)

    frames = {}

    def write_tables():
        for table in tables:
            write_table(table, out / "tables")
        write_combined(tables, out / "tables")
        # the checklists too, while the figures are drawn
        frames.update(fill_checklists(result) if checklists is None else checklists)
        write_checklists(frames, out)

    figs = draw_figures(figure_specs(result), out / "figures", workers, meanwhile=write_tables,
                        started=started)
    page = render_html(result, tables, figs, title, frames)
    numbers = summary(result)
    numbers["checklists"] = {key: frame.attrs["counts"] for key, frame in frames.items()}
    write_text_atomic(out / "summary.json", json.dumps(numbers, indent=2, default=_json) + "\n")
    html = write_text_atomic(out / "report.html", page)
    return Report(Path(html), result, tables, figs)


def summary(result: ValidationResult) -> dict:
    """Key numbers for scripts: model vs reference, the model-vs-raters sentence, settings.

    Examples
    --------
    >>> result = getfixture("simulated_result")  # validate() of a simulated study
    >>> sorted(summary(result))[:3]
    ['inter_rater', 'model_summary', 'model_vs_reference']
    """
    mvr = result.tables.get("model_vs_reference")
    inter = result.tables.get("inter_rater")
    return {"settings": result.settings, "study": study_facts(result),
            "sentences": result.sentences, "notes": result.notes,
            "model_vs_reference": [] if mvr is None else mvr.to_dict(orient="records"),
            "inter_rater": [] if inter is None else inter.to_dict(orient="records"),
            "model_summary": result.extras.get("model_summary", {})}


def _json(value):
    """numpy scalars as numbers, NaN as null; anything else (paths, ...) as text."""
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
        return None if isinstance(value, float) and not np.isfinite(value) else value
    return str(value)


def _open_links(links) -> list:
    """Links given as :class:`~covsev_tools.linking.ScaleLink`, file paths or bundled names."""
    from covsev_tools.linking import ScaleLink, open_link

    return [link if isinstance(link, ScaleLink) else open_link(link) for link in links or ()]


def build_report(ratings=None, predictions=None, out_dir=None, *, cohort=None, metadata=None,
                 key=None, labels_dir=None, reference: str = "mean", cluster=DEFAULT_CLUSTER,
                 n_boot: int = DEFAULT_N_BOOT, seed: int = 0, confidence: float = DEFAULT_CONFIDENCE, subgroup_by=None, margin: float | None = None,
                 title: str = "Severity model validation report", context: str | None = None,
                 command: str | None = None, workers: int = 2, links=None,
                 link_scale: str | None = None, checklists=None) -> Report:
    """Read a study's inputs, validate and write the report (what ``covsev report`` runs).

    Parameters
    ----------
    ratings : path, optional
        Ratings export, or a reference-only table such as the published means; default: the
        cohort's ``ratings.csv``, else an export of its label store written to ``out_dir``.
    predictions : path, optional
        Predictions CSV; default ``<cohort>/predictions.csv``. Without any, the report has the
        raters' sections only (study, inter-rater, intra-rater, adjudication) and says so.
    out_dir : path
        Report folder.
    cohort : path, optional
        Cohort folder (``key.csv``, ``ratings.csv``, ``predictions.csv``).
    metadata, key : path, optional
        Metadata CSV; the cohort's ``key.csv`` (found in ``cohort`` when not given).
    labels_dir : path, optional
        Label store root for the export.
    reference : {"mean", "median", "consensus"}
    cluster : str or None
        Patient column resampled by every bootstrap (default: ``patient_id``, else ``patientid``,
        when present; None: resample images).
    n_boot, seed : int
        Bootstrap resamples (default :data:`~covsev_tools.defaults.DEFAULT_N_BOOT`) and seed.
    confidence : float
        Confidence level of every interval (default 0.95).
    subgroup_by : list of str, optional
    margin : float, optional
        Non-inferiority margin of the model's excess MAE over the raters' own (default 0.25 ×
        the raters' own MAE of each scale).
    title : str
    context : str, optional
        A note shown at the top of the study section (e.g. "predictions are simulated").
    command : str, optional
        The command line or notebook that made the report, stated in the methods.
    workers : int
        Processes drawing the figures (1: draw them in this process).
    links : list of ScaleLink, paths or bundled names, optional
        For a cohort scored on another scale (e.g. Brixia): links to ``extent``/``opacity``
        (:mod:`covsev_tools.linking`); the raters' linked mean becomes the reference, and the
        section ``linked`` carries the link's error (:mod:`covsev_tools.validation.linked`).
    link_scale : str, optional
        The cohort's scale the links start from (default: its one scale the model does not predict).
    checklists : str or list of str, optional
        Reporting checklists to fill (``"grras,claim"``, ``"all"``, ``"none"``); default: all
        that apply. Facts covsev cannot know come from the study's ``study.yaml``.

    Returns
    -------
    Report
        A run that fails writes nothing: files it made in ``out_dir`` are removed again.

    Examples
    --------
    >>> folder = getfixture("simulated_cohort")  # simulate_cohort(seed=0).write(folder)
    >>> report = build_report(out_dir=getfixture("tmp_path") / "r", cohort=folder, n_boot=0)
    >>> report.result.inputs.raters
    ['R1', 'R2', 'R3', 'R4']
    """
    if out_dir is None:
        raise TypeError("build_report needs out_dir")
    out = Path(out_dir)
    study_dir = Path(cohort) if cohort is not None else (Path(key).parent if key else None)
    if checklists is not None:
        choose_checklists(checklists, None)  # a misspelled name fails before any work
    if study_dir is not None and study_dir.is_dir():
        read_description(study_dir)  # and so does a malformed study.yaml, naming its line
    made = not out.exists()
    before = set(out.rglob("*")) if not made else set()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _build(out, dict(ratings=ratings, predictions=predictions, cohort=cohort, metadata=metadata,
                                key=key, labels_dir=labels_dir, reference=reference, cluster=cluster),
                      n_boot=n_boot, seed=seed, confidence=confidence, subgroup_by=subgroup_by, margin=margin, title=title,
                      context=context, command=command, workers=workers, links=links, link_scale=link_scale,
                      checklists=checklists, study_dir=study_dir)
    except BaseException:
        # a refused or interrupted run leaves nothing behind, above all no unblinded ratings export
        if made:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for path in sorted(set(out.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True):
                path.unlink() if path.is_file() or path.is_symlink() else shutil.rmtree(path, ignore_errors=True)
        raise


def _build(out, study: dict, *, n_boot, seed, confidence, subgroup_by, margin, title, context, command, workers, links,
           link_scale, checklists, study_dir) -> Report:
    # one BLAS thread: the statistics multiply small matrices, and OpenBLAS's second thread spins
    # between them on the core the figures are drawn on (a 20,000-case report: 3 s of system CPU
    # instead of 10 s, the same wall time)
    with threadpool_limits(limits=1, user_api="blas"), figure_workers(workers) as pool:
        inputs = load_study(**study, export_dir=out)
        links = _open_links(links)
        if links:
            inputs = link_reference(inputs, links, link_scale)
        early = EarlyFigures(pool, out / "figures")
        result = validate(inputs, n_boot=n_boot, seed=seed, confidence=confidence, subgroup_by=subgroup_by,
                          margin=margin, command=command, on_section=early)
        if links:
            result.tables["linked"] = linked_comparison(inputs, links, link_scale, n_boot=n_boot,
                                                        seed=seed, confidence=confidence)
            result.notes["linked"] = result.tables["linked"].attrs["note"]
        if context:
            result.notes["context"] = context
        frames = fill_checklists(result, checklists, study_dir=study_dir, labels_dir=study["labels_dir"])
        return write_report(result, out, title=title, workers=pool, started=early.started,
                            checklists=frames)
