"""Speed of the full agreement report vs a loop of pingouin's ICC, one resample at a time.

Simulates 1,000 cases × 5 raters with integer scores 0-8, times ``agreement_report`` with 2,000
case-bootstrap resamples (every statistic: ICC, Fleiss, Krippendorff ×4, Gwet ×3, 10 rater pairs
with 3 kappas + continuous statistics, 5 rater-vs-others), and times ``pingouin.intraclass_corr``
looped over resamples of the same data. The loop runs on a subset of resamples and is
extrapolated to 2,000 (printed as such). Not a test: prints figures. Target: < 5 s, ≥ 10× faster.

Run: .venv/bin/python benchmarks/agreement_speed.py [--loop-resamples 20]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def simulate(n_cases=1000, n_raters=5, seed=1) -> pd.DataFrame:
    """Integer severity scores 0-8: a latent case severity plus rater bias and noise."""
    rng = np.random.default_rng(seed)
    severity = rng.uniform(0, 8, n_cases)
    bias = rng.normal(0, 0.4, n_raters)
    scores = np.clip(np.rint(severity[:, None] + bias + rng.normal(0, 1.0, (n_cases, n_raters))), 0, 8)
    return pd.DataFrame({"case": np.repeat(np.arange(n_cases), n_raters),
                         "rater": np.tile([f"R{j + 1}" for j in range(n_raters)], n_cases),
                         "score": scores.ravel()})


def time_report(table, n_boot) -> tuple[float, dict]:
    from covsev_tools.agreement import agreement_report

    start = time.perf_counter()
    report = agreement_report(table, categories="0-8", n_boot=n_boot, seed=0)
    return time.perf_counter() - start, report


def time_pingouin_loop(table, n_resamples, seed=0) -> float:
    import pingouin as pg

    wide = table.pivot(index="case", columns="rater", values="score")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(wide), size=(n_resamples, len(wide)))
    start = time.perf_counter()
    for rows in index:
        sample = wide.iloc[rows].reset_index(drop=True).rename_axis("case")
        long = sample.reset_index().melt(id_vars="case", var_name="rater", value_name="score")
        pg.intraclass_corr(long, targets="case", raters="rater", ratings="score")
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--raters", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--loop-resamples", type=int, default=20,
                        help="resamples actually run in the pingouin loop (then extrapolated)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    table = simulate(args.cases, args.raters)
    print(f"data: {args.cases} cases × {args.raters} raters, integer scores 0-8 "
          f"({len(table)} ratings); bootstrap: {args.resamples} case resamples")
    time_report(table.head(50), 10)  # warm-up: imports, first-call overheads
    covsev_s, report = time_report(table, args.resamples)
    print(f"covsev agreement_report, all statistics, {args.resamples} resamples: {covsev_s:.2f} s"
          f"  (ICC2 = {report['icc']['ICC2']['value']:.3f}, "
          f"Fleiss kappa = {report['fleiss_kappa']['value']:.3f} "
          f"{report['fleiss_kappa']['ci95'][0]:.3f}-{report['fleiss_kappa']['ci95'][1]:.3f})")
    loop_s = time_pingouin_loop(table, args.loop_resamples)
    per = loop_s / args.loop_resamples
    projected = per * args.resamples
    print(f"pingouin.intraclass_corr loop: {args.loop_resamples} resamples measured in {loop_s:.2f} s "
          f"({per * 1000:.1f} ms each) -> extrapolated to {args.resamples} resamples: "
          f"{projected:.1f} s (ICC only)")
    ratio = projected / covsev_s
    print(f"speed-up: {ratio:.1f}x (covsev full set vs pingouin ICC loop, extrapolated)")
    ok = covsev_s < 5 and ratio >= 10
    print(f"target (< 5 s and >= 10x): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
