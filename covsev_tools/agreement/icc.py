"""Intraclass correlation coefficients (Shrout & Fleiss 1979; McGraw & Wong 1996)."""
from __future__ import annotations

import numpy as np
from scipy import stats

from covsev_tools.agreement._result import result_entry, to_frame, undefined_result
from covsev_tools.agreement._table import as_matrix
from covsev_tools.defaults import DEFAULT_CONFIDENCE

FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
LABELS = {"ICC1": "ICC(1,1)", "ICC2": "ICC(A,1)", "ICC3": "ICC(C,1)",
          "ICC1k": "ICC(1,k)", "ICC2k": "ICC(A,k)", "ICC3k": "ICC(C,k)"}


def mean_squares(x: np.ndarray) -> dict:
    """Two-way ANOVA mean squares of a complete n cases × k raters matrix.

    Examples
    --------
    >>> round(float(mean_squares(np.array([[1.0, 2.0], [3.0, 3.0], [5.0, 6.0]]))["msr"]), 3)
    8.167
    """
    n, k = x.shape
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ss_total - ss_rows - ss_cols
    return {"n": n, "k": k, "msr": ss_rows / (n - 1), "msc": ss_cols / (k - 1),
            "mse": ss_error / ((n - 1) * (k - 1)), "msw": (ss_total - ss_rows) / (n * (k - 1))}


def _one_way_and_consistency(f_obs, df1, df2, k, alpha):
    """McGraw & Wong (1996) Table 7 intervals for ICC(1,·) and ICC(C,·) from the F ratio."""
    f_low = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
    f_high = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
    single = ((f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1))
    average = (1 - 1 / f_low, 1 - 1 / f_high)
    return single, average


def _absolute_agreement(ms, rho, alpha):
    """McGraw & Wong (1996) Table 7 intervals for ICC(A,1) and ICC(A,k) (Satterthwaite df)."""
    n, k, msr, msc, mse = ms["n"], ms["k"], ms["msr"], ms["msc"], ms["mse"]
    a = k * rho / (n * (1 - rho))
    b = 1 + k * rho * (n - 1) / (n * (1 - rho))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    f_star = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_star2 = stats.f.ppf(1 - alpha / 2, v, n - 1)
    single = (n * (msr - f_star * mse) / (f_star * (k * msc + (k * n - k - n) * mse) + n * msr),
              n * (f_star2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_star2 * msr))
    average = (n * (msr - f_star * mse) / (f_star * (msc - mse) + n * msr),
               n * (f_star2 * msr - mse) / (msc - mse + n * f_star2 * msr))
    return single, average


def icc_from_matrix(x: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """All six ICC forms of a complete n × k matrix as result dicts (see :func:`icc`).

    Examples
    --------
    >>> round(icc_from_matrix(np.array([[1.0, 2.0], [3.0, 3.0], [5.0, 6.0]]))["ICC3"]["value"], 3)
    0.96
    """
    alpha = 1 - confidence
    ms = mean_squares(np.asarray(x, dtype=float))
    n, k, msr, msc, mse, msw = (ms[key] for key in ("n", "k", "msr", "msc", "mse", "msw"))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "ICC1": (msr - msw) / (msr + (k - 1) * msw),
            "ICC2": (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n),
            "ICC3": (msr - mse) / (msr + (k - 1) * mse),
            "ICC1k": (msr - msw) / msr,
            "ICC2k": (msr - mse) / (msr + (msc - mse) / n),
            "ICC3k": (msr - mse) / msr,
        }
        f1, f3 = msr / msw, msr / mse
        df_within, df_error = n * (k - 1), (n - 1) * (k - 1)
        ci1, ci1k = _one_way_and_consistency(f1, n - 1, df_within, k, alpha)
        ci3, ci3k = _one_way_and_consistency(f3, n - 1, df_error, k, alpha)
        ci2, ci2k = _absolute_agreement(ms, values["ICC2"], alpha)
        p1, p3 = stats.f.sf(f1, n - 1, df_within), stats.f.sf(f3, n - 1, df_error)
    tests = {"ICC1": (f1, df_within, p1, ci1), "ICC1k": (f1, df_within, p1, ci1k),
             "ICC2": (f3, df_error, p3, ci2), "ICC2k": (f3, df_error, p3, ci2k),
             "ICC3": (f3, df_error, p3, ci3), "ICC3k": (f3, df_error, p3, ci3k)}
    reason = "undefined: no variance between cases or within cases (0/0)"
    out = {}
    for form in FORMS:
        f_value, df2, pval, ci = tests[form]
        extra = {}
        if np.isinf(f_value) and values[form] == 1.0:
            # No residual error (F = ∞): the McGraw & Wong bounds tend to 1, and 0/0 terms
            # would otherwise hide that limit behind a missing interval.
            ci = (1.0, 1.0)
        elif ci is not None and np.all(np.isfinite(ci)) and ci[0] > ci[1]:
            # With a strongly negative ICC the Satterthwaite approximation for ICC(A,·) breaks
            # down and returns bounds out of order (pingouin prints them as they come); report
            # no interval rather than a meaningless one.
            ci = None
            extra["ci_reason"] = ("McGraw & Wong interval undefined here (bounds out of order; "
                                  "the ICC is negative: raters disagree more than chance)")
        out[form] = result_entry(values[form], ci, reason=reason, label=LABELS[form], F=f_value,
                         df1=n - 1, df2=df2, pval=pval, n=n, ci_method="exact F (McGraw & Wong 1996)",
                         **extra)
    return out


def icc(data, *, case: str = "case", rater: str = "rater", score: str = "score",
        confidence: float = DEFAULT_CONFIDENCE):
    """Intraclass correlation coefficients, all six Shrout & Fleiss / McGraw & Wong forms.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater (see :func:`ratings_matrix`).
    case, rater, score : str
        Column names.
    confidence : float
        Confidence level of the intervals (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per form, index ``ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k`` (Shrout & Fleiss
        ICC(1,1), (2,1), (3,1), (1,k), (2,k), (3,k) = McGraw & Wong ICC(1), ICC(A,1), ICC(C,1),
        ...); columns ``estimate, ci_low, ci_high, n, method, label, F, df1, df2, pval`` and
        ``reason`` when a form is undefined (estimate NaN). ICC2/ICC3 share the F test of
        MSR/MSE. ``attrs["confidence"]`` is the level of the interval.

    Notes
    -----
    ICC needs a complete, balanced design: **only cases rated by every rater are used** (listwise
    deletion, as ``pingouin.intraclass_corr(nan_policy="omit")``); ``n`` says how many were.
    The intervals are the exact F-based ones of McGraw & Wong (1996, Table 7), with the
    Satterthwaite degrees of freedom for absolute agreement. Validated against
    ``pingouin.intraclass_corr`` to 1e-9 (tests/test_agreement_icc.py).

    References
    ----------
    .. [1] Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater
           reliability. Psychological Bulletin 86(2):420-428.
    .. [2] McGraw KO, Wong SP (1996). Forming inferences about some intraclass correlation
           coefficients. Psychological Methods 1(1):30-46.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3], "rater": list("ababab"),
    ...                       "score": [1, 2, 4, 4, 6, 5]})
    >>> result = icc(table)
    >>> round(result.loc["ICC2", "estimate"], 3), result.attrs["confidence"]
    (0.92, 0.95)
    """
    return to_frame(icc_result(as_matrix(data, case, rater, score), confidence), confidence)


def icc_result(matrix, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """All six ICC forms of a RatingsMatrix on its complete cases, or nulls with the reason."""
    k = matrix.scores.shape[1]
    if k < 2:
        return {form: undefined_result("needs at least 2 raters") for form in FORMS}
    complete = matrix.scores[np.isfinite(matrix.scores).all(axis=1)]
    if complete.shape[0] < 2:
        return {form: undefined_result(f"needs at least 2 cases rated by all {k} raters; "
                           f"found {complete.shape[0]}") for form in FORMS}
    return icc_from_matrix(complete, confidence)


def icc_cases_used(matrix) -> tuple[int, int]:
    """(cases used, cases dropped) by the complete-case rule of :func:`icc`."""
    used = int(np.isfinite(matrix.scores).all(axis=1).sum())
    return used, matrix.scores.shape[0] - used
