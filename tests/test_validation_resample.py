"""Vectorised bootstrap replicates equal the per-resample library calls; patients are resampled whole."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from covsev_tools.agreement.bootstrap import case_indices
from covsev_tools.validation.resample import (bootstrap_interval, loa_replicates, mean_replicates,
                                              paired_replicates, shared_resampling)


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(11)
    ref = np.round(rng.uniform(0, 8, 40) * 3) / 3          # means of 3 raters: many ties
    pred = np.clip(ref + rng.normal(0, 1.2, 40), 0, 8)
    return pred, ref


def _ccc(x, y):
    sxy = ((x - x.mean()) * (y - y.mean())).mean()
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_replicates_equal_a_loop_of_library_calls(scores):
    pred, ref = scores
    idx = case_indices(len(ref), 300, seed=4)
    reps = paired_replicates(pred, ref, shared_resampling(len(ref), 300, seed=4))
    loops = {"pearson": [stats.pearsonr(pred[i], ref[i]).statistic for i in idx],
             "spearman": [stats.spearmanr(pred[i], ref[i]).statistic for i in idx],
             "ccc": [_ccc(pred[i], ref[i]) for i in idx]}
    for name, loop in loops.items():
        np.testing.assert_allclose(reps[name][1:], loop, rtol=0, atol=1e-12)
    assert reps["pearson"][0] == pytest.approx(stats.pearsonr(pred, ref).statistic, abs=1e-12)
    assert reps["spearman"][0] == pytest.approx(stats.spearmanr(pred, ref).statistic, abs=1e-12)
    err = np.abs(pred - ref)
    np.testing.assert_allclose(mean_replicates(err, shared_resampling(len(ref), 300, 4))[1:],
                               err[idx].mean(axis=1), rtol=0, atol=1e-12)


def test_limits_of_agreement_equal_a_loop(scores):
    pred, ref = scores
    d = pred - ref
    idx = case_indices(len(d), 200, seed=1)
    reps = loa_replicates(d, shared_resampling(len(d), 200, 1), 1.96)
    sd = np.array([d[i].std(ddof=1) for i in idx])
    bias = np.array([d[i].mean() for i in idx])
    np.testing.assert_allclose(reps["bias"][1:], bias, atol=1e-12)
    np.testing.assert_allclose(reps["loa_high"][1:], bias + 1.96 * sd, atol=1e-12)
    np.testing.assert_allclose(reps["loa_low"][1:], bias - 1.96 * sd, atol=1e-12)


def test_a_resample_without_spread_is_undefined_not_a_number_from_rounding():
    x = np.array([2.0, 2.0, 2.0, 5.0])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    weights = np.array([[1, 1, 1, 1], [2, 1, 1, 0]], dtype=float)  # resample 1 drew no 5.0

    class Fixed:
        def chunks(self):
            from covsev_tools.agreement.bootstrap import Weights
            yield Weights(weights)

    reps = paired_replicates(x, y, Fixed())
    assert np.isfinite(reps["pearson"][0]) and np.isnan(reps["pearson"][1])
    assert np.isnan(reps["ccc"][1]) and np.isnan(reps["spearman"][1])


def test_small_clustered_case_equals_a_plain_loop_over_patients():
    x = np.array([1.0, 2.0, 2.5, 4.0, 6.0, 7.0])
    patients = np.array([0, 0, 1, 2, 2, 2])
    n_boot, seed = 50, 3
    reps = mean_replicates(x, shared_resampling(len(x), n_boot, seed, patients))
    rng = np.random.default_rng(seed)  # the draw of Resampling: patients with replacement
    drawn = rng.integers(0, 3, size=(n_boot, 3))
    loop = [np.concatenate([x[patients == p] for p in row]).mean() for row in drawn]
    np.testing.assert_allclose(reps[1:], loop, atol=1e-12)


def test_correlation_and_limits_resample_patients_like_a_plain_loop():
    """Pearson r and the Bland-Altman bias over patient resamples equal a loop over drawn patients."""
    rng = np.random.default_rng(7)
    patients = np.repeat(np.arange(12), 3)
    x = rng.normal(4, 2, 36)
    y = x + rng.normal(0, 1, 36)
    resampling = shared_resampling(36, 30, 5, patients)
    reps = paired_replicates(x, y, resampling, statistics=("pearson",))["pearson"]
    bias = loa_replicates(x - y, resampling, 1.96)["bias"]
    drawn = np.random.default_rng(5).integers(0, 12, size=(30, 12))
    rows = [np.concatenate([np.flatnonzero(patients == p) for p in row]) for row in drawn]
    np.testing.assert_allclose(reps[1:], [stats.pearsonr(x[r], y[r])[0] for r in rows], atol=1e-12)
    np.testing.assert_allclose(bias[1:], [(x[r] - y[r]).mean() for r in rows], atol=1e-12)


def test_clustered_interval_is_wider_with_near_identical_images_per_patient():
    rng = np.random.default_rng(0)
    n_patients, per_patient = 40, 5
    patient_error = rng.normal(0, 1, n_patients)
    err = np.abs(np.repeat(patient_error, per_patient) + rng.normal(0, 0.01, n_patients * per_patient))
    clusters = np.repeat(np.arange(n_patients), per_patient)
    naive = np.diff(bootstrap_interval(mean_replicates(err, shared_resampling(len(err), 1000, 0))))[0]
    clustered = np.diff(bootstrap_interval(mean_replicates(err, shared_resampling(len(err), 1000, 0, clusters))))[0]
    assert clustered > 1.8 * naive  # design effect 1 + (5 - 1) * ~1 = 5: width ~ sqrt(5) = 2.2x


def test_one_image_per_patient_gives_the_naive_interval_within_monte_carlo_error():
    err = np.abs(np.random.default_rng(1).normal(0, 1, 300))
    naive = bootstrap_interval(mean_replicates(err, shared_resampling(300, 2000, 0)))
    clustered = bootstrap_interval(mean_replicates(err, shared_resampling(300, 2000, 5, np.arange(300))))
    width = naive[1] - naive[0]
    assert clustered[0] == pytest.approx(naive[0], abs=0.1 * width)
    assert clustered[1] == pytest.approx(naive[1], abs=0.1 * width)


def test_validation_tables_use_patients_when_known(tmp_path):
    from covsev_tools.datasets import simulate_cohort
    from covsev_tools.validation import load_inputs, validate

    folder = simulate_cohort(seed=2).write(tmp_path / "sim")
    clustered = load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=folder / "key.csv")
    naive = load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=folder / "key.csv",
                        cluster=None)
    a, b = validate(clustered, n_boot=200), validate(naive, n_boot=200)
    assert a.settings["unit"] == "patient" and a.settings["cluster_col"] == "patientid"
    assert b.settings["unit"] == "image" and b.settings["cluster_col"] is None
    ta = a.tables["model_vs_reference"].set_index(["scale", "statistic"])
    tb = b.tables["model_vs_reference"].set_index(["scale", "statistic"])
    assert ta.loc[("extent", "MAE"), "estimate"] == tb.loc[("extent", "MAE"), "estimate"]
    assert ta.loc[("extent", "MAE"), "ci_low"] != tb.loc[("extent", "MAE"), "ci_low"]
    with pytest.raises(KeyError, match=r"cluster column 'patient' not found .*available: .*patientid"):
        load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=folder / "key.csv",
                    cluster="patient")
