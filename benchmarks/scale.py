"""How covsev's steps grow with the study: time and peak memory at sizes x1, x4, x16.

Each step runs in a fresh Python process (start-up included, as a user sees it); the child reports
its peak resident memory, the parent its wall time and CPU time (CPU time is steadier on a shared
machine). After the three sizes the growth exponent of each step is fitted (log time against log
size; 1 is linear).

Steps (inputs are built once per size by the current tree, so every tree reads the same files):

* ``report``       ``covsev report`` on a simulated cohort, 3 raters, 1,000 resamples;
* ``agreement``    ``covsev agreement --json`` on integer / continuous 0-8 scores and on negative,
                   unbounded and heavy-tailed real scores, with and without 10% missing
                   ratings, 3 raters, 1,000 resamples;
* ``orders``       reading orders of a cohort with 10% hidden repeats;
* ``export``       ``covsev labels export`` of a label store: n cases, 10% hidden repeats,
                   4 raters, so 4.4 n records;
* ``status``       ``covsev labels status`` of the same cohort.

Usage::

    python benchmarks/scale.py                         # the current tree
    python benchmarks/scale.py --compare /tmp/before   # side by side with another tree
    python benchmarks/scale.py --steps report --report-base 100 --sizes 1 --repeat 7
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Base size of each step (x1); the issue's goals sit at x16 (20,000-case report, 16,000-case
#: agreement, 100,000-case reading orders, 100,000-record export).
BASE = {"report": 1250, "agreement": 1000, "orders": 6250, "export": 6250, "status": 6250}

CHILD = r'''
import json, sys
sys.argv = [sys.argv[0]] + json.loads(sys.argv[1])
kind, args = sys.argv[1], sys.argv[2:]


def report_peak(code):
    import covsev_tools
    # VmHWM is this process's own high-water mark; ru_maxrss would keep the parent's peak across exec
    with open("/proc/self/status") as status:
        hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    print(json.dumps({"peak_mb": int(hwm[0]) / 1024, "code": code, "tree": covsev_tools.__file__}),
          flush=True)


if kind == "cli":
    # the tree's own console script, exit included (how covsev leaves is part of its cost:
    # benchmarks/exit_teardown.py); the peak is read when the command returns
    import importlib
    try:
        cli = importlib.import_module("covsev_tools.cli.main")  # the module (the package exports main())
    except ModuleNotFoundError:  # a tree from before the CLI became a package
        cli = importlib.import_module("covsev_tools.cli")
    command = cli.main

    def main_then_peak(argv=None):
        code = command(argv)
        report_peak(code)
        return code

    cli.main = main_then_peak
    sys.argv = ["covsev", *args]
    if hasattr(cli, "console_main"):
        cli.console_main()
    sys.exit(main_then_peak(args))  # a tree from before the console script had its own entry
elif kind == "orders":
    import random
    from covsev_tools.cohort import build_reading_order
    n = int(args[0])
    ids = [f"c{i:07d}" for i in range(n)]
    rng = random.Random(0)
    repeats = {f"r{i:07d}": c for i, c in enumerate(rng.sample(ids, n // 10))}
    order = build_reading_order(ids, repeats, seed=1, min_gap=5)
    report_peak(0 if len(order) == n + n // 10 else 1)
'''


def run_child(tree: Path, kind: str, args: list[str]) -> dict:
    """Run one step in a fresh interpreter with ``tree`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MPLBACKEND": "Agg"}
    before = os.times()
    start = time.perf_counter()
    # run outside any checkout: ``python -c`` puts the working folder first on sys.path
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps([kind, *args])], env=env,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"peak_mb"')]
    if proc.returncode or not lines:
        return {"wall": math.nan, "cpu": math.nan, "peak_mb": math.nan,
                "error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return {"wall": wall, "cpu": cpu, **json.loads(lines[-1])}


# --------------------------------------------------------------------------- inputs

def report_inputs(n: int, folder: Path) -> list[str]:
    from covsev_tools.datasets import simulate_cohort

    cohort = folder / f"cohort-{n}"
    if not (cohort / "ratings.csv").is_file():
        simulate_cohort(seed=0, n_cases=n, n_raters=3).write(cohort)
    return ["report", "--cohort", str(cohort), "--out", str(folder / f"report-{n}"),
            "--bootstrap", "1000"]


#: Score distributions of the agreement step. ``integer`` and ``continuous`` are the 0-8 scale;
#: the others are what model outputs, differences or centred scores look like (issue 23 found a
#: quadratic path that only negative scores took): ``negative`` raw outputs around 0,
#: ``unbounded`` a wide normal, ``heavy`` Student-t with 1 degree of freedom (Cauchy).
AGREEMENT_KINDS = ("integer", "continuous", "negative", "unbounded", "heavy")


def agreement_scores(kind: str, n: int, rng):
    import numpy as np

    if kind in ("integer", "continuous"):
        truth = rng.uniform(0, 8, n)
        scores = truth[:, None] + rng.normal(0, 1, (n, 3))
        scores = np.clip(scores if kind == "continuous" else np.rint(scores), 0, 8)
        if kind == "continuous":
            scores = scores + rng.uniform(0, 1e-3, scores.shape)  # no shared values: not categorical
        return scores
    if kind == "negative":
        return rng.normal(-1, 1.5, n)[:, None] + rng.normal(0, 0.5, (n, 3))
    if kind == "unbounded":
        return rng.normal(0, 1e4, n)[:, None] + rng.normal(0, 1e3, (n, 3))
    return rng.standard_t(1, n)[:, None] + rng.standard_t(1, (n, 3))


def agreement_inputs(n: int, folder: Path, kind: str, missing: bool) -> list[str]:
    import numpy as np
    import pandas as pd

    name = f"agreement-{n}-{kind}-{'miss' if missing else 'full'}.csv"
    path = folder / name
    if not path.is_file():
        rng = np.random.default_rng(n)
        scores = agreement_scores(kind, n, rng)
        long = pd.DataFrame({"case": np.repeat(np.arange(n), 3), "rater": np.tile(["A", "B", "C"], n),
                             "score": scores.ravel()})
        if missing:
            long = long[rng.random(len(long)) > 0.1]
        long.to_csv(path, index=False)
    return ["agreement", str(path), "--bootstrap", "1000", "--json", "--out", str(path.with_suffix(".json"))]


def label_inputs(n: int, folder: Path) -> tuple[Path, Path]:
    """A cohort folder of ``n`` cases (10% hidden repeats) and a label store of 4 raters."""
    cohort, labels = folder / f"labels-cohort-{n}", folder / f"labels-{n}"
    if (cohort / "key.csv").is_file():
        return cohort, labels
    template_cohort, template = _template(folder)
    cohort.mkdir(parents=True)
    info = json.loads((template_cohort / "cohort.json").read_text())
    info["name"] = f"bench{n}"
    ids = [f"c{i:08x}" for i in range(n)]
    # hidden repeats get case IDs of their own, as `covsev cohort create` gives them (a manifest ID
    # must look like a case ID)
    repeats = {f"c{n + i:08x}": ids[i * 10] for i in range(n // 10)}
    info["repeats"]["n"] = len(repeats)
    (cohort / "cohort.json").write_text(json.dumps(info))
    # the coordinator's seed of the reading orders (`labels status` rebuilds them)
    (cohort / "secret.json").write_text((template_cohort / "secret.json").read_text())
    (cohort / "manifest.csv").write_text("case_id\n" + "\n".join(ids + list(repeats)) + "\n")
    (cohort / "repeats.csv").write_text("repeat_id,case_id\n" + "".join(f"{r},{c}\n" for r, c in repeats.items()))
    header = (template_cohort / "key.csv").read_text().splitlines()[0]
    rows = [f"{c},{i:064x},img{i}.png,/x/img{i}.png,,ok,,32,32,8,png" for i, c in enumerate(ids)]
    (cohort / "key.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    store = labels / info["name"]
    store.mkdir(parents=True)
    for r, rater in enumerate(("a", "b", "c", "d")):
        lines = []
        for position, display_id in enumerate(ids + list(repeats), start=1):
            record = dict(template, rater=rater, case_id=display_id, position=position,
                          record_id=f"{r:02x}{position:030x}", cohort=info["name"])
            lines.append(json.dumps(record))
        (store / f"{rater}.jsonl").write_text("\n".join(lines) + "\n")
    return cohort, labels


def _template(folder: Path):
    """A real cohort folder and one record saved by the label store, to copy the formats from."""
    import numpy as np
    from PIL import Image

    from covsev_tools.cohort import create_cohort
    from covsev_tools.labels import LabelStore

    images = folder / "template-images"
    images.mkdir(exist_ok=True)
    for i in range(3):
        Image.fromarray((np.random.default_rng(i).random((32, 32)) * 255).astype("uint8")).save(images / f"i{i}.png")
    cohort = create_cohort(images, "template", out_dir=folder / "template-cohort", seed=1,
                           repeat_fraction=0, progress=False)
    record = LabelStore(folder / "template-labels", "template").save({
        "rater": "a", "case_id": cohort.display_ids[0], "session_id": "s", "position": 1,
        "scales": {"extent": {"version": "1", "scores": {"right": 2, "left": 1}, "total": 3},
                   "opacity": {"version": "1", "scores": {"right": 1, "left": 1}, "total": 2}},
        "not_assessable": False, "not_assessable_reason": None, "comment": "",
        "time_shown": "2026-01-01T10:00:00.000Z", "seconds_on_case": 3.0})
    return folder / "template-cohort", record


def step_args(step: str, n: int, folder: Path) -> tuple[str, list[str]]:
    if step == "report":
        return "cli", report_inputs(n, folder)
    if step.startswith("agreement"):
        _, kind, missing = step.split(":")
        return "cli", agreement_inputs(n, folder, kind, missing == "missing")
    if step == "orders":
        return "orders", [str(n)]
    cohort, labels = label_inputs(n, folder)
    if step == "export":
        return "cli", ["labels", "export", str(cohort), "--labels-dir", str(labels), "--out",
                       str(folder / f"export-{n}.csv")]
    return "cli", ["labels", "status", str(cohort), "--labels-dir", str(labels)]


# --------------------------------------------------------------------------- table

def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (an error if any run failed)."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    return sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]


def exponent(sizes, times) -> float:
    """Least-squares slope of log time on log size."""
    pts = [(math.log(s), math.log(t)) for s, t in zip(sizes, times) if t == t and t > 0]
    if len(pts) < 2:
        return math.nan
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", type=Path, metavar="TREE", help="another checkout to time side by side")
    parser.add_argument("--steps", default="report,agreement,orders,export,status",
                        help="comma-separated: report, agreement, orders, export, status")
    parser.add_argument("--sizes", default="1,4,16", help="multiples of each step's base size")
    parser.add_argument("--report-base", type=int, default=BASE["report"], metavar="N")
    parser.add_argument("--work", type=Path, help="folder for the inputs (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="runs per tree and size, the trees taking turns; the table shows the "
                             "median and, below it, the range of wall times (this machine's speed "
                             "drifts by up to 50%% within an hour)")
    args = parser.parse_args(argv)
    base = {**BASE, "report": args.report_base}
    steps = []
    for step in args.steps.split(","):
        if step == "agreement":
            steps += [f"agreement:{k}:{m}" for k in AGREEMENT_KINDS for m in ("full", "missing")]
        else:
            steps.append(step)
    multiples = [int(m) for m in args.sizes.split(",")]
    trees = [("after", ROOT)] + ([("before", args.compare)] if args.compare else [])
    folder = args.work or Path(tempfile.mkdtemp(prefix="covsev-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"inputs in {folder}; times are wall (CPU) seconds, peak resident MB; "
          f"exponent = slope of log time on log size")
    header = f"{'step':<28}{'n':>8}" + "".join(f"{name + ' s (cpu)':>22}{name + ' MB':>11}" for name, _ in trees)
    print(header)
    for step in steps:
        key = step.split(":")[0]
        sizes = [base[key] * m for m in multiples]
        results = {name: [] for name, _ in trees}
        for n in sizes:
            kind, child_args = step_args(step, n, folder)
            runs = {name: [] for name, _ in trees}
            for _ in range(args.repeat):
                for name, tree in trees:
                    runs[name].append(run_child(tree, kind, child_args))
            cells, spans = [], []
            for name, _ in trees:
                res = median_run(runs[name])
                results[name].append(res)
                cells.append(f"{res['wall']:>11.2f} ({res['cpu']:>6.1f}){res['peak_mb']:>11.0f}")
                walls = [r["wall"] for r in runs[name]]
                spans.append(f"{min(walls):.2f}-{max(walls):.2f}")
            note = "  " + "; ".join(f"{name}: {r['error']}" for (name, _), r in
                                    zip(trees, [results[t][-1] for t, _ in trees]) if "error" in r)
            print(f"{step:<28}{n:>8}" + "".join(f"{c:>33}" for c in cells) + (note if note.strip() else ""),
                  flush=True)
            if args.repeat > 1:
                print(f"{'':<28}{'range':>8}" + "".join(f"{span:>33}" for span in spans), flush=True)
        slopes = "  ".join(f"{name}: {exponent(sizes, [r['wall'] for r in results[name]]):.2f}"
                           for name, _ in trees)
        print(f"{'':<28}{'growth':>8}  {slopes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
