"""The report's tables: each section's raw numbers formatted as a paper prints them.

One formatter per section turns the raw table of :class:`~covsev_tools.validation.ValidationResult`
(``estimate, ci_low, ci_high`` columns) into text cells such as ``"0.87 (0.81–0.91)"``.
"""
from __future__ import annotations

import pandas as pd

from covsev_tools.agreement.equivalence_text import format_p
from covsev_tools.agreement.typeset import format_level
from covsev_tools.report.tables import Table, fmt, fmt_ci, statistic_columns
from covsev_tools.validation import ValidationResult
from covsev_tools.validation.intrarater import INTRA_STATISTICS
from covsev_tools.validation.raters import LORO_STATISTICS

__all__ = ["REFERENCE_WORDS", "report_tables"]

def _ci(raw: pd.DataFrame, prefix: str = "") -> list[str]:
    """``estimate (ci_low–ci_high)`` of every row; with ``prefix`` the columns ``<prefix>``,
    ``<prefix>_ci_low``, ``<prefix>_ci_high``."""
    names = ("estimate", "ci_low", "ci_high") if not prefix else (
        prefix, f"{prefix}_ci_low", f"{prefix}_ci_high")
    return [fmt_ci(e, lo, hi) for e, lo, hi in zip(*(raw[n] for n in names))]


REFERENCE_WORDS = {"mean": "mean of the raters", "median": "median of the raters",
                   "consensus": "adjudicated consensus (mean of the raters where not adjudicated)",
                   "published": "published consensus (mean of 3 raters)"}


def report_tables(result: ValidationResult) -> list[Table]:
    """Every non-empty table of the result, formatted for a paper.

    Examples
    --------
    >>> from covsev_tools.validation import ValidationInputs
    >>> ref = pd.DataFrame({"case": ["a", "b"], "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 3.0], "n_raters": 2})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame(), pd.DataFrame(), "case_id", "mean", {})
    >>> result = ValidationResult(inputs, tables={"reference": pd.DataFrame({
    ...     "scale": ["extent"], "component": ["total"], "n_cases": [2], "raters_per_case": [2.0],
    ...     "mean": [2.0], "sd": [1.41], "median": [2.0], "q1": [1.5], "q3": [2.5], "min": [1.0],
    ...     "max": [3.0]})})
    >>> [(t.name, t.formatted.loc[0, "Median [IQR]"]) for t in report_tables(result)]
    [('reference', '2.00 [1.50–2.50]')]
    """
    t = result.tables
    unit = "patients" if result.settings.get("unit") == "patient" else "images"
    level = format_level(result.settings.get("confidence", 0.95))
    builders = [
        ("reference", "Reference scores ({method}) per scale and lung", _fmt_reference),
        ("inter_rater", "Inter-rater agreement of the raters' first readings per total and "
                        "component ({level}% CI; bootstrap over {unit} unless stated)", _fmt_inter_rater),
        ("pairwise_kappa", "Quadratic-weighted Cohen's κ of every pair of raters ({level}% bootstrap CI "
                           "over {unit}; n = cases both raters scored)", _fmt_pairwise),
        ("model_vs_reference", "Model vs reference: estimate ({level}% bootstrap CI)", _fmt_by_statistic),
        ("calibration", "Calibration of the mapping on this cohort: reference = intercept + "
                        "slope × prediction ({level}% CI)", _fmt_by_statistic),
        ("linked", "Model vs the raters' scores linked from their own scale: estimate ({level}% bootstrap "
                   "CI), with the link's own error and the raters' disagreement", _fmt_linked),
        ("model_as_rater", "Leave-one-rater-out: MAE against the consensus of the other raters "
                           "({level}% bootstrap CI); difference = model − rater (paired)", _fmt_loro),
        ("icc", "ICC among the raters, with and without the model ({level}% CI)", _fmt_icc),
        ("equivalence", "Is the model within the raters' variability? Mean absolute difference "
                        "of the model with the raters (D_MR) and of the raters with each other "
                        "(D_RR), excess D_MR − D_RR against the margin ({level}% CI; readers random: "
                        "{unit} and raters resampled; readers fixed: {unit} only)",
         _fmt_equivalence),
        ("external_validation", "External validation: the published mapping as is vs a mapping "
                                "refitted on this cohort, scored out of fold ({level}% bootstrap CI)",
         _fmt_external),
        ("external_mapping", "Mapping of the raw Lung Opacity output x: score = slope × x + "
                             "intercept, published vs refitted on this cohort", _fmt_mapping),
        ("intra_rater", "Intra-rater reliability from hidden repeat readings", _fmt_intra),
        ("adjudication", "Adjudication: cases whose reference is the consensus, and how far the "
                         "consensus total is from the raters' mean total", _fmt_adjudication),
        ("subgroups", "Model vs reference by subgroup (MAE with {level}% bootstrap CI)", _fmt_subgroups),
        ("longitudinal", "Longitudinal: change in prediction vs change in reference between "
                         "consecutive images of a patient ({level}% CI)", _fmt_by_statistic),
    ]
    out = []
    for name, caption, formatter in builders:
        raw = t.get(name)
        if raw is None or not len(raw):
            continue
        caption = caption.format(method=REFERENCE_WORDS[result.inputs.reference_method], unit=unit,
                                 level=level)
        formatted = formatter(raw)
        formatted.columns = [str(c).replace("95%", f"{level}%") for c in formatted.columns]
        out.append(Table(name, caption, raw, formatted))
    return out


def _fmt_inter_rater(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per scale and statistic, one column per component (total first): a page, not 60 rows."""
    cells = raw.assign(text=_ci(raw))
    wide = cells.pivot_table(index=["scale", "statistic"], columns="component", values="text", aggfunc="first",
                             sort=False)
    components = list(dict.fromkeys(raw["component"]))
    components = ["total"] + [c for c in components if c != "total"] if "total" in components else components
    wide = wide[components].fillna("–")
    wide.columns = [str(c).capitalize() for c in components]
    totals = raw[raw["component"] == components[0]].groupby(["scale", "statistic"], sort=False)
    wide[f"n ({components[0]})"] = totals["n"].first()
    wide["Interval"] = totals["method"].first()
    wide.columns.name = None
    return wide.reset_index().rename(columns={"scale": "Scale", "statistic": "Statistic"})


def _fmt_pairwise(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Component": raw["component"],
                         "Rater A": raw["rater_a"], "Rater B": raw["rater_b"],
                         "κ (95% CI)": _ci(raw), "n": raw["n"]})


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
    cells = raw.assign(text=_ci(raw))
    wide = cells.pivot_table(index="statistic", columns="scale", values="text", aggfunc="first",
                             sort=False)
    wide = wide.reindex(list(dict.fromkeys(raw["statistic"])))
    wide.columns.name = None
    wide.columns = [f"{c} (n={int(raw[raw['scale'] == c]['n'].max())})" for c in wide.columns]
    return wide.fillna("–").reset_index().rename(columns={"statistic": "Statistic"})


def _fmt_loro(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per left-out rater (the model's mean over raters is in the sentence, not here)."""
    raw = statistic_columns(raw, ["scale", "rater"], dict(zip(LORO_STATISTICS,
                                                               ("rater_mae", "model_mae", "difference"))))
    raw["n"] = raw["rater_mae_n"]
    return pd.DataFrame({
        "Scale": raw["scale"], "Left-out rater": raw["rater"], "n": raw["n"],
        "Rater MAE": _ci(raw, "rater_mae"),
        "Model MAE": _ci(raw, "model_mae"),
        "Model − rater": _ci(raw, "difference")})


def _fmt_equivalence(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per scale × readers: D_MR, D_RR, excess, ratio, Williams, margin, p, verdict."""
    rows = []
    for (scale, readers), group in raw.groupby(["scale", "readers"], sort=False):
        cells = dict(zip(group["statistic"], _ci(group)))
        excess = group[group["statistic"] == "excess_disagreement"].iloc[0]
        verdict = ("–" if pd.isna(excess["noninferior"]) else
                   "yes" if bool(excess["noninferior"]) else "not shown")
        rows.append({"Scale": scale, "Readers": readers, "Cases": int(excess["n"]),
                     "Raters": int(excess["n_readers"]),
                     "Model–rater D_MR": cells["model_reader"],
                     "Rater–rater D_RR": cells["reader_reader"],
                     "Excess D_MR − D_RR": cells["excess_disagreement"],
                     "Ratio D_MR / D_RR": cells["disagreement_ratio"],
                     "Williams index": cells["williams_index"],
                     "Margin": fmt(excess["margin"]), "p (one-sided)": format_p(excess["p_value"]),
                     "Non-inferior": verdict})
    return pd.DataFrame(rows)


def _fmt_icc(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Panel": raw["panel"], "Form": raw["form"],
                         "ICC (95% CI)": _ci(raw),
                         "Cases": raw["n"], "Raters": raw["k"]})


def _fmt_external(raw: pd.DataFrame) -> pd.DataFrame:
    cells = raw.assign(text=_ci(raw))
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
    raw = statistic_columns(raw, ["scale", "rater"], dict(zip(INTRA_STATISTICS, ("icc", "weighted_kappa", "mae"))))
    raw["n_pairs"] = raw["icc_n"]
    return pd.DataFrame({"Scale": raw["scale"], "Rater": raw["rater"], "Pairs": raw["n_pairs"],
                         "ICC(A,1) (95% CI)": _ci(raw, "icc"),
                         "Weighted κ": [fmt(v) for v in raw["weighted_kappa"]],
                         "MAE": [fmt(v) for v in raw["mae"]]})


def _fmt_subgroups(raw: pd.DataFrame) -> pd.DataFrame:
    raw = statistic_columns(raw, ["scale", "variable", "level"],
                            {"MAE": "mae", "Bias (pred − ref)": "bias", "CCC": "ccc"})
    raw["n"] = raw["mae_n"]
    return pd.DataFrame({"Scale": raw["scale"], "Variable": raw["variable"], "Level": raw["level"],
                         "n": raw["n"],
                         "MAE (95% CI)": _ci(raw, "mae"),
                         "Bias": [fmt(v) for v in raw["bias"]], "CCC": [fmt(v) for v in raw["ccc"]]})


def _fmt_linked(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Statistic": raw["statistic"],
                         "Estimate (95% CI)": _ci(raw), "n": raw["n"], "Interval": raw["method"]})


def _fmt_adjudication(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Scale": raw["scale"], "Cases": raw["n_cases"], "Adjudicated": raw["n_adjudicated"],
                         "Mean |consensus − raters' mean|": [fmt(v) for v in raw["mean_abs_change"]],
                         "Largest": [fmt(v) for v in raw["max_abs_change"]]})
