"""``covsev training``, ``covsev adjudicate`` and ``covsev page``: the reader study around the
blinded pass (calibration before it, consensus after it) and the offline page itself."""
from __future__ import annotations

from covsev_tools.errors import CovsevError, printable, printable_table


def register(subparsers) -> None:
    """Add ``training build|status|require``, ``adjudicate`` and ``page`` to the CLI."""
    _register_training(subparsers)
    _register_adjudicate(subparsers)
    _register_page(subparsers)


def _labels_option(parser) -> None:
    parser.add_argument("--labels-dir", help="labels folder (default $COVSEV_LABELS_DIR or labels/)")


def _register_training(subparsers) -> None:
    parser = subparsers.add_parser("training", help="training round: build a set, see who passed, require it",
                                   description="Training round before a blinded study.")
    sub = parser.add_subparsers(dest="training_command", metavar="ACTION")
    parser.set_defaults(handler=lambda _a: parser.print_help() or 2)
    build = sub.add_parser("build", help="make a training set from images and reference scores")
    build.add_argument("images_dir", metavar="IMAGES_DIR")
    build.add_argument("--name", required=True, help="training set name")
    build.add_argument("--out", metavar="DIR", help="folder to write (default cohorts/<name>)")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--reference", metavar="CSV",
                        help="CSV: filename, then <scale>_total and/or <scale>_<component> columns")
    source.add_argument("--paper", action="store_true",
                        help="the paper's published mean scores (bundled; images of the Cohen 2020 cohort)")
    build.add_argument("--cases", metavar="N|FILE,...",
                       help="a shorter round: N images drawn at random (reproducible with --seed), "
                            "or a comma-separated list of file names")
    build.add_argument("--seed", type=int, default=0, help="seed of the --cases draw (default 0)")
    build.set_defaults(handler=run_build)
    status = sub.add_parser("status", help="who completed the training round and met the threshold")
    status.add_argument("training_dir", metavar="TRAINING_DIR")
    status.add_argument("--max-mae", type=float, default=None, help="threshold on the MAE of each total")
    _labels_option(status)
    status.set_defaults(handler=run_status)
    require = sub.add_parser("require", help="make a study open only after a passed training round")
    require.add_argument("cohort_dir", metavar="COHORT_DIR")
    require.add_argument("--training", required=True, metavar="TRAINING_DIR")
    require.add_argument("--max-mae", type=float, default=None, help="threshold on the MAE of each total")
    require.set_defaults(handler=run_require)
    retry = sub.add_parser("retry", help="on the hub: a new training round for a rater (the first kept)",
                           description="Move the rater's training log to the set's history (kept, "
                                       "unchangeable) and give them a new, empty round. Needs root.")
    retry.add_argument("study_dir", metavar="STUDY_DIR")
    retry.add_argument("rater", metavar="RATER")
    retry.set_defaults(handler=run_retry)


def _max_mae(args) -> float:
    from covsev_tools.scoring.training import DEFAULT_MAX_MAE

    return DEFAULT_MAX_MAE if args.max_mae is None else args.max_mae


def run_build(args) -> int:
    """Build the training set and say how many cases it has."""
    from covsev_tools.scoring.training_build import build_training_set, paper_reference

    reference = paper_reference() if args.paper else args.reference
    cases = None
    if args.cases is not None:
        cases = int(args.cases) if args.cases.strip().isdigit() else [c.strip() for c in args.cases.split(",")
                                                                       if c.strip()]
    training = build_training_set(args.images_dir, reference, args.name, args.out, cases=cases, seed=args.seed)
    print(f"training set {printable(training.name)}: {len(training.cohort.case_ids)} cases with reference "
          f"scores in {printable(training.cohort.dir)}")
    return 0


def run_status(args) -> int:
    """Print one row per rater: cases scored, MAE per scale total, passed."""
    from pathlib import Path

    from covsev_tools.scoring.training import training_status

    labels_dir, max_mae = args.labels_dir, args.max_mae
    study = Path(args.training_dir).resolve().parents[1]
    if (study / "study.json").is_file():  # a training set of a hub study: the study's labels and threshold
        labels_dir = labels_dir if labels_dir is not None else study / "labels"
        if max_mae is None:
            max_mae = _study_threshold(study, Path(args.training_dir).resolve())
    table = training_status(args.training_dir, labels_dir, max_mae=_max_mae(args) if max_mae is None else max_mae)
    if table.empty:
        print("no rater has started the training round")
        return 0
    print(printable_table(table.to_string(index=False)))
    return 0


def _study_threshold(study, training_dir) -> float | None:
    """The threshold a hub study's cohorts require of this training set (None if none names it)."""
    from covsev_tools.scoring.training import training_requirement

    for cohort in sorted((study / "cohorts").glob("*/")):
        requirement = training_requirement(cohort)
        if requirement and requirement["training_set"] == str(training_dir):
            return requirement["max_mae"]
    return None


def run_retry(args) -> int:
    """Start a new training round for a rater of a hub study."""
    from covsev_tools.hub.training import retry

    kept = retry(args.study_dir, args.rater)
    print(f"{printable(args.rater)}: a new training round opens at their next page load; "
          f"the earlier attempt is kept in {printable(kept)}")
    return 0


def run_require(args) -> int:
    """Write the study's training requirement."""
    from covsev_tools.scoring.training import require_training

    path = require_training(args.cohort_dir, args.training, max_mae=_max_mae(args))
    print(f"the study opens for a rater after a passed training round: {printable(path)}")
    return 0


#: The library's defaults (covsev_tools.scoring.adjudication; a test checks they agree), written
#: here so that ``covsev --help`` does not import the widget stack.
DEFAULT_COMPONENT_THRESHOLD, DEFAULT_TOTAL_THRESHOLD = 2, 2


def _register_adjudicate(subparsers) -> None:
    p = subparsers.add_parser("adjudicate", help="list discordant cases for adjudication (coordinator)",
                              description="List the cases whose raters disagree; adjudicate them in the "
                                          "adjudication page (not blind by design).")
    p.add_argument("cohort_dir", metavar="COHORT_DIR")
    _labels_option(p)
    p.add_argument("--component-threshold", type=int, default=DEFAULT_COMPONENT_THRESHOLD, metavar="LEVELS",
                   help=f"discordant when a component differs by at least this (default {DEFAULT_COMPONENT_THRESHOLD})")
    p.add_argument("--total-threshold", type=float, default=DEFAULT_TOTAL_THRESHOLD, metavar="POINTS",
                   help=f"discordant when totals differ by more than this (default {DEFAULT_TOTAL_THRESHOLD})")
    p.set_defaults(handler=run_adjudicate)


def run_adjudicate(args) -> int:
    """Print the discordant cases and how to open the adjudication page."""
    from covsev_tools.cohort import Cohort, CohortError
    from covsev_tools.scoring.adjudication import discordant_cases

    try:
        cohort = Cohort.load(args.cohort_dir)
    except CohortError as exc:
        raise CovsevError(str(exc)) from None
    table = discordant_cases(cohort, args.labels_dir, component_threshold=args.component_threshold,
                             total_threshold=args.total_threshold)
    print(f"{len(table)} discordant cases (a component {args.component_threshold}+ levels apart, or totals "
          f"more than {args.total_threshold:g} apart); {int(table['adjudicated'].sum())} adjudicated")
    if len(table):
        print(printable_table(table.to_string(index=False)))
        import os

        if os.environ.get("COVSEV_STUDY"):  # a coordinator's JupyterLab on the hub: localhost is the server's
            print(f"adjudicate them in this JupyterLab: open adjudication.ipynb in {printable(os.environ['COVSEV_STUDY'])}"
                  " and run its cell")
        else:
            print(f"adjudicate them in the browser: covsev page {printable(args.cohort_dir)} --adjudicator NAME"
                  + (f" --labels-dir {printable(args.labels_dir)}" if args.labels_dir else ""))
    return 0


def _register_page(subparsers) -> None:
    p = subparsers.add_parser("page", help="serve the scoring, training or adjudication page offline (Voila)",
                              description="Serve the page of a cohort (or training set) with Voila, "
                                          "with nothing loaded from the internet. Ctrl+C stops it.")
    p.add_argument("cohort_dir", metavar="COHORT_DIR")
    _labels_option(p)
    p.add_argument("--rater", help="rater ID (default: the page asks; on JupyterHub the login)")
    p.add_argument("--adjudicator", help="open the adjudication page for this adjudicator")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.set_defaults(handler=run_page)


def run_page(args) -> int:
    """Run Voila until interrupted."""
    from covsev_tools.scoring.offline import serve_page

    return serve_page(args.cohort_dir, labels_dir=args.labels_dir, rater=args.rater,
                      adjudicator=args.adjudicator, port=args.port, ip=args.ip)
