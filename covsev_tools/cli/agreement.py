"""``covsev agreement RATINGS.csv``: inter-rater agreement statistics with confidence intervals."""
from __future__ import annotations

import argparse
from pathlib import Path

from covsev_tools.defaults import DEFAULT_N_BOOT
from covsev_tools.errors import CovsevError

FORMATS = ("json", "markdown", "latex", "csv")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "agreement", help="inter-rater agreement (ICC, kappas, alpha, Gwet, CCC, Bland-Altman)",
        description="Agreement statistics of a tidy ratings table (one row per case × rater), "
                    "e.g. the file written by `covsev labels export`.")
    parser.add_argument("ratings", metavar="RATINGS.csv", type=Path)
    parser.add_argument("--case-col", default="case",
                        help="case column (default: case, or case_id when case is absent)")
    parser.add_argument("--rater-col", default="rater", help="rater column (default: rater)")
    parser.add_argument("--score-col", default="score", help="score column (default: score)")
    parser.add_argument("--categories", metavar="SPEC",
                        help="category set: a range '0-8', a list '0,1,2,3' or a scale name "
                             "(e.g. extent; its total or, with --filter component=X, its levels)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_N_BOOT, metavar="B",
                        help=f"bootstrap resamples for kappa/alpha CIs (default {DEFAULT_N_BOOT})")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--cluster-col", default="patient_id", metavar="NAME",
                         help="patient column: the bootstrap resamples patients with all their "
                              "images (default: patient_id, else patientid, when the file has one; "
                              "stderr says which was used)")
    cluster.add_argument("--no-cluster", dest="cluster_col", action="store_const", const=None,
                         help="resample images (cases) even when there is a patient column")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--filter", action="append", default=[], metavar="COL=VALUE",
                        help="keep rows where COL equals VALUE (case-insensitive); repeatable")
    parser.add_argument("--loa-ci", choices=("exact", "approximate"), default="exact",
                        help="interval of the Bland-Altman limits (default exact)")
    parser.add_argument("--loa-multiplier", type=float, default=1.96, metavar="M",
                        help="Bland-Altman limits are bias ± M × SD (default 1.96)")
    output = parser.add_mutually_exclusive_group(required=True)
    for name in FORMATS:
        output.add_argument(f"--{name}", dest="format", action="store_const", const=name,
                            help=f"write {name}")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(handler=run)


def _read(path: Path):
    import pandas as pd

    from covsev_tools.files import read_csv

    if not path.is_file():
        raise CovsevError(f"{path}: no such file")
    try:
        table = read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CovsevError(f"{path}: cannot read as CSV ({exc})") from exc
    table.index = table.index + 2  # CSV line numbers: line 1 is the header
    table.index.name = "line"
    return table


def _apply_filters(table, filters: list[str], path: Path):
    for spec in filters:
        column, sep, value = spec.partition("=")
        if not sep or not column:
            raise CovsevError(f"--filter {spec!r}: expected COL=VALUE")
        if column not in table.columns:
            raise CovsevError(f"--filter {spec!r}: {path} has no column '{column}' (columns: "
                              f"{', '.join(table.columns)})")
        keep = table[column].str.strip().str.lower() == value.strip().lower()
        if not keep.any():
            seen = ", ".join(sorted(table[column].unique())[:10])
            raise CovsevError(f"--filter {spec!r}: no rows left in {path} (values of '{column}'"
                              f" among the rows kept so far: {seen})")
        table = table[keep]
    return table


def _scale_categories(spec: str, filters: list[str]):
    """Categories of a built-in scale: its total range, or a component's levels."""
    try:
        from covsev_tools.scales import load_scale
    except ImportError as exc:
        raise CovsevError(f"--categories {spec!r}: not a range like '0-8' and scales are "
                          f"unavailable ({exc})") from exc
    try:
        scale = load_scale(spec)
    except Exception as exc:  # the scales module raises its own typed errors
        raise CovsevError(f"--categories {spec!r}: not a range like '0-8', a list like "
                          f"'0,1,2,3' or a known scale ({exc})") from exc
    component = next((f.partition("=")[2] for f in filters if f.startswith("component=")), "total")
    if component.strip().lower() in ("", "total"):
        return list(range(scale.min_total, scale.max_total + 1))
    return [level.value for level in scale.levels]


def _without_consensus(table, rater_col):
    """An export may hold the adjudicator's consensus rows: a reference standard, not a rater."""
    import sys

    from covsev_tools.cohort.ids import CONSENSUS_RATER

    if rater_col not in table.columns:
        return table
    is_consensus = table[rater_col].str.strip() == CONSENSUS_RATER
    if is_consensus.any():
        print(f"covsev agreement: note: {int(is_consensus.sum())} rows of rater "
              f"'{CONSENSUS_RATER}' (the adjudicated reference) left out", file=sys.stderr)
    return table[~is_consensus]


def _categories(spec, filters):
    if spec is None:
        return None
    text = spec.strip()
    if text and (text[0].isdigit() or text[0] == "-"):
        return text
    return _scale_categories(text, filters)


def _say_resampling_unit(matrix, asked) -> None:
    """One stderr line: which patient column the bootstrap resamples, or that it resamples images."""
    import sys

    if matrix.cluster_column is not None:
        print(f"covsev agreement: the bootstrap resamples patients (column '{matrix.cluster_column}')",
              file=sys.stderr)
    elif asked is None:
        print("covsev agreement: the bootstrap resamples images (--no-cluster)", file=sys.stderr)
    else:
        print("covsev agreement: no patient column (patient_id or patientid): the bootstrap "
              "resamples images", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from covsev_tools import agreement
    from covsev_tools.files import write_text_atomic

    table = _without_consensus(_apply_filters(_read(args.ratings), args.filter, args.ratings),
                               args.rater_col)
    if args.bootstrap < 0:
        raise CovsevError("--bootstrap must be 0 or more")
    try:
        matrix = agreement.ratings_matrix(table, case=args.case_col, rater=args.rater_col,
                                          score=args.score_col,
                                          categories=_categories(args.categories, args.filter),
                                          cluster=args.cluster_col)
    except agreement.AgreementInputError as exc:
        raise CovsevError(f"{args.ratings}: {exc}") from exc
    _say_resampling_unit(matrix, args.cluster_col)
    if len(matrix.raters) < 2:
        raise CovsevError(f"{args.ratings}: need at least two raters to measure agreement; found "
                          f"{len(matrix.raters)} ({', '.join(map(str, matrix.raters)) or 'none'})")
    values = matrix.scores[np.isfinite(matrix.scores)]
    if values.size and np.ptp(values) == 0:
        raise CovsevError(f"{args.ratings}: every score is {values[0]:g} (constant scores): "
                          "agreement statistics are undefined without variance")
    if not args.loa_multiplier > 0:
        raise CovsevError("--loa-multiplier must be a positive number (e.g. 1.96)")
    report = agreement.agreement_report(matrix, n_boot=args.bootstrap, seed=args.seed,
                                        loa_ci=args.loa_ci, multiplier=args.loa_multiplier)
    writer = {"json": lambda r: agreement.to_json(r) + "\n", "markdown": agreement.format_markdown,
              "latex": agreement.format_latex, "csv": agreement.format_csv}[args.format]
    text = writer(report)
    if args.out:
        write_text_atomic(args.out, text)
    else:
        print(text, end="")
    return 0
