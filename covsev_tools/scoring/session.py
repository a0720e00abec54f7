"""One rater's scoring session as plain state: no widgets, so it can be driven and tested alone.

The session knows the rater's reading order, the case on screen, what is entered for it (an
:class:`~covsev_tools.scoring.entry.Entry`, the same class the adjudication uses) and the rater's
saved records.  Every action (score, go back, change, save, jump, not assessable)
is a method; the ipywidgets page (:mod:`covsev_tools.scoring.app`) only draws this state and
forwards clicks and keys.  A save goes through the page's store (:class:`covsev_tools.labels.LabelStore`,
or on the hub the label service's :class:`covsev_tools.labels.ServiceLabelStore`), so it is on
disk before the session counts it as saved; a restart resumes at the first unscored case.

Examples
--------
>>> from covsev_tools.scoring.session import ScoringSession
>>> session = ScoringSession.open("cohorts/pilot", "rad1", labels_dir="labels")  # doctest: +SKIP
>>> session.entry.set_score(("extent", "right"), 2)                                # doctest: +SKIP
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from covsev_tools.labels.store import LabelStore, StoreError, utc_now
from covsev_tools.scoring.access import ScoringSetupError, check_rater, load_cohort
from covsev_tools.scoring.entry import NOT_ASSESSABLE_REASONS, Entry
from covsev_tools.scoring.training import save_training_record

__all__ = ["NOT_ASSESSABLE_REASONS", "Message", "ScoringSession"]


@dataclass(frozen=True)
class Message:
    """The line under the buttons: ``kind`` is ``"ok"``, ``"error"`` or ``""`` (nothing to say)."""

    kind: str = ""
    text: str = ""


class ScoringSession:
    """The state of one rater's pass through a cohort (blinded study or training round).

    Parameters
    ----------
    cohort : covsev_tools.cohort.Cohort
        The cohort (or training set) being scored.
    store : LabelStore
        Where the records go (a training round has its own store, apart from the study's).
    rater : str
        Rater ID (checked with :func:`check_rater`).
    reference : covsev_tools.scoring.training.TrainingReference, optional
        Reference scores: makes this a training round (feedback after each case).

    Attributes
    ----------
    order : list of str
        The rater's reading order (display IDs).
    index : int
        Position on screen (0-based); ``len(order)`` is the end screen.
    entry : covsev_tools.scoring.entry.Entry
        What is entered for the case on screen: scores, not assessable, comment.
    latest : dict
        ``display ID -> latest saved record`` of this rater.
    message : Message
        What the page should say now (saved, refused and why).

    Examples
    --------
    >>> import tempfile, numpy as np; from pathlib import Path; from PIL import Image
    >>> from covsev_tools.cohort import create_cohort
    >>> tmp = Path(tempfile.mkdtemp()); (tmp / "img").mkdir()
    >>> for i in range(2): Image.fromarray(np.full((8, 8), 40 * i, "uint8")).save(tmp / "img" / f"{i}.png")
    >>> cohort = create_cohort(tmp / "img", "demo", tmp / "demo", seed=1, progress=False, workers=1)
    >>> session = ScoringSession(cohort, LabelStore(tmp / "labels", "demo"), "rad1")
    >>> [session.type_digit(level) for level in (2, 3, 1, 2)]   # extent R, L, opacity R, L
    [True, True, True, True]
    >>> session.entry.totals()
    {'extent': 5, 'opacity': 3}
    >>> session.advance(), session.index, session.message.text
    (True, 1, '✓ Saved case 1 of 2')
    >>> session.previous(); session.entry.scores[("extent", "left")]
    3
    """

    def __init__(self, cohort, store: LabelStore, rater: str, *, reference=None):
        self.cohort, self.store, self.reference = cohort, store, reference
        self.rater = check_rater(rater)
        self.entry = Entry(cohort.scales)
        self.scales = self.entry.scales
        try:  # through the store: on the hub the label service holds the order and the records
            self.order = store.reading_order(cohort, self.rater)
            self.latest = {cid: rec for (_, cid), rec in store.latest(self.rater).items()}
        except (ValueError, StoreError) as exc:
            raise ScoringSetupError(str(exc)) from None
        self.session_id = uuid.uuid4().hex
        self.index = 0
        self._leave_armed: tuple[int, int] | None = None
        self.message = Message()
        self._shown_at, self._clock = None, 0.0
        self.go_to(self.first_unscored())

    @classmethod
    def open(cls, cohort_dir, rater: str, labels_dir=None) -> "ScoringSession":
        """Open the blinded session of ``rater`` on a cohort folder.

        Examples
        --------
        >>> ScoringSession.open("cohorts/pilot", "rad1", "labels").index  # doctest: +SKIP
        0
        """
        cohort = load_cohort(cohort_dir)
        return cls(cohort, LabelStore(labels_dir, cohort.name, scales=cohort.scales), rater)

    # ------------------------------------------------------------------ where we are

    @property
    def training(self) -> bool:
        """True in a training round (reference scores shown after each case)."""
        return self.reference is not None

    @property
    def at_end(self) -> bool:
        """True when the end screen is shown (past the last case of the order)."""
        return self.index >= len(self.order)

    @property
    def case_id(self) -> str | None:
        """Display ID of the case on screen (never shown to the rater); None at the end."""
        return None if self.at_end else self.order[self.index]

    def first_unscored(self) -> int:
        """Index (0-based) of the first case of the order without a saved record; N when done."""
        return next((i for i, cid in enumerate(self.order) if cid not in self.latest), len(self.order))

    @property
    def done(self) -> bool:
        """True when every case of the rater's order has a saved record."""
        return self.first_unscored() == len(self.order)

    def reachable(self) -> int:
        """How many positions of the order can be opened: every scored case and the next one."""
        return min(self.first_unscored() + 1, len(self.order))

    def image_path(self, index: int | None = None):
        """Display PNG of the case at ``index`` (default: on screen); None past the end."""
        index = self.index if index is None else index
        return self.cohort.display_image_path(self.order[index]) if 0 <= index < len(self.order) else None

    def image_bytes(self, index: int | None = None) -> bytes | None:
        """The display PNG of the case at ``index`` (default: on screen), or None past the end.

        A display file that cannot be read (deleted, not readable from this account) is None too,
        with :attr:`message` saying so: the page shows no image instead of failing.
        """
        path = self.image_path(index)
        try:
            return None if path is None else path.read_bytes()
        except OSError as exc:
            self.message = Message("error", f"The image of this case cannot be shown ({exc.strerror or exc}); "
                                            "please tell the study coordinator.")
            return None

    # ------------------------------------------------------------------ moving

    def go_to(self, index: int) -> None:
        """Show the case at ``index`` (0-based) of the order with its saved entry, or the end."""
        self.index = max(0, min(index, len(self.order)))
        self.entry.load(self.latest.get(self.case_id) if not self.at_end else None)
        self._shown_at, self._clock = utc_now(), time.monotonic()

    def _may_leave(self, target: int) -> bool:
        """False (with a message) the first time unsaved input would be left; the same move again leaves it.

        Moving away from a changed case used to drop the input without a word.
        """
        if not self.entry.dirty or self._leave_armed == (self.index, target):
            self._leave_armed = None
            return True
        self._leave_armed = (self.index, target)
        self.message = Message("error", "This case has unsaved changes: press Enter to save them, or do the "
                                        "same move again to leave them unsaved")
        return False

    def previous(self) -> None:
        """Go back one case (any earlier case can be changed and saved again)."""
        if self.index > 0 and self._may_leave(self.index - 1):
            self.go_to(self.index - 1)
            self.message = Message()

    def next(self) -> bool:
        """Go forward one case without saving; only up to the first unscored case."""
        if self.index < self.first_unscored():
            if not self._may_leave(self.index + 1):
                return False
            self.go_to(self.index + 1)
            self.message = Message()
            return True
        self.message = Message("error", "Score this case first (the order cannot be skipped)")
        return False

    def jump_to(self, position: int) -> bool:
        """Show case ``position`` (1-based); only up to the first unscored case."""
        if not 1 <= position <= self.reachable():
            self.message = Message("error", f"Cases 1-{self.reachable()} can be opened "
                                            "(the order cannot be skipped)")
            return False
        if position - 1 != self.index and not self._may_leave(position - 1):
            return False
        self.go_to(position - 1)
        self.message = Message()
        return True

    # ------------------------------------------------------------------ entering scores
    # (what the entry cannot say itself: the message under the buttons)

    def type_digit(self, value: int) -> bool:
        """Score the highlighted field with ``value`` if it is one of its levels (else the message says why)."""
        try:
            self.entry.type_digit(value)
        except ValueError as exc:
            self.message = Message("error", str(exc))
            return False
        return True

    def set_not_assessable(self, flag: bool, reason: str | None = None) -> None:
        """Mark the case not assessable (with a reason from :data:`NOT_ASSESSABLE_REASONS`) or not."""
        self.entry.set_not_assessable(flag, reason)
        self._clear_error()

    def cycle_not_assessable(self) -> None:
        """The N key: not assessable with the first reason, then the next reason, then clear."""
        self.entry.cycle_not_assessable(NOT_ASSESSABLE_REASONS)
        self._clear_error()

    def _clear_error(self) -> None:
        if self.message.kind == "error":  # e.g. "Not saved — still to score": no longer what is on screen
            self.message = Message()

    # ------------------------------------------------------------------ saving

    def build_record(self) -> dict:
        """The record of the case on screen (schema in ``docs/readme/scoring.md``)."""
        blind = self.entry.not_assessable
        record = {
            "case_id": self.case_id, "rater": self.rater,  # the store adds schema and record_id
            "session_id": self.session_id, "position": self.index + 1,
            "scales": self.entry.scales_record(), "not_assessable": blind,
            "not_assessable_reason": self.entry.reason if blind else None, "comment": self.entry.comment,
            "time_shown": self._shown_at,
            "seconds_on_case": round(time.monotonic() - self._clock, 3),
        }
        if self.training:
            record["training"] = True
        return record

    def save(self) -> dict | None:
        """Save the case on screen; the record once it is on disk, None if refused (see message)."""
        if self.at_end:
            self.message = Message("error", "Nothing to save: every case is scored")
            return None
        if self.training and self.case_id in self.latest:  # the reference is on screen: a re-save would copy it
            self.message = Message("error", "Training: each case is scored once, before the reference is shown; "
                                            "this one is saved")
            return None
        missing = self.entry.missing()
        if missing:
            self.message = Message("error", "Not saved — still to score: " + "; ".join(missing))
            return None
        try:
            record = (save_training_record(self.store, self.build_record()) if self.training
                      else self.store.save(self.build_record()))
        except StoreError as exc:
            self.message = Message("error", f"NOT SAVED — {exc}. Please tell the study coordinator.")
            return None
        self.latest[record["case_id"]] = record
        self.entry.dirty = False
        self.message = Message("ok", f"✓ Saved case {self.index + 1} of {len(self.order)}")
        return record

    def advance(self) -> bool:
        """The Enter key: save, then go on to the first unscored case of the order.

        After a change to an earlier case this returns to where the rater left off, not to the
        case after the changed one.  In a training round the first Enter saves and stays on the
        case (so the page can show the reference); the next Enter moves on, and a saved training
        case is never saved again (its reference has been seen).
        """
        if self.training and self.case_id in self.latest:
            self.go_to(self.first_unscored())
            self.message = Message()
            return True
        if self.save() is None:
            return False
        if not self.training:
            saved = self.message
            self.go_to(self.first_unscored())
            self.message = saved
        return True

    def feedback(self) -> list[dict]:
        """Training round: the saved scores of the case on screen beside the reference.

        Empty outside training, at the end, or before the case is saved.
        """
        record = self.latest.get(self.case_id) if self.training else None
        return self.reference.compare(self.case_id, record) if record else []

    def summary(self) -> dict:
        """End-screen figures: cases, how many scored, how many not assessable.

        Examples
        --------
        >>> session.summary()   # doctest: +SKIP
        {'cases': 5, 'scored': 5, 'not_assessable': 1}
        """
        records = [self.latest[c] for c in self.order if c in self.latest]
        return {"cases": len(self.order), "scored": len(records),
                "not_assessable": sum(bool(r.get("not_assessable")) for r in records)}
