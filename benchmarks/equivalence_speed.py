"""Speed and memory of ``model_equivalence`` (readers random: two-way bootstrap), printed.

Simulates a model and R readers scoring cases 0-8 (bias SD 0.5, noise SD 0.9), then times
``covsev_tools.agreement.model_equivalence`` in a fresh process per size (median of
``--repeats`` runs after a warm-up; the child's peak resident memory from ``getrusage``, which
includes the ~100 MB of Python, numpy and pandas). For scale it also times a plain loop over
resamples (numpy per resample; a subset of resamples, extrapolated and printed as such).

Targets (issue 24): 1,000 cases × 5 readers + model, 2,000 resamples ≤ 2 s; 20,000 cases × 10
readers + model, 2,000 resamples ≤ 20 s and ≤ 1 GB. Not a test: prints figures.

Run: .venv/bin/python benchmarks/equivalence_speed.py [--sizes 1000x5,20000x10] [--resamples 2000]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent.parent


def simulate(n_cases: int, n_readers: int, seed: int = 1) -> pd.DataFrame:
    """Tidy table: a model and ``n_readers`` readers, integer scores 0-8, 2 images a patient."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 8, n_cases)[:, None]
    raters = n_readers + 1
    scores = truth + rng.normal(0, 0.5, raters) + rng.normal(0, 0.9, (n_cases, raters))
    scores = np.clip(np.rint(scores), 0, 8)
    names = ["model"] + [f"R{j + 1}" for j in range(n_readers)]
    return pd.DataFrame({"case": np.repeat(np.arange(n_cases), n_readers + 1),
                         "patient_id": np.repeat(np.arange(n_cases) // 2, n_readers + 1),
                         "rater": np.tile(names, n_cases), "score": scores.ravel()})


def loop_seconds_per_resample(table: pd.DataFrame, n: int = 20) -> float:
    """A plain loop: per resample draw cases and readers, then d of every pair with numpy."""
    wide = table.pivot(index="case", columns="rater", values="score")
    model, readers = wide["model"].to_numpy(), wide.drop(columns="model").to_numpy()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(n):
        cases = rng.integers(0, len(wide), len(wide))
        drawn = rng.integers(0, readers.shape[1], readers.shape[1])
        d_mr = np.mean([np.abs(model[cases] - readers[cases, r]).mean() for r in drawn])
        pairs = [np.abs(readers[cases, a] - readers[cases, b]).mean()
                 for a, b in combinations(drawn, 2) if a != b]
        _ = d_mr - np.mean(pairs)
    return (time.perf_counter() - start) / n


def worker(args) -> None:
    from covsev_tools.agreement import model_equivalence

    table = simulate(args.cases, args.readers)
    model_equivalence(table.head(50 * (args.readers + 1)), model="model", n_boot=10)
    walls = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        frame = model_equivalence(table, model="model", n_boot=args.resamples, seed=0)
        walls.append(time.perf_counter() - start)
    row = frame.loc["excess_disagreement"]
    print(json.dumps({"wall": statistics.median(walls),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "loop_per_resample": loop_seconds_per_resample(table),
                      "theta": [row.estimate, row.ci_low, row.ci_high]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000x5,20000x10",
                        help="cases x readers (besides the model), comma-separated")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--readers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(f"model_equivalence(readers='random'), {args.resamples} resamples, patients resampled; "
          f"median of {args.repeats} runs, fresh process per size")
    print(f"{'cases x readers':>16} {'wall s':>8} {'peak MB':>8} {'loop s (extrap.)':>17}  "
          "theta (CI)")
    for size in args.sizes.split(","):
        cases, readers = (int(v) for v in size.lower().split("x"))
        child = subprocess.run([sys.executable, __file__, "--worker", "--cases", str(cases),
                                "--readers", str(readers), "--resamples", str(args.resamples),
                                "--repeats", str(args.repeats)],
                               capture_output=True, text=True, check=True,
                               env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin"})
        out = json.loads(child.stdout.strip().splitlines()[-1])
        theta = ", ".join(f"{v:.3f}" for v in out["theta"])
        print(f"{size:>16} {out['wall']:8.2f} {out['peak_mb']:8.0f} "
              f"{out['loop_per_resample'] * args.resamples:17.1f}  ({theta})")


if __name__ == "__main__":
    main()
