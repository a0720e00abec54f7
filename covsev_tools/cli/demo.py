"""``covsev demo``: the validation report end to end, offline, on the bundled published labels.

Without images it needs nothing but the installed package: the published 3-rater mean scores of
Cohen et al. 2020 (bundled package data) are the known truth of a seeded simulated cohort (integer
per-lung scores, rater bias and noise, hidden repeats, patients with follow-up images) with
simulated model predictions; ``--cases N --raters K`` sets the study's size (default: the 94
published images, 4 raters). :func:`covsev_tools.report.demo.build_demo` does the work. Two reports
are written:

* ``<out>/report/report.html`` — the simulated multi-rater cohort: every section;
* ``<out>/published-report/report.html`` — model vs the published means (reference-only input).

With ``--images DIR`` (the paper's 94 images) the model step runs on them
(:func:`covsev_tools.report.demo.predictions_on_images`, offline weights from ``--weights-dir``)
and its real predictions replace the simulated ones in both reports.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from covsev_tools.defaults import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.errors import CovsevError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="offline demo: validation report on the bundled published labels",
        description="Build the validation report offline on the bundled published labels of "
                    "Cohen et al. 2020 and a simulated multi-rater cohort around them; with "
                    "--images, run the model on the images first.")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR",
                        help="output folder (default demo-output/)")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="folder with the paper's images: run the model on them")
    parser.add_argument("--weights-dir", type=Path, metavar="DIR",
                        help="folder with the torchxrayvision weights (offline; see covsev predict)")
    parser.add_argument("--metadata", type=Path, metavar="CSV",
                        help="metadata of the published images (filename, patientid, offset, ...) "
                             "for the published-labels report (default: the bundled "
                             "labels/published/metadata.csv)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_N_BOOT, metavar="N",
                        help=f"bootstrap resamples (default {DEFAULT_N_BOOT})")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, metavar="LEVEL",
                        help=f"confidence level of every interval (default {DEFAULT_CONFIDENCE:g})")
    parser.add_argument("--seed", type=int, default=0, help="simulation and bootstrap seed (default 0)")
    parser.add_argument("--cases", type=int, metavar="N",
                        help="simulate a study of N images around the published labels "
                             "(default: the 94 published images)")
    parser.add_argument("--raters", type=int, metavar="K", help="number of raters (default 4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from covsev_tools.report.demo import build_demo

    start = time.perf_counter()
    for option, value, least in (("--bootstrap", args.bootstrap, 0), ("--cases", args.cases, 3),
                                 ("--raters", args.raters, 1)):
        if value is not None and value < least:
            raise CovsevError(f"{option} {value}: must be {least} or more")
    if not 0 < args.confidence < 1:
        raise CovsevError(f"--confidence {args.confidence}: must be between 0 and 1 (e.g. 0.95)")
    main, second = build_demo(args.out, n_cases=args.cases, n_raters=args.raters, seed=args.seed,
                              n_boot=args.bootstrap, confidence=args.confidence, metadata=args.metadata,
                              images=args.images,
                              weights_dir=args.weights_dir)
    _print_summary(main.html, second.html, time.perf_counter() - start)
    return 0


def _print_summary(main: Path, second: Path, seconds: float) -> None:
    import json

    summary = json.loads((main.parent / "summary.json").read_text())
    for sentence in summary["sentences"].values():
        print(sentence)
    print(f"report (simulated multi-rater cohort): {main.resolve()}")
    print(f"report (model vs published means):     {second.resolve()}")
    print(f"done in {seconds:.0f} s")
