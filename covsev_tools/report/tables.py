"""Paper-ready tables: estimates with CIs as "0.87 (0.81–0.91)", written as CSV, Markdown, LaTeX.

The CSV keeps the raw numbers (``estimate, ci_low, ci_high``) for further analysis; Markdown and
LaTeX (booktabs) carry the formatted text a paper prints.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from covsev_tools.agreement.typeset import (format_estimate, format_number, latex_escape, latex_table,
                                            markdown_table)
from covsev_tools.files import write_csv_atomic

__all__ = ["Table", "fmt", "fmt_ci", "statistic_columns", "to_latex", "to_markdown", "write_combined",
           "write_table"]


@dataclass
class Table:
    """One report table.

    Attributes
    ----------
    name : str
        File stem (``model_vs_reference``).
    caption : str
    raw : DataFrame
        Numbers, written to CSV.
    formatted : DataFrame
        Strings, written to Markdown, LaTeX and HTML.

    Examples
    --------
    >>> Table("t", "A table", pd.DataFrame({"x": [1]}), pd.DataFrame({"X": ["1"]})).name
    't'
    """

    name: str
    caption: str
    raw: pd.DataFrame
    formatted: pd.DataFrame


#: How the report prints a missing number: an en dash (the agreement writers use an em dash).
MISSING = "–"


def fmt(value, digits: int = 2) -> str:
    """:func:`~covsev_tools.agreement.typeset.format_number` with the report's missing mark.

    Examples
    --------
    >>> fmt(-0.104), fmt(float("nan"))
    ('−0.10', '–')
    """
    return format_number(value, digits, missing=MISSING)


def fmt_ci(estimate, low, high, digits: int = 2) -> str:
    """:func:`~covsev_tools.agreement.typeset.format_estimate` with the report's missing mark.

    Examples
    --------
    >>> fmt_ci(0.8712, 0.81, 0.914), fmt_ci(0.05, -0.1, 0.21)
    ('0.87 (0.81–0.91)', '0.05 (−0.10 to 0.21)')
    """
    return format_estimate(estimate, low, high, digits, missing=MISSING)


def statistic_columns(raw: pd.DataFrame, index: list, names: dict) -> pd.DataFrame:
    """A tidy table (one row per statistic) side by side: one row per ``index`` key, and per
    statistic ``names[statistic]`` the columns ``<name>``, ``<name>_ci_low``, ``<name>_ci_high``,
    ``<name>_n``, in the order of the first statistic's rows.

    Examples
    --------
    >>> raw = pd.DataFrame({"rater": ["A", "A"], "statistic": ["MAE", "Bias"], "estimate": [0.5, -0.1],
    ...                     "ci_low": [0.4, None], "ci_high": [0.6, None], "n": [10, 10]})
    >>> statistic_columns(raw, ["rater"], {"MAE": "mae", "Bias": "bias"}).columns.tolist()[:4]
    ['rater', 'mae', 'mae_ci_low', 'mae_ci_high']
    """
    wide = None
    for statistic, name in names.items():
        part = raw[raw["statistic"] == statistic].set_index(index)[["estimate", "ci_low", "ci_high", "n"]]
        part.columns = [name, f"{name}_ci_low", f"{name}_ci_high", f"{name}_n"]
        wide = part if wide is None else wide.join(part)
    return wide.reset_index()


def to_markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table, safe to render
    (:func:`~covsev_tools.agreement.typeset.markdown_table`).

    Examples
    --------
    >>> print(to_markdown(pd.DataFrame({"Rater": ["<b>x</b>|y"], "MAE": ["0.50"]})), end="")
    | Rater | MAE |
    |---|---|
    | &lt;b&gt;x&lt;/b&gt;\\|y | 0.50 |
    """
    return markdown_table(table.columns, table.itertuples(index=False))


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """A DataFrame as a booktabs LaTeX table, text escaped
    (:func:`~covsev_tools.agreement.typeset.latex_table`).

    Examples
    --------
    >>> tex = to_latex(pd.DataFrame({"Rater": ["dr_x"], "MAE": ["−0.20"]}), "Errors", "err")
    >>> "toprule" in tex, "dr" + chr(92) + "_x" in tex, "$-$0.20" in tex
    (True, True, True)
    """
    body = [[latex_escape(v) for v in row] for row in table.itertuples(index=False)]
    latex = "\n".join(latex_table([latex_escape(c) for c in table.columns], body, caption=caption,
                                   label=label, placement="htbp")) + "\n"
    # the unicode en dash and rho print only with some TeX fonts: use TeX's own
    return latex.replace("–", "--").replace("ρ", r"$\rho$")


def write_table(table: Table, out_dir: str | Path) -> dict:
    """Write ``<name>.csv`` (raw), ``<name>.md`` and ``<name>.tex``; return the paths.

    Examples
    --------
    >>> table = Table("mae", "MAE per rater", pd.DataFrame({"rater": ["x"], "mae": [0.5]}),
    ...               pd.DataFrame({"Rater": ["x"], "MAE": ["0.50"]}))
    >>> sorted(p.name for p in write_table(table, getfixture("tmp_path")).values())
    ['mae.csv', 'mae.md', 'mae.tex']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{table.name}.{ext}" for ext in ("csv", "md", "tex")}
    write_csv_atomic(table.raw, paths["csv"])  # atomic and spreadsheet-safe
    paths["md"].write_text(f"**{table.caption}**\n\n" + to_markdown(table.formatted))
    paths["tex"].write_text(to_latex(table.formatted, table.caption, table.name))
    return paths


def write_combined(tables: list, out_dir: str | Path) -> dict:
    """All tables in one ``tables.md`` and one ``tables.tex`` (``\\usepackage{booktabs}``).

    Examples
    --------
    >>> table = Table("mae", "MAE per rater", pd.DataFrame({"rater": ["x"], "mae": [0.5]}),
    ...               pd.DataFrame({"Rater": ["x"], "MAE": ["0.50"]}))
    >>> sorted(p.name for p in write_combined([table], getfixture("tmp_path")).values())
    ['tables.md', 'tables.tex']
    """
    out = Path(out_dir)
    md = "\n".join(f"**{t.caption}**\n\n{to_markdown(t.formatted)}" for t in tables)
    tex = "% needs \\usepackage{booktabs}\n" + "\n".join(
        to_latex(t.formatted, t.caption, t.name) for t in tables)
    (out / "tables.md").write_text(md)
    (out / "tables.tex").write_text(tex)
    return {"md": out / "tables.md", "tex": out / "tables.tex"}
