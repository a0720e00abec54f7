"""External validation: the published mapping as is, against a mapping refitted on the cohort.

A mapping fitted and scored on the same images flatters itself, so the refitted mapping is scored
out of fold: patient-grouped K-fold cross-validation (:func:`covsev_tools.model.refit.grouped_splits`,
no patient on both sides of a split), repeated with different fold assignments; each image's
out-of-fold predictions are averaged over the repeats. Both mappings are then scored on the same
images with the same bootstrap resamples, so the difference in MAE is paired.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.validation.inputs import PREDICTION_COLUMNS, ValidationInputs, scale_range
from covsev_tools.validation.resample import (bootstrap_row, mean_replicates, paired_replicates,
                                              result_frame, shared_resampling)

__all__ = ["RAW_OUTPUT", "external_validation", "mapping_coefficients", "out_of_fold", "patient_groups"]

RAW_OUTPUT = "xrv:Lung Opacity"


def patient_groups(inputs: ValidationInputs, cases) -> tuple[np.ndarray, str]:
    """Integer group code per case: the patient when known, else the image itself.

    Integer codes, not strings: scikit-learn's shuffled group folds compare object arrays in a
    Python-level loop (92 of 151 profiled seconds at 20,000 cases), integers in vectorised code.

    Examples
    --------
    >>> from covsev_tools.validation.inputs import ValidationInputs
    >>> meta = pd.DataFrame({"patient_id": ["p", "q", "p"]}, index=["a", "b", "c"])
    >>> inputs = ValidationInputs(None, pd.DataFrame(), pd.DataFrame(), meta, "case_id", "mean", {})
    >>> groups, kind = patient_groups(inputs, ["a", "b", "c"])
    >>> groups.tolist(), kind
    ([0, 1, 0], 'patient')
    """
    codes = inputs.patients(cases)
    if codes is not None:
        return codes, "patient"
    return pd.factorize(np.asarray(cases, dtype=str), sort=True)[0], "image"


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, clamp, *, n_splits: int = 5,
                n_repeats: int = 10, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of an OLS refit of ``y`` on ``x``, averaged over repeats.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Raw model output ("Lung Opacity").
    y : ndarray, shape (n,)
        Reference score.
    groups : ndarray
        Patient of each image: a patient's images are always in the same fold.
    clamp : (float, float)
        Scale range the predictions are clipped to (as the published mapping is).
    n_splits, n_repeats, seed : int
        See :func:`covsev_tools.model.refit.grouped_splits`.

    Examples
    --------
    >>> x = np.linspace(-3, 3, 20)
    >>> pred = out_of_fold(x, 0.5 * x + 3, np.repeat(np.arange(10), 2), (0, 8), n_repeats=2)
    >>> bool(np.allclose(pred, 0.5 * x + 3))
    True
    """
    from covsev_tools.model.refit import grouped_splits, make_model

    sums, counts = np.zeros(len(y)), np.zeros(len(y))
    design = x.reshape(-1, 1)
    for _, train, test in grouped_splits(groups, "kfold", n_splits, n_repeats, seed=seed):
        fitted = make_model("linear").fit(design[train], y[train])
        sums[test] += np.clip(fitted.predict(design[test]), *clamp)
        counts[test] += 1
    return sums / counts


def _scores(pred, ref, draws, confidence, **where) -> list[dict]:
    """MAE, RMSE, bias (bootstrap CIs) and CCC (agreement module estimate) of one mapping."""
    err = pred - ref
    means = mean_replicates(np.column_stack([np.abs(err), err ** 2, err]), draws)
    rows = [bootstrap_row(reps, draws, n=len(ref), confidence=confidence, estimate=float(estimate),
                          **where, statistic=name)
            for name, reps, estimate in (("MAE", means[:, 0], np.abs(err).mean()),
                                         ("RMSE", np.sqrt(means[:, 1]), np.sqrt((err ** 2).mean())),
                                         ("Bias (pred − ref)", means[:, 2], err.mean()))]
    from covsev_tools.validation.interrater import matrix_of

    pair = matrix_of(pd.DataFrame({"model": pred, "reference": ref}))
    ccc = agreement.concordance_ccc(pair, rater_a="model", rater_b="reference").iloc[0]
    rows.append(bootstrap_row(paired_replicates(pred, ref, draws, ("ccc",))["ccc"], draws, n=len(ref),
                              confidence=confidence, estimate=float(ccc["estimate"]), **where,
                              statistic="CCC"))
    return rows


def _refit_scales(inputs: ValidationInputs, n_splits: int):
    """(scale, cases with reference, prediction and raw output, patient groups, their kind) of
    every scale the refit can run on; or a note (str) saying why it cannot run at all."""
    if RAW_OUTPUT not in inputs.predictions.columns:
        return f"Refit not possible: the predictions have no raw '{RAW_OUTPUT}' output column."
    out = []
    for scale in inputs.scales:
        if scale not in PREDICTION_COLUMNS:
            continue
        both = pd.concat([inputs.reference_total(scale).rename("reference"),
                          inputs.predictions[[scale, RAW_OUTPUT]]], axis=1, join="inner").dropna()
        groups, kind = patient_groups(inputs, both.index)
        if len(np.unique(groups)) < n_splits:
            return f"Refit not possible: fewer than {n_splits} patients for {n_splits}-fold CV."
        out.append((scale, both, groups, kind))
    return out


#: Columns of :func:`external_validation`, in this order.
_COLUMNS = ["scale", "mapping", "statistic", "estimate", "ci_low", "ci_high", "n", "method"]


def external_validation(inputs: ValidationInputs, *, cluster=DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT,
                        seed: int = 0, confidence: float = DEFAULT_CONFIDENCE, n_splits: int = 5,
                        n_repeats: int = 10) -> pd.DataFrame:
    """Published mapping vs the mapping refitted on this cohort, per scale, scored out of fold.

    Parameters
    ----------
    inputs : ValidationInputs
        Predictions with the raw ``xrv:Lung Opacity`` output.
    cluster : str or None
        Patient column resampled as a whole by the bootstrap (default: the inputs'; None:
        images). The folds group by patient whenever the patient is known.
    n_boot, seed, confidence
        Bootstrap resamples (the same for both mappings: a paired difference), seed (also of the
        folds) and confidence level.
    n_splits, n_repeats : int
        Patient-grouped K-fold cross-validation, repeated.

    Returns
    -------
    DataFrame
        ``scale, mapping, statistic, estimate, ci_low, ci_high, n, method``: MAE, RMSE, bias
        and CCC of each mapping and the paired ``Δ MAE (refit − published)``; empty when the
        refit cannot run. ``attrs``: ``confidence, n_boot, seed, cluster`` and ``note`` (why
        the refit could not run, or that folds group by image; else None).
        :func:`mapping_coefficients` gives both mappings' slope and intercept.

    Examples
    --------
    >>> inputs = getfixture("simulated_inputs")  # load_inputs() of a simulated study
    >>> scores = external_validation(inputs, n_boot=20, n_repeats=2)
    >>> scores["statistic"].iloc[-1], scores.attrs["note"]
    ('Δ MAE (refit − published)', None)
    """
    inputs = inputs.resampled_by(cluster)
    frame = dict(confidence=confidence, n_boot=n_boot, seed=seed, cluster=inputs.bootstrap_cluster)
    scales = _refit_scales(inputs, n_splits)
    if isinstance(scales, str):
        out = result_frame([], columns=_COLUMNS, **frame)
        out.attrs["note"] = scales
        return out
    rows, note = [], None
    for scale, both, groups, kind in scales:
        if kind == "image":
            note = ("No patient IDs in the metadata: cross-validation folds group by image, which "
                    "is optimistic when patients have several images.")
        draws = shared_resampling(len(both), n_boot, seed, inputs.clusters(both.index))
        rows += _scale_rows(scale, both, groups, draws, confidence, seed, n_splits, n_repeats)
    out = result_frame(rows, columns=_COLUMNS, **frame)
    out.attrs["note"] = note
    return out


def mapping_coefficients(inputs: ValidationInputs, *, n_splits: int = 5) -> pd.DataFrame:
    """Slope and intercept of the published mapping and of the refit on all images, per scale.

    Returns
    -------
    DataFrame
        ``scale, mapping, slope, intercept, n, groups`` (no interval: a description of the
        mappings); empty when the refit cannot run (see :func:`external_validation`).

    Examples
    --------
    >>> sorted(mapping_coefficients(getfixture("simulated_inputs"))["mapping"].unique())
    ['published', 'refitted (all images)']
    """
    scales = _refit_scales(inputs, n_splits)
    if isinstance(scales, str):
        return pd.DataFrame()
    return pd.DataFrame([row for scale, both, groups, kind in scales
                         for row in _coefficients(scale, both, kind, len(np.unique(groups)))])


def _scale_rows(scale, both, groups, draws, confidence, seed, n_splits, n_repeats) -> list[dict]:
    ref = both["reference"].to_numpy(dtype=float)
    published = both[scale].to_numpy(dtype=float)
    refit = out_of_fold(both[RAW_OUTPUT].to_numpy(dtype=float), ref, groups, scale_range(scale),
                        n_splits=n_splits, n_repeats=n_repeats, seed=seed)
    label = f"refitted ({n_splits}-fold patient-grouped CV × {n_repeats})"
    rows = []
    for mapping, pred in (("published (as is)", published), (label, refit)):
        rows += _scores(pred, ref, draws, confidence, scale=scale, mapping=mapping)
    diff = np.abs(refit - ref) - np.abs(published - ref)
    rows.append(bootstrap_row(mean_replicates(diff, draws), draws, n=len(ref), confidence=confidence,
                              estimate=float(diff.mean()), scale=scale, mapping=label,
                              statistic="Δ MAE (refit − published)"))
    return rows


def _coefficients(scale, both, kind, n_groups) -> list[dict]:
    """Slope and intercept of the published mapping and of the refit on all images."""
    from covsev_tools.model.refit import linear_coefficients, make_model
    from covsev_tools.model.mapping import PUBLISHED_MAPPING

    x = both[RAW_OUTPUT].to_numpy(dtype=float).reshape(-1, 1)
    coef, intercept = linear_coefficients(make_model("linear").fit(x, both["reference"].to_numpy()))
    slope0, intercept0 = PUBLISHED_MAPPING[scale]
    return [{"scale": scale, "mapping": "published", "slope": slope0, "intercept": intercept0,
             "n": 94, "groups": "Cohen et al. 2020"},
            {"scale": scale, "mapping": "refitted (all images)", "slope": float(coef[0]),
             "intercept": intercept, "n": len(both), "groups": f"{n_groups} {'patients' if kind == 'patient' else 'images'}"}]
