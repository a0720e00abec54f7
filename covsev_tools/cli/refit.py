"""``covsev refit``: compare re-fitted severity regressors and save a mapping for ``predict``."""
from __future__ import annotations

import sys

DESCRIPTION = """\
Re-fit linear/ridge regressors from model outputs (Lung Opacity; 4 outputs; 18 outputs; 1024-d
features with --features) to expert labels, evaluated with patient-grouped repeated splits, and
save one fitted mapping (plain JSON) for `covsev predict --mapping`. The patient column
(--group-col) must exist in the metadata or predictions; `--group-col none` makes each image its
own group (only when no patient is known: follow-up images then leak across splits)."""


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _group_col(text: str) -> str | None:
    return None if text.strip().lower() == "none" else text


def register(subparsers) -> None:
    """Add ``covsev refit`` to the CLI."""
    p = subparsers.add_parser("refit", help="re-fit and compare severity regressors on a cohort",
                              description=DESCRIPTION)
    p.add_argument("--predictions", required=True, help="covsev predict CSV")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--labels",
                        help="labels CSV: filename + geographic_mean/opacity_mean (## comments allowed)")
    source.add_argument("--ratings", metavar="RATINGS.csv",
                        help="a covsev labels export: per file, the raters' mean first-reading totals "
                             "(repeats and the adjudicated consensus left out); patients from its columns")
    source.add_argument("--cohort", metavar="DIR",
                        help="the cohort folder: its label logs (--labels-dir) as with --ratings, "
                             "patients from its key")
    p.add_argument("--labels-dir", help="label logs of --cohort (default $COVSEV_LABELS_DIR or labels/)")
    p.add_argument("--metadata", help="metadata CSV with the patient column and view "
                                      "(default with --ratings/--cohort: their own columns)")
    p.add_argument("--features", metavar="FILE.npy", help="features written by predict --features")
    p.add_argument("--group-col", type=_group_col, default="patientid", metavar="NAME",
                   help="patient column (patientid); it must exist. 'none': one group per image")
    p.add_argument("--targets", type=_csv_list, default=None,
                   help="label columns (default geographic_extent,opacity)")
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


def run_refit(args) -> int:
    """Handler: :func:`covsev_tools.model.refit_run.refit_to_files`, then what was written."""
    from covsev_tools.model.refit_run import refit_to_files, study_labels

    labels, metadata = args.labels, args.metadata
    if args.labels is None:
        labels, own_metadata = study_labels(ratings=args.ratings, cohort=args.cohort,
                                            labels_dir=args.labels_dir)
        print(f"refit labels: {len(labels)} files, mean of {labels.attrs['n_raters']} raters' "
              "first readings", file=sys.stderr)
        metadata = metadata or own_metadata
    table, mapping = refit_to_files(
        args.predictions, labels, out_table=args.out_table, metadata=metadata,
        features=args.features, group_col=args.group_col, targets=args.targets,
        feature_sets=args.feature_sets, models=args.models, scheme=args.scheme,
        n_splits=args.folds, n_repeats=args.repeats, test_size=args.test_size, seed=args.seed,
        with_seed_protocol=args.seed_protocol, out_mapping=args.out_mapping,
        mapping_from=args.mapping_from)
    print(f"wrote {len(table)} rows to {args.out_table}", file=sys.stderr)
    if mapping is not None:
        print(f"wrote mapping ({args.mapping_from}, n={mapping.n_train}) to {args.out_mapping}",
              file=sys.stderr)
    return 0
