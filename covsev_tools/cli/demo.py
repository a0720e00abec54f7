"""``covsev demo``: the validation report end to end, offline, on the bundled published labels.

Without images it needs nothing but the repository: the published 3-rater mean scores of Cohen et
al. 2020 (``labels/published/``) are the known truth of a seeded simulated 4-rater cohort (integer
per-lung scores, rater bias and noise, hidden repeats, patients with follow-up images) with
simulated model predictions. Two reports are written:

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
    from covsev_tools.datasets import load_published_labels, published_labels_path, simulate_cohort
    from covsev_tools.report import build_report

    start = time.perf_counter()
    if args.bootstrap < 0:
        raise CovsevError(f"--bootstrap {args.bootstrap}: must be 0 or more")
    try:
        labels_path = published_labels_path()
    except FileNotFoundError as exc:
        raise CovsevError(str(exc)) from exc
    published = load_published_labels(labels_path)
    sim = simulate_cohort(published, seed=args.seed)
    source = "simulated (no --images given): the published mapping applied to a simulated " \
             "model output with MAE about 1.1 on extent"
    if args.images is not None:
        real = model_predictions(args.images, list(published["filename"]), args.weights_dir)
        sim.predictions = _with_real_predictions(sim.predictions, real)
        source = f"torchxrayvision DenseNet-121 on the images in {args.images} (published mapping)"
    cohort_dir = sim.write(args.out / "simulated-cohort")
    published_preds = args.out / "published" / "predictions.csv"
    published_preds.parent.mkdir(parents=True, exist_ok=True)
    sim.predictions.drop(columns="case_id").to_csv(published_preds, index=False)
    main = build_report(cohort_dir / "ratings.csv", cohort_dir / "predictions.csv",
                        args.out / "report", key=cohort_dir / "key.csv", n_boot=args.bootstrap,
                        seed=args.seed, title="covsev demo: simulated 4-rater cohort",
                        context=f"Demo data. Ratings: simulated, seed {args.seed}, 4 raters with "
                                f"their own bias and noise around the published mean scores of "
                                f"Cohen et al. 2020 (known truth); patients, views and sites are "
                                f"simulated too. Predictions: {source}.")
    second = build_report(labels_path, published_preds, args.out / "published-report",
                          metadata=args.metadata or _bundled_metadata(), n_boot=args.bootstrap, seed=args.seed,
                          title="covsev demo: model vs the published mean scores",
                          context=f"Reference: the published mean of 3 expert raters per image "
                                  f"(Cohen et al. 2020, CC BY-SA). Predictions: {source}.")
    _print_summary(main.html, second.html, time.perf_counter() - start)
    return 0


def _bundled_metadata() -> Path | None:
    """The trimmed collection metadata bundled with the labels, if present."""
    from covsev_tools.datasets.simulate import published_labels_path

    try:
        return published_labels_path("metadata.csv")
    except FileNotFoundError:
        return None


def _print_summary(main: Path, second: Path, seconds: float) -> None:
    import json

    summary = json.loads((main.parent / "summary.json").read_text())
    for sentence in summary["sentences"].values():
        print(sentence)
    print(f"report (simulated multi-rater cohort): {main.resolve()}")
    print(f"report (model vs published means):     {second.resolve()}")
    print(f"done in {seconds:.0f} s")
