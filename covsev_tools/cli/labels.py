"""``covsev labels``: export the ratings (coordinator's unblinding step), show progress, check the logs."""
from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    """Add ``labels export``, ``labels status`` and ``labels check`` to the CLI."""
    labels = subparsers.add_parser("labels", help="rater labels: export ratings, show progress, check logs",
                                   description="Rater labels of a cohort.")
    sub = labels.add_subparsers(dest="labels_command", metavar="ACTION")
    labels.set_defaults(handler=lambda _a: labels.print_help() or 2)

    export = sub.add_parser("export", help="write the tidy ratings CSV (unblinds: coordinator only)")
    export.add_argument("cohort_dir", metavar="COHORT_DIR")
    export.add_argument("--out", required=True, help="ratings CSV to write")
    export.add_argument("--labels-dir", help="labels folder (default $COVSEV_LABELS_DIR or labels/)")
    export.add_argument("--raw-csv", action="store_true",
                        help="write text cells unchanged (default: cells starting with = + - @ tab CR "
                             "get a ' prefix so spreadsheets do not run them as formulas)")
    export.set_defaults(handler=run_export)

    status = sub.add_parser("status", help="per-rater progress (counts and time only; blind-safe)")
    status.add_argument("cohort_dir", metavar="COHORT_DIR")
    status.add_argument("--labels-dir", help="labels folder (default $COVSEV_LABELS_DIR or labels/)")
    status.set_defaults(handler=run_status)

    check = sub.add_parser("check", help="list every label record the tools leave out (exit 1 if any)")
    check.add_argument("folder", metavar="STUDY_OR_LABELS_DIR",
                       help="study folder, labels folder or one cohort's labels folder")
    check.set_defaults(handler=run_check)


def _load_cohort(path: str):
    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort.cohort import Cohort, CohortError

    try:
        return Cohort.load(path)
    except CohortError as exc:
        raise CovsevError(str(exc)) from None


def run_export(args) -> int:
    """Write the ratings export; warnings (torn lines, unknown IDs) go to stderr."""
    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort.cohort import CohortError
    from covsev_tools.labels.export import ratings_export, write_ratings_csv
    from covsev_tools.labels.store import StoreError

    cohort = _load_cohort(args.cohort_dir)
    try:
        frame = ratings_export(cohort, args.labels_dir)
        if frame.empty:
            # Usually a wrong --labels-dir or working directory: an empty CSV would pass silently.
            raise CovsevError(f"no ratings for cohort {cohort.name!r} under "
                              f"{_labels_root(args.labels_dir, cohort.name)}; nothing written")
        write_ratings_csv(frame, args.out, raw=True if args.raw_csv else None)
    except (CohortError, StoreError, OSError) as exc:
        raise CovsevError(str(exc)) from None
    for warning in frame.attrs["warnings"]:
        print(f"warning: {_printable(warning)}", file=sys.stderr)
    if frame.attrs["unknown_ids"]:
        print(f"warning: {len(frame.attrs['unknown_ids'])} rated ID(s) are not in the cohort and were "
              f"left out: {', '.join(frame.attrs['unknown_ids'][:10])}", file=sys.stderr)
    from covsev_tools.cohort.ids import CONSENSUS_RATER

    # the adjudicated consensus is a reference, not one more rater
    is_consensus = frame["rater"] == CONSENSUS_RATER
    raters, cases = frame.loc[~is_consensus, "rater"].nunique(), frame["case_id"].nunique()
    consensus = frame.loc[is_consensus, "case_id"].nunique()
    adjudicated = f", {consensus} adjudicated" if consensus else ""
    print(f"wrote {len(frame)} rows ({raters} raters, {cases} cases{adjudicated}) to {args.out}")
    return 0


def run_status(args) -> int:
    """Print the blind-safe progress table."""
    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort.cohort import CohortError
    from covsev_tools.labels.progress import rater_progress

    cohort = _load_cohort(args.cohort_dir)
    try:
        table = rater_progress(cohort, args.labels_dir)
    except CohortError as exc:
        raise CovsevError(str(exc)) from None
    for warning in table.attrs["warnings"]:
        print(f"warning: {_printable(warning)}", file=sys.stderr)
    if table.empty:
        print(f"cohort {cohort.name}: no raters yet")
    else:
        print(table.to_string(index=False))
    return 0


def run_check(args) -> int:
    """Print every line left out (file:line: reason) and a summary; 1 when there are any."""
    from covsev_tools.errors import CovsevError
    from covsev_tools.labels.check import check_labels

    try:
        result = check_labels(args.folder)
    except OSError as exc:
        raise CovsevError(str(exc)) from None
    for problem in result.problems:
        print(_printable(str(problem)))
    print(f"{result.logs} label log(s), {result.valid} valid record(s), "
          f"{len(result.problems)} left out", file=sys.stderr if result.problems else sys.stdout)
    return 1 if result.problems else 0


def _printable(text: str) -> str:
    """Control characters (terminal escape codes in a hand-edited value) shown, not obeyed."""
    from covsev_tools.errors import printable  # the one rule for everything printed

    return printable(text)


def _labels_root(labels_dir, cohort_name: str) -> str:
    """The folder the store reads for this cohort (for error messages)."""
    from covsev_tools.labels.store import default_labels_dir

    return str(Path(labels_dir or default_labels_dir()) / cohort_name)
