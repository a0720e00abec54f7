"""``covsev plan``: how many cases (and raters) a reader study needs, from published methods.

``covsev plan equivalence`` finds its readers × cases design by simulation from a pilot instead.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from covsev_tools.errors import CovsevError


def _numbers(kind):
    def parse(text: str):
        try:
            return tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from exc
    return parse


def _common(parser) -> None:
    parser.add_argument("--confidence", type=float, default=0.95, metavar="C",
                        help="confidence level of the interval (default 0.95)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plan", help="sample size and precision for a reader study (ICC, kappa, Bland-Altman, MAE, "
                     "model equivalence)",
        description="Cases needed for a given interval width, each from a published method.")
    kinds = parser.add_subparsers(dest="plan_kind", metavar="WHAT", required=True)
    icc = kinds.add_parser("icc", help="cases for an ICC interval of total width W (Bonett 2002)")
    icc.add_argument("--expected", type=float, required=True, metavar="R", help="planning ICC")
    icc.add_argument("--raters", type=int, required=True, metavar="K", help="raters per case")
    icc.add_argument("--width", type=float, required=True, metavar="W",
                     help="total width of the interval (upper - lower)")
    _common(icc)
    table = kinds.add_parser("table", help="cases by interval width and number of raters "
                                           "(Bonett 2002)")
    table.add_argument("--expected", type=float, required=True, metavar="R")
    table.add_argument("--widths", type=_numbers(float), default=(0.1, 0.15, 0.2, 0.25, 0.3))
    table.add_argument("--raters", type=_numbers(int), default=(2, 3, 4, 5, 6))
    _common(table)
    kappa = kinds.add_parser("kappa", help="cases for a Cohen's kappa interval of width W "
                                           "(two raters, binary rating; Cantor 1996)")
    kappa.add_argument("--expected", type=float, required=True, metavar="K")
    kappa.add_argument("--width", type=float, required=True, metavar="W")
    kappa.add_argument("--rate", type=float, default=0.5, metavar="P",
                       help="share of cases a rater calls positive (default 0.5)")
    kappa.add_argument("--rate-b", type=float, metavar="P", help="the second rater's share")
    _common(kappa)
    limits = kinds.add_parser("limits", help="precision of Bland-Altman limits of agreement "
                                             "(Bland & Altman 1986, 1999)")
    given = limits.add_mutually_exclusive_group(required=True)
    given.add_argument("--n", type=int, help="cases: print the precision of the limits")
    given.add_argument("--half-width", type=float, metavar="H",
                       help="wanted ± H (in SD units, or in score points with --sd)")
    limits.add_argument("--sd", type=float, default=1.0,
                        help="expected SD of the differences (default 1: SD units)")
    _common(limits)
    mae = kinds.add_parser("mae", help="cases to know a model's MAE to ± H, from pilot errors")
    mae.add_argument("pilot", type=Path, metavar="PILOT.csv")
    mae.add_argument("--prediction-col", default="prediction")
    mae.add_argument("--reference-col", default="reference")
    mae.add_argument("--half-width", type=float, required=True, metavar="H",
                     help="wanted ± H in score points")
    _common(mae)
    _equivalence_parser(kinds)
    parser.set_defaults(handler=run)


def _equivalence_parser(kinds) -> None:
    from covsev_tools.cli.equivalence import add_table_options

    equivalence = kinds.add_parser(
        "equivalence", help="readers × cases for showing a model within the readers' "
                            "variability (power by simulation from a pilot)")
    equivalence.add_argument("--pilot", type=Path, required=True, metavar="TABLE.csv",
                             help="pilot ratings, one row per case × rater; the model is a rater")
    add_table_options(equivalence)
    equivalence.add_argument("--margin", type=float, required=True, metavar="M",
                             help="non-inferiority margin of the excess disagreement")
    equivalence.add_argument("--power", type=float, default=0.8, help="wanted power (0.8)")
    equivalence.add_argument("--readers", type=_numbers(int), default=(3, 5, 8), metavar="R,R",
                             help="readers per design (default 3,5,8)")
    equivalence.add_argument("--cases", type=_numbers(int), default=(50, 100, 200, 400),
                             metavar="N,N", help="cases per design (default 50,100,200,400)")
    equivalence.add_argument("--simulations", type=int, default=200, metavar="S",
                             help="simulated studies per design (default 200)")
    equivalence.add_argument("--bootstrap", type=int, default=200, metavar="B",
                             help="bootstrap resamples per simulated study (default 200)")
    equivalence.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    _common(equivalence)


def _pilot_errors(args):
    import pandas as pd

    if not args.pilot.is_file():
        raise CovsevError(f"{args.pilot}: no such file")
    try:
        table = pd.read_csv(args.pilot)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CovsevError(f"{args.pilot}: cannot read as CSV ({exc})") from exc
    missing = [c for c in (args.prediction_col, args.reference_col) if c not in table.columns]
    if missing:
        raise CovsevError(f"{args.pilot}: no column {', '.join(map(repr, missing))} (columns: "
                          f"{', '.join(map(str, table.columns))})")
    values = table[[args.prediction_col, args.reference_col]].apply(pd.to_numeric, errors="coerce")
    return values[args.prediction_col] - values[args.reference_col]


def _equivalence(args) -> tuple[dict, str]:
    from covsev_tools.agreement.equivalence_planning import equivalence_plan
    from covsev_tools.cli.equivalence import read_table

    if args.simulations < 1 or args.bootstrap < 1:
        raise ValueError("--simulations and --bootstrap must be 1 or more")
    table = read_table(args.pilot, args.filter, args.rater_col)
    try:
        plan = equivalence_plan(table, model=args.model, margin=args.margin, power=args.power,
                                readers=args.readers, cases=args.cases, metric=args.metric,
                                case=args.case_col, rater=args.rater_col, score=args.score_col,
                                n_sim=args.simulations, n_boot=args.bootstrap,
                                confidence=args.confidence, seed=args.seed,
                                progress=not args.json)
    except ValueError as exc:
        raise CovsevError(f"{args.pilot}: {exc}") from exc
    a = plan.attrs
    out = {"model": args.model, "margin": args.margin, "power": args.power, "metric": args.metric,
           "confidence": args.confidence, "simulations": args.simulations,
           "bootstrap": args.bootstrap, "seed": args.seed, "theta": a["theta"],
           "components": a["components"], "smallest": a["smallest"],
           "designs": plan.to_dict(orient="records"),
           "method": "simulation from the pilot's variance components (two-way ANOVA); "
                     "readers random, two-way bootstrap (Beiden, Wagner & Campbell 2000)"}
    wide = plan.pivot(index="n_cases", columns="n_readers", values="power")
    comp = a["components"]
    best = a["smallest"]
    verdict = (f"smallest design reaching power {args.power:g}: {best['n_readers']} readers × "
               f"{best['n_cases']} cases (power {best['power']:.2f})" if best else
               f"no design reaches power {args.power:g}: add readers (the reader variance "
               "limits what more cases can do) or cases")
    text = (f"Pilot: {comp['n_pilot_cases']} cases, {comp['n_pilot_readers']} readers; reader SD "
            f"{comp['reader_sd']:.2f}, residual SD {comp['residual_sd']:.2f}, model bias "
            f"{comp['model_bias']:+.2f}, model SD {comp['model_sd']:.2f}; planning excess "
            f"disagreement {a['theta']:.3f} against margin {args.margin:g}.\n\n"
            f"Power ({args.simulations} simulated studies per design; rows cases, columns readers):"
            f"\n{wide.round(3).to_string()}\n\n{verdict}.\n")
    return out, text


def _result(args) -> tuple[dict, str]:
    from covsev_tools.agreement import planning

    c = args.confidence
    if args.plan_kind == "equivalence":
        return _equivalence(args)
    if args.plan_kind == "icc":
        n = planning.icc_sample_size(args.expected, args.raters, args.width, confidence=c)
        out = {"n": n, "expected": args.expected, "raters": args.raters, "width": args.width,
               "confidence": c, "method": "Bonett (2002) Stat Med 21:1331"}
        table = planning.icc_plan_table(args.expected, confidence=c,
                                        widths=sorted({0.1, 0.2, 0.3, args.width}),
                                        raters=sorted({2, 3, 4, 5, args.raters}))
        return out, (f"{n} cases for ICC {args.expected:g} with {args.raters} raters per case: "
                     f"{c:.0%} interval of total width {args.width:g} (Bonett 2002).\n\n"
                     f"Cases by interval width (rows) and raters per case (columns):\n"
                     f"{table.to_string()}\n")
    if args.plan_kind == "table":
        table = planning.icc_plan_table(args.expected, widths=args.widths, raters=args.raters,
                                        confidence=c)
        out = {"expected": args.expected, "confidence": c, "method": table.attrs["method"],
               "n": {str(w): {str(k): int(v) for k, v in row.items()}
                     for w, row in table.iterrows()}}
        return out, (f"Cases for a {c:.0%} ICC interval, ICC {args.expected:g} (Bonett 2002); "
                     f"rows: total width, columns: raters per case\n{table.to_string()}\n")
    if args.plan_kind == "kappa":
        n = planning.kappa_sample_size(args.expected, args.width, rate_a=args.rate,
                                       rate_b=args.rate_b, confidence=c)
        out = {"n": n, "expected": args.expected, "width": args.width, "rate_a": args.rate,
               "rate_b": args.rate_b if args.rate_b is not None else args.rate, "confidence": c,
               "method": "Cantor (1996) Psychol Methods 1:150; Fleiss, Cohen & Everitt (1969)"}
        return out, (f"{n} cases for kappa {args.expected:g} (two raters, binary rating) with a "
                     f"{c:.0%} interval of total width {args.width:g} (Cantor 1996).\n")
    if args.plan_kind == "limits":
        if args.n is not None:
            out = planning.limits_precision(args.n, sd=args.sd, confidence=c)
        else:
            n = planning.limits_sample_size(args.half_width, sd=args.sd, confidence=c)
            out = {**planning.limits_precision(n, sd=args.sd, confidence=c), "n": n}
        out["method"] = "Bland & Altman (1986, 1999): SE of a limit ~ sqrt(3 s^2 / n)"
        return out, (f"{out['n']} cases: each limit of agreement known to ± "
                     f"{out['half_width']:.3g}{' SD' if args.sd == 1 else ''} "
                     f"({c:.0%} interval; SE {out['se']:.3g}).\n")
    out = planning.mae_sample_size(_pilot_errors(args), args.half_width, confidence=c)
    out["method"] = "normal approximation for a mean (|error|), SD from the pilot"
    return out, (f"{out['n']} cases to know the MAE to ± {args.half_width:g} ({c:.0%} interval); "
                 f"pilot: {out['n_pilot']} cases, MAE {out['mae']:.3g}, SD of |error| "
                 f"{out['sd_abs_error']:.3g}.\n")


def run(args: argparse.Namespace) -> int:
    try:
        out, text = _result(args)
    except ValueError as exc:
        raise CovsevError(f"plan {args.plan_kind}: {exc}") from exc
    print(json.dumps(out, allow_nan=False) if args.json else text, end="\n" if args.json else "")
    return 0
