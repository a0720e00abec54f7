"""A rater's log written to break the coordinator's tools (issue 21): nothing hangs, nothing tracebacks.

A rater owns their own log file, so their process can append anything to it, hold a lock on it, or
put something that is not a file in its place. Every reader (the store, export, progress, ``covsev
labels check``, ``hub status``) must name each such line or file and go on with the valid records;
the store refuses on write what the reader would leave out (non-finite times, saves from the future,
lines over the size limit).
"""
from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time

import pytest

from covsev_tools.cli import main
from covsev_tools.labels import LabelStore, StoreError, rater_progress, ratings_export
from covsev_tools.labels import store as store_module
from covsev_tools.labels.records import MAX_LINE_BYTES

from helpers import make_cohort
from test_labels_integrity import record, write_log


@pytest.fixture()
def hostile(tmp_path):
    """A study whose rater 'ann' appended one valid record and then every kind of hostile line."""
    cohort = make_cohort(tmp_path / "study", n=3, name="pilot")
    ids = cohort.display_ids
    lines = [
        record("ann", case_id=ids[0]),
        "[" * 600_000 + "]" * 600_000,                                  # 2: over the size limit
        "[" * 60_000 + "]" * 60_000,                                    # 3: under it, overflows the parser
        json.dumps(record("ann", case_id=ids[1])).replace('"seconds_on_case": 60.0', '"seconds_on_case": Infinity'),
        json.dumps(record("ann", case_id=ids[1])).replace('"seconds_on_case": 60.0', '"seconds_on_case": 1e999'),
        record("ann", case_id=ids[2], saved="2099-01-01T00:00:00.000Z"),  # 6: from the future
        record("ann", case_id=ids[1], right=1, left=1, saved="2026-01-06T10:00:00.000Z"),
    ]
    write_log(tmp_path / "study" / "labels" / "pilot", "ann", lines)
    return cohort, tmp_path / "study"


def test_hostile_lines_are_named_and_skipped_everywhere(hostile, capsys):
    cohort, root = hostile
    store = LabelStore(root / "labels", "pilot", scales=cohort.scales)
    assert [r["case_id"] for r in store.records()] == [cohort.display_ids[0], cohort.display_ids[1]]
    reasons = {w.line_number: w.reason for w in store.warnings}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert reasons[2] == f"line of 1,200,000 bytes, over the limit of {MAX_LINE_BYTES:,}: not read"
    assert reasons[3].startswith("cannot be read (RecursionError")
    assert reasons[4] == "cannot be read (ValueError: Infinity is not a JSON number)"
    assert reasons[5] == "seconds_on_case = inf is not a finite number"
    assert reasons[6].startswith("time_saved = '2099-01-01T00:00:00.000Z' is in the future")
    # the future record does not win "latest" over the real re-score
    latest = store.latest()
    assert latest[("ann", cohort.display_ids[1])]["scales"]["extent"]["total"] == 2
    assert ("ann", cohort.display_ids[2]) not in latest
    frame = ratings_export(cohort, root / "labels")
    assert len(frame.attrs["warnings"]) == 5
    assert rater_progress(cohort, root / "labels").set_index("rater").loc["ann", "saves"] == 2
    assert main(["labels", "check", str(root)]) == 1
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 5 and "Traceback" not in out + err


def test_a_line_over_the_size_limit_is_not_read(tmp_path):
    big = json.dumps(record(comment="x" * (MAX_LINE_BYTES + 10)))
    write_log(tmp_path / "labels" / "pilot", "ann", [big, record(case_id="c002")])
    store = LabelStore(tmp_path / "labels", "pilot")
    assert [r["case_id"] for r in store.records()] == ["c002"]
    assert store.warnings[0].reason == f"line of {len(big):,} bytes, over the limit of {MAX_LINE_BYTES:,}: not read"


def test_save_refuses_what_the_reader_leaves_out(tmp_path):
    store = LabelStore(tmp_path, "pilot")
    base = {"rater": "ann", "case_id": "c1"}
    with pytest.raises(StoreError, match="seconds_on_case = inf is not a finite number"):
        store.save({**base, "seconds_on_case": float("inf")})
    with pytest.raises(StoreError, match="is in the future"):
        store.save({**base, "time_saved": "2099-01-01T00:00:00Z"})
    with pytest.raises(StoreError, match="over the limit of 1,048,576"):
        store.save({**base, "comment": "x" * MAX_LINE_BYTES})
    assert not (tmp_path / "pilot" / "ann.jsonl").exists()
    assert store.save(base)["case_id"] == "c1"  # a save of now is fine


HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_another_process_is_named_and_nothing_hangs(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 0.5)
    path = write_log(tmp_path / "labels" / "pilot", "ann", [record()])
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE,
                              start_new_session=True)
    try:
        assert holder.stdout.readline() == b"locked\n"
        store = LabelStore(tmp_path / "labels", "pilot")
        started = time.monotonic()
        assert len(store.records()) == 1  # read without the lock, after the timeout
        assert time.monotonic() - started < 3
        (warning,) = store.warnings
        me = pwd.getpwuid(os.getuid()).pw_name
        assert warning.reason == f"locked by process {holder.pid} of {me} for more than 0 s: read without the lock"
        with pytest.raises(StoreError, match=f"locked by process {holder.pid} of .* for more than"):
            store.save({"rater": "ann", "case_id": "c002"})
    finally:
        holder.kill()
        holder.wait()
    assert LabelStore(tmp_path / "labels", "pilot").save({"rater": "ann", "case_id": "c002"})


def test_a_log_that_is_not_a_file_is_named_not_waited_on(tmp_path):
    folder = tmp_path / "labels" / "pilot"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "ann.jsonl")  # reading a FIFO with no writer would wait forever
    write_log(tmp_path / "elsewhere", "zed", [record("zed")])
    (folder / "zed.jsonl").symlink_to(tmp_path / "elsewhere" / "zed.jsonl")
    store = LabelStore(tmp_path / "labels", "pilot")
    assert store.records() == []
    reasons = {w.path.name: w.reason for w in store.warnings}
    assert reasons["ann.jsonl"] == "not a regular file: not read"
    assert reasons["zed.jsonl"].startswith("cannot be read (Too many levels of symbolic links)")
