"""``covsev refit``: compare re-fitted severity regressors and save a mapping for ``predict``."""
from __future__ import annotations

import sys
from pathlib import Path

DESCRIPTION = """\
Re-fit linear/ridge regressors from model outputs (Lung Opacity; 4 outputs; 18 outputs; 1024-d
features with --features) to expert labels, evaluated with patient-grouped repeated splits, and
save one fitted mapping (plain JSON) for `covsev predict --mapping`."""


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers) -> None:
    """Add ``covsev refit`` to the CLI."""
    p = subparsers.add_parser("refit", help="re-fit and compare severity regressors on a cohort",
                              description=DESCRIPTION)
    p.add_argument("--predictions", required=True, help="covsev predict CSV")
    p.add_argument("--labels", required=True,
                   help="labels CSV: filename + geographic_mean/opacity_mean (## comments allowed)")
    p.add_argument("--metadata", help="metadata CSV with the patient column and view")
    p.add_argument("--features", metavar="FILE.npy", help="features written by predict --features")
    p.add_argument("--group-col", default="patientid", help="patient column (patientid)")
    p.add_argument("--targets", type=_csv_list, default=["geographic_extent", "opacity"])
    p.add_argument("--feature-sets", type=_csv_list, default=None,
                   help="lung_opacity,four_outputs,all_outputs,features_1024 (default: all available)")
    p.add_argument("--models", type=_csv_list, default=["linear", "ridge"])
    p.add_argument("--scheme", choices=("kfold", "shuffle"), default="kfold")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--test-size", type=float, default=0.5, help="test fraction for --scheme shuffle")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-protocol", action="store_true",
                   help="also run the seed notebook's protocol (OLS on Lung Opacity, 50 grouped "
                        "50/50 splits, seeds 0-49, PA only)")
    p.add_argument("--out-table", required=True, help="tidy comparison table CSV to write")
    p.add_argument("--out-mapping", help="fitted mapping JSON to write")
    p.add_argument("--mapping-from", default="lung_opacity:linear", metavar="FEATURES:MODEL",
                   help="which regressor to save, fitted on all rows (lung_opacity:linear)")
    p.set_defaults(handler=run_refit)


def _assemble(args):
    from covsev_tools.errors import CovsevError
    from covsev_tools.model.refit import assemble

    for path in (args.predictions, args.labels, args.metadata, args.features):
        if path and not Path(path).is_file():
            raise CovsevError(f"{path}: no such file")
    try:
        data = assemble(args.predictions, args.labels, args.metadata, args.features,
                        group_col=args.group_col)
    except (ValueError, KeyError) as exc:
        raise CovsevError(str(exc)) from None
    missing = [t for t in args.targets if t not in data.table.columns]
    if missing:
        raise CovsevError(f"{args.labels}: no label column for {missing}")
    if len(data.table) < 4:
        raise CovsevError(f"only {len(data.table)} labelled readable images match the predictions "
                          "(joined on 'filename')")
    return data


def run_refit(args) -> int:
    """Handler: assemble data, compare regressors, write the table and the mapping."""
    import pandas as pd

    from covsev_tools.errors import CovsevError
    from covsev_tools.files import write_csv_atomic
    from covsev_tools.model.refit import FEATURE_SETS, MODELS, compare, fit_mapping, seed_protocol

    data = _assemble(args)
    fset, _, model = args.mapping_from.partition(":")
    for name in [*(args.feature_sets or []), fset]:
        if name not in FEATURE_SETS:
            raise CovsevError(f"unknown feature set {name!r}; choose from {list(FEATURE_SETS)}")
    for name in [*args.models, model]:
        if name not in MODELS:
            raise CovsevError(f"unknown model {name!r}; choose from {list(MODELS)}")
    if "features_1024" in [*(args.feature_sets or []), fset] and data.features is None:
        raise CovsevError("feature set features_1024 needs --features FILE.npy")
    if data.group_col != args.group_col:
        print(f"warning: no column {args.group_col!r}; each image is its own group", file=sys.stderr)
    table = compare(data, args.targets, args.feature_sets, args.models, scheme=args.scheme,
                    n_splits=args.folds, n_repeats=args.repeats, test_size=args.test_size,
                    seed=args.seed)
    if args.seed_protocol:
        table = pd.concat([table, seed_protocol(data, args.targets)], ignore_index=True)
    write_csv_atomic(table, args.out_table)
    print(f"wrote {len(table)} rows to {args.out_table}", file=sys.stderr)
    if args.out_mapping:
        mapping = fit_mapping(data, fset, model, args.targets, provenance={
            "predictions": str(args.predictions), "labels": str(args.labels)})
        mapping.save(args.out_mapping)
        print(f"wrote mapping ({fset}, {model}, n={mapping.n_train}) to {args.out_mapping}",
              file=sys.stderr)
    return 0
