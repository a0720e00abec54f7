"""Independent second check of ``covsev_tools.agreement`` against textbook formulas.

Every reference value below is recomputed here from the published definition, written out in
plain numpy (scipy.stats is used only for F / t / normal / chi-square quantiles and densities,
never for the statistic itself; no covsev helper, pingouin, statsmodels, krippendorff or irrCAC):

1. ICC: two-way ANOVA mean squares from their definitions (SSE as the interaction residual, SSW
   within targets), the six Shrout & Fleiss (1979) forms, F/df/p and the exact intervals of
   McGraw & Wong (1996, Table 7), including the Satterthwaite df of ICC(A,1)/ICC(A,k); the
   Shrout & Fleiss (1979) 6 × 4 example (Tables 1-2).
2. Cohen's kappa, unweighted / linear / quadratic (Cohen 1960, 1968), and its large-sample
   non-null SE in the original form of Fleiss, Cohen & Everitt (1969).
3. Lin's CCC with 1/n moments and the z-transform variance of Lin (1989) as corrected by Lin (2000).
4. Bland-Altman bias, SD, limits, bias CI (t) and both limit intervals (Bland & Altman 1999;
   exact: coverage of the non-central-t bounds checked by numerical integration).
5. Krippendorff's alpha via an explicit coincidence matrix, with missing data (Krippendorff 2011,
   incl. its published 4-coder × 12-unit example).
6. Gwet's AC1/AC2 for two raters (Gwet 2008; Gwet 2014) incl. the 2008 variance formula, Fleiss'
   kappa (Fleiss 1971), the effect of unused categories, and edge cases.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from covsev_tools.agreement import (
    agreement_report, bland_altman, cohen_kappa, concordance_ccc, fleiss_kappa, gwet_ac, icc,
    krippendorff_alpha, pearson, spearman,
)

from helpers import result_row, result_rows, bland_altman_fields

TOL = 1e-9
Z975 = stats.norm.ppf(0.975)
M = 1.96  # Bland & Altman's multiplier of the SD for the limits of agreement

# Shrout & Fleiss (1979) Table 1: 6 targets × 4 judges.
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
               [6, 2, 4, 7]], dtype=float)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def tidy(matrix, raters=None) -> pd.DataFrame:
    """Long table from a cases × raters matrix; NaN cells become missing (empty) scores."""
    m = np.asarray(matrix, dtype=float)
    raters = raters or [f"r{j}" for j in range(m.shape[1])]
    rows = [(f"c{i:03d}", raters[j], m[i, j]) for i in range(m.shape[0]) for j in range(m.shape[1])]
    return pd.DataFrame(rows, columns=["case", "rater", "score"])


def close(got, expected, tol=TOL):
    assert got is not None, f"got None, expected {expected}"
    assert abs(got - expected) <= tol * max(1.0, abs(expected)), f"got {got!r}, expected {expected!r}"


def close_pair(got, expected, tol=TOL):
    assert got is not None, f"got None, expected {expected}"
    close(got[0], expected[0], tol)
    close(got[1], expected[1], tol)


def random_scores(seed, n, k, q=9, noise=1.3):
    """Integer scores 0..q-1: a latent case level plus rater bias and noise."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0, q - 1, n)
    bias = rng.normal(0, 0.6, k)
    x = np.rint(level[:, None] + bias[None, :] + rng.normal(0, noise, (n, k)))
    return np.clip(x, 0, q - 1)


# ---------------------------------------------------------------------------------------------
# 1. ICC — Shrout & Fleiss (1979), McGraw & Wong (1996)
# ---------------------------------------------------------------------------------------------
def anova(x):
    """Mean squares of S&F Table 1 (BMS, WMS, JMS, EMS), each from its own sum of squares."""
    x = np.asarray(x, dtype=float)
    n, k = x.shape
    grand = x.sum() / (n * k)
    row = x.sum(axis=1) / k
    col = x.sum(axis=0) / n
    ss_between = k * np.sum((row - grand) ** 2)
    ss_judges = n * np.sum((col - grand) ** 2)
    ss_within = np.sum((x - row[:, None]) ** 2)
    ss_error = np.sum((x - row[:, None] - col[None, :] + grand) ** 2)   # interaction residual
    return {"n": n, "k": k, "BMS": ss_between / (n - 1), "WMS": ss_within / (n * (k - 1)),
            "JMS": ss_judges / (k - 1), "EMS": ss_error / ((n - 1) * (k - 1))}


def reference_icc(x, level=0.95):
    ms = anova(x)
    n, k, B, W, J, E = (ms[key] for key in ("n", "k", "BMS", "WMS", "JMS", "EMS"))
    a2 = 1 - level
    out = {
        "ICC1": (B - W) / (B + (k - 1) * W),
        "ICC2": (B - E) / (B + (k - 1) * E + k * (J - E) / n),
        "ICC3": (B - E) / (B + (k - 1) * E),
        "ICC1k": (B - W) / B,
        "ICC2k": (B - E) / (B + (J - E) / n),
        "ICC3k": (B - E) / B,
    }
    ci = {}
    # McGraw & Wong Table 7, cases 1 (one-way) and 3 (consistency): F_L, F_U.
    for forms, f_obs, df2 in ((("ICC1", "ICC1k"), B / W, n * (k - 1)),
                              (("ICC3", "ICC3k"), B / E, (n - 1) * (k - 1))):
        fl = f_obs / stats.f.ppf(1 - a2 / 2, n - 1, df2)
        fu = f_obs * stats.f.ppf(1 - a2 / 2, df2, n - 1)
        ci[forms[0]] = ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
        ci[forms[1]] = (1 - 1 / fl, 1 - 1 / fu)
    # Case 2A, ICC(A,1): Satterthwaite df with rho = ICC(A,1).
    r = out["ICC2"]
    a = k * r / (n * (1 - r))
    b = 1 + k * r * (n - 1) / (n * (1 - r))
    v1 = (a * J + b * E) ** 2 / ((a * J) ** 2 / (k - 1) + (b * E) ** 2 / ((n - 1) * (k - 1)))
    fs, fs2 = stats.f.ppf(1 - a2 / 2, n - 1, v1), stats.f.ppf(1 - a2 / 2, v1, n - 1)
    ci["ICC2"] = (n * (B - fs * E) / (fs * (k * J + (k * n - k - n) * E) + n * B),
                  n * (fs2 * B - E) / (k * J + (k * n - k - n) * E + n * fs2 * B))
    # Case 2A, ICC(A,k), transcribed separately: c, d defined from rho = ICC(A,k) (no factor k).
    rk = out["ICC2k"]
    c = rk / (n * (1 - rk))
    d = 1 + rk * (n - 1) / (n * (1 - rk))
    vk = (c * J + d * E) ** 2 / ((c * J) ** 2 / (k - 1) + (d * E) ** 2 / ((n - 1) * (k - 1)))
    gl, gu = stats.f.ppf(1 - a2 / 2, n - 1, vk), stats.f.ppf(1 - a2 / 2, vk, n - 1)
    ci["ICC2k"] = (n * (B - gl * E) / (gl * (J - E) + n * B),
                   n * (gu * B - E) / (J - E + n * gu * B))
    tests = {}
    for form in ("ICC1", "ICC1k"):
        tests[form] = (B / W, n - 1, n * (k - 1))
    for form in ("ICC2", "ICC2k", "ICC3", "ICC3k"):
        tests[form] = (B / E, n - 1, (n - 1) * (k - 1))
    return ms, out, ci, tests, (v1, vk)


def test_icc_shrout_fleiss_published_values():
    ms, values, _, _, _ = reference_icc(SF)
    # S&F Table 1 mean squares (rounded to 2 decimals in the paper)
    for key, published in {"BMS": 11.24, "WMS": 6.26, "JMS": 32.49, "EMS": 1.02}.items():
        assert abs(ms[key] - published) < 0.006, key
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62,
                 "ICC3k": 0.91}                                       # S&F Table 2
    got = result_rows(icc(tidy(SF)))
    for form, value in published.items():
        assert abs(values[form] - value) < 0.006, form
        assert abs(got[form]["value"] - value) < 0.006, form


@pytest.mark.parametrize("name", ["shrout_fleiss", "rand_8x3", "rand_25x5", "rand_40x2",
                                  "noninteger_12x4"])
def test_icc_all_forms_F_df_p_ci(name):
    if name == "shrout_fleiss":
        x = SF
    elif name == "noninteger_12x4":
        x = np.round(np.random.default_rng(7).normal(3, 1.2, (12, 4))
                     + np.linspace(0, 4, 12)[:, None], 2)
    else:
        n, k = map(int, name.split("_")[1].split("x"))
        x = random_scores(sum(map(ord, name)), n, k)
    _, values, ci, tests, (v1, vk) = reference_icc(x)
    assert abs(v1 - vk) < 1e-9 * v1   # M&W's two transcriptions of the Satterthwaite df agree
    got = result_rows(icc(tidy(x)))
    for form in values:
        entry = got[form]
        close(entry["value"], values[form])
        close_pair(entry["ci95"], ci[form])
        f_obs, df1, df2 = tests[form]
        close(entry["F"], f_obs)
        assert entry["df1"] == df1 and entry["df2"] == df2
        close(entry["pval"], stats.f.sf(f_obs, df1, df2), 1e-12)
        assert entry["n"] == x.shape[0]


def test_icc_level_argument_changes_interval_as_formula():
    _, _, ci, _, _ = reference_icc(SF, level=0.90)
    got = result_rows(icc(tidy(SF), confidence=0.90))
    for form in ci:
        close_pair(got[form]["ci95"], ci[form])


def test_icc_uses_complete_cases_only():
    x = random_scores(3, 15, 3)
    y = x.copy()
    y[[2, 7], 1] = np.nan
    y[11, 0] = np.nan
    _, values, ci, _, _ = reference_icc(np.delete(x, [2, 7, 11], axis=0))
    got = result_rows(icc(tidy(y)))
    for form in values:
        close(got[form]["value"], values[form])
        close_pair(got[form]["ci95"], ci[form])
        assert got[form]["n"] == 12


# ---------------------------------------------------------------------------------------------
# 2. Cohen's kappa and the Fleiss-Cohen-Everitt (1969) SE
# ---------------------------------------------------------------------------------------------
def weights_matrix(cats, kind):
    cats = np.asarray(cats, dtype=float)
    q = cats.size
    w = np.zeros((q, q))
    span = cats.max() - cats.min()
    for i in range(q):
        for j in range(q):
            if kind is None:
                w[i, j] = 1.0 if i == j else 0.0
            elif kind == "linear":
                w[i, j] = 1 - abs(cats[i] - cats[j]) / span
            else:
                w[i, j] = 1 - (cats[i] - cats[j]) ** 2 / span ** 2
    return w


def reference_kappa(a, b, cats, kind):
    """(kappa, non-null SE, null SE) from Cohen (1968) and Fleiss, Cohen & Everitt (1969)."""
    cats = list(np.asarray(cats, dtype=float))
    q = len(cats)
    pairs = [(u, v) for u, v in zip(a, b) if np.isfinite(u) and np.isfinite(v)]
    n = len(pairs)
    p = np.zeros((q, q))
    for u, v in pairs:
        p[cats.index(u), cats.index(v)] += 1.0 / n
    w = weights_matrix(cats, kind)
    pr, pc = p.sum(axis=1), p.sum(axis=0)
    po = sum(w[i, j] * p[i, j] for i in range(q) for j in range(q))
    pe = sum(w[i, j] * pr[i] * pc[j] for i in range(q) for j in range(q))
    kappa = (po - pe) / (1 - pe)
    wi = [sum(pc[j] * w[i, j] for j in range(q)) for i in range(q)]      # w-bar_i.
    wj = [sum(pr[i] * w[i, j] for i in range(q)) for j in range(q)]      # w-bar_.j
    # FCE (1969) eq. for var(kappa_w), non-null, in its published (1 - pe)^4 form
    s = sum(p[i, j] * (w[i, j] * (1 - pe) - (wi[i] + wj[j]) * (1 - po)) ** 2
            for i in range(q) for j in range(q))
    var = (s - (po * pe - 2 * pe + po) ** 2) / (n * (1 - pe) ** 4)
    # FCE (1969) variance under H0: kappa_w = 0
    s0 = sum(pr[i] * pc[j] * (w[i, j] - (wi[i] + wj[j])) ** 2 for i in range(q) for j in range(q))
    var0 = (s0 - pe ** 2) / (n * (1 - pe) ** 2)
    return kappa, math.sqrt(max(var, 0)), math.sqrt(max(var0, 0)), n


@pytest.mark.parametrize("kind", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed,n", [(11, 40), (12, 9), (13, 150)])
def test_cohen_kappa_value_and_fce_nonnull_se(kind, seed, n):
    x = random_scores(seed, n, 2, q=6, noise=1.0)
    cats = np.arange(6.0)
    kappa, se, se0, _ = reference_kappa(x[:, 0], x[:, 1], cats, kind)
    got = result_row(cohen_kappa(tidy(x), weights=kind, categories="0-5", n_boot=0))
    close(got["value"], kappa)
    close(got["se"], se)
    assert got["n"] == n
    # the documented SE is the non-null one (used for CIs), not the H0 SE
    assert abs(se - se0) > 1e-6 and abs(got["se"] - se0) > 1e-6
    assert "Fleiss, Cohen & Everitt" in got["se_method"]


def test_cohen_kappa_hand_table():
    # 4 cases: (0,0) (1,1) (2,1) (3,3) on 0-3 -> po = 3/4, pe = 1/4, kappa = 2/3
    x = np.array([[0, 0], [1, 1], [2, 1], [3, 3]], dtype=float)
    got = result_row(cohen_kappa(tidy(x), categories="0-3", n_boot=0))
    close(got["value"], 2 / 3)
    # linear weights 1 - |i-j|/3: po = (1+1+2/3+1)/4 = 11/12;
    # pe = sum_ij w_ij pr_i pc_j with pr = (1,1,1,1)/4, pc = (1,2,0,1)/4
    pr, pc = np.full(4, .25), np.array([1, 2, 0, 1]) / 4
    w = 1 - np.abs(np.subtract.outer(np.arange(4), np.arange(4))) / 3
    pe = pr @ w @ pc
    close(result_row(cohen_kappa(tidy(x), weights="linear", categories="0-3", n_boot=0))["value"],
          (11 / 12 - pe) / (1 - pe))


def test_cohen_kappa_unequally_spaced_categories_use_values():
    rng = np.random.default_rng(5)
    cats = [0.0, 1.0, 2.0, 5.0]
    x = rng.choice(cats, size=(30, 2))
    x[:12, 1] = x[:12, 0]
    for kind in ("linear", "quadratic"):
        kappa, se, _, _ = reference_kappa(x[:, 0], x[:, 1], cats, kind)
        got = result_row(cohen_kappa(tidy(x), weights=kind, categories=cats, n_boot=0))
        close(got["value"], kappa)
        close(got["se"], se)


# ---------------------------------------------------------------------------------------------
# 3. Lin's concordance correlation coefficient (Lin 1989, 2000)
# ---------------------------------------------------------------------------------------------
def reference_ccc(x, y, level=0.95):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sx2 = sum((xi - mx) ** 2 for xi in x) / n
    sy2 = sum((yi - my) ** 2 for yi in y) / n
    sxy = sum((xi - mx) * (yi - my) for xi, yi in zip(x, y)) / n
    rc = 2 * sxy / (sx2 + sy2 + (mx - my) ** 2)
    r = sxy / math.sqrt(sx2 * sy2)
    u = (mx - my) / (sx2 * sy2) ** 0.25                     # Lin's location shift u
    # Lin (2000) corrected variance of rc (untransformed), then the delta method for atanh:
    var_rc = ((1 - r ** 2) * rc ** 2 * (1 - rc ** 2) / r ** 2
              + 2 * rc ** 3 * (1 - rc) * u ** 2 / r
              - rc ** 4 * u ** 4 / (2 * r ** 2)) / (n - 2)
    se_z = math.sqrt(var_rc) / (1 - rc ** 2)
    z = 0.5 * math.log((1 + rc) / (1 - rc))
    h = stats.norm.ppf(1 - (1 - level) / 2) * se_z
    return rc, r, (math.tanh(z - h), math.tanh(z + h))


@pytest.mark.parametrize("seed,n,shift", [(21, 30, 0.5), (22, 12, -1.5), (23, 200, 0.0)])
def test_ccc_value_and_z_interval(seed, n, shift):
    rng = np.random.default_rng(seed)
    a = rng.normal(4, 2, n)
    b = 0.85 * a + rng.normal(0, 0.9, n) + shift
    rc, r, ci = reference_ccc(list(a), list(b))
    got = result_row(concordance_ccc(tidy(np.c_[a, b])))
    close(got["value"], rc)
    close(got["pearson_r"], r)
    close(got["bias_correction"], rc / r)
    close_pair(got["ci95"], ci)
    assert got["n"] == n


def test_ccc_hand_example():
    # x = 0 2 4 6 8 | y = 1 2 3 7 8 ; means 4, 4.2 ; 1/n variances 8, 7.76 ; cov 7.6
    x, y = [0, 2, 4, 6, 8], [1, 2, 3, 7, 8]
    got = result_row(concordance_ccc(tidy(np.c_[x, y])))
    close(got["value"], 2 * 7.6 / (8 + 7.76 + 0.04))


def test_pearson_and_spearman_intervals():
    rng = np.random.default_rng(31)
    a = rng.normal(0, 1, 25)
    b = a + rng.normal(0, 0.8, 25)
    n = 25
    ma, mb = a.mean(), b.mean()
    r = np.sum((a - ma) * (b - mb)) / math.sqrt(np.sum((a - ma) ** 2) * np.sum((b - mb) ** 2))
    h = Z975 / math.sqrt(n - 3)
    got = result_row(pearson(tidy(np.c_[a, b])))
    close(got["value"], r)
    close_pair(got["ci95"], (math.tanh(math.atanh(r) - h), math.tanh(math.atanh(r) + h)))
    ra, rb = np.argsort(np.argsort(a)) + 1.0, np.argsort(np.argsort(b)) + 1.0   # no ties
    rho = 1 - 6 * np.sum((ra - rb) ** 2) / (n * (n ** 2 - 1))
    hs = Z975 * math.sqrt((1 + rho ** 2 / 2) / (n - 3))                        # Bonett & Wright
    got = result_row(spearman(tidy(np.c_[a, b])))
    close(got["value"], rho)
    close_pair(got["ci95"], (math.tanh(math.atanh(rho) - hs), math.tanh(math.atanh(rho) + hs)))


# ---------------------------------------------------------------------------------------------
# 4. Bland-Altman (Bland & Altman 1999; Carkeet 2015)
# ---------------------------------------------------------------------------------------------
def coverage(center_coef, n, zq):
    """P(d̄ + c·s ≥ μ + zq·σ) for normal differences: E_S[Φ(c√n S − zq√n)], S² ~ χ²(n−1)/(n−1)."""
    f = lambda u: stats.norm.cdf(center_coef * math.sqrt(n) * math.sqrt(u / (n - 1))
                                 - zq * math.sqrt(n)) * stats.chi2.pdf(u, n - 1)
    return integrate.quad(f, 0, np.inf, epsabs=1e-12, epsrel=1e-11, limit=200)[0]


@pytest.mark.parametrize("seed,n", [(41, 10), (42, 35), (43, 120)])
def test_bland_altman_bias_sd_limits_and_intervals(seed, n):
    rng = np.random.default_rng(seed)
    a = rng.normal(5, 2, n)
    b = a + rng.normal(0.4, 0.7, n)
    d = [ai - bi for ai, bi in zip(a, b)]
    bias = sum(d) / n
    sd = math.sqrt(sum((di - bias) ** 2 for di in d) / (n - 1))
    t = stats.t.ppf(0.975, n - 1)
    table = tidy(np.c_[a, b])
    got = bland_altman_fields(bland_altman(table, loa_ci="approximate"))
    close(got["bias"], bias)
    close(got["sd"], sd)
    close(got["loa_low"], bias - M * sd)
    close(got["loa_high"], bias + M * sd)
    assert got["multiplier"] == M == 1.96  # Bland & Altman's convention, the default
    assert abs(Z975 - 1.96) < 5e-5
    normal = bland_altman_fields(bland_altman(table, loa_ci="approximate", multiplier=Z975))
    close(normal["loa_high"], bias + Z975 * sd)
    close_pair(got["bias_ci95"], (bias - t * sd / math.sqrt(n), bias + t * sd / math.sqrt(n)))
    # documented approximate interval: SE = sd·sqrt(1/n + z²/(2(n−1))) (Bland & Altman 1999)
    se_loa = sd * math.sqrt(1 / n + M ** 2 / (2 * (n - 1)))
    for key, limit in (("loa_low_ci95", bias - M * sd), ("loa_high_ci95", bias + M * sd)):
        close_pair(got[key], (limit - t * se_loa, limit + t * se_loa))
        # the familiar shortcut SE ≈ sqrt(3 s²/n) is the same to within a few per cent
        short = math.sqrt(3 * sd ** 2 / n)
        half = (got[key][1] - got[key][0]) / 2
        assert abs(half / (t * short) - 1) < 0.03
    # exact (default): each bound of each limit has the stated one-sided coverage
    exact = bland_altman_fields(bland_altman(table))
    assert exact["loa_ci_method"].startswith("exact")
    for key, zq in (("loa_low_ci95", -M), ("loa_high_ci95", M)):
        low, high = exact[key]
        assert low < bias + zq * sd < high
        close(coverage((low - bias) / sd, n, zq), 0.025, 1e-6)
        close(coverage((high - bias) / sd, n, zq), 0.975, 1e-6)


def test_bland_altman_direction_is_a_minus_b():
    x = np.array([[3, 1], [4, 2], [6, 5], [2, 2]], dtype=float)
    got = bland_altman_fields(bland_altman(tidy(x, ["ann", "bob"]), rater_a="ann", rater_b="bob"))
    close(got["bias"], 1.25)
    close(bland_altman_fields(bland_altman(tidy(x, ["ann", "bob"]), rater_a="bob", rater_b="ann"))["bias"], -1.25)


# ---------------------------------------------------------------------------------------------
# 5. Krippendorff's alpha — coincidence matrix (Krippendorff 2011)
# ---------------------------------------------------------------------------------------------
def reference_alpha(x, metric):
    """alpha = 1 − D_o/D_e from the coincidence matrix o_ck of pairable units (m_u ≥ 2)."""
    x = np.asarray(x, dtype=float)
    values = sorted({v for v in x.ravel() if np.isfinite(v)})
    idx = {v: i for i, v in enumerate(values)}
    V = len(values)
    o = np.zeros((V, V))
    for unit in x:
        vals = [v for v in unit if np.isfinite(v)]
        m = len(vals)
        if m < 2:
            continue
        for i in range(m):
            for j in range(m):
                if i != j:
                    o[idx[vals[i]], idx[vals[j]]] += 1.0 / (m - 1)
    nc = o.sum(axis=1)
    total = nc.sum()

    def delta(c, k):
        vc, vk = values[c], values[k]
        if metric == "nominal":
            return 0.0 if c == k else 1.0
        if metric == "interval":
            return (vc - vk) ** 2
        if metric == "ratio":
            return ((vc - vk) / (vc + vk)) ** 2 if vc + vk != 0 else 0.0
        lo, hi = min(c, k), max(c, k)                            # ordinal
        return (sum(nc[g] for g in range(lo, hi + 1)) - (nc[c] + nc[k]) / 2) ** 2

    do = sum(o[c, k] * delta(c, k) for c in range(V) for k in range(V)) / total
    de = sum(nc[c] * nc[k] * delta(c, k) for c in range(V) for k in range(V)) / (total * (total - 1))
    return 1 - do / de


NA = np.nan
# Krippendorff (2011) reliability data: 4 observers × 12 units, with missing values.
KRIPP = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
    [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
]).T


def test_alpha_krippendorff_2011_example():
    published = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for metric, value in published.items():
        ref = reference_alpha(KRIPP, metric)
        assert abs(ref - value) < 0.0006, metric
        close(result_row(krippendorff_alpha(tidy(KRIPP), level=metric, n_boot=0))["value"], ref)


@pytest.mark.parametrize("seed", [51, 52, 53])
@pytest.mark.parametrize("metric", ["interval", "nominal", "ordinal", "ratio"])
def test_alpha_random_with_missing(seed, metric):
    x = random_scores(seed, 30, 4, q=7)
    rng = np.random.default_rng(seed + 100)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0, :] = [2, NA, NA, NA]                                   # a unit with a single rating
    ref = reference_alpha(x, metric)
    got = result_row(krippendorff_alpha(tidy(x), level=metric, n_boot=0))
    close(got["value"], ref)
    m = np.isfinite(x).sum(axis=1)
    assert got["n"] == int((m >= 2).sum())
    # categories only define the domain: unused values do not change alpha
    close(result_row(krippendorff_alpha(tidy(x), level=metric, categories="0-12", n_boot=0))["value"], ref)


def test_alpha_interval_noninteger():
    rng = np.random.default_rng(54)
    x = np.round(rng.normal(2, 1, (15, 3)) + np.linspace(0, 3, 15)[:, None], 3)
    x[3, 1] = np.nan
    close(result_row(krippendorff_alpha(tidy(x), level="interval", n_boot=0))["value"], reference_alpha(x, "interval"))
    close(result_row(krippendorff_alpha(tidy(x), level="ratio", n_boot=0))["value"], reference_alpha(x, "ratio"))


# ---------------------------------------------------------------------------------------------
# 6. Gwet's AC1 / AC2 (Gwet 2008, 2014), Fleiss' kappa (Fleiss 1971), categories
# ---------------------------------------------------------------------------------------------
def reference_gwet_two_raters(a, b, cats, kind=None):
    """Two raters, complete data. Returns (AC, Gwet-2008 variance of AC1 with 1/n)."""
    cats = list(np.asarray(cats, dtype=float))
    q, n = len(cats), len(a)
    p = np.zeros((q, q))
    for u, v in zip(a, b):
        p[cats.index(u), cats.index(v)] += 1.0 / n
    w = weights_matrix(cats, kind)
    pa = float((w * p).sum())
    pi = (p.sum(axis=1) + p.sum(axis=0)) / 2
    tw = w.sum()
    pe = tw / (q * (q - 1)) * float((pi * (1 - pi)).sum())
    ac = (pa - pe) / (1 - pe)
    var = None
    if kind is None:   # Gwet (2008), variance of AC1 for two raters (f = 0)
        t1 = sum(p[k, k] * (1 - pi[k]) for k in range(q)) / (q - 1)
        t2 = sum(p[k, l] * (1 - (pi[k] + pi[l]) / 2) ** 2
                 for k in range(q) for l in range(q)) / (q - 1) ** 2
        var = (pa * (1 - pa) - 4 * (1 - ac) * (t1 - pa * pe)
               + 4 * (1 - ac) ** 2 * (t2 - pe ** 2)) / (n * (1 - pe) ** 2)
    return ac, var


@pytest.mark.parametrize("seed,n", [(61, 25), (62, 80)])
def test_gwet_ac1_ac2_two_raters(seed, n):
    x = random_scores(seed, n, 2, q=5, noise=0.9)
    cats = np.arange(5.0)
    ac1, var = reference_gwet_two_raters(x[:, 0], x[:, 1], cats)
    got = result_row(gwet_ac(tidy(x), categories="0-4"))
    close(got["value"], ac1)
    # The module's linearisation SE (Gwet 2014 / irrCAC) divides by n(n−1); Gwet (2008) by n²:
    # se² = n/(n−1) · var_2008.
    close(got["se"] ** 2 * (n - 1) / n, var)
    half = stats.t.ppf(0.975, n - 1) * got["se"]
    close_pair(got["ci95"], (ac1 - half, min(1.0, ac1 + half)))
    for kind in ("linear", "quadratic"):
        ac2, _ = reference_gwet_two_raters(x[:, 0], x[:, 1], cats, kind)
        close(result_row(gwet_ac(tidy(x), weights=kind, categories="0-4"))["value"], ac2)


def reference_gwet_missing(x, cats):
    """Gwet (2014) AC1 with missing ratings: pa over units with ≥ 2 ratings, π over rated units."""
    cats = list(np.asarray(cats, dtype=float))
    q = len(cats)
    pa_terms, shares = [], []
    for unit in x:
        vals = [v for v in unit if np.isfinite(v)]
        r = len(vals)
        if r == 0:
            continue
        counts = np.array([vals.count(c) for c in cats], dtype=float)
        shares.append(counts / r)
        if r >= 2:
            pa_terms.append(float((counts * (counts - 1)).sum()) / (r * (r - 1)))
    pa = sum(pa_terms) / len(pa_terms)
    pi = np.mean(shares, axis=0)
    pe = float((pi * (1 - pi)).sum()) / (q - 1)
    return (pa - pe) / (1 - pe)


def test_gwet_ac1_two_raters_with_missing():
    x = random_scores(63, 30, 2, q=5, noise=0.8)
    x[[1, 5, 9], 0] = np.nan
    x[[2, 14], 1] = np.nan
    close(result_row(gwet_ac(tidy(x), categories="0-4"))["value"], reference_gwet_missing(x, np.arange(5.0)))


def reference_fleiss(x, cats):
    cats = list(np.asarray(cats, dtype=float))
    N, m = x.shape
    counts = np.array([[list(row).count(c) for c in cats] for row in x], dtype=float)
    P = ((counts ** 2).sum(axis=1) - m) / (m * (m - 1))
    p = counts.sum(axis=0) / (N * m)
    pe = float((p ** 2).sum())
    return (P.mean() - pe) / (1 - pe)


def test_fleiss_kappa_complete_data():
    x = random_scores(71, 40, 5, q=5, noise=0.9)
    close(result_row(fleiss_kappa(tidy(x), categories="0-4", n_boot=0))["value"],
          reference_fleiss(x, np.arange(5.0)))


def test_unused_categories_act_as_the_textbooks_say():
    # observed scores 0..3 only; the scale is 0..6
    x = random_scores(81, 40, 2, q=4, noise=0.8)
    assert set(np.unique(x)) == {0.0, 1.0, 2.0, 3.0}
    t = tidy(x)
    obs, full = np.arange(4.0), np.arange(7.0)
    # unweighted Cohen: an all-zero row/column changes nothing
    k_obs = result_row(cohen_kappa(t, categories="0-3", n_boot=0))
    k_full = result_row(cohen_kappa(t, categories="0-6", n_boot=0))
    close(k_full["value"], k_obs["value"])
    close(k_full["se"], k_obs["se"])
    close(result_row(cohen_kappa(t, n_boot=0))["value"], k_obs["value"])   # default: observed categories
    # weighted Cohen: the weights' range becomes 6 instead of 3, so every weight changes, but
    # kappa_w = 1 − Σ p_ij d_ij / Σ p_i. p_.j d_ij is invariant to rescaling the disagreement
    # d_ij = 1 − w_ij (Cohen 1968), and so is its FCE SE: unused *end* categories change nothing.
    assert not np.allclose(weights_matrix(full, "linear")[:4, :4], weights_matrix(obs, "linear"))
    for kind in ("linear", "quadratic"):
        ref_full = reference_kappa(x[:, 0], x[:, 1], full, kind)
        ref_obs = reference_kappa(x[:, 0], x[:, 1], obs, kind)
        close(ref_full[0], ref_obs[0])
        got = result_row(cohen_kappa(t, weights=kind, categories="0-6", n_boot=0))
        close(got["value"], ref_full[0])
        close(got["se"], ref_full[1])
        close(result_row(cohen_kappa(t, weights=kind, n_boot=0))["value"], ref_obs[0])
    # an unused *interior* category does matter for index-based weights (|i−j|/(q−1)); the
    # module's weights are on category values, so {0,1,2,4} observed == the 0-4 scale.
    y = x.copy()
    y[y == 3] = 4
    ty = tidy(y)
    for kind in ("linear", "quadratic"):
        ref_values = reference_kappa(y[:, 0], y[:, 1], np.arange(5.0), kind)
        got_scale = result_row(cohen_kappa(ty, weights=kind, categories="0-4", n_boot=0))
        got_observed = result_row(cohen_kappa(ty, weights=kind, n_boot=0))
        close(got_scale["value"], ref_values[0])
        close(got_observed["value"], ref_values[0])
        # index-based weights on the observed labels {0,1,2,4} would give another value
        index_based = reference_kappa(np.searchsorted([0, 1, 2, 4], y[:, 0]) * 1.0,
                                      np.searchsorted([0, 1, 2, 4], y[:, 1]) * 1.0,
                                      np.arange(4.0), kind)
        assert abs(index_based[0] - ref_values[0]) > 1e-3
    # Fleiss (1971): p_j = 0 for an unused category -> unchanged
    close(result_row(fleiss_kappa(t, categories="0-6", n_boot=0))["value"], reference_fleiss(x, obs))
    close(result_row(fleiss_kappa(t, categories="0-6", n_boot=0))["value"],
          result_row(fleiss_kappa(t, n_boot=0))["value"])
    # Gwet AC1: chance agreement 1/(q−1) Σ π(1−π) depends on q -> changes
    ac_full, _ = reference_gwet_two_raters(x[:, 0], x[:, 1], full)
    ac_obs, _ = reference_gwet_two_raters(x[:, 0], x[:, 1], obs)
    assert ac_full > ac_obs + 1e-3
    close(result_row(gwet_ac(t, categories="0-6"))["value"], ac_full)
    close(result_row(gwet_ac(t))["value"], ac_obs)
    # Gwet AC2: pe = T_w / (q(q−1)) Σ π(1−π) depends on q and the weights -> changes too
    for kind in ("linear", "quadratic"):
        ac2_full = reference_gwet_two_raters(x[:, 0], x[:, 1], full, kind)[0]
        ac2_obs = reference_gwet_two_raters(x[:, 0], x[:, 1], obs, kind)[0]
        assert abs(ac2_full - ac2_obs) > 1e-3
        close(result_row(gwet_ac(t, weights=kind, categories="0-6"))["value"], ac2_full)
        close(result_row(gwet_ac(t, weights=kind))["value"], ac2_obs)
    # Krippendorff: unused values do not enter the coincidence matrix
    for metric in ("nominal", "ordinal", "interval"):
        close(result_row(krippendorff_alpha(t, level=metric, categories="0-6", n_boot=0))["value"],
              reference_alpha(x, metric))


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------
PERFECT = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [1, 1], [2, 2], [0, 0], [3, 3]], dtype=float)


@pytest.mark.parametrize("kind", [None, "linear", "quadratic"])
def test_perfect_agreement_kappa(kind):
    got = result_row(cohen_kappa(tidy(PERFECT), weights=kind, categories="0-3", n_boot=300, seed=1))
    close(got["value"], 1.0, 1e-12)
    assert got["se"] == pytest.approx(0.0, abs=1e-6)      # FCE: Σ p_ii − 1 = 0
    close_pair(got["ci95"], (1.0, 1.0), 1e-12)


def test_perfect_agreement_other_coefficients():
    t = tidy(PERFECT)
    for result in (result_row(gwet_ac(t, categories="0-3")), result_row(concordance_ccc(t))):
        close(result["value"], 1.0, 1e-12)
        close_pair(result["ci95"], (1.0, 1.0), 1e-12)
    close(result_row(fleiss_kappa(t, n_boot=0))["value"], 1.0, 1e-12)
    for metric in ("nominal", "interval"):
        close(result_row(krippendorff_alpha(t, level=metric, n_boot=0))["value"], 1.0, 1e-12)
    ba = bland_altman_fields(bland_altman(t))
    assert ba["bias"] == 0 and ba["sd"] == 0 and ba["loa_high_ci95"] == [0.0, 0.0]


def test_perfect_agreement_icc_interval_is_sensible():
    """MSE = MSW = 0: every ICC is 1, and the McGraw & Wong bounds tend to 1 as F -> infinity.

    A value of 1 should come with the degenerate interval [1, 1] (or at least a reason), not
    with a silently missing interval.
    """
    got = result_rows(icc(tidy(PERFECT)))
    missing = [form for form, entry in got.items() if entry.get("ci95") is None]
    for form, entry in got.items():
        close(entry["value"], 1.0, 1e-12)
    assert not missing, f"value 1 but ci95 None for {missing}"
    for form, entry in got.items():
        close_pair(entry["ci95"], (1.0, 1.0), 1e-12)


def test_constant_offset_raters_icc3_interval():
    """Rater 2 = rater 1 + 1: MSE = 0 < MSW. ICC(C,1) = ICC(C,k) = 1 and F = MSR/MSE = ∞, so both
    consistency intervals are [1, 1] in the limit; the module gives ICC3k [1, 1] already, so
    ICC3 (single rater, same F) should agree. ICC1 and ICC(A,·) stay finite and exact."""
    x = PERFECT + np.array([0.0, 1.0])
    with np.errstate(divide="ignore", invalid="ignore"):   # F = MSR/MSE = inf for ICC3
        _, values, ci, _, _ = reference_icc(x)
    got = result_rows(icc(tidy(x)))
    for form in ("ICC1", "ICC1k", "ICC2", "ICC2k"):
        close(got[form]["value"], values[form])
        close_pair(got[form]["ci95"], ci[form])
    close_pair(got["ICC3k"]["ci95"], (1.0, 1.0), 1e-12)
    close(got["ICC3"]["value"], 1.0, 1e-12)
    assert got["ICC3"].get("ci95") is not None, f"ICC3 = 1 but ci95 None: {got['ICC3']}"
    close_pair(got["ICC3"]["ci95"], (1.0, 1.0), 1e-12)


def test_constant_scores_give_nulls_with_reasons():
    x = np.full((6, 3), 2.0)
    report = agreement_report(tidy(x), categories="0-4", n_boot=50, seed=0)
    json.dumps(report, allow_nan=False)                         # strict JSON, no crash
    nulls = [report["icc"][f] for f in report["icc"]] + [report["fleiss_kappa"]]
    nulls += list(report["krippendorff_alpha"].values())
    for pair in report["pairs"]:
        nulls += [pair[key] for key in ("kappa", "kappa_linear", "kappa_quadratic", "pearson",
                                        "spearman", "ccc")]
    for entry in nulls:
        assert entry["value"] is None and entry["reason"], entry
    # Gwet (2008): all ratings in one category -> pe = 0, pa = 1 -> AC1 = 1 by definition
    close(report["gwet"]["AC1"]["value"], 1.0)
    # without a category set there is only one observed category: AC1 undefined with a reason
    ac = result_row(gwet_ac(tidy(x)))
    assert ac["value"] is None and ac["reason"]
    ck = result_row(cohen_kappa(tidy(x[:, :2]), n_boot=0))
    assert ck["value"] is None and ck["reason"]


def test_two_raters_missing_ratings():
    x = random_scores(91, 30, 2, q=5, noise=0.9)
    x[[0, 4, 8], 0] = np.nan
    x[[4, 10, 20], 1] = np.nan
    both = np.isfinite(x).all(axis=1)
    t = tidy(x)
    for kind in (None, "linear", "quadratic"):
        kappa, se, _, n = reference_kappa(x[:, 0], x[:, 1], np.arange(5.0), kind)
        got = result_row(cohen_kappa(t, weights=kind, categories="0-4", n_boot=0))
        assert n == got["n"] == int(both.sum()) == 25
        close(got["value"], kappa)
        close(got["se"], se)
    rc, _, ci = reference_ccc(list(x[both, 0]), list(x[both, 1]))
    got = result_row(concordance_ccc(t))
    close(got["value"], rc)
    close_pair(got["ci95"], ci)
    close(bland_altman_fields(bland_altman(t))["bias"], float(np.mean(x[both, 0] - x[both, 1])))
    close(result_row(krippendorff_alpha(t, level="interval", n_boot=0))["value"], reference_alpha(x, "interval"))
    _, values, ci_icc, _, _ = reference_icc(x[both])
    got_icc = result_rows(icc(t))
    close(got_icc["ICC2"]["value"], values["ICC2"])
    close_pair(got_icc["ICC2"]["ci95"], ci_icc["ICC2"])
    close(result_row(gwet_ac(t, categories="0-4"))["value"], reference_gwet_missing(x, np.arange(5.0)))
    report = agreement_report(t, categories="0-4", n_boot=0)
    assert report["method"]["n_missing_scores"] == 6
    # case 4 has no rating at all and is not a case; 25 complete, 4 dropped from the ICC
    assert report["n_cases"] == 29
    assert report["method"]["icc"]["n_used"] == 25 and report["method"]["icc"]["n_dropped"] == 4


def test_noninteger_scores():
    x = np.array([[1.5, 2.0], [2.67, 3.0], [4.0, 3.5], [5.25, 5.0], [0.5, 1.0], [3.33, 3.0]])
    t = tidy(x)
    for result in (result_row(cohen_kappa(t, n_boot=0)), result_row(fleiss_kappa(t, n_boot=0)), result_row(gwet_ac(t)),
                   result_row(krippendorff_alpha(t, level="nominal", n_boot=0)),
                   result_row(krippendorff_alpha(t, level="ordinal", n_boot=0))):
        assert result["value"] is None and "categor" in result["reason"]
    _, values, ci, _, _ = reference_icc(x)
    got = result_rows(icc(t))
    for form in values:
        close(got[form]["value"], values[form])
        close_pair(got[form]["ci95"], ci[form])
    close(result_row(krippendorff_alpha(t, level="interval", n_boot=0))["value"], reference_alpha(x, "interval"))
    close(result_row(concordance_ccc(t))["value"], reference_ccc(list(x[:, 0]), list(x[:, 1]))[0])


def test_rater_pair_with_fewer_than_three_cases():
    # r0 and r2 share only 2 cases; r0/r1 and r1/r2 share 6 and 4
    x = np.array([[1, 1, 2], [2, 3, 2], [3, 3, NA], [4, 5, NA], [2, 2, NA], [0, 1, NA],
                  [NA, 4, 4], [NA, 2, 3]], dtype=float)
    t = tidy(x)
    report = agreement_report(t, categories="0-5", n_boot=100, seed=0)
    json.dumps(report, allow_nan=False)
    pair = next(p for p in report["pairs"] if (p["rater_a"], p["rater_b"]) == ("r0", "r2"))
    assert pair["n"] == 2
    for key in ("pearson", "spearman", "ccc"):
        assert pair[key]["value"] is None and "3" in pair[key]["reason"]
    assert pair["bland_altman"]["bias"] is None and pair["bland_altman"]["reason"]
    kappa, se, _, n = reference_kappa(x[:, 0], x[:, 2], np.arange(6.0), "linear")
    assert n == 2
    close(pair["kappa_linear"]["value"], kappa)
    assert pair["kappa_linear"]["se"] == pytest.approx(se, abs=1e-6)   # var = 0 up to rounding
    # ICC: only 2 complete cases
    _, values, _, _, _ = reference_icc(x[:2])
    close(report["icc"]["ICC3"]["value"], values["ICC3"])
    assert report["method"]["icc"]["n_used"] == 2
    # a pair with a single shared case: kappa is a null with a reason, no crash
    y = np.array([[1, 2], [2, NA], [NA, 3]], dtype=float)
    got = result_row(cohen_kappa(tidy(y), categories="0-5", n_boot=20))
    assert got["value"] is None and got["reason"]


# ---------------------------------------------------------------------------------------------
# Case bootstrap: percentile intervals recomputed from the documented resampling
# (numpy.random.default_rng(seed).integers(0, n, size=(B, n)), cases in sorted order)
# ---------------------------------------------------------------------------------------------
def reference_fleiss_missing(x, cats):
    """Fleiss' kappa generalised to missing ratings (Gwet 2014): pa over units with ≥ 2 ratings,
    category shares averaged over rated units."""
    cats = list(np.asarray(cats, dtype=float))
    pa_terms, shares = [], []
    for unit in x:
        vals = [v for v in unit if np.isfinite(v)]
        r = len(vals)
        if r == 0:
            continue
        counts = np.array([vals.count(c) for c in cats], dtype=float)
        shares.append(counts / r)
        if r >= 2:
            pa_terms.append(float((counts * (counts - 1)).sum()) / (r * (r - 1)))
    pa = sum(pa_terms) / len(pa_terms)
    pe = float((np.mean(shares, axis=0) ** 2).sum())
    return (pa - pe) / (1 - pe)


def percentile(values, level=0.95):
    v = np.asarray([x for x in values if np.isfinite(x)])
    return tuple(np.percentile(v, [(1 - level) / 2 * 100, 100 - (1 - level) / 2 * 100])), v.size


def resamples(n, n_boot, seed):
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def safe(f, *args):
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            return float(f(*args))
        except ZeroDivisionError:
            return float("nan")


def test_bootstrap_intervals_match_resampled_textbook_formulas():
    x = random_scores(101, 24, 3, q=5, noise=0.9)
    x[[1, 6, 13], 2] = np.nan
    x[17, 0] = np.nan
    n, B, seed = x.shape[0], 150, 7
    idx = resamples(n, B, seed)
    t = tidy(x)
    cats = np.arange(5.0)
    # Cohen's quadratic kappa of the pair r0-r2
    ref = [safe(lambda m: reference_kappa(m[:, 0], m[:, 2], cats, "quadratic")[0], x[i])
           for i in idx]
    (low, high), valid = percentile(ref)
    got = result_row(cohen_kappa(t, rater_a="r0", rater_b="r2", weights="quadratic", categories="0-4", n_boot=B, seed=seed))
    close_pair(got["ci95"], (low, high))
    assert got.get("n_boot_valid", B) == valid
    # Fleiss' kappa with missing ratings
    close(result_row(fleiss_kappa(t, categories="0-4", n_boot=0))["value"], reference_fleiss_missing(x, cats))
    ref = [safe(reference_fleiss_missing, x[i], cats) for i in idx]
    close_pair(result_row(fleiss_kappa(t, categories="0-4", n_boot=B, seed=seed))["ci95"], percentile(ref)[0])
    # Krippendorff's alpha, every level
    for metric in ("nominal", "ordinal", "interval", "ratio"):
        ref = [safe(reference_alpha, x[i], metric) for i in idx]
        got = result_row(krippendorff_alpha(t, level=metric, categories="0-4", n_boot=B, seed=seed))
        close_pair(got["ci95"], percentile(ref)[0])


def test_vs_others_is_rater_minus_mean_of_the_other_raters():
    x = random_scores(111, 20, 3, q=9)
    x[3, 1] = np.nan
    report = agreement_report(tidy(x), n_boot=0)
    entry = next(e for e in report["vs_others"] if e["rater"] == "r0")
    others = np.nanmean(x[:, 1:], axis=1)
    d = x[:, 0] - others
    close(entry["bland_altman"]["bias"], float(d.mean()))
    close(entry["bland_altman"]["sd"], float(d.std(ddof=1)))
    close(entry["ccc"]["value"], reference_ccc(list(x[:, 0]), list(others))[0])
