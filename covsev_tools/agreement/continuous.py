"""Agreement of continuous scores for a pair: Pearson, Spearman, Lin's CCC, MAE, RMSE, Bland-Altman.

The ``*_xy`` kernels take two aligned arrays (NaN pairs dropped), e.g. a model's predictions
against a rater; the public functions take the tidy ratings table and two rater names.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from covsev_tools.agreement._result import clean, null, stat
from covsev_tools.agreement._table import as_matrix


def _complete(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _fisher_ci(r, se, level):
    half = stats.norm.ppf(1 - (1 - level) / 2) * se
    return np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)


def _no_variance(x, y):
    if x.size < 3:
        return f"needs at least 3 paired ratings; found {x.size}"
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return "undefined: a rater gave the same score to every case (no variance)"
    return None


def pearson_xy(x, y, level: float = 0.95) -> dict:
    """Pearson r (``scipy.stats.pearsonr``) with its Fisher z interval (SE 1/√(n-3))."""
    x, y = _complete(x, y)
    reason = _no_variance(x, y)
    if reason:
        return null(reason)
    result = stats.pearsonr(x, y)
    ci = result.confidence_interval(level) if x.size > 3 else (np.nan, np.nan)
    return stat(result.statistic, (ci[0], ci[1]), pval=result.pvalue, n=x.size,
                ci_method="Fisher z")


def spearman_xy(x, y, level: float = 0.95) -> dict:
    """Spearman rho (``scipy.stats.spearmanr``), Fisher z interval with SE √((1+ρ²/2)/(n-3))."""
    x, y = _complete(x, y)
    reason = _no_variance(x, y)
    if reason:
        return null(reason)
    result = stats.spearmanr(x, y)
    rho = float(result.statistic)
    ci = (np.nan, np.nan)
    if x.size > 3 and abs(rho) < 1:
        ci = _fisher_ci(rho, np.sqrt((1 + rho ** 2 / 2) / (x.size - 3)), level)
    elif abs(rho) == 1:
        ci = (rho, rho)
    return stat(rho, ci, pval=result.pvalue, n=x.size,
                ci_method="Fisher z, SE of Bonett & Wright (2000)")


def ccc_xy(x, y, level: float = 0.95) -> dict:
    """Lin's concordance correlation coefficient with the z-transform interval of Lin (1989, 2000)."""
    x, y = _complete(x, y)
    reason = _no_variance(x, y)
    if reason:
        return null(reason)
    n = x.size
    sx2, sy2 = x.var(), y.var()                      # 1/n moments, as Lin (1989)
    sxy = ((x - x.mean()) * (y - y.mean())).mean()
    shift = x.mean() - y.mean()
    rc = 2 * sxy / (sx2 + sy2 + shift ** 2)
    r = sxy / np.sqrt(sx2 * sy2)
    u2 = shift ** 2 / np.sqrt(sx2 * sy2)
    ci = (rc, rc)
    if abs(rc) < 1 and n > 2:
        var_z = ((1 - r ** 2) * rc ** 2 / ((1 - rc ** 2) * r ** 2)
                 + 2 * rc ** 3 * (1 - rc) * u2 / (r * (1 - rc ** 2) ** 2)
                 - rc ** 4 * u2 ** 2 / (2 * r ** 2 * (1 - rc ** 2) ** 2)) / (n - 2)
        ci = _fisher_ci(rc, np.sqrt(max(var_z, 0.0)), level)
    return stat(rc, ci, n=n, pearson_r=r, bias_correction=rc / r,
                ci_method="z-transform (Lin 1989, 2000)")


def mae_xy(x, y) -> float | None:
    """Mean absolute difference."""
    x, y = _complete(x, y)
    return float(np.abs(x - y).mean()) if x.size else None


def rmse_xy(x, y) -> float | None:
    """Root mean squared difference."""
    x, y = _complete(x, y)
    return float(np.sqrt(((x - y) ** 2).mean())) if x.size else None


def normal_quantile_ci(mean, sd, n, z, level=0.95, method="exact"):
    """CI of μ + zσ from a normal sample: exact (non-central t; Carkeet 2015) or approximate.

    The approximate interval is Bland & Altman (1999): (mean + z·sd) ± t(n-1)·sd·√(1/n + z²/(2(n-1))).
    """
    alpha = 1 - level
    if method == "exact":
        nc = z * np.sqrt(n)
        if z >= 0:
            with np.errstate(divide="ignore"):  # spurious boost warning
                low, high = stats.nct.ppf([alpha / 2, 1 - alpha / 2], n - 1, nc)
            return mean + sd * low / np.sqrt(n), mean + sd * high / np.sqrt(n)
        with np.errstate(divide="ignore"):
            low, high = stats.nct.ppf([alpha / 2, 1 - alpha / 2], n - 1, -nc)
        return mean - sd * high / np.sqrt(n), mean - sd * low / np.sqrt(n)
    if method == "approximate":
        half = stats.t.ppf(1 - alpha / 2, n - 1) * sd * np.sqrt(1 / n + z ** 2 / (2 * (n - 1)))
        return mean + z * sd - half, mean + z * sd + half
    raise ValueError("method must be 'exact' or 'approximate'")


def limits_of_agreement(d, level: float = 0.95):
    """Bias, SD (n - 1) and the limits bias ± z·SD of differences ``d`` along the last axis.

    ``d`` may be (n,) or (B, n), e.g. the differences of B bootstrap resamples at once.
    """
    d = np.asarray(d, dtype=float)
    bias, sd = d.mean(axis=-1), d.std(ddof=1, axis=-1)
    z = stats.norm.ppf(1 - (1 - level) / 2)
    return bias, sd, bias - z * sd, bias + z * sd


def bland_altman_xy(x, y, level: float = 0.95, loa_ci: str = "exact") -> dict:
    """Bland-Altman bias and 95% limits of agreement of d = x - y, with CIs (see :func:`bland_altman`)."""
    x, y = _complete(x, y)
    n = x.size
    if n < 3:
        return {"bias": None, "reason": f"needs at least 3 paired ratings; found {n}"}
    bias, sd, loa_low, loa_high = limits_of_agreement(x - y, level)
    z = stats.norm.ppf(1 - (1 - level) / 2)
    half = stats.t.ppf(1 - (1 - level) / 2, n - 1) * sd / np.sqrt(n)
    out = {"bias": bias, "sd": sd, "loa_low": loa_low, "loa_high": loa_high,
           "bias_ci95": [bias - half, bias + half],
           "loa_low_ci95": list(normal_quantile_ci(bias, sd, n, -z, level, loa_ci)),
           "loa_high_ci95": list(normal_quantile_ci(bias, sd, n, z, level, loa_ci)),
           "n": n, "loa_ci_method": {"exact": "exact, non-central t (Carkeet 2015)",
                                     "approximate": "approximate (Bland & Altman 1999)"}[loa_ci]}
    if sd == 0:
        out.update(loa_low_ci95=[bias, bias], loa_high_ci95=[bias, bias], bias_ci95=[bias, bias])
    return clean(out)


def continuous_xy(x, y, level: float = 0.95, loa_ci: str = "exact") -> dict:
    """All continuous agreement fields of the JSON schema for two aligned arrays."""
    xc, _ = _complete(x, y)
    return {"n": int(xc.size), "pearson": pearson_xy(x, y, level), "spearman": spearman_xy(x, y, level),
            "ccc": ccc_xy(x, y, level), "mae": mae_xy(x, y), "rmse": rmse_xy(x, y),
            "bland_altman": bland_altman_xy(x, y, level, loa_ci)}


def _pair_arrays(data, rater_a, rater_b, case, rater, score):
    from covsev_tools.agreement.kappa import _two_raters
    matrix = as_matrix(data, case, rater, score)
    rater_a, rater_b = _two_raters(matrix, rater_a, rater_b)
    return matrix.pair(rater_a, rater_b)


_TABLE_DOC = """
    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater; cases missing either rating are left out.
    rater_a, rater_b : optional
        The two raters (default: the only two raters of the table).
    case, rater, score : str
        Column names.
    level : float
        Confidence level.
"""


def pearson(data, rater_a=None, rater_b=None, *, case="case", rater="rater", score="score",
            level=0.95) -> dict:
    """Pearson correlation between two raters with a Fisher z confidence interval.
    {params}
    Returns
    -------
    dict
        ``{{"value", "ci95", "pval", "n", "ci_method"}}`` or ``{{"value": None, "reason"}}``.

    References
    ----------
    .. [1] Fisher RA (1921). On the probable error of a coefficient of correlation deduced from a
           small sample. Metron 1:3-32.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({{"case": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "rater": list("ababababab"),
    ...                   "score": [0, 1, 2, 2, 4, 3, 6, 7, 8, 8]}})
    >>> round(pearson(t)["value"], 3)
    0.965
    """
    return pearson_xy(*_pair_arrays(data, rater_a, rater_b, case, rater, score), level)


def spearman(data, rater_a=None, rater_b=None, *, case="case", rater="rater", score="score",
             level=0.95) -> dict:
    """Spearman rank correlation between two raters with a Fisher z confidence interval.
    {params}
    Returns
    -------
    dict
        ``{{"value", "ci95", "pval", "n", "ci_method"}}`` or ``{{"value": None, "reason"}}``.

    Notes
    -----
    The interval is tanh(atanh(ρ) ± 1.96·√((1 + ρ²/2)/(n - 3))), the variance recommended for
    Spearman's ρ by Bonett & Wright (2000).

    References
    ----------
    .. [1] Bonett DG, Wright TA (2000). Sample size requirements for estimating Pearson, Kendall
           and Spearman correlations. Psychometrika 65(1):23-28.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({{"case": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "rater": list("ababababab"),
    ...                   "score": [0, 1, 2, 2, 4, 3, 6, 7, 8, 8]}})
    >>> round(spearman(t)["value"], 3)
    1.0
    """
    return spearman_xy(*_pair_arrays(data, rater_a, rater_b, case, rater, score), level)


def concordance_ccc(data, rater_a=None, rater_b=None, *, case="case", rater="rater",
                    score="score", level=0.95) -> dict:
    """Lin's concordance correlation coefficient between two raters, with CI.
    {params}
    Returns
    -------
    dict
        ``{{"value", "ci95", "n", "pearson_r", "bias_correction", "ci_method"}}`` or a null.

    Notes
    -----
    ρc = 2 s_xy / (s_x² + s_y² + (x̄ - ȳ)²) with 1/n moments. The interval is computed on
    Z = atanh(ρc) with the large-sample variance of Lin (1989) as corrected in Lin (2000)
    (the formula of R's ``epiR::epi.ccc``), and transformed back.

    References
    ----------
    .. [1] Lin LI (1989). A concordance correlation coefficient to evaluate reproducibility.
           Biometrics 45(1):255-268.
    .. [2] Lin LI (2000). A note on the concordance correlation coefficient. Biometrics 56:324-325.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({{"case": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "rater": list("ababababab"),
    ...                   "score": [0, 1, 2, 2, 4, 3, 6, 7, 8, 8]}})
    >>> round(concordance_ccc(t)["value"], 3)
    0.962
    """
    return ccc_xy(*_pair_arrays(data, rater_a, rater_b, case, rater, score), level)


def bland_altman(data, rater_a=None, rater_b=None, *, case="case", rater="rater", score="score",
                 level=0.95, loa_ci: str = "exact") -> dict:
    """Bland-Altman analysis of two raters: bias, SD, 95% limits of agreement and their CIs.
    {params}
    loa_ci : {{"exact", "approximate"}}
        Interval of the limits: exact from the non-central t distribution (default; Carkeet 2015)
        or the approximate one of Bland & Altman (1999), SE = sd·√(1/n + 1.96²/(2(n-1))).

    Returns
    -------
    dict
        ``{{"bias", "sd", "loa_low", "loa_high", "bias_ci95", "loa_low_ci95", "loa_high_ci95",
        "n", "loa_ci_method"}}``; differences are ``rater_a - rater_b``.

    Notes
    -----
    bias = mean(d), sd = SD(d) (n - 1), limits = bias ± 1.96·sd (z of ``level``); the bias CI is
    bias ± t(n-1)·sd/√n.

    References
    ----------
    .. [1] Bland JM, Altman DG (1999). Measuring agreement in method comparison studies.
           Statistical Methods in Medical Research 8(2):135-160.
    .. [2] Carkeet A (2015). Exact parametric confidence intervals for Bland-Altman limits of
           agreement. Optometry and Vision Science 92(3):e71-e80.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({{"case": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "rater": list("ababababab"),
    ...                   "score": [0, 1, 2, 2, 4, 3, 6, 7, 8, 8]}})
    >>> bland_altman(t)["bias"]
    -0.2
    """
    x, y = _pair_arrays(data, rater_a, rater_b, case, rater, score)
    return bland_altman_xy(x, y, level, loa_ci)


for _function in (pearson, spearman, concordance_ccc, bland_altman):
    _function.__doc__ = _function.__doc__.format(params=_TABLE_DOC.rstrip())
