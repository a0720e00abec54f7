"""Label store: record round-trip, latest-wins, torn-line recovery, tidy tables, rater IDs."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covsev_tools.labels.store import (
    LabelStore,
    RaterIdError,
    StoreError,
    default_labels_dir,
    validate_rater_id,
)


def make_record(rater="rad1", case_id="c001", right=2, left=3, o_right=1, o_left=2, **extra):
    record = {
        "rater": rater,
        "case_id": case_id,
        "session_id": "s1",
        "position": 1,
        "scales": {
            "extent": {"version": "1", "scores": {"right": right, "left": left}, "total": right + left},
            "opacity": {"version": "1", "scores": {"right": o_right, "left": o_left},
                        "total": o_right + o_left},
        },
        "not_assessable": False,
        "not_assessable_reason": None,
        "comment": "",
        "time_shown": "2026-01-01T10:00:00.000Z",
        "seconds_on_case": 12.5,
    }
    record.update(extra)
    return record


@pytest.fixture
def store(tmp_path):
    return LabelStore(tmp_path / "labels", "pilot")


def test_save_writes_one_json_line_per_save_in_rater_file(store):
    saved = store.save(make_record())
    path = store.folder / "rad1.jsonl"
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2
    on_disk = json.loads(lines[0])
    assert on_disk == saved
    assert on_disk["schema"] == 1 and on_disk["cohort"] == "pilot"
    assert len(on_disk["record_id"]) == 32 and on_disk["time_saved"].endswith("Z")


def test_rescoring_appends_and_latest_wins_history_kept(store):
    first = store.save(make_record(right=1, left=1))
    second = store.save(make_record(right=4, left=4))
    assert [r["record_id"] for r in store.records("rad1")] == [first["record_id"], second["record_id"]]
    latest = store.latest()
    assert latest[("rad1", "c001")]["record_id"] == second["record_id"]
    assert store.totals("extent").loc["c001", "rad1"] == 8
    assert len(store.long(history=True)) == 2 * len(store.long())


def test_long_table_has_one_row_per_case_rater_scale_component(store):
    store.save(make_record("rad1", "c001", 2, 3, 1, 2))
    store.save(make_record("rad2", "c001", 1, 1, 0, 3, comment="hazy"))
    long = store.long()
    assert len(long) == 2 * 2 * 3  # raters x scales x (right, left, total)
    row = long[(long.rater == "rad2") & (long.scale == "opacity") & (long.component == "left")]
    assert row.score.item() == 3 and row.comment.item() == "hazy" and row.scale_version.item() == "1"
    wide = store.totals("opacity")
    assert wide.to_dict() == {"rad1": {"c001": 3.0}, "rad2": {"c001": 3.0}}
    assert list(store.totals("extent").columns) == ["rad1", "rad2"]


def test_not_assessable_rows_have_empty_scores(store):
    blank = {"right": None, "left": None}
    record = make_record(not_assessable=True, not_assessable_reason="rotated")
    record["scales"] = {"extent": {"version": "1", "scores": blank, "total": None}}
    store.save(record)
    long = store.long()
    assert long.score.isna().all() and long.not_assessable.all()
    assert set(long.component) == {"right", "left", "total"}
    assert long.not_assessable_reason.unique().tolist() == ["rotated"]


def test_torn_last_line_is_reported_ignored_and_not_glued_to_next_record(store):
    store.save(make_record(case_id="c001"))
    path = store.folder / "rad1.jsonl"
    whole = json.dumps(make_record(case_id="c002", record_id="torn"))
    with open(path, "ab") as handle:  # what a crash mid-write leaves behind
        handle.write(whole[: len(whole) // 2].encode())
    assert [r["case_id"] for r in store.records()] == ["c001"]
    assert len(store.warnings) == 1
    assert store.warnings[0].line_number == 2 and "not valid JSON" in str(store.warnings[0])

    store.save(make_record(case_id="c003"))
    assert [r["case_id"] for r in store.records()] == ["c001", "c003"]
    assert [w.line_number for w in store.warnings] == [2]
    assert path.read_bytes().count(b"\n") == 3  # fragment closed by the guard newline


def test_garbage_and_non_record_lines_are_warnings_not_errors(store):
    store.save(make_record())
    with open(store.folder / "rad1.jsonl", "ab") as handle:
        handle.write(b'\xff\xfe\n[1, 2]\n{"rater": "rad1"}\n\n')
    assert len(store.records()) == 1
    reasons = [w.reason for w in store.warnings]
    assert reasons[0].startswith("not valid JSON") and all("missing" in r for r in reasons[1:])
    assert len(reasons) == 3


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "rad 1", "x" * 65, None, "é"])
def test_unsafe_rater_ids_are_refused(store, bad):
    with pytest.raises(RaterIdError):
        store.save(make_record(rater=bad))
    assert not store.folder.exists() or not any(store.folder.iterdir())


def test_valid_rater_ids_and_cohort_name_checked():
    assert validate_rater_id("Dr.Smith-2_b") == "Dr.Smith-2_b"
    with pytest.raises(RaterIdError):
        LabelStore("/tmp", "../escape")


def test_missing_case_id_refused(store):
    with pytest.raises(StoreError, match="case_id"):
        store.save({"rater": "rad1"})


def test_unwritable_folder_raises_store_error_naming_the_file(tmp_path):
    blocker = tmp_path / "labels"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StoreError, match="could not save"):
        LabelStore(blocker, "pilot").save(make_record())


def test_labels_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COVSEV_LABELS_DIR", str(tmp_path / "envlabels"))
    assert default_labels_dir() == tmp_path / "envlabels"
    store = LabelStore(cohort="pilot")
    store.save(make_record())
    assert (tmp_path / "envlabels" / "pilot" / "rad1.jsonl").exists()
    assert store.raters() == ["rad1"]


def test_empty_store_loads_empty_tables(store):
    assert store.records() == [] and store.raters() == []
    assert store.long().empty and list(store.long().columns)[:3] == ["cohort", "case_id", "rater"]


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(comment=text, reason=st.one_of(st.none(), text), scores=st.lists(st.integers(0, 4), min_size=2, max_size=2))
def test_any_text_round_trips_exactly(tmp_path_factory, comment, reason, scores):
    store = LabelStore(tmp_path_factory.mktemp("rt"), "pilot")
    saved = store.save(make_record(right=scores[0], left=scores[1], comment=comment,
                                   not_assessable_reason=reason))
    assert store.records() == [saved] and store.warnings == []
