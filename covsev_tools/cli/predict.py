"""``covsev predict``: severity scores and xrv outputs for a folder, a cohort or files."""
from __future__ import annotations

import os
import sys
from pathlib import Path

DESCRIPTION = """\
Predict pneumonia severity (Cohen et al. 2020) with torchxrayvision's DenseNet-121
(densenet121-res224-all): one CSV row per image with geographic_extent (0-8), opacity (0-6),
the 18 raw outputs (xrv:<Pathology>) and an error column. Weights are read from --weights-dir /
$COVSEV_WEIGHTS_DIR (else ~/.torchxrayvision/models_data/) and never downloaded."""


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


def list_images(folder: Path) -> list[Path]:
    """Every regular, non-hidden file under ``folder``, sorted by relative path (as cohorts do)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in names
                  if not n.startswith(".") and (Path(root) / n).is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def collect_inputs(args):
    """Resolve the command's inputs to ``(paths, filenames, case_ids or None)``.

    Raises
    ------
    CovsevError
        No input, both a cohort and files, a missing path, or an empty folder.
    """
    from covsev_tools.errors import CovsevError

    if args.cohort and args.inputs:
        raise CovsevError("give either --cohort DIR or images, not both")
    if args.cohort:
        return _cohort_inputs(args.cohort)
    if not args.inputs:
        raise CovsevError("nothing to predict: give an images folder, image files or --cohort DIR")
    if len(args.inputs) == 1 and Path(args.inputs[0]).is_dir():
        folder = Path(args.inputs[0])
        paths = list_images(folder)
        if not paths:
            raise CovsevError(f"{folder}: no image files found")
        return [str(p) for p in paths], [p.relative_to(folder).as_posix() for p in paths], None
    for item in args.inputs:
        if not Path(item).exists():
            raise CovsevError(f"{item}: no such file")
        if Path(item).is_dir():
            raise CovsevError(f"{item}: is a folder; give one folder alone, or files")
    return list(args.inputs), [Path(p).name for p in args.inputs], None


def _cohort_inputs(cohort_dir: str):
    from covsev_tools.errors import CovsevError
    from covsev_tools.cohort.cohort import CohortError
    from covsev_tools.model.predictor import cohort_inputs

    try:
        paths, filenames, case_ids = cohort_inputs(cohort_dir)
    except CohortError as exc:
        raise CovsevError(str(exc)) from None
    if not paths:
        raise CovsevError(f"{cohort_dir}: the cohort has no readable cases")
    return paths, filenames, case_ids


def _load_mapping(path: str | None):
    from covsev_tools.errors import CovsevError
    from covsev_tools.model.predictor import SeverityMapping

    if path is None:
        return None
    try:
        return SeverityMapping.load(path)
    except ValueError as exc:
        raise CovsevError(str(exc)) from None


def _check_outputs(args) -> None:
    from covsev_tools.errors import CovsevError

    for target in (args.out, args.features):
        if target and not Path(target).resolve().parent.is_dir():
            raise CovsevError(f"{target}: folder {Path(target).resolve().parent} does not exist")
    if args.batch_size < 1 or args.workers < 0:
        raise CovsevError("--batch-size must be >= 1 and --workers >= 0")


def run_predict(args) -> int:
    """Handler: check inputs, start decoding, load the weights, predict, write CSV/features/maps."""
    paths, filenames, case_ids = collect_inputs(args)
    _check_outputs(args)
    mapping = _load_mapping(args.mapping)
    from covsev_tools.model.predictor import ImagePrefetcher

    # Fork the workers first (before torch is imported): they decode while torch, xrv and the
    # weights load in this process.
    images = ImagePrefetcher(paths, args.workers)
    try:
        predictor = _make_predictor(args, mapping)
    except BaseException:
        images.close()
        raise
    table, features = predictor.predict(
        paths, filenames=filenames, names=case_ids or filenames_for_files(filenames),
        saliency_dir=args.saliency, progress=not args.quiet, return_features=True, images=images)
    _write(table, features, case_ids, args)
    return 0


def _make_predictor(args, mapping):
    from covsev_tools.errors import CovsevError
    from covsev_tools.model.predictor import Predictor, WeightsLoadError, WeightsNotFoundError

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CovsevError("--device cuda: no CUDA device is available (use --device cpu)")
    try:
        return Predictor(weights_dir=args.weights_dir, mapping=mapping, device=args.device,
                         batch_size=args.batch_size, workers=args.workers)
    except (WeightsNotFoundError, WeightsLoadError) as exc:
        raise CovsevError(str(exc)) from None


def filenames_for_files(filenames: list[str]) -> list[str]:
    """Saliency file names: the relative file names with folders flattened."""
    return [f.replace("/", "__") for f in filenames]


def _write(table, features, case_ids, args) -> None:
    import numpy as np

    from covsev_tools.files import save_npy_atomic, write_csv_atomic

    if case_ids is not None:
        table.insert(0, "case_id", case_ids)
        write_csv_atomic(table, Path(args.cohort) / "predictions.csv")
    write_csv_atomic(table, args.out)
    if args.features:
        save_npy_atomic(features.astype(np.float32), args.features)
    n_err = int((table["error"] != "").sum())
    print(f"wrote {len(table)} rows to {args.out}" + (f" ({n_err} unreadable)" if n_err else ""),
          file=sys.stderr)
