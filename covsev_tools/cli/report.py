"""``covsev report``: validate a model on a cohort against the raters; one HTML report + tables."""
from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path

from covsev_tools.defaults import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.errors import CovsevError, printable


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
    parser.add_argument("--reference", choices=("mean", "median", "consensus"), default="mean",
                        help="reference standard: the raters' mean or median, or the "
                             "adjudicator's consensus records (rater 'consensus', from `covsev "
                             "adjudicate`; cases not adjudicated keep the raters' mean); "
                             "default mean")
    parser.add_argument("--cluster-col", metavar="NAME",
                        help="metadata column of the patient: every bootstrap resamples patients "
                             "with all their images (default patient_id or patientid when "
                             "present; 'none' resamples images)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_N_BOOT, metavar="N",
                        help=f"bootstrap resamples of patients (else images) for the CIs "
                             f"(default {DEFAULT_N_BOOT})")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, metavar="LEVEL",
                        help=f"confidence level of every interval (default {DEFAULT_CONFIDENCE:g})")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--margin", type=float, metavar="M",
                        help="non-inferiority margin of the model's excess MAE over the raters' "
                             "own (default: 0.25 × the raters' own MAE of each scale)")
    parser.add_argument("--subgroup", action="append", metavar="COLUMN",
                        help="metadata column for subgroups (repeatable; default view, site, sex)")
    parser.add_argument("--link", action="append", metavar="LINK",
                        help="cohort scored on another scale (e.g. Brixia): a scale link to extent or "
                             "opacity (LINK.json from `covsev link fit`, or a bundled name such as "
                             "brixia-mean-to-extent; repeatable)")
    parser.add_argument("--link-scale", metavar="SCALE",
                        help="the ratings' scale the links start from (default: the one scale the "
                             "model does not predict)")
    parser.add_argument("--title", default="Severity model validation report", help="report title")
    parser.add_argument("--checklists", metavar="LIST",
                        help="reporting checklists filled from the study, comma-separated: grras, "
                             "claim, tripod-ai, stard-ai, all or none (default: all that apply); "
                             "written as checklist-<name>.md/.csv and shown in report.html")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="processes drawing the figures (default 2; 1 draws them in this one)")
    parser.set_defaults(handler=run)


def command_line(args: argparse.Namespace) -> str:
    """The command as it could be typed again, for the report's methods section."""
    parts = ["covsev", "report"]
    for option in ("cohort", "ratings", "predictions", "metadata", "labels_dir", "out",
                   "reference", "cluster_col", "bootstrap", "confidence", "seed", "margin"):
        value = getattr(args, option)
        if value is not None:
            parts += [f"--{option.replace('_', '-')}", str(value)]
    for column in args.subgroup or ():
        parts += ["--subgroup", column]
    for link in getattr(args, "link", None) or ():
        parts += ["--link", link]
    if getattr(args, "link_scale", None):
        parts += ["--link-scale", args.link_scale]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from covsev_tools.report import build_report

    if args.workers < 1:
        raise CovsevError(f"--workers {args.workers}: must be 1 or more")
    if args.bootstrap < 0:
        raise CovsevError(f"--bootstrap {args.bootstrap}: must be 0 or more")
    if not 0 < args.confidence < 1:
        raise CovsevError(f"--confidence {args.confidence}: must be between 0 and 1 (e.g. 0.95)")
    if args.margin is not None and not args.margin > 0:
        raise CovsevError(f"--margin {args.margin}: must be a positive number of score points")
    if args.cohort is None and args.ratings is None:
        raise CovsevError("give --cohort DIR or --ratings CSV (and --predictions CSV for the model sections)")
    cluster = None if args.cluster_col == "none" else (args.cluster_col or "auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        report = build_report(args.ratings, args.predictions, args.out, cohort=args.cohort,
                              metadata=args.metadata, labels_dir=args.labels_dir,
                              reference=args.reference, cluster=cluster,
                              n_boot=args.bootstrap, seed=args.seed, confidence=args.confidence, subgroup_by=args.subgroup,
                              margin=args.margin, title=args.title, command=command_line(args),
                              workers=args.workers, links=args.link, link_scale=args.link_scale,
                              checklists=args.checklists)
    for warning in caught:  # e.g. label records left out of the export: file, line, reason
        if issubclass(warning.category, UserWarning):
            print(f"warning: {printable(str(warning.message))}", file=sys.stderr)
    print(f"report: {report.html}")
    return 0
