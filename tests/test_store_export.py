"""Coordinator side: ratings export (unblinding), blind-safe progress, and the `covsev labels` CLI."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from covsev_tools.scoring.app import ScoringApp
from covsev_tools.cli import main
from covsev_tools.labels.progress import PROGRESS_COLUMNS, rater_progress
from covsev_tools.labels import EXPORT_COLUMNS, LabelStore, ratings_export
from covsev_tools.scales import load_scale

from helpers import make_cohort


@pytest.fixture
def study(tmp_path):
    """4 cases + 2 hidden repeats with metadata; rad1 scored everything, rad2 two cases."""
    cohort = make_cohort(tmp_path, n=4, name="exp", repeat_fraction=0.5)
    labels = tmp_path / "labels"
    rad1 = ScoringApp(cohort.dir, rater="rad1", labels_dir=labels)
    for position in range(6):
        for key in ["1", "2", "0", "3"] if position else ["n"]:
            rad1.keys.simulate(key)
        rad1.keys.simulate("Enter")
    rad2 = ScoringApp(cohort.dir, rater="rad2", labels_dir=labels)
    for key in "44334433":
        rad2.keys.simulate(key)
        if rad2.session.entry.scores[("opacity", "left")] is not None:
            rad2.keys.simulate("Enter")
    return cohort, labels


def test_export_resolves_repeats_and_maps_back_to_files(study):
    cohort, labels = study
    frame = ratings_export(cohort, labels)
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    assert len(frame) == (6 + 2) * 2 * 3 and frame.attrs["unknown_ids"] == []
    repeats = cohort.repeats()
    rows = frame[frame["is_repeat"]]
    assert set(rows["display_id"]) == set(repeats) and (rows["rater"] == "rad1").all()
    assert (rows["case_id"] == rows["display_id"].map(repeats)).all()
    key = cohort.key().set_index("case_id")["filename"]
    assert (frame["filename"] == frame["case_id"].map(key)).all()
    assert frame["filename"].str.startswith("SECRETPATIENT").all()
    first = cohort.reading_order("rad1")[0]
    blank = frame[(frame["display_id"] == first) & (frame["rater"] == "rad1")]
    assert blank["not_assessable"].all() and blank["score"].isna().all() and len(blank) == 6
    rad2 = frame[(frame["rater"] == "rad2") & (frame["scale"] == "extent") & (frame["component"] == "total")]
    assert rad2["score"].tolist() == [8, 8]


def test_progress_is_blind_safe_counts_and_times_only(study):
    cohort, labels = study
    table = rater_progress(cohort, labels)
    assert list(table.columns) == list(PROGRESS_COLUMNS)
    assert table[["rater", "scored", "of", "remaining", "saves", "sessions"]].values.tolist() == [
        ["rad1", 6, 6, 0, 6, 1], ["rad2", 2, 6, 4, 2, 1]]
    assert table["next_position"].isna().tolist() == [True, False] and table["next_position"][1] == 3
    assert table["median_seconds"].notna().all()
    # blind: the table must not change when every score, flag and comment is changed (to other
    # valid values: an invalid record is left out, which progress must show)
    for path in (labels / "exp").glob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for record in records:
            record.update(not_assessable=not record["not_assessable"], comment="LEAK")
            for name, entry in record["scales"].items():
                levels = max(load_scale(name).values) + 1
                entry["scores"] = {k: 0 if v is None else (v + 1) % levels for k, v in entry["scores"].items()}
                entry["total"] = sum(entry["scores"].values())
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    pd.testing.assert_frame_equal(rater_progress(cohort, labels), table)


def test_cli_export_and_status(study, tmp_path, capsys):
    cohort, labels = study
    out = tmp_path / "ratings.csv"
    assert main(["labels", "export", str(cohort.dir), "--out", str(out), "--labels-dir", str(labels)]) == 0
    assert "wrote 48 rows (2 raters, 4 cases)" in capsys.readouterr().out
    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(raw["is_repeat"]) == {"true", "false"} and set(raw["not_assessable"]) == {"true", "false"}
    assert raw.loc[raw["not_assessable"] == "true", "score"].eq("").all()
    assert main(["labels", "status", str(cohort.dir), "--labels-dir", str(labels)]) == 0
    status = capsys.readouterr().out
    assert "rad1" in status and "rad2" in status and "median_seconds" in status


def test_cli_reports_torn_lines_and_bad_cohort(study, tmp_path, capsys):
    cohort, labels = study
    with open(LabelStore(labels, "exp").path_for("rad2"), "ab") as handle:
        handle.write(b'{"schema": 1, "record_id": "cut')
    out = tmp_path / "ratings.csv"
    assert main(["labels", "export", str(cohort.dir), "--out", str(out), "--labels-dir", str(labels)]) == 0
    captured = capsys.readouterr()
    assert "rad2.jsonl:3: ignored invalid record" in captured.err and "wrote 48 rows" in captured.out
    assert main(["labels", "export", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "not a cohort folder" in capsys.readouterr().err


def test_export_leaves_out_ids_not_in_the_cohort(study):
    cohort, labels = study
    LabelStore(labels, "exp").save({"rater": "rad3", "case_id": "cgone0000", "scales": {}})
    frame = ratings_export(cohort, labels)
    assert frame.attrs["unknown_ids"] == ["cgone0000"] and "rad3" not in set(frame["rater"])


def test_cli_export_of_an_empty_store_is_an_error(study, tmp_path, capsys):
    cohort, _ = study
    out = tmp_path / "ratings.csv"
    empty = tmp_path / "nowhere"
    assert main(["labels", "export", str(cohort.dir), "--out", str(out), "--labels-dir", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no ratings for cohort 'exp'" in err and str(empty / "exp") in err
    assert not out.exists()


def test_progress_median_time_is_the_textbook_median(tmp_path):
    cohort = make_cohort(tmp_path, n=4, name="med")
    store = LabelStore(tmp_path / "labels", "med")
    for case_id, seconds in zip(cohort.reading_order("rad9"), (40.0, 10.0, 20.0, 30.0)):
        store.save({"rater": "rad9", "case_id": case_id, "seconds_on_case": seconds})
    row = rater_progress(cohort, tmp_path / "labels").set_index("rater").loc["rad9"]
    assert row["median_seconds"] == 25.0 and row["scored"] == 4


def test_progress_never_writes_a_reading_order(study):
    cohort, labels = study
    order_file = cohort.dir / "orders" / "rad2.json"
    saved = order_file.read_bytes()
    order_file.unlink()  # e.g. a label file copied in from another machine, without its order
    table = rater_progress(cohort, labels).set_index("rater")
    assert not order_file.exists()
    assert (table.loc["rad2", "scored"], table.loc["rad2", "next_position"]) == (2, 3)
    assert cohort.reading_order("rad2") and order_file.read_bytes() == saved  # same order, seeded


# ------------------------------------------------------------------ the columnar export = the previous one

def _previous_long_frame(records):
    """The long table as the previous implementation built it: one Python dict per output row."""
    from covsev_tools.labels import LONG_COLUMNS

    rows = []
    for record in records:
        base = {k: record.get(k) for k in LONG_COLUMNS if k not in ("scale", "scale_version", "component", "score")}
        base["not_assessable"] = bool(record.get("not_assessable", False))
        for scale, entry in record.get("scales", {}).items():
            scores = dict(entry.get("scores") or {})
            scores["total"] = entry.get("total")
            for component, score in scores.items():
                rows.append({**base, "scale": scale, "scale_version": entry.get("version"), "component": component,
                             "score": None if base["not_assessable"] else score})
    frame = pd.DataFrame(rows, columns=list(LONG_COLUMNS))
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    return frame


def _previous_export(cohort, labels):
    """The previous ratings_export (row dicts, merge, sort) on the store's latest records."""
    from covsev_tools.cohort import KEY_COLUMNS

    store = LabelStore(labels, cohort.name, scales=cohort.scales)
    known, repeats = set(cohort.display_ids), cohort.repeats()
    long = _previous_long_frame(store.latest().values()).rename(columns={"case_id": "display_id"})
    long = long[long["display_id"].isin(known)].copy()
    long["case_id"] = long["display_id"].map(lambda d: repeats.get(d, d))
    long["is_repeat"] = long["display_id"].isin(list(repeats))
    key = cohort.key()
    originals = key[key["status"] == "ok"].drop_duplicates("case_id")
    metadata = [c for c in key.columns if c not in KEY_COLUMNS]
    frame = long.merge(originals[["case_id", "filename", *metadata]], on="case_id", how="left")
    frame["score"] = frame["score"].astype("Int64")
    frame["cohort"] = cohort.name
    frame = frame[list(EXPORT_COLUMNS) + metadata]
    return frame.sort_values(["case_id", "rater", "is_repeat", "scale"], kind="stable").reset_index(drop=True)


def test_columnar_export_equals_the_previous_implementation(study):
    cohort, labels = study
    store = LabelStore(labels, "exp", scales=cohort.scales)
    order = cohort.reading_order("rad3")
    for position, case_id in enumerate(order[:3] + order[:1], start=1):  # a re-score, a blank, history
        blank = position == 2
        scales = {s.name: {"version": s.version,
                           "scores": {c.key: None if blank else position % 3 for c in s.components},
                           "total": None if blank else position % 3 * len(s.components)} for s in cohort.scales}
        store.save({"rater": "rad3", "case_id": case_id, "scales": scales, "not_assessable": blank,
                    "not_assessable_reason": "rotated" if blank else None, "position": position,
                    "comment": "=1+1" if position == 3 else ""})
    store.save({"rater": "rad3", "case_id": "cgone0000", "scales": {}})  # not in the cohort
    store.save({"rater": "rad4", "case_id": order[4],  # scores written as 2.0: valid, kept float as before
                "scales": {"extent": {"version": "1", "scores": {"right": 2.0, "left": 1}, "total": 3}}})
    new, old = ratings_export(cohort, labels), _previous_export(cohort, labels)
    assert len(new) == (6 + 2 + 3) * 2 * 3 + 3
    pd.testing.assert_frame_equal(new, old)
    for history in (False, True):
        records = store.records() if history else store.latest().values()
        pd.testing.assert_frame_equal(store.long(history=history), _previous_long_frame(records))
