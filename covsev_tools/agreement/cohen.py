"""Cohen's kappa of one or many rater pairs, over bootstrap resamples as a few matrix products.

A weighted kappa needs, per resample, only the weighted agreement Σ w[a_u, b_u] and the two
raters' category margins over the cases both rated. With case weights W (R resamples × n cases):

- margins of every rater at once: ``W @ onehot`` (n × raters·q), shared by all pairs; a pair
  whose partner skipped some cases subtracts those cases (``W[:, skipped] @ onehot[skipped]``),
- agreement of every pair and weighting: ``W @ A`` with A (n × pairs·S), plus a column of
  "both rated" for the pairs with gaps (a complete pair's number of cases is Σ w).

So no pair builds its own tables or copies W, and all pairs ride on BLAS. Equal to the per-pair
tables of :class:`covsev_tools.agreement.fleiss.PairTables` (tests: 1e-12).
"""
from __future__ import annotations

import numpy as np

from covsev_tools.agreement._result import to_frame, undefined_result
from covsev_tools.agreement._table import as_matrix, resampling
from covsev_tools.agreement.bootstrap import (DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, Job,
                                              run_jobs)
from covsev_tools.agreement.fleiss import (KAPPA_NAMES, NOT_CATEGORICAL, agreement_weights,
                                          kappa_result, two_raters)

#: Cells of the agreement matrix A held at once (8 bytes each): about 128 MB.
_A_CELLS = 16_000_000


class _Layout:
    """Everything about the pairs that does not depend on the resample weights."""

    def __init__(self, index: np.ndarray, q: int, pairs: list, weights: list):
        n, k = index.shape
        self.q, self.k, self.pairs, self.weights = q, k, pairs, weights
        present = index >= 0
        self.onehot = np.zeros((n, k * q))
        rows, raters = np.nonzero(present)
        self.onehot[rows, raters * q + index[rows, raters]] = 1.0
        self.skipped = {j: np.flatnonzero(~present[:, j]) for j in range(k) if not present[:, j].all()}
        self.index, self.present = index, present
        # pairs with a gap count their cases in a column of A; complete pairs use Σ w
        self.gapped = {(a, b) for a, b in pairs if a in self.skipped or b in self.skipped}
        per_block = max(1, _A_CELLS // max(n * (1 + len(weights)), 1))
        self.blocks = [pairs[i:i + per_block] for i in range(0, len(pairs), per_block)]
        cached = n * len(pairs) * (1 + len(weights)) <= _A_CELLS
        self._agreement = [self.agreement(block) for block in self.blocks] if cached else None

    def agreement(self, block) -> np.ndarray:
        """(n, columns): per pair the agreement weight per scheme, then 'both rated' if gapped."""
        columns = []
        for a, b in block:
            both = self.present[:, a] & self.present[:, b]
            ia, ib = np.where(both, self.index[:, a], 0), np.where(both, self.index[:, b], 0)
            columns += [np.where(both, w[ia, ib], 0.0) for w in self.weights]
        columns += [(self.present[:, a] & self.present[:, b]).astype(float)
                    for a, b in block if (a, b) in self.gapped]
        return np.column_stack(columns)

    def block_agreement(self, i: int) -> np.ndarray:
        return self._agreement[i] if self._agreement is not None else self.agreement(self.blocks[i])

    def sample_table(self, a: int, b: int) -> np.ndarray:
        both = self.present[:, a] & self.present[:, b]
        cells = self.index[both, a] * self.q + self.index[both, b]
        return np.bincount(cells, minlength=self.q * self.q).reshape(self.q, self.q).astype(float)


def _kappas(layout: _Layout, w: np.ndarray) -> np.ndarray:
    """(R, pairs, S) kappas for the resample weights ``w`` (R, n)."""
    q, k, s = layout.q, layout.k, len(layout.weights)
    margins = (w @ layout.onehot).reshape(-1, k, q)                  # (R, k, q)
    skipped = {j: (w[:, cases] @ layout.onehot[cases]).reshape(-1, k, q)
               for j, cases in layout.skipped.items()}               # margins over j's gaps
    out = np.empty((w.shape[0], len(layout.pairs), s))
    start = 0
    for i, block in enumerate(layout.blocks):
        products = w @ layout.block_agreement(i)
        sums = products[:, :len(block) * s].reshape(w.shape[0], len(block), s)
        total = np.repeat(w.sum(axis=1)[:, None], len(block), axis=1)
        gapped = [p for p, pair in enumerate(block) if pair in layout.gapped]
        total[:, gapped] = products[:, len(block) * s:]
        a = np.array([p[0] for p in block])
        b = np.array([p[1] for p in block])
        rows, cols = margins[:, a, :].copy(), margins[:, b, :].copy()  # (R, P, q)
        for j, gaps in skipped.items():
            rows[:, b == j, :] -= gaps[:, a[b == j], :]   # a's ratings where partner j is missing
            cols[:, a == j, :] -= gaps[:, b[a == j], :]
        with np.errstate(divide="ignore", invalid="ignore"):
            rows /= total[:, :, None]
            cols /= total[:, :, None]
            for m, weights in enumerate(layout.weights):
                po = sums[:, :, m] / total
                pe = np.einsum("rpi,ij,rpj->rp", rows, weights, cols)
                out[:, start:start + len(block), m] = (po - pe) / (1 - pe)
        start += len(block)
    return out


def pair_kappas_job(matrix, pairs: list, schemes: dict, confidence: float = DEFAULT_CONFIDENCE,
                    unit: str = "case") -> Job:
    """Cohen's kappas of rater ``pairs`` (column numbers) for each weighting of ``schemes``.

    The job's result maps each pair to ``{name: result dict}`` (see
    :func:`covsev_tools.agreement.fleiss.kappa_result`).

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import ratings_matrix
    >>> from covsev_tools.agreement.bootstrap import Resampling, run_jobs
    >>> m = ratings_matrix(pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                                  "score": [0, 0, 1, 1, 2, 1, 3, 3]}))
    >>> job = pair_kappas_job(m, [(0, 1)], {"kappa": None})
    >>> round(run_jobs(Resampling(4), {"k": job})["k"][(0, 1)]["kappa"]["value"], 3)
    0.667
    """
    weights = [agreement_weights(matrix.categories, scheme) for scheme in schemes.values()]
    layout = _Layout(matrix.category_index(), matrix.categories.size, list(pairs), weights)

    def finish(kappas):
        out = {}
        for p, (a, b) in enumerate(layout.pairs):
            table = layout.sample_table(a, b)[None]
            out[(a, b)] = {name: kappa_result(table, w, confidence, kappas[:, p, m], unit)
                           for m, (name, w) in enumerate(zip(schemes, weights))}
        return out

    return Job(lambda chunk: _kappas(layout, chunk.rows), finish)


def cohen_kappa(data, *, rater_a=None, rater_b=None, weights: str | None = None,
                case: str = "case", rater: str = "rater", score: str = "score", categories=None,
                cluster: str | None = DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT, seed=0,
                confidence: float = DEFAULT_CONFIDENCE):
    """Cohen's kappa between two raters, unweighted or weighted, with SE and bootstrap CI.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy long table, one row per case × rater.
    rater_a, rater_b : optional
        The two raters (default: the only two raters of the table).
    weights : {None, "linear", "quadratic"}
        Unweighted (Cohen 1960) or weighted kappa (Cohen 1968) with linear (Cicchetti-Allison) or
        quadratic (Fleiss-Cohen) agreement weights on the category values.
    case, rater, score : str
        Column names.
    categories : str or sequence, optional
        The full category set (e.g. ``"0-8"``): a category nobody used still counts in the
        weights' range. Default: distinct observed integer scores.
    cluster : str or None
        Patient column: the bootstrap resamples patients with all their images (default
        ``patient_id``, else ``patientid``, when present); None resamples cases.
    n_boot, seed : int
        Bootstrap resamples for the percentile CI and the generator seed.
    confidence : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row (index ``kappa``, ``kappa_linear`` or ``kappa_quadratic``): ``estimate, ci_low,
        ci_high, n, method, rater_a, rater_b, se, se_method`` (``n``: cases rated by both), and
        ``reason`` when undefined.

    Notes
    -----
    ``se`` is the large-sample standard error of Fleiss, Cohen & Everitt (1969) (as
    ``statsmodels.stats.inter_rater.cohens_kappa``); the interval is the percentile interval of
    a bootstrap over cases (or patients). The value equals ``sklearn.metrics.cohen_kappa_score``.

    References
    ----------
    .. [1] Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
    .. [2] Cohen J (1968). Weighted kappa. Psychological Bulletin 70(4):213-220.
    .. [3] Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
           weighted kappa. Psychological Bulletin 72(5):323-327.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": list("abababab"),
    ...                       "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    >>> round(cohen_kappa(table, categories="0-3", n_boot=0).loc["kappa", "estimate"], 3)
    0.667
    """
    matrix = as_matrix(data, case, rater, score, categories, cluster)
    if weights not in KAPPA_NAMES:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    name = KAPPA_NAMES[weights]
    if matrix.categories is None:
        return to_frame({name: undefined_result(NOT_CATEGORICAL)}, confidence)
    rater_a, rater_b = two_raters(matrix, rater_a, rater_b)
    a, b = matrix.raters.index(rater_a), matrix.raters.index(rater_b)
    plan = resampling(matrix, n_boot, seed)
    job = pair_kappas_job(matrix, [(a, b)], {name: weights}, confidence, plan.unit)
    result = run_jobs(plan, {"k": job})["k"][(a, b)]
    return to_frame(result, confidence, rater_a=rater_a, rater_b=rater_b)
