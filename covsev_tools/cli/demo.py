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
(:func:`covsev_tools.model.predictor.predict`, offline weights from ``--weights-dir``) and its real
predictions replace the simulated ones in both reports.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

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
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                        help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="simulation and bootstrap seed (default 0)")
    parser.add_argument("--cases", type=int, metavar="N",
                        help="simulate a study of N images around the published labels "
                             "(default: the 94 published images)")
    parser.add_argument("--raters", type=int, metavar="K", help="number of raters (default 4)")
    parser.set_defaults(handler=run)


def model_predictions(images: Path, filenames, weights_dir):
    """Predictions of the model on the published images found in ``images`` (missing → error rows).

    Raises
    ------
    CovsevError
        When the folder is missing, holds none of the images, or the weights are not found.
    """
    import pandas as pd

    from covsev_tools import model

    if not images.is_dir():
        raise CovsevError(f"--images {images}: no such folder")
    present = [name for name in filenames if (images / name).is_file()]
    if not present:
        raise CovsevError(f"--images {images}: none of the {len(filenames)} published images is "
                          f"there (e.g. {filenames[0]})")
    try:
        table = model.predict([str(images / name) for name in present], weights_dir=weights_dir)
    except model.WeightsNotFoundError as exc:
        raise CovsevError(str(exc)) from exc
    missing = pd.DataFrame({"filename": [n for n in filenames if n not in set(present)],
                            "error": "image not found in --images"})
    return pd.concat([table, missing], ignore_index=True)


def _with_real_predictions(simulated, real):
    """The simulated cohort's predictions table with the model's real values (same case IDs)."""
    columns = [c for c in real.columns if c != "filename"]
    merged = simulated[["case_id", "filename"]].merge(real, on="filename", how="left")
    merged["error"] = merged["error"].fillna("no prediction")
    return merged[["case_id", "filename", *columns]]


def run(args: argparse.Namespace) -> int:
    from covsev_tools.datasets import load_published_labels
    from covsev_tools.report.demo import SIMULATED_SOURCE, build_demo

    start = time.perf_counter()
    for option, value, least in (("--bootstrap", args.bootstrap, 0), ("--cases", args.cases, 3),
                                 ("--raters", args.raters, 1)):
        if value is not None and value < least:
            raise CovsevError(f"{option} {value}: must be {least} or more")
    predictions, source = None, SIMULATED_SOURCE
    if args.images is not None:
        try:
            names = list(load_published_labels()["filename"])
        except FileNotFoundError as exc:
            raise CovsevError(str(exc)) from exc
        real = model_predictions(args.images, names, args.weights_dir)
        predictions = lambda simulated: _with_real_predictions(simulated, real)  # noqa: E731
        source = f"torchxrayvision DenseNet-121 on the images in {args.images} (published mapping)"
    main, second = build_demo(args.out, n_cases=args.cases, n_raters=args.raters, seed=args.seed,
                              n_boot=args.bootstrap, metadata=args.metadata,
                              predictions=predictions, source=source)
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
