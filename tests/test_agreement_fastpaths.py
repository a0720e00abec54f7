"""The fast paths for large cohorts give the same numbers as the direct computations (issue 16)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from covsev_tools.agreement import _fast, ratings_matrix
from covsev_tools.agreement.alpha import _RatioExpected, _ratio_expected_by_cases, alpha_batch
from covsev_tools.agreement.bootstrap import Resampling, Weights, case_weights, run_jobs
from covsev_tools.agreement.fleiss import PairTables, agreement_weights, kappa_from_tables
from covsev_tools.agreement.cohen import pair_kappas_job

from helpers import long_table


def scores(n, k, seed=0, missing=0.15, q=9):
    rng = np.random.default_rng(seed)
    wide = np.clip(np.rint(rng.uniform(0, q - 1, (n, 1)) + rng.normal(0, 1.2, (n, k))), 0, q - 1)
    wide[rng.random((n, k)) < missing] = np.nan
    wide[0] = 3.0  # every rater rates case 0
    return wide


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("clustered", [False, True])
def test_all_pairs_at_once_equal_per_pair_tables(missing, clustered):
    wide = scores(60, 5, seed=1, missing=missing)
    matrix = ratings_matrix(long_table(wide), categories="0-8")
    clusters = np.arange(60) // 3 if clustered else None
    plan = Resampling(60, 80, 4, clusters)
    schemes = {"kappa": None, "kappa_linear": "linear", "kappa_quadratic": "quadratic"}
    pairs = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    fast = run_jobs(plan, {"k": pair_kappas_job(matrix, pairs, schemes)})["k"]
    weights = plan.weights()
    index = matrix.category_index()
    for a, b in pairs:
        tables = PairTables(index[:, a], index[:, b], 9)
        counts = tables(Weights(weights))
        for name, scheme in schemes.items():
            direct = kappa_from_tables(counts, agreement_weights(matrix.categories, scheme))
            got = fast[(a, b)][name]
            assert got["value"] == pytest.approx(direct[0], abs=1e-12)
            low, high = np.percentile(direct[1:][np.isfinite(direct[1:])], [2.5, 97.5])
            assert got["ci95"] == pytest.approx([low, high], abs=1e-12)


def test_chunked_bootstrap_draws_the_same_resamples_as_one_block():
    one = Resampling(50, 300, 7, chunk_cells=10**9).weights()
    many = Resampling(50, 300, 7, chunk_cells=50 * 7).weights()
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, case_weights(50, 300, 7))


@pytest.mark.parametrize("with_zeros", [False, True])
def test_ratio_expected_without_a_case_matrix_equals_the_direct_sum(with_zeros):
    rng = np.random.default_rng(2)
    x = np.round(rng.uniform(0.01, 24, (300, 3)), 4)
    x[rng.random(x.shape) < 0.1] = np.nan
    if with_zeros:
        x[rng.random(x.shape) < 0.05] = 0.0
    weights = case_weights(300, 40, 3)
    fast = _RatioExpected(x)(weights)
    direct = _ratio_expected_by_cases(x, weights)
    np.testing.assert_allclose(fast, direct, rtol=1e-12)


def test_ratio_alpha_by_the_chebyshev_route_equals_the_library(monkeypatch):
    krippendorff = pytest.importorskip("krippendorff")
    from covsev_tools.agreement import alpha

    monkeypatch.setattr(alpha, "_RATIO_DIRECT_VALUES", 10)   # take the large-cohort route
    monkeypatch.setattr(alpha, "_RATIO_DIRECT_CASES", 10)
    rng = np.random.default_rng(5)
    x = np.round(rng.uniform(1, 8, (150, 1)) + rng.normal(0, 0.7, (150, 3)), 3) + 2
    x[rng.random(x.shape) < 0.1] = np.nan
    index = np.random.default_rng(8).integers(0, 150, size=(20, 150))
    batch = alpha_batch(x, np.unique(x[np.isfinite(x)]), "ratio", case_weights(150, 20, 8))
    reference = [krippendorff.alpha(x.T, level_of_measurement="ratio")]
    reference += [krippendorff.alpha(x[rows].T, level_of_measurement="ratio") for rows in index]
    np.testing.assert_allclose(batch, reference, atol=1e-12)


def test_pair_statistics_equal_scipy():
    rng = np.random.default_rng(0)
    for n in (4, 10, 300, 5000):
        x = np.round(rng.normal(4, 2, n))
        y = np.round(x + rng.normal(0, 2, n))
        r, p = _fast.pearson(x, y)
        reference = stats.pearsonr(x, y)
        assert (r, p) == pytest.approx((reference.statistic, reference.pvalue), abs=1e-12)
        rho, p = _fast.spearman_from_ranks(_fast.ranks(x), _fast.ranks(y))
        reference = stats.spearmanr(x, y)
        assert (rho, p) == pytest.approx((reference.statistic, reference.pvalue), abs=1e-12)
        fit, reference = _fast.ols(x, y), stats.linregress(x, y)
        assert (fit["slope"], fit["intercept"], fit["stderr"], fit["pvalue"]) == pytest.approx(
            (reference.slope, reference.intercept, reference.stderr, reference.pvalue), abs=1e-12)
