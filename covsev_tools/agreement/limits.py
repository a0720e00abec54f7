"""Bland-Altman limits of agreement: bias ± multiplier·SD, their intervals and proportional bias.

The ``*_xy`` kernels take two aligned arrays (NaN pairs dropped); the tidy-table function is
:func:`covsev_tools.agreement.bland_altman`.
"""
from __future__ import annotations

import numpy as np

from covsev_tools.agreement import _fast
from covsev_tools.agreement._result import json_safe, to_frame, undefined_result
from covsev_tools.defaults import DEFAULT_CONFIDENCE

_complete = _fast.complete_pairs


def normal_quantile_ci(mean, sd, n, z, confidence=DEFAULT_CONFIDENCE, method="exact"):
    """CI of μ + zσ from a normal sample: exact (non-central t; Carkeet 2015) or approximate.

    The approximate interval is Bland & Altman (1999): (mean + z·sd) ± t(n-1)·sd·√(1/n + z²/(2(n-1))).

    Examples
    --------
    >>> [round(float(v), 3) for v in normal_quantile_ci(0.0, 1.0, 10, 1.96, method="approximate")]
    [0.694, 3.226]
    """
    alpha = 1 - confidence
    if method == "exact":
        nc = z * np.sqrt(n)
        if z >= 0:
            low, high = _fast.nct_ppf(alpha / 2, 1 - alpha / 2, n - 1, nc)
            return mean + sd * low / np.sqrt(n), mean + sd * high / np.sqrt(n)
        low, high = _fast.nct_ppf(alpha / 2, 1 - alpha / 2, n - 1, -nc)
        return mean - sd * high / np.sqrt(n), mean - sd * low / np.sqrt(n)
    if method == "approximate":
        half = _fast.t_ppf(1 - alpha / 2, n - 1) * sd * np.sqrt(1 / n + z ** 2 / (2 * (n - 1)))
        return mean + z * sd - half, mean + z * sd + half
    raise ValueError("method must be 'exact' or 'approximate'")


#: Multiplier of the SD for the limits of agreement: Bland & Altman's (and pingouin's) 1.96.
LOA_MULTIPLIER = 1.96


def limits_of_agreement(d, multiplier: float = LOA_MULTIPLIER):
    """Bias, SD (n - 1) and the limits bias ± multiplier·SD of differences ``d`` along the last axis.

    ``d`` may be (n,) or (B, n), e.g. the differences of B bootstrap resamples at once.

    Examples
    --------
    >>> [round(float(v), 3) for v in limits_of_agreement([1.0, 2.0, 3.0])]
    [2.0, 1.0, 0.04, 3.96]
    """
    d = np.asarray(d, dtype=float)
    bias, sd = d.mean(axis=-1), d.std(ddof=1, axis=-1)
    return bias, sd, bias - multiplier * sd, bias + multiplier * sd


def proportional_bias(x, y, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Regression of the difference x - y on the mean (x + y)/2: slope with its t interval.

    A slope that differs from 0 means the disagreement grows (or shrinks) with severity, so one
    pair of limits does not describe the whole range (Bland & Altman 1999, section 3.2).

    Examples
    --------
    >>> round(proportional_bias([1, 2, 3, 4], [1, 1.9, 2.8, 3.7])["slope"], 4)
    0.1053
    """
    x, y = _complete(x, y)
    mean, diff = (x + y) / 2, x - y
    if x.size < 3 or np.ptp(mean) == 0:
        return {"slope": None, "reason": "needs 3 paired ratings with different means"}
    fit = _fast.ols(mean, diff)
    half = _fast.t_ppf(1 - (1 - confidence) / 2, x.size - 2) * fit["stderr"]
    return json_safe({"slope": fit["slope"], "slope_ci95": [fit["slope"] - half, fit["slope"] + half],
                  "intercept": fit["intercept"], "pval": fit["pvalue"], "n": x.size,
                  "method": "OLS of difference on mean, t interval (Bland & Altman 1999)"})


def bland_altman_xy(x, y, confidence: float = DEFAULT_CONFIDENCE, loa_ci: str = "exact",
                    multiplier: float = LOA_MULTIPLIER) -> dict:
    """Bland-Altman bias and limits of agreement of d = x - y, with CIs (see :func:`bland_altman`).

    Examples
    --------
    >>> bland_altman_xy([1, 2, 3, 4], [1, 1.9, 2.8, 3.7])["multiplier"]
    1.96
    """
    x, y = _complete(x, y)
    n = x.size
    if n < 3:
        return {"bias": None, "reason": f"needs at least 3 paired ratings; found {n}"}
    bias, sd, loa_low, loa_high = limits_of_agreement(x - y, multiplier)
    half = _fast.t_ppf(1 - (1 - confidence) / 2, n - 1) * sd / np.sqrt(n)
    out = {"bias": bias, "sd": sd, "loa_low": loa_low, "loa_high": loa_high,
           "bias_ci95": [bias - half, bias + half],
           "loa_low_ci95": list(normal_quantile_ci(bias, sd, n, -multiplier, confidence, loa_ci)),
           "loa_high_ci95": list(normal_quantile_ci(bias, sd, n, multiplier, confidence, loa_ci)),
           "n": n, "multiplier": multiplier,
           "loa_ci_method": {"exact": "exact, non-central t (Carkeet 2015)",
                             "approximate": "approximate (Bland & Altman 1999)"}[loa_ci],
           "proportional_bias": proportional_bias(x, y, confidence)}
    if sd == 0:
        out.update(loa_low_ci95=[bias, bias], loa_high_ci95=[bias, bias], bias_ci95=[bias, bias])
    return json_safe(out)


def bland_altman_frame(result: dict, confidence: float = DEFAULT_CONFIDENCE, **columns):
    """Tidy rows ``bias, loa_low, loa_high, proportional_bias`` of a :func:`bland_altman_xy` dict.

    Examples
    --------
    >>> frame = bland_altman_frame(bland_altman_xy([0, 1, 2, 4, 5], [0, 2, 2, 3, 5]))
    >>> frame.index.tolist()
    ['bias', 'loa_low', 'loa_high', 'proportional_bias']
    """
    if result.get("bias") is None:
        return to_frame({"bias": undefined_result(result.get("reason", "not computed"))}, confidence, **columns)
    common = {"sd": result["sd"], "multiplier": result["multiplier"]}
    entries = {"bias": {"value": result["bias"], "ci95": result["bias_ci95"], "n": result["n"],
                        "ci_method": "t interval", **common}}
    for key in ("loa_low", "loa_high"):
        entries[key] = {"value": result[key], "ci95": result[f"{key}_ci95"], "n": result["n"],
                        "ci_method": result["loa_ci_method"], **common}
    slope = result["proportional_bias"]
    entries["proportional_bias"] = (
        {"value": slope["slope"], "ci95": slope["slope_ci95"], "n": slope["n"],
         "ci_method": slope["method"], "pval": slope["pval"], "intercept": slope["intercept"]}
        if slope.get("slope") is not None else undefined_result(slope["reason"]))
    return to_frame(entries, confidence, **columns)
