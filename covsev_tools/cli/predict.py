"""``covsev predict``: severity scores and xrv outputs for a folder, a cohort or files."""
from __future__ import annotations

import sys

DESCRIPTION = """\
Predict pneumonia severity (Cohen et al. 2020) with torchxrayvision's DenseNet-121
(densenet121-res224-all): one CSV row per image with geographic_extent and opacity (the totals
of the built-in extent and opacity scales, clamped to their ranges), the 18 raw outputs (xrv:<Pathology>) and an error column. Weights are read from --weights-dir /
$COVSEV_WEIGHTS_DIR (else ~/.torchxrayvision/models_data/) and never downloaded. When no image at
all can be read, the command fails (exit 2) and writes nothing."""


def register(subparsers) -> None:
    """Add ``covsev predict`` to the CLI."""
    p = subparsers.add_parser("predict", help="predict severity scores for images or a cohort",
                              description=DESCRIPTION)
    p.add_argument("inputs", nargs="*", metavar="IMAGES_DIR | FILE",
                   help="a folder of images (all non-hidden files, recursively) or image files")
    p.add_argument("--cohort", metavar="DIR",
                   help="a cohort folder: rows keyed by case_id, also written to DIR/predictions.csv")
    p.add_argument("--out", required=True, help="predictions CSV to write")
    p.add_argument("--weights-dir", help="folder holding the xrv weights file under its standard "
                   "name (default $COVSEV_WEIGHTS_DIR, else ~/.torchxrayvision/models_data/)")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass (16)")
    p.add_argument("--workers", type=int, default=2,
                   help="decoding worker processes (2; 0 decodes in the main process)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--features", metavar="FILE.npy",
                   help="also write the (N, 1024) float32 pooled features, rows in CSV order")
    p.add_argument("--mapping", metavar="FILE",
                   help="re-fitted mapping JSON (covsev refit) instead of the paper's coefficients")
    p.add_argument("--saliency", metavar="DIR", help="write a gradient saliency PNG per image")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_predict)


def run_predict(args) -> int:
    """Handler: :func:`covsev_tools.model.runs.predict_to_files`, then a one-line summary."""
    from covsev_tools.model.runs import predict_to_files

    table = predict_to_files(
        args.inputs, out=args.out, cohort=args.cohort, features_out=args.features,
        saliency_dir=args.saliency, mapping=args.mapping, weights_dir=args.weights_dir,
        batch_size=args.batch_size, workers=args.workers, device=args.device,
        progress=not args.quiet)
    n_err = int((table["error"] != "").sum())
    print(f"wrote {len(table)} rows to {args.out}" + (f" ({n_err} unreadable)" if n_err else ""),
          file=sys.stderr)
    return 0
