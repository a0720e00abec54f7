"""The linking functions themselves, fitted under many case weightings at once.

Every method is written with case weights ``W`` of shape (R, n): row ``r`` says how often each
double-scored case counts (all ones for the sample itself, bootstrap multiplicities, or zeros for
the cases left out in a leave-one-out fit). So the sample, the bootstrap resamples of
:mod:`covsev_tools.agreement.bootstrap` and the leave-one-out fits are one vectorised computation.

- ``linear``: least-squares regression of target on source, ``l(x) = a + b x``;
- ``mean-sigma``: ``l(x) = σY/σX (x − μX) + μY`` (Kolen & Brennan 2014, ch. 2), symmetric;
- ``equipercentile``: ``e_Y(x) = P_Y⁻¹(P_X(x))`` with the percentile ranks of discrete scores
  continuized by spreading each score point uniformly over ±half a step (Kolen & Brennan 2014,
  §2.5, the "upper" ``x_U*`` form), optionally after log-linear presmoothing of both score
  distributions (Holland & Thayer 2000; Kolen & Brennan 2014, ch. 3).

References
----------
Kolen MJ, Brennan RL. Test Equating, Scaling, and Linking. 3rd ed. Springer, 2014.
Holland PW, Thayer DT (2000). Univariate and bivariate loglinear models for discrete test score
distributions. J Educ Behav Stat 25(2):133-183.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The linking methods, in the order the documentation lists them.
METHODS = ("mean-sigma", "linear", "equipercentile")
#: Largest denominator tried when looking for the step of a discrete score (1/12: means of 2, 3, 4 raters).
MAX_STEP_DENOMINATOR = 12


@dataclass(frozen=True)
class Grid:
    """The score points of a discrete scale: ``low, low + step, ..., low + (size − 1)·step``.

    Examples
    --------
    >>> grid = Grid(0.0, 0.5, 5)
    >>> grid.points.tolist(), grid.index([0.0, 1.5, 2.0]).tolist()
    ([0.0, 0.5, 1.0, 1.5, 2.0], [0, 3, 4])
    """

    low: float
    step: float
    size: int

    @property
    def points(self) -> np.ndarray:
        return self.low + self.step * np.arange(self.size)

    def index(self, values) -> np.ndarray:
        return np.rint((np.asarray(values, dtype=float) - self.low) / self.step).astype(np.int64)


def score_step(values) -> float | None:
    """The step of a discrete score: 1 for integers, 1/2 for means of two raters, ...; None if none fits.

    Examples
    --------
    >>> score_step([0, 3, 5]), score_step([0.5, 2.0]), score_step([1 / 3, 2.0]), score_step([0.123])
    (1.0, 0.5, 0.3333333333333333, None)
    """
    values = np.asarray(values, dtype=float)
    for denominator in range(1, MAX_STEP_DENOMINATOR + 1):
        scaled = values * denominator
        if np.all(np.abs(scaled - np.rint(scaled)) < 1e-6):
            return 1.0 / denominator
    return None


def grid_of(values) -> Grid | None:
    """The score points from the lowest to the highest observed score, or None for non-discrete scores.

    Examples
    --------
    >>> grid_of([2, 0, 3])
    Grid(low=0.0, step=1.0, size=4)
    """
    step = score_step(values)
    if step is None:
        return None
    low, high = float(np.min(values)), float(np.max(values))
    low = np.rint(low / step) * step
    return Grid(float(low), step, int(np.rint((high - low) / step)) + 1)


def _moments(W, x, y):
    total = W.sum(axis=1)
    mx, my = W @ x / total, W @ y / total
    # centred on the sample means first, so the variances do not lose digits to cancellation
    xc, yc = x - x.mean(), y - y.mean()
    dx, dy = mx - x.mean(), my - y.mean()
    vx = W @ (xc * xc) / total - dx * dx
    vy = W @ (yc * yc) / total - dy * dy
    cxy = W @ (xc * yc) / total - dx * dy
    return mx, my, vx, vy, cxy


def line_parameters(method: str, W, x, y):
    """(slope, intercept), each of shape (R,), of a linear or mean-sigma link under weights ``W``.

    NaN where the link is undefined (a weighting in which one score does not vary).

    Examples
    --------
    >>> x, y = np.array([0.0, 1, 2, 3]), np.array([1.0, 1, 3, 5])
    >>> slope, intercept = line_parameters("mean-sigma", np.ones((1, 4)), x, y)
    >>> round(float(slope[0]), 6), round(float(intercept[0]), 6)
    (1.48324, 0.27514)
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    mx, my, vx, vy, cxy = _moments(W, np.asarray(x, float), np.asarray(y, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        vx = np.where(vx > 1e-12, vx, np.nan)
        slope = cxy / vx if method == "linear" else np.sqrt(np.maximum(vy, 0.0) / vx)
    return slope, my - slope * mx


def relative_frequencies(W, values, grid: Grid) -> np.ndarray:
    """(R, grid.size) weighted relative frequency of every score point under each row of ``W``.

    Examples
    --------
    >>> relative_frequencies(np.ones((1, 4)), [0, 1, 1, 3], Grid(0.0, 1.0, 4)).tolist()
    [[0.25, 0.5, 0.0, 0.25]]
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    onehot = np.zeros((len(values), grid.size))
    onehot[np.arange(len(values)), grid.index(values)] = 1.0
    counts = W @ onehot
    return counts / counts.sum(axis=1, keepdims=True)


def presmooth(frequencies, grid: Grid, degree: int, n_cases, iterations: int = 100) -> np.ndarray:
    """Log-linear presmoothing: the degree-``degree`` polynomial log-linear fit of each row.

    Maximum likelihood of ``log m_k = β0 + β1 u_k + ... + βC u_k^C`` for the counts
    ``n·f_k`` (a Poisson GLM, as ``statsmodels`` fits it; the fit keeps the first C moments of
    the distribution, Kolen & Brennan 2014, ch. 3). Newton steps vectorised over all rows (one
    ``statsmodels`` fit per bootstrap resample would take seconds; the tests check the two agree).

    Examples
    --------
    >>> f = np.array([[0.1, 0.2, 0.4, 0.2, 0.1]])
    >>> smooth = presmooth(f, Grid(0.0, 1.0, 5), 2, 50)
    >>> round(float(smooth.sum()), 9), round(float((smooth * np.arange(5)).sum()), 9)
    (1.0, 2.0)
    """
    f = np.atleast_2d(np.asarray(frequencies, dtype=float))
    counts = f * np.asarray(n_cases, dtype=float).reshape(-1, 1)
    u = (grid.points - grid.points.mean()) / max(grid.points.std(), 1e-12)
    design = np.vander(u, degree + 1, increasing=True)                     # (K, C+1)
    beta = np.zeros((f.shape[0], degree + 1))
    beta[:, 0] = np.log(np.maximum(counts.mean(axis=1), 1e-12))
    for _ in range(iterations):
        mu = np.exp(np.clip(beta @ design.T, -700, 700))                  # (R, K)
        gradient = (counts - mu) @ design                                  # (R, C+1)
        hessian = np.einsum("rk,ki,kj->rij", mu, design, design)
        step = np.linalg.solve(hessian + 1e-12 * np.eye(degree + 1), gradient[..., None])[..., 0]
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    mu = np.exp(np.clip(beta @ design.T, -700, 700))
    return mu / mu.sum(axis=1, keepdims=True)


def percentile_rank(frequencies, grid: Grid, x) -> np.ndarray:
    """P(x)/100 of Kolen & Brennan (2014, §2.5), for every row of ``frequencies`` and every x.

    ``P(x) = F(x* − 1) + (x − x* + ½)[F(x*) − F(x* − 1)]`` in steps of the grid, where ``x*`` is the
    score point nearest ``x``; 0 below the lowest point − ½ step, 1 above the highest + ½ step.

    Examples
    --------
    >>> f = np.array([[0.2, 0.3, 0.5]])
    >>> percentile_rank(f, Grid(0.0, 1.0, 3), [0, 1, 1.25, 3]).round(6).tolist()
    [[0.1, 0.35, 0.425, 1.0]]
    """
    f = np.atleast_2d(frequencies)
    cumulative = np.cumsum(f, axis=1)
    below = np.hstack([np.zeros((f.shape[0], 1)), cumulative])             # F(k − 1) at index k
    u = (np.asarray(x, dtype=float) - grid.low) / grid.step
    nearest = np.clip(np.floor(u + 0.5).astype(np.int64), 0, grid.size - 1)
    rank = below[:, nearest] + (u - nearest + 0.5) * f[:, nearest]
    rank = np.where(u < -0.5, 0.0, rank)
    return np.where(u >= grid.size - 0.5, 1.0, rank)


def percentile_point(frequencies, grid: Grid, ranks) -> np.ndarray:
    """P⁻¹ of Kolen & Brennan (2014, §2.5, with ``x_U*``): the score at percentile rank ``ranks``.

    ``ranks`` has shape (R, m) (one row per row of ``frequencies``); ``P⁻¹(1)`` is the highest point
    + ½ step.

    Examples
    --------
    >>> f = np.array([[0.2, 0.3, 0.5]])
    >>> percentile_point(f, Grid(0.0, 1.0, 3), np.array([[0.1, 0.35, 1.0]])).round(6).tolist()
    [[0.0, 1.0, 2.5]]
    """
    f = np.atleast_2d(frequencies)
    ranks = np.atleast_2d(ranks)
    cumulative = np.cumsum(f, axis=1)
    cumulative[:, -1] = 1.0 + 1e-15                                        # rounding: P < 1 stays inside
    above = cumulative[:, None, :] > ranks[:, :, None]                    # (R, m, K)
    upper = above.argmax(axis=2)                                           # x_U*: first F(x) > P
    rows = np.arange(f.shape[0])[:, None]
    below = np.where(upper > 0, cumulative[rows, np.maximum(upper - 1, 0)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        position = (ranks - below) / f[rows, upper] + upper - 0.5
    position = np.where(ranks >= 1.0, grid.size - 0.5, position)
    return grid.low + grid.step * position


@dataclass(frozen=True)
class Fits:
    """A method fitted under R weightings; :meth:`linked` evaluates all R links at score points.

    Examples
    --------
    >>> x, y = np.array([0.0, 1, 2, 3]), np.array([0.0, 2, 4, 6])
    >>> fit_links("linear", np.ones((1, 4)), x, y).linked([1.5]).tolist()
    [[3.0]]
    """

    method: str
    slope: np.ndarray | None = None
    intercept: np.ndarray | None = None
    source_freq: np.ndarray | None = None
    target_freq: np.ndarray | None = None
    source_grid: Grid | None = None
    target_grid: Grid | None = None

    def linked(self, points) -> np.ndarray:
        """(R, m) linked target values of the source scores ``points``."""
        points = np.asarray(points, dtype=float)
        if self.method in ("linear", "mean-sigma"):
            return self.slope[:, None] * points[None, :] + self.intercept[:, None]
        ranks = percentile_rank(self.source_freq, self.source_grid, points)
        return percentile_point(self.target_freq, self.target_grid, ranks)

    def inverse(self, values) -> np.ndarray:
        """(R, m) source scores linked to the target values ``values`` (symmetric methods only)."""
        values = np.asarray(values, dtype=float)
        if self.method == "mean-sigma":
            return (values[None, :] - self.intercept[:, None]) / self.slope[:, None]
        if self.method == "equipercentile":
            ranks = percentile_rank(self.target_freq, self.target_grid, values)
            return percentile_point(self.source_freq, self.source_grid, ranks)
        raise ValueError("the regression of target on source is not symmetric: fit the link the other way")


def fit_links(method: str, W, x, y, *, source_grid: Grid | None = None, target_grid: Grid | None = None,
              smoothing: int | None = None) -> Fits:
    """Fit ``method`` under every row of the case weights ``W`` (R, n).

    Examples
    --------
    >>> x, y = np.array([0.0, 1, 1, 2]), np.array([0.0, 2, 2, 4])
    >>> fits = fit_links("equipercentile", np.ones((1, 4)), x, y,
    ...                  source_grid=grid_of(x), target_grid=grid_of(y))
    >>> fits.linked([0, 1, 2]).round(6).tolist()
    [[0.0, 2.0, 4.0]]
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if method in ("linear", "mean-sigma"):
        slope, intercept = line_parameters(method, W, x, y)
        return Fits(method, slope=slope, intercept=intercept)
    if method != "equipercentile":
        raise ValueError(f"unknown linking method {method!r}; one of {', '.join(METHODS)}")
    fx = relative_frequencies(W, x, source_grid)
    fy = relative_frequencies(W, y, target_grid)
    if smoothing:
        n = W.sum(axis=1)
        fx, fy = presmooth(fx, source_grid, smoothing, n), presmooth(fy, target_grid, smoothing, n)
    return Fits(method, source_freq=fx, target_freq=fy, source_grid=source_grid, target_grid=target_grid)


def delta_method_se(x, y, points) -> np.ndarray:
    """Standard error of the mean-sigma link under bivariate normality (single-group design).

    ``Var[l(x)] ≈ σY²(1 − ρ)[2 + (1 + ρ)z²]/N`` with ``z = (x − μX)/σX``: the delta method on
    ``l = μY + σY z`` with the large-sample variances of normal means and SDs (Var σ̂ = σ²/2N,
    Cov(σ̂X, σ̂Y) = ρ²σXσY/2N, means independent of SDs); cf. Kolen & Brennan 2014, ch. 7.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400); y = x + rng.normal(size=400)
    >>> delta_method_se(x, y, [0.0]).round(3).tolist()
    [0.054]
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = np.corrcoef(x, y)[0, 1]
    z = (np.asarray(points, dtype=float) - x.mean()) / x.std()
    return np.sqrt(y.var() * (1 - rho) * (2 + (1 + rho) * z ** 2) / x.size)
