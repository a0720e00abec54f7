"""HTML fragments of the scoring pages, built from plain data and escaped (no widgets here).

Every value that came from a file or a person (scale texts, comments, rater names, reasons) goes
through :func:`esc` before it reaches the page.
"""
from __future__ import annotations

import html


def esc(text) -> str:
    """HTML-escape any value.

    Examples
    --------
    >>> esc("<b>&")
    '&lt;b&gt;&amp;'
    """
    return html.escape(str(text))


def logout_html(url: str | None) -> str:
    """The "Log out" link of a page on JupyterHub (``url`` escaped), or nothing off the hub.

    Examples
    --------
    >>> logout_html('/a"b/hub/logout')
    "<div class='covsev-logout' style='text-align:right'><a href='/a&quot;b/hub/logout'>Log out</a></div>"
    >>> logout_html(None)
    ''
    """
    if not url:
        return ""
    return f"<div class='covsev-logout' style='text-align:right'><a href='{esc(url)}'>Log out</a></div>"


def status_html(kind: str, text: str) -> str:
    """The status line: ``kind`` ``"ok"`` (green), ``"error"`` (red) or ``""`` (empty).

    Examples
    --------
    >>> status_html("error", "a < b")
    "<span class='covsev-error'>a &lt; b</span>"
    """
    return f"<span class='covsev-{kind}'>{esc(text)}</span>" if kind and text else ""


def legend_html(scale) -> str:
    """A scale's title, definition and levels, as the rater reads them beside the buttons.

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> "<b>3</b> White-out" in legend_html(builtin_scales()["opacity"])
    True
    """
    levels = " · ".join(f"<b>{lv.value}</b> {esc(lv.text)}" for lv in scale.levels)
    return (f"<h3 style='margin:0.4em 0 0'>{esc(scale.title)}</h3>"
            f"<div class='covsev-legend'>{levels}</div>")


def help_html(shortcuts) -> str:
    """The keyboard shortcut table (open by default).

    Examples
    --------
    >>> "<kbd>N</kbd>" in help_html([("N", "not assessable")])
    True
    """
    rows = "".join(f"<tr><td><kbd>{esc(k)}</kbd></td><td>{esc(v)}</td></tr>" for k, v in shortcuts)
    return (f"<details open><summary>Keyboard shortcuts</summary>"
            f"<table class='covsev-keys-help'>{rows}</table></details>")


def banner_html(kind: str, text: str) -> str:
    """A page-wide banner (``training`` or ``adjudication``) so the mode cannot be mistaken.

    Examples
    --------
    >>> "covsev-banner-training" in banner_html("training", "TRAINING")
    True
    """
    return f"<div class='covsev-banner covsev-banner-{kind}'>{esc(text)}</div>"


def _number(value) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def feedback_html(rows: list[dict], scales) -> str:
    """Training feedback: the rater's scores beside the reference, per component, with definitions.

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> rows = [{"scale": "opacity", "scale_title": "Opacity", "component": "total", "label": "Total",
    ...          "yours": 2, "reference": 3.0, "difference": -1.0}]
    >>> "Reference" in feedback_html(rows, [builtin_scales()["opacity"]])
    True
    """
    if not rows:
        return ""
    body = []
    for row in rows:
        off = row["difference"] is not None and abs(row["difference"]) >= 1
        cls = "covsev-off" if off else "covsev-match"
        body.append(f"<tr><td>{esc(row['scale_title'])}</td><td>{esc(row['label'])}</td>"
                    f"<td>{_number(row['yours'])}</td><td>{_number(row['reference'])}</td>"
                    f"<td class='{cls}'>{_number(row['difference'])}</td></tr>")
    definitions = "".join(f"<li><b>{esc(s.title)}</b>: {esc(s.description)} "
                          + " · ".join(f"{lv.value} = {esc(lv.text)}" for lv in s.levels) + "</li>"
                          for s in scales)
    return ("<div class='covsev-feedback'><h3 style='margin:0.3em 0'>Your scores and the reference</h3>"
            "<table class='covsev-table'><tr><th>Scale</th><th>Lung / zone</th><th>Yours</th>"
            f"<th>Reference</th><th>Difference</th></tr>{''.join(body)}</table>"
            f"<ul class='covsev-legend'>{definitions}</ul>"
            "<div>Press <kbd>Enter</kbd> (or the button) for the next case.</div></div>")


def end_html(summary: dict, training_summary: dict | None = None) -> str:
    """The end screen: how many cases were scored, nothing left to save, how to review.

    Examples
    --------
    >>> "All 5 cases are scored" in end_html({"cases": 5, "scored": 5, "not_assessable": 1})
    True
    """
    result = (training_summary or {}).get("result")
    if result is not None and not result["passed"]:
        # a failed round is no "thank you, close the page": say the result and what happens next
        text = (f"<h2 style='margin:0.2em 0'>Training round finished: threshold not met</h2>"
                f"<p>{summary['scored']} of {summary['cases']} cases saved. {FAILED_NEXT}</p>")
        return f"<div class='covsev-end'>{text}{training_summary_html(training_summary)}</div>"
    text = (f"<h2 style='margin:0.2em 0'>All {summary['cases']} cases are scored — thank you.</h2>"
            f"<p>{summary['scored']} saved, {summary['not_assessable']} marked not assessable. "
            "Every score is saved: there is nothing left to save, and you may close this page.</p>"
            "<p>To review a case, use <kbd>←</kbd> / Previous or the Go to list.</p>")
    if training_summary is not None:
        text += training_summary_html(training_summary)
    return f"<div class='covsev-end'>{text}</div>"


#: What a rater who did not meet the training threshold reads (page end screen and hub status).
FAILED_NEXT = ("The blinded study stays closed for now. Your study coordinator sees this result; "
               "they will go through the cases furthest from the reference with you and can open a "
               "new training round for you (the first one stays on record). Reload this page once they "
               "have.")


def training_summary_html(summary: dict) -> str:
    """End of a training round: MAE against the reference per component and the cases furthest off.

    Examples
    --------
    >>> import pandas as pd
    >>> s = {"mae": pd.DataFrame([{"scale": "opacity", "component": "total", "mae": 0.5, "n": 4}]),
    ...      "furthest": [(3, 2.0, {"Opacity": -2.0})], "result": None}
    >>> "Case 3 (Opacity total -2)" in training_summary_html(s)
    True
    """
    rows = "".join(f"<tr><td>{esc(r.scale)}</td><td>{esc(r.component)}</td><td>{r.mae:.2f}</td>"
                   f"<td>{r.n}</td></tr>" for r in summary["mae"].itertuples())
    furthest = "; ".join(f"Case {item[0]} (" + ", ".join(f"{esc(scale)} total {d:+g}" for scale, d in item[2].items())
                         + ")" for item in summary["furthest"]) or "none"
    text = ("<h3>Training summary</h3><table class='covsev-table'><tr><th>Scale</th><th>Component</th>"
            f"<th>Mean absolute error</th><th>Cases</th></tr>{rows}</table>"
            f"<p>Furthest from the reference (your total minus the reference, per scale): {furthest}.</p>")
    result = summary.get("result")
    if result is not None:
        verdict = "met" if result["passed"] else "not met"
        text += (f"<p class='covsev-{'ok' if result['passed'] else 'error'}'>Training threshold "
                 f"(mean absolute error of each total at most {result['max_mae']:g}): {verdict}.</p>")
    return text
