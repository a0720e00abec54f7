"""The double-scored cases a link is fitted on: checked, with their patients.

A link is fitted on a single-group design: every case scored on both scales (Kolen & Brennan
2014, ch. 1). Rows with one of the two scores empty are not double-scored and are left out (their
number is kept); a non-numeric score, a missing column or too few cases is an error that names
the column, rows or option.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from covsev_tools.agreement._table import AgreementInputError, _case_clusters, _numeric_scores
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, cluster_codes
from covsev_tools.errors import CovsevError

#: Fewest double-scored cases a link is fitted on.
MIN_CASES = 10


class LinkInputError(CovsevError, ValueError):
    """A table, option or link file a scale link cannot be fitted on or read from (one line)."""


@dataclass(frozen=True)
class DoubleScored:
    """The source and target scores of the double-scored cases, and their patients.

    Attributes
    ----------
    source, target : ndarray
        Scores of each case on both scales.
    cases : list
        Case labels (the case column, else the row labels).
    clusters : ndarray of int or None
        Patient code of each case (cluster bootstrap), or None.
    cluster_column : str or None
    n_left_out : int
        Rows with one of the two scores empty.
    """

    source: np.ndarray
    target: np.ndarray
    cases: list
    clusters: np.ndarray | None
    cluster_column: str | None
    n_left_out: int


def double_scored(data, *, source: str, target: str, case: str | None = None,
                  cluster: str | None = DEFAULT_CLUSTER, where: str = "row") -> DoubleScored:
    """Check a wide table (one row per case) and keep the cases scored on both scales.

    Examples
    --------
    >>> table = pd.DataFrame({"brixia": list(range(12)) + [None], "extent": list(range(13))})
    >>> cases = double_scored(table, source="brixia", target="extent")
    >>> len(cases.source), cases.n_left_out, cases.clusters is None
    (12, 1, True)
    """
    if not isinstance(data, pd.DataFrame):
        raise LinkInputError(f"expected a pandas DataFrame, got {type(data).__name__}")
    data = data.copy()
    data.index.name = data.index.name or where
    wanted = [("--source", source), ("--target", target)] + ([("--case-col", case)] if case else [])
    for option, column in wanted:
        if column not in data.columns:
            raise LinkInputError(f"no column '{column}' ({option}); the table has columns: "
                                 f"{', '.join(map(str, data.columns))}")
    if source == target:
        raise LinkInputError(f"source and target are the same column '{source}'")
    try:
        x = _numeric_scores(data, source, data.index.name)
        y = _numeric_scores(data, target, data.index.name)
        labels = data[case] if case else pd.Series(data.index, index=data.index)
        if case and labels.duplicated().any():
            twice = labels[labels.duplicated(keep=False)].unique()[:5]
            raise LinkInputError(f"cases listed more than once in '{case}': {', '.join(map(str, twice))}")
        keep = x.notna() & y.notna()
        data = data.loc[keep].assign(_case=labels[keep].to_numpy())
        column, patients = _case_clusters(data, "_case", cluster, data.index.name)
    except AgreementInputError as exc:
        raise LinkInputError(str(exc)) from None
    if int(keep.sum()) < MIN_CASES:
        raise LinkInputError(f"a link needs at least {MIN_CASES} cases scored on both '{source}' and "
                             f"'{target}'; found {int(keep.sum())}")
    clusters = None if patients is None else cluster_codes(patients.loc[data["_case"]].to_numpy())
    return DoubleScored(x[keep].to_numpy(float), y[keep].to_numpy(float), list(data["_case"]),
                        clusters, column, int((~keep).sum()))
