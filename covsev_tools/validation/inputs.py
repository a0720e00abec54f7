"""Reading and checking the report's inputs: ratings, predictions, metadata.

Three kinds of score input are accepted:

* the **ratings export** of ``covsev labels export`` (tidy long CSV, one row per display ID, rater,
  scale and component; see ``docs/ARCHITECTURE.md``) -- individual raters, hidden repeats and the
  adjudicator's ``consensus`` records;
* a **reference-only table** such as the published labels of Cohen et al. 2020
  (``filename,geographic_mean,opacity_mean``): one consensus score per image, no individual raters;
* the **predictions CSV** of ``covsev predict`` (one column per scale total, named by the scale's
  ``total_name``, e.g. ``geographic_extent``).

Every check raises :class:`InputError` with a one-line message naming the file, row or column.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from covsev_tools import files
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, PATIENT_COLUMNS, default_patient_column
from covsev_tools.errors import CovsevError
from covsev_tools.model.outputs import PREDICTION_COLUMNS
from covsev_tools.scales import builtin_scales, load_scale

__all__ = ["ColumnError", "InputError", "ValidationInputs", "PREDICTION_COLUMNS", "RATINGS_REQUIRED",
           "PATIENT_COLUMNS", "check_cases", "check_overlap", "is_ratings_export", "read_input_table",
           "scale_range", "tidy_metadata", "tidy_predictions", "tidy_ratings"]


#: Columns the ratings export must have for the report to use it.
RATINGS_REQUIRED = ("case_id", "rater", "scale", "component", "score")

#: Fewest cases with both a reference and a prediction for any statistic to mean something.
MIN_CASES = 3


class InputError(CovsevError, ValueError):
    """An input file of the report is unusable; the message names the file and the reason.

    Examples
    --------
    >>> str(InputError("ratings.csv: no column 'rater'"))
    "ratings.csv: no column 'rater'"
    """


class ColumnError(InputError, KeyError):
    """A column asked for by name is not in the table; the message lists the available ones.

    Examples
    --------
    >>> str(ColumnError("--subgroup 'veiw': no such metadata column (available: view, sex)"))
    "--subgroup 'veiw': no such metadata column (available: view, sex)"
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class ValidationInputs:
    """Everything the validation needs, aligned on one case key.

    Attributes
    ----------
    ratings : DataFrame or None
        Tidy ratings of the raters (``case``, ``rater``, ``scale``, ``component``, ``score``,
        ``is_repeat``, ``display_id``); None for reference-only input. Never holds the
        adjudicator's consensus, which is a reference, not a rater.
    reference : DataFrame
        Tidy reference scores: ``case, scale, component, reference, n_raters``.
    predictions : DataFrame
        One row per case (index ``case``), one column per scale with the predicted total, plus the
        raw ``xrv:Lung Opacity`` output when present.
    metadata : DataFrame
        One row per case (index ``case``): ``patient_id``, ``offset``, ``view``, ``sex``, ...
    case_key : str
        ``"case_id"`` or ``"filename"``: how ratings and predictions were matched.
    reference_method : str
        ``"mean"``, ``"median"``, ``"consensus"`` or ``"published"`` (reference-only table).
    sources : dict
        Paths of the files read, for the report's provenance section.
    cluster_col : str or None
        Metadata column whose values are resampled together by every bootstrap (the patient);
        ``"auto"`` takes the first of :data:`PATIENT_COLUMNS` present, None resamples images.

    Examples
    --------
    >>> ref = pd.DataFrame({"case": ["a", "b"], "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 2.0], "n_raters": 2})
    >>> preds = pd.DataFrame({"extent": [1.5, 2.5]}, index=pd.Index(["a", "b"], name="case"))
    >>> meta = pd.DataFrame({"patient_id": ["p", "p"]}, index=preds.index)
    >>> inputs = ValidationInputs(None, ref, preds, meta, "case_id", "mean", {})
    >>> inputs.scales, inputs.patient_column, inputs.clusters(["a", "b"]).tolist()
    (['extent'], 'patient_id', [0, 0])
    """

    ratings: pd.DataFrame | None
    reference: pd.DataFrame
    predictions: pd.DataFrame
    metadata: pd.DataFrame
    case_key: str
    reference_method: str
    sources: dict
    cluster_col: str | None = "auto"

    @property
    def has_model(self) -> bool:
        """False for a reader study without model predictions (yet): only the raters' sections."""
        return len(self.predictions.columns) > 0

    @property
    def scales(self) -> list[str]:
        """Scales that have both a reference and a prediction (without a model: a reference), in a stable order."""
        have = set(self.reference["scale"])
        if self.has_model:
            have &= set(self.predictions.columns)
        predicted = [s for s in PREDICTION_COLUMNS if s in have]  # the paper's scales first
        return predicted + sorted(have - set(predicted))

    @property
    def raters(self) -> list[str]:
        """Rater names (empty for reference-only input)."""
        if self.ratings is None:
            return []
        return sorted(self.ratings["rater"].unique())

    @property
    def patient_column(self) -> str | None:
        """The metadata column that identifies a patient, or None.

        The named ``cluster_col``, else the first of :data:`PATIENT_COLUMNS` present -- also when
        the bootstrap resamples images (``cluster_col=None``): patient-grouped folds, cluster-robust
        errors and the longitudinal pairs still need to know the patient.
        """
        if self.cluster_col not in (None, "auto"):
            return self.cluster_col
        return default_patient_column(self.metadata.columns)

    def resampled_by(self, cluster) -> "ValidationInputs":
        """These inputs with the bootstrap resampling ``cluster`` (a metadata column; None: images).

        The default (:data:`~covsev_tools.agreement.bootstrap.DEFAULT_CLUSTER`) keeps the column
        chosen when the inputs were read, so a section's ``cluster=`` left alone follows
        :func:`~covsev_tools.validation.study.load_inputs`.

        Examples
        --------
        >>> meta = pd.DataFrame({"patient_id": ["p", "p"]}, index=["a", "b"])
        >>> inputs = ValidationInputs(None, pd.DataFrame(), pd.DataFrame(), meta, "case_id", "mean", {})
        >>> inputs.resampled_by(None).clusters(["a", "b"]) is None
        True
        """
        if cluster == DEFAULT_CLUSTER:
            return self
        if cluster is not None and cluster not in self.metadata.columns:
            available = ", ".join(map(str, self.metadata.columns)) or "none"
            raise ColumnError(f"cluster column {cluster!r} not in the metadata (available: {available})")
        return replace(self, cluster_col=cluster)

    @property
    def bootstrap_cluster(self) -> str | None:
        """The patient column the bootstraps resample (None: images), as a frame's ``attrs`` say."""
        return None if self.cluster_col is None else self.patient_column

    def clusters(self, cases) -> np.ndarray | None:
        """Integer patient code per case for the bootstrap, or None (resample images).

        None when ``cluster_col`` is None, when there is no patient column or when a case has no
        patient.
        """
        return None if self.cluster_col is None else self.patients(cases)

    def patients(self, cases) -> np.ndarray | None:
        """Integer patient code per case (sorted by patient name), or None when unknown."""
        column = self.patient_column
        if column is None or column not in self.metadata.columns:
            return None
        patients = self.metadata[column].reindex(list(cases))
        if patients.isna().any():
            return None
        # sorted codes: the same fold assignment as the patients' names gave scikit-learn before
        return pd.factorize(patients.astype(str), sort=True)[0]

    def totals(self, scale: str) -> pd.DataFrame:
        """Wide first-reading totals of one scale: index case, one column per rater."""
        return self.components(scale, "total")

    def components(self, scale: str, component: str) -> pd.DataFrame:
        """Wide first-reading scores of one component (or ``total``): index case, column rater."""
        r = self.ratings
        rows = r[(r["scale"] == scale) & (r["component"] == component) & ~r["is_repeat"]]
        return rows.pivot_table(index="case", columns="rater", values="score", aggfunc="first")

    def paired(self, scale: str) -> pd.DataFrame:
        """Cases with both a reference total and a prediction: ``reference, prediction``."""
        ref = self.reference_total(scale).rename("reference")
        pred = self.predictions[scale].rename("prediction")
        return pd.concat([ref, pred], axis=1, join="inner").dropna().sort_index()

    def reference_total(self, scale: str) -> pd.Series:
        """Reference total of one scale, indexed by case."""
        ref = self.reference
        rows = ref[(ref["scale"] == scale) & (ref["component"] == "total")]
        return rows.set_index("case")["reference"]


def scale_range(scale: str) -> tuple[int, int]:
    """Range ``(min_total, max_total)`` of a scale's total, from :mod:`covsev_tools.scales`.

    Examples
    --------
    >>> scale_range("extent")
    (0, 8)
    """
    s = load_scale(scale)
    return (s.min_total, s.max_total)


def read_input_table(path: str | Path, what: str) -> pd.DataFrame:
    """One of the report's input files as a DataFrame: :func:`covsev_tools.files.read_csv`
    (spreadsheet escapes undone) after its leading ``#`` comment lines, with an
    :class:`InputError` naming the file and ``what`` it is when it is missing or unreadable.

    Examples
    --------
    >>> from covsev_tools.labels.published import published_labels_path
    >>> read_input_table(published_labels_path(), "published labels").shape
    (94, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        return files.read_csv(path, skiprows=files.leading_comment_lines(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what} CSV ({exc})") from exc


def is_ratings_export(table: pd.DataFrame) -> bool:
    """True when the table looks like a ratings export (has ``rater`` and ``score`` columns).

    Examples
    --------
    >>> is_ratings_export(pd.DataFrame(columns=["case_id", "rater", "score"]))
    True
    """
    return {"rater", "score"} <= set(table.columns)


def _columns(table: pd.DataFrame) -> str:
    return ", ".join(map(str, table.columns))


def tidy_ratings(table: pd.DataFrame, path: str | Path = "ratings") -> pd.DataFrame:
    """Validate a ratings export and return the columns the report uses.

    Rows marked not assessable (empty score) are dropped. Hidden repeats are kept with
    ``is_repeat=True``; ``case`` is the original case ID (repeat IDs already resolved by the export).

    Raises
    ------
    InputError
        When a required column is missing, or a score is not a number.

    Examples
    --------
    >>> t = pd.DataFrame({"case_id": ["a", "a"], "rater": ["x", "y"], "scale": "extent",
    ...                   "component": "total", "score": [2, None]})
    >>> tidy_ratings(t)[["case", "rater", "score"]].values.tolist()
    [['a', 'x', 2.0]]
    """
    missing = [c for c in RATINGS_REQUIRED if c not in table.columns]
    if missing:
        raise InputError(f"{path}: ratings are missing column(s) {', '.join(missing)} "
                         f"(expected the `covsev labels export` format; columns: {_columns(table)})")
    out = table.copy()
    out["score"] = pd.to_numeric(out["score"], errors="coerce")
    bad = out["score"].isna() & table["score"].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # +1 header, +1 one-based
        raise InputError(f"{path}, row {row}: score {table['score'][bad].iloc[0]!r} is not a number")
    out["is_repeat"] = _as_bool(out["is_repeat"]) if "is_repeat" in out else False
    if "display_id" not in out:
        out["display_id"] = out["case_id"]
    out = out[out["score"].notna()]
    out = out.assign(case=out["case_id"].astype(str), rater=out["rater"].astype(str),
                     scale=out["scale"].astype(str), component=out["component"].astype(str))
    return out[["case", "display_id", "is_repeat", "rater", "scale", "component", "score"]
               ].reset_index(drop=True)


def _as_bool(values: pd.Series) -> pd.Series:
    """Parse true/false, 1/0, yes/no as booleans (CSV round-trips lose the dtype)."""
    if values.dtype == bool:
        return values
    text = values.astype(str).str.strip().str.lower()
    return text.isin(("true", "1", "yes", "y", "t"))


def tidy_predictions(table: pd.DataFrame, key: str, path: str | Path = "predictions") -> pd.DataFrame:
    """Predicted totals per case (index ``case``), failed rows (non-empty ``error``) dropped.

    Raises
    ------
    InputError
        When the key column or both prediction columns are missing, or a key is duplicated.

    Examples
    --------
    >>> t = pd.DataFrame({"case_id": ["a", "b"], "geographic_extent": [3.0, 9.9],
    ...                   "error": ["", "unreadable"]})
    >>> tidy_predictions(t, "case_id").to_dict()
    {'extent': {'a': 3.0}}
    """
    if key not in table.columns:
        raise InputError(f"{path}: predictions have no {key!r} column (columns: {_columns(table)})")
    have = {scale: col for scale, col in PREDICTION_COLUMNS.items() if col in table.columns}
    if not have:
        raise InputError(f"{path}: predictions need column(s) "
                         f"{' and/or '.join(PREDICTION_COLUMNS.values())} (columns: {_columns(table)})")
    ok = table
    if "error" in table.columns:
        ok = table[table["error"].isna() | (table["error"].astype(str).str.strip() == "")]
    dup = ok[key][ok[key].duplicated()]
    if len(dup):
        raise InputError(f"{path}: {key} {dup.iloc[0]!r} appears more than once")
    out = pd.DataFrame({scale: pd.to_numeric(ok[col], errors="coerce") for scale, col in have.items()})
    if "xrv:Lung Opacity" in ok.columns:
        out["xrv:Lung Opacity"] = pd.to_numeric(ok["xrv:Lung Opacity"], errors="coerce")
    out.index = ok[key].astype(str).rename("case")
    return out.dropna(how="all")


def check_cases(reference: pd.DataFrame, known: set, ref_path, known_path) -> None:
    """Refuse rated cases that the cohort (or the predictions) does not know.

    The usual cause is a ratings or predictions file of another cohort, so the message names an
    example case and both files. Cases without a prediction (failed images) are fine.

    Raises
    ------
    InputError
        When a rated case is absent from ``known``.

    Examples
    --------
    >>> check_cases(pd.DataFrame({"case": ["a"]}), {"b"}, "r.csv", "p.csv")
    Traceback (most recent call last):
    covsev_tools.validation.inputs.InputError: r.csv: 1 rated case(s) unknown to p.csv, e.g. 'a' (are they of the same cohort?)
    """
    unknown = sorted(set(reference["case"]) - set(known))
    if unknown:
        raise InputError(f"{ref_path}: {len(unknown)} rated case(s) unknown to {known_path}, "
                         f"e.g. {unknown[0]!r} (are they of the same cohort?)")


def check_overlap(reference, predictions, ref_path, pred_path) -> None:
    """Refuse inputs with fewer than ``MIN_CASES`` cases that have a reference and a prediction.

    Examples
    --------
    >>> ref = pd.DataFrame({"case": ["a"], "component": ["total"]})
    >>> check_overlap(ref, pd.DataFrame(index=["a"]), "r.csv", "p.csv")
    Traceback (most recent call last):
    covsev_tools.validation.inputs.InputError: only 1 case(s) have both a reference score (r.csv) and a prediction (p.csv); the report needs at least 3
    """
    both = set(reference.loc[reference["component"] == "total", "case"]) & set(predictions.index)
    if len(both) < MIN_CASES:
        raise InputError(f"only {len(both)} case(s) have both a reference score ({ref_path}) and a "
                         f"prediction ({pred_path}); the report needs at least {MIN_CASES}")


#: Columns of the export and key that are not metadata of the image (coordinator bookkeeping).
_NOT_METADATA = {"sha256", "path", "duplicate_of", "status", "error", "display_id", "is_repeat",
                 "rater", "scale", "scale_version", "component", "score", "not_assessable",
                 "not_assessable_reason", "comment", "time_shown", "time_saved", "seconds_on_case",
                 "session_id", "cohort"}


def tidy_metadata(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """One metadata row per case (index ``case``); coordinator-only columns dropped.

    Examples
    --------
    >>> t = pd.DataFrame({"case_id": ["a", "a"], "rater": ["x", "y"], "view": ["PA", "PA"]})
    >>> tidy_metadata(t, "case_id").to_dict()
    {'view': {'a': 'PA'}}
    """
    keep = [c for c in table.columns if c not in _NOT_METADATA and c != key]
    meta = table.dropna(subset=[key]).drop_duplicates(subset=[key])
    return meta.set_index(meta[key].astype(str).rename("case"))[keep]
