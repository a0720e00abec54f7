"""Model vs reference within subgroups (view, site, sex, ...) and over time within patients."""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.validation.inputs import ColumnError, ValidationInputs
from covsev_tools.validation.resample import (bootstrap_interval, bootstrap_method, bootstrap_row,
                                              mean_replicates, paired_replicates, result_frame,
                                              shared_resampling)

__all__ = ["DEFAULT_SUBGROUPS", "longitudinal", "longitudinal_pairs", "subgroup_columns", "subgroups",
           "trajectory_series"]

#: Metadata columns tried for subgroups when none are named (levels must be few).
DEFAULT_SUBGROUPS = ("view", "site", "sex")


def subgroup_columns(metadata: pd.DataFrame, requested=None, max_levels: int = 8) -> list[str]:
    """Metadata columns usable as subgroups: the requested ones, else view/site/sex if present
    with 2..max_levels levels.

    Raises
    ------
    ColumnError
        When a requested column is not in the metadata (the message lists those that are).

    Examples
    --------
    >>> meta = pd.DataFrame({"view": ["AP", "PA"], "sex": ["M", "M"]})
    >>> subgroup_columns(meta)
    ['view']
    >>> subgroup_columns(meta, ["veiw"])
    Traceback (most recent call last):
    covsev_tools.validation.inputs.ColumnError: subgroup column 'veiw' not in the metadata (available: view, sex)
    """
    if requested:
        missing = [c for c in requested if c not in metadata.columns]
        if missing:
            available = ", ".join(map(str, metadata.columns)) or "none"
            names = ", ".join(repr(c) for c in missing)
            raise ColumnError(f"subgroup column {names} not in the metadata (available: {available})")
        return list(requested)
    return [c for c in DEFAULT_SUBGROUPS if c in metadata.columns
            and 2 <= metadata[c].nunique() <= max_levels]


def subgroups(inputs: ValidationInputs, columns=None, *, cluster=DEFAULT_CLUSTER,
              n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
              confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Model vs reference within each level of each metadata column.

    Parameters
    ----------
    inputs : ValidationInputs
    columns : list of str, optional
        Metadata columns (default: view, site, sex with 2 to 8 levels; see :func:`subgroup_columns`).
    cluster, n_boot, seed, confidence
        Patient column (default: the inputs'; None: images), bootstrap resamples, seed and
        confidence level of the MAE's percentile interval.

    Returns
    -------
    DataFrame
        ``scale, variable, level, statistic, estimate, ci_low, ci_high, n, method``: per level,
        ``MAE`` (bootstrap interval), ``Bias (pred − ref)`` and ``CCC`` (point estimates,
        method ``descriptive``; the CCC needs 3 cases). ``attrs``: ``confidence, n_boot, seed,
        cluster``.

    Examples
    --------
    >>> cases = pd.Index([f"c{i}" for i in range(6)], name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [0.0, 1, 2, 4, 6, 8], "n_raters": 3})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame({"extent": [1.0, 1, 3, 4, 5, 7]}, index=cases),
    ...     pd.DataFrame({"view": ["AP", "PA"] * 3}, index=cases), "case_id", "mean", {})
    >>> table = subgroups(inputs, n_boot=20)
    >>> table[table["statistic"] == "MAE"][["level", "n", "estimate"]].values.tolist()
    [['AP', 3, 1.0], ['PA', 3, 0.3333333333333333]]
    """
    inputs = inputs.resampled_by(cluster)
    rows = []
    for column in subgroup_columns(inputs.metadata, columns):
        levels = inputs.metadata[column].fillna("missing").astype(str)
        for scale in inputs.scales:
            pair = inputs.paired(scale).join(levels.rename("level"), how="inner")
            for level, grp in pair.groupby("level"):
                draws = shared_resampling(len(grp), n_boot, seed, inputs.clusters(grp.index))
                rows += _subgroup_rows(scale, column, level, grp, draws, confidence)
    return result_frame(rows, confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=inputs.bootstrap_cluster, columns=SUBGROUP_COLUMNS)


#: Columns of :func:`subgroups`, in this order.
SUBGROUP_COLUMNS = ["scale", "variable", "level", "statistic", "estimate", "ci_low", "ci_high", "n",
                    "method"]


def _pair(x, y) -> agreement.RatingsMatrix:
    """The two-rater matrix (model, reference) of the agreement functions."""
    from covsev_tools.validation.interrater import matrix_of

    return matrix_of(pd.DataFrame({"model": x, "reference": y}))


def _ccc(pred, ref) -> float:
    result = agreement.concordance_ccc(_pair(pred, ref), rater_a="model", rater_b="reference")
    return float(result["estimate"].iloc[0])


def _subgroup_rows(scale, column, level, grp, draws, confidence) -> list[dict]:
    """MAE (bootstrap interval), bias and CCC of one level (the last two without an interval)."""
    ref, pred = grp["reference"].to_numpy(), grp["prediction"].to_numpy()
    err = np.abs(pred - ref)
    where = {"scale": scale, "variable": column, "level": level}
    ccc = _ccc(pred, ref) if len(grp) >= 3 else np.nan
    plain = {"ci_low": np.nan, "ci_high": np.nan, "n": len(grp), "method": "descriptive"}
    return [bootstrap_row(mean_replicates(err, draws), draws, n=len(grp), confidence=confidence,
                          estimate=float(err.mean()), **where, statistic="MAE"),
            {**where, "statistic": "Bias (pred − ref)", "estimate": float((pred - ref).mean()), **plain},
            {**where, "statistic": "CCC", "estimate": ccc, **plain}]


def _patient_offsets(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Reference and prediction per image with its patient and day, sorted by patient and day."""
    meta, patient = inputs.metadata, inputs.patient_column
    if patient is None or not {patient, "offset"} <= set(meta.columns):
        return pd.DataFrame()
    pair = inputs.paired(scale).join(meta[[patient, "offset"]], how="inner")
    pair = pair.rename(columns={patient: "patientid"}).dropna(subset=["patientid", "offset"])
    return pair.sort_values(["patientid", "offset"], kind="stable")


def longitudinal_pairs(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Consecutive images of each patient: change in reference and in prediction.

    Returns
    -------
    DataFrame
        ``patientid, case_from, case_to, days, delta_reference, delta_prediction``.

    Examples
    --------
    >>> cases = pd.Index(["a", "b", "c"], name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 3.0, 2.0], "n_raters": 2})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame({"extent": [1.0, 2.0, 2.0]}, index=cases),
    ...     pd.DataFrame({"patient_id": ["p", "p", "q"], "offset": [0, 4, 0]}, index=cases),
    ...     "case_id", "mean", {})
    >>> longitudinal_pairs(inputs, "extent")[["case_from", "case_to", "days"]].values.tolist()
    [['a', 'b', 4.0]]
    """
    pair = _patient_offsets(inputs, scale)
    if not len(pair):
        return pd.DataFrame()
    # consecutive rows of one patient form a pair: one vectorised shift, no loop over rows
    nxt = pair.shift(-1)
    cases = pair.index.to_series()
    same = (pair["patientid"] == nxt["patientid"]).to_numpy()
    out = pd.DataFrame({
        "patientid": pair["patientid"].to_numpy(), "case_from": cases.to_numpy(),
        "case_to": cases.shift(-1).to_numpy(),
        "days": nxt["offset"].astype(float).to_numpy() - pair["offset"].astype(float).to_numpy(),
        "delta_reference": (nxt["reference"] - pair["reference"]).to_numpy(),
        "delta_prediction": (nxt["prediction"] - pair["prediction"]).to_numpy()})[same]
    return out.reset_index(drop=True)


def longitudinal(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
                 seed: int = 0, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Does the model follow change within patients? Change in prediction vs change in reference.

    Parameters
    ----------
    inputs : ValidationInputs
        Needs a patient column and ``offset`` (days) in the metadata.
    cluster : str or None
        Default: resample patients (all pairs of a patient together); None: resample the pairs
        one by one.
    n_boot, seed, confidence
        Bootstrap resamples, seed and confidence level.

    Returns
    -------
    DataFrame
        ``scale, statistic, estimate, ci_low, ci_high, n, method`` (+ ``ci_low_analytic,
        ci_high_analytic`` of the Pearson r) with the Pearson r of the changes, the MAE of the
        change, and the fraction of pairs whose direction agrees (among pairs whose reference
        changed). ``attrs``: ``confidence, n_boot, seed, cluster``.

    Examples
    --------
    >>> cases = pd.Index(list("abcdefgh"), name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 3, 2, 5, 4, 4, 0, 2], "n_raters": 3})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame({"extent": [2.0, 3, 1, 4, 4, 5, 1, 1]},
    ...     index=cases), pd.DataFrame({"patient_id": list("ppqqrrss"), "offset": [0, 3] * 4},
    ...     index=cases), "case_id", "mean", {})
    >>> longitudinal(inputs, n_boot=20).set_index("statistic")["n"].to_dict()
    {'Pearson r of change': 4, 'MAE of change': 4, 'Direction agreement': 3}
    """
    inputs = inputs.resampled_by(cluster)
    rows = []
    for scale in inputs.scales:
        pairs = longitudinal_pairs(inputs, scale)
        if len(pairs) < 3:
            continue
        dref, dpred = pairs["delta_reference"].to_numpy(float), pairs["delta_prediction"].to_numpy(float)
        clusters = (None if inputs.cluster_col is None  # asked to resample pairs one by one
                    else pd.factorize(pairs["patientid"].astype(str), sort=True)[0])
        draws = shared_resampling(len(pairs), n_boot, seed, clusters)
        moved = (dref != 0).astype(float)
        same = (np.sign(dref) == np.sign(dpred)).astype(float)
        sums = np.concatenate([w.rows @ np.column_stack([same * moved, moved])
                               for w in draws.chunks()])
        with np.errstate(divide="ignore", invalid="ignore"):  # no moved pair drawn: undefined
            direction = sums[:, 0] / sums[:, 1]
        common = dict(confidence=confidence, scale=scale)
        rows += [_pearson_row(scale, dpred, dref, draws, confidence),
                 bootstrap_row(mean_replicates(np.abs(dpred - dref), draws), draws, n=len(pairs),
                               estimate=np.abs(dpred - dref).mean(), statistic="MAE of change",
                               **common),
                 bootstrap_row(direction, draws, n=int(moved.sum()), statistic="Direction agreement",
                               estimate=same[moved > 0].mean() if moved.any() else np.nan, **common)]
    return result_frame(rows, confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=inputs.bootstrap_cluster,
                        columns=["scale", "statistic", "estimate", "ci_low", "ci_high", "n", "method",
                                 "ci_low_analytic", "ci_high_analytic"])


def _pearson_row(scale, dpred, dref, draws, confidence) -> dict:
    """Pearson r of the changes: the agreement module's estimate and Fisher interval, bootstrap CI."""
    result = agreement.pearson(_pair(dpred, dref), rater_a="model", rater_b="reference",
                               confidence=confidence).iloc[0]
    low, high = bootstrap_interval(paired_replicates(dpred, dref, draws, ("pearson",))["pearson"],
                                   confidence)
    return {"scale": scale, "statistic": "Pearson r of change", "estimate": float(result["estimate"]),
            "ci_low": low, "ci_high": high, "n": len(dref), "method": bootstrap_method(draws),
            "ci_low_analytic": float(result["ci_low"]), "ci_high_analytic": float(result["ci_high"])}


def trajectory_series(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Per-image reference and prediction with patient and day, for the trajectory figure.

    Examples
    --------
    >>> cases = pd.Index(["a", "b"], name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 3.0], "n_raters": 2})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame({"extent": [1.0, 2.0]}, index=cases),
    ...     pd.DataFrame({"patient_id": ["p", "p"], "offset": [0, 4]}, index=cases), "case_id", "mean", {})
    >>> trajectory_series(inputs, "extent").columns.tolist()
    ['case', 'reference', 'prediction', 'patientid', 'offset']
    """
    pair = _patient_offsets(inputs, scale)
    return pair.sort_index().reset_index() if len(pair) else pd.DataFrame()
