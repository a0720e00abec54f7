"""Pearson, Spearman, Lin's CCC, MAE/RMSE and Bland-Altman against scipy, sklearn and the formulas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error

from covsev_tools.agreement import bland_altman, concordance_ccc, pearson, spearman
from covsev_tools.agreement.continuous import continuous_xy, normal_quantile_ci

from helpers import result_row, bland_altman_fields


def pair_table(x, y) -> pd.DataFrame:
    n = len(x)
    return pd.DataFrame({"case": np.repeat(np.arange(n), 2), "rater": ["a", "b"] * n,
                         "score": np.column_stack([x, y]).ravel()})


@pytest.fixture()
def xy():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 8, 40)
    y = x + rng.normal(0.4, 0.9, 40)
    x[3] = np.nan  # a missing rating: the pair is left out
    return x, y


def test_pearson_scipy_and_fisher_z(xy):
    x, y = xy
    keep = np.isfinite(x)
    result = result_row(pearson(pair_table(x, y)))
    r = stats.pearsonr(x[keep], y[keep]).statistic
    half = 1.959963984540054 / np.sqrt(keep.sum() - 3)
    assert result["value"] == pytest.approx(r, abs=1e-12)
    np.testing.assert_allclose(result["ci95"], np.tanh(np.arctanh(r) + [-half, half]), atol=1e-9)
    assert result["n"] == 39


def test_spearman_scipy_and_bonett_wright_interval(xy):
    x, y = xy
    keep = np.isfinite(x)
    result = result_row(spearman(pair_table(x, y)))
    rho = stats.spearmanr(x[keep], y[keep]).statistic
    half = 1.959963984540054 * np.sqrt((1 + rho ** 2 / 2) / (keep.sum() - 3))
    assert result["value"] == pytest.approx(rho, abs=1e-12)
    np.testing.assert_allclose(result["ci95"], np.tanh(np.arctanh(rho) + [-half, half]), atol=1e-9)


def epir_ccc(x, y):
    """Independent transcription of Lin's formulas in the form of R epiR::epi.ccc (z-transform)."""
    k = len(x)
    sx2, sy2 = np.var(x, ddof=1) * (k - 1) / k, np.var(y, ddof=1) * (k - 1) / k
    r = np.corrcoef(x, y)[0, 1]
    p = 2 * r * np.sqrt(sx2 * sy2) / (sx2 + sy2 + (np.mean(y) - np.mean(x)) ** 2)
    u = (np.mean(y) - np.mean(x)) / (sx2 * sy2) ** 0.25
    sep = np.sqrt(((1 - r ** 2) * p ** 2 * (1 - p ** 2) / r ** 2 + 2 * p ** 3 * (1 - p) * u ** 2 / r
                   - 0.5 * p ** 4 * u ** 4 / r ** 2) / (k - 2))
    t, set_ = np.arctanh(p), sep / (1 - p ** 2)
    z = stats.norm.ppf(0.975)
    return p, np.tanh(t - z * set_), np.tanh(t + z * set_)


def test_ccc_matches_lin_formulas(xy):
    x, y = xy
    keep = np.isfinite(x)
    result = result_row(concordance_ccc(pair_table(x, y)))
    value, low, high = epir_ccc(x[keep], y[keep])
    assert result["value"] == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(result["ci95"], [low, high], atol=1e-9)
    assert result["value"] < result["pearson_r"]  # the 0.4 shift costs accuracy


def test_ccc_of_identical_raters_is_one():
    x = np.arange(10.0)
    assert result_row(concordance_ccc(pair_table(x, x)))["value"] == pytest.approx(1.0)


def test_mae_rmse_match_sklearn(xy):
    x, y = xy
    keep = np.isfinite(x)
    fields = continuous_xy(x, y)
    assert fields["mae"] == pytest.approx(mean_absolute_error(x[keep], y[keep]), abs=1e-12)
    assert fields["rmse"] == pytest.approx(np.sqrt(mean_squared_error(x[keep], y[keep])), abs=1e-12)


def test_bland_altman_1999_approximate_intervals(xy):
    x, y = xy
    keep = np.isfinite(x)
    d = x[keep] - y[keep]
    n, bias, sd = d.size, d.mean(), d.std(ddof=1)
    result = bland_altman_fields(bland_altman(pair_table(x, y), loa_ci="approximate"))
    z, t = 1.96, stats.t.ppf(0.975, n - 1)  # Bland & Altman's multiplier, the default
    assert (result["bias"], result["sd"]) == pytest.approx((bias, sd), abs=1e-12)
    assert result["loa_low"] == pytest.approx(bias - z * sd, abs=1e-12)
    np.testing.assert_allclose(result["bias_ci95"], bias + np.array([-1, 1]) * t * sd / np.sqrt(n),
                               atol=1e-9)
    se_loa = sd * np.sqrt(1 / n + z ** 2 / (2 * (n - 1)))
    np.testing.assert_allclose(result["loa_high_ci95"], bias + z * sd + np.array([-1, 1]) * t * se_loa,
                               atol=1e-9)
    assert result["bias"] < 0  # difference is rater_a - rater_b and b was shifted up


def test_exact_interval_reproduces_published_tolerance_factor():
    """One-sided normal tolerance factor k(n=10, p=0.95, γ=0.95) = 2.911 (NIST/SEMATECH
    e-Handbook 7.2.6.3; Odeh & Owen tables): the exact upper limit for μ + 1.645σ."""
    _, high = normal_quantile_ci(0.0, 1.0, 10, stats.norm.ppf(0.95), confidence=0.90)
    assert round(high, 3) == 2.911


def test_exact_and_approximate_agree_for_large_n():
    exact = normal_quantile_ci(0.0, 1.0, 5000, 1.96, method="exact")
    approx = normal_quantile_ci(0.0, 1.0, 5000, 1.96, method="approximate")
    np.testing.assert_allclose(exact, approx, atol=2e-3)
    low = normal_quantile_ci(0.0, 1.0, 30, -1.96)
    high = normal_quantile_ci(0.0, 1.0, 30, 1.96)
    np.testing.assert_allclose(low, [-high[1], -high[0]], atol=1e-12)  # symmetric


def test_non_integer_scores_work_for_continuous_statistics():
    rng = np.random.default_rng(2)
    x = np.round(rng.uniform(0, 8, 20) * 3) / 3  # rater means like 2.67
    y = x + rng.normal(0, 0.5, 20)
    fields = continuous_xy(x, y)
    assert all(fields[key]["value"] is not None for key in ("pearson", "spearman", "ccc"))


def test_constant_rater_gives_reasons():
    x = np.full(10, 3.0)
    y = np.arange(10.0)
    fields = continuous_xy(x, y)
    for key in ("pearson", "spearman", "ccc"):
        assert fields[key]["value"] is None and "no variance" in fields[key]["reason"]
    assert fields["bland_altman"]["bias"] == pytest.approx(-1.5)


def test_too_few_pairs_give_reasons():
    fields = continuous_xy([1.0, 2.0], [1.0, np.nan])
    assert fields["pearson"]["value"] is None and fields["bland_altman"]["bias"] is None
