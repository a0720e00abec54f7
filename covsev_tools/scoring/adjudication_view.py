"""The adjudication page (ipywidgets): all raters' scores side by side, the image, the consensus.

Not blind by design, and the page says so.  The consensus entry uses the same score rows as the
scoring page; the reason box must be filled before Save.  Saves go through
:class:`covsev_tools.scoring.adjudication.Adjudication` (rater ``consensus`` in the label store).
"""
from __future__ import annotations

import ipywidgets as W

from covsev_tools.scoring.access import ScoringSetupError, hub_user, load_cohort
from covsev_tools.scoring.adjudication import ADJUDICATED_NOT_ASSESSABLE, Adjudication, AdjudicationError
from covsev_tools.scoring.panels import ScoreRows, ViewerToolbar, key_catcher, style_widget, viewer_keys
from covsev_tools.scoring.render import banner_html, esc, status_html
from covsev_tools.scoring.viewer import XrayViewer

ADJUDICATOR_ENV = "COVSEV_ADJUDICATOR"
BANNER = ("ADJUDICATION — NOT BLIND: every rater's scores are shown on purpose. The consensus you "
          "save is stored under the rater name 'consensus' with your name and reason.")


def readings_html(frame) -> str:
    """All raters' readings of a case as an HTML table (one row per rater).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"extent total": [3.0], "not_assessable": [False], "comment": ["<x>"]},
    ...                  index=pd.Index(["rad1"], name="rater"))
    >>> "&lt;x&gt;" in readings_html(f) and "<td>3</td>" in readings_html(f)
    True
    """
    columns = list(frame.columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in ["rater", *columns])
    body = []
    for rater, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if column == "not_assessable":
                value = "yes" if value == value and value is not None and bool(value) else ""  # NaN: no reading
            elif isinstance(value, float):
                value = "" if value != value else f"{value:g}"
            cells.append(f"<td>{esc(value if value is not None else '')}</td>")
        body.append(f"<tr><td>{esc(rater)}</td>{''.join(cells)}</tr>")
    return f"<table class='covsev-table'><tr>{head}</tr>{''.join(body)}</table>"


class AdjudicationApp:
    """Widget page of one adjudicator's pass over the discordant cases of a cohort.

    Parameters
    ----------
    cohort_dir : str or Path, optional
        Study cohort folder (coordinator side); default ``$COVSEV_COHORT``.
    adjudicator : str, optional
        Who adjudicates; on JupyterHub the login; else ``$COVSEV_ADJUDICATOR``.
    labels_dir : str or Path, optional
        Root of the label files.
    **thresholds
        ``component_threshold`` and ``total_threshold`` (see ``discordant_cases``).

    Examples
    --------
    >>> AdjudicationApp("cohorts/pilot", "senior1", "labels").widget   # doctest: +SKIP
    """

    def __init__(self, cohort_dir=None, adjudicator: str | None = None, labels_dir=None, **thresholds):
        import os

        adjudicator = adjudicator or hub_user() or os.environ.get(ADJUDICATOR_ENV)
        if not adjudicator:
            raise ScoringSetupError(f"no adjudicator named: set {ADJUDICATOR_ENV}")
        try:
            self.state = Adjudication(load_cohort(cohort_dir), adjudicator, labels_dir, **thresholds)
        except AdjudicationError as exc:
            raise ScoringSetupError(str(exc)) from None
        self.scales = self.state.scales
        self._build()
        self._show()

    def _build(self) -> None:
        self.viewer = XrayViewer(layout=W.Layout(width="100%"))
        self.keys = key_catcher(self.scales, self.on_key)
        self.header, self.readings, self.status = W.HTML(), W.HTML(), W.HTML()
        self.rows = ScoreRows(self.scales, on_score=self.click_score)
        self.not_assessable = W.ToggleButton(description="Not assessable", layout=W.Layout(width="auto"))
        self.not_assessable.observe(self._on_not_assessable, "value")
        self.reason = W.Textarea(placeholder="Reason for the consensus (required)", rows=3,
                                 layout=W.Layout(width="95%"))
        self.reason.observe(lambda c: self.state.entry.set_comment(c["new"]), "value")
        self.save_button = W.Button(description="Save consensus", button_style="success")
        self.prev_button, self.next_button = W.Button(description="← Previous"), W.Button(description="Next →")
        self.save_button.on_click(lambda _b: self.save())
        self.prev_button.on_click(lambda _b: self.go_to(self.state.index - 1))
        self.next_button.on_click(lambda _b: self.go_to(self.state.index + 1))
        case_panel = W.VBox([self.readings, W.HTML("<h3>Consensus</h3>"), self.rows.widget, self.not_assessable,
                             self.reason, W.HBox([self.prev_button, self.save_button, self.next_button]),
                             self.status], layout=W.Layout(flex="2 1 0", padding="0 0 0 1em"))
        self.toolbar = ViewerToolbar(self.viewer)
        image = W.VBox([self.viewer, self.toolbar.widget], layout=W.Layout(flex="3 1 0"))
        self.body = W.HBox([image, case_panel])
        self.widget = W.VBox([style_widget(), self.keys, W.HTML(banner_html("adjudication", BANNER)),
                              self.header, self.body])
        self.widget.add_class("covsev-app")

    # ------------------------------------------------------------------ actions

    def go_to(self, index: int) -> None:
        """Show discordant case ``index`` (0-based) with its saved consensus, if any."""
        self.state.go_to(index)
        self.status.value = ""
        self._show()

    def click_score(self, key, value) -> None:
        """A consensus score button."""
        self.state.entry.set_score(key, value)
        self._refresh()

    def _on_not_assessable(self, change) -> None:
        self.state.entry.set_not_assessable(bool(change["new"]), ADJUDICATED_NOT_ASSESSABLE)
        self._refresh()

    def save(self):
        """Save the consensus on screen; the record, or None with the reason on the page."""
        try:
            record = self.state.save_entry()
        except AdjudicationError as exc:
            self.status.value = status_html("error", str(exc))
            return None
        self.status.value = status_html("ok", f"✓ Consensus saved for discordant case {self.state.index + 1}")
        self._refresh()
        return record

    def on_key(self, key: str) -> None:
        """Image shortcuts and arrows; digits score the highlighted consensus field."""
        actions = {"ArrowLeft": lambda: self.go_to(self.state.index - 1),
                   "ArrowRight": lambda: self.go_to(self.state.index + 1), **viewer_keys(self.viewer)}
        if key in actions:
            actions[key]()
        elif key.isdigit() and self.state.case_id:
            try:
                self.state.entry.type_digit(int(key))
            except ValueError:  # not a level of the highlighted component: nothing to do
                return
            self._refresh()

    # ------------------------------------------------------------------ display

    def _show(self) -> None:
        if self.state.case_id is None:
            self.body.layout.display = "none"
            self.header.value = "<h2>No discordant case: nothing to adjudicate.</h2>"
            return
        try:
            self.viewer.show(self.state.image_path().read_bytes())
        except OSError as exc:  # a display file gone: say so, the scores can still be compared
            self.viewer.show(None)
            self.status.value = status_html("error", f"The image of this case cannot be shown "
                                                     f"({exc.strerror or exc}); run `covsev cohort create` again")
        self.viewer.reset_view()
        self.readings.value = "<h3>Raters' scores</h3>" + readings_html(self.state.readings())
        self.not_assessable.value, self.reason.value = self.state.entry.not_assessable, self.state.entry.comment
        self._refresh()

    def _refresh(self) -> None:
        cases, state = self.state.cases, self.state
        done = int(cases["adjudicated"].sum())
        self.header.value = (f"<h2 style='margin:0.2em 0'>Discordant case {state.index + 1} of {len(cases)}</h2>"
                             f"<div>{done} of {len(cases)} adjudicated · adjudicator {esc(state.adjudicator)} · "
                             f"why discordant: {esc(cases['reasons'].iloc[state.index])}</div>")
        self.rows.refresh(state.entry)
        self.prev_button.disabled = state.index == 0
        self.next_button.disabled = state.index >= len(cases) - 1


def launch_adjudication(cohort_dir=None, adjudicator: str | None = None, labels_dir=None, **thresholds):
    """The adjudication page's widget, or a plain message when it cannot start.

    Examples
    --------
    >>> "adjudication page cannot start" in launch_adjudication("/nowhere", "senior1").value
    True
    """
    try:
        return AdjudicationApp(cohort_dir, adjudicator, labels_dir, **thresholds).widget
    except ScoringSetupError as exc:
        return W.HTML(f"<p style='color:#b42318'><b>The adjudication page cannot start:</b> {esc(exc)}</p>")
