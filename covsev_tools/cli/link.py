"""``covsev link``: link scores on one severity scale (Brixia, RALE, ...) to another (extent, opacity)."""
from __future__ import annotations

import sys

from covsev_tools.errors import printable

DESCRIPTION = """\
Fit a link between two severity scales on cases scored on both (mean-sigma, linear regression or
equipercentile; Kolen & Brennan 2014), apply it to a table, or show a link. A link is a JSON file
or the name of a bundled link (fitted on the 65 public images scored on both the paper's scales
and Brixia): brixia-{senior,junior,mean}-to-{extent,opacity}."""


def _cluster(text: str):
    return None if text.strip().lower() == "none" else text


def register(subparsers) -> None:
    """Add ``covsev link fit|apply|show`` to the CLI."""
    p = subparsers.add_parser("link", help="link scores on one severity scale to another",
                              description=DESCRIPTION)
    sub = p.add_subparsers(dest="link_command", metavar="SUBCOMMAND", required=True)
    fit = sub.add_parser("fit", help="fit a link on a table of cases scored on both scales")
    fit.add_argument("table", metavar="TABLE.csv", help="one row per case, a column per scale")
    fit.add_argument("--source", required=True, metavar="COL", help="column of the scale linked from")
    fit.add_argument("--target", required=True, metavar="COL", help="column of the scale linked to")
    fit.add_argument("--method", default="mean-sigma", choices=("mean-sigma", "linear", "equipercentile"))
    fit.add_argument("--presmooth", type=int, metavar="C",
                     help="log-linear presmoothing of degree C (equipercentile only)")
    fit.add_argument("--case-col", metavar="COL", help="case column (checked for duplicates)")
    fit.add_argument("--cluster", type=_cluster, default="patient_id", metavar="COL",
                     help="patient column: resample patients (default patient_id, else patientid, when "
                          "present; none: resample cases)")
    fit.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="resamples (2000)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--confidence", type=float, default=0.95)
    fit.add_argument("--raters", metavar="TEXT", help="who scored the fitting cases (kept in the provenance)")
    fit.add_argument("--out", required=True, metavar="LINK.json")
    fit.set_defaults(handler=run_fit)
    apply = sub.add_parser("apply", help="add the linked value and its SE to a table")
    apply.add_argument("link", metavar="LINK", help="LINK.json or a bundled link's name")
    apply.add_argument("table", metavar="TABLE.csv")
    apply.add_argument("--column", required=True, metavar="COL", help="the source-scale scores")
    apply.add_argument("--out", required=True, metavar="OUT.csv")
    apply.set_defaults(handler=run_apply)
    show = sub.add_parser("show", help="print a link: method, error, provenance, table")
    show.add_argument("link", metavar="LINK", help="LINK.json or a bundled link's name")
    show.set_defaults(handler=run_show)


def run_fit(args) -> int:
    """Handler: :func:`covsev_tools.linking.commands.fit_to_file`."""
    from covsev_tools.linking.commands import fit_to_file

    link = fit_to_file(args.table, args.out, source=args.source, target=args.target, method=args.method,
                       presmooth=args.presmooth, case=args.case_col, cluster=args.cluster,
                       n_boot=args.bootstrap, seed=args.seed, confidence=args.confidence,
                       raters=args.raters)
    print(printable(link.summary()), file=sys.stderr)
    print(printable(f"wrote {args.out}"), file=sys.stderr)
    return 0


def run_apply(args) -> int:
    """Handler: :func:`covsev_tools.linking.commands.apply_to_file`."""
    from covsev_tools.linking.commands import apply_to_file

    table, notes = apply_to_file(args.link, args.table, args.out, column=args.column)
    for note in notes:
        print(printable(f"warning: {note}"), file=sys.stderr)
    print(printable(f"wrote {len(table)} rows to {args.out}"), file=sys.stderr)
    return 0


def run_show(args) -> int:
    """Handler: :func:`covsev_tools.linking.commands.show_text`."""
    from covsev_tools.linking.commands import show_text

    for line in show_text(args.link).splitlines():
        print(printable(line))
    return 0
