"""Speed of scale linking: fitting a link with its bootstrap, and the report's linked section.

Times (median of ``--repeats`` after a warm-up, this process):
- ``link_scales`` with 2000 resamples for mean-sigma, linear, equipercentile and equipercentile
  with log-linear presmoothing (C = 3) on simulated double-scored tables of 65 and 5,000 cases;
- ``linked_comparison`` (two bundled links, 1000 resamples, patients resampled) on simulated
  two-rater Brixia cohorts of 187 and 20,000 images.
Not a test: prints figures. Targets: a 65-case link in < 1 s for every method; the linked section
of a 20,000-image report in < 15 s on 2 cores.

Run: .venv/bin/python benchmarks/linking_speed.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from covsev_tools.linking import link_scales, open_link  # noqa: E402
from covsev_tools.validation import ValidationInputs  # noqa: E402
from covsev_tools.validation.linked import link_reference, linked_comparison  # noqa: E402


def double_scored(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    severity = rng.uniform(0, 1, n)
    return pd.DataFrame({"brixia": np.clip(np.rint(18 * severity + rng.normal(0, 1.5, n)), 0, 18),
                         "extent": np.clip(np.rint(8 * severity + rng.normal(0, 0.8, n)), 0, 8),
                         "patient_id": [f"p{i // 2}" for i in range(n)]})


def brixia_cohort(n: int, seed: int = 0) -> ValidationInputs:
    rng = np.random.default_rng(seed)
    cases = [f"c{i}" for i in range(n)]
    severity = rng.uniform(0, 1, n)
    scores = np.clip(np.rint(18 * np.repeat(severity, 2) + rng.normal(0, 1.5, 2 * n)), 0, 18)
    ratings = pd.DataFrame({"case": np.repeat(cases, 2), "rater": ["senior", "junior"] * n,
                            "scale": "brixia", "component": "total", "is_repeat": False, "score": scores})
    index = pd.Index(cases, name="case")
    predictions = pd.DataFrame({"extent": 8 * severity + rng.normal(0, 0.7, n),
                                "opacity": 6 * severity + rng.normal(0, 0.6, n)}, index=index)
    metadata = pd.DataFrame({"patient_id": [f"p{i // 2}" for i in range(n)]}, index=index)
    reference = pd.DataFrame(columns=["case", "scale", "component", "reference", "n_raters"])
    return ValidationInputs(ratings, reference, predictions, metadata, "case_id", "mean", {})


def timed(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("link_scales, 2000 resamples of patients (median s)")
    for n in (65, 5000):
        table = double_scored(n)
        for method, presmooth in (("mean-sigma", None), ("linear", None), ("equipercentile", None),
                                  ("equipercentile", 3)):
            seconds = timed(lambda: link_scales(table, source="brixia", target="extent", method=method,
                                                presmooth=presmooth, n_boot=2000), args.repeats)
            label = method + (f", presmooth {presmooth}" if presmooth else "")
            print(f"  {n:>6} cases  {label:<28} {seconds:8.3f}")
    print("linked_comparison, 2 bundled links, 1000 resamples (median s)")
    links = [open_link("brixia-mean-to-extent"), open_link("brixia-mean-to-opacity")]
    for n in (187, 20000):
        inputs = link_reference(brixia_cohort(n), links)
        seconds = timed(lambda: linked_comparison(inputs, links, n_boot=1000), args.repeats)
        print(f"  {n:>6} images {seconds:8.3f}")


if __name__ == "__main__":
    main()
