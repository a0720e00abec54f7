"""Is a model as close to the readers as the readers are to each other? Readers random or fixed.

With d(a, b) the mean over the cases both scored of |a − b| (``mae``) or (a − b)² (``msd``) and R
readers, the excess disagreement θ = D_MR − D_RR compares the model's mean disagreement with the
readers, D_MR = (1/R) Σ_r d(model, r), with the readers' mean disagreement with each other,
D_RR = 2/(R(R−1)) Σ_{r<r'} d(r, r') (individual equivalence, Obuchowski et al. 2014). The ratio
D_MR / D_RR and Williams' index (agreement a = 1/d; Williams 1976, Chalana & Kim 1997) come from
the same pair disagreements.

**Readers random** (a claim about radiologists in general): a two-way bootstrap resamples cases
(patients with all their images, when there is a patient column) and, independently, readers
with replacement (Beiden, Wagner & Campbell 2000). A reader drawn twice is one reader seen twice,
not a pair of readers who agree perfectly, so in a resample the reader pairs are the pairs of
draws of *different* readers: reader r drawn c_r times and r' drawn c_r' times give c_r·c_r'
pairs, and D_RR* = Σ c_r c_r' d*(r, r') / Σ c_r c_r'. Resamples that draw a single reader have
no reader pair and are left out (their number is reported). **Readers fixed**: cases only; the
interval then describes these readers, not radiologists.

Why the two-way bootstrap and not a reader jackknife with a case bootstrap: it needs no
variance-component model or degrees-of-freedom approximation, keeps the percentile interval of
the other agreement statistics, handles missing readings, and is one matrix product per chunk
of resamples (every d(a, b) is a ratio of sums over cases). It is slightly conservative (reader
and case resampling both carry the pure reading noise; Beiden et al. 2000), which the coverage
test measures.

References
----------
Obuchowski NA, Subhas N, Schoenhagen P (2014). Testing for interchangeability of imaging tests.
Acad Radiol 21(11):1483-1489.
Beiden SV, Wagner RF, Campbell G (2000). Components-of-variance models and multiple-bootstrap
experiments: an alternative method for random-effects, receiver operating characteristic
analysis. Acad Radiol 7(5):341-349.
Williams GW (1976). Comparing the joint agreement of several raters with another rater.
Biometrics 32(3):619-627.
Chalana V, Kim Y (1997). A methodology for evaluation of boundary detection algorithms on
medical images. IEEE Trans Med Imaging 16(5):642-652.
Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. Cambridge (p-value
(1 + #{θ* ≥ margin}) / (1 + B), section 4.4).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from covsev_tools.agreement._result import to_frame
from covsev_tools.agreement._table import AgreementInputError, as_matrix, resampling
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, percentile_ci

__all__ = ["DEFAULT_MARGIN_RATIO", "METRICS", "STATISTICS", "default_margin", "model_equivalence",
           "reader_counts"]

#: d(a, b) per case: absolute or squared difference.
METRICS = {"mae": np.abs, "msd": np.square}
#: Rows of the result, in this order.
STATISTICS = ("model_reader", "reader_reader", "excess_disagreement", "disagreement_ratio",
              "williams_index")
#: Default margin as a share of the readers' own disagreement: D_MR / D_RR ≤ 1.25, the upper
#: limit of the 80-125 % equivalence range of bioequivalence (FDA 2001 guidance).
DEFAULT_MARGIN_RATIO = 0.25
READERS = ("random", "fixed")


def reader_counts(n_readers: int, n_boot: int, seed=0, readers: str = "random") -> np.ndarray:
    """How often each reader is drawn: row 0 the sample (all ones), then ``n_boot`` resamples.

    Drawn from a stream of its own (a child of ``seed``'s ``SeedSequence``), so the case
    resamples are those of every other statistic with the same seed. Fixed readers: all ones.

    Examples
    --------
    >>> counts = reader_counts(4, 3, seed=0)
    >>> counts.shape, counts[0].tolist(), counts.sum(axis=1).tolist()
    ((4, 4), [1.0, 1.0, 1.0, 1.0], [4.0, 4.0, 4.0, 4.0])
    """
    if readers == "fixed":
        return np.ones((1 + n_boot, n_readers))
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    draws = rng.integers(0, n_readers, size=(n_boot, n_readers))
    counts = np.zeros((n_boot, n_readers))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return np.vstack([np.ones((1, n_readers)), counts])


class _PairTerms:
    """Per-case disagreement of every model-reader and reader-reader pair, as one (n, K) matrix.

    A pair's d under case weights w is (w · terms) / (w · present): one matrix product gives the
    d of all K pairs for a chunk of resamples.
    """

    def __init__(self, model: np.ndarray, readers: np.ndarray, metric: str):
        self.pairs = list(combinations(range(readers.shape[1]), 2))
        first = np.concatenate([np.broadcast_to(model[:, None], readers.shape),
                                readers[:, [a for a, _ in self.pairs]]], axis=1)
        second = np.concatenate([readers, readers[:, [b for _, b in self.pairs]]], axis=1)
        present = np.isfinite(first) & np.isfinite(second)
        self.terms = np.where(present, METRICS[metric](np.where(present, first - second, 0.0)),
                              0.0)
        self.complete = bool(present.all())
        self.present = None if self.complete else present.astype(float)
        self.n_readers = readers.shape[1]
        self.n_pairs = present.sum(axis=0)

    def disagreements(self, rows: np.ndarray) -> np.ndarray:
        """(B, K) d of every pair under each row of case weights."""
        sums = rows @ self.terms
        shared = rows.sum(axis=1)[:, None] if self.complete else rows @ self.present
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / shared


def _summaries(d: np.ndarray, counts: np.ndarray, n_readers: int, pairs: list) -> np.ndarray:
    """(B, 5) D_MR, D_RR, θ, ratio, Williams' index from pair d's and reader draw counts."""
    model_reader, reader_reader = d[:, :n_readers], d[:, n_readers:]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    pair_weight = counts[:, a] * counts[:, b]  # pairs of draws of two different readers
    with np.errstate(invalid="ignore", divide="ignore"):
        d_mr = (counts * model_reader).sum(axis=1) / counts.sum(axis=1)
        d_rr = (pair_weight * reader_reader).sum(axis=1) / pair_weight.sum(axis=1)
        a_mr = (counts / model_reader).sum(axis=1) / counts.sum(axis=1)
        a_rr = (pair_weight / reader_reader).sum(axis=1) / pair_weight.sum(axis=1)
        return np.column_stack([d_mr, d_rr, d_mr - d_rr, d_mr / d_rr, a_mr / a_rr])


def equivalence_replicates(matrix, model_column: int, *, metric: str = "mae",
                           readers: str = "random", n_boot: int = DEFAULT_N_BOOT, seed=0) -> np.ndarray:
    """(1 + n_boot, 5) D_MR, D_RR, θ, ratio, Williams' index: row 0 the sample, then resamples.

    Case (patient) weights are the agreement package's :class:`Resampling` draws; reader counts
    are :func:`reader_counts`. NaN where a resample has no reader pair or an empty pair.
    """
    scores = matrix.scores
    reader_columns = [j for j in range(scores.shape[1]) if j != model_column]
    terms = _PairTerms(scores[:, model_column], scores[:, reader_columns], metric)
    counts = reader_counts(len(reader_columns), n_boot, seed, readers)
    plan = resampling(matrix, n_boot, seed)
    done = 0

    def kernel(chunk):
        nonlocal done
        rows = chunk.rows
        part = counts[done:done + rows.shape[0]]
        done += rows.shape[0]
        return _summaries(terms.disagreements(rows), part, terms.n_readers, terms.pairs)

    return plan.replicates(kernel)


def default_margin(reader_reader: float, ratio: float = DEFAULT_MARGIN_RATIO) -> float:
    """The margin ``ratio`` × D_RR: the model may add that share of the readers' disagreement.

    Examples
    --------
    >>> default_margin(1.2)
    0.3
    """
    return float(ratio * reader_reader)


def _method_text(readers: str, unit: str, n_valid: int, n_boot: int) -> str:
    if n_boot == 0:
        return "point estimate"
    unit_text = "patients" if unit == "patient" else "cases"
    if readers == "random":
        return (f"two-way bootstrap percentile ({unit_text} and readers resampled; a reader paired "
                "with its own copy is not a reader pair; Beiden, Wagner & Campbell 2000)")
    return f"bootstrap percentile ({unit_text} resampled, readers fixed)"


def _check_options(metric, readers, n_boot, confidence):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, not {metric!r}")
    if readers not in READERS:
        raise ValueError(f"readers must be 'random' or 'fixed', not {readers!r}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a whole number ≥ 0, not {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")


def _model_column(matrix, model, readers) -> int:
    if model not in matrix.raters:
        names = ", ".join(map(str, matrix.raters))
        raise AgreementInputError(f"model {model!r} is not a rater of the table (raters: {names})")
    needed = 3 if readers == "random" else 2
    n_readers = len(matrix.raters) - 1
    if n_readers < needed:
        raise AgreementInputError(
            f"readers={readers!r} needs at least {needed} readers besides the model; found "
            f"{n_readers}" + (" (use readers='fixed' for 2)" if readers == "random" else ""))
    return matrix.raters.index(model)


def model_equivalence(data, *, model, margin=None, metric: str = "mae", readers: str = "random",
                      case: str = "case", rater: str = "rater", score: str = "score",
                      cluster: str | None = DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT, seed=0,
                      confidence: float = DEFAULT_CONFIDENCE):
    """Is the model within the readers' variability? Excess disagreement of a model over readers.

    Parameters
    ----------
    data : pandas.DataFrame or RatingsMatrix
        Tidy long table, one row per case × rater, in which the model is one of the raters.
        Missing readings are allowed: each pair uses the cases both scored.
    model : str
        The model's name in the rater column; every other rater is a reader.
    margin : float, optional
        Non-inferiority margin of θ = D_MR − D_RR in the units of ``metric``. None: 0.25 × the
        estimated D_RR (:data:`DEFAULT_MARGIN_RATIO`; D_MR/D_RR ≤ 1.25, the bioequivalence
        limit). A margin chosen before the study is better; this one is estimated.
    metric : {"mae", "msd"}
        Disagreement of a pair: mean absolute or mean squared difference.
    readers : {"random", "fixed"}
        "random" (≥ 3 readers): cases and readers resampled, a statement about radiologists in
        general; "fixed" (≥ 2 readers): cases only, a statement about these readers.
    case, rater, score : str
        Column names.
    cluster : str or None
        Patient column: resample patients with all their images (default ``"patient_id"`` when
        the table has it).
    n_boot, seed : int
        Bootstrap resamples and seed of the percentile interval.
    confidence : float
        Confidence level of the two-sided interval; ``noninferior`` is the one-sided test at
        level (1 − confidence)/2 that this interval implies.

    Returns
    -------
    pandas.DataFrame
        Rows ``model_reader`` (D_MR), ``reader_reader`` (D_RR), ``excess_disagreement`` (θ),
        ``disagreement_ratio`` (D_MR / D_RR) and ``williams_index``; columns ``estimate, ci_low,
        ci_high, n, method, n_readers, readers, metric, n_boot_valid`` and, on the
        ``excess_disagreement`` row, ``margin``, ``p_value`` and ``noninferior``. ``n`` is the
        number of cases scored by at least two raters. ``attrs``: ``confidence``, ``model``,
        ``margin``, ``margin_rule``, ``readers``, ``metric``, ``cluster_column`` (the patient
        column resampled, or None).

    Raises
    ------
    AgreementInputError
        The model is not a rater of the table; too few readers for ``readers``; bad table.

    Notes
    -----
    d(a, b) = Σ_i w_i |a_i − b_i| / Σ_i w_i over cases both scored (squared for ``msd``), w the
    case multiplicities of a resample. θ* replicates come from one matrix product per chunk
    of resamples. ``noninferior`` is True when the upper bound of the interval of θ is below the
    margin; ``p_value`` = (1 + #{θ* ≥ margin}) / (1 + B) over the B valid replicates, the
    one-sided test of H0: θ ≥ margin that inverts the percentile interval. Resamples drawing a
    single reader (probability R^(1−R): 11 % with 3 readers, 1.6 % with 4) have no reader pair
    and are left out; ``n_boot_valid`` counts the rest.

    References
    ----------
    .. [1] Obuchowski NA, Subhas N, Schoenhagen P (2014). Testing for interchangeability of
           imaging tests. Acad Radiol 21(11):1483-1489.
    .. [2] Beiden SV, Wagner RF, Campbell G (2000). Components-of-variance models and
           multiple-bootstrap experiments: an alternative method for random-effects, receiver
           operating characteristic analysis. Acad Radiol 7(5):341-349.
    .. [3] Williams GW (1976). Comparing the joint agreement of several raters with another
           rater. Biometrics 32(3):619-627.
    .. [4] Chalana V, Kim Y (1997). A methodology for evaluation of boundary detection
           algorithms on medical images. IEEE Trans Med Imaging 16(5):642-652.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1] * 4 + [2] * 4 + [3] * 4,
    ...                   "rater": ["ai", "r1", "r2", "r3"] * 3,
    ...                   "score": [2, 2, 3, 1, 5, 4, 6, 5, 0, 1, 0, 0]})
    >>> out = model_equivalence(t, model="ai", margin=0.5, n_boot=0)
    >>> out["estimate"].round(3).tolist()
    [0.556, 1.111, -0.556, 0.5, 2.182]
    """
    _check_options(metric, readers, n_boot, confidence)
    matrix = as_matrix(data, case, rater, score, cluster=cluster)
    model_column = _model_column(matrix, model, readers)
    values = equivalence_replicates(matrix, model_column, metric=metric, readers=readers,
                                    n_boot=n_boot, seed=seed)
    rule = "given"
    if margin is None:
        margin, rule = default_margin(values[0, 1]), f"{DEFAULT_MARGIN_RATIO:g} × reader_reader"
    margin = float(margin)
    if not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number of score points, not {margin!r}")
    n_cases = int((np.isfinite(matrix.scores).sum(axis=1) >= 2).sum())
    n_readers = len(matrix.raters) - 1
    plan_unit = "patient" if matrix.clusters is not None else "case"
    entries = {}
    for k, name in enumerate(STATISTICS):
        low, high, n_valid = percentile_ci(values[1:, k], confidence)
        entry = {"value": values[0, k], "ci95": (low, high), "n": n_cases,
                 "ci_method": _method_text(readers, plan_unit, n_valid, n_boot),
                 "n_readers": n_readers, "readers": readers, "metric": metric,
                 "n_boot_valid": n_valid}
        if name == "excess_disagreement":
            boot = values[1:, k][np.isfinite(values[1:, k])]
            entry.update(margin=margin,
                         p_value=(1 + (boot >= margin).sum()) / (1 + boot.size) if boot.size
                         else None,
                         noninferior=None if high is None else bool(high < margin))
        entries[name] = entry
    frame = to_frame(entries, confidence)
    frame.attrs.update(model=model, margin=margin, margin_rule=rule, readers=readers,
                       metric=metric, cluster_column=matrix.cluster_column)
    return frame
