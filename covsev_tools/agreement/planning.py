"""Planning a reader study: how many cases (and raters) for a given precision, from published methods.

Each function names its source; tests check it against that source's own worked example.

- :func:`icc_sample_size` / :func:`icc_width` — ICC interval width (Bonett 2002);
  :func:`icc_plan_table` — n against width and number of raters.
- :func:`kappa_sample_size` — Cohen's kappa, two raters, binary rating: interval width from the
  Fleiss-Cohen-Everitt variance (Cantor 1996); :func:`kappa_test_sample_size` — Cantor's test.
- :func:`limits_precision` / :func:`limits_sample_size` — Bland-Altman limits (Bland & Altman 1986,
  1999): SE ≈ √(3 s² / n).
- :func:`mae_sample_size` — precision of a model's mean absolute error from pilot errors.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from covsev_tools.defaults import DEFAULT_CONFIDENCE

__all__ = ["icc_plan_table", "icc_sample_size", "icc_width", "kappa_sample_size",
           "kappa_test_sample_size", "limits_precision", "limits_sample_size", "mae_sample_size"]


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def _check(name, value, low, high, inclusive=False):
    ok = low <= value <= high if inclusive else low < value < high
    if not ok:
        raise ValueError(f"{name} must be in {'[' if inclusive else '('}{low}, {high}"
                         f"{']' if inclusive else ')'}, not {value!r}")


def _icc_k2_correction(expected: float, raters: int) -> float:
    """Bonett's (2002) small-sample addition for two raters and a high ICC: 5·ρ cases."""
    return 5 * expected if raters == 2 and expected >= 0.7 else 0.0


def icc_sample_size(expected: float, raters: int, width: float, *, confidence: float = DEFAULT_CONFIDENCE,
                    exact: bool = False):
    """Cases needed for an ICC interval of total width ``width`` (Bonett 2002, formula 3).

    Parameters
    ----------
    expected : float
        Planning value of the ICC (ρ).
    raters : int
        Raters per case (k ≥ 2).
    width : float
        Desired total width of the confidence interval (upper − lower).
    confidence : float
        Confidence level.
    exact : bool
        Return the unrounded n (Bonett reports e.g. 19.2) instead of the next whole case.

    Returns
    -------
    int or float
        n = 8 z² (1 − ρ)² (1 + (k − 1)ρ)² / (k (k − 1) w²) + 1, plus 5ρ when k = 2 and ρ ≥ 0.7
        (Bonett's adjustment), rounded up.

    Notes
    -----
    The approximation holds for the one-way and two-way ICC of a single rating (Bonett 2002).
    It assumes every case is read by all k raters.

    References
    ----------
    .. [1] Bonett DG (2002). Sample size requirements for estimating intraclass correlations with
           desired precision. Statistics in Medicine 21:1331-1335. doi:10.1002/sim.1108

    Examples
    --------
    Bonett's example: ρ = 0.85, 4 raters, width 0.2 needs 19.2, i.e. 20 cases.

    >>> round(icc_sample_size(0.85, 4, 0.2, exact=True), 1), icc_sample_size(0.85, 4, 0.2)
    (19.2, 20)
    """
    _check("expected", expected, 0, 1)
    _check("width", width, 0, 2)
    if int(raters) != raters or raters < 2:
        raise ValueError(f"raters must be a whole number ≥ 2, not {raters!r}")
    z = _z(confidence)
    n = (8 * z ** 2 * (1 - expected) ** 2 * (1 + (raters - 1) * expected) ** 2
         / (raters * (raters - 1) * width ** 2) + 1)
    n += _icc_k2_correction(expected, raters)
    return n if exact else math.ceil(n - 1e-9)


def icc_width(expected: float, raters: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Expected total width of the ICC interval with ``n`` cases (Bonett 2002, formula 3 inverted).

    Examples
    --------
    Bonett: with 20 cases the width is "close to 0.2".

    >>> round(icc_width(0.85, 4, 20), 3)
    0.195
    """
    _check("expected", expected, 0, 1)
    n_eff = n - _icc_k2_correction(expected, raters)
    if n_eff <= 1:
        raise ValueError(f"n must be more than {1 + _icc_k2_correction(expected, raters):g}")
    return (math.sqrt(8) * _z(confidence) * (1 - expected) * (1 + (raters - 1) * expected)
            / math.sqrt(raters * (raters - 1) * (n_eff - 1)))


def icc_plan_table(expected: float, *, widths=(0.1, 0.15, 0.2, 0.25, 0.3), raters=(2, 3, 4, 5, 6),
                   confidence: float = DEFAULT_CONFIDENCE):
    """Cases needed (Bonett 2002) for each interval width (rows) and number of raters (columns).

    Shows a coordinator the trade-off: more raters per case, fewer cases.

    Examples
    --------
    >>> table = icc_plan_table(0.85, widths=(0.2,), raters=(2, 4))
    >>> table.loc[0.2].tolist()  # two raters: Bonett's + 5ρ for ρ ≥ 0.7
    [35, 20]
    """
    import pandas as pd

    rows = {w: [icc_sample_size(expected, k, w, confidence=confidence) for k in raters]
            for w in widths}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(raters))
    table.index.name, table.columns.name = "width", "raters"
    table.attrs.update(expected=expected, confidence=confidence,
                       method="Bonett (2002) Stat Med 21:1331")
    return table


def _kappa_table(kappa, rate_a, rate_b):
    """The 2 × 2 table of proportions with marginals ``rate_a``, ``rate_b`` and Cohen's kappa."""
    chance = rate_a * rate_b + (1 - rate_a) * (1 - rate_b)
    observed = kappa * (1 - chance) + chance
    both_negative = (observed - rate_a + (1 - rate_b)) / 2
    both_positive = observed - both_negative
    table = np.array([[both_positive, rate_a - both_positive],
                      [rate_b - both_positive, both_negative]])
    if (table < -1e-12).any():
        raise ValueError(f"kappa {kappa} is impossible with positive rates {rate_a} and {rate_b}")
    return table


def _kappa_q(kappa, rate_a, rate_b) -> float:
    """n × Var(kappa) of Fleiss, Cohen & Everitt (1969) for the 2 × 2 table (Cantor's Q)."""
    from covsev_tools.agreement.fleiss import kappa_se

    table = _kappa_table(kappa, rate_a, rate_b)
    return kappa_se(table, np.eye(2), kappa) ** 2


def kappa_sample_size(expected: float, width: float, *, rate_a: float = 0.5,
                      rate_b: float | None = None, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Cases needed for a Cohen's kappa interval of total width ``width`` (two raters, binary).

    Parameters
    ----------
    expected : float
        Planning value of kappa.
    width : float
        Total width of the interval (kappa ± width/2).
    rate_a, rate_b : float
        Proportion of cases each rater calls positive (e.g. "severe"); ``rate_b`` defaults to
        ``rate_a``. Unequal rates are allowed (Cantor 1996).
    confidence : float
        Confidence level.

    Returns
    -------
    int
        n = z² Q / (width/2)², Q = n·Var(kappa) of Fleiss, Cohen & Everitt (1969), rounded up.

    References
    ----------
    .. [1] Cantor AB (1996). Sample-size calculations for Cohen's kappa. Psychological Methods
           1(2):150-153.
    .. [2] Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
           weighted kappa. Psychological Bulletin 72(5):323-327.

    Examples
    --------
    >>> kappa_sample_size(0.6, 0.2, rate_a=0.3)
    296
    """
    rate_b = rate_a if rate_b is None else rate_b
    for name, value in (("expected", expected), ("rate_a", rate_a), ("rate_b", rate_b)):
        _check(name, value, 0, 1)
    _check("width", width, 0, 2)
    q = _kappa_q(expected, rate_a, rate_b)
    return math.ceil(_z(confidence) ** 2 * q / (width / 2) ** 2 - 1e-9)


def kappa_test_sample_size(expected: float, null: float, *, rate_a: float = 0.5,
                           rate_b: float | None = None, alpha: float = 0.05, power: float = 0.8,
                           two_sided: bool = False) -> int:
    """Cases needed to show kappa differs from ``null`` when it is ``expected`` (Cantor 1996).

    n = ((z₁₋α √Q(κ₀) + z_power √Q(κ₁)) / (κ₁ − κ₀))², Q from Fleiss, Cohen & Everitt (1969).

    References
    ----------
    .. [1] Cantor AB (1996). Sample-size calculations for Cohen's kappa. Psychological Methods
           1(2):150-153.

    Examples
    --------
    The example of R ``irr::N.cohen.kappa(0.5, 0.5, 0.7, 0.85)`` (Cantor's method): raters
    calling half the cases positive, true kappa 0.7 against a null of 0.85, one-sided α 0.05,
    power 0.8:

    >>> kappa_test_sample_size(0.7, 0.85, rate_a=0.5)
    96
    """
    rate_b = rate_a if rate_b is None else rate_b
    tail = alpha / 2 if two_sided else alpha
    z_alpha, z_power = stats.norm.ppf(1 - tail), stats.norm.ppf(power)
    q_null, q_true = _kappa_q(null, rate_a, rate_b), _kappa_q(expected, rate_a, rate_b)
    n = ((z_alpha * math.sqrt(q_null) + z_power * math.sqrt(q_true)) / (expected - null)) ** 2
    return math.ceil(n - 1e-9)


def limits_precision(n: int, *, sd: float = 1.0, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Precision of a Bland-Altman limit of agreement with ``n`` cases (Bland & Altman 1986, 1999).

    The SE of a limit (bias ± 1.96 s) is about √(3 s² / n); the interval is limit ± t(n−1)·SE.

    Returns
    -------
    dict
        ``se`` and ``half_width`` (in the units of ``sd``; with sd=1 in SD units).

    References
    ----------
    .. [1] Bland JM, Altman DG (1986). Statistical methods for assessing agreement between two
           methods of clinical measurement. Lancet i:307-310.
    .. [2] Bland JM, Altman DG (1999). Measuring agreement in method comparison studies.
           Statistical Methods in Medical Research 8:135-160.

    Examples
    --------
    The Lancet example: 17 subjects, SD of the differences 38.8 l/min, SE 16.3, ± 34.6.

    >>> out = limits_precision(17, sd=38.8)
    >>> round(out["se"], 1), round(out["half_width"], 1)
    (16.3, 34.6)
    """
    if n < 3:
        raise ValueError(f"n must be at least 3, not {n!r}")
    se = math.sqrt(3 * sd ** 2 / n)
    t = stats.t.ppf(1 - (1 - confidence) / 2, n - 1)
    return {"n": n, "se": se, "half_width": float(t * se), "confidence": confidence}


def limits_sample_size(half_width: float, *, sd: float = 1.0, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Smallest n whose limit-of-agreement interval is ± ``half_width`` (see :func:`limits_precision`).

    Examples
    --------
    Bland & Altman (1999): with 100 cases the limits are known to about ± 0.34 s.

    >>> limits_sample_size(0.344), round(limits_precision(100)["half_width"], 2)
    (100, 0.34)
    """
    _check("half_width", half_width / sd, 0, math.inf)
    n = 3
    while limits_precision(n, sd=sd, confidence=confidence)["half_width"] > half_width:
        n = max(n + 1, int(n * 1.01))  # monotone in n; steps stay exact for small n
    while n > 3 and limits_precision(n - 1, sd=sd, confidence=confidence)["half_width"] <= half_width:
        n -= 1
    return n


def mae_sample_size(pilot_errors, half_width: float, *, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Cases needed to know a model's MAE to within ± ``half_width``, from pilot errors.

    The MAE is the mean of |error|; by the central limit theorem its interval is
    MAE ± z·SD(|error|)/√n, so n = (z·SD(|error|)/h)² with SD from the pilot (sample size for
    estimating a mean with given precision).

    Parameters
    ----------
    pilot_errors : array-like
        Model − reference on pilot cases (NaN ignored).
    half_width : float
        Desired half-width of the interval of the MAE, in score points.
    confidence : float
        Confidence level.

    Returns
    -------
    dict
        ``n``, the pilot ``mae``, ``sd_abs_error`` and ``n_pilot``.

    References
    ----------
    .. [1] Machin D, Campbell MJ, Tan SB, Tan SH (2018). Sample Sizes for Clinical, Laboratory
           and Epidemiology Studies, 4th ed. Wiley (chapter on estimating a mean).

    Examples
    --------
    >>> mae_sample_size([1, -2, 0.5, 3, -1, 0, 2, -0.5], 0.25)["n"]  # SD(|error|) = 1
    62
    """
    errors = np.asarray(pilot_errors, dtype=float)
    errors = np.abs(errors[np.isfinite(errors)])
    if errors.size < 2:
        raise ValueError("need at least 2 pilot errors")
    _check("half_width", half_width, 0, math.inf)
    sd = float(errors.std(ddof=1))
    n = max(2, math.ceil((_z(confidence) * sd / half_width) ** 2 - 1e-9))
    return {"n": n, "mae": float(errors.mean()), "sd_abs_error": sd, "n_pilot": int(errors.size),
            "confidence": confidence}
