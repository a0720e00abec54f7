"""Blinded scoring app: one rater scores the cases of a cohort in their own seeded order.

The app is built from the cohort's scale definitions (any scale, e.g. Brixia, needs no code
change), shows only the position ("Case 3 of 40") and the display image, and writes every save to
the rater's own append-only file through :class:`covsev_tools.labels.store.LabelStore` before it says
"saved".  It resumes at the first case of the rater's order that has no saved record.

Run it in JupyterLab (``notebooks/01_blinded_scoring.ipynb``) or as a code-free page::

    COVSEV_COHORT=cohorts/pilot voila notebooks/01_blinded_scoring.ipynb

Examples
--------
>>> app = ScoringApp("cohorts/pilot", rater="rad1", labels_dir="labels")   # doctest: +SKIP
>>> app.widget                                                              # doctest: +SKIP
"""
from __future__ import annotations

import html
import os
import time
import uuid
from dataclasses import dataclass

import ipywidgets as W

from covsev_tools.labels.store import LabelStore, StoreError, utc_now, validate_rater_id
from covsev_tools.scoring.viewer import KeyCatcher, XrayViewer

COHORT_ENV, RATER_ENVS = "COVSEV_COHORT", ("COVSEV_RATER", "JUPYTERHUB_USER")

NOT_ASSESSABLE_REASONS = (
    "Poor positioning or rotation",
    "Under- or over-exposed",
    "Not a frontal chest X-ray",
    "Lungs obscured or cut off",
    "Other (see comment)",
)

#: Keyboard shortcuts (key name as the browser reports it -> what it does), shown on screen.
SHORTCUTS = (
    ("0-9", "score the highlighted lung/zone, then move to the next one"),
    ("↑ / ↓", "highlight the previous / next lung or zone"),
    ("Enter", "save and go to the next case"),
    ("← / →", "previous case / next case (already scored); Go to: any scored case"),
    ("N", "not assessable: press again to change the reason, once more to clear"),
    ("C", "write a comment (Esc leaves the box, Ctrl+Enter saves)"),
    ("+ / −", "zoom in / out (mouse: wheel; drag to pan)"),
    ("Shift+↑ / ↓", "brightness up / down (mouse: right- or shift-drag)"),
    ("Shift+→ / ←", "contrast up / down"),
    ("I / R", "invert / reset the image (mouse: double-click resets)"),
)

_STYLE = """<style>
.covsev-app .covsev-active { background: #fff3c4; border-radius: 4px; }
.covsev-app .covsev-ok { color: #1a7f37; font-weight: bold; }
.covsev-app .covsev-error { color: #b42318; font-weight: bold; }
.covsev-app .covsev-legend { font-size: 90%; color: #444; }
.covsev-app .covsev-keys-help td { padding: 0 0.6em 0 0; font-size: 90%; }
.covsev-app kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 3px; background: #f6f6f6; }
</style>"""


class ScoringSetupError(Exception):
    """The app cannot start: no cohort given, unreadable cohort, or bad rater ID."""


@dataclass(frozen=True)
class Field:
    """One thing to score: a component (lung or zone) of a scale."""

    scale: object
    component: object

    @property
    def key(self) -> tuple[str, str]:
        """``(scale name, component key)``, e.g. ``("extent", "right")``."""
        return (self.scale.name, self.component.key)

    @property
    def label(self) -> str:
        """What the rater reads, e.g. ``"Geographic extent: Right lung"``."""
        return f"{self.scale.title}: {self.component.label}"


def rater_from_env() -> str | None:
    """Rater ID from ``COVSEV_RATER`` or else ``JUPYTERHUB_USER`` (None when neither is set)."""
    for name in RATER_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _esc(text) -> str:
    return html.escape(str(text))


class ScoringApp:
    """Widget app for one rater's blinded scoring session.

    Parameters
    ----------
    cohort_dir : str or Path, optional
        Cohort folder; default ``$COVSEV_COHORT``.
    rater : str, optional
        Rater ID; default ``$COVSEV_RATER`` or ``$JUPYTERHUB_USER``; if none, the app asks.
    labels_dir : str or Path, optional
        Root of the label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole app; display it as the last expression of a cell.
    store : LabelStore
        Where the saves go.

    Examples
    --------
    >>> app = ScoringApp("cohorts/demo", rater="rad1")          # doctest: +SKIP
    >>> app.score_buttons[("extent", "right")][2].click()        # doctest: +SKIP
    >>> app.keys.simulate("Enter")                               # doctest: +SKIP
    """

    def __init__(self, cohort_dir=None, rater: str | None = None, labels_dir=None):
        from covsev_tools.cohort.cohort import Cohort, CohortError

        cohort_dir = cohort_dir or os.environ.get(COHORT_ENV)
        if not cohort_dir:
            raise ScoringSetupError(f"no cohort given: set {COHORT_ENV} to the cohort folder")
        try:
            self.cohort = Cohort.load(cohort_dir)
            self.scales = list(self.cohort.scales)
        except (CohortError, ValueError) as exc:
            raise ScoringSetupError(str(exc)) from None
        self.store = LabelStore(labels_dir, self.cohort.name)
        self.session_id = uuid.uuid4().hex
        self.fields = [Field(s, c) for s in self.scales for c in s.components]
        self.rater, self.order, self.index, self.active = None, [], 0, 0
        self.scores: dict[tuple[str, str], int | None] = {}
        self._latest: dict[str, dict] = {}
        self._shown_at, self._clock, self._preloaded, self._loading = None, 0.0, None, False
        self._syncing = False
        self._build()
        rater = rater or rater_from_env()
        if rater:
            self.start(rater)

    # ------------------------------------------------------------------ building the widgets

    def _build(self) -> None:
        self.viewer = XrayViewer(layout=W.Layout(width="100%"))
        self.keys = KeyCatcher(bindings=self._bindings())
        self.keys.on_key(self.on_key)
        self.header = W.HTML()
        self.progress = W.IntProgress(min=0, max=1, layout=W.Layout(width="100%"))
        self.status = W.HTML()
        self.score_buttons: dict[tuple[str, str], dict[int, W.Button]] = {}
        self.field_labels: dict[tuple[str, str], W.HTML] = {}
        self.level_texts: dict[tuple[str, str], W.HTML] = {}
        self.total_labels: dict[str, W.HTML] = {}
        scoring = W.VBox([self._scale_panel(s) for s in self.scales])
        self.scoring_box = W.VBox([scoring, self._assessability_panel(), self._comment_box()])
        self.case_panel = W.VBox([self.scoring_box, self._nav_bar(), self.status, self._help()],
                                 layout=W.Layout(flex="2 1 0", min_width="24em", padding="0 0 0 1em"))
        image_panel = W.VBox([self.viewer, self._view_toolbar()], layout=W.Layout(flex="3 1 0"))
        self.session_box = W.VBox([self.header, self.progress, W.HBox([image_panel, self.case_panel])])
        self.login_box = self._login_box()
        self.widget = W.VBox([W.HTML(_STYLE), self.keys, self.login_box])
        self.widget.add_class("covsev-app")

    def _bindings(self) -> list[str]:
        top = max(max(s.values) for s in self.scales)
        digits = [str(v) for v in range(min(top, 9) + 1)]
        arrows = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "PageUp", "PageDown"]
        shifted = ["Shift+ArrowUp", "Shift+ArrowDown", "Shift+ArrowLeft", "Shift+ArrowRight"]
        return digits + arrows + shifted + ["Enter", "Ctrl+Enter", "n", "c", "+", "=", "-", "i", "r"]

    def _scale_panel(self, scale) -> W.VBox:
        self.total_labels[scale.name] = W.HTML()
        legend = " · ".join(f"<b>{lv.value}</b> {_esc(lv.text)}" for lv in scale.levels)
        rows = [self._component_row(scale, c) for c in scale.components]
        title = W.HTML(f"<h3 style='margin:0.4em 0 0'>{_esc(scale.title)}</h3>"
                       f"<div class='covsev-legend'>{legend}</div>")
        return W.VBox([title, *rows, self.total_labels[scale.name]])

    def _component_row(self, scale, component) -> W.HBox:
        key = (scale.name, component.key)
        buttons = {}
        for level in scale.levels:
            button = W.Button(description=str(level.value), tooltip=level.text,
                              layout=W.Layout(width="3em"))
            button.on_click(lambda _b, k=key, v=level.value: self.click_score(k, v))
            buttons[level.value] = button
        self.score_buttons[key] = buttons
        self.field_labels[key] = W.HTML(layout=W.Layout(width="11em"))
        self.level_texts[key] = W.HTML(layout=W.Layout(width="auto"))
        row = W.HBox([self.field_labels[key], *buttons.values(), self.level_texts[key]])
        row.add_class(f"covsev-row-{scale.name}-{component.key}")  # scale/component keys only
        return row

    def _assessability_panel(self) -> W.HBox:
        self.not_assessable = W.ToggleButton(description="Not assessable (N)", icon="ban",
                                             layout=W.Layout(width="auto"))
        self.reason = W.Dropdown(options=NOT_ASSESSABLE_REASONS, value=None,
                                 description="Reason", layout=W.Layout(width="auto"))
        self.not_assessable.observe(lambda _c: self._refresh(), "value")
        self.reason.observe(lambda _c: self._refresh(), "value")
        return W.HBox([self.not_assessable, self.reason])

    def _comment_box(self) -> W.Textarea:
        self.comment = W.Textarea(placeholder="Comment (optional) — press C", rows=2,
                                  layout=W.Layout(width="95%"))
        return self.comment

    def _nav_bar(self) -> W.HBox:
        self.prev_button = W.Button(description="Previous (←)", icon="arrow-left")
        self.save_button = W.Button(description="Save and next (Enter)", icon="check",
                                    button_style="success", layout=W.Layout(width="auto"))
        self.next_button = W.Button(description="Next (→)", icon="arrow-right")
        self.prev_button.on_click(lambda _b: self.previous_case())
        self.save_button.on_click(lambda _b: self.save_and_next())
        self.next_button.on_click(lambda _b: self.next_case())
        # A list rather than a number box: Enter in a one-line box means "save" in this app.
        self.jump = W.Dropdown(description="Go to", options=[], layout=W.Layout(width="12em"),
                               style={"description_width": "initial"})
        self.jump.observe(self._on_jump, names="value")
        return W.HBox([self.prev_button, self.save_button, self.next_button, self.jump],
                      layout=W.Layout(flex_flow="row wrap"))

    def _view_toolbar(self) -> W.HBox:
        actions = [("−", "Zoom out (−)", lambda: self.viewer.zoom_by(1 / 1.25)),
                   ("+", "Zoom in (+)", lambda: self.viewer.zoom_by(1.25)),
                   ("Invert", "Invert (I)", self._toggle_invert),
                   ("Reset", "Reset view (R)", self.viewer.reset_view)]
        buttons = []
        for text, tip, action in actions:
            button = W.Button(description=text, tooltip=tip, layout=W.Layout(width="auto"))
            button.on_click(lambda _b, a=action: a())
            buttons.append(button)
        self.view_buttons = {b.description: b for b in buttons}
        sliders = [self._view_slider("Brightness", "brightness"), self._view_slider("Contrast", "contrast")]
        return W.HBox(buttons + sliders, layout=W.Layout(flex_flow="row wrap"))

    def _view_slider(self, text: str, trait: str) -> W.FloatSlider:
        slider = W.FloatSlider(value=1.0, min=0.2, max=4.0, step=0.05, description=text,
                               readout_format=".2f", layout=W.Layout(width="20em"))
        W.link((self.viewer, trait), (slider, "value"))
        return slider

    def _help(self) -> W.HTML:
        rows = "".join(f"<tr><td><kbd>{_esc(k)}</kbd></td><td>{_esc(v)}</td></tr>" for k, v in SHORTCUTS)
        return W.HTML(f"<details open><summary>Keyboard shortcuts</summary>"
                      f"<table class='covsev-keys-help'>{rows}</table></details>")

    def _login_box(self) -> W.VBox:
        self.rater_input = W.Text(placeholder="your rater ID", description="Rater ID")
        self.start_button = W.Button(description="Start (Enter)", button_style="primary")
        self.start_button.on_click(lambda _b: self.start(self.rater_input.value.strip()))
        self.login_status = W.HTML()
        intro = W.HTML("<h3>Blinded scoring</h3><p>Enter the rater ID you were given.</p>")
        return W.VBox([intro, W.HBox([self.rater_input, self.start_button]), self.login_status])

    # ------------------------------------------------------------------ session

    def start(self, rater: str) -> bool:
        """Open the session of ``rater`` at their first unscored case; False if the ID is refused."""
        try:
            validate_rater_id(rater)
            order = self.cohort.reading_order(rater)
        except ValueError as exc:
            self.login_status.value = f"<span class='covsev-error'>{_esc(exc)}</span>"
            return False
        self.rater, self.order = rater, order
        self._latest = {cid: rec for (_, cid), rec in self.store.latest(rater).items()}
        self.widget.children = (self.widget.children[0], self.keys, self.session_box)
        self.go_to(self.first_unscored())
        return True

    def first_unscored(self) -> int:
        """Index (0-based) of the first case of the order without a saved record; N when done."""
        return next((i for i, cid in enumerate(self.order) if cid not in self._latest), len(self.order))

    @property
    def done(self) -> bool:
        """True when every case of the rater's order has a saved record."""
        return self.first_unscored() == len(self.order)

    def go_to(self, index: int) -> None:
        """Show the case at ``index`` (0-based) of the rater's order, or the end screen."""
        self.index = max(0, min(index, len(self.order)))
        if self.index == len(self.order):
            self._show_end()
            return
        display_id = self.order[self.index]
        self._show_image(display_id)
        self._load_record(self._latest.get(display_id))
        self._shown_at, self._clock = utc_now(), time.monotonic()
        self.scoring_box.layout.display = None
        self._refresh()
        self._preload(self.index + 1)  # after the visible updates, so they do not queue behind it

    def _show_image(self, display_id: str) -> None:
        if self._preloaded and self._preloaded[0] == display_id and self._preloaded[1] in self.viewer._images:
            self.viewer.show(token=self._preloaded[1])
        else:
            self.viewer.show(self.cohort.display_image_path(display_id).read_bytes())
        self.viewer.reset_view()

    def _preload(self, index: int) -> None:
        """Send the next case's image now so that 'save and next' shows it at once."""
        if index < len(self.order):
            display_id = self.order[index]
            png = self.cohort.display_image_path(display_id).read_bytes()
            self._preloaded = (display_id, self.viewer.preload(png))

    def _load_record(self, record: dict | None) -> None:
        self._loading = True
        try:
            self.scores = {f.key: None for f in self.fields}
            record = record or {}
            if not record.get("not_assessable"):
                for name, entry in record.get("scales", {}).items():
                    for comp, value in (entry.get("scores") or {}).items():
                        if (name, comp) in self.scores:
                            self.scores[(name, comp)] = value
            self.not_assessable.value = bool(record.get("not_assessable"))
            self.reason.value = record.get("not_assessable_reason") if self.not_assessable.value else None
            self.comment.value = record.get("comment") or ""
            self.active = 0
        finally:
            self._loading = False

    def _show_end(self) -> None:
        self.viewer.show(token="")
        self.scoring_box.layout.display = "none"
        self._refresh()
        self.status.value = (f"<span class='covsev-ok'>All {len(self.order)} cases are scored — thank "
                             "you. Use ← or Previous to review or change a case.</span>")

    # ------------------------------------------------------------------ scoring actions

    def click_score(self, key: tuple[str, str], value: int) -> None:
        """Set one component's score (a button or digit key) and highlight the next field."""
        self.scores[key] = value
        position = [f.key for f in self.fields].index(key)
        self.active = min(position + 1, len(self.fields) - 1)
        self._refresh()

    def type_digit(self, value: int) -> None:
        """Digit key: score the highlighted field if ``value`` is one of its levels."""
        field = self.fields[self.active]
        if value not in field.scale.values:
            self._say_error(f"{value} is not a level of {field.label} "
                            f"(allowed {min(field.scale.values)}–{max(field.scale.values)})")
            return
        self.click_score(field.key, value)

    def move_active(self, step: int) -> None:
        """Highlight the previous (-1) or next (+1) field."""
        self.active = (self.active + step) % len(self.fields)
        self._refresh()

    def cycle_not_assessable(self) -> None:
        """N key: mark not assessable with the first reason, then the next reason, then clear."""
        if not self.not_assessable.value:
            self.not_assessable.value, self.reason.value = True, NOT_ASSESSABLE_REASONS[0]
            return
        reasons = list(NOT_ASSESSABLE_REASONS)
        position = reasons.index(self.reason.value) if self.reason.value in reasons else -1
        if position + 1 < len(reasons):
            self.reason.value = reasons[position + 1]
        else:
            self.not_assessable.value, self.reason.value = False, None

    def _toggle_invert(self) -> None:
        self.viewer.invert = not self.viewer.invert

    def missing(self) -> list[str]:
        """What still prevents saving the current case (empty when it can be saved)."""
        if self.not_assessable.value:
            return [] if self.reason.value else ["a reason for 'not assessable'"]
        return [f.label for f in self.fields if self.scores.get(f.key) is None]

    def save(self) -> dict | None:
        """Save the current case; returns the record once it is on disk, None if refused."""
        if self.rater is None or self.index >= len(self.order):
            return None
        missing = self.missing()
        if missing:
            self._say_error("Not saved — still to score: " + "; ".join(missing))
            return None
        try:
            record = self.store.save(self.build_record())
        except StoreError as exc:
            self._say_error(f"NOT SAVED — {exc}. Please tell the study coordinator.")
            return None
        self._latest[record["case_id"]] = record
        self.status.value = (f"<span class='covsev-ok'>✓ Saved case {self.index + 1} of "
                             f"{len(self.order)}</span>")
        return record

    def build_record(self) -> dict:
        """The record of the current case (see the record schema in ``docs/ARCHITECTURE.md``)."""
        blind = self.not_assessable.value
        scales = {}
        for scale in self.scales:
            scores = {c.key: (None if blind else self.scores[(scale.name, c.key)]) for c in scale.components}
            scales[scale.name] = {"version": scale.version, "scores": scores,
                                  "total": None if blind else scale.total(scores)}
        return {
            "case_id": self.order[self.index], "rater": self.rater,  # the store adds schema and record_id
            "session_id": self.session_id, "position": self.index + 1, "scales": scales,
            "not_assessable": blind, "not_assessable_reason": self.reason.value if blind else None,
            "comment": self.comment.value, "time_shown": self._shown_at,
            "seconds_on_case": round(time.monotonic() - self._clock, 3),
        }

    def save_and_next(self) -> bool:
        """Save, then show the next case; stays on the case (with the reason) if refused."""
        if self.save() is None:
            return False
        saved = self.status.value
        self.go_to(self.index + 1)
        if self.index < len(self.order):
            self.status.value = saved
        return True

    def previous_case(self) -> None:
        """Go back one case (any earlier case can be changed and saved again)."""
        if self.index > 0:
            self.go_to(self.index - 1)
            self.status.value = ""

    def reachable(self) -> int:
        """How many positions of the order can be opened: every scored case and the next one."""
        return min(self.first_unscored() + 1, len(self.order))

    def jump_to(self, position: int) -> bool:
        """Show case ``position`` (1-based) of the order; only up to the first unscored case."""
        if not 1 <= position <= self.reachable():
            self._say_error(f"Cases 1-{self.reachable()} can be opened (the order cannot be skipped)")
            return False
        self.go_to(position - 1)
        self.status.value = ""
        return True

    def _on_jump(self, change) -> None:
        if not self._syncing and change["new"] is not None and change["new"] != self.index + 1:
            self.jump_to(change["new"])

    def next_case(self) -> None:
        """Go forward one case without saving; only up to the first unscored case."""
        if self.index < self.first_unscored():
            self.go_to(self.index + 1)
            if self.index < len(self.order):
                self.status.value = ""
        else:
            self._say_error("Score this case first (the order cannot be skipped)")

    def on_key(self, key: str) -> None:
        """Dispatch a key press from the browser (see :data:`SHORTCUTS`)."""
        if self.rater is None:
            if key == "Enter":
                self.start(self.rater_input.value.strip())
            return
        action = self._key_actions().get(key)
        if action is not None:
            action()
        elif key.isdigit() and self.index < len(self.order):
            self.type_digit(int(key))

    def _key_actions(self) -> dict:
        v = self.viewer
        return {
            "Enter": self.save_and_next, "Ctrl+Enter": self.save_and_next,
            "ArrowUp": lambda: self.move_active(-1), "ArrowDown": lambda: self.move_active(1),
            "ArrowLeft": self.previous_case, "PageUp": self.previous_case,
            "ArrowRight": self.next_case, "PageDown": self.next_case,
            "n": self.cycle_not_assessable, "c": self.comment.focus,
            "+": lambda: v.zoom_by(1.25), "=": lambda: v.zoom_by(1.25), "-": lambda: v.zoom_by(0.8),
            "i": self._toggle_invert, "r": v.reset_view,
            "Shift+ArrowUp": lambda: v.adjust(brightness=1.1), "Shift+ArrowDown": lambda: v.adjust(brightness=1 / 1.1),
            "Shift+ArrowRight": lambda: v.adjust(contrast=1.1), "Shift+ArrowLeft": lambda: v.adjust(contrast=1 / 1.1),
        }

    # ------------------------------------------------------------------ display

    def _say_error(self, text: str) -> None:
        self.status.value = f"<span class='covsev-error'>{_esc(text)}</span>"

    def _refresh(self) -> None:
        """Redraw header, buttons, live totals and the highlighted field from the state."""
        if self._loading or self.rater is None:
            return
        scored, total = len(self._latest), len(self.order)
        here = (f"Case {self.index + 1} of {total}" if self.index < total else f"{total} of {total} done")
        self.header.value = (f"<h2 style='margin:0.2em 0'>{here}</h2><div>{scored} of {total} scored · "
                             f"rater {_esc(self.rater)}</div>")
        self.progress.max, self.progress.value = max(total, 1), scored
        blind = self.not_assessable.value
        self.reason.layout.display = None if blind else "none"
        for position, field in enumerate(self.fields):
            self._refresh_field(position, field, blind)
        for scale in self.scales:
            self._refresh_total(scale, blind)
        self.prev_button.disabled = self.index == 0
        self.next_button.disabled = self.index >= self.first_unscored()
        self._sync_jump()

    def _sync_jump(self) -> None:
        """List the openable positions (no IDs: positions only) and select the current one."""
        self._syncing = True
        try:
            if len(self.jump.options) != self.reachable():
                self.jump.options = [(f"Case {p}", p) for p in range(1, self.reachable() + 1)]
            self.jump.value = self.index + 1 if self.index < len(self.order) else None
        finally:
            self._syncing = False

    def _refresh_field(self, position: int, field: Field, blind: bool) -> None:
        value = self.scores.get(field.key)
        for level, button in self.score_buttons[field.key].items():
            button.button_style = "info" if level == value else ""
            button.disabled = blind
        active = position == self.active and not blind
        marker = "▶ " if active else ""
        self.field_labels[field.key].value = (
            f"<span class='{'covsev-active' if active else ''}'>{marker}{_esc(field.component.label)}</span>")
        text = field.scale.level_text(value) if value is not None else "—"
        self.level_texts[field.key].value = f"<i>{_esc(text)}</i>"

    def _refresh_total(self, scale, blind: bool) -> None:
        values = [self.scores.get((scale.name, c.key)) for c in scale.components]
        if blind:
            shown = "not assessable"
        elif None in values:
            shown = f"— / {scale.max_total} ({values.count(None)} to score)"
        else:
            shown = f"{sum(values)} / {scale.max_total}"
        self.total_labels[scale.name].value = f"<b>Total {_esc(scale.title.lower())}: {shown}</b>"


def launch(cohort_dir=None, rater: str | None = None, labels_dir=None):
    """The app's widget, or a plain message widget when it cannot start (for notebooks/Voila).

    Examples
    --------
    >>> launch()            # reads COVSEV_COHORT, COVSEV_RATER, COVSEV_LABELS_DIR  # doctest: +SKIP
    """
    try:
        return ScoringApp(cohort_dir, rater=rater, labels_dir=labels_dir).widget
    except ScoringSetupError as exc:
        return W.HTML(f"<p style='color:#b42318'><b>The scoring app cannot start:</b> {_esc(exc)}</p>")
