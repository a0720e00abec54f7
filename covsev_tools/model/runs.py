"""Prediction runs from what is on disk: an images folder, image files or a cohort, to output files.

:func:`predict_to_files` is what ``covsev predict`` does: resolve the inputs, check the outputs
can be written, start decoding, load the weights, predict, and write the predictions CSV (and the
features ``.npy``) atomically. When not a single image can be read, nothing is written and
:class:`NoReadableImagesError` says so.

Examples
--------
>>> saliency_names(["a/b.png", "c.png"])
['a__b.png', 'c.png']
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from covsev_tools.errors import CovsevError
from covsev_tools.files import save_npy_atomic, write_csv_atomic
from covsev_tools.images.listing import list_images
from covsev_tools.model.mapping import SeverityMapping
from covsev_tools.model.prefetch import ImagePrefetcher
from covsev_tools.model.predictor import Predictor, predict


class PredictInputError(CovsevError):
    """The images or outputs of a prediction run are missing or contradictory."""


class NoReadableImagesError(CovsevError):
    """Not one of the input images could be read; nothing was written."""


@dataclass
class PredictionInputs:
    """Image files to predict and how their rows are named.

    Attributes
    ----------
    paths : list of str
    filenames : list of str
        ``filename`` column: path relative to the folder, or the file name.
    case_ids : list of str or None
        A cohort's case IDs (rows are keyed by them), else None.
    """

    paths: list
    filenames: list
    case_ids: list | None = None


def image_inputs(inputs: Sequence[str | os.PathLike]) -> PredictionInputs:
    """One folder (every non-hidden file, recursively) or image files.

    Examples
    --------
    >>> image_inputs(["missing.png"])
    Traceback (most recent call last):
    ...
    covsev_tools.model.runs.PredictInputError: missing.png: no such file
    """
    if not inputs:
        raise PredictInputError("nothing to predict: give an images folder, image files or a cohort")
    if len(inputs) == 1 and Path(inputs[0]).is_dir():
        folder = Path(inputs[0])
        paths = list_images(folder)
        if not paths:
            raise PredictInputError(f"{folder}: no image files found")
        return PredictionInputs([str(p) for p in paths],
                                [p.relative_to(folder).as_posix() for p in paths])
    for item in inputs:
        if not Path(item).exists():
            raise PredictInputError(f"{item}: no such file")
        if Path(item).is_dir():
            raise PredictInputError(f"{item}: is a folder; give one folder alone, or files")
    return PredictionInputs([str(p) for p in inputs], [Path(p).name for p in inputs])


def cohort_inputs(cohort_dir: str | os.PathLike) -> PredictionInputs:
    """Original image paths, file names and case IDs of a cohort's readable unique cases.

    Reads the coordinator key (``key.csv``); duplicates and unreadable files are left out.

    Raises
    ------
    PredictInputError
        The folder is not a cohort, or it has no readable case.

    Examples
    --------
    >>> cohort_inputs("no-such-cohort")
    Traceback (most recent call last):
    ...
    covsev_tools.model.runs.PredictInputError: ...not a cohort folder...
    """
    from covsev_tools.cohort import Cohort, CohortError

    try:
        key = Cohort.load(cohort_dir).key()
    except CohortError as exc:
        raise PredictInputError(str(exc)) from None
    cases = key[(key["status"] == "ok") & (key["case_id"] != "")]
    if cases.empty:
        raise PredictInputError(f"{cohort_dir}: the cohort has no readable cases")
    return PredictionInputs(list(cases["path"]), list(cases["filename"]), list(cases["case_id"]))


def saliency_names(filenames: Sequence[str]) -> list[str]:
    """Saliency file names for relative file names: folders flattened with ``__``.

    Examples
    --------
    >>> saliency_names(["nested/copy.png"])
    ['nested__copy.png']
    """
    return [f.replace("/", "__") for f in filenames]


def predict_cohort(cohort_dir, *, save: bool = True, return_features: bool = False, **kwargs):
    """Predict every case of a cohort; rows keyed by ``case_id`` (``filename`` kept).

    Parameters
    ----------
    cohort_dir : path
        Cohort folder (see :mod:`covsev_tools.cohort`).
    save : bool
        Also write ``<cohort_dir>/predictions.csv`` for the validation step.
    return_features : bool
        Also return the (N, 1024) features.
    **kwargs
        Passed to :func:`~covsev_tools.model.predictor.predict` (``weights_dir``, ``mapping``,
        ``batch_size``, ...).

    Examples
    --------
    >>> table = predict_cohort("cohorts/pilot", weights_dir="weights/")  # doctest: +SKIP
    """
    cases = cohort_inputs(cohort_dir)
    table, features = predict(cases.paths, filenames=cases.filenames, names=cases.case_ids,
                              return_features=True, **kwargs)
    table.insert(0, "case_id", cases.case_ids)
    if save:
        write_csv_atomic(table, Path(cohort_dir) / "predictions.csv")
    return (table, features) if return_features else table


def _check_options(out, features_out, batch_size: int, workers: int) -> None:
    for target in (out, features_out):
        if target and not Path(target).resolve().parent.is_dir():
            raise PredictInputError(f"{target}: folder {Path(target).resolve().parent} does not exist")
    if batch_size < 1 or workers < 0:
        raise PredictInputError("batch size must be >= 1 and workers >= 0")


def _all_unreadable_message(table) -> str:
    first = " ".join(str(table["error"].iloc[0]).split())  # one line, whatever the decoder said
    return (f"none of the {len(table)} images could be read (first: {table['filename'].iloc[0]}: "
            f"{first}); nothing written")


def predict_to_files(inputs: Sequence[str | os.PathLike] = (), *, out, cohort=None,
                     features_out=None, saliency_dir=None,
                     mapping: SeverityMapping | str | os.PathLike | None = None, weights_dir=None,
                     batch_size: int = 16, workers: int = 2, device: str = "cpu",
                     progress: bool = True):
    """Predict a folder, files or a cohort and write the predictions CSV (and features).

    Parameters
    ----------
    inputs : sequence of path
        One images folder, or image files (not with ``cohort``).
    out : path
        Predictions CSV to write.
    cohort : path, optional
        A cohort folder: rows keyed by ``case_id``, also written to ``<cohort>/predictions.csv``.
    features_out : path, optional
        ``.npy`` for the (N, 1024) float32 features, rows in CSV order.
    saliency_dir : path, optional
        Folder for saliency PNGs.
    mapping : SeverityMapping or path, optional
        A re-fitted mapping (or its JSON file); default the paper's.
    weights_dir, batch_size, workers, device, progress
        See :class:`~covsev_tools.model.predictor.Predictor`.

    Returns
    -------
    pandas.DataFrame
        The table written to ``out``.

    Raises
    ------
    PredictInputError
        Missing or contradictory inputs, an output folder that does not exist.
    NoReadableImagesError
        Not one image could be read (no file is written).

    Examples
    --------
    >>> predict_to_files(["images/"], out="predictions.csv", weights_dir="weights/")  # doctest: +SKIP
    >>> predict_to_files(["missing.png"], out="predictions.csv")
    Traceback (most recent call last):
    ...
    covsev_tools.model.runs.PredictInputError: missing.png: no such file
    """
    if cohort is not None and len(inputs):
        raise PredictInputError("give either a cohort or images, not both")
    job = cohort_inputs(cohort) if cohort is not None else image_inputs(inputs)
    _check_options(out, features_out, batch_size, workers)
    if mapping is not None and not isinstance(mapping, SeverityMapping):
        mapping = SeverityMapping.load(mapping)
    # Fork the workers first (before torch is imported): they decode while torch, xrv and the
    # weights load in this process.
    images = ImagePrefetcher(job.paths, workers)
    try:
        predictor = Predictor(weights_dir=weights_dir, mapping=mapping, device=device,
                              batch_size=batch_size, workers=workers)
    except BaseException:
        images.close()
        raise
    table, features = predictor.predict(
        job.paths, filenames=job.filenames, names=job.case_ids or saliency_names(job.filenames),
        saliency_dir=saliency_dir, progress=progress, return_features=True, images=images)
    if not (table["error"] == "").any():
        raise NoReadableImagesError(_all_unreadable_message(table))
    if job.case_ids is not None:
        table.insert(0, "case_id", job.case_ids)
        write_csv_atomic(table, Path(cohort) / "predictions.csv")
    write_csv_atomic(table, out)
    if features_out:
        save_npy_atomic(features.astype("float32"), features_out)
    return table
