"""Checking a tidy ratings table and turning it into a cases × raters matrix.

Every statistic of :mod:`covsev_tools.agreement` starts here, so that all of them see the same
cases, raters, categories and missing-data conventions, and bad tables fail with one clear message.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, Resampling, cluster_codes, default_patient_column


class AgreementInputError(ValueError):
    """A ratings table that cannot be analysed; the message names the column/rows and the reason."""


@dataclass(frozen=True)
class RatingsMatrix:
    """Ratings as a cases × raters float matrix (NaN = missing rating).

    Attributes
    ----------
    scores : ndarray, shape (n_cases, n_raters)
    cases : list of case identifiers (row order of ``scores``)
    raters : list of rater names (column order of ``scores``)
    categories : ndarray or None
        Ordered category values, or None when the scores are not categorical (non-integer and no
        categories given).
    categories_source : str
        ``"given"`` (argument / scale), ``"observed"`` (distinct integer scores) or ``"none"``.
    n_missing : int
        Rows of the table whose score was empty (missing ratings, e.g. "not assessable").
    clusters : ndarray of int or None
        Patient code of every case (row order of ``scores``) for the patient bootstrap, or None.
    cluster_column : str or None
        The patient column the codes come from.
    """

    scores: np.ndarray
    cases: list
    raters: list
    categories: np.ndarray | None
    categories_source: str
    n_missing: int = 0
    notes: list = field(default_factory=list)
    clusters: np.ndarray | None = None
    cluster_column: str | None = None

    @property
    def n_patients(self) -> int | None:
        return None if self.clusters is None else int(self.clusters.max(initial=-1) + 1)

    @property
    def n_ratings(self) -> int:
        return int(np.isfinite(self.scores).sum())

    def category_index(self) -> np.ndarray:
        """Integer category index per cell (-1 where missing); needs categorical scores."""
        index = np.full(self.scores.shape, -1, dtype=np.int64)
        present = np.isfinite(self.scores)
        index[present] = np.searchsorted(self.categories, self.scores[present])
        return index

    def pair(self, rater_a, rater_b) -> tuple[np.ndarray, np.ndarray]:
        """Column vectors of two raters (NaN where missing)."""
        return (self.scores[:, self.raters.index(rater_a)],
                self.scores[:, self.raters.index(rater_b)])


def _rows(labels, limit: int = 10) -> str:
    labels = list(labels)
    text = ", ".join(str(label) for label in labels[:limit])
    return text + (f" … ({len(labels)} in all)" if len(labels) > limit else "")


def resolve_case_column(data: pd.DataFrame, case: str) -> str:
    """``case`` unless it is the default ``"case"`` that is absent and ``"case_id"`` is present."""
    if case == "case" and "case" not in data.columns and "case_id" in data.columns:
        return "case_id"
    return case


def _numeric_scores(data: pd.DataFrame, score: str, where: str) -> pd.Series:
    raw = data[score]
    if raw.dtype.kind in "biuf":
        values = raw.astype(float)
        infinite = np.isinf(values)
        if infinite.any():
            raise AgreementInputError(f"infinite scores in column '{score}' at {where} "
                                      f"{_rows(data.index[infinite])}")
        return values
    text = raw.astype("string").str.strip()
    empty = text.isna() | (text == "")
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = (values.isna() | np.isinf(values.astype(float))) & ~empty
    if bad.any():
        examples = ", ".join(repr(v) for v in text[bad].unique()[:3])
        raise AgreementInputError(
            f"non-numeric scores in column '{score}' at {where} {_rows(data.index[bad])} "
            f"(e.g. {examples})")
    return values.astype(float)


def parse_categories(spec) -> np.ndarray | None:
    """Categories from ``"0-8"``, ``"0,1,2,3"``, a sequence of numbers or None.

    Examples
    --------
    >>> parse_categories("0-3").tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        text = spec.strip()
        try:
            if "," in text:
                values = [float(part) for part in text.split(",") if part.strip()]
            elif "-" in text[1:]:
                cut = text.index("-", 1)
                low, high = int(text[:cut]), int(text[cut + 1:])
                values = list(range(low, high + 1))
            else:
                values = [float(text)]
        except ValueError as exc:
            raise AgreementInputError(
                f"categories {spec!r}: expected a range like '0-8' or a list like '0,1,2,3'") from exc
    else:
        values = [float(v) for v in spec]
    values = np.unique(np.asarray(values, dtype=float))
    if values.size < 2:
        raise AgreementInputError(f"categories {spec!r}: need at least two categories")
    return values


def _check_columns(data: pd.DataFrame, columns: dict) -> None:
    missing = [f"{role} column '{name}'" for role, name in columns.items() if name not in data.columns]
    if missing:
        raise AgreementInputError(
            f"missing {', '.join(missing)}; the table has columns: {', '.join(map(str, data.columns))}")


def _blank(values: pd.Series) -> np.ndarray:
    """Missing or whitespace-only identifiers, checked once per distinct value (tables are long)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    blank_unique = np.array([str(u).strip() == "" for u in uniques], dtype=bool)
    return (codes < 0) | blank_unique[np.maximum(codes, 0)] & (codes >= 0)


def _check_identifiers(data: pd.DataFrame, case: str, rater: str, where: str) -> None:
    for column in (case, rater):
        values = data[column]
        empty = _blank(values)
        if empty.any():
            raise AgreementInputError(f"empty '{column}' at {where} {_rows(data.index[empty])}")


def _check_duplicates(data: pd.DataFrame, case: str, rater: str, where: str) -> None:
    duplicated = data.duplicated([case, rater], keep=False)
    if duplicated.any():
        dup = data[duplicated]
        pairs = dup.groupby([case, rater], sort=False).groups
        described = "; ".join(f"case {c!r} × rater {r!r} at {where} {_rows(rows, 5)}"
                              for (c, r), rows in list(pairs.items())[:5])
        more = f" (and {len(pairs) - 5} more)" if len(pairs) > 5 else ""
        raise AgreementInputError(
            f"duplicate ratings (one row per case × rater expected; filter by scale/component/"
            f"is_repeat first): {described}{more}")


def _categories_for(values: np.ndarray, categories) -> tuple[np.ndarray | None, str]:
    observed = np.unique(values[np.isfinite(values)])
    given = parse_categories(categories)
    if given is not None:
        return given, "given"
    if observed.size and np.all(observed == np.round(observed)):
        return observed, "observed"
    return None, "none"


def _check_in_categories(data, scores, categories, where) -> None:
    present = scores.notna()
    outside = present & ~scores.isin(categories)
    if outside.any():
        raise AgreementInputError(
            f"scores outside the categories {_format_categories(categories)} at {where} "
            f"{_rows(data.index[outside])} (values: {sorted(set(scores[outside]))[:5]})")


def _format_categories(categories) -> str:
    values = [int(v) if float(v).is_integer() else v for v in categories]
    return "{" + ", ".join(map(str, values)) + "}"


def _case_clusters(data: pd.DataFrame, case: str, cluster, where: str):
    """(cluster column or None, Series case → patient label) after checking one patient per case."""
    if cluster is None:
        return None, None
    if cluster == DEFAULT_CLUSTER:
        cluster = default_patient_column(data.columns)
        if cluster is None:
            return None, None  # no patient column: the bootstrap resamples cases
    if cluster not in data.columns:
        raise AgreementInputError(f"missing cluster (patient) column '{cluster}'; the table has "
                                  f"columns: {', '.join(map(str, data.columns))}")
    labels = data[cluster]
    empty = labels.isna() | (labels.astype(str).str.strip() == "")
    if empty.any():
        raise AgreementInputError(f"empty '{cluster}' at {where} {_rows(data.index[empty])}")
    per_case = pd.DataFrame({"case": data[case].to_numpy(), "patient": labels.astype(str).str.strip()
                             .to_numpy()}).drop_duplicates()
    split = per_case["case"].duplicated(keep=False)
    if split.any():
        cases = per_case.loc[split, "case"].unique()
        raise AgreementInputError(f"cases with more than one '{cluster}' (an image belongs to one "
                                  f"patient): {_rows(cases, 5)}")
    return cluster, per_case.set_index("case")["patient"]


def ratings_matrix(data: pd.DataFrame, *, case: str = "case", rater: str = "rater",
                   score: str = "score", categories=None,
                   cluster: str | None = DEFAULT_CLUSTER) -> RatingsMatrix:
    """Validate a tidy long ratings table and pivot it to a cases × raters matrix.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per case × rater. Empty scores are missing ratings and are kept out of every
        statistic. The index labels (``data.index.name``, default "row") name rows in messages.
    case, rater, score : str
        Column names. ``case="case"`` falls back to ``"case_id"`` when only that is present.
    categories : str, sequence or None
        Category values (``"0-8"``, ``"0,1,2,3"`` or a list). None: the distinct observed scores
        when they are all integers, else the scores are treated as non-categorical.
    cluster : str or None
        Patient column: every bootstrap resamples patients with all their images. The default
        uses ``patient_id``, else ``patientid``, when the table has one; None resamples cases.

    Returns
    -------
    RatingsMatrix

    Raises
    ------
    AgreementInputError
        Missing columns, non-numeric scores (names the rows), duplicate case × rater rows
        (names them) or scores outside the given categories.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"case": [1, 1, 2, 2], "rater": ["a", "b", "a", "b"],
    ...                       "score": [0, 1, 2, 2]})
    >>> ratings_matrix(table).scores.tolist()
    [[0.0, 1.0], [2.0, 2.0]]
    """
    if not isinstance(data, pd.DataFrame):
        raise AgreementInputError(f"expected a pandas DataFrame, got {type(data).__name__}")
    case = resolve_case_column(data, case)
    _check_columns(data, {"case": case, "rater": rater, "score": score})
    where = data.index.name or "row"
    scores = _numeric_scores(data, score, where)
    n_missing = int(scores.isna().sum())
    _check_identifiers(data, case, rater, where)
    _check_duplicates(data, case, rater, where)
    cluster, patients = _case_clusters(data, case, cluster, where)
    cats, source = _categories_for(scores.to_numpy(), categories)
    if source == "given":
        _check_in_categories(data, scores, cats, where)
    long = pd.DataFrame({"case": data[case].to_numpy(), "rater": data[rater].to_numpy(),
                         "score": scores.to_numpy()})
    wide = long.pivot(index="case", columns="rater", values="score")
    wide = wide.dropna(how="all")
    clusters = None if patients is None else cluster_codes(patients.loc[wide.index].to_numpy())
    return RatingsMatrix(scores=wide.to_numpy(dtype=float), cases=list(wide.index),
                         raters=list(wide.columns), categories=cats, categories_source=source,
                         n_missing=n_missing, clusters=clusters, cluster_column=cluster)


def as_matrix(data, case="case", rater="rater", score="score", categories=None,
              cluster=DEFAULT_CLUSTER) -> RatingsMatrix:
    """A :class:`RatingsMatrix` from a tidy table (or one already built, returned as is)."""
    if isinstance(data, RatingsMatrix):
        if cluster is None and data.clusters is not None:
            data = replace(data, clusters=None, cluster_column=None)
        if categories is None:
            return data
        cats = parse_categories(categories)
        values = data.scores[np.isfinite(data.scores)]
        outside = np.setdiff1d(values, cats)
        if outside.size:
            raise AgreementInputError(f"scores outside the categories {_format_categories(cats)}: "
                                      f"{outside[:5].tolist()}")
        return replace(data, categories=cats, categories_source="given")
    return ratings_matrix(data, case=case, rater=rater, score=score, categories=categories,
                          cluster=cluster)


def resampling(matrix: RatingsMatrix, n_boot: int, seed) -> Resampling:
    """The bootstrap plan of a matrix: over its patients when it has them, else over cases."""
    return Resampling(len(matrix.cases), n_boot, seed, matrix.clusters, matrix.cluster_column)
