"""The validation report: tables (CSV, Markdown, LaTeX), figures (PNG, PDF), one HTML file.

:func:`build_report` runs :func:`covsev_tools.validation.validate.validate` on the inputs and writes::

    <out>/report.html          self-contained (figures embedded as base64, no external URL)
    <out>/tables/<name>.csv    raw numbers (estimate, ci_low, ci_high, ...)
    <out>/tables/<name>.md     formatted "0.87 (0.81–0.91)"
    <out>/tables/<name>.tex    booktabs
    <out>/tables/tables.md, tables.tex   all tables in one file
    <out>/figures/<name>.png, <name>.pdf
    <out>/summary.json         key numbers and sentences, for scripts

Examples
--------
>>> from covsev_tools.report.build import build_report                         # doctest: +SKIP
>>> build_report("ratings.csv", "predictions.csv", out_dir="report/")     # doctest: +SKIP
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd

from covsev_tools.report import figures
from covsev_tools.validation.inputs import load_inputs, scale_range
from covsev_tools.report.tables import Table, fmt, fmt_ci, write_combined, write_table
from covsev_tools.validation.validate import ValidationResult, paired_scores, validate

#: Packages whose versions the report states (torch/torchxrayvision when installed).
VERSIONED = ("covsev", "numpy", "pandas", "scipy", "statsmodels", "pingouin", "matplotlib",
             "torch", "torchxrayvision")

SCALE_TEXT = {
    "extent": "Geographic extent: per lung 0–4 (0 none, 1 <25%, 2 25–50%, 3 50–75%, 4 >75% "
              "involvement), total 0–8.",
    "opacity": "Opacity: per lung 0–3 (0 none, 1 ground glass, 2 consolidation, 3 white-out), "
               "total 0–6.",
}


def software_versions() -> dict:
    """Installed version of each package in ``VERSIONED`` ("not installed" when absent)."""
    out = {}
    for name in VERSIONED:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# --------------------------------------------------------------------------- tables

def _ci(row, prefix: str = "") -> str:
    """``estimate, ci_low, ci_high`` of a row, or ``<prefix>, <prefix>_ci_low, <prefix>_ci_high``."""
    if not prefix:
        return fmt_ci(row["estimate"], row["ci_low"], row["ci_high"])
    return fmt_ci(row[prefix], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"])


_REFERENCE_WORDS = {"mean": "mean of the raters", "median": "median of the raters",
                    "published": "published consensus (mean of 3 raters)"}


def report_tables(result: ValidationResult) -> list[Table]:
    """Every non-empty table of the result, formatted for a paper."""
    t = result.tables
    builders = [
        ("reference", "Reference scores ({method}) per scale and lung", _fmt_reference),
        ("model_vs_reference", "Model vs reference: estimate (95% bootstrap CI)", _fmt_by_statistic),
        ("calibration", "Calibration of the mapping on this cohort: reference = intercept + "
                        "slope × prediction (95% CI)", _fmt_by_statistic),
        ("model_as_rater", "Leave-one-rater-out: MAE against the consensus of the other raters "
                           "(95% bootstrap CI); difference = model − rater (paired)", _fmt_loro),
        ("icc", "ICC among the raters, with and without the model (95% CI)", _fmt_icc),
        ("external_validation", "External validation: the published mapping as is vs a mapping "
                                "refitted on this cohort, scored out of fold (95% bootstrap CI)",
         _fmt_external),
        ("external_mapping", "Mapping of the raw Lung Opacity output x: score = slope × x + "
                             "intercept, published vs refitted on this cohort", _fmt_mapping),
        ("intra_rater", "Intra-rater reliability from hidden repeat readings", _fmt_intra),
        ("subgroups", "Model vs reference by subgroup (MAE with 95% bootstrap CI)", _fmt_subgroups),
        ("longitudinal", "Longitudinal: change in prediction vs change in reference between "
                         "consecutive images of a patient (95% CI)", _fmt_by_statistic),
    ]
    out = []
    for name, caption, formatter in builders:
        raw = t.get(name)
        if raw is None or not len(raw):
            continue
        caption = caption.format(method=_REFERENCE_WORDS[result.inputs.reference_method])
        out.append(Table(name, caption, raw, formatter(raw)))
    return out


def _fmt_reference(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Scale": raw["scale"], "Component": raw["component"], "Cases": raw["n_cases"],
        "Raters per case": [fmt(v, 0) for v in raw["raters_per_case"]],
        "Mean (SD)": [f"{fmt(m)} ({fmt(s)})" for m, s in zip(raw["mean"], raw["sd"])],
        "Median [IQR]": [f"{fmt(m)} [{fmt(a)}–{fmt(b)}]" for m, a, b in
                         zip(raw["median"], raw["q1"], raw["q3"])],
        "Range": [f"{fmt(a)}–{fmt(b)}" for a, b in zip(raw["min"], raw["max"])]})


def _fmt_by_statistic(raw: pd.DataFrame) -> pd.DataFrame:
    """Rows: statistic; columns: one per scale (plus n)."""
    cells = raw.assign(text=[_ci(r) for _, r in raw.iterrows()])
    wide = cells.pivot_table(index="statistic", columns="scale", values="text", aggfunc="first",
                             sort=False)
    wide = wide.reindex(list(dict.fromkeys(raw["statistic"])))
    wide.columns.name = None
    wide.columns = [f"{c} (n={int(raw[raw['scale'] == c]['n'].max())})" for c in wide.columns]
    return wide.fillna("–").reset_index().rename(columns={"statistic": "Statistic"})


def _fmt_loro(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Scale": raw["scale"], "Left-out rater": raw["rater"], "n": raw["n"],
        "Rater MAE": [_ci(r, "rater_mae") for _, r in raw.iterrows()],
        "Model MAE": [_ci(r, "model_mae") for _, r in raw.iterrows()],
        "Model − rater": [_ci(r, "difference") for _, r in raw.iterrows()]})


def _fmt_icc(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Panel": raw["panel"], "Form": raw["form"],
                         "ICC (95% CI)": [_ci(r) for _, r in raw.iterrows()],
                         "Cases": raw["n"], "Raters": raw["k"]})


def _fmt_external(raw: pd.DataFrame) -> pd.DataFrame:
    cells = raw.assign(text=[_ci(r) for _, r in raw.iterrows()])
    wide = cells.pivot_table(index=["scale", "mapping"], columns="statistic", values="text",
                             aggfunc="first", sort=False).reset_index()
    wide.columns.name = None
    return wide.fillna("–").rename(columns={"scale": "Scale", "mapping": "Mapping"})


def _fmt_mapping(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Mapping": raw["mapping"],
                         "Slope": [fmt(v, 3) for v in raw["slope"]],
                         "Intercept": [fmt(v, 3) for v in raw["intercept"]],
                         "Images": raw["n"], "Fitted on": raw["groups"]})


def _fmt_intra(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Rater": raw["rater"], "Pairs": raw["n_pairs"],
                         "ICC(A,1) (95% CI)": [_ci(r, "icc") for _, r in raw.iterrows()],
                         "Weighted κ": [fmt(v) for v in raw["weighted_kappa"]],
                         "MAE": [fmt(v) for v in raw["mae"]]})


def _fmt_subgroups(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Variable": raw["variable"], "Level": raw["level"],
                         "n": raw["n"],
                         "MAE (95% CI)": [_ci(r, "mae") for _, r in raw.iterrows()],
                         "Bias": [fmt(v) for v in raw["bias"]], "CCC": [fmt(v) for v in raw["ccc"]]})


# --------------------------------------------------------------------------- figures

def report_figures(result: ValidationResult, out_dir: Path) -> list[dict]:
    """Draw and save every figure the result supports; return name, caption, paths."""
    inputs = result.inputs
    pairs = {s: paired_scores(inputs, s) for s in inputs.scales}
    ranges = {s: scale_range(s) for s in inputs.scales}
    mvr = result.tables["model_vs_reference"].set_index(["scale", "statistic"])["estimate"]
    limits = {s: {"bias": mvr[(s, "Bias (pred − ref)")], "loa_low": mvr[(s, "Lower LoA")],
                  "loa_high": mvr[(s, "Upper LoA")]} for s in inputs.scales}
    specs = [("prediction_vs_reference", "Prediction against reference with the line of unity "
              "(dashed) and the calibration fit (solid).",
              lambda: figures.prediction_vs_reference(pairs, ranges, result.tables["calibration"])),
             ("bland_altman", "Bland-Altman plot: prediction − reference against their mean, with "
              "the bias and the 95% limits of agreement.",
              lambda: figures.bland_altman(pairs, limits))]
    if result.extras.get("pairwise"):
        specs.append(("agreement_heatmap", "Mean absolute difference between every pair of raters "
                      "and the model (lower is closer).",
                      lambda: figures.agreement_heatmap(result.extras["pairwise"], "MAE")))
    if len(result.tables.get("model_as_rater", [])):
        specs.append(("per_rater_error", "Each rater (blue) and the model (red) against the "
                      "consensus of the other raters: MAE with 95% bootstrap CI.",
                      lambda: figures.per_rater_error(result.tables["model_as_rater"])))
    series = {s: v for s, v in result.extras.get("longitudinal_series", {}).items() if len(v)}
    if series and len(result.tables.get("longitudinal", [])):
        specs.append(("longitudinal", "Trajectories of patients with several images: reference "
                      "(solid) and prediction (dashed).", lambda: figures.trajectories(series)))
    return [_draw(name, caption, make, out_dir) for name, caption, make in specs]


def _draw(name, caption, make, out_dir: Path) -> dict:
    fig = make()
    paths = figures.save(fig, out_dir, name)
    png = base64.b64encode(paths["png"].read_bytes()).decode("ascii")
    return {"name": name, "caption": caption, "paths": paths, "png_base64": png}


# --------------------------------------------------------------------------- HTML

def _html_table(table: Table) -> str:
    return table.formatted.to_html(index=False, escape=True, border=0, classes="tbl", na_rep="–")


def render_html(result: ValidationResult, tables: list[Table], figs: list[dict], title: str) -> str:
    """The report as one self-contained HTML string (Jinja2 template ``report.html.j2``)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("covsev_tools.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    return template.render(
        title=title, generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        study=study_facts(result), sentences=result.sentences, notes=result.notes,
        tables={t.name: {"caption": t.caption, "html": _html_table(t)} for t in tables},
        figures={f["name"]: f for f in figs}, versions=software_versions(),
        settings=result.settings, scale_text=SCALE_TEXT, methods=methods_text(result))


def study_facts(result: ValidationResult) -> dict:
    """Cohort size, raters, scales and inputs for the report's first section."""
    inputs = result.inputs
    cases = set(inputs.reference["case"])
    predicted = cases & set(inputs.predictions.index)
    facts = {"n_cases": len(cases), "n_predicted": len(predicted), "raters": inputs.raters,
             "n_raters": len(inputs.raters), "scales": inputs.scales,
             "reference": _REFERENCE_WORDS[inputs.reference_method], "sources": inputs.sources,
             "n_patients": None, "n_repeats": 0, "n_repeat_cases": 0}
    if "patientid" in inputs.metadata.columns:
        facts["n_patients"] = int(inputs.metadata["patientid"].reindex(list(cases)).nunique())
    if inputs.ratings is not None:
        rep = inputs.ratings[inputs.ratings["is_repeat"]]
        facts["n_repeats"] = int(rep[["display_id", "rater"]].drop_duplicates().shape[0])
        facts["n_repeat_cases"] = int(rep["case"].nunique())
    return facts


def methods_text(result: ValidationResult) -> list[str]:
    """The methods paragraph, one sentence per item, with this run's settings."""
    s = result.settings
    ref = {"mean": "the mean of the raters' first readings", "median": "the median of the "
           "raters' first readings", "published": "the published consensus score (mean of 3 "
           "raters, Cohen et al. 2020)"}[s["reference"]]
    return [
        f"Reference score per case: {ref}, per scale total (and per lung when rated). The model "
        "predicts scale totals, so it is compared with the reference totals.",
        "Model vs reference: MAE, RMSE, Pearson r, Spearman ρ, Lin's concordance correlation "
        "coefficient (CCC) and Bland-Altman bias with 95% limits of agreement; point estimates "
        "from covsev_tools.agreement.",
        f"95% CIs: percentile bootstrap over cases ({s['n_boot']} resamples, seed {s['seed']}); "
        "ICC intervals are the exact F intervals of McGraw & Wong (1996).",
        "Calibration: ordinary least squares of the reference on the prediction (slope 1 and "
        "intercept 0 mean perfectly calibrated); standard errors cluster-robust by patient when "
        "patient IDs are known.",
        "Model as one more rater: each rater and the model against the consensus of the other "
        "raters (leave-one-rater-out), with a paired bootstrap CI of the difference in MAE "
        "(model − rater, same resampled cases); ICC(A,1) and ICC(A,k) with and without the model.",
        "External validation: the published mapping as is, against an ordinary least squares "
        "refit of the reference on the raw Lung Opacity output scored out of fold (5-fold "
        "cross-validation grouped by patient, 10 repeats, out-of-fold predictions averaged; "
        "covsev_tools.model.refit), with a paired bootstrap CI of the difference in MAE.",
        "Intra-rater reliability: first vs hidden repeat reading of the same case by the same "
        "rater (ICC(A,1), quadratic-weighted κ, MAE).",
        "Subgroups: the same statistics within each level of a metadata column (view, site, sex "
        "by default).",
        "Longitudinal: change between consecutive images of a patient (by days since first "
        "image), prediction vs reference: Pearson r of the changes, MAE of the change, and the "
        "fraction of pairs whose direction agrees among pairs whose reference changed.",
    ]


# --------------------------------------------------------------------------- entry point

def write_report(result: ValidationResult, out_dir: str | Path,
                 title: str = "Severity model validation report") -> Path:
    """Write tables, figures, summary.json and report.html for a validation result.

    Returns
    -------
    Path
        The ``report.html`` file.
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    tables = report_tables(result)
    for table in tables:
        write_table(table, out / "tables")
    write_combined(tables, out / "tables")
    figs = report_figures(result, out / "figures")
    page = render_html(result, tables, figs, title)
    (out / "report.html").write_text(page, encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary(result), indent=2, default=_json) + "\n")
    return out / "report.html"


def summary(result: ValidationResult) -> dict:
    """Key numbers for scripts: model vs reference, the model-vs-raters sentence, settings."""
    mvr = result.tables["model_vs_reference"]
    return {"settings": result.settings, "study": study_facts(result),
            "sentences": result.sentences, "notes": result.notes,
            "model_vs_reference": mvr.to_dict(orient="records"),
            "model_summary": result.extras.get("model_summary", {})}


def _json(value):
    """numpy scalars as numbers; anything else (paths, ...) as text."""
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def build_report(ratings, predictions, out_dir, *, metadata=None, key=None, reference="mean",
                 n_boot: int = 1000, seed: int = 0, subgroup_by=None,
                 title: str = "Severity model validation report", context: str | None = None) -> Path:
    """Read the inputs, validate and write the report (what ``covsev report`` runs).

    Parameters
    ----------
    ratings : path
        Ratings export, or a reference-only table such as the published means.
    predictions : path
        Predictions CSV.
    out_dir : path
    metadata, key : path, optional
        Metadata CSV; the cohort's ``key.csv``.
    reference : {"mean", "median"}
    n_boot, seed : int
    subgroup_by : list of str, optional
    title : str
    context : str, optional
        A note shown at the top of the study section (e.g. "predictions are simulated").

    Returns
    -------
    Path
        ``<out_dir>/report.html``.
    """
    inputs = load_inputs(ratings, predictions, metadata, reference=reference, key_path=key)
    result = validate(inputs, n_boot=n_boot, seed=seed, subgroup_by=subgroup_by)
    if context:
        result.notes["context"] = context
    return write_report(result, out_dir, title=title)


__all__ = ["build_report", "write_report", "render_html", "report_tables", "report_figures",
           "software_versions", "summary"]
