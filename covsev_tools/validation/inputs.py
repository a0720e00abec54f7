"""Inputs of the validation report: ratings, reference scores, predictions, metadata.

Three kinds of score input are accepted:

* the **ratings export** of ``covsev labels export`` (tidy long CSV, one row per display ID, rater,
  scale and component; see ``docs/ARCHITECTURE.md``) -- individual raters, hidden repeats;
* a **reference-only table** such as the published labels of Cohen et al. 2020
  (``filename,geographic_mean,opacity_mean``): one consensus score per image, no individual raters;
* the **predictions CSV** of ``covsev predict`` (``geographic_extent``, ``opacity`` per image).

The reference score of a case is the mean or the median of its raters' scores (first readings only;
hidden repeats feed the intra-rater section), per scale total and per lung.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Column of the predictions CSV holding each scale's predicted total.
PREDICTION_COLUMNS = {"extent": "geographic_extent", "opacity": "opacity"}

#: Column names by which reference-only tables name each scale's consensus total.
REFERENCE_ALIASES = {
    "extent": ("geographic_mean", "geographic_extent_mean", "geographic_extent", "extent_mean", "extent"),
    "opacity": ("opacity_mean", "opacity"),
}

#: Columns the ratings export must have for the report to use it.
RATINGS_REQUIRED = ("case_id", "rater", "scale", "component", "score")

#: Fallback range of the built-in scales' totals when ``covsev_tools.scales.scale`` is unavailable.
_BUILTIN_TOTALS = {"extent": (0, 8), "opacity": (0, 6), "brixia": (0, 18)}


class InputError(ValueError):
    """An input file of the report is unusable; the message names the file and the reason."""


@dataclass
class ValidationInputs:
    """Everything the validation needs, aligned on one case key.

    Attributes
    ----------
    ratings : DataFrame or None
        Tidy ratings (``case``, ``rater``, ``scale``, ``component``, ``score``, ``is_repeat``,
        ``display_id``); None for reference-only input.
    reference : DataFrame
        Tidy reference scores: ``case, scale, component, reference, n_raters``.
    predictions : DataFrame
        One row per case (index ``case``), one column per scale with the predicted total, plus the
        raw ``xrv:Lung Opacity`` output when present.
    metadata : DataFrame
        One row per case (index ``case``): ``patientid``, ``offset``, ``view``, ``sex``, ...
    case_key : str
        ``"case_id"`` or ``"filename"``: how ratings and predictions were matched.
    reference_method : str
        ``"mean"`` or ``"median"`` (``"published"`` for a reference-only table).
    sources : dict
        Paths of the files read, for the report's provenance section.
    """

    ratings: pd.DataFrame | None
    reference: pd.DataFrame
    predictions: pd.DataFrame
    metadata: pd.DataFrame
    case_key: str
    reference_method: str
    sources: dict

    @property
    def scales(self) -> list[str]:
        """Scales that have both a reference and a prediction, in a stable order."""
        have = set(self.reference["scale"]) & set(self.predictions.columns)
        return [s for s in ("extent", "opacity", "brixia") if s in have] + sorted(
            have - {"extent", "opacity", "brixia"})

    @property
    def raters(self) -> list[str]:
        """Rater names (empty for reference-only input)."""
        if self.ratings is None:
            return []
        return sorted(self.ratings["rater"].unique())

    def totals(self, scale: str) -> pd.DataFrame:
        """Wide first-reading totals of one scale: index case, one column per rater."""
        r = self.ratings
        rows = r[(r["scale"] == scale) & (r["component"] == "total") & ~r["is_repeat"]]
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


def scale_range(scale: str) -> tuple[float, float]:
    """Range ``(min_total, max_total)`` of a scale's total.

    Parameters
    ----------
    scale : str
        Built-in scale name (``extent``, ``opacity``, ``brixia``) or a scale file.

    Examples
    --------
    >>> scale_range("extent")
    (0, 8)
    """
    try:
        from covsev_tools.scales.scale import load_scale
    except ImportError:  # foundation module not available: the built-in ranges are fixed anyway
        return _BUILTIN_TOTALS[scale]
    s = load_scale(scale)
    return (s.min_total, s.max_total)


def read_csv(path: str | Path, what: str) -> pd.DataFrame:
    """Read a CSV, skipping leading ``#`` lines, with an :class:`InputError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        return pd.read_csv(path, skiprows=_leading_comment_lines(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what} CSV ({exc})") from exc


def _leading_comment_lines(path: Path) -> int:
    """Number of ``#`` lines before the header (the published labels have five).

    Only leading lines count: a ``#`` inside a rater's comment must not cut a row short.
    """
    count = 0
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def is_ratings_export(table: pd.DataFrame) -> bool:
    """True when the table looks like a ratings export (has ``rater`` and ``score`` columns)."""
    return {"rater", "score"} <= set(table.columns)


def tidy_ratings(table: pd.DataFrame, path: str | Path = "ratings") -> pd.DataFrame:
    """Validate a ratings export and return the columns the report uses.

    Rows marked not assessable (empty score) are dropped. Hidden repeats are kept with
    ``is_repeat=True``; ``case`` is the original case ID (repeat IDs already resolved by the export).

    Raises
    ------
    InputError
        When a required column is missing, or a score is not a number.
    """
    missing = [c for c in RATINGS_REQUIRED if c not in table.columns]
    if missing:
        raise InputError(f"{path}: ratings are missing column(s) {', '.join(missing)} "
                         f"(expected the `covsev labels export` format)")
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


def reference_scores(ratings: pd.DataFrame, method: str = "mean") -> pd.DataFrame:
    """Reference score per case, scale and component: the raters' mean or median.

    Only first readings count (hidden repeats are for intra-rater reliability).

    Parameters
    ----------
    ratings : DataFrame
        Tidy ratings from :func:`tidy_ratings`.
    method : {"mean", "median"}
        Consensus of the raters.

    Returns
    -------
    DataFrame
        Columns ``case, scale, component, reference, n_raters``.

    Examples
    --------
    >>> r = pd.DataFrame({"case": ["a", "a", "a"], "rater": ["x", "y", "z"], "scale": "extent",
    ...                   "component": "total", "score": [2, 3, 7], "is_repeat": False})
    >>> reference_scores(r, "median")["reference"].tolist()
    [3.0]
    """
    if method not in ("mean", "median"):
        raise InputError(f"reference must be 'mean' or 'median', not {method!r}")
    first = ratings[~ratings["is_repeat"]]
    grouped = first.groupby(["case", "scale", "component"])["score"]
    out = grouped.agg([method, "count"]).reset_index()
    out = out.rename(columns={method: "reference", "count": "n_raters"})
    out["reference"] = out["reference"].astype(float)
    return out


def reference_from_table(table: pd.DataFrame, key: str, path: str | Path = "reference") -> pd.DataFrame:
    """Tidy reference scores from a reference-only table (e.g. the published means).

    Raises
    ------
    InputError
        When the key column or every known scale column is missing.
    """
    if key not in table.columns:
        raise InputError(f"{path}: reference table has no {key!r} column")
    frames = []
    for scale, aliases in REFERENCE_ALIASES.items():
        column = next((a for a in aliases if a in table.columns), None)
        if column is None:
            continue
        frames.append(pd.DataFrame({
            "case": table[key].astype(str), "scale": scale, "component": "total",
            "reference": pd.to_numeric(table[column], errors="coerce"), "n_raters": np.nan}))
    if not frames:
        known = ", ".join(a for aliases in REFERENCE_ALIASES.values() for a in aliases)
        raise InputError(f"{path}: no reference score column found (expected one of: {known})")
    return pd.concat(frames, ignore_index=True).dropna(subset=["reference"])


def tidy_predictions(table: pd.DataFrame, key: str, path: str | Path = "predictions") -> pd.DataFrame:
    """Predicted totals per case (index ``case``), failed rows (non-empty ``error``) dropped.

    Raises
    ------
    InputError
        When the key column or both prediction columns are missing, or a key is duplicated.
    """
    if key not in table.columns:
        raise InputError(f"{path}: predictions have no {key!r} column")
    have = {scale: col for scale, col in PREDICTION_COLUMNS.items() if col in table.columns}
    if not have:
        raise InputError(f"{path}: predictions need column(s) "
                         f"{' and/or '.join(PREDICTION_COLUMNS.values())}")
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
    """
    unknown = sorted(set(reference["case"]) - set(known))
    if unknown:
        raise InputError(f"{ref_path}: {len(unknown)} rated case(s) unknown to {known_path}, "
                         f"e.g. {unknown[0]!r} (are they of the same cohort?)")


#: Fewest cases with both a reference and a prediction for any statistic to mean something.
MIN_CASES = 3


def _check_overlap(reference, predictions, ref_path, pred_path) -> None:
    """Refuse inputs with fewer than ``MIN_CASES`` cases that have a reference and a prediction."""
    both = set(reference.loc[reference["component"] == "total", "case"]) & set(predictions.index)
    if len(both) < MIN_CASES:
        raise InputError(f"only {len(both)} case(s) have both a reference score ({ref_path}) and a "
                         f"prediction ({pred_path}); the report needs at least {MIN_CASES}")


def tidy_metadata(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """One metadata row per case (index ``case``); coordinator-only columns dropped."""
    drop = {"sha256", "path", "duplicate_of", "status", "error", "display_id", "is_repeat",
            "rater", "scale", "scale_version", "component", "score", "not_assessable",
            "not_assessable_reason", "comment", "time_shown", "time_saved", "seconds_on_case",
            "session_id", "cohort"}
    keep = [c for c in table.columns if c not in drop and c != key]
    meta = table.dropna(subset=[key]).drop_duplicates(subset=[key])
    meta = meta.set_index(meta[key].astype(str).rename("case"))[keep]
    return meta


def load_inputs(ratings_path, predictions_path, metadata_path=None, *, reference="mean",
                key_path=None) -> ValidationInputs:
    """Read, validate and align the report's inputs.

    Parameters
    ----------
    ratings_path : path
        Ratings export, or a reference-only table (``filename,geographic_mean,opacity_mean``).
    predictions_path : path
        Predictions CSV of ``covsev predict``.
    metadata_path : path, optional
        Metadata CSV keyed by ``case_id`` or ``filename`` (``patientid``, ``offset``, ``view``...).
    reference : {"mean", "median"}
        Consensus of the raters (ignored for a reference-only table).
    key_path : path, optional
        The cohort's ``key.csv`` (coordinator only): maps ``case_id`` to ``filename`` so that
        predictions keyed by file name can be matched, and carries the metadata columns.

    Returns
    -------
    ValidationInputs

    Raises
    ------
    InputError
        Missing files or columns, unreadable scores, or cases that do not match.
    """
    table = read_csv(ratings_path, "ratings")
    preds_table = read_csv(predictions_path, "predictions")
    key_table = read_csv(key_path, "cohort key") if key_path else None
    if is_ratings_export(table):
        ratings = tidy_ratings(table, ratings_path)
        case_key = "case_id"
        if "case_id" not in preds_table.columns:
            preds_table = _attach_case_id(preds_table, key_table, table, predictions_path)
        ref = reference_scores(ratings, reference)
        method = reference
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
    _check_overlap(ref, preds, ratings_path, predictions_path)
    meta = _metadata(table, key_table, metadata_path, case_key)
    sources = {"ratings": str(ratings_path), "predictions": str(predictions_path),
               "metadata": str(metadata_path) if metadata_path else None}
    return ValidationInputs(ratings, ref, preds, meta, case_key, method, sources)


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
        extra = read_csv(metadata_path, "metadata")
        key = case_key if case_key in extra.columns else "filename"
        if key not in extra.columns:
            raise InputError(f"{metadata_path}: metadata need a {case_key!r} or 'filename' column")
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
