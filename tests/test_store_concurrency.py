"""Concurrent appends: several processes, each with several threads, saving at the same moment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from covsev_tools.labels.store import LabelStore

REPO = Path(__file__).resolve().parents[1]
PROCESSES, THREADS, SAVES = 4, 3, 60

WORKER = r"""
import sys, threading
from covsev_tools.labels.store import LabelStore
labels, worker, threads, saves, barrier_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
import os, time
while not os.path.exists(barrier_file):  # start all processes at the same moment
    time.sleep(0.001)
def run(t):
    store = LabelStore(labels, "conc")
    for i in range(saves):
        rater = ("rad1", "rad2")[i % 2]
        store.save({"rater": rater, "case_id": f"{worker}-{t}-{i}", "comment": "y" * (i * 97),
                    "scales": {"extent": {"version": "1", "scores": {"right": 1, "left": 2}, "total": 3}}})
workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
[w.start() for w in workers]
[w.join() for w in workers]
"""


def test_processes_and_threads_appending_at_once_lose_and_interleave_nothing(tmp_path):
    labels, barrier = tmp_path / "labels", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(labels), f"p{p}", str(THREADS),
                               str(SAVES), str(barrier)], env=env, cwd=REPO) for p in range(PROCESSES)]
    barrier.touch()
    assert [p.wait(timeout=120) for p in procs] == [0] * PROCESSES

    per_rater = PROCESSES * THREADS * SAVES // 2
    for rater in ("rad1", "rad2"):
        lines = (labels / "conc" / f"{rater}.jsonl").read_bytes().split(b"\n")
        assert lines[-1] == b""
        parsed = [json.loads(line) for line in lines[:-1]]  # every line valid JSON
        assert len(parsed) == per_rater
        assert all(len(r["comment"]) == int(r["case_id"].rsplit("-", 1)[1]) * 97 for r in parsed)
    store = LabelStore(labels, "conc")
    records = store.records()
    assert store.warnings == []
    assert Counter(r["rater"] for r in records) == {"rad1": per_rater, "rad2": per_rater}
    assert len({r["record_id"] for r in records}) == len({r["case_id"] for r in records}) == 2 * per_rater


def test_threads_of_one_process_sharing_one_store(tmp_path):
    store = LabelStore(tmp_path, "conc")

    def run(t):
        for i in range(50):
            store.save({"rater": "rad1", "case_id": f"t{t}-{i}"})

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(store.latest()) == 400 and store.warnings == []
