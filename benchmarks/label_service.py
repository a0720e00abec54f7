"""The label service alone: how long a save takes from a page's store to the acknowledged fsync.

Starts the service (covsev_tools.hub.labelservice) in this process on a free 127.0.0.1 port, with
a stand-in for the hub's token check (the hub answers it once per token, then the service's cache
does), on a throw-away study of ``--raters`` raters; each rater, in its own thread, saves
``--saves`` records through :class:`covsev_tools.labels.remote.ServiceLabelStore`, as the page does.
Prints p50/p95/max of the save round trip (schema check, order check, append, fsync, answer) and
checks that every acknowledged record is in the log. Not a test; no root needed.

The whole page (login, widgets, the next image) is measured by ``benchmarks/hub_load.py``.

Run: .venv/bin/python benchmarks/label_service.py [--raters 20] [--saves 20]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SCALES = {"extent": {"version": "1", "scores": {"right": 2, "left": 3}, "total": 5},
          "opacity": {"version": "1", "scores": {"right": 1, "left": 2}, "total": 3}}


def main(argv=None) -> int:
    from helpers import label_service, make_cohort

    from covsev_tools.hub.study import Study
    from covsev_tools.labels import LabelStore
    from covsev_tools.labels.remote import ServiceLabelStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--saves", type=int, default=20, help="records each rater saves (default 20)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="covsev-labelbench-"))
    cohort = make_cohort(work / "src", n=args.saves, name="pilot")
    study = Study.new(work / "study", name="bench")
    study.settings["cohorts"] = {"pilot": str(cohort.dir)}
    study.save()
    names = [f"r{i:02d}" for i in range(args.raters)]
    for name in names:
        study.add_member(name, "rater")
        study.assign(name, "pilot")
        cohort.reading_order(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    acknowledged: dict[str, set[str]] = {name: set() for name in names}

    def rater(url: str, name: str, start: threading.Barrier) -> None:
        store = ServiceLabelStore(url, "pilot", token=f"tok-{name}")
        order = store.reading_order(cohort, name)
        start.wait()
        for position, case in enumerate(order, start=1):
            began = time.perf_counter()
            saved = store.save({"case_id": case, "position": position, "scales": SCALES})
            times[name].append((time.perf_counter() - began) * 1000)
            acknowledged[name].add(saved["record_id"])

    with label_service(study.dir) as url:
        start = threading.Barrier(len(names))
        threads = [threading.Thread(target=rater, args=(url, n, start)) for n in names]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    every = sorted(t for values in times.values() for t in values)
    pick = lambda q: every[min(len(every) - 1, int(round(q * (len(every) - 1))))]  # noqa: E731
    store = LabelStore(study.labels_dir, "pilot")
    lost = sum(len(acknowledged[n] - {r["record_id"] for r in store.records(n)}) for n in names)
    print(f"label service: {args.raters} raters x {args.saves} saves at once, {wall:.1f} s wall")
    print(f"save round trip p50 {pick(0.5):.1f} ms, p95 {pick(0.95):.1f} ms, max {every[-1]:.1f} ms "
          f"({len(every)} saves, {len(every) / wall:.0f} per second)")
    print(f"lost: {lost}")
    from covsev_tools.hub.permissions import release_append_only
    import shutil

    release_append_only(work)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
