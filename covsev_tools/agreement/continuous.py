"""Agreement of continuous scores for a pair: Pearson, Spearman, Lin's CCC, MAE, RMSE, Bland-Altman.

(The Bland-Altman kernels are in :mod:`covsev_tools.agreement.limits`.)

The ``*_xy`` kernels take two aligned arrays (NaN pairs dropped), e.g. a model's predictions
against a rater; the public functions take the tidy ratings table and two rater names.
"""
from __future__ import annotations

import numpy as np

from covsev_tools.agreement import _fast
from covsev_tools.agreement._result import result_entry, to_frame, undefined_result
from covsev_tools.agreement._table import as_matrix
# Bland-Altman lives in its own module; its kernels are part of this module's face too.
from covsev_tools.agreement.limits import (LOA_MULTIPLIER, bland_altman_frame, bland_altman_xy,  # noqa: F401
                                           limits_of_agreement, normal_quantile_ci,
                                           proportional_bias)
from covsev_tools.defaults import DEFAULT_CONFIDENCE

_complete = _fast.complete_pairs


def _fisher_ci(r, se, confidence):
    half = _fast.norm_ppf(1 - (1 - confidence) / 2) * se
    with np.errstate(divide="ignore"):  # |r| = 1: the limits are ±1
        return np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)


def _no_variance(x, y):
    if x.size < 3:
        return f"needs at least 3 paired ratings; found {x.size}"
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return "undefined: a rater gave the same score to every case (no variance)"
    return None


def pearson_xy(x, y, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Pearson r (``scipy.stats.pearsonr``) with its Fisher z interval (SE 1/√(n-3)).

    Examples
    --------
    >>> round(pearson_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5])["value"], 3)
    0.942
    """
    x, y = _complete(x, y)
    reason = _no_variance(x, y)
    if reason:
        return undefined_result(reason)
    r, pval = _fast.pearson(x, y)
    ci = _fisher_ci(r, 1 / np.sqrt(x.size - 3), confidence) if x.size > 3 else (np.nan, np.nan)
    return result_entry(r, (ci[0], ci[1]), pval=pval, n=x.size, ci_method="Fisher z")


def spearman_xy(x, y, confidence: float = DEFAULT_CONFIDENCE, ranks=None) -> dict:
    """Spearman rho (``scipy.stats.spearmanr``), Fisher z interval with SE √((1+ρ²/2)/(n-3)).

    ``ranks`` may give the average ranks of ``x`` and ``y`` when no pair is missing (a rater's
    ranks are then the same in every pair, so a table of pairs ranks each rater once).

    Examples
    --------
    >>> round(spearman_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5])["value"], 3)
    0.975
    """
    x, y = _complete(x, y)
    reason = _no_variance(x, y)
    if reason:
        return undefined_result(reason)
    rx, ry = ranks if ranks is not None else (_fast.ranks(x), _fast.ranks(y))
    rho, pval = _fast.spearman_from_ranks(rx, ry)
    ci = (np.nan, np.nan)
    if x.size > 3 and abs(rho) < 1:
        ci = _fisher_ci(rho, np.sqrt((1 + rho ** 2 / 2) / (x.size - 3)), confidence)
    elif abs(rho) == 1:
        ci = (rho, rho)
    return result_entry(rho, ci, pval=pval, n=x.size, ci_method="Fisher z, SE of Bonett & Wright (2000)")


def ccc_xy(x, y, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Lin's concordance correlation coefficient with the z-transform interval of Lin (1989, 2000).

    Examples
    --------
    >>> round(ccc_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5])["value"], 3)
    0.934
    """
    x, y = _complete(x, y)
    reason = _no_variance(x, y)
    if reason:
        return undefined_result(reason)
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
        ci = _fisher_ci(rc, np.sqrt(max(var_z, 0.0)), confidence)
    return result_entry(rc, ci, n=n, pearson_r=r, bias_correction=rc / r,
                ci_method="z-transform (Lin 1989, 2000)")


def mae_xy(x, y) -> float | None:
    """Mean absolute difference.

    Examples
    --------
    >>> round(mae_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5]), 3)
    0.4
    """
    x, y = _complete(x, y)
    return float(np.abs(x - y).mean()) if x.size else None


def rmse_xy(x, y) -> float | None:
    """Root mean squared difference.

    Examples
    --------
    >>> round(rmse_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5]), 3)
    0.632
    """
    x, y = _complete(x, y)
    return float(np.sqrt(((x - y) ** 2).mean())) if x.size else None


def continuous_xy(x, y, confidence: float = DEFAULT_CONFIDENCE, loa_ci: str = "exact",
                  multiplier: float = LOA_MULTIPLIER, ranks=None) -> dict:
    """All continuous agreement fields of the JSON schema for two aligned arrays.

    ``ranks``: average ranks of complete ``x`` and ``y`` (see :func:`spearman_xy`).

    Examples
    --------
    >>> sorted(continuous_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5]))
    ['bland_altman', 'ccc', 'mae', 'n', 'pearson', 'rmse', 'spearman']
    """
    xc, _ = _complete(x, y)
    return {"n": int(xc.size), "pearson": pearson_xy(x, y, confidence),
            "spearman": spearman_xy(x, y, confidence, ranks), "ccc": ccc_xy(x, y, confidence),
            "mae": mae_xy(x, y), "rmse": rmse_xy(x, y),
            "bland_altman": bland_altman_xy(x, y, confidence, loa_ci, multiplier)}


def _pair_arrays(data, rater_a, rater_b, case, rater, score):
    from covsev_tools.agreement.fleiss import two_raters
    matrix = as_matrix(data, case, rater, score, cluster=None)
    rater_a, rater_b = two_raters(matrix, rater_a, rater_b)
    return (rater_a, rater_b), matrix.pair(rater_a, rater_b)


_TABLE_DOC = """
    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater; cases missing either rating are left out.
    rater_a, rater_b : optional
        The two raters (default: the only two raters of the table).
    case, rater, score : str
        Column names.
    confidence : float
        Confidence level.
"""

_EXAMPLE = """
    >>> import pandas as pd
    >>> t = pd.DataFrame({{"case": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "rater": list("ababababab"),
    ...                   "score": [0, 1, 2, 2, 4, 3, 6, 7, 8, 8]}})"""


def _one_row(name, kernel, data, rater_a, rater_b, case, rater, score, confidence):
    raters, (x, y) = _pair_arrays(data, rater_a, rater_b, case, rater, score)
    return to_frame({name: kernel(x, y, confidence)}, confidence, rater_a=raters[0],
                    rater_b=raters[1])


def pearson(data, *, rater_a=None, rater_b=None, case="case", rater="rater", score="score",
            confidence=DEFAULT_CONFIDENCE):
    """Pearson correlation between two raters with a Fisher z confidence interval.
    {params}
    Returns
    -------
    pandas.DataFrame
        One row ``pearson``: ``estimate, ci_low, ci_high, n, method, rater_a, rater_b, pval``.

    References
    ----------
    .. [1] Fisher RA (1921). On the probable error of a coefficient of correlation deduced from a
           small sample. Metron 1:3-32.

    Examples
    --------{example}
    >>> round(pearson(t).loc["pearson", "estimate"], 3)
    0.965
    """
    return _one_row("pearson", pearson_xy, data, rater_a, rater_b, case, rater, score, confidence)


def spearman(data, *, rater_a=None, rater_b=None, case="case", rater="rater", score="score",
             confidence=DEFAULT_CONFIDENCE):
    """Spearman rank correlation between two raters with a Fisher z confidence interval.
    {params}
    Returns
    -------
    pandas.DataFrame
        One row ``spearman``: ``estimate, ci_low, ci_high, n, method, rater_a, rater_b, pval``.

    Notes
    -----
    The interval is tanh(atanh(ρ) ± z·√((1 + ρ²/2)/(n - 3))), the variance recommended for
    Spearman's ρ by Bonett & Wright (2000).

    References
    ----------
    .. [1] Bonett DG, Wright TA (2000). Sample size requirements for estimating Pearson, Kendall
           and Spearman correlations. Psychometrika 65(1):23-28.

    Examples
    --------{example}
    >>> round(spearman(t).loc["spearman", "estimate"], 3)
    1.0
    """
    return _one_row("spearman", spearman_xy, data, rater_a, rater_b, case, rater, score,
                    confidence)


def concordance_ccc(data, *, rater_a=None, rater_b=None, case="case", rater="rater",
                    score="score", confidence=DEFAULT_CONFIDENCE):
    """Lin's concordance correlation coefficient between two raters, with CI.
    {params}
    Returns
    -------
    pandas.DataFrame
        One row ``ccc``: ``estimate, ci_low, ci_high, n, method, rater_a, rater_b, pearson_r,
        bias_correction``.

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
    --------{example}
    >>> round(concordance_ccc(t).loc["ccc", "estimate"], 3)
    0.962
    """
    return _one_row("ccc", ccc_xy, data, rater_a, rater_b, case, rater, score, confidence)


def bland_altman(data, *, rater_a=None, rater_b=None, case="case", rater="rater", score="score",
                 confidence=DEFAULT_CONFIDENCE, multiplier: float = LOA_MULTIPLIER, loa_ci: str = "exact"):
    """Bland-Altman analysis of two raters: bias, limits of agreement, their CIs, proportional bias.
    {params}
    multiplier : float
        Limits are bias ± multiplier·SD; 1.96 as Bland & Altman, pingouin and MedCalc.
    loa_ci : {{"exact", "approximate"}}
        Interval of the limits: exact from the non-central t distribution (default; Carkeet 2015)
        or the approximate one of Bland & Altman (1999), SE = sd·√(1/n + m²/(2(n-1))).

    Returns
    -------
    pandas.DataFrame
        Rows ``bias, loa_low, loa_high, proportional_bias`` (the slope of the difference on the
        mean); columns ``estimate, ci_low, ci_high, n, method, rater_a, rater_b, sd,
        multiplier`` (+ ``pval``, ``intercept`` of the slope). Differences are ``rater_a -
        rater_b``.

    Notes
    -----
    bias = mean(d), sd = SD(d) (n - 1), limits = bias ± multiplier·sd; the bias CI is
    bias ± t(n-1)·sd/√n; proportional bias is the OLS slope of d on (a + b)/2 with its t(n-2)
    interval.

    References
    ----------
    .. [1] Bland JM, Altman DG (1999). Measuring agreement in method comparison studies.
           Statistical Methods in Medical Research 8(2):135-160.
    .. [2] Carkeet A (2015). Exact parametric confidence intervals for Bland-Altman limits of
           agreement. Optometry and Vision Science 92(3):e71-e80.

    Examples
    --------{example}
    >>> ba = bland_altman(t)
    >>> ba.loc["bias", "estimate"], round(ba.loc["loa_high", "estimate"], 3)
    (-0.2, 1.44)
    """
    raters, (x, y) = _pair_arrays(data, rater_a, rater_b, case, rater, score)
    result = bland_altman_xy(x, y, confidence, loa_ci, multiplier)
    return bland_altman_frame(result, confidence, rater_a=raters[0], rater_b=raters[1])


for _function in (pearson, spearman, concordance_ccc, bland_altman):
    _function.__doc__ = _function.__doc__.format(params=_TABLE_DOC.rstrip(),
                                                 example=_EXAMPLE.format())
