"""A whole re-fitting run, as ``covsev refit`` does it: check the options, compare, write the files.

Examples
--------
>>> parse_mapping_choice("four_outputs:ridge")
('four_outputs', 'ridge')
"""
from __future__ import annotations

from typing import Sequence

from covsev_tools.files import write_csv_atomic
from covsev_tools.model.refit import MODELS, compare_regressors, fit_mapping, seed_protocol
from covsev_tools.model.refit_data import FEATURE_SETS, RefitInputError, join_refit_data, labels_from_ratings

MIN_IMAGES = 4  # fewer cannot be split into grouped folds


def parse_mapping_choice(text: str) -> tuple[str, str]:
    """``"FEATURES:MODEL"`` as ``(feature set, model)``, both checked.

    Examples
    --------
    >>> parse_mapping_choice("lung_opacity:forest")
    Traceback (most recent call last):
    ...
    covsev_tools.model.refit_data.RefitInputError: unknown model 'forest'; choose from ['linear', 'ridge']
    """
    feature_set, _, model = text.partition(":")
    check_choices([feature_set], [model or "linear"])
    return feature_set, model or "linear"


def check_choices(feature_sets: Sequence[str], models: Sequence[str]) -> None:
    """Raise :class:`RefitInputError` for an unknown feature set or model name.

    Examples
    --------
    >>> check_choices(["lung_opacity", "all_outputs"], ["linear"])
    """
    for name in feature_sets:
        if name not in FEATURE_SETS:
            raise RefitInputError(f"unknown feature set {name!r}; choose from {list(FEATURE_SETS)}")
    for name in models:
        if name not in MODELS:
            raise RefitInputError(f"unknown model {name!r}; choose from {list(MODELS)}")


def _check_data(data, targets, labels) -> None:
    missing = [t for t in targets if t not in data.table.columns]
    if missing:
        raise RefitInputError(f"{labels}: no label column for {missing}")
    if len(data.table) < MIN_IMAGES:
        raise RefitInputError(f"only {len(data.table)} labelled readable images match the "
                              "predictions (joined on 'filename')")


def study_labels(*, ratings=None, cohort=None, labels_dir=None):
    """Refit labels and patient metadata of a study: from its ratings export, or its cohort and label logs.

    Parameters
    ----------
    ratings : path, optional
        A ``covsev labels export`` CSV (its metadata columns, ``patientid`` among them, ride along).
    cohort : path, optional
        The cohort folder: the ratings are exported from its label store (``labels_dir``) and the
        patients read from its key.
    labels_dir : path, optional
        Root of the label logs (default ``$COVSEV_LABELS_DIR`` or ``labels/``).

    Returns
    -------
    labels : pandas.DataFrame
        See :func:`~covsev_tools.model.refit_data.labels_from_ratings`.
    metadata : pandas.DataFrame
        ``filename`` and the per-image metadata (patient, view).

    Examples
    --------
    >>> labels, metadata = study_labels(cohort="studies/site2/cohort")   # doctest: +SKIP
    """
    from pathlib import Path

    from covsev_tools.files import read_csv

    if (ratings is None) == (cohort is None):
        raise RefitInputError("give the ratings export or the cohort folder (one of them)")
    if ratings is not None:
        if not Path(ratings).is_file():
            raise RefitInputError(f"{ratings}: no such file")
        table = read_csv(ratings)
        source = str(ratings)
    else:
        from covsev_tools.cohort import Cohort, CohortError
        from covsev_tools.labels import ratings_export

        try:
            table = ratings_export(Cohort.load(cohort), labels_dir)
        except CohortError as exc:
            raise RefitInputError(f"{cohort}: {exc}") from None
        source = f"{cohort} (its label logs)"
    labels = labels_from_ratings(table, source)
    from covsev_tools.labels import EXPORT_COLUMNS

    per_image = ["filename", *(c for c in table.columns if c not in EXPORT_COLUMNS)]
    metadata = table[per_image].drop_duplicates(subset="filename")
    return labels, metadata


def refit_to_files(predictions, labels, *, out_table, metadata=None, features=None,
                   group_col: str | None = "patientid", targets: Sequence[str] | None = None,
                   feature_sets: Sequence[str] | None = None, models: Sequence[str] = MODELS,
                   scheme: str = "kfold", n_splits: int = 5, n_repeats: int = 10,
                   test_size: float = 0.5, seed: int = 0, with_seed_protocol: bool = False,
                   out_mapping=None, mapping_from: str = "lung_opacity:linear"):
    """Compare re-fitted regressors, write the tidy table and (optionally) one fitted mapping.

    Parameters
    ----------
    predictions, labels, metadata, features, group_col
        See :func:`~covsev_tools.model.refit_data.join_refit_data`; a named ``group_col`` must exist
        (None: each image is its own group).
    out_table : path
        Tidy comparison table (CSV, written atomically).
    targets, feature_sets, models, scheme, n_splits, n_repeats, test_size, seed
        See :func:`~covsev_tools.model.refit.compare_regressors`.
    with_seed_protocol : bool
        Append :func:`~covsev_tools.model.refit.seed_protocol` rows.
    out_mapping : path, optional
        Mapping JSON fitted on all rows with ``mapping_from`` (``"FEATURES:MODEL"``).

    Returns
    -------
    table : pandas.DataFrame
    mapping : SeverityMapping or None

    Raises
    ------
    RefitInputError
        An unknown option, a missing file or column (named), too few images. Nothing is written.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> x = np.linspace(-2, 2, 30)
    >>> preds = pd.DataFrame({"filename": [f"{i}.png" for i in range(30)], "xrv:Lung Opacity": x})
    >>> labels = preds[["filename"]].assign(geographic_extent=0.87 * x + 3.41)
    >>> meta = preds[["filename"]].assign(patientid=np.arange(30) // 3)
    >>> out = tempfile.mkdtemp()
    >>> table, mapping = refit_to_files(preds, labels, metadata=meta, out_table=out + "/refit.csv",
    ...                                 targets=["geographic_extent"], models=["linear"],
    ...                                 feature_sets=["lung_opacity"], n_repeats=2,
    ...                                 out_mapping=out + "/mapping.json")
    >>> table.loc[table["metric"] == "mae", ["features", "model", "n_patients", "mean"]].round(6)
           features   model  n_patients  mean
    0  lung_opacity  linear          10   0.0
    >>> round(mapping.targets["geographic_extent"]["coef"][0], 6)
    0.87
    """
    import pandas as pd
    from pathlib import Path

    from covsev_tools.model.mapping import score_names

    targets = list(score_names() if targets is None else targets)
    fset, model = parse_mapping_choice(mapping_from)
    check_choices(feature_sets or [], models)
    if "features_1024" in [*(feature_sets or []), fset] and features is None:
        raise RefitInputError("feature set features_1024 needs --features (features=): the .npy "
                              "written with the predictions")
    for path in (predictions, labels, metadata, features):
        if isinstance(path, (str, Path)) and not Path(path).is_file():
            raise RefitInputError(f"{path}: no such file")
    try:
        data = join_refit_data(predictions, labels, metadata, features, group_col=group_col)
    except RefitInputError:
        raise
    except (ValueError, KeyError) as exc:  # pandas: a join column missing, a malformed file
        raise RefitInputError(f"cannot join {predictions} and {labels}: {exc}") from None
    _check_data(data, targets, labels)
    table = compare_regressors(data, targets, feature_sets, models, scheme=scheme, n_splits=n_splits,
                               n_repeats=n_repeats, test_size=test_size, seed=seed)
    if with_seed_protocol:
        table = pd.concat([table, seed_protocol(data, targets)], ignore_index=True)
    mapping = None
    if out_mapping:
        named = {name: value.attrs.get("source", f"a {name} table") if isinstance(value, pd.DataFrame)
                 else str(value) for name, value in (("predictions", predictions), ("labels", labels))}
        mapping = fit_mapping(data, fset, model, targets, provenance=named)
    write_csv_atomic(table, out_table)
    if mapping is not None:
        mapping.save(out_mapping)
    return table, mapping
