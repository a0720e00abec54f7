"""A whole scoring session through the session state alone (no widgets, no browser)."""
from __future__ import annotations

import pytest

from covsev_tools.labels import LabelStore
from covsev_tools.scoring.session import NOT_ASSESSABLE_REASONS, ScoringSession, ScoringSetupError

from helpers import make_cohort


def enter(session, *digits: int) -> bool:
    for value in digits:
        assert session.type_digit(value)
    return session.advance()


def test_whole_session_score_back_change_repeat_resume(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    cohort = make_cohort(tmp_path, n=4, name="sess", repeat_fraction=0.5)
    labels = tmp_path / "labels"
    session = ScoringSession.open(cohort.dir, "rad1", labels)
    order, repeats = session.order, cohort.repeats()
    assert len(order) == 6 and session.index == 0 and session.entry.scores[("extent", "right")] is None

    # score: digits fill the highlighted fields in page order; Enter saves and moves on
    assert enter(session, 1, 2, 0, 1)
    assert session.index == 1 and session.message.text == "✓ Saved case 1 of 6"
    assert enter(session, 2, 2, 1, 1) and enter(session, 3, 3, 2, 2)

    # a refused save names what is missing and stays
    session.type_digit(4)
    assert not session.advance() and session.index == 3
    assert "Geographic extent: Left lung" in session.message.text
    assert session.type_digit(9) is False and "not a level" in session.message.text

    # go back (leaving the unsaved entry takes a second press), see the saved entry, change it;
    # Enter returns to where the rater left off
    session.previous()
    assert session.index == 3 and "unsaved changes" in session.message.text
    session.previous(), session.previous(), session.previous()
    assert session.index == 0 and session.entry.scores == {("extent", "right"): 1, ("extent", "left"): 2,
                                                     ("opacity", "right"): 0, ("opacity", "left"): 1}
    session.entry.set_score(("extent", "right"), 4)
    assert session.advance() and session.index == 3  # the first unscored case, not case 2
    assert session.entry.scores[("extent", "right")] is None  # its entry was not kept after the refusal

    # not assessable: N cycles the reasons, the record has no scores
    session.cycle_not_assessable(), session.cycle_not_assessable()
    assert session.entry.reason == NOT_ASSESSABLE_REASONS[1] and session.entry.missing() == []
    session.entry.set_comment("rotated")
    assert session.advance() and session.index == 4

    # the hidden repeat is one more position of the order, scored like any case
    repeat_positions = [i for i, case in enumerate(order) if case in repeats]
    assert len(repeat_positions) == 2 and all(i < 6 for i in repeat_positions)

    # restart: a new session resumes at the first unscored case with the saved entries
    again = ScoringSession.open(cohort.dir, "rad1", labels)
    assert again.session_id != session.session_id and again.index == 4 and again.order == order
    assert again.jump_to(1) and again.entry.scores[("extent", "right")] == 4
    assert not again.jump_to(6) and "cannot be skipped" in again.message.text
    assert again.jump_to(5) and enter(again, 0, 0, 0, 0) and again.index == 5
    assert enter(again, 1, 1, 1, 1) and again.at_end and again.done
    assert again.summary() == {"cases": 6, "scored": 6, "not_assessable": 1}
    assert again.save() is None and "Nothing to save" in again.message.text

    store = LabelStore(labels, "sess")
    latest = {case: record for (_, case), record in store.latest("rad1").items()}
    assert set(latest) == set(order)  # every position saved once at least, repeats under their own ID
    assert latest[order[0]]["scales"]["extent"] == {"version": "1", "scores": {"right": 4, "left": 2}, "total": 6}
    assert [r["scales"]["extent"]["total"] for r in store.records("rad1") if r["case_id"] == order[0]] == [3, 6]
    assert latest[order[3]]["not_assessable"] and latest[order[3]]["comment"] == "rotated"
    for position in repeat_positions:
        assert latest[order[position]]["position"] == position + 1
    originals = {repeats[order[p]] for p in repeat_positions}
    assert originals <= set(cohort.case_ids) and not originals & set(repeats)


def test_next_cannot_skip_and_previous_stops_at_the_first_case(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    cohort = make_cohort(tmp_path, n=3, name="skip")
    session = ScoringSession.open(cohort.dir, "rad2", tmp_path / "labels")
    assert not session.next() and session.index == 0 and "cannot be skipped" in session.message.text
    session.previous()
    assert session.index == 0 and session.reachable() == 1


def test_session_refuses_reserved_bad_and_foreign_raters(tmp_path, monkeypatch):
    cohort = make_cohort(tmp_path, n=2, name="who")
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    with pytest.raises(ScoringSetupError, match="reserved"):
        ScoringSession.open(cohort.dir, "consensus", tmp_path / "labels")
    with pytest.raises(ScoringSetupError, match="invalid rater ID"):
        ScoringSession.open(cohort.dir, "../x", tmp_path / "labels")
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    with pytest.raises(ScoringSetupError, match="signed in as 'alice'"):
        ScoringSession.open(cohort.dir, "bob", tmp_path / "labels")
    assert ScoringSession.open(cohort.dir, "alice", tmp_path / "labels").rater == "alice"


def test_leaving_unsaved_input_is_refused_once_and_n_clears_the_not_saved_message(tmp_path):
    from covsev_tools.labels import LabelStore
    from covsev_tools.scoring.session import ScoringSession

    from helpers import make_cohort

    cohort = make_cohort(tmp_path, n=3, name="pilot")
    session = ScoringSession(cohort, LabelStore(tmp_path / "labels", "pilot"), "rad1")
    for digit in (1, 1, 1, 1):
        session.type_digit(digit)
    assert session.advance() and session.index == 1
    session.type_digit(2)  # unsaved input on case 2
    assert not session.jump_to(1) and session.index == 1
    assert "unsaved changes" in session.message.text
    assert session.jump_to(1) and session.index == 0  # the same move again leaves them
    session.next()
    session.advance()  # incomplete: "Not saved — still to score"
    assert session.message.kind == "error" and session.message.text.startswith("Not saved")
    session.cycle_not_assessable()
    assert session.message.kind == ""
