"""The model against the reference score: error, correlation, concordance, limits, calibration.

Point estimates and analytic intervals are :mod:`covsev_tools.agreement`'s own, so the report's
numbers equal ``covsev agreement``'s; the bootstrap intervals come from
:mod:`covsev_tools.validation.resample` (patients resampled when a patient column is known), with
the same resamples for every statistic of a scale.

References
----------
Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical
measurement. Lancet 1986;327:307-310.
Lin LI. A concordance correlation coefficient to evaluate reproducibility. Biometrics 1989;45:255-268.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.continuous import LOA_MULTIPLIER
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.resample import (bootstrap_interval, bootstrap_method, bootstrap_row,
                                              loa_replicates, mean_replicates, paired_replicates,
                                              result_frame, shared_resampling)

__all__ = ["calibration", "model_vs_reference", "paired_scores", "reference_summary"]

#: Public agreement function per paired statistic, and the row name of the report.
_PAIRED = {"pearson": (agreement.pearson, "Pearson r"),
           "spearman": (agreement.spearman, "Spearman ρ"),
           "ccc": (agreement.concordance_ccc, "CCC")}

_LIMITS = (("bias", "Bias (pred − ref)"), ("loa_low", "Lower LoA"), ("loa_high", "Upper LoA"))


def paired_scores(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Cases with both a reference total and a prediction: columns ``reference, prediction``.

    Examples
    --------
    >>> cases = pd.Index(["a", "b"], name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 2.0], "n_raters": 2})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame({"extent": [1.5, None]}, index=cases),
    ...                           pd.DataFrame(index=cases), "case_id", "mean", {})
    >>> paired_scores(inputs, "extent").values.tolist()
    [[1.0, 1.5]]
    """
    return inputs.paired(scale)


def _long(pred, ref) -> agreement.RatingsMatrix:
    """The two-rater matrix (model, reference) the agreement functions take, built once."""
    from covsev_tools.validation.interrater import matrix_of

    return matrix_of(pd.DataFrame({"model": pred, "reference": ref}))


def model_vs_reference(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER,
                       n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                       confidence: float = DEFAULT_CONFIDENCE,
                       multiplier: float = LOA_MULTIPLIER) -> pd.DataFrame:
    """MAE, RMSE, Pearson, Spearman, CCC and Bland-Altman of the model against the reference.

    Parameters
    ----------
    inputs : ValidationInputs
    cluster : str or None
        Patient column resampled as a whole (default: the one the inputs were read with;
        None: resample images).
    n_boot : int
        Bootstrap resamples (of patients when known, else of cases) for the CIs; the same
        resamples for every statistic.
    seed : int
    confidence : float
        Confidence level of the bootstrap and the analytic intervals.
    multiplier : float
        Limits of agreement are bias ± multiplier × SD (default 1.96).

    Returns
    -------
    DataFrame
        ``scale, statistic, estimate, ci_low, ci_high, n, method`` (+ ``ci_low_analytic``,
        ``ci_high_analytic``: the agreement module's own intervals); ``attrs``: ``confidence,
        n_boot, seed, cluster``.

    Examples
    --------
    >>> cases = pd.Index([f"c{i}" for i in range(6)], name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [0.0, 1, 2, 4, 6, 8], "n_raters": 3})
    >>> preds = pd.DataFrame({"extent": [1.0, 1, 3, 4, 5, 7]}, index=cases)
    >>> inputs = ValidationInputs(None, ref, preds, pd.DataFrame(index=cases), "case_id", "mean", {})
    >>> table = model_vs_reference(inputs, n_boot=50).set_index("statistic")
    >>> round(table.loc["MAE", "estimate"], 3), int(table.loc["MAE", "n"]), table.loc["MAE", "method"]
    (0.667, 6, 'bootstrap percentile')
    """
    inputs = inputs.resampled_by(cluster)
    rows = []
    for scale in inputs.scales:
        pair = paired_scores(inputs, scale)
        ref, pred = pair["reference"].to_numpy(float), pair["prediction"].to_numpy(float)
        n, err = len(pair), pred - ref
        draws = shared_resampling(n, n_boot, seed, inputs.clusters(pair.index))
        common = dict(n=n, confidence=confidence, scale=scale)
        rows += [bootstrap_row(mean_replicates(np.abs(err), draws), draws, statistic="MAE",
                               estimate=np.abs(err).mean(), **common),
                 bootstrap_row(np.sqrt(mean_replicates(err ** 2, draws)), draws, statistic="RMSE",
                               estimate=np.sqrt((err ** 2).mean()), **common)]
        long = _long(pred, ref)
        reps = paired_replicates(pred, ref, draws)
        for key, (function, name) in _PAIRED.items():
            result = function(long, rater_a="model", rater_b="reference", confidence=confidence)
            rows.append(_with_analytic(scale, name, result.iloc[0], reps[key], draws, n, confidence))
        rows += _limit_rows(scale, long, err, draws, multiplier, n, confidence)
    return result_frame(rows, confidence=confidence, n_boot=n_boot, seed=seed,
                        cluster=inputs.bootstrap_cluster, columns=_COLUMNS)


#: Columns of :func:`model_vs_reference`, in this order.
_COLUMNS = ["scale", "statistic", "estimate", "ci_low", "ci_high", "n", "method",
            "ci_low_analytic", "ci_high_analytic"]


def _with_analytic(scale, name, result: pd.Series, replicates, draws, n, confidence) -> dict:
    """The agreement module's estimate and interval (as ``*_analytic``) with a bootstrap CI."""
    low, high = bootstrap_interval(replicates, confidence)
    return {"scale": scale, "statistic": name, "estimate": float(result["estimate"]),
            "ci_low": low, "ci_high": high, "n": n, "method": bootstrap_method(draws),
            "ci_low_analytic": float(result["ci_low"]), "ci_high_analytic": float(result["ci_high"])}


def _limit_rows(scale, long, err, draws, multiplier, n, confidence) -> list[dict]:
    """Bias and limits of agreement (bootstrap and exact intervals), and proportional bias."""
    table = agreement.bland_altman(long, rater_a="model", rater_b="reference",
                                   multiplier=multiplier, confidence=confidence)
    reps = loa_replicates(err, draws, multiplier)
    rows = [_with_analytic(scale, name, table.loc[key], reps[key], draws, n, confidence)
            for key, name in _LIMITS]
    slope = table.loc["proportional_bias"]
    rows.append({"scale": scale, "statistic": "Proportional bias (slope)",
                 "estimate": float(slope["estimate"]), "ci_low": float(slope["ci_low"]),
                 "ci_high": float(slope["ci_high"]), "n": n, "method": slope["method"],
                 "ci_low_analytic": float(slope["ci_low"]), "ci_high_analytic": float(slope["ci_high"])})
    return rows


def calibration(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER,
                confidence: float = DEFAULT_CONFIDENCE, min_clusters: int = 20) -> pd.DataFrame:
    """Calibration of the predictions on the cohort: OLS of reference on prediction.

    A well-calibrated mapping has slope 1 and intercept 0. When metadata name the patient for
    at least ``min_clusters`` patients with some patient imaged more than once, the standard errors
    are cluster-robust by patient (images of one patient are not independent); with fewer
    clusters the cluster-robust SEs are unreliable (Cameron & Miller 2015), so plain OLS is used.
    The intervals are Wald intervals at ``confidence``; ``cluster`` names the patient column
    (default: the inputs'; None: plain OLS).

    Returns
    -------
    DataFrame
        ``scale, statistic (Slope/Intercept), estimate, ci_low, ci_high, n, method, se_type``; a
        scale with fewer than 3 cases or no spread in the predictions is left out. ``attrs``:
        ``confidence`` (``n_boot`` 0: no bootstrap here).

    Examples
    --------
    >>> cases = pd.Index([f"c{i}" for i in range(5)], name="case")
    >>> ref = pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 2, 3, 4, 5], "n_raters": 3})
    >>> preds = pd.DataFrame({"extent": [0.0, 2, 4, 6, 8]}, index=cases)
    >>> inputs = ValidationInputs(None, ref, preds, pd.DataFrame(index=cases), "case_id", "mean", {})
    >>> calibration(inputs).set_index("statistic")["estimate"].round(3).to_dict()
    {'Slope': 0.5, 'Intercept': 1.0}
    """
    # the regression module alone: statsmodels.api also imports time series, formulas, ...
    # (0.26 s of a 4-second report)
    from statsmodels.regression.linear_model import OLS
    from statsmodels.tools.tools import add_constant

    inputs = inputs.resampled_by(cluster)
    rows = []
    for scale in inputs.scales:
        pair = paired_scores(inputs, scale)
        if len(pair) < 3 or pair["prediction"].nunique() < 2:
            continue
        model = OLS(pair["reference"].to_numpy(), add_constant(pair["prediction"].to_numpy()))
        groups = None if cluster is None else inputs.patients(pair.index)
        clustered = groups is not None and min_clusters <= len(np.unique(groups)) < len(groups)
        fit = (model.fit(cov_type="cluster", cov_kwds={"groups": groups}) if clustered
               else model.fit())
        interval = fit.conf_int(1 - confidence)
        se_type = "cluster (patient)" if clustered else "OLS"
        for j, name in ((1, "Slope"), (0, "Intercept")):
            rows.append({"scale": scale, "statistic": name, "estimate": float(fit.params[j]),
                         "ci_low": float(interval[j, 0]), "ci_high": float(interval[j, 1]),
                         "n": len(pair), "method": f"Wald, {se_type} standard error",
                         "se_type": se_type})
    return result_frame(rows, confidence=confidence, n_boot=0, seed=None,
                        cluster=inputs.bootstrap_cluster)


def reference_summary(inputs: ValidationInputs) -> pd.DataFrame:
    """Distribution of the reference scores per scale and component (total, right, left, ...).

    Returns
    -------
    DataFrame
        ``scale, component, n_cases, raters_per_case, mean, sd, median, q1, q3, min, max``.

    Examples
    --------
    >>> ref = pd.DataFrame({"case": ["a", "b", "c"], "scale": "extent", "component": "total",
    ...                     "reference": [1.0, 2.0, 6.0], "n_raters": 3})
    >>> inputs = ValidationInputs(None, ref, pd.DataFrame(), pd.DataFrame(), "case_id", "mean", {})
    >>> row = reference_summary(inputs).iloc[0]
    >>> int(row["n_cases"]), row["median"], row["max"]
    (3, 2.0, 6.0)
    """
    grouped = inputs.reference.groupby(["scale", "component"], sort=False)
    values = grouped["reference"]
    out = pd.DataFrame({"n_cases": grouped.size(),
                        "raters_per_case": grouped["n_raters"].median(),
                        "mean": values.mean(), "sd": values.std(ddof=1), "median": values.median(),
                        "q1": values.quantile(0.25), "q3": values.quantile(0.75),
                        "min": values.min(), "max": values.max()}).reset_index()
    order = {"total": 0, "right": 1, "left": 2}
    return out.sort_values(["scale", "component"], key=lambda c: c.map(order).fillna(3)
                           if c.name == "component" else c, kind="stable").reset_index(drop=True)
