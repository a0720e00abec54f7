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

import ipywidgets as W

from covsev_tools.labels.remote import open_label_store
from covsev_tools.scoring.access import (NO_CASES_ENV, ScoringSetupError, hub_logout_url, hub_user,
                                         load_cohort, rater_from_env)
from covsev_tools.scoring.adjudication_view import ADJUDICATOR_ENV, launch_adjudication
from covsev_tools.scoring.panels import (SHORTCUTS, LoginBox, ScoreRows, ViewerToolbar, key_catcher, style_widget,
                                         viewer_keys)
from covsev_tools.scoring.render import (banner_html, end_html, esc, feedback_html, help_html, logout_html,
                                         status_html)
from covsev_tools.scoring.session import NOT_ASSESSABLE_REASONS, Message, ScoringSession
from covsev_tools.scoring.training import (DEFAULT_MAX_MAE, TrainingError, training_passed, training_requirement,
                                           training_set_in)
from covsev_tools.scoring.viewer import PRELOAD_DELAY, XrayViewer, later

__all__ = ["NOT_ASSESSABLE_REASONS", "ScoringApp", "ScoringSetupError", "launch"]

TRAINING_BANNER = "TRAINING ROUND — not part of the study: after each case you see the reference scores"


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
        The state drawn (None until the rater is known); the page keeps no state of its own.
    rows : ScoreRows
        The score buttons (``rows.buttons[(scale, component)][level]``), level texts and totals.
    toolbar : ViewerToolbar
        The image's zoom, invert, reset buttons and brightness/contrast sliders.
    keys : KeyCatcher
        The keyboard (``keys.simulate("Enter")`` presses a key).
    trainer : ScoringApp
        Only while a study that requires training shows its training round: that round's page.

    Examples
    --------
    >>> app = ScoringApp("cohorts/demo", rater="rad1")          # doctest: +SKIP
    >>> app.rows.buttons[("extent", "right")][2].click()        # doctest: +SKIP
    >>> app.keys.simulate("Enter")                               # doctest: +SKIP
    >>> app.session.entry.scores[("extent", "right")]            # doctest: +SKIP
    """

    def __init__(self, cohort_dir=None, rater: str | None = None, labels_dir=None, *, on_passed=None,
                 max_mae: float | None = None):
        self.cohort = load_cohort(cohort_dir)
        self.labels_dir, self.on_passed = labels_dir, on_passed
        self.max_mae = DEFAULT_MAX_MAE if max_mae is None else max_mae
        try:
            self.training_set = training_set_in(self.cohort.dir)
        except TrainingError as exc:
            raise ScoringSetupError(str(exc)) from None
        self.store = (self.training_set.page_store(labels_dir) if self.training_set
                      else open_label_store(labels_dir, self.cohort.name, scales=self.cohort.scales))
        self.scales = list(self.cohort.scales)
        self.session: ScoringSession | None = None
        self.training_result: dict | None = None
        self._loading, self._syncing = False, False
        self._build()
        login = hub_user()
        if rater and login and rater != login:
            raise ScoringSetupError(f"signed in as {login!r}: this page scores only as {login!r}")
        if login is None:  # off the hub the rater may type an ID; on the hub the login is the ID
            self.widget.children = (*self.widget.children, self.login.widget)
        rater = rater or rater_from_env()
        if rater and not self.start(rater) and login:
            raise ScoringSetupError(f"signed in as {login!r}, which cannot score here: "
                                    f"{self.login.status.value}")

    # ------------------------------------------------------------------ building the widgets

    def _build(self) -> None:
        self.viewer = XrayViewer(layout=W.Layout(width="100%"))
        self.keys = key_catcher(self.scales, self.on_key)
        self.header, self.status, self.feedback = W.HTML(), W.HTML(), W.HTML()
        self.progress = W.IntProgress(min=0, max=1, layout=W.Layout(width="100%"))
        self.rows = ScoreRows(self.scales, on_score=self.click_score)
        self.scoring_box = W.VBox([self.rows.widget, self._assessability_panel(), self._comment_box()])
        self.nav_bar = self._nav_bar()
        self.case_panel = W.VBox([self.scoring_box, self.nav_bar, self.status, self.feedback,
                                  W.HTML(help_html(SHORTCUTS))],
                                 layout=W.Layout(flex="2 1 0", min_width="24em", padding="0 0 0 1em"))
        self.toolbar = ViewerToolbar(self.viewer)
        self.image_panel = W.VBox([self.viewer, self.toolbar.widget], layout=W.Layout(flex="3 1 0"))
        self.end_panel = W.HTML(layout=W.Layout(display="none"))
        self.study_button = W.Button(description="Open the blinded cases", button_style="primary",
                                     layout=W.Layout(display="none", width="auto"))
        self.study_button.on_click(lambda _b: self.on_passed and self.on_passed())
        self.banner = W.HTML(banner_html("training", TRAINING_BANNER) if self.training_set else "")
        self.session_box = W.VBox([self.banner, self.header, self.progress, self.end_panel, self.study_button,
                                   W.HBox([self.image_panel, self.case_panel])])
        self.login = LoginBox(on_start=self.start)
        self.gate_box = W.VBox()
        self.logout = W.HTML(logout_html(hub_logout_url()))  # on JupyterHub only
        self.widget = W.VBox([W.VBox([style_widget(), self.logout]), self.keys])
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
        self.comment.observe(lambda c: self._loading or not self.session or self.session.entry.set_comment(c["new"]),
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
            self.login.status.value = status_html("error", str(exc))
            return False
        if requirement and not training_passed(requirement, rater, self.labels_dir):
            self._open_training_gate(requirement, rater)
            return True
        self._open(session)
        return True

    def _open_training_gate(self, requirement: dict, rater: str) -> None:
        """Show the training round in place of the study; a passed round opens the study."""
        self.trainer = ScoringApp(requirement["training_set"], rater, self.labels_dir,
                                  on_passed=lambda: self.start(rater), max_mae=requirement["max_mae"])
        # one banner and one "Log out" (this page's), so the image keeps the screen's height
        self.trainer.banner.value = banner_html(
            "training", f"{TRAINING_BANNER}. The study opens after a passed round (mean absolute error "
                        f"of each total at most {requirement['max_mae']:g}).")
        self.trainer.logout.value = ""
        self.gate_box.children = (self.trainer.widget,)
        self.widget.children = (self.widget.children[0], self.gate_box)

    def _open(self, session: ScoringSession) -> None:
        self.session = session
        self.widget.children = (self.widget.children[0], self.keys, self.session_box)
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
            training = (self.training_set.round_summary(self.session.rater, self.labels_dir, self.max_mae, self.store)
                        if self.training_set else None)
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
            entry = self.session.entry
            self.not_assessable.value, self.reason.value, self.comment.value = (entry.not_assessable, entry.reason,
                                                                                entry.comment)
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
        self._act(self.session.entry.set_score, key, value)

    def type_digit(self, value: int) -> None:
        """Digit key: score the highlighted field if ``value`` is one of its levels."""
        self._act(self.session.type_digit, value)

    def move_active(self, step: int) -> None:
        """Highlight the previous (-1) or next (+1) field."""
        self._act(self.session.entry.move_active, step)

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
            if key == "Enter" and self.login.widget in self.widget.children:
                self.login.submit()
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
                **viewer_keys(self.viewer)}

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
        self.reason.layout.display = None if session.entry.not_assessable else "none"
        self.rows.refresh(session.entry)
        self.prev_button.disabled = session.index == 0
        self.next_button.disabled = session.index >= session.first_unscored()
        self._refresh_training(session)
        self._sync_jump()

    def _refresh_training(self, session: ScoringSession) -> None:
        """After a saved training case, the rater's scores beside the reference (else nothing)."""
        rows = session.feedback() if not session.entry.dirty else []
        self.feedback.value = feedback_html(rows, self.scales)
        if session.training:
            self.save_button.description = "Next case (Enter)" if rows else "Save and see the reference (Enter)"
            # one way on while the reference is shown, not two buttons that both say "next"
            self.next_button.layout.display = "none" if rows else None

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
