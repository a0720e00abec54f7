"""Pearson, Spearman, Lin's CCC, MAE/RMSE and Bland-Altman against scipy, sklearn and the formulas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error

from covsev_tools.agreement import (agreement_report, bland_altman, concordance_ccc, format_markdown,
                                    pearson, spearman)
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


# Bland & Altman (1986) Lancet i:307-310, Table 1: PEFR (l/min) of 17 subjects, first reading with
# the Wright and with the mini Wright meter. Published: mean difference -2.1, SD 38.8, limits
# -2.1 ± 2 × 38.8 = -79.7 to 75.5 (the paper used 2 SD).
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI_WRIGHT = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def test_bland_altman_reproduces_the_lancet_1986_example():
    table = pair_table(np.array(WRIGHT, float), np.array(MINI_WRIGHT, float))
    two_sd = bland_altman(table, multiplier=2.0, loa_ci="approximate")
    assert round(two_sd.loc["bias", "estimate"], 1) == -2.1
    assert round(two_sd.loc["bias", "sd"], 1) == 38.8
    # the paper computed its limits from the rounded mean and SD (-2.1 ± 2 × 38.8)
    assert two_sd.loc["loa_low", "estimate"] == pytest.approx(-79.7, abs=0.1)
    assert two_sd.loc["loa_high", "estimate"] == pytest.approx(75.5, abs=0.1)
    # default: 1.96 SD, the multiplier stated in the result
    default = bland_altman(table)
    assert (default.multiplier.iloc[:3] == 1.96).all()
    d = np.array(WRIGHT, float) - np.array(MINI_WRIGHT, float)
    assert default.loc["loa_high", "estimate"] == pytest.approx(d.mean() + 1.96 * d.std(ddof=1),
                                                                abs=1e-12)
    # approximate limit intervals by hand: SE = s·√(1/n + m²/(2(n-1))), t with n-1 df
    n, s = d.size, d.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * s * np.sqrt(1 / n + 4 / (2 * (n - 1)))
    assert (two_sd.loc["loa_low", "ci_low"], two_sd.loc["loa_low", "ci_high"]) == pytest.approx(
        (d.mean() - 2 * s - half, d.mean() - 2 * s + half), abs=1e-9)


def test_proportional_bias_is_the_ols_slope_of_difference_on_mean():
    import statsmodels.api as sm

    x, y = np.array(WRIGHT, float), np.array(MINI_WRIGHT, float)
    fit = sm.OLS(x - y, sm.add_constant((x + y) / 2)).fit()
    row = bland_altman(pair_table(x, y), confidence=0.9).loc["proportional_bias"]
    assert row.estimate == pytest.approx(fit.params[1], abs=1e-12)
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(fit.conf_int(0.1)[1]), abs=1e-9)
    assert row.pval == pytest.approx(fit.pvalues[1], abs=1e-12)
    assert row.intercept == pytest.approx(fit.params[0], abs=1e-9)


def test_multiplier_is_stated_in_the_report_methods_and_tables():
    rng = np.random.default_rng(2)
    x = np.round(rng.uniform(0, 8, 30))
    table = pair_table(x, np.clip(x + rng.integers(-1, 2, 30), 0, 8))
    report = agreement_report(table, n_boot=0, multiplier=2.0)
    assert report["method"]["bland_altman"]["multiplier"] == 2.0
    assert report["pairs"][0]["bland_altman"]["multiplier"] == 2.0
    assert "bias ± 2 SD" in format_markdown(report)
    assert "bias ± 1.96 SD" in format_markdown(agreement_report(table, n_boot=0))
    slope = report["pairs"][0]["bland_altman"]["proportional_bias"]
    assert slope["slope_ci95"][0] < slope["slope"] < slope["slope_ci95"][1]
