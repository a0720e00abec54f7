"""Integrity of label records on read (issues 13.6, 15.1-2): forged, malformed and repeated records
are left out with a warning naming file, line and reason -- in the store, export, progress and
`covsev labels check` -- and nothing valid is dropped."""
from __future__ import annotations

import json

import jsonschema
import pandas as pd
import pytest

from covsev_tools.cli import main
from covsev_tools.labels import LabelStore, StoreError, check_record, rater_progress, ratings_export, record_schema
from covsev_tools.scales import load_scale

from helpers import make_cohort

SCALES = (load_scale("extent"), load_scale("opacity"))


def record(rater="ann", case_id="c001", right=2, left=3, saved="2026-01-05T10:00:00.000Z", **extra):
    out = {"schema": 1, "record_id": f"{rater}-{case_id}-{saved[11:19].replace(':', '')}-{right}{left}",
           "cohort": "pilot", "case_id": case_id, "rater": rater, "session_id": "s1", "position": 1,
           "scales": {"extent": {"version": "1", "scores": {"right": right, "left": left}, "total": right + left},
                      "opacity": {"version": "1", "scores": {"right": 1, "left": 0}, "total": 1}},
           "not_assessable": False, "not_assessable_reason": None, "comment": "",
           "time_shown": "2026-01-05T09:59:00.000Z", "time_saved": saved, "seconds_on_case": 60.0}
    out.update(extra)
    return out


def write_log(folder, rater, lines):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rater}.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def broken(change):
    """A valid record changed by ``change`` (a function that edits it in place)."""
    bad = record(case_id="c002")
    change(bad)
    return bad


# each malformed record of the issues, and the reason the reader must give
MALFORMED = {
    "score 2.5": (lambda r: r["scales"]["extent"]["scores"].update(right=2.5),
                  "scales.extent.scores.right = 2.5 must be integer or null"),
    "score text": (lambda r: r["scales"]["extent"]["scores"].update(left="two"),
                   "scales.extent.scores.left = 'two' must be integer or null"),
    "score out of scale": (lambda r: r["scales"]["opacity"]["scores"].update(right=9),
                           "scales.opacity.scores.right = 9 must be one of [0, 1, 2, 3]"),
    "score a boolean": (lambda r: r["scales"]["opacity"]["scores"].update(right=True),
                        "scales.opacity.scores.right = True must be integer or null"),
    "unknown component": (lambda r: r["scales"]["extent"]["scores"].update(x=1),
                          "scales.extent.scores: unknown component(s) ['x']"),
    "missing component": (lambda r: r["scales"]["extent"]["scores"].pop("left"),
                          "scales.extent.scores: missing fields ['left']"),
    "unknown scale": (lambda r: r["scales"].update(brixia=r["scales"]["opacity"]),
                      "scales: unknown scale(s) ['brixia']"),
    "unknown key": (lambda r: r.update(score=3), "unknown key(s) ['score']"),
    "scales a list": (lambda r: r.update(scales=[1, 2]), "scales = [1, 2] must be object"),
    "scales a string": (lambda r: r.update(scales="extent"), "scales = 'extent' must be object"),
    "scores a list": (lambda r: r["scales"]["extent"].update(scores=[2, 3]),
                      "scales.extent.scores = [2, 3] must be object"),
    "case_id a list": (lambda r: r.update(case_id=["c002"]), "case_id = ['c002'] must be string"),
    "not_assessable text": (lambda r: r.update(not_assessable="false"),
                            "not_assessable = 'false' must be boolean"),
    "total not the sum": (lambda r: r["scales"]["extent"].update(total=7),
                          "scales.extent.total = 7 is not the sum of its scores"),
    "scored but a null score": (lambda r: r["scales"]["extent"]["scores"].update(right=None),
                                "scales.extent: a score or the total is null but the record is not 'not assessable'"),
    "time_saved not a time": (lambda r: r.update(time_saved="yesterday"), "time_saved = 'yesterday' must match"),
    "impossible date": (lambda r: r.update(time_saved="2026-02-30T10:00:00Z"), "time_saved = '2026-02-30T10:00:00Z' is not a date"),
    "other cohort": (lambda r: r.update(cohort="other"), "cohort 'other' is not this store's cohort ('pilot')"),
    "formula rater name": (lambda r: r.update(rater='=HYPERLINK("http://x","y")'),
                           "rater '=HYPERLINK(\"http://x\",\"y\")' is not the rater of this log ('ann')"),
    "path rater name": (lambda r: r.update(rater="../../etc/passwd"),
                        "rater '../../etc/passwd' is not the rater of this log ('ann')"),
    "not an object": (lambda r: None, None),  # replaced below by a JSON list
}


@pytest.mark.parametrize("name", [n for n in MALFORMED if n != "not an object"])
def test_integrity_each_malformed_record_is_left_out_and_named(tmp_path, name):
    change, reason = MALFORMED[name]
    good_before, good_after = record(case_id="c001"), record(case_id="c003")
    path = write_log(tmp_path / "pilot", "ann", [good_before, broken(change), good_after])
    store = LabelStore(tmp_path, "pilot", scales=SCALES)
    assert store.records() == [good_before, good_after]  # nothing valid dropped, nothing invalid kept
    assert set(store.latest()) == {("ann", "c001"), ("ann", "c003")}
    assert [(w.path, w.line_number) for w in store.warnings] == [(path, 2)]
    assert reason in store.warnings[0].reason
    assert str(store.warnings[0]).startswith(f"{path}:2: ignored invalid record (")


def test_integrity_a_json_value_that_is_not_an_object_is_left_out(tmp_path):
    write_log(tmp_path / "pilot", "ann", ["[1, 2]", '"text"', "3", record()])
    store = LabelStore(tmp_path, "pilot")
    assert len(store.records()) == 1
    assert [w.line_number for w in store.warnings] == [1, 2, 3]
    assert all(w.reason.startswith("not a record: missing fields") for w in store.warnings)


def test_integrity_forged_record_in_another_raters_log_is_left_out(tmp_path):
    ann = record("ann", right=1, left=1, saved="2026-01-05T10:00:00.000Z")
    forged = record("ann", right=4, left=4, saved="2026-01-05T11:00:00.000Z")  # later, in zed's log
    write_log(tmp_path / "pilot", "ann", [ann])
    zed_log = write_log(tmp_path / "pilot", "zed", [record("zed", case_id="c009"), forged])
    store = LabelStore(tmp_path, "pilot", scales=SCALES)
    latest = store.latest()
    assert latest[("ann", "c001")] == ann and set(latest) == {("ann", "c001"), ("zed", "c009")}
    assert [str(w) for w in store.warnings] == [
        f"{zed_log}:2: ignored invalid record (rater 'ann' is not the rater of this log ('zed'))"]
    assert store.totals("extent").loc["c001", "ann"] == 2


def test_integrity_latest_follows_the_records_own_time_not_reading_order(tmp_path):
    later_saved_first = record(right=4, left=4, saved="2026-01-05T10:05:00.000Z")
    earlier_saved_second = record(right=0, left=0, saved="2026-01-05T10:00:00.000Z")
    # the same instant twice: the line further down the log wins
    tie_a = record(case_id="c002", right=1, left=1, saved="2026-01-05T10:00:00.000Z")
    tie_b = record(case_id="c002", right=3, left=3, saved="2026-01-05T10:00:00.000Z")
    # the same instant in another zone notation
    utc = record(case_id="c003", right=2, left=2, saved="2026-01-05T10:00:00.000Z")
    offset = record(case_id="c003", right=1, left=2, saved="2026-01-05T09:59:59.999+00:00")
    write_log(tmp_path / "pilot", "ann", [later_saved_first, earlier_saved_second, tie_a, tie_b, utc, offset])
    write_log(tmp_path / "pilot", "bob", [record("bob", saved="2026-01-05T12:00:00.000Z")])
    store = LabelStore(tmp_path, "pilot")
    latest = store.latest()
    assert latest[("ann", "c001")] == later_saved_first
    assert latest[("ann", "c002")] == tie_b
    assert latest[("ann", "c003")] == utc
    assert store.latest("ann") == {k: v for k, v in latest.items() if k[0] == "ann"}
    assert len(store.records("ann")) == 6 and store.warnings == []  # history kept


def test_integrity_repeated_record_id_is_left_out_but_a_rescore_is_history(tmp_path):
    first = record(right=1, left=1, saved="2026-01-05T10:00:00.000Z")
    rescore = record(right=3, left=3, saved="2026-01-05T10:01:00.000Z")
    copy = dict(first, comment="pasted again")  # same record_id as line 1
    path = write_log(tmp_path / "pilot", "ann", [first, rescore, copy])
    store = LabelStore(tmp_path, "pilot")
    assert store.records() == [first, rescore]
    assert store.latest()[("ann", "c001")] == rescore
    assert [str(w) for w in store.warnings] == [
        f"{path}:3: ignored invalid record (repeats record_id '{first['record_id']}' of line 1)"]


def test_integrity_save_refuses_what_the_reader_would_reject(tmp_path):
    store = LabelStore(tmp_path, "pilot", scales=SCALES)
    store.save(record())
    path = store.path_for("ann")
    before = path.read_bytes()
    for bad in (broken(MALFORMED["score out of scale"][0]), broken(MALFORMED["not_assessable text"][0]),
                record(seconds_on_case=float("nan")), record(extra_field=1)):
        bad.pop("record_id")
        with pytest.raises(StoreError, match="record not saved"):
            store.save(bad)
    assert path.read_bytes() == before


def test_integrity_not_assessable_record_keeps_null_scores(tmp_path):
    blank = record(not_assessable=True, not_assessable_reason="rotated")
    for entry in blank["scales"].values():
        entry["scores"] = {k: None for k in entry["scores"]}
        entry["total"] = None
    assert check_record(blank, scales=SCALES, rater="ann", cohort="pilot") is None
    store = LabelStore(tmp_path, "pilot", scales=SCALES)
    blank.pop("record_id")
    store.save(blank)
    assert store.long()["score"].isna().all() and store.warnings == []


def test_integrity_jsonschema_and_fastjsonschema_agree_on_every_case():
    schema = record_schema(SCALES)
    jsonschema.Draft7Validator.check_schema(schema)
    reference = jsonschema.Draft7Validator(schema)
    structural = {"score 2.5", "score text", "score out of scale", "score a boolean", "unknown component",
                  "missing component", "unknown scale", "unknown key", "scales a list", "scales a string",
                  "scores a list", "case_id a list", "not_assessable text", "time_saved not a time"}
    for name, (change, _) in MALFORMED.items():
        if name == "not an object":
            continue
        bad = broken(change)
        fast_ok = check_record(bad, scales=SCALES) is None
        assert reference.is_valid(bad) == (name not in structural), name
        assert not fast_ok or name in {"formula rater name", "path rater name", "other cohort"}, name
    assert reference.is_valid(record()) and check_record(record(), scales=SCALES) is None


@pytest.fixture
def study(tmp_path):
    """A study folder: cohort/ and labels/ with one valid and one forged/malformed line."""
    cohort = make_cohort(tmp_path / "study", n=3, name="pilot")
    folder = tmp_path / "study" / "labels" / "pilot"
    ids = cohort.display_ids
    ann = [record("ann", case_id=c, right=i, left=1, position=i + 1) for i, c in enumerate(ids)]
    write_log(folder, "ann", ann)
    zed = [record("zed", case_id=ids[0], right=0, left=0),
           record("ann", case_id=ids[1], right=4, left=4, saved="2026-01-06T10:00:00.000Z"),  # forged
           broken(MALFORMED["score 2.5"][0]) | {"rater": "zed", "case_id": ids[2]},
           '{"record_id": "cut',
           record("zed", case_id=ids[2], right=1, left=2)]
    write_log(folder, "zed", zed)
    return cohort, tmp_path / "study"


def test_integrity_export_and_progress_leave_out_and_name_bad_lines(study):
    cohort, root = study
    frame = ratings_export(cohort, root / "labels")
    zed_log = root / "labels" / "pilot" / "zed.jsonl"
    assert frame.attrs["warnings"] == [
        f"{zed_log}:2: ignored invalid record (rater 'ann' is not the rater of this log ('zed'))",
        f"{zed_log}:3: ignored invalid record (scales.extent.scores.right = 2.5 must be integer or null)",
        f"{zed_log}:4: ignored invalid record (not valid JSON: Unterminated string starting at)"]
    totals = frame[(frame.scale == "extent") & (frame.component == "total")]
    by_rater = totals.groupby("rater")["display_id"].count().to_dict()
    assert by_rater == {"ann": 3, "zed": 2}  # every valid record, no forged one
    ann = totals[totals.rater == "ann"].set_index("display_id")["score"]
    assert ann.loc[cohort.display_ids[1]] == 2  # ann's own score (1 + 1), not the forged 8
    progress = rater_progress(cohort, root / "labels").set_index("rater")
    assert progress.loc["zed", "saves"] == 2 and progress.loc["ann", "saves"] == 3
    assert progress.attrs["warnings"] == frame.attrs["warnings"]


@pytest.mark.parametrize("where", ["study", "labels", "labels/pilot"])
def test_integrity_labels_check_lists_every_bad_line_and_fails(study, capsys, where):
    _, root = study
    folder = root if where == "study" else root / where
    assert main(["labels", "check", str(folder)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 3 and all("zed.jsonl:" in line for line in lines)
    assert [line.split("zed.jsonl:")[1].split(":")[0] for line in lines] == ["2", "3", "4"]
    assert "2 label log(s), 5 valid record(s), 3 left out" in err


def test_integrity_labels_check_uses_the_cohorts_own_scales(tmp_path, capsys):
    cohort = make_cohort(tmp_path / "study", n=2, name="bx", scales=("brixia",))
    good = record(case_id=cohort.display_ids[0], cohort="bx")
    good["scales"] = {"brixia": {"version": "1", "scores": dict.fromkeys("ABCDEF", 3), "total": 18}}
    extent_in_brixia_study = record(case_id=cohort.display_ids[1], cohort="bx")
    write_log(tmp_path / "study" / "labels" / "bx", "ann", [good, extent_in_brixia_study])
    assert main(["labels", "check", str(tmp_path / "study")]) == 1
    out = capsys.readouterr().out
    assert "ann.jsonl:2:" in out and "unknown scale(s) ['extent', 'opacity']" in out and ":1:" not in out


def test_integrity_labels_check_passes_a_clean_study_and_names_unreadable_logs(tmp_path, capsys):
    write_log(tmp_path / "labels" / "pilot", "ann", [record()])
    assert main(["labels", "check", str(tmp_path)]) == 0
    assert "1 label log(s), 1 valid record(s), 0 left out" in capsys.readouterr().out
    (tmp_path / "labels" / "pilot" / "=evil.jsonl").write_text("{}\n")
    assert main(["labels", "check", str(tmp_path / "labels")]) == 1
    assert "=evil.jsonl:0: ignored invalid record (file name is not a rater ID: never read)" in capsys.readouterr().out
    assert main(["labels", "check", str(tmp_path / "nope")]) == 2


def test_integrity_export_cli_prints_warnings_with_control_characters_escaped(study, tmp_path, capsys):
    cohort, root = study
    with open(root / "labels" / "pilot" / "ann.jsonl", "a") as log:
        log.write(json.dumps(record(case_id="c\x1b[2Jx", record_id="r4")) + "\n")
    out = tmp_path / "ratings.csv"
    assert main(["labels", "export", str(cohort.dir), "--out", str(out), "--labels-dir", str(root / "labels")]) == 0
    err = capsys.readouterr().err
    assert "ann.jsonl:4: ignored invalid record (case_id = 'c\\x1b[2Jx' must match pattern" in err
    assert "\x1b" not in err
    assert len(pd.read_csv(out)) == 5 * 2 * 3


def test_integrity_training_flag_is_a_schema_field_and_must_be_boolean(tmp_path):
    store = LabelStore(tmp_path, "pilot", scales=SCALES)
    saved = store.save({k: v for k, v in record(training=True).items() if k != "record_id"})
    assert store.records() == [saved]
    assert check_record(record(training="yes"), scales=SCALES) == "training = 'yes' must be boolean"


def test_integrity_consensus_record_names_its_adjudicator(tmp_path):
    store = LabelStore(tmp_path, "pilot", scales=SCALES)
    consensus = {k: v for k, v in record("consensus", adjudicator="dr_x", comment="agreed").items()
                 if k != "record_id"}
    assert store.save(consensus)["adjudicator"] == "dr_x" and len(store.records()) == 1
    assert check_record(record(adjudicator=["x"]), scales=SCALES) == "adjudicator = ['x'] must be string"
