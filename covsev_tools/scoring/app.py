"""The scoring page (ipywidgets): draws a :class:`~covsev_tools.scoring.session.ScoringSession`.

The page is built from the cohort's scale definitions (any scale, e.g. Brixia, needs no code
change), shows only the position ("Case 3 of 40") and the display image, and forwards every
click and key to the session, which saves through the label store before the page says "saved".
On JupyterHub the rater is the login (``$JUPYTERHUB_USER``) and no rater field is shown.  A
folder made by ``covsev training build`` opens as a clearly marked training round with the
reference shown after each case; a study that requires training opens it first.

Run it in JupyterLab (``notebooks/01_blinded_scoring.ipynb``) or as a code-free page::

    COVSEV_COHORT=cohorts/pilot voila notebooks/01_blinded_scoring.ipynb

Examples
--------
>>> app = ScoringApp("cohorts/pilot", rater="rad1", labels_dir="labels")   # doctest: +SKIP
>>> app.widget                                                              # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as W

from covsev_tools.labels.store import LabelStore
from covsev_tools.scoring import panels, training_view
from covsev_tools.scoring.render import end_html, esc, logout_html, status_html
from covsev_tools.scoring.adjudication_view import ADJUDICATOR_ENV, launch_adjudication
from covsev_tools.scoring.access import (NO_CASES_ENV, ScoringSetupError, hub_logout_url, hub_user,
                                         load_cohort, rater_from_env)
from covsev_tools.scoring.session import NOT_ASSESSABLE_REASONS, Message, ScoringSession
from covsev_tools.scoring.training import DEFAULT_MAX_MAE, TRAINING_FILE, TrainingError, TrainingSet, training_requirement
from covsev_tools.scoring.viewer import PRELOAD_DELAY, XrayViewer, later

__all__ = ["NOT_ASSESSABLE_REASONS", "ScoringApp", "ScoringSetupError", "launch"]

#: Keyboard shortcuts (key name as the browser reports it -> what it does), shown on screen.
SHORTCUTS = (
    ("0-9", "score the highlighted lung/zone, then move to the next one"),
    ("↑ / ↓", "highlight the previous / next lung or zone"),
    ("Enter", "save and go on (training: first the reference, then the next case)"),
    ("← / →", "previous case / next case (already scored); Go to: any scored case"),
    ("N", "not assessable: press again to change the reason, once more to clear"),
    ("C", "write a comment (Esc leaves the box, Ctrl+Enter saves)"),
    ("+ / −", "zoom in / out (mouse: wheel; drag to pan)"),
    ("Shift+↑ / ↓", "brightness up / down (mouse: right- or shift-drag)"),
    ("Shift+→ / ←", "contrast up / down"),
    ("I / R", "invert / reset the image (mouse: double-click resets)"),
)


class ScoringApp:
    """Widget page of one rater's blinded scoring session (or training round).

    Parameters
    ----------
    cohort_dir : str or Path, optional
        Cohort folder (or training set folder); default ``$COVSEV_COHORT``.
    rater : str, optional
        Rater ID; on JupyterHub always the login; else ``$COVSEV_RATER``; if none, the page asks.
    labels_dir : str or Path, optional
        Root of the label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.
    on_passed : callable, optional
        Training round only: called when the rater opens the study after passing.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole page; display it as the last expression of a cell.
    session : ScoringSession or None
        The state drawn (None until the rater is known).

    Examples
    --------
    >>> app = ScoringApp("cohorts/demo", rater="rad1")          # doctest: +SKIP
    >>> app.score_buttons[("extent", "right")][2].click()        # doctest: +SKIP
    >>> app.keys.simulate("Enter")                               # doctest: +SKIP
    """

    def __init__(self, cohort_dir=None, rater: str | None = None, labels_dir=None, *, on_passed=None,
                 max_mae: float | None = None):
        self.cohort = load_cohort(cohort_dir)
        self.labels_dir, self.on_passed = labels_dir, on_passed
        self.max_mae = DEFAULT_MAX_MAE if max_mae is None else max_mae
        self.training_set = self._training_set()
        self.store = (self.training_set.store(labels_dir) if self.training_set
                      else LabelStore(labels_dir, self.cohort.name, scales=self.cohort.scales))
        self.scales = list(self.cohort.scales)
        self.session: ScoringSession | None = None
        self.training_result: dict | None = None
        self._loading, self._syncing = False, False
        self._build()
        login = hub_user()
        if rater and login and rater != login:
            raise ScoringSetupError(f"signed in as {login!r}: this page scores only as {login!r}")
        if login is None:  # off the hub the rater may type an ID; on the hub the login is the ID
            self.widget.children = (*self.widget.children, self.login_box)
        rater = rater or rater_from_env()
        if rater and not self.start(rater) and login:
            raise ScoringSetupError(f"signed in as {login!r}, which cannot score here: "
                                    f"{self.login_status.value}")

    def _training_set(self):
        if not (Path(self.cohort.dir) / TRAINING_FILE).is_file():
            return None
        try:
            return TrainingSet.load(self.cohort.dir)
        except TrainingError as exc:
            raise ScoringSetupError(str(exc)) from None

    # ------------------------------------------------------------------ state shortcuts

    rater = property(lambda self: self.session.rater if self.session else None)
    order = property(lambda self: self.session.order if self.session else [])
    index = property(lambda self: self.session.index if self.session else 0)
    scores = property(lambda self: self.session.scores if self.session else {})
    active = property(lambda self: self.session.active if self.session else 0)
    session_id = property(lambda self: self.session.session_id if self.session else None)
    _latest = property(lambda self: self.session.latest if self.session else {})
    done = property(lambda self: bool(self.session) and self.session.done)
    fields = property(lambda self: panels.fields_of(self.scales))

    # ------------------------------------------------------------------ building the widgets

    def _build(self) -> None:
        self.viewer = XrayViewer(layout=W.Layout(width="100%"))
        self.keys = panels.key_catcher(self.scales, self.on_key)
        self.header, self.status, self.feedback = W.HTML(), W.HTML(), W.HTML()
        self.progress = W.IntProgress(min=0, max=1, layout=W.Layout(width="100%"))
        self.score_buttons, self.field_labels, self.level_texts, self.total_labels = {}, {}, {}, {}
        scoring = W.VBox([panels.scale_panel(self, s) for s in self.scales])
        self.scoring_box = W.VBox([scoring, self._assessability_panel(), self._comment_box()])
        self.nav_bar = self._nav_bar()
        self.case_panel = W.VBox([self.scoring_box, self.nav_bar, self.status, self.feedback,
                                  W.HTML(panels.help_text(SHORTCUTS))],
                                 layout=W.Layout(flex="2 1 0", min_width="24em", padding="0 0 0 1em"))
        self.image_panel = W.VBox([self.viewer, panels.view_toolbar(self)], layout=W.Layout(flex="3 1 0"))
        self.end_panel = W.HTML(layout=W.Layout(display="none"))
        self.study_button = W.Button(description="Open the blinded cases", button_style="primary",
                                     layout=W.Layout(display="none", width="auto"))
        self.study_button.on_click(lambda _b: self.on_passed and self.on_passed())
        self.banner = W.HTML(training_view.BANNER if self.training_set else "")
        self.session_box = W.VBox([self.banner, self.header, self.progress, self.end_panel, self.study_button,
                                   W.HBox([self.image_panel, self.case_panel])])
        self.login_box = self._login_box()
        self.gate_box = W.VBox()
        self.logout = W.HTML(logout_html(hub_logout_url()))  # on JupyterHub only
        self.widget = W.VBox([W.VBox([panels.style_widget(), self.logout]), self.keys])
        self.widget.add_class("covsev-app")

    def _assessability_panel(self) -> W.HBox:
        self.not_assessable = W.ToggleButton(description="Not assessable (N)", layout=W.Layout(width="auto"))
        self.reason = W.Dropdown(options=NOT_ASSESSABLE_REASONS, value=None,
                                 description="Reason", layout=W.Layout(width="auto"))
        self.not_assessable.observe(self._on_assessability, "value")
        self.reason.observe(self._on_assessability, "value")
        return W.HBox([self.not_assessable, self.reason])

    def _comment_box(self) -> W.Textarea:
        self.comment = W.Textarea(placeholder="Comment (optional) — press C", rows=2,
                                  layout=W.Layout(width="95%"))
        self.comment.observe(lambda c: self._loading or not self.session or self.session.set_comment(c["new"]),
                             "value")
        return self.comment

    def _nav_bar(self) -> W.HBox:
        self.prev_button = W.Button(description="← Previous")
        self.save_button = W.Button(description="Save and next (Enter)", button_style="success",
                                    layout=W.Layout(width="auto"))
        self.next_button = W.Button(description="Next →")
        self.prev_button.on_click(lambda _b: self.previous_case())
        self.save_button.on_click(lambda _b: self.save_and_next())
        self.next_button.on_click(lambda _b: self.next_case())
        # A list rather than a number box: Enter in a one-line box means "save" in this app.
        self.jump = W.Dropdown(description="Go to", options=[], layout=W.Layout(width="12em"),
                               style={"description_width": "initial"})
        self.jump.observe(self._on_jump, names="value")
        return W.HBox([self.prev_button, self.save_button, self.next_button, self.jump],
                      layout=W.Layout(flex_flow="row wrap"))

    def _login_box(self) -> W.VBox:
        self.rater_input = W.Text(placeholder="your rater ID", description="Rater ID")
        self.start_button = W.Button(description="Start (Enter)", button_style="primary")
        self.start_button.on_click(lambda _b: self.start(self.rater_input.value.strip()))
        self.login_status = W.HTML()
        intro = W.HTML("<h3>Blinded scoring</h3><p>Enter the rater ID you were given.</p>")
        return W.VBox([intro, W.HBox([self.rater_input, self.start_button]), self.login_status])

    # ------------------------------------------------------------------ session

    def start(self, rater: str) -> bool:
        """Open ``rater``'s session at their first unscored case; False if the ID is refused.

        A study that requires training shows the training round first when it is not passed.
        """
        try:
            session = ScoringSession(self.cohort, self.store, rater,
                                     reference=self.training_set.reference if self.training_set else None)
            requirement = None if self.training_set else training_requirement(self.cohort.dir)
        except (ScoringSetupError, TrainingError) as exc:
            self.login_status.value = status_html("error", str(exc))
            return False
        if requirement and not training_view.passed(requirement, rater, self.labels_dir):
            self.trainer = training_view.show_gate(self, requirement, rater)
            return True
        self._open(session)
        return True

    def _open(self, session: ScoringSession) -> None:
        self.session = session
        self.widget.children = (self.widget.children[0], self.keys, self.session_box)
        self._show()

    def go_to(self, index: int) -> None:
        """Show the case at ``index`` (0-based) of the rater's order, or the end screen."""
        self.session.go_to(index)
        self._show()

    def _show(self) -> None:
        """Draw the session: the image (or the end screen), the entry, and preload the next image."""
        at_end = self.session.at_end
        self.image_panel.layout.display = "none" if at_end else None
        self.scoring_box.layout.display = "none" if at_end else None
        self.save_button.layout.display = "none" if at_end else None
        self.save_button.disabled = at_end
        self.end_panel.layout.display = None if at_end else "none"
        if at_end:
            self.viewer.show(token="")
            training = training_view.round_summary(self)
            self.training_result = training["result"] if training else None
            self.end_panel.value = end_html(self.session.summary(), training)
            passed = bool(training and training["result"]["passed"] and self.on_passed)
            self.study_button.layout.display = None if passed else "none"
        else:
            self._show_image(self.session.index)
        self._sync_widgets()
        self._refresh()
        if not at_end:  # after the visible updates (and other raters'), so they do not queue behind it
            later(PRELOAD_DELAY, self._preload_next)

    def _show_image(self, index: int) -> None:
        token = self.viewer.preloaded(self.session.order[index])
        # the preloaded image by its token, else the bytes now (None: no image, the status says why)
        self.viewer.show(None if token else self.session.image_bytes(index), token=token)
        self.viewer.reset_view()

    def _preload_next(self) -> None:
        """Send the next case's image ahead, so that 'save and next' shows it at once."""
        index = None if self.session is None or self.session.at_end else self.session.index + 1
        path = None if index is None else self.session.image_path(index)
        if path is None or not os.access(path, os.R_OK):  # an unreadable one is reported when shown
            return
        if not self.viewer.preloaded(self.session.order[index]):
            self.viewer.preload(path.read_bytes(), key=self.session.order[index])

    def _sync_widgets(self) -> None:
        """Put the session's entry into the not-assessable, reason and comment widgets."""
        self._loading = True
        try:
            self.not_assessable.value = self.session.not_assessable
            self.reason.value = self.session.reason
            self.comment.value = self.session.comment
        finally:
            self._loading = False

    # ------------------------------------------------------------------ actions

    def _act(self, action, *args, show: bool = False):
        """Run a session action and redraw (the whole case when it may have changed)."""
        result = action(*args)
        self._show() if show else self._refresh()
        return result

    def click_score(self, key: tuple[str, str], value: int) -> None:
        """A score button: set one component's score and highlight the next field."""
        self._act(self.session.set_score, key, value)

    def type_digit(self, value: int) -> None:
        """Digit key: score the highlighted field if ``value`` is one of its levels."""
        self._act(self.session.type_digit, value)

    def move_active(self, step: int) -> None:
        """Highlight the previous (-1) or next (+1) field."""
        self._act(self.session.move_active, step)

    def cycle_not_assessable(self) -> None:
        """N key: not assessable with the first reason, then the next reason, then clear."""
        self.session.cycle_not_assessable()
        self._sync_widgets()
        self._refresh()

    def _on_assessability(self, _change) -> None:
        if self._loading or self.session is None:
            return
        self.session.set_not_assessable(self.not_assessable.value, self.reason.value)
        self._refresh()

    def save_and_next(self) -> bool:
        """Enter: save, then the first unscored case (training: first the reference)."""
        if self.session is None or self.session.at_end:
            return False
        before = self.session.index
        moved = self._act(self.session.advance)
        if self.session.index != before or self.session.at_end:
            self._show()
        return moved

    def previous_case(self) -> None:
        """Go back one case (any earlier case can be changed and saved again)."""
        self._act(self.session.previous, show=True)

    def next_case(self) -> None:
        """Go forward one case without saving; only up to the first unscored case."""
        before = self.session.index
        self.session.next()
        self._show() if self.session.index != before else self._refresh()

    def jump_to(self, position: int) -> bool:
        """Show case ``position`` (1-based) of the order; only up to the first unscored case."""
        if not self.session.jump_to(position):
            self._refresh()
            return False
        self._show()
        return True

    def _on_jump(self, change) -> None:
        if not self._syncing and change["new"] is not None and change["new"] != self.session.index + 1:
            self.jump_to(change["new"])

    def on_key(self, key: str) -> None:
        """Dispatch a key press from the browser (see :data:`SHORTCUTS`)."""
        if self.session is None:
            if key == "Enter" and self.login_box in self.widget.children:
                self.start(self.rater_input.value.strip())
            return
        action = self._key_actions().get(key)
        if action is not None:
            action()
        elif key.isdigit() and not self.session.at_end:
            self.type_digit(int(key))

    def _key_actions(self) -> dict:
        return {"Enter": self.save_and_next, "Ctrl+Enter": self.save_and_next,
                "ArrowUp": lambda: self.move_active(-1), "ArrowDown": lambda: self.move_active(1),
                "ArrowLeft": self.previous_case, "PageUp": self.previous_case,
                "ArrowRight": self.next_case, "PageDown": self.next_case,
                "n": self.cycle_not_assessable, "c": self.comment.focus,
                **panels.viewer_keys(self.viewer)}

    # ------------------------------------------------------------------ display

    def _refresh(self) -> None:
        """Redraw header, status, buttons, live totals, feedback and the highlighted field."""
        session = self.session
        if self._loading or session is None:
            return
        scored, total = session.summary()["scored"], len(session.order)  # records of dropped cases do not count
        here = f"Case {session.index + 1} of {total}" if not session.at_end else f"{total} of {total} done"
        mode = "training round" if session.training else "rater"
        self.header.value = (f"<h2 style='margin:0.2em 0'>{here}</h2><div>{scored} of {total} scored · "
                             f"{mode} {esc(session.rater)}</div>")
        self.progress.max, self.progress.value = max(total, 1), scored
        message = session.message
        failed = session.at_end and self.training_result and not self.training_result["passed"]
        if failed and message.kind != "error":
            message = Message("error", "Training threshold not met: the study stays closed (see below).")
        elif session.at_end and message.kind != "error":
            message = Message("ok", f"All {total} cases are scored — thank you. Nothing left to save.")
        self.status.value = status_html(message.kind, message.text)
        self.reason.layout.display = None if session.not_assessable else "none"
        panels.refresh_fields(self, session)
        self.prev_button.disabled = session.index == 0
        self.next_button.disabled = session.index >= session.first_unscored()
        training_view.refresh_feedback(self)
        self._sync_jump()

    def _sync_jump(self) -> None:
        """List the openable positions (no IDs: positions only) and select the current one."""
        self._syncing = True
        try:
            if len(self.jump.options) != self.session.reachable():
                self.jump.options = [(f"Case {p}", p) for p in range(1, self.session.reachable() + 1)]
            self.jump.value = None if self.session.at_end else self.session.index + 1
        finally:
            self._syncing = False


def launch(cohort_dir=None, rater: str | None = None, labels_dir=None):
    """The page's widget, or a plain message widget when it cannot start (for notebooks/Voila).

    With ``$COVSEV_ADJUDICATOR`` set, the adjudication page of the cohort instead.

    Examples
    --------
    >>> launch("/nowhere").value[:40]
    "<p style='color:#b42318'><b>The scoring "
    """
    if os.environ.get(ADJUDICATOR_ENV):  # a coordinator's adjudication page, same notebook
        return launch_adjudication(cohort_dir, None, labels_dir)
    if os.environ.get(NO_CASES_ENV) and cohort_dir is None:  # on the hub: a rater with nothing to score
        return W.HTML(f"{logout_html(hub_logout_url())}<div class='covsev-end'><h2>Nothing to score</h2>"
                      f"<p>{esc(os.environ[NO_CASES_ENV])}</p></div>")
    try:
        return ScoringApp(cohort_dir, rater=rater, labels_dir=labels_dir).widget
    except ScoringSetupError as exc:
        return W.HTML(f"<p style='color:#b42318'><b>The scoring app cannot start:</b> {esc(exc)}</p>")
