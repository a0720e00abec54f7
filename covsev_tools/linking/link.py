"""Linking one severity scale to another: :func:`link_scales` and the :class:`ScaleLink` it returns.

A site that scores on Brixia (0-18) or RALE (0-48) cannot compare its raters with a model that
predicts the paper's extent (0-8) and opacity (0-6) without a link between the scales. The link is
fitted on cases scored on both scales, and its own error is kept with it: a bootstrap standard
error and interval at every source score point, and the leave-one-out error on the fitting cases.
The bootstrap replicates of the link are kept too, so a validation report can carry the linking
error into its own intervals (each report resample uses a link refitted on a resample of the
linking cases).
"""
from __future__ import annotations

import warnings
from dataclasses import astuple, dataclass, field

import numpy as np
import pandas as pd

from covsev_tools import __version__
from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, Resampling, bootstrap_method, percentile_ci
from covsev_tools.linking.inputs import LinkInputError, double_scored
from covsev_tools.linking.methods import METHODS, Fits, Grid, fit_links, grid_of


@dataclass
class ScaleLink:
    """A fitted link from a source scale to a target scale, with its error and provenance.

    Attributes
    ----------
    method : str
        ``"mean-sigma"``, ``"linear"`` or ``"equipercentile"``.
    source, target : str
        Names of the two scales (the columns the link was fitted on).
    table : pandas.DataFrame
        One row per integer source score in the fitted range (index ``source``): ``estimate`` (the
        linked target value), ``ci_low``, ``ci_high``, ``n``, ``method`` (of the interval), ``se``
        (bootstrap standard error); ``attrs["confidence"]``.
    parameters : dict
        What :meth:`apply` needs: ``slope`` and ``intercept`` of a line, or the score points and
        relative frequencies of both scales for equipercentile.
    loo_mae, loo_rmse : float
        Leave-one-out error of the link on its fitting cases, on the target scale (one patient
        left out at a time when the bootstrap resamples patients).
    provenance : dict
        ``n_cases``, ``n_left_out``, ``unit``, ``n_clusters``, ``cluster_column``, ``n_boot``,
        ``seed``, ``confidence``, ``presmooth``, ``raters``, ``fitted_on``, ``covsev_version`` and,
        when a case column was given, ``case_sha256`` (hashed case labels, so that a report can
        count its cases the link was fitted on).
    replicates : dict
        The bootstrap replicates: ``slope``/``intercept`` of a line, or ``table`` (B × points).
    """

    method: str
    source: str
    target: str
    table: pd.DataFrame
    parameters: dict
    loo_mae: float
    loo_rmse: float
    provenance: dict = field(default_factory=dict)
    replicates: dict = field(default_factory=dict)

    @property
    def source_range(self) -> tuple[float, float]:
        """Lowest and highest source score the link was fitted on."""
        return tuple(self.parameters["source_range"])

    @property
    def n_replicates(self) -> int:
        """Bootstrap replicates kept (0 when fitted with ``n_boot=0``)."""
        first = next(iter(self.replicates.values()), [])
        return len(first)

    def _fits(self) -> Fits:
        p = self.parameters
        if self.method != "equipercentile":
            return Fits(self.method, slope=np.array([p["slope"]]), intercept=np.array([p["intercept"]]))
        return Fits(self.method, source_freq=np.array([p["source_freq"]]),
                    target_freq=np.array([p["target_freq"]]), source_grid=Grid(*p["source_grid"]),
                    target_grid=Grid(*p["target_grid"]))

    def _clamped(self, scores, warn: bool = True) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        low, high = self.source_range
        outside = np.isfinite(scores) & ((scores < low) | (scores > high))
        if outside.any() and warn:
            warnings.warn(f"{int(outside.sum())} {self.source} score(s) outside the fitted range "
                          f"{low:g}-{high:g} were clamped to it", UserWarning, stacklevel=3)
        return np.clip(scores, low, high)

    def apply(self, scores) -> np.ndarray:
        """Linked target values of source ``scores`` (NaN stays NaN; outside the range: clamped, warned).

        Examples
        --------
        >>> link = link_scales(demo_table(), source="brixia", target="extent", n_boot=0)
        >>> link.apply([0, 9, 18]).round(2).tolist()
        [-0.27, 3.93, 8.13]
        """
        scores = self._clamped(scores)
        values = self._fits().linked(np.nan_to_num(scores))[0]
        return np.where(np.isnan(scores), np.nan, values)

    def standard_error(self, scores) -> np.ndarray:
        """Bootstrap SE of the linked value of ``scores``, interpolated between the table's points.

        Examples
        --------
        >>> link = link_scales(demo_table(), source="brixia", target="extent", n_boot=200)
        >>> bool(link.standard_error([9.0])[0] > 0)
        True
        """
        scores = self._clamped(scores, warn=False)
        return np.interp(scores, self.table.index.to_numpy(float), self.table["se"].to_numpy(float))

    def inverse(self, values) -> np.ndarray:
        """Source scores whose link is ``values`` (mean-sigma and equipercentile are symmetric).

        Equipercentile is the inverse function only at source scores that some fitting case has
        (an empty score point has no percentile-rank width of its own; Kolen & Brennan 2014, §2.5).

        Examples
        --------
        >>> link = link_scales(demo_table(), source="brixia", target="extent", n_boot=0)
        >>> link.inverse(link.apply([3.0, 12.0])).round(9).tolist()
        [3.0, 12.0]
        """
        if self.method == "linear":
            raise LinkInputError("a linear (regression) link is not symmetric; fit the link from "
                                 f"'{self.target}' to '{self.source}' instead")
        return self._fits().inverse(np.asarray(values, dtype=float))[0]

    def replicate_apply(self, scores, rows) -> np.ndarray:
        """(len(rows), n) linked values of ``scores`` under the kept bootstrap replicates ``rows``.

        Equipercentile replicates are kept at the table's points and interpolated linearly between
        them (a resample where the link is undefined gives NaN). A validation report uses replicate ``rows[b]`` in its resample ``b``: the link refitted on a
        resample of the linking cases, independent of the cohort's resample.

        Examples
        --------
        >>> link = link_scales(demo_table(), source="brixia", target="extent", n_boot=5)
        >>> link.replicate_apply([9.0], [0, 1, 2]).shape
        (3, 1)
        """
        clamped = self._clamped(scores, warn=False)
        missing = np.isnan(clamped)
        scores = np.nan_to_num(clamped)
        rows = np.asarray(rows, dtype=np.int64)
        if self.method != "equipercentile":  # only the rows asked for: B × n values can be large
            values = (np.asarray(self.replicates["slope"], float)[rows, None] * scores[None, :]
                      + np.asarray(self.replicates["intercept"], float)[rows, None])
        else:
            table = np.asarray(self.replicates["table"], float)[rows]
            points = self.table.index.to_numpy(float)
            values = np.stack([np.interp(scores, points, row) for row in table])
        return np.where(missing[None, :], np.nan, values)

    def summary(self) -> str:
        """A few lines for a terminal: method, scales, cases, leave-one-out error.

        Examples
        --------
        >>> print(link_scales(demo_table(), source="brixia", target="extent", n_boot=0).summary())
        ... # doctest: +ELLIPSIS
        mean-sigma link brixia → extent, fitted on 30 cases ...
        """
        p = self.provenance
        unit = p.get("unit", "case")
        return (f"{self.method} link {self.source} → {self.target}, fitted on {p.get('n_cases')} cases "
                f"(bootstrap: {p.get('n_boot')} resamples of {unit}s, seed {p.get('seed')}); "
                f"leave-one-{unit}-out MAE {self.loo_mae:.3g}, RMSE {self.loo_rmse:.3g} on {self.target}")


def case_digest(case) -> str:
    """First 16 hex digits of the SHA-256 of a case label (a file name or case ID).

    Examples
    --------
    >>> case_digest("a.png")
    '7f071235805fbf58'
    """
    import hashlib

    return hashlib.sha256(str(case).encode("utf-8")).hexdigest()[:16]


def _loo_error(method, cases, options) -> tuple[float, float]:
    """MAE and RMSE of predicting each case from the link fitted without it (or its patient)."""
    units = cases.clusters if cases.clusters is not None else np.arange(len(cases.source))
    held_out = units[None, :] == np.unique(units)[:, None]                 # (U, n)
    fits = fit_links(method, (~held_out).astype(float), cases.source, cases.target, **options)
    # each case from the one fit that left it out (NaN when that fit is undefined, then not counted)
    predicted = np.where(held_out, fits.linked(cases.source), 0.0).sum(axis=0)
    errors = predicted - cases.target
    return float(np.nanmean(np.abs(errors))), float(np.sqrt(np.nanmean(errors ** 2)))


def _point_table(points, values, n_cases: int, unit: str, confidence: float) -> pd.DataFrame:
    """The tidy link table from row 0 (the sample) and the bootstrap rows of the linked values."""
    boot = values[1:]
    method = bootstrap_method(unit) if len(boot) else None
    rows = []
    for j in range(len(points)):
        low, high, _ = percentile_ci(boot[:, j], confidence) if len(boot) else (None, None, 0)
        finite = boot[:, j][np.isfinite(boot[:, j])]
        rows.append({"estimate": values[0, j], "ci_low": low, "ci_high": high, "n": n_cases,
                     "method": method, "se": float(finite.std(ddof=1)) if finite.size > 1 else np.nan})
    frame = pd.DataFrame(rows, index=pd.Index(points, name="source"))
    for name in ("estimate", "ci_low", "ci_high", "se"):
        frame[name] = frame[name].astype(float)
    frame.attrs["confidence"] = confidence
    return frame


def link_scales(data, *, source: str, target: str, method: str = "mean-sigma",
                presmooth: int | None = None, case: str | None = None,
                cluster: str | None = DEFAULT_CLUSTER, n_boot: int = 2000, seed=0,
                confidence: float = 0.95, raters: str | None = None,
                fitted_on: str | None = None) -> ScaleLink:
    """Link the scores of one scale to another from cases scored on both (single-group design).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per case with a column per scale (rows with one score empty are left out).
    source, target : str
        Columns of the scale linked from and the scale linked to.
    method : {"mean-sigma", "linear", "equipercentile"}
        ``mean-sigma`` (few cases), ``linear`` (least-squares regression of target on source) or
        ``equipercentile`` (many cases, non-linear relation; discrete scores only).
    presmooth : int, optional
        Degree C of log-linear presmoothing of both score distributions (equipercentile only).
    case : str, optional
        Case column (checked for duplicates); default the row labels.
    cluster : str or None
        Patient column: the bootstrap resamples patients with all their images, and the
        leave-one-out error leaves a patient out. Default: ``patient_id``, else ``patientid``, when
        the table has one (as in :mod:`covsev_tools.agreement`); None resamples cases.
    n_boot, seed, confidence :
        Bootstrap resamples, their seed and the interval level (as in :mod:`covsev_tools.agreement`).
    raters, fitted_on : str, optional
        Who scored the cases and on which cases the link was fitted (kept in the provenance).

    Returns
    -------
    ScaleLink

    Raises
    ------
    LinkInputError
        Missing or non-numeric column, fewer than 10 double-scored cases, a scale with one score
        for every case, unknown method,
        equipercentile on non-discrete scores, presmoothing a linear method.

    Notes
    -----
    Intervals are percentile bootstrap intervals over cases (or patients); they hold the cases
    and the raters who scored them fixed. The standard error is the SD of the replicates.

    References
    ----------
    .. [1] Kolen MJ, Brennan RL. Test Equating, Scaling, and Linking. 3rd ed. Springer, 2014
           (ch. 2: mean-sigma and equipercentile methods; ch. 3 log-linear presmoothing; ch. 7
           standard errors).
    .. [2] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993.

    Examples
    --------
    >>> link = link_scales(demo_table(), source="brixia", target="extent", n_boot=200, seed=1)
    >>> link.table.loc[9.0, "estimate"].round(3), link.provenance["n_cases"]
    (3.933, 30)
    """
    if method not in METHODS:
        raise LinkInputError(f"unknown --method '{method}'; one of: {', '.join(METHODS)}")
    if presmooth is not None and (method != "equipercentile" or int(presmooth) < 1):
        raise LinkInputError("--presmooth is a polynomial degree ≥ 1 and applies to the "
                             "equipercentile method only")
    if n_boot < 0 or not 0 < confidence < 1:
        raise LinkInputError(f"n_boot must be ≥ 0 and confidence in (0, 1); got {n_boot}, {confidence}")
    cases = double_scored(data, source=source, target=target, case=case, cluster=cluster)
    for column, values in ((source, cases.source), (target, cases.target)):
        if np.ptp(values) == 0:
            raise LinkInputError(f"'{column}' has the same score ({values[0]:g}) for every double-scored "
                                 "case: nothing to link")
    options = {}
    if method == "equipercentile":
        grids = grid_of(cases.source), grid_of(cases.target)
        for column, grid in zip((source, target), grids):
            if grid is None:
                raise LinkInputError(f"equipercentile linking needs discrete scores; '{column}' has "
                                     "values that are not on a grid of steps 1/k (k ≤ 12)")
        options = {"source_grid": grids[0], "target_grid": grids[1], "smoothing": presmooth}
    low, high = float(cases.source.min()), float(cases.source.max())
    points = np.arange(np.ceil(low), np.floor(high) + 1)
    plan = Resampling(len(cases.source), n_boot, seed, cases.clusters, cases.cluster_column)

    def replicate(weights):
        fits = fit_links(method, weights.rows, cases.source, cases.target, **options)
        extra = np.column_stack([fits.slope, fits.intercept]) if fits.slope is not None else None
        return fits.linked(points) if extra is None else np.hstack([fits.linked(points), extra])

    values = plan.replicates(replicate)
    boot = values[1:]
    frame = _point_table(points, values[:, :len(points)], len(cases.source), plan.unit, confidence)
    full = fit_links(method, np.ones((1, len(cases.source))), cases.source, cases.target, **options)
    parameters = {"source_range": [low, high]}
    if method == "equipercentile":
        parameters.update(source_grid=list(astuple(options["source_grid"])),
                          target_grid=list(astuple(options["target_grid"])),
                          source_freq=full.source_freq[0].tolist(), target_freq=full.target_freq[0].tolist())
        replicates = {"table": boot.tolist()} if n_boot else {}
    else:
        parameters.update(slope=float(full.slope[0]), intercept=float(full.intercept[0]))
        replicates = {"slope": boot[:, -2].tolist(), "intercept": boot[:, -1].tolist()} if n_boot else {}
    mae, rmse = _loo_error(method, cases, options)
    provenance = {"n_cases": len(cases.source), "n_left_out": cases.n_left_out, "unit": plan.unit,
                  "n_clusters": plan.n_units, "cluster_column": cases.cluster_column, "n_boot": n_boot,
                  "seed": seed, "confidence": confidence, "presmooth": presmooth, "raters": raters,
                  "fitted_on": fitted_on, "covsev_version": __version__}
    if case:  # lets a report say which of its cases the link was fitted on, without the cases' scores
        provenance["case_sha256"] = [case_digest(c) for c in cases.cases]
    return ScaleLink(method, source, target, frame, parameters, mae, rmse, provenance, replicates)


def demo_table(n: int = 30, seed: int = 0) -> pd.DataFrame:
    """A small simulated double-scored table (``brixia`` 0-18, ``extent`` 0-8) for examples.

    Examples
    --------
    >>> demo_table().shape
    (30, 2)
    """
    rng = np.random.default_rng(seed)
    severity = rng.uniform(0, 1, n)
    brixia = np.clip(np.rint(18 * severity + rng.normal(0, 1.5, n)), 0, 18)
    extent = np.clip(np.rint(8 * severity + rng.normal(0, 0.8, n)), 0, 8)
    return pd.DataFrame({"brixia": brixia, "extent": extent})
