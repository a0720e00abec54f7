"""Cohen's and Fleiss' kappa: published examples and parity with scikit-learn, statsmodels, irrCAC."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from irrCAC.raw import CAC
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa as sm_fleiss

from covsev_tools.agreement import cohen_kappa, fleiss_kappa

from helpers import long_table, result_row

# Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses; published kappa 0.430.
DIAGNOSES = np.array([
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]], dtype=float)

# Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, counts per category 1..5.
WIKIPEDIA_COUNTS = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                             [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                             [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])



def two_raters(n=80, seed=0, q=9, missing=0.0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, n)
    a = np.clip(truth + rng.integers(-1, 2, n), 0, q - 1).astype(float)
    b = np.clip(truth + rng.integers(-2, 2, n), 0, q - 1).astype(float)
    a[rng.random(n) < missing] = np.nan
    return np.column_stack([a, b])


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(3))
def test_cohen_matches_sklearn_and_statsmodels_se(weights, seed):
    wide = two_raters(seed=seed, missing=0.1)
    result = result_row(cohen_kappa(long_table(wide), weights=weights, categories="0-8", n_boot=0))
    both = np.isfinite(wide).all(axis=1)
    a, b = wide[both, 0], wide[both, 1]
    assert result["n"] == both.sum()
    assert result["value"] == pytest.approx(
        cohen_kappa_score(a, b, labels=np.arange(9), weights=weights), abs=1e-9)
    table = np.histogram2d(a, b, bins=np.arange(10) - 0.5)[0]
    reference = cohens_kappa(table, wt=weights, weights=None if weights is None else np.arange(9))
    assert result["value"] == pytest.approx(reference.kappa, abs=1e-9)
    assert result["se"] == pytest.approx(reference.std_kappa, abs=1e-9)


def test_category_nobody_used_is_accepted_and_matches_sklearn_labels():
    """Scores 0-4 on a 0-8 scale: the full label set goes in (weighted kappa is invariant to the
    weights' range, so unlike Gwet's AC1 its value does not change)."""
    wide = np.clip(two_raters(seed=4, q=5), 0, 4)
    result = result_row(cohen_kappa(long_table(wide), weights="linear", categories="0-8", n_boot=0))
    assert result["value"] == pytest.approx(cohen_kappa_score(
        wide[:, 0], wide[:, 1], labels=np.arange(9), weights="linear"), abs=1e-9)


@pytest.mark.parametrize("weights", [None, "quadratic"])
def test_cohen_bootstrap_equals_loop_over_the_same_resamples(weights):
    wide = two_raters(n=50, seed=5, missing=0.1)
    n_boot, seed = 200, 11
    result = result_row(cohen_kappa(long_table(wide), weights=weights, categories="0-8", n_boot=n_boot,
                         seed=seed))
    index = np.random.default_rng(seed).integers(0, len(wide), size=(n_boot, len(wide)))
    replicates = []
    for rows in index:
        sample = wide[rows]
        sample = sample[np.isfinite(sample).all(axis=1)]
        replicates.append(cohen_kappa_score(sample[:, 0], sample[:, 1], labels=np.arange(9),
                                            weights=weights))
    np.testing.assert_allclose(result["ci95"], np.percentile(replicates, [2.5, 97.5]), atol=1e-9)


def test_bootstrap_is_seeded_and_deterministic():
    table = long_table(two_raters(seed=6))
    first = result_row(cohen_kappa(table, categories="0-8", n_boot=2000, seed=7))
    again = result_row(cohen_kappa(table, categories="0-8", n_boot=2000, seed=7))
    other = result_row(cohen_kappa(table, categories="0-8", n_boot=2000, seed=8))
    assert first == again
    assert first["ci95"] != other["ci95"]
    assert first["ci95"][0] < first["value"] < first["ci95"][1]


def test_fleiss_1971_published_value_and_statsmodels():
    result = result_row(fleiss_kappa(long_table(DIAGNOSES), n_boot=0))
    assert round(result["value"], 3) == 0.430
    counts, _ = aggregate_raters(DIAGNOSES)
    assert result["value"] == pytest.approx(sm_fleiss(counts), abs=1e-9)


def test_fleiss_wikipedia_example():
    """Wikipedia's 10 × 14 × 5 worked example gives 0.210 (statsmodels' own test value)."""
    wide = np.array([np.repeat(np.arange(1, 6), row) for row in WIKIPEDIA_COUNTS], dtype=float)
    result = result_row(fleiss_kappa(long_table(wide), n_boot=0))
    assert round(result["value"], 3) == 0.210
    assert result["value"] == pytest.approx(sm_fleiss(WIKIPEDIA_COUNTS), abs=1e-9)


def test_fleiss_with_missing_matches_irrcac():
    rng = np.random.default_rng(9)
    wide = np.clip(rng.integers(0, 4, (40, 1)) + rng.integers(-1, 2, (40, 5)), 0, 3).astype(float)
    wide[rng.random(wide.shape) < 0.15] = np.nan
    result = result_row(fleiss_kappa(long_table(wide), categories="0-3", n_boot=0))
    reference = CAC(pd.DataFrame(wide), categories=[0.0, 1.0, 2.0, 3.0], digits=15).fleiss()
    assert result["value"] == pytest.approx(reference["est"]["coefficient_value"], abs=1e-9)


def test_fleiss_bootstrap_equals_loop():
    wide = DIAGNOSES
    result = result_row(fleiss_kappa(long_table(wide), n_boot=150, seed=2))
    index = np.random.default_rng(2).integers(0, 30, size=(150, 30))
    replicates = [sm_fleiss(aggregate_raters(wide[rows], n_cat=None)[0]) for rows in index]
    # aggregate_raters keeps only categories present in the resample; kappa is unchanged by that
    np.testing.assert_allclose(result["ci95"], np.percentile(replicates, [2.5, 97.5]), atol=1e-9)


def test_not_categorical_scores_give_reason():
    wide = two_raters(seed=1) + 0.5 / 3
    result = result_row(cohen_kappa(long_table(wide), n_boot=0))
    assert result["value"] is None and "not categorical" in result["reason"]


def test_single_category_gives_reason():
    result = result_row(cohen_kappa(long_table(np.full((6, 2), 3.0)), n_boot=0))
    assert result["value"] is None and "same category" in result["reason"]
