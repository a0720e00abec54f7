"""The entry of the case on screen: one class for the scoring session, the training round and the
adjudicator's consensus (issue 23 point 4)."""
from __future__ import annotations

import pytest

from covsev_tools.labels import LabelStore
from covsev_tools.scales import builtin_scales
from covsev_tools.scoring.adjudication import ADJUDICATED_NOT_ASSESSABLE, Adjudication
from covsev_tools.scoring.entry import NOT_ASSESSABLE_REASONS, Entry
from covsev_tools.scoring.session import ScoringSession

from helpers import make_cohort


def test_brixia_digits_fill_the_six_zones_in_order_and_refuse_a_level_it_lacks():
    entry = Entry([builtin_scales()["brixia"]])
    for digit in (0, 1, 2, 3, 2):
        entry.type_digit(digit)
    assert entry.highlighted.key == ("brixia", "F") and entry.missing() == ["Brixia score: Left lower zone (F)"]
    assert entry.totals() == {"brixia": None}
    with pytest.raises(ValueError, match=r"4 is not a level of Brixia score: Left lower zone \(F\) \(allowed 0–3\)"):
        entry.type_digit(4)
    entry.type_digit(1)
    assert entry.totals() == {"brixia": 9} and entry.missing() == []
    assert entry.scales_record()["brixia"]["scores"] == dict(zip("ABCDEF", (0, 1, 2, 3, 2, 1)))
    entry.move_active(1)  # round the end: back to the first zone
    assert entry.highlighted.key == ("brixia", "A")


def test_not_assessable_blanks_the_record_and_needs_a_reason():
    scales = [builtin_scales()["extent"], builtin_scales()["opacity"]]
    entry = Entry(scales)
    entry.set_score(("extent", "right"), 3)
    entry.set_not_assessable(True)
    assert entry.missing() == ["a reason for 'not assessable'"] and entry.totals() == {"extent": None, "opacity": None}
    entry.set_not_assessable(True, NOT_ASSESSABLE_REASONS[2])
    assert entry.missing() == []
    assert entry.scales_record()["extent"] == {"version": "1", "scores": {"right": None, "left": None}, "total": None}
    entry.set_not_assessable(False)  # the scores entered before are still there
    assert entry.reason is None and entry.scores[("extent", "right")] == 3


def test_a_saved_record_loads_back_into_the_same_entry(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    cohort = make_cohort(tmp_path, n=2, name="ent")
    session = ScoringSession(cohort, LabelStore(tmp_path / "labels", "ent"), "rad1")
    for digit in (4, 2, 3, 1):
        session.type_digit(digit)
    session.entry.set_comment("left base")
    record = session.save()
    again = Entry(cohort.scales)
    again.load(record)
    assert again.scales_record() == record["scales"] == {
        "extent": {"version": "1", "scores": {"right": 4, "left": 2}, "total": 6},
        "opacity": {"version": "1", "scores": {"right": 3, "left": 1}, "total": 4}}
    assert again.comment == "left base" and not again.dirty and again.active == 0


def test_the_adjudicator_fills_the_same_entry_class(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    cohort = make_cohort(tmp_path, n=1, name="adj")
    labels = tmp_path / "labels"
    for rater, right in (("rad1", 0), ("rad2", 4)):
        session = ScoringSession(cohort, LabelStore(labels, "adj"), rater)
        for digit in (right, 1, 1, 1):
            session.type_digit(digit)
        assert session.advance()
    adjudication = Adjudication(cohort, "senior1", labels)
    assert type(adjudication.entry) is type(session.entry) is Entry
    adjudication.entry.set_not_assessable(True, ADJUDICATED_NOT_ASSESSABLE)
    adjudication.entry.set_comment("cut off at the bases")
    saved = adjudication.save_entry()
    assert saved["not_assessable"] and saved["not_assessable_reason"] == ADJUDICATED_NOT_ASSESSABLE
    assert saved["comment"] == "cut off at the bases" and saved["scales"]["opacity"]["total"] is None
    adjudication.go_to(0)  # the saved consensus comes back into the entry
    assert adjudication.entry.not_assessable and adjudication.entry.comment == "cut off at the bases"
