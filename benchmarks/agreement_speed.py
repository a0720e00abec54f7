"""Speed of the full agreement report, before and after a change, side by side in one run.

Simulates ratings (integer scores 0-8, or continuous scores), times ``agreement_report`` with
case-bootstrap resamples (every statistic: ICC, Fleiss, Krippendorff ×4, Gwet ×3, every rater
pair with 3 kappas + continuous statistics, rater-vs-others) in a fresh process per code tree —
this checkout and, with ``--before DIR``, another tree (e.g. the pre-refactor copy) — and prints
the median of ``--repeats`` runs after a warm-up, with CPU time and peak memory. For scale it
also times ``pingouin.intraclass_corr`` looped over resamples (a subset, extrapolated; printed as
such). Not a test: prints figures. Target for the default 1,000 × 5 case: < 5 s, ≥ 10× the loop.

Run: .venv/bin/python benchmarks/agreement_speed.py [--before /tmp/before] [--sizes 1000x5,...]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent.parent


def simulate(n_cases=1000, n_raters=5, kind="int", seed=1) -> pd.DataFrame:
    """Severity scores: a latent case severity plus rater bias and noise (integers 0-8 or 3 dp)."""
    rng = np.random.default_rng(seed)
    severity = rng.uniform(0, 8, n_cases)
    bias = rng.normal(0, 0.4, n_raters)
    scores = severity[:, None] + bias + rng.normal(0, 1.0, (n_cases, n_raters))
    scores = (np.clip(np.rint(scores), 0, 8) if kind == "int"
              else np.round(np.clip(scores, 0, 8), 3) + 0.001)
    return pd.DataFrame({"case": np.repeat(np.arange(n_cases), n_raters),
                         "rater": np.tile([f"R{j + 1}" for j in range(n_raters)], n_cases),
                         "score": scores.ravel()})


def worker(args) -> None:
    """Time agreement_report of whatever covsev_tools is on the path; print one JSON line."""
    from covsev_tools.agreement import agreement_report

    warnings.simplefilter("ignore")
    table = simulate(args.cases, args.raters, args.kind)
    categories = "0-8" if args.kind == "int" else None
    agreement_report(table.head(50 * args.raters), categories=categories, n_boot=10, seed=0)
    walls, cpus = [], []
    for _ in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        report = agreement_report(table, categories=categories, n_boot=args.resamples, seed=0)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    alpha = report["krippendorff_alpha"]["interval"]
    print(json.dumps({"wall": statistics.median(walls), "cpu": statistics.median(cpus),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "icc2": report["icc"]["ICC2"]["value"], "alpha_interval": alpha["value"],
                      "alpha_ci": alpha.get("ci95")}))


def run_tree(tree: Path, size: str, kind: str, args) -> dict:
    cases, raters = (int(v) for v in size.split("x"))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--worker", "--cases", str(cases), "--raters",
               str(raters), "--kind", kind, "--resamples", str(args.resamples), "--repeats",
               str(args.repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd="/",
                          timeout=args.timeout)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_pingouin_loop(table, n_resamples, seed=0) -> float:
    import pingouin as pg

    wide = table.pivot(index="case", columns="rater", values="score")
    index = np.random.default_rng(seed).integers(0, len(wide), size=(n_resamples, len(wide)))
    start = time.perf_counter()
    for rows in index:
        sample = wide.iloc[rows].reset_index(drop=True).rename_axis("case")
        long = sample.reset_index().melt(id_vars="case", var_name="rater", value_name="score")
        pg.intraclass_corr(long, targets="case", raters="rater", ratings="score")
    return time.perf_counter() - start


def _cell(result: dict) -> str:
    if "error" in result:
        return f"error: {result['error'][:40]}"
    return f"{result['wall']:7.2f} s ({result['cpu']:.2f} CPU, {result['peak_mb']:.0f} MB)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another code tree to time side by side")
    parser.add_argument("--sizes", default="1000x5", help="CASESxRATERS,... (default 1000x5)")
    parser.add_argument("--kinds", default="int", help="int and/or cont (comma-separated)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-resamples", type=int, default=20,
                        help="resamples run in the pingouin loop, then extrapolated (0: skip; "
                             "only for a first size of at most 10,000 ratings)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--raters", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="int", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    trees = ([("before", args.before)] if args.before else []) + [("after", HERE)]
    print(f"agreement_report, {args.resamples} case resamples, median of {args.repeats} runs "
          f"after a warm-up, one fresh process per tree; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = f"{'data':<22}" + "".join(f"{name + ' (' + str(tree) + ')':<46}" for name, tree in trees)
    print(header + ("speed-up" if args.before else ""))
    first = None
    for kind in args.kinds.split(","):
        for size in args.sizes.split(","):
            results = [run_tree(tree, size, kind, args) for _, tree in trees]
            line = f"{size + ' ' + kind:<22}" + "".join(f"{_cell(r):<46}" for r in results)
            if args.before and all("wall" in r for r in results):
                same = all(abs((results[0][k] or 0) - (results[1][k] or 0)) < 1e-12
                           for k in ("icc2", "alpha_interval"))
                line += (f"{results[0]['wall'] / results[1]['wall']:.1f}x"
                         f"{'' if same else '  (estimates differ!)'}")
            print(line, flush=True)
            first = first or (size, kind, results[-1])
    size, kind, after = first
    cases, raters = (int(v) for v in size.split("x"))
    if "wall" not in after or kind != "int" or not args.loop_resamples or cases * raters > 10_000:
        return  # the reference loop is for the small default case only (it takes minutes)
    loop_s = time_pingouin_loop(simulate(cases, raters), args.loop_resamples)
    projected = loop_s / args.loop_resamples * args.resamples
    print(f"pingouin.intraclass_corr loop on {size}: {args.loop_resamples} resamples in "
          f"{loop_s:.2f} s -> extrapolated to {args.resamples}: {projected:.1f} s (ICC only); "
          f"covsev full set {after['wall']:.2f} s: {projected / after['wall']:.1f}x; target "
          f"(< 5 s and >= 10x): {'met' if after['wall'] < 5 and projected / after['wall'] >= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
