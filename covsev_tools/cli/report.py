"""``covsev report``: validate a model on a cohort against the raters; one HTML report + tables."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from covsev_tools.errors import CovsevError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="validation report: model vs raters, tables, figures, HTML",
        description="Validate a severity model on a cohort: model vs the reference score, the "
                    "model as one more rater (leave-one-rater-out), intra-rater reliability, "
                    "subgroups and longitudinal change. Writes report.html (self-contained), "
                    "tables (CSV, Markdown, LaTeX) and figures (PNG, PDF) to --out.")
    parser.add_argument("--cohort", type=Path, metavar="DIR",
                        help="cohort folder: ratings.csv, predictions.csv and key.csv are read "
                             "from it unless given (ratings are exported from the label store "
                             "when the folder has none)")
    parser.add_argument("--ratings", type=Path, metavar="CSV",
                        help="ratings export (`covsev labels export`), or a reference-only table "
                             "(filename,geographic_mean,opacity_mean) such as the published labels")
    parser.add_argument("--predictions", type=Path, metavar="CSV",
                        help="predictions CSV (`covsev predict`); default <cohort>/predictions.csv")
    parser.add_argument("--metadata", type=Path, metavar="CSV",
                        help="metadata keyed by case_id or filename (patientid, offset, view, sex, "
                             "...); default: the cohort key's / ratings export's columns")
    parser.add_argument("--labels-dir", type=Path, metavar="DIR",
                        help="label store root when ratings are exported from it (default labels/)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--reference", choices=("mean", "median"), default="mean",
                        help="consensus of the raters used as reference (default mean)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                        help="bootstrap resamples of cases for the CIs (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--subgroup", action="append", metavar="COLUMN",
                        help="metadata column for subgroups (repeatable; default view, site, sex)")
    parser.add_argument("--title", default="Severity model validation report", help="report title")
    parser.set_defaults(handler=run)


def resolve_inputs(args: argparse.Namespace) -> dict:
    """Paths of ratings, predictions, key and metadata from the arguments and the cohort folder.

    Raises
    ------
    CovsevError
        When a needed file is neither given nor found in the cohort folder.
    """
    cohort = args.cohort
    if cohort is not None and not cohort.is_dir():
        raise CovsevError(f"--cohort {cohort}: no such folder")
    if cohort is None and (args.ratings is None or args.predictions is None):
        raise CovsevError("give --cohort DIR, or both --ratings CSV and --predictions CSV")
    key = cohort / "key.csv" if cohort is not None and (cohort / "key.csv").is_file() else None
    ratings = args.ratings or _cohort_ratings(cohort, args)
    predictions = args.predictions or cohort / "predictions.csv"
    if not predictions.is_file():
        raise CovsevError(f"{predictions}: no predictions (run `covsev predict` on the cohort or "
                          f"pass --predictions CSV)")
    return {"ratings": ratings, "predictions": predictions, "key": key, "metadata": args.metadata}


def _cohort_ratings(cohort: Path, args) -> Path:
    """``<cohort>/ratings.csv``, else a fresh export of the label store into ``--out``."""
    if (cohort / "ratings.csv").is_file():
        return cohort / "ratings.csv"
    try:
        from covsev_tools.cohort.cohort import Cohort
        from covsev_tools.labels import ratings_export, write_ratings_csv
    except ImportError as exc:
        raise CovsevError(f"{cohort} has no ratings.csv; pass --ratings CSV ({exc})") from exc
    try:
        frame = ratings_export(Cohort.load(cohort), args.labels_dir)
    except (OSError, ValueError) as exc:
        raise CovsevError(f"{cohort}: cannot export ratings from the label store ({exc}); "
                          f"pass --ratings CSV") from exc
    for warning in frame.attrs.get("warnings", []):  # label records left out: file, line, reason
        print(f"warning: {warning}", file=sys.stderr)
    if frame.empty:
        raise CovsevError(f"{cohort}: the label store has no ratings for this cohort")
    path = args.out / "ratings.csv"
    write_ratings_csv(frame, path)
    return path


def run(args: argparse.Namespace) -> int:
    from covsev_tools.validation.inputs import InputError
    from covsev_tools.report.build import build_report

    if args.bootstrap < 0:
        raise CovsevError(f"--bootstrap {args.bootstrap}: must be 0 or more")
    args.out.mkdir(parents=True, exist_ok=True)
    paths = resolve_inputs(args)
    try:
        report = build_report(paths["ratings"], paths["predictions"], args.out,
                              metadata=paths["metadata"], key=paths["key"],
                              reference=args.reference, n_boot=args.bootstrap, seed=args.seed,
                              subgroup_by=args.subgroup, title=args.title)
    except (InputError, KeyError) as exc:
        raise CovsevError(str(exc).strip("'\"")) from exc
    print(f"report: {report}")
    return 0
