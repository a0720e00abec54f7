"""Time and peak memory of `labels export` and `labels status` on large label stores.

A study of N records (N / raters cases, every rater scored every case, 10% hidden repeats, every
record valid) is written once as plain JSON lines, then each step runs in a fresh process so that
its peak resident memory is its own:

    .venv/bin/python benchmarks/labels_export.py                 # 25k and 100k records
    .venv/bin/python benchmarks/labels_export.py --records 100000 --raters 4

`benchmarks/scale.py` (or anything else) can call :func:`measure` for one size.
Issue 16's goal: the export of 100k records in at most 300 MB.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class SyntheticCohort:
    """What the export and progress read from a cohort, without 100,000 display images on disk."""

    def __init__(self, root: Path, n_cases: int, repeat_fraction: float = 0.1, name: str = "bench"):
        from covsev_tools.scales import load_scale

        self.name, self.dir = name, root / "cohort"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.case_ids = [f"c{i:08d}" for i in range(n_cases)]
        n_repeats = int(n_cases * repeat_fraction)
        self._repeats = {f"r{i:08d}": self.case_ids[i * 7 % n_cases] for i in range(n_repeats)}
        self.display_ids = self.case_ids + list(self._repeats)
        self.scales = [load_scale("extent"), load_scale("opacity")]

    def repeats(self) -> dict:
        return dict(self._repeats)

    def reading_order(self, rater: str, save: bool = True) -> list:
        return list(self.display_ids)

    def key(self):
        import pandas as pd

        n = len(self.case_ids)
        return pd.DataFrame({"case_id": self.case_ids, "sha256": ["0" * 64] * n,
                             "filename": [f"img_{i:06d}.png" for i in range(n)],
                             "path": [f"/data/img_{i:06d}.png" for i in range(n)], "duplicate_of": [""] * n,
                             "status": ["ok"] * n, "error": [""] * n,
                             "age": [str(20 + i % 70) for i in range(n)], "sex": ["MF"[i % 2] for i in range(n)]})


def write_study(root: Path, n_records: int, raters: int = 4) -> None:
    """Label logs of ``n_records`` valid records (plain appends: a benchmark needs no fsync per line)."""
    n_display = n_records // raters
    n_cases = round(n_display / 1.1)
    cohort = SyntheticCohort(root, n_cases)
    rng = random.Random(0)
    folder = root / "labels" / cohort.name
    folder.mkdir(parents=True, exist_ok=True)
    for r in range(raters):
        rater = f"rad{r + 1}"
        with open(folder / f"{rater}.jsonl", "w", encoding="utf-8") as log:
            for position, case_id in enumerate(cohort.display_ids[:n_display], start=1):
                right, left, o_right, o_left = (rng.randint(0, 4), rng.randint(0, 4), rng.randint(0, 3),
                                                rng.randint(0, 3))
                record = {"schema": 1, "record_id": f"{rng.getrandbits(128):032x}", "cohort": cohort.name,
                          "case_id": case_id, "rater": rater, "session_id": f"s{r}{position // 500}",
                          "position": position,
                          "scales": {"extent": {"version": "1", "scores": {"right": right, "left": left},
                                                "total": right + left},
                                     "opacity": {"version": "1", "scores": {"right": o_right, "left": o_left},
                                                 "total": o_right + o_left}},
                          "not_assessable": False, "not_assessable_reason": None,
                          "comment": "hazy" if position % 17 == 0 else "",
                          "time_shown": f"2026-01-05T10:{position // 60 % 60:02d}:{position % 60:02d}.000Z",
                          "time_saved": f"2026-01-05T11:{position // 60 % 60:02d}:{position % 60:02d}.500Z",
                          "seconds_on_case": round(rng.uniform(5, 60), 3)}
                log.write(json.dumps(record) + "\n")


def _run_step(root: Path, step: str, n_records: int, raters: int) -> dict:
    """One step in this process (called in a fresh child): time and peak RSS."""
    sys.path.insert(0, str(HERE.parent))
    from covsev_tools.labels import rater_progress, ratings_export, write_ratings_csv

    n_cases = round(n_records // raters / 1.1)
    cohort = SyntheticCohort(root, n_cases)
    started = time.perf_counter()
    if step == "export":
        frame = ratings_export(cohort, root / "labels")
        write_ratings_csv(frame, root / "ratings.csv")
        rows = len(frame)
    else:
        rows = len(rater_progress(cohort, root / "labels"))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": step, "records": n_records, "rows": rows, "seconds": round(seconds, 2),
            "peak_mb": round(peak_mb)}


def measure(n_records: int, raters: int = 4, steps=("export", "status")) -> list[dict]:
    """Write a study of ``n_records`` and run each step in a fresh process; one dict per step."""
    results = []
    with tempfile.TemporaryDirectory(prefix="covsev-labels-bench-") as tmp:
        write_study(Path(tmp), n_records, raters)
        for step in steps:
            out = subprocess.run([sys.executable, __file__, "--child", tmp, step, str(n_records), str(raters)],
                                 check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--raters", type=int, default=4)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, step, n, raters = args.child
        print(json.dumps(_run_step(Path(root), step, int(n), int(raters))))
        return
    print(f"{'step':<8}{'records':>9}{'rows':>10}{'seconds':>9}{'peak MB':>9}")
    for n in args.records:
        for row in measure(n, args.raters):
            print(f"{row['step']:<8}{row['records']:>9}{row['rows']:>10}{row['seconds']:>9.2f}{row['peak_mb']:>9}")


if __name__ == "__main__":
    main()
