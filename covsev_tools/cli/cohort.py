"""``covsev cohort``: make and inspect blinded cohorts."""
from __future__ import annotations

import argparse
import sys

from covsev_tools.errors import printable


def register(subparsers) -> None:
    """Add ``covsev cohort create|show|order`` to the top-level parser."""
    parser = subparsers.add_parser("cohort", help="make and inspect blinded cohorts",
                                   description="Make and inspect blinded cohorts.")
    sub = parser.add_subparsers(dest="cohort_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda args: _help(parser))
    _register_create(sub)
    _register_show(sub)
    _register_order(sub)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _register_create(sub) -> None:
    p = sub.add_parser(
        "create", help="make (or update) a cohort folder from a folder of images",
        description="Hash, read and blind every image of IMAGES_DIR into a cohort folder: random case "
                    "IDs, display PNGs, a coordinator-only key and per-rater reading orders. Re-running "
                    "on the same folder keeps existing IDs and adds new images.")
    p.add_argument("images_dir", metavar="IMAGES_DIR", help="folder of PNG/JPEG/DICOM images")
    p.add_argument("--name", required=True, help="cohort name")
    p.add_argument("--metadata", metavar="CSV", help="CSV with a 'filename' column, joined into key.csv")
    p.add_argument("--out", metavar="DIR", help="cohort folder (default cohorts/<name>)")
    p.add_argument("--repeat-fraction", type=float, metavar="F",
                   help="fraction of cases shown again under a hidden repeat ID "
                        "(default: as the earlier run on --out, else 0)")
    p.add_argument("--repeat-gap", type=int, metavar="N",
                   help="at least N other cases between a case and its repeat "
                        "(default: as the earlier run, else 10)")
    p.add_argument("--seed", type=int, help="cohort seed (default: kept from an earlier run, else random)")
    p.add_argument("--new-ids", action="store_true", help="draw new case IDs even if the folder has a cohort")
    p.add_argument("--scales",
                   help="comma-separated scale names or scale files "
                        "(default: as the earlier run, else extent,opacity)")
    p.add_argument("--raters", default="", help="comma-separated rater IDs whose reading orders to write now")
    p.add_argument("--workers", type=int, default=2, help="processes used to read images (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-file listing")
    p.set_defaults(handler=_create)


def _register_show(sub) -> None:
    p = sub.add_parser("show", help="print a cohort's settings and counts")
    p.add_argument("cohort_dir", metavar="COHORT_DIR")
    p.set_defaults(handler=_show)


def _register_order(sub) -> None:
    p = sub.add_parser("order", help="print (and save, on first use) a rater's reading order")
    p.add_argument("cohort_dir", metavar="COHORT_DIR")
    p.add_argument("--rater", required=True)
    p.add_argument("--block-size", type=int, metavar="N",
                   help="blocked design for the cohort's orders: every rater reads the same blocks of N "
                        "cases (each in their own order); set before the first order is made")
    p.set_defaults(handler=_order)


def _user_errors():
    from covsev_tools.cohort import CohortError
    from covsev_tools.images import ImageReadError
    from covsev_tools.scales import ScaleDefinitionError

    return CohortError, ScaleDefinitionError, ImageReadError


def _create(args) -> int:
    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort import create_cohort
    from covsev_tools.cohort.errors import NoReadableImageError

    raters = [r.strip() for r in args.raters.split(",") if r.strip()]
    try:
        cohort = create_cohort(args.images_dir, args.name, out_dir=args.out, metadata_csv=args.metadata,
                               repeat_fraction=args.repeat_fraction, repeat_min_gap=args.repeat_gap,
                               seed=args.seed, new_ids=args.new_ids, scales=args.scales, raters=raters,
                               workers=args.workers, progress=not args.quiet)
    except NoReadableImageError as exc:  # the run itself worked; the folder holds no usable image
        if not args.quiet:
            _print_details(exc.report)
        print(f"covsev cohort: error: {printable(exc)}", file=sys.stderr)
        return 1
    except _user_errors() as exc:
        raise CovsevError(str(exc)) from None
    report = cohort.report
    if not args.quiet:
        _print_details(report)
    print(printable(report.summary(cohort.name, cohort.dir)))
    return 0


def _print_details(report) -> None:
    for filename, error in report.unreadable:
        print(printable(f"unreadable: {filename}: {error}"))
    for filename, original in report.duplicates:
        print(printable(f"duplicate: {filename} has the same content as {original} (scored once)"))
    if report.metadata_unmatched_rows:
        print(f"metadata: {len(report.metadata_unmatched_rows)} row(s) match no image: "
              + _some(report.metadata_unmatched_rows))
    if report.images_without_metadata:
        print(f"metadata: {len(report.images_without_metadata)} image(s) have no metadata row: "
              + _some(report.images_without_metadata))


def _some(names: list[str], n: int = 5) -> str:
    shown = ", ".join(printable(name) for name in names[:n])
    return shown + (f", ... (+{len(names) - n} more)" if len(names) > n else "")


def _show(args) -> int:
    import json

    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort import Cohort

    try:
        cohort = Cohort.load(args.cohort_dir)
    except _user_errors() as exc:
        raise CovsevError(str(exc)) from None
    info = {k: v for k, v in cohort.info.items() if k not in ("scale_definitions", "seed")}
    # the seed rebuilds every reading order and tells the hidden repeats apart: not for a screen
    # a rater may see; it stays in secret.json (coordinators only)
    info["seed"] = "not shown (secret.json, coordinators only)"
    try:
        record = cohort.provenance()  # coordinator only (provenance.json)
    except _user_errors() as exc:
        raise CovsevError(str(exc)) from None
    if record is not None:
        from covsev_tools.pull import provenance_sentence

        info["provenance"] = {"retrieved": provenance_sentence(record), "runs": [
            {k: run.get(k) for k in ("source", "started", "finished", "request", "deidentification", "summary")}
            for run in record["runs"]]}
    json.dump(info, sys.stdout, indent=1)
    print()
    return 0


def _order(args) -> int:
    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort import Cohort

    from covsev_tools.cohort.orders import write_design

    try:
        cohort = Cohort.load(args.cohort_dir)
        if args.block_size is not None:
            write_design(cohort.dir, args.block_size)
        order = cohort.reading_order(args.rater)
    except _user_errors() as exc:
        raise CovsevError(str(exc)) from None
    print("\n".join(printable(display_id) for display_id in order))
    return 0
