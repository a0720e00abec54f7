"""Krippendorff's alpha (nominal, ordinal, interval, ratio) with missing data and a case bootstrap.

Written as sums over cases so that all bootstrap replicates come from matrix products with the
(B, n) case-weight matrix (see :mod:`covsev_tools.agreement.bootstrap`). Each value equals
``krippendorff.alpha`` (tests check to 1e-9).
"""
from __future__ import annotations

import numpy as np

from covsev_tools.agreement._result import result_entry, to_frame, undefined_result
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, Job, run_jobs, with_bootstrap_ci
from covsev_tools.agreement._table import as_matrix, resampling

LEVELS = ("nominal", "ordinal", "interval", "ratio")
_CHUNK = 4_000_000  # cap on resamples × values² held at once for the ratio metric


def _within_case_disagreement(x: np.ndarray, metric) -> np.ndarray:
    """Per case: Σ over ordered pairs of its ratings of δ(a, b), divided by (m_u - 1).

    Nominal and interval δ have closed forms per case (m² − Σ_c n_c², and 2m Σ (x − x̄)²), so
    only the ratio metric visits the k² pairs of a case.
    """
    present = np.isfinite(x)
    m = present.sum(axis=1)
    if metric is _interval:
        mean = np.where(m > 0, np.where(present, x, 0.0).sum(axis=1) / np.maximum(m, 1), 0.0)
        spread = (np.where(present, x - mean[:, None], 0.0) ** 2).sum(axis=1)
        return np.where(m >= 2, 2 * m * spread / np.maximum(m - 1, 1), 0.0)
    values = np.unique(x[present]) if metric is _nominal else None
    if metric is _nominal and values.size <= 64:
        same = np.zeros(x.shape[0])
        for value in values:   # category by category: O(n k) each
            same += ((x == value).sum(axis=1)) ** 2
        return np.where(m >= 2, (m ** 2 - same) / np.maximum(m - 1, 1), 0.0)
    a, b = x[:, :, None], x[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = metric(a, b)
    both = present[:, :, None] & present[:, None, :]
    total = np.where(both, delta, 0.0).sum(axis=(1, 2))
    return np.where(m >= 2, total / np.maximum(m - 1, 1), 0.0)


def _nominal(a, b):
    return (a != b).astype(float)


def _interval(a, b):
    return (a - b) ** 2


def _ratio(a, b):
    s = a + b
    return np.where(s != 0, ((a - b) / np.where(s != 0, s, 1)) ** 2, 0.0)


def _value_counts(x: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """(n, V) counts of each domain value per case, pairable cases (≥ 2 ratings) only."""
    present = np.isfinite(x)
    pairable = present.sum(axis=1) >= 2
    index = np.searchsorted(domain, np.where(present, x, domain[0]))
    n, v = x.shape[0], domain.size
    rows = np.repeat(np.arange(n), x.shape[1])
    keep = (present & pairable[:, None]).ravel()
    flat = rows[keep] * v + index.ravel()[keep]
    return np.bincount(flat, minlength=n * v).reshape(n, v).astype(float)


def _pairs_sum_quadratic(nv: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ_c Σ_k n_c n_k (v_c - v_k)² = 2 N Σ_c n_c (v_c - v̄)² per row of nv (R, V).

    ``values`` is (V,) or (R, V); centring on the weighted mean v̄ avoids cancellation.
    """
    total = nv.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (nv * values).sum(axis=1) / total
    return 2 * total * (nv * (values - centre[:, None]) ** 2).sum(axis=1)


def _ratio_expected(nv: np.ndarray, domain: np.ndarray) -> np.ndarray:
    d = _ratio(domain[:, None], domain[None, :])
    step = max(1, _CHUNK // max(domain.size ** 2, 1))
    return np.concatenate([np.einsum("rv,vw,rw->r", nv[i:i + step], d, nv[i:i + step])
                           for i in range(0, nv.shape[0], step)])


def _ordinal(counts, weights):
    """Ordinal alpha: the interval formula on mid-cumulative counts h_c = Σ_{g≤c} n_g - n_c/2."""
    m = counts.sum(axis=1)
    nv = weights @ counts                                       # (R, V)
    h = np.cumsum(nv, axis=1) - nv / 2                          # (R, V)
    h = h - h.mean(axis=1, keepdims=True)  # δ is shift-invariant; centring avoids cancellation
    scale = np.where(m >= 2, 1 / np.maximum(m - 1, 1), 0.0)
    first = (weights * (2 * m * scale)) @ counts                # (R, V): Σ_u w 2m/(m-1) n_uc
    per_case = counts @ h.T                                     # (n, R): Σ_i h(value_i) per case
    second = np.einsum("rn,nr->r", weights, per_case ** 2 * scale[:, None])
    observed = (first * h ** 2).sum(axis=1) - 2 * second
    expected = _pairs_sum_quadratic(nv, h)
    return observed, expected, nv.sum(axis=1)


def _interval_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per case: pairable values, their sum and sum of squares (centred: δ is shift-invariant)."""
    present = np.isfinite(x) & (np.isfinite(x).sum(axis=1) >= 2)[:, None]
    centred = np.where(present, x - x[present].mean(), 0.0)
    return present.sum(axis=1).astype(float), centred.sum(axis=1), (centred ** 2).sum(axis=1)


def _interval_expected(terms, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_c Σ_k n_c n_k (v_c - v_k)² from per-case moments (no value domain needed) and N."""
    count, s1, s2 = (weights @ term for term in terms)
    return 2 * count * s2 - 2 * s1 ** 2, count


def _ratio_expected_by_cases(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """n_vᵀ δ n_v as wᵀ M w with M[u, u'] = Σ δ(ratings of u, ratings of u') (small n only)."""
    present = np.isfinite(x) & (np.isfinite(x).sum(axis=1) >= 2)[:, None]
    flat = np.where(present, x, np.nan).reshape(-1)
    n, k = x.shape
    block = max(1, _CHUNK // max(flat.size * k, 1))           # cases per block of δ rows
    case_pairs = np.empty((n, n))
    for start in range(0, n, block):
        rows = flat[start * k:(start + block) * k]
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.nan_to_num(_ratio(rows[:, None], flat[None, :]), nan=0.0)
        case_pairs[start:start + block] = delta.reshape(-1, k, n, k).sum(axis=(1, 3))
    step = max(1, _CHUNK // max(n, 1))
    return np.concatenate([((weights[i:i + step] @ case_pairs) * weights[i:i + step]).sum(axis=1)
                           for i in range(0, weights.shape[0], step)])


def _chebyshev_basis(s: np.ndarray, low: float, high: float, degree: int):
    """Lagrange basis at Chebyshev points on [low, high] evaluated at ``s`` (barycentric form)."""
    p = np.arange(degree)
    nodes = (low + high) / 2 + (high - low) / 2 * np.cos(np.pi * p / (degree - 1))
    weights = (-1.0) ** p
    weights[[0, -1]] /= 2
    diff = s[:, None] - nodes[None, :]
    on_node = diff == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = weights / diff
        basis = terms / terms.sum(axis=1, keepdims=True)
    hit = on_node.any(axis=1)
    basis[hit] = on_node[hit]
    return basis, nodes


class _RatioExpected:
    """Σ_a Σ_b n_a n_b δ_ratio(a, b) of many distinct values without a values × values matrix.

    For a, b > 0, δ = 1 − sech²((ln a − ln b)/2), and sech² of a difference is analytic in a
    strip of half-width π, so on the logs it is interpolated by a tensor Chebyshev polynomial
    whose degree makes the error fall below 1e-16 (Trefethen, Approximation Theory and
    Approximation Practice, ch. 8). Each case then carries ``degree`` sums of basis values and
    every resample is two small matrix products. Zeros (δ(0, b) = 1, δ(0, 0) = 0) are counted
    apart. Equal to the direct double sum to ~1e-15 (tests).
    """

    def __init__(self, x: np.ndarray):
        present = np.isfinite(x) & (np.isfinite(x).sum(axis=1) >= 2)[:, None]
        positive = present & (np.where(present, x, 0) > 0)
        self.zeros = (present & (np.where(present, x, 1) == 0)).sum(axis=1).astype(float)
        self.positives = positive.sum(axis=1).astype(float)
        logs = np.log(x[positive])
        low, high = (logs.min(), logs.max()) if logs.size else (0.0, 0.0)
        half = (high - low) / 2
        if half < 1e-9:            # one positive value: sech² is 1 for every pair
            self.features, self.kernel = self.positives[:, None], np.ones((1, 1))
            return
        rho = np.pi / half + np.sqrt(1 + (np.pi / half) ** 2)   # Bernstein ellipse of the poles
        degree = int(np.ceil(np.log(1e17) / np.log(rho))) + 10
        basis, nodes = _chebyshev_basis(logs, low, high, degree)
        rows = np.nonzero(positive)[0]
        self.features = np.zeros((x.shape[0], degree))
        np.add.at(self.features, rows, basis)
        self.kernel = np.cosh((nodes[:, None] - nodes[None, :]) / 2) ** -2.0

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        g = weights @ self.features
        positives, zeros = weights @ self.positives, weights @ self.zeros
        similar = np.einsum("rp,pq,rq->r", g, self.kernel, g)
        return positives ** 2 - similar + 2 * zeros * positives


#: Above these sizes the ratio metric uses :class:`_RatioExpected` (no n × n or V × V matrix).
_RATIO_DIRECT_VALUES = 2000
_RATIO_DIRECT_CASES = 2000


def _ratio_expected_kernel(x: np.ndarray, domain: np.ndarray):
    """The expected-disagreement kernel of the ratio metric for case weights (R, n)."""
    if domain.size <= _RATIO_DIRECT_VALUES and domain.size <= x.shape[0]:
        counts = _value_counts(x, domain)
        return lambda w: _ratio_expected(w @ counts, domain)
    if x.shape[0] <= _RATIO_DIRECT_CASES:
        return lambda w: _ratio_expected_by_cases(x, w)
    return _RatioExpected(x)


def alpha_kernel(x: np.ndarray, domain: np.ndarray, level_name: str):
    """``kernel(weights (R, n)) -> alpha (R,)``, with every per-case term computed once."""
    if level_name == "ordinal":
        counts = _value_counts(x, domain)

        def ordinal(w):
            observed, expected, total = _ordinal(counts, w)
            return _alpha(observed, expected, total)
        return ordinal
    metric = {"nominal": _nominal, "interval": _interval, "ratio": _ratio}[level_name]
    within = _within_case_disagreement(x, metric)
    if level_name == "interval":
        terms = _interval_terms(x)
        return lambda w: _alpha(w @ within, *_interval_expected(terms, w))
    if level_name == "nominal":
        counts = _value_counts(x, domain)

        def nominal(w):
            nv = w @ counts
            total = nv.sum(axis=1)
            return _alpha(w @ within, total ** 2 - (nv ** 2).sum(axis=1), total)
        return nominal
    pairable = _pairable_counts(x)
    expected = _ratio_expected_kernel(x, domain)
    return lambda w: _alpha(w @ within, expected(w), w @ pairable)


def _alpha(observed, expected, total):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (total - 1) * observed / expected


def alpha_batch(x: np.ndarray, domain: np.ndarray, level_name: str, weights: np.ndarray) -> np.ndarray:
    """Alpha for each row of case weights (R, n). ``domain``: ordered possible values.

    Examples
    --------
    >>> x = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 2.0]])
    >>> round(float(alpha_batch(x, np.array([1.0, 2.0, 3.0]), "nominal", np.ones((1, 3)))[0]), 3)
    0.545
    """
    return alpha_kernel(x, domain, level_name)(np.asarray(weights, dtype=float))


def _pairable_counts(x: np.ndarray) -> np.ndarray:
    m = np.isfinite(x).sum(axis=1)
    return np.where(m >= 2, m, 0).astype(float)


def alpha_job(matrix, level: str, confidence: float = DEFAULT_CONFIDENCE, unit: str = "case"):
    """Alpha of one level of measurement of a RatingsMatrix as a bootstrap Job (or a null)."""
    x = matrix.scores
    if level in ("nominal", "ordinal") and matrix.categories is None:
        return undefined_result(f"{level} alpha needs categorical scores (non-integer values found; "
                    "pass categories for integer scores)")
    pairable = int((np.isfinite(x).sum(axis=1) >= 2).sum())
    if pairable == 0:
        return undefined_result("needs at least one case rated by 2 or more raters")
    if level == "ratio" and (x[np.isfinite(x)] < 0).any():
        # δ_ratio = ((a-b)/(a+b))² assumes an absolute zero; with negative scores a + b can be 0
        # and the statistic has no meaning (Krippendorff 2011, §"ratio metric").
        return undefined_result("ratio alpha needs non-negative scores (a ratio scale has an absolute zero); "
                    "use interval alpha")
    domain = matrix.categories if matrix.categories is not None else np.unique(x[np.isfinite(x)])

    def finish(alphas):
        if not np.isfinite(alphas[0]):
            return undefined_result("undefined: all pairable ratings have the same value (no expected "
                        "disagreement)")
        return result_entry(alphas[0], n=pairable, **with_bootstrap_ci(alphas, confidence, unit))

    kernel = alpha_kernel(x, domain, level)
    return Job(lambda chunk: kernel(chunk.rows), finish)


def krippendorff_alpha(data, *, level: str = "interval", case: str = "case",
                       rater: str = "rater", score: str = "score", categories=None,
                       cluster: str | None = DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT, seed=0,
                       confidence: float = DEFAULT_CONFIDENCE):
    """Krippendorff's alpha with missing ratings and a bootstrap CI.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater; missing ratings allowed (cases with fewer
        than two ratings are not pairable and do not count).
    level : {"nominal", "ordinal", "interval", "ratio"}
        Level of measurement (difference function δ). Nominal and ordinal need categorical
        (integer) scores.
    case, rater, score : str
        Column names.
    categories : str or sequence, optional
        Full category set; for alpha it only defines the value domain (unused values do not
        change alpha).
    cluster : str or None
        Patient column for the patient bootstrap (default: ``patient_id``, else ``patientid``, when present).
    n_boot, seed : int
        Bootstrap resamples and seed of the percentile CI.
    confidence : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row ``krippendorff_alpha``: ``estimate, ci_low, ci_high, n, method, level``
        (``n`` = pairable cases; + ``n_boot_valid``, ``reason``).

    Notes
    -----
    alpha = 1 - D_o / D_e from the coincidence matrix (Krippendorff 2011). D_o is a sum over
    cases, and the ordinal δ is the interval δ on mid-cumulative frequencies, so every bootstrap
    replicate is a matrix product. Equal to ``krippendorff.alpha`` (tests, 1e-9). The CI
    resamples cases or patients (not Krippendorff's own bootstrap of pairable values).

    References
    ----------
    .. [1] Krippendorff K (2011). Computing Krippendorff's alpha-reliability. Annenberg School
           for Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43
    .. [2] Hayes AF, Krippendorff K (2007). Answering the call for a standard reliability measure
           for coding data. Communication Methods and Measures 1(1):77-89.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3], "rater": list("ababab"),
    ...                       "score": [1, 1, 2, 2, 3, 2]})
    >>> round(krippendorff_alpha(table, level="nominal", n_boot=0).estimate.iloc[0], 3)
    0.545
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS} (the level of measurement), not {level!r}")
    matrix = as_matrix(data, case, rater, score, categories, cluster)
    plan = resampling(matrix, n_boot, seed)
    result = run_jobs(plan, {"a": alpha_job(matrix, level, confidence, plan.unit)})["a"]
    return to_frame({"krippendorff_alpha": result}, confidence, level=level)
