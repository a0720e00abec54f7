"""``covsev equivalence TABLE.csv --model NAME``: is the model within the readers' variability?"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from covsev_tools.defaults import DEFAULT_N_BOOT
from covsev_tools.errors import CovsevError, printable


def add_table_options(parser) -> None:
    """The ratings-table options shared with ``covsev plan equivalence``."""
    parser.add_argument("--model", required=True, metavar="NAME",
                        help="the model's name in the rater column (every other rater is a reader)")
    parser.add_argument("--case-col", default="case",
                        help="case column (default: case, or case_id when case is absent)")
    parser.add_argument("--rater-col", default="rater", help="rater column (default: rater)")
    parser.add_argument("--score-col", default="score", help="score column (default: score)")
    parser.add_argument("--filter", action="append", default=[], metavar="COL=VALUE",
                        help="keep rows where COL equals VALUE (case-insensitive); repeatable")
    parser.add_argument("--metric", choices=("mae", "msd"), default="mae",
                        help="disagreement of a pair: mean absolute (default) or squared "
                             "difference")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "equivalence", help="is the model within the readers' variability (readers random)",
        description="Excess disagreement of a model over the readers (D_MR - D_RR), its ratio and "
                    "Williams' index, with a two-way bootstrap over cases and readers.")
    parser.add_argument("table", metavar="TABLE.csv", type=Path,
                        help="tidy ratings, one row per case × rater; the model is one rater")
    add_table_options(parser)
    parser.add_argument("--margin", type=float, metavar="M",
                        help="non-inferiority margin of the excess disagreement (default: 0.25 × "
                             "the readers' own disagreement)")
    parser.add_argument("--readers", choices=("random", "fixed"), default="random",
                        help="random: cases and readers resampled (default; needs 3 readers); "
                             "fixed: cases only")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--cluster-col", default="patient_id", metavar="NAME",
                         help="patient column: the bootstrap resamples patients with all their "
                              "images (default: patient_id, else patientid, when the file has one)")
    cluster.add_argument("--no-cluster", dest="cluster_col", action="store_const", const=None,
                         help="resample images (cases) even when there is a patient column")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_N_BOOT, metavar="B",
                        help=f"bootstrap resamples (default {DEFAULT_N_BOOT})")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--confidence", type=float, default=0.95, metavar="C",
                        help="confidence level of the interval (default 0.95)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.set_defaults(handler=run)


def read_table(path: Path, filters: list, rater_col: str):
    """The filtered ratings table at ``path`` (CSV line numbers as the index)."""
    from covsev_tools.cli.agreement import _apply_filters, _read, _without_consensus

    return _without_consensus(_apply_filters(_read(path), filters, path), rater_col)


def _text(frame) -> str:
    from covsev_tools.agreement.equivalence_text import (equivalence_sentence, format_p,
                                                         margin_reason)
    from covsev_tools.agreement.typeset import format_interval, format_number

    confidence = frame.attrs["confidence"]
    lines = [f"{'statistic':<22}{'estimate':>10}  {confidence:.0%} CI"]
    for name, row in frame.iterrows():
        lines.append(f"{name:<22}{format_number(row.estimate):>10}  "
                     f"{format_interval(row.ci_low, row.ci_high)}")
    excess = frame.loc["excess_disagreement"]
    lines += ["", f"{margin_reason(frame)}; one-sided p {format_p(excess.p_value)}",
              f"method: {excess.method}" + (f" (patient column '{frame.attrs['cluster_column']}')"
                                            if frame.attrs.get("cluster_column") else ""),
              "", equivalence_sentence(frame)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from covsev_tools.agreement import AgreementInputError, model_equivalence
    from covsev_tools.agreement.equivalence_text import equivalence_dict

    if args.bootstrap < 0:
        raise CovsevError("--bootstrap must be 0 or more")
    if not 0 < args.confidence < 1:
        raise CovsevError("--confidence must be between 0 and 1 (e.g. 0.95)")
    table = read_table(args.table, args.filter, args.rater_col)
    try:
        frame = model_equivalence(table, model=args.model, margin=args.margin, metric=args.metric,
                                  readers=args.readers, case=args.case_col, rater=args.rater_col,
                                  score=args.score_col, cluster=args.cluster_col,
                                  n_boot=args.bootstrap, seed=args.seed,
                                  confidence=args.confidence)
    except AgreementInputError as exc:
        raise CovsevError(f"{args.table}: {exc}") from exc
    if args.json:
        out = equivalence_dict(frame)
        out.update(n_boot=args.bootstrap, seed=args.seed)
        print(json.dumps(out, allow_nan=False, ensure_ascii=False))
    else:
        for line in _text(frame).splitlines():  # printable() escapes newlines: one line at a time
            print(printable(line))
    return 0
