"""A study's inputs in one call: from files, or from a cohort folder and its label store.

:func:`load_inputs` reads and aligns explicit files; :func:`load_study` finds them in a cohort
folder first (``ratings.csv``, ``predictions.csv``, ``key.csv``) and, when the folder has no
ratings file, exports the ratings from the label store. ``covsev report`` and notebook 03 both
call :func:`load_study` (through :func:`covsev_tools.report.build_report`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER
from covsev_tools.validation.inputs import (ColumnError, InputError, ValidationInputs, check_cases, check_overlap,
                                            is_ratings_export, read_input_table, tidy_metadata,
                                            tidy_predictions, tidy_ratings)
from covsev_tools.validation.reference import (REFERENCE_METHODS, consensus_scores,
                                               reference_from_table, reference_scores,
                                               split_consensus)

__all__ = ["load_inputs", "load_study", "cohort_ratings"]


def load_inputs(ratings_path, predictions_path, metadata_path=None, *, reference: str = "mean",
                key_path=None, cluster: str | None = DEFAULT_CLUSTER) -> ValidationInputs:
    """Read, validate and align the report's inputs.

    Parameters
    ----------
    ratings_path : path
        Ratings export, or a reference-only table (``filename,geographic_mean,opacity_mean``).
    predictions_path : path or None
        Predictions CSV of ``covsev predict``; None for a reader study without a model (yet):
        the raters' sections only (needs a ratings export).
    metadata_path : path, optional
        Metadata CSV keyed by ``case_id`` or ``filename`` (``patient_id``, ``offset``, ``view``...).
    reference : {"mean", "median", "consensus"}
        Reference standard: the raters' mean or median, or the adjudicator's consensus (cases not
        adjudicated keep the raters' mean). Ignored for a reference-only table.
    key_path : path, optional
        The cohort's ``key.csv`` (coordinator only): maps ``case_id`` to ``filename`` so that
        predictions keyed by file name can be matched, and carries the metadata columns.
    cluster : str or None
        Metadata column of the patient, resampled as a whole by every bootstrap; the default
        (``"patient_id"``) takes ``patient_id``, else ``patientid``, when present (the rule of
        :mod:`covsev_tools.agreement`); None: resample images.

    Returns
    -------
    ValidationInputs

    Raises
    ------
    InputError
        Missing files or columns, unreadable scores, or cases that do not match.

    Examples
    --------
    >>> folder = getfixture("simulated_cohort")  # simulate_cohort(seed=0).write(folder)
    >>> inputs = load_inputs(folder / "ratings.csv", folder / "predictions.csv",
    ...                      key_path=folder / "key.csv")
    >>> inputs.raters, inputs.patient_column
    (['R1', 'R2', 'R3', 'R4'], 'patientid')
    """
    if reference not in REFERENCE_METHODS:
        raise InputError(f"reference must be one of {', '.join(REFERENCE_METHODS)}, not {reference!r}")
    cluster_col = "auto" if cluster in (DEFAULT_CLUSTER, "auto") else cluster
    table = read_input_table(ratings_path, "ratings")
    if predictions_path is None:  # a reader study before its model run: the raters' sections only
        return _without_model(table, ratings_path, metadata_path, reference, key_path, cluster_col)
    preds_table = read_input_table(predictions_path, "predictions")
    key_table = read_input_table(key_path, "cohort key") if key_path else None
    if is_ratings_export(table):
        ratings, ref, method = _rated_reference(table, ratings_path, reference)
        case_key = "case_id"
        if "case_id" not in preds_table.columns:
            preds_table = _attach_case_id(preds_table, key_table, table, predictions_path)
    else:
        ratings = None
        case_key = "case_id" if {"case_id"} <= set(table.columns) & set(preds_table.columns) else "filename"
        ref = reference_from_table(table, case_key, ratings_path)
        method = "published"
    preds = tidy_predictions(preds_table, case_key, predictions_path)
    if key_table is not None and "case_id" in key_table.columns and case_key == "case_id":
        check_cases(ref, set(key_table["case_id"].dropna().astype(str)), ratings_path, key_path)
    else:
        check_cases(ref, set(preds_table[case_key].dropna().astype(str)), ratings_path,
                    predictions_path)
    check_overlap(ref, preds, ratings_path, predictions_path)
    meta = _metadata(table, key_table, metadata_path, case_key)
    _check_cluster_col(cluster_col, meta, metadata_path or key_path or ratings_path)
    sources = {"ratings": str(ratings_path), "predictions": str(predictions_path),
               "metadata": str(metadata_path) if metadata_path else None,
               "key": str(key_path) if key_path else None}
    return ValidationInputs(ratings, ref, preds, meta, case_key, method, sources, cluster_col)


def _without_model(table, ratings_path, metadata_path, reference, key_path, cluster_col) -> ValidationInputs:
    """Inputs of a reader study without predictions: individual ratings needed, no model columns."""
    import pandas as pd

    if not is_ratings_export(table):
        raise InputError(f"{ratings_path}: a report without predictions needs the raters' individual "
                         "ratings (a ratings export), not a reference table")
    key_table = read_input_table(key_path, "cohort key") if key_path else None
    ratings, ref, method = _rated_reference(table, ratings_path, reference)
    if key_table is not None and "case_id" in key_table.columns:
        check_cases(ref, set(key_table["case_id"].dropna().astype(str)), ratings_path, key_path)
    meta = _metadata(table, key_table, metadata_path, "case_id")
    _check_cluster_col(cluster_col, meta, metadata_path or key_path or ratings_path)
    preds = pd.DataFrame(index=pd.Index(sorted(set(ref["case"])), name="case"))
    sources = {"ratings": str(ratings_path), "predictions": None,
               "metadata": str(metadata_path) if metadata_path else None}
    return ValidationInputs(ratings, ref, preds, meta, "case_id", method, sources, cluster_col)


def _rated_reference(table, path, reference):
    """Raters' ratings (consensus removed) and the reference standard built from the export."""
    ratings, consensus = split_consensus(tidy_ratings(table, path))
    if reference != "consensus":
        return ratings, reference_scores(ratings, reference), reference
    adjudicated = consensus_scores(consensus, path).assign(source="consensus")
    # a case nobody disagreed on is not adjudicated: the raters' mean stays its reference
    mean = reference_scores(ratings, "mean").assign(source="mean of raters")
    done = pd.MultiIndex.from_frame(adjudicated[["case", "scale", "component"]])
    keep = ~pd.MultiIndex.from_frame(mean[["case", "scale", "component"]]).isin(done)
    ref = pd.concat([adjudicated, mean[keep]], ignore_index=True)
    return ratings, ref, "consensus"


def _check_cluster_col(cluster_col, meta: pd.DataFrame, where) -> None:
    """A cluster column that was asked for by name must exist (no silent per-image fallback)."""
    if cluster_col in (None, "auto") or cluster_col in meta.columns:
        return
    available = ", ".join(map(str, meta.columns)) or "none"
    raise ColumnError(f"{where}: cluster column {cluster_col!r} not found in the metadata "
                      f"(available: {available})")


def _attach_case_id(preds: pd.DataFrame, key_table, ratings_table, path) -> pd.DataFrame:
    """Give file-name-keyed predictions the cohort's case IDs (from key.csv or the export)."""
    source = key_table if key_table is not None else ratings_table
    if "filename" not in preds.columns or source is None or "filename" not in source.columns:
        raise InputError(f"{path}: predictions have no case_id column, and no filename mapping "
                         f"(cohort key.csv) to match them to the ratings")
    mapping = source.dropna(subset=["filename", "case_id"]).drop_duplicates("filename")
    mapping = mapping.set_index("filename")["case_id"]
    return preds.assign(case_id=preds["filename"].map(mapping))


def _metadata(table, key_table, metadata_path, case_key) -> pd.DataFrame:
    """Metadata per case from --metadata, else key.csv, else the export's extra columns."""
    if metadata_path:
        extra = read_input_table(metadata_path, "metadata")
        key = case_key if case_key in extra.columns else "filename"
        if key not in extra.columns:
            raise InputError(f"{metadata_path}: metadata need a {case_key!r} or 'filename' column "
                             f"(columns: {', '.join(map(str, extra.columns))})")
        meta = tidy_metadata(extra, key)
        if key != case_key:  # re-key file-name metadata onto case IDs via the ratings/key table
            source = key_table if key_table is not None else table
            if case_key in source.columns and "filename" in source.columns:
                ids = source.dropna(subset=[case_key]).drop_duplicates("filename")
                meta = meta.rename(index=ids.set_index("filename")[case_key].astype(str).to_dict())
        return meta
    source = key_table if key_table is not None else table
    if case_key not in source.columns:
        return pd.DataFrame(index=pd.Index([], name="case"))
    return tidy_metadata(source, case_key)


def cohort_ratings(cohort: str | Path, export_dir: str | Path, labels_dir=None) -> Path:
    """``<cohort>/ratings.csv``, else a fresh export of the cohort's label store.

    Parameters
    ----------
    cohort : path
        Cohort folder (coordinator side: with ``key.csv``).
    export_dir : path
        Where the export is written (``ratings.csv``), e.g. the report folder.
    labels_dir : path, optional
        Root of the label store (default ``$COVSEV_LABELS_DIR`` or ``labels/``).

    Raises
    ------
    InputError
        When the label store cannot be read or holds no ratings of the cohort.

    Examples
    --------
    >>> cohort_ratings(getfixture("simulated_cohort"), getfixture("tmp_path")).name
    'ratings.csv'
    """
    cohort = Path(cohort)
    if (cohort / "ratings.csv").is_file():
        return cohort / "ratings.csv"
    from covsev_tools.cohort import Cohort
    from covsev_tools.labels import ratings_export, write_ratings_csv

    try:
        frame = ratings_export(Cohort.load(cohort), labels_dir)
    except (OSError, ValueError) as exc:
        raise InputError(f"{cohort}: cannot export ratings from the label store ({exc}); "
                         f"pass --ratings CSV") from exc
    for warning in frame.attrs.get("warnings", []):  # label records left out: file, line, reason
        warnings.warn(str(warning), UserWarning, stacklevel=2)
    if frame.empty:
        raise InputError(f"{cohort}: the label store has no ratings for this cohort")
    path = Path(export_dir) / "ratings.csv"
    write_ratings_csv(frame, path)
    return path


def load_study(*, cohort=None, ratings=None, predictions=None, metadata=None, key=None,
               labels_dir=None, export_dir=None, reference: str = "mean",
               cluster: str | None = DEFAULT_CLUSTER) -> ValidationInputs:
    """The inputs of a study, from a cohort folder and/or explicit files.

    Parameters
    ----------
    cohort : path, optional
        Cohort folder: ``ratings.csv``, ``predictions.csv`` and ``key.csv`` are read from it
        unless given; without ``ratings.csv`` the ratings are exported from the label store.
    ratings, predictions, metadata, key : path, optional
        Explicit files (override the cohort folder's; ``key`` is the cohort's ``key.csv``).
    labels_dir : path, optional
        Label store root for the export.
    export_dir : path, optional
        Where an export from the label store is written (default: the cohort folder).
    reference, cluster
        See :func:`load_inputs`.

    Raises
    ------
    InputError
        When a needed file is neither given nor found in the cohort folder.

    Examples
    --------
    >>> load_study(cohort=getfixture("simulated_cohort")).reference_method
    'mean'
    """
    if cohort is not None:
        cohort = Path(cohort)
        if not cohort.is_dir():
            raise InputError(f"cohort {cohort}: no such folder")
    elif ratings is None:
        raise InputError("give a cohort folder or a ratings CSV (and a predictions CSV for the model sections)")
    if key is None and cohort is not None and (cohort / "key.csv").is_file():
        key = cohort / "key.csv"
    # checked before the export, so a refused run writes no (unblinded) ratings file
    if predictions is not None and not Path(predictions).is_file():
        raise InputError(f"{predictions}: no predictions file (run `covsev predict` on the cohort, "
                         "or leave --predictions out for a report of the raters only)")
    if predictions is None and cohort is not None and (cohort / "predictions.csv").is_file():
        predictions = cohort / "predictions.csv"
    ratings = ratings or cohort_ratings(cohort, export_dir or cohort, labels_dir)
    return load_inputs(ratings, None if predictions is None else Path(predictions), metadata,
                       reference=reference, key_path=key, cluster=cluster)
