"""Bootstrap over cases or over patients, vectorised and drawn in chunks of resamples.

Resampling is over cases (all ratings of a case move together) or, when a patient column is
known, over **patients with all their images** (a cluster bootstrap: images of one patient are
not independent, and resampling them one by one gives intervals that are too narrow). Every
statistic of the package is written as sums over cases, so a resample is a row of case
multiplicities ``w`` (how often each case was drawn; in a patient resample every image of a patient
drawn twice counts twice) and B replicates are matrix products ``W @ per_case_terms`` — no Python
loop over resamples. The (B, n) matrix ``W`` is produced in chunks of rows, so memory does not grow
with B; the draw does not depend on the chunk size (numpy's generator is consumed in order).

References
----------
Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993 (percentile CI).
Field CA, Welsh AH (2007). Bootstrapping clustered data. J R Stat Soc B 69(3):369-390.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from covsev_tools.defaults import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT  # noqa: F401 (re-exported)

#: The patient column used for the cluster bootstrap when a table has it. As the default it also
#: accepts ``patientid`` (the COVID-19 image collection's and covsev's own export's spelling):
#: the same rule in the library, ``covsev agreement`` and the validation report.
DEFAULT_CLUSTER = "patient_id"
#: The spellings of the patient column tried, in order, when the default is asked for.
PATIENT_COLUMNS = ("patient_id", "patientid")


def default_patient_column(columns) -> str | None:
    """The first of :data:`PATIENT_COLUMNS` among ``columns``, or None (resample images).

    Examples
    --------
    >>> default_patient_column(["case", "rater", "score", "patientid"])
    'patientid'
    >>> default_patient_column(["case", "rater", "score"]) is None
    True
    """
    return next((name for name in PATIENT_COLUMNS if name in columns), None)
#: Resamples × cases of one chunk of weights (8 bytes each): about 32 MB.
CHUNK_CELLS = 4_000_000


def case_indices(n_cases: int, n_boot: int, seed=0) -> np.ndarray:
    """Case indices of ``n_boot`` resamples with replacement, shape ``(n_boot, n_cases)``.

    The draw of :class:`Resampling` without patients, so a seed gives the same resamples in the
    validation report and in ``covsev agreement``.

    Examples
    --------
    >>> case_indices(3, 2, seed=0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_cases, size=(n_boot, n_cases))


def _unit_counts(rng, n_units: int, n_rows: int) -> np.ndarray:
    """(n_rows, n_units) how often each unit was drawn in each of ``n_rows`` resamples."""
    index = rng.integers(0, n_units, size=(n_rows, n_units))
    offsets = (np.arange(n_rows) * n_units)[:, None]
    counts = np.bincount((index + offsets).ravel(), minlength=n_rows * n_units)
    return counts.reshape(n_rows, n_units).astype(float)


class Weights:
    """One chunk of resample weights: ``rows`` (R, n) and the same as C-ordered ``by_case`` (n, R).

    ``by_case`` is built once per chunk and shared by every rater pair (sparse tables need it).
    """

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    @cached_property
    def by_case(self) -> np.ndarray:
        return np.ascontiguousarray(self.rows.T)


def cluster_codes(labels) -> np.ndarray:
    """Integer code per case of its patient (cluster), numbered in order of first appearance.

    Examples
    --------
    >>> cluster_codes(["p2", "p2", "p1"]).tolist()
    [0, 0, 1]
    """
    import pandas as pd

    codes, _ = pd.factorize(np.asarray(labels, dtype=object))
    return codes.astype(np.int64)


@dataclass(frozen=True)
class Resampling:
    """The bootstrap plan of an analysis: how many resamples, the seed and the resampled unit.

    Parameters
    ----------
    n_cases : int
        Rows of the ratings matrix.
    n_boot : int
        Bootstrap resamples (0: point estimates only).
    seed : int or None
        Seed of ``numpy.random.default_rng``.
    clusters : ndarray of int, optional
        Patient code of every case (see :func:`cluster_codes`); None resamples cases.
    cluster_column : str, optional
        Name of the patient column, for the methods text.
    chunk_cells : int
        Resamples × cases held at once.

    Examples
    --------
    >>> plan = Resampling(4, n_boot=3, seed=0, clusters=np.array([0, 0, 1, 2]))
    >>> w = plan.weights()
    >>> w.shape, plan.unit, bool((w[:, 0] == w[:, 1]).all())
    ((4, 4), 'patient', True)
    """

    n_cases: int
    n_boot: int = 0
    seed: object = 0
    clusters: np.ndarray | None = None
    cluster_column: str | None = None
    chunk_cells: int = CHUNK_CELLS

    @property
    def unit(self) -> str:
        """``"patient"`` or ``"case"``: what one draw of the bootstrap picks."""
        return "case" if self.clusters is None else "patient"

    @property
    def n_units(self) -> int:
        return self.n_cases if self.clusters is None else int(self.clusters.max(initial=-1) + 1)

    def chunks(self):
        """Yield :class:`Weights`; row 0 of the first chunk is the sample itself (all ones)."""
        rng = np.random.default_rng(self.seed)
        per_chunk = max(1, self.chunk_cells // max(self.n_cases, 1))
        done, first = 0, True
        while first or done < self.n_boot:
            take = min(per_chunk, self.n_boot - done)
            counts = _unit_counts(rng, self.n_units, take) if take else np.empty((0, self.n_units))
            if self.clusters is not None:
                counts = counts[:, self.clusters]
            if first:
                counts = np.vstack([np.ones((1, self.n_cases)), counts])
                first = False
            done += take
            yield Weights(counts)

    def weights(self) -> np.ndarray:
        """All (1 + n_boot, n_cases) weights at once (small analyses and tests)."""
        return np.vstack([chunk.rows for chunk in self.chunks()])

    def apply(self, kernels: dict) -> dict:
        """Run every ``kernel(Weights) -> array (R, ...)`` over all chunks; concatenated per key.

        One pass over the resamples for all statistics of a report, so they share each resample.
        """
        parts = {key: [] for key in kernels}
        for chunk in self.chunks():
            for key, kernel in kernels.items():
                parts[key].append(kernel(chunk))
        return {key: np.concatenate(values) for key, values in parts.items()}

    def replicates(self, kernel) -> np.ndarray:
        """Row 0 (estimate) and the ``n_boot`` replicates of one statistic."""
        return self.apply({"x": kernel})["x"]

    def describe(self) -> dict:
        """The ``method.bootstrap`` facts: unit resampled, number of units, column."""
        out = {"n_boot": self.n_boot, "seed": self.seed, "unit": self.unit}
        if self.clusters is not None:
            out.update(n_clusters=self.n_units, cluster_column=self.cluster_column)
        return out


@dataclass(frozen=True)
class Job:
    """A bootstrap statistic waiting for its resamples: ``kernel(Weights) -> (R, ...)`` values of
    each chunk, and ``finish(values of row 0 + all resamples) -> result``."""

    kernel: object
    finish: object


def run_jobs(plan: Resampling, jobs: dict) -> dict:
    """Results of all ``jobs`` (a :class:`Job` or an already finished result) in one pass.

    Examples
    --------
    >>> plan = Resampling(3, n_boot=2, seed=0)
    >>> run_jobs(plan, {"n": Job(lambda w: w.rows.sum(axis=1), list), "fixed": 1})
    {'n': [3.0, 3.0, 3.0], 'fixed': 1}
    """
    active = {key: job for key, job in jobs.items() if isinstance(job, Job)}
    values = plan.apply({key: job.kernel for key, job in active.items()}) if active else {}
    return {key: job.finish(values[key]) if key in active else job for key, job in jobs.items()}


def case_weights(n_cases: int, n_boot: int, seed=0, clusters=None) -> np.ndarray:
    """Point-estimate row plus ``n_boot`` bootstrap rows of case multiplicities.

    Parameters
    ----------
    n_cases : int
        Number of cases (rows of the ratings matrix).
    n_boot : int
        Number of bootstrap resamples (0: point estimate only).
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same resamples.
    clusters : ndarray of int, optional
        Patient code per case: resample patients with all their images.

    Returns
    -------
    ndarray, shape (1 + n_boot, n_cases)
        Row 0 is all ones (the original sample); row ``b`` counts how often each case was drawn
        in resample ``b``.

    Examples
    --------
    >>> w = case_weights(4, 3, seed=0)
    >>> w.shape, w[0].tolist(), w[1:].sum(axis=1).tolist()
    ((4, 4), [1.0, 1.0, 1.0, 1.0], [4.0, 4.0, 4.0])
    """
    return Resampling(n_cases, n_boot, seed, clusters).weights()


def percentile_ci(replicates: np.ndarray, confidence: float = DEFAULT_CONFIDENCE):
    """Percentile bootstrap interval of the finite replicates.

    Returns ``(low, high, n_valid)``; ``(None, None, 0)`` without finite replicates. Resamples in
    which the statistic is undefined (e.g. a resample with a single category) are left out and
    their number is reported by the callers.

    Examples
    --------
    >>> low, high, n_valid = percentile_ci(np.arange(101.0), 0.9)
    >>> round(low, 6), round(high, 6), n_valid
    (5.0, 95.0, 101)
    """
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None, 0
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high), int(values.size)


def bootstrap_method(unit: str = "case") -> str:
    """How a bootstrap interval was made, in the words every table of covsev uses.

    Examples
    --------
    >>> bootstrap_method(), bootstrap_method("patient")
    ('bootstrap percentile', 'bootstrap percentile, patients resampled')
    """
    return "bootstrap percentile" + ("" if unit == "case" else f", {unit}s resampled")


def with_bootstrap_ci(estimates: np.ndarray, confidence: float = DEFAULT_CONFIDENCE, unit: str = "case") -> dict:
    """Fields ``ci95`` (+ ``n_boot_valid`` when some resamples were undefined) from row 0 + replicates."""
    boot = estimates[1:]
    if boot.size == 0:
        return {}
    low, high, n_valid = percentile_ci(boot, confidence)
    fields = {"ci95": None if low is None else [low, high], "ci_method": bootstrap_method(unit)}
    if n_valid < boot.size:
        fields["n_boot_valid"] = n_valid
    return fields
