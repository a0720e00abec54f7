"""Writers for an :func:`agreement_report`: JSON, Markdown, LaTeX (booktabs) and a tidy CSV.

The numbers and tables themselves are typeset by :mod:`covsev_tools.agreement.typeset`.

Values with intervals print as a paper would: ``0.87 (0.81–0.91)``. A statistic that could not be
computed prints as a dash with its reason listed under the table.
"""
from __future__ import annotations

import json


from covsev_tools.agreement.alpha import LEVELS
from covsev_tools.agreement.icc import FORMS, LABELS
# the one number format and the table writers (format_number and format_interval are imported from
# here by their old home's name too)
from covsev_tools.agreement.typeset import (_latex_escape, format_interval, format_level, format_number,
                                            latex_table, markdown_table)

GWET_TITLES = {"AC1": "Gwet's AC1", "AC2_linear": "Gwet's AC2 (linear)",
               "AC2_quadratic": "Gwet's AC2 (quadratic)"}
PAIR_COLUMNS = [("kappa", "κ"), ("kappa_linear", "κ linear"), ("kappa_quadratic", "κ quadratic"),
                ("pearson", "Pearson r"), ("spearman", "Spearman ρ"), ("ccc", "CCC")]
LATEX_NAMES = {"κ": r"$\kappa$", "κ linear": r"$\kappa_\mathrm{lin}$",
               "κ quadratic": r"$\kappa_\mathrm{quad}$", "Spearman ρ": r"Spearman $\rho$",
               "Pearson r": "Pearson $r$"}


def to_json(report: dict, indent: int = 2) -> str:
    """Strict JSON text of a report (raises ValueError rather than write a NaN token).

    Examples
    --------
    >>> to_json({"value": 0.5, "ci95": [0.1, 0.8]}, indent=None)
    '{"value": 0.5, "ci95": [0.1, 0.8]}'
    """
    return json.dumps(report, indent=indent, allow_nan=False, ensure_ascii=False)


class _Notes:
    """Collects the reasons of statistics that could not be computed, numbered."""

    def __init__(self):
        self.reasons: list[str] = []

    def mark(self, reason: str) -> str:
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"—[{self.reasons.index(reason) + 1}]"


def _cell(entry, notes: _Notes, dash="–") -> str:
    if not entry or entry.get("value") is None:
        return notes.mark((entry or {}).get("reason", "not computed"))
    text = format_number(entry["value"])
    ci = entry.get("ci95")
    return f"{text} ({format_interval(*ci, dash=dash)})" if ci else text


def _error_cells(entry, notes, dash="–") -> list[str]:
    """MAE, RMSE and the Bland-Altman bias and limits (with CIs) of a pair / vs-others entry."""
    cells = [format_number(entry["mae"]), format_number(entry["rmse"])]
    ba = entry["bland_altman"]
    if not ba or ba.get("bias") is None:
        return cells + [notes.mark((ba or {}).get("reason", "not computed"))] * 4
    cells += [f"{format_number(ba[key])} ({format_interval(*ba[f'{key}_ci95'], dash=dash)})"
              for key in ("bias", "loa_low", "loa_high")]
    slope = ba.get("proportional_bias") or {}
    if slope.get("slope") is None:
        return cells + [notes.mark(slope.get("reason", "not computed"))]
    return cells + [f"{format_number(slope['slope'])} "
                    f"({format_interval(*slope['slope_ci95'], dash=dash)})"]


ERROR_HEADER = ["MAE", "RMSE", "Bias (95% CI)", "LoA low (95% CI)", "LoA high (95% CI)",
                "Proportional bias slope (95% CI)"]


def _df(value) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _pval(p) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _tables(report: dict, notes: _Notes, dash="–") -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table of the report, cells as display text."""
    icc_rows = []
    for form in FORMS:
        e = report["icc"][form]
        icc_rows.append([f"{form} {LABELS[form]}", _cell(e, notes, dash),
                         format_number(e.get("F")), str(e.get("df1", "—")), _df(e.get("df2")),
                         _pval(e.get("pval"))])
    overall = [["Fleiss' kappa", _cell(report["fleiss_kappa"], notes, dash), "—"]]
    for name in LEVELS:
        overall.append([f"Krippendorff's alpha ({name})",
                        _cell(report["krippendorff_alpha"][name], notes, dash), "—"])
    for name, title in GWET_TITLES.items():
        e = report["gwet"][name]
        overall.append([title, _cell(e, notes, dash), format_number(e.get("se"), 3)])
    tables = [("Intraclass correlation", ["Form", "ICC (95% CI)", "F", "df1", "df2", "p"], icc_rows),
              ("Chance-corrected agreement, all raters", ["Statistic", "Value (95% CI)", "SE"],
               overall)]
    pair_header = ["Pair", "n"] + [title for _, title in PAIR_COLUMNS] + ERROR_HEADER
    pair_rows = [[f"{p['rater_a']} vs {p['rater_b']}", str(p["n"])]
                 + [_cell(p[key], notes, dash) for key, _ in PAIR_COLUMNS]
                 + _error_cells(p, notes, dash)
                 for p in report["pairs"]]
    tables.append(("Rater pairs (differences: first − second)", pair_header, pair_rows))
    if report.get("vs_others"):
        header = ["Rater", "n"] + [t for k, t in PAIR_COLUMNS if not k.startswith("kappa")] + \
            ERROR_HEADER
        rows = [[str(v["rater"]), str(v["n"])]
                + [_cell(v[k], notes, dash) for k, _ in PAIR_COLUMNS if not k.startswith("kappa")]
                + _error_cells(v, notes, dash)
                for v in report["vs_others"]]
        tables.append(("Each rater vs the mean of the others", header, rows))
    level = report.get("method", {}).get("confidence_level", 0.95)
    if level != 0.95:  # the "ci95" fields of the schema hold the interval of this level
        label = f"{format_level(level)}% CI"
        tables = [(title, [h.replace("95% CI", label) for h in head], rows)
                  for title, head, rows in tables]
    return tables


def _summary(report: dict) -> str:
    m = report["method"]
    icc = m["icc"]
    boot = m["bootstrap"]
    ba = m["bland_altman"]
    unit = ("patients with all their images" if boot.get("unit") == "patient" else "cases")
    patients = (f", {report['n_patients']} patients" if report.get("n_patients") is not None
                else "")
    return (f"{report['n_cases']} cases{patients}, {report['n_raters']} raters, "
            f"{report['n_ratings']} ratings. ICC on {icc['n_used']} complete cases "
            f"({icc['n_dropped']} with a missing rating dropped), exact F intervals (McGraw & Wong "
            f"1996). Kappa and alpha intervals: percentile bootstrap over {unit} "
            f"({boot['n_boot']} resamples, seed {boot['seed']}). Bland-Altman limits: bias ± "
            f"{ba.get('multiplier', 1.96):g} SD; limit intervals: {ba['loa_ci']}; proportional "
            f"bias: slope of the difference on the mean.")


def format_markdown(report: dict) -> str:
    """Markdown tables of a report, values as ``0.87 (0.81–0.91)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import agreement_report
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> print(format_markdown(agreement_report(t, n_boot=50)).splitlines()[0])
    # Inter-rater agreement
    """
    notes = _Notes()
    lines = ["# Inter-rater agreement", "", _summary(report), ""]
    for title, header, rows in _tables(report, notes):
        lines += [f"## {title}", "", markdown_table(header, rows)]
    lines += [f"[{i}] {reason}" for i, reason in enumerate(notes.reasons, 1)]
    return "\n".join(lines).rstrip() + "\n"


def _latex_cell(text: str) -> str:
    text = _latex_escape(text).replace("—[", "---\\textsuperscript{")
    if "\\textsuperscript{" in text:
        text = text.replace("]", "}", 1)
    return text.replace("—", "---").replace("<", "$<$")


def format_latex(report: dict) -> str:
    """LaTeX ``booktabs`` tables (``\\usepackage{booktabs}``) of a report.

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import agreement_report
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> "\\\\toprule" in format_latex(agreement_report(t, n_boot=50))
    True
    """
    notes = _Notes()
    out = [f"% {_latex_escape(_summary(report))}"]
    for title, header, rows in _tables(report, notes, dash="--"):
        out += latex_table([LATEX_NAMES.get(h, _latex_escape(h)) for h in header],
                           [[_latex_cell(cell) for cell in row] for row in rows], caption=title,
                           column_format="l" + "r" * (len(header) - 1)) + [""]
    if notes.reasons:  # printed under the tables, not hidden in comments
        out += ["\\begin{flushleft}\\footnotesize"]
        out += [f"\\textsuperscript{{{i}}}{_latex_escape(reason)}\\\\"
                for i, reason in enumerate(notes.reasons, 1)]
        out += ["\\end{flushleft}"]
    return "\n".join(out).rstrip() + "\n"


CSV_COLUMNS = ["section", "statistic", "rater_a", "rater_b", "n", "value", "ci_low", "ci_high",
               "se", "F", "df1", "df2", "pval", "reason"]


def _csv_row(section, statistic, entry, rater_a="", rater_b="", n=None) -> dict:
    ci = entry.get("ci95") or [None, None]
    return {"section": section, "statistic": statistic, "rater_a": rater_a, "rater_b": rater_b,
            "n": entry.get("n", n), "value": entry.get("value"), "ci_low": ci[0], "ci_high": ci[1],
            "se": entry.get("se"), "F": entry.get("F"), "df1": entry.get("df1"),
            "df2": entry.get("df2"), "pval": entry.get("pval"), "reason": entry.get("reason")}


def _continuous_rows(section, entry, rater_a, rater_b) -> list[dict]:
    rows = [_csv_row(section, key, entry[key], rater_a, rater_b, entry["n"])
            for key in ("pearson", "spearman", "ccc")]
    rows += [_csv_row(section, key, {"value": entry[key]}, rater_a, rater_b, entry["n"])
             for key in ("mae", "rmse")]
    ba = entry["bland_altman"]
    if ba.get("bias") is None:
        rows.append(_csv_row(section, "bland_altman", {"reason": ba.get("reason")}, rater_a, rater_b))
        return rows
    for key in ("bias", "loa_low", "loa_high"):
        rows.append(_csv_row(section, f"bland_altman_{key}",
                             {"value": ba[key], "ci95": ba[f"{key}_ci95"], "n": ba["n"]},
                             rater_a, rater_b))
    rows.append(_csv_row(section, "bland_altman_sd", {"value": ba["sd"], "n": ba["n"]},
                         rater_a, rater_b))
    slope = ba.get("proportional_bias") or {}
    rows.append(_csv_row(section, "bland_altman_proportional_bias",
                         {"value": slope.get("slope"), "ci95": slope.get("slope_ci95"),
                          "n": slope.get("n"), "pval": slope.get("pval"),
                          "reason": slope.get("reason")}, rater_a, rater_b))
    return rows


def report_rows(report: dict) -> list[dict]:
    """The report as tidy rows (one per statistic × rater pair), the rows of :func:`format_csv`.

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import agreement_report
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> report_rows(agreement_report(t, n_boot=0))[0]["statistic"]
    'ICC1'
    """
    rows = [_csv_row("icc", form, report["icc"][form]) for form in FORMS]
    rows.append(_csv_row("overall", "fleiss_kappa", report["fleiss_kappa"]))
    rows += [_csv_row("overall", f"krippendorff_alpha_{name}", report["krippendorff_alpha"][name])
             for name in LEVELS]
    rows += [_csv_row("overall", f"gwet_{name}", entry) for name, entry in report["gwet"].items()]
    for pair in report["pairs"]:
        a, b = pair["rater_a"], pair["rater_b"]
        rows += [_csv_row("pair", key, pair[key], a, b, pair["n"])
                 for key in ("kappa", "kappa_linear", "kappa_quadratic")]
        rows += _continuous_rows("pair", pair, a, b)
    for entry in report.get("vs_others", []):
        rows += _continuous_rows("vs_others", entry, entry["rater"], "mean of others")
    return rows


def format_csv(report: dict) -> str:
    """A tidy CSV of a report: one row per statistic (× pair), columns ``CSV_COLUMNS``.

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import agreement_report
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                   "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> format_csv(agreement_report(t, n_boot=50)).splitlines()[0]
    'section,statistic,rater_a,rater_b,n,value,ci_low,ci_high,se,F,df1,df2,pval,reason'
    """
    from covsev_tools.files import csv_text  # spreadsheet-safe: rater names come from editable files

    return csv_text(CSV_COLUMNS, ({k: ("" if v is None else v) for k, v in row.items()}
                                  for row in report_rows(report)))
