"""Each reader's and the model's mean disagreement with the readers: the picture behind θ.

For a reader r, the mean of d(r, r') over the *other* readers; for the model, D_MR, the mean of
d(model, r) over all readers (d: mean absolute or squared difference over the cases both
scored). A model inside the readers' spread is within their variability; the excess
disagreement of :func:`~covsev_tools.agreement.model_equivalence` is the model's value minus
the mean of the readers' pair disagreements. Intervals resample cases (patients), readers held
fixed: they show how well each rater's own value is known.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from covsev_tools.agreement._result import to_frame
from covsev_tools.agreement._table import as_matrix, resampling
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, percentile_ci
from covsev_tools.agreement.equivalence import METRICS, _check_options, _model_column

__all__ = ["disagreement_with_readers"]


def _pair_terms(scores: np.ndarray, metric: str):
    pairs = list(combinations(range(scores.shape[1]), 2))
    a, b = scores[:, [p[0] for p in pairs]], scores[:, [p[1] for p in pairs]]
    present = np.isfinite(a) & np.isfinite(b)
    terms = np.where(present, METRICS[metric](np.where(present, a - b, 0.0)), 0.0)
    return pairs, terms, present.astype(float)


def disagreement_with_readers(data, *, model, metric: str = "mae", case: str = "case",
                              rater: str = "rater", score: str = "score",
                              cluster: str | None = DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT, seed=0,
                              confidence: float = DEFAULT_CONFIDENCE):
    """Mean disagreement of every reader and of the model with the readers, with intervals.

    Parameters
    ----------
    data : pandas.DataFrame or RatingsMatrix
        Tidy long table, one row per case × rater, the model one of the raters.
    model : str
        The model's name in the rater column.
    metric : {"mae", "msd"}
        Mean absolute or mean squared difference of a pair, over the cases both scored.
    case, rater, score, cluster, n_boot, seed, confidence
        As :func:`~covsev_tools.agreement.model_equivalence`; the interval resamples cases
        (patients) with the readers fixed.

    Returns
    -------
    pandas.DataFrame
        One row per rater (readers first, the model last), indexed by rater: ``estimate,
        ci_low, ci_high, n, method, role`` (``"reader"`` or ``"model"``); ``n`` = cases the
        rater scored. ``attrs``: ``confidence``, ``model``, ``metric``, ``reader_reader`` (D_RR).

    References
    ----------
    .. [1] Obuchowski NA, Subhas N, Schoenhagen P (2014). Testing for interchangeability of
           imaging tests. Acad Radiol 21(11):1483-1489.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1] * 4 + [2] * 4 + [3] * 4,
    ...                   "rater": ["ai", "r1", "r2", "r3"] * 3,
    ...                   "score": [2, 2, 3, 1, 5, 4, 6, 5, 0, 1, 0, 0]})
    >>> out = disagreement_with_readers(t, model="ai", n_boot=0)
    >>> out["estimate"].round(3).to_dict()
    {'r1': 1.167, 'r2': 1.167, 'r3': 1.0, 'ai': 0.556}
    """
    _check_options(metric, "fixed", n_boot, confidence)
    matrix = as_matrix(data, case, rater, score, cluster=cluster)
    model_column = _model_column(matrix, model, "fixed")
    n_raters = len(matrix.raters)
    pairs, terms, present = _pair_terms(matrix.scores, metric)
    # rater j's value is the mean of its pair d's with every reader other than j
    mixing = np.zeros((len(pairs), n_raters))
    for k, (a, b) in enumerate(pairs):
        if b != model_column:
            mixing[k, a] = 1.0
        if a != model_column:
            mixing[k, b] = 1.0
    mixing /= mixing.sum(axis=0, keepdims=True)
    reader_pairs = np.array([model_column not in pair for pair in pairs], dtype=float)
    reader_pairs /= reader_pairs.sum()

    def kernel(chunk):
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (chunk.rows @ terms) / (chunk.rows @ present)
        return np.column_stack([d @ mixing, d @ reader_pairs])

    values = resampling(matrix, n_boot, seed).replicates(kernel)
    unit = "patients" if matrix.clusters is not None else "cases"
    method = (f"bootstrap percentile ({unit} resampled, readers fixed)" if n_boot
              else "point estimate")
    order = [j for j in range(n_raters) if j != model_column] + [model_column]
    entries = {}
    for j in order:
        low, high, _ = percentile_ci(values[1:, j], confidence)
        entries[matrix.raters[j]] = {
            "value": values[0, j], "ci95": (low, high), "ci_method": method,
            "n": int(np.isfinite(matrix.scores[:, j]).sum()),
            "role": "model" if j == model_column else "reader"}
    frame = to_frame(entries, confidence)
    frame.index.name = "rater"
    frame.attrs.update(model=model, metric=metric, reader_reader=float(values[0, -1]))
    return frame
