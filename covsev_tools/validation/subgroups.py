"""Model vs reference within subgroups (view, site, sex, ...) and over time within patients."""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools.validation import stats as vs
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.stats import bootstrap_indices, ci_row, percentile_ci

#: Metadata columns tried for subgroups when none are named (levels must be few).
DEFAULT_SUBGROUPS = ("view", "site", "sex")


def subgroup_columns(metadata: pd.DataFrame, requested=None, max_levels: int = 8) -> list[str]:
    """Metadata columns usable as subgroups: the requested ones, else view/site/sex if present
    with 2..max_levels levels."""
    if requested:
        missing = [c for c in requested if c not in metadata.columns]
        if missing:
            raise KeyError(f"subgroup column(s) not in the metadata: {', '.join(missing)}")
        return list(requested)
    return [c for c in DEFAULT_SUBGROUPS if c in metadata.columns
            and 2 <= metadata[c].nunique() <= max_levels]


def subgroups(inputs: ValidationInputs, columns=None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Model vs reference within each level of each metadata column.

    Returns
    -------
    DataFrame
        ``scale, variable, level, n, mae (+ci), bias, ccc``.
    """
    rows = []
    for column in subgroup_columns(inputs.metadata, columns):
        levels = inputs.metadata[column].fillna("missing").astype(str)
        for scale in inputs.scales:
            pair = inputs.paired(scale).join(levels.rename("level"), how="inner")
            for level, grp in pair.groupby("level"):
                rows.append(_subgroup_row(scale, column, level, grp, n_boot, seed))
    return pd.DataFrame(rows)


def _subgroup_row(scale, column, level, grp, n_boot, seed) -> dict:
    ref, pred = grp["reference"].to_numpy(), grp["prediction"].to_numpy()
    err = np.abs(pred - ref)
    low, high = percentile_ci(err[bootstrap_indices(len(err), n_boot, seed)].mean(axis=1))
    ccc = vs.paired_stat("ccc", pred, ref, 0, seed)["estimate"] if len(grp) >= 3 else np.nan
    return {"scale": scale, "variable": column, "level": level, "n": len(grp),
            "mae": float(err.mean()), "mae_ci_low": low, "mae_ci_high": high,
            "bias": float((pred - ref).mean()), "ccc": ccc}


def longitudinal_pairs(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Consecutive images of each patient: change in reference and in prediction.

    Returns
    -------
    DataFrame
        ``patientid, case_from, case_to, days, delta_reference, delta_prediction``.
    """
    meta = inputs.metadata
    if not {"patientid", "offset"} <= set(meta.columns):
        return pd.DataFrame()
    pair = inputs.paired(scale).join(meta[["patientid", "offset"]], how="inner")
    pair = pair.dropna(subset=["patientid", "offset"]).sort_values(["patientid", "offset"])
    rows = []
    for pid, grp in pair.groupby("patientid"):
        for (a, ra), (b, rb) in zip(grp.iterrows(), list(grp.iterrows())[1:]):
            rows.append({"patientid": pid, "case_from": a, "case_to": b,
                         "days": float(rb["offset"]) - float(ra["offset"]),
                         "delta_reference": rb["reference"] - ra["reference"],
                         "delta_prediction": rb["prediction"] - ra["prediction"]})
    return pd.DataFrame(rows)


def longitudinal(inputs: ValidationInputs, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Does the model follow change within patients? Change in prediction vs change in reference.

    Returns
    -------
    DataFrame
        ``scale, statistic, estimate, ci_low, ci_high, n`` with the Pearson r of the changes,
        the MAE of the change, and the fraction of pairs whose direction agrees (among pairs whose
        reference changed).
    """
    rows = []
    for scale in inputs.scales:
        pairs = longitudinal_pairs(inputs, scale)
        if len(pairs) < 3:
            continue
        dref, dpred = pairs["delta_reference"].to_numpy(), pairs["delta_prediction"].to_numpy()
        idx = bootstrap_indices(len(pairs), n_boot, seed)
        moved = dref != 0
        same = (np.sign(dref) == np.sign(dpred)).astype(float)
        rows += [
            {"scale": scale, "statistic": "Pearson r of change",
             **vs.paired_stat("pearson", dpred, dref, n_boot, seed), "n": len(pairs)},
            ci_row(scale, "MAE of change", np.abs(dpred - dref).mean(),
                 np.abs(dpred - dref)[idx].mean(axis=1), len(pairs)),
            ci_row(scale, "Direction agreement", same[moved].mean() if moved.any() else np.nan,
                 [same[i][moved[i]].mean() if moved[i].any() else np.nan for i in idx],
                 int(moved.sum())),
        ]
    return pd.DataFrame(rows)


def trajectory_series(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Per-image reference and prediction with patient and day, for the trajectory figure."""
    meta = inputs.metadata
    if not {"patientid", "offset"} <= set(meta.columns):
        return pd.DataFrame()
    pair = inputs.paired(scale).join(meta[["patientid", "offset"]], how="inner")
    return pair.dropna(subset=["patientid", "offset"]).reset_index()
