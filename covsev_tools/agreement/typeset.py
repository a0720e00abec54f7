"""How the package prints numbers and tables: the one number format and the table writers.

``0.87 (0.81–0.91)`` with a true minus sign, Markdown tables safe to render, booktabs LaTeX tables.
The agreement writers (:mod:`covsev_tools.agreement.formatting`), the validation sentences and the
report's tables (:mod:`covsev_tools.report.tables`) all use these (the report may import this
stage, not the reverse).
"""
from __future__ import annotations

import html

import numpy as np

__all__ = ["format_estimate", "format_interval", "format_level", "format_number", "latex_escape",
           "latex_table", "markdown_table"]


def format_number(value, digits: int = 2, missing: str = "—") -> str:
    """Fixed decimals with a true minus sign (U+2212), ``missing`` for a missing value.

    The one number format of the package: the agreement writers, the validation sentences and the
    report's tables (which print a missing value as an en dash) all call it. Text is passed
    through (a table cell that is already text), empty text as ``missing``.

    Examples
    --------
    >>> format_number(-0.104), format_number(-0.001), format_number(None), format_number("AP")
    ('−0.10', '0.00', '—', 'AP')
    """
    if isinstance(value, str):
        return value or missing
    if value is None or not np.isfinite(value):
        return missing
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # "-0.00" would read as a sign error
    return text.replace("-", "−")


def format_level(confidence: float) -> str:
    """A confidence level as the percentage a paper prints before "CI": ``"95"``, ``"97.5"``.

    Examples
    --------
    >>> format_level(0.95), format_level(0.975)
    ('95', '97.5')
    """
    return f"{confidence * 100:g}"


def format_interval(low, high, digits: int = 2, dash: str = "–", missing: str = "—") -> str:
    """"0.81–0.91", or "−0.95 to −0.24" when a bound is negative (a dash would read as minus).

    Examples
    --------
    >>> format_interval(0.814, 0.91), format_interval(-0.1, 0.21)
    ('0.81–0.91', '−0.10 to 0.21')
    """
    sep = " to " if (low is not None and low < 0) or (high is not None and high < 0) else dash
    return f"{format_number(low, digits, missing)}{sep}{format_number(high, digits, missing)}"


def format_estimate(estimate, low, high, digits: int = 2, missing: str = "—") -> str:
    """``"0.87 (0.81–0.91)"``; with a negative bound ``"0.05 (−0.10 to 0.21)"``; the estimate
    alone when the interval is missing.

    Examples
    --------
    >>> format_estimate(0.8712, 0.81, 0.914), format_estimate(0.05, -0.1, 0.21)
    ('0.87 (0.81–0.91)', '0.05 (−0.10 to 0.21)')
    >>> format_estimate(0.5, float("nan"), None)
    '0.50'
    """
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return format_number(estimate, digits, missing)
    return f"{format_number(estimate, digits, missing)} ({format_interval(low, high, digits)})"


def markdown_table(header, rows) -> str:
    """A GitHub-flavoured Markdown table, safe to render: the package's one Markdown writer.

    Cell text is HTML-escaped (a Markdown renderer passes raw HTML through, and rater names or
    metadata levels come from files anyone may have edited); pipes and line breaks cannot break
    the table. The report's tables (:func:`covsev_tools.report.tables.to_markdown`) use it too.

    Examples
    --------
    >>> print(markdown_table(["Rater", "MAE"], [["<b>x</b>|y", "0.50"]]), end="")
    | Rater | MAE |
    |---|---|
    | &lt;b&gt;x&lt;/b&gt;\\|y | 0.50 |
    """
    def cell(value) -> str:
        text = html.escape(str(value), quote=False)
        return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text)).replace("−", "$-$")


def latex_escape(text) -> str:
    """Text with LaTeX's special characters escaped and the minus sign (U+2212) as ``$-$``.

    Examples
    --------
    >>> print(latex_escape("dr_x & 50% −1"))
    dr\\_x \\& 50\\% $-$1
    """
    return _latex_escape(text)


def latex_table(header, rows, *, caption: str, label: str | None = None, placement: str = "ht",
                column_format: str | None = None) -> list[str]:
    """The lines of a booktabs LaTeX table (``\\usepackage{booktabs}``): the package's one LaTeX
    table writer (the agreement report's tables and the validation report's).

    ``header`` and ``rows`` are LaTeX already (escape text with :func:`latex_escape`); the caption
    is text and is escaped here.

    Examples
    --------
    >>> print("\\n".join(latex_table(["Rater", "MAE"], [["A", "0.50"]], caption="Errors", label="err")))
    \\begin{table}[ht]
    \\centering
    \\caption{Errors}
    \\label{tab:err}
    \\begin{tabular}{ll}
    \\toprule
    Rater & MAE \\\\
    \\midrule
    A & 0.50 \\\\
    \\bottomrule
    \\end{tabular}
    \\end{table}
    """
    header = list(header)
    lines = [f"\\begin{{table}}[{placement}]", "\\centering", f"\\caption{{{_latex_escape(caption)}}}"]
    if label is not None:
        lines.append(f"\\label{{tab:{label}}}")
    lines += [f"\\begin{{tabular}}{{{column_format or 'l' * len(header)}}}", "\\toprule",
              " & ".join(header) + " \\\\", "\\midrule"]
    lines += [" & ".join(row) + " \\\\" for row in rows]
    return lines + ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
