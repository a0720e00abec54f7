"""Planning a model-vs-readers equivalence study: power of each readers × cases design.

From a pilot table (the model and at least 2 readers), the variance components of a two-way
model without interaction, score = case + reader + residual (Shrout & Fleiss 1979; the
Obuchowski-Rockette view of readers as random), give the reader SD (how far readers' biases
spread), the residual SD (reading noise) and the model's bias and residual SD against the
readers' mean. Each design (R readers, n cases) is then simulated: severities drawn from the
pilot's case means, R new readers drawn from the reader population, the model as estimated;
:func:`~covsev_tools.agreement.model_equivalence` with readers random is run on each simulated
study, and the power is the share of studies that call the model non-inferior. Monte Carlo
error of a power p from S studies: √(p(1 − p)/S).

References
----------
Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for multiple readers
and multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput
24(2):285-308.
Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater reliability.
Psychol Bull 86(2):420-428.
Obuchowski NA, Subhas N, Schoenhagen P (2014). Testing for interchangeability of imaging tests.
Acad Radiol 21(11):1483-1489.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from covsev_tools.agreement._table import AgreementInputError, RatingsMatrix, as_matrix
from covsev_tools.agreement.bootstrap import DEFAULT_CONFIDENCE, percentile_ci
from covsev_tools.agreement.equivalence import (_check_options, _model_column,
                                                equivalence_replicates)

__all__ = ["EquivalenceComponents", "equivalence_components", "equivalence_plan",
           "equivalence_power", "simulate_equivalence_study"]


@dataclass(frozen=True)
class EquivalenceComponents:
    """Planning values from a pilot: SDs of reader bias and residual, the model's bias and SD."""

    reader_sd: float
    residual_sd: float
    model_bias: float
    model_sd: float
    case_means: tuple
    n_pilot_cases: int
    n_pilot_readers: int

    def theta(self, metric: str = "mae") -> float:
        """Population excess disagreement θ of the model under these values (normal scores)."""
        s_mr = np.sqrt(self.reader_sd ** 2 + self.residual_sd ** 2 + self.model_sd ** 2)
        s_rr = np.sqrt(2 * self.reader_sd ** 2 + 2 * self.residual_sd ** 2)
        if metric == "msd":
            return float(self.model_bias ** 2 + s_mr ** 2 - s_rr ** 2)
        mu = self.model_bias
        folded = (s_mr * np.sqrt(2 / np.pi) * np.exp(-mu ** 2 / (2 * s_mr ** 2))
                  + mu * (1 - 2 * stats.norm.cdf(-mu / s_mr)))
        return float(folded - s_rr * np.sqrt(2 / np.pi))


def equivalence_components(data, *, model, case: str = "case", rater: str = "rater",
                           score: str = "score") -> EquivalenceComponents:
    """Variance components of a pilot table, on the cases the model and every reader scored.

    Two-way ANOVA of the readers (one reading per case × reader): residual variance MS_E,
    reader variance (MS_R − MS_E)/n (0 when negative). The model's bias is its mean difference
    from the readers' mean, its residual variance Var(model − readers' mean) − MS_E/R (at
    least 1 % of MS_E).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4,
    ...                   "rater": ["ai", "r1", "r2", "r3"] * 4,
    ...                   "score": [2, 2, 3, 1, 5, 4, 6, 5, 0, 1, 0, 0, 7, 6, 8, 8]})
    >>> c = equivalence_components(t, model="ai")
    >>> round(c.residual_sd, 3), round(c.model_bias, 3)
    (0.928, -0.167)
    """
    matrix = as_matrix(data, case, rater, score, cluster=None)
    column = _model_column(matrix, model, "fixed")
    scores = matrix.scores[np.isfinite(matrix.scores).all(axis=1)]
    if len(scores) < 3:
        raise AgreementInputError(f"the pilot needs at least 3 cases scored by the model and "
                                  f"every reader; found {len(scores)}")
    readers = np.delete(scores, column, axis=1)
    n, r = readers.shape
    row, col, grand = readers.mean(axis=1), readers.mean(axis=0), readers.mean()
    ms_reader = n * ((col - grand) ** 2).sum() / (r - 1)
    residual = readers - row[:, None] - col[None, :] + grand
    ms_error = (residual ** 2).sum() / ((n - 1) * (r - 1))
    diff = scores[:, column] - row
    model_var = max(diff.var(ddof=1) - ms_error / r, 0.01 * ms_error)
    return EquivalenceComponents(
        reader_sd=float(np.sqrt(max((ms_reader - ms_error) / n, 0.0))),
        residual_sd=float(np.sqrt(ms_error)), model_bias=float(diff.mean()),
        model_sd=float(np.sqrt(model_var)), case_means=tuple(row.tolist()), n_pilot_cases=n,
        n_pilot_readers=r)


def simulate_equivalence_study(components: EquivalenceComponents, n_readers: int, n_cases: int,
                               rng) -> RatingsMatrix:
    """One simulated study: the model (column 0) and ``n_readers`` new readers on new cases.

    Examples
    --------
    >>> c = EquivalenceComponents(0.5, 0.9, 0.0, 0.9, (1.0, 4.0, 6.0), 3, 3)
    >>> simulate_equivalence_study(c, 4, 10, np.random.default_rng(0)).scores.shape
    (10, 5)
    """
    truth = rng.choice(np.asarray(components.case_means), size=n_cases)[:, None]
    readers = (truth + rng.normal(0, components.reader_sd, n_readers)
               + rng.normal(0, components.residual_sd, (n_cases, n_readers)))
    model = truth[:, 0] + components.model_bias + rng.normal(0, components.model_sd, n_cases)
    return RatingsMatrix(scores=np.column_stack([model, readers]), cases=list(range(n_cases)),
                         raters=["model"] + [f"r{j}" for j in range(n_readers)],
                         categories=None, categories_source="none")


def equivalence_power(components: EquivalenceComponents, *, n_readers: int, n_cases: int,
                      margin: float, metric: str = "mae", n_sim: int = 200, n_boot: int = 200,
                      confidence: float = DEFAULT_CONFIDENCE, seed=0) -> float:
    """Share of simulated studies whose readers-random interval of θ lies below ``margin``.

    Examples
    --------
    >>> c = EquivalenceComponents(0.5, 0.9, 0.0, 0.9, (1.0, 4.0, 6.0), 3, 3)
    >>> 0 <= equivalence_power(c, n_readers=3, n_cases=30, margin=0.3, n_sim=5) <= 1
    True
    """
    rng = np.random.default_rng(seed)
    calls = 0
    for study in range(n_sim):
        matrix = simulate_equivalence_study(components, n_readers, n_cases, rng)
        theta = equivalence_replicates(matrix, 0, metric=metric, readers="random", n_boot=n_boot,
                                       seed=rng.integers(2 ** 32))[1:, 2]
        _, high, _ = percentile_ci(theta, confidence)
        calls += high is not None and high < margin
    return calls / n_sim


def equivalence_plan(data, *, model, margin: float, power: float = 0.8, readers=(3, 5, 8),
                     cases=(50, 100, 200, 400), metric: str = "mae", case: str = "case",
                     rater: str = "rater", score: str = "score", n_sim: int = 200,
                     n_boot: int = 200, confidence: float = DEFAULT_CONFIDENCE, seed=0, progress: bool = False):
    """Power of every readers × cases design by simulation from a pilot, and the smallest design.

    Parameters
    ----------
    data : pandas.DataFrame or RatingsMatrix
        Pilot table, one row per case × rater, the model one of the raters (≥ 2 readers).
    model : str
        The model's name in the rater column.
    margin : float
        Non-inferiority margin of θ = D_MR − D_RR.
    power : float
        Wanted power (share of studies calling the model non-inferior).
    readers, cases : sequence of int
        Designs: readers (≥ 3, readers random) × cases.
    metric : {"mae", "msd"}
    case, rater, score : str
        Column names.
    n_sim, n_boot : int
        Simulated studies per design and bootstrap resamples per study.
    confidence, seed
        Confidence level of the interval (the test is one-sided at (1 − confidence)/2); seed.
    progress : bool
        Show a tqdm progress bar over the designs.

    Returns
    -------
    pandas.DataFrame
        One row per design: ``n_readers, n_cases, readings, power, power_se, reaches``.
        ``attrs``: ``components`` (dict), ``theta`` (planning θ), ``margin``, ``power``,
        ``smallest`` (the design reaching the power with the fewest readings, fewer readers
        first; None when none does), ``n_sim``, ``n_boot``, ``confidence``.

    References
    ----------
    .. [1] Obuchowski NA, Rockette HE (1995). Commun Stat Simul Comput 24(2):285-308.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4,
    ...                   "rater": ["ai", "r1", "r2", "r3"] * 4,
    ...                   "score": [2, 2, 3, 1, 5, 4, 6, 5, 0, 1, 0, 0, 7, 6, 8, 8]})
    >>> plan = equivalence_plan(t, model="ai", margin=0.5, readers=(3,), cases=(20,), n_sim=5)
    >>> plan[["n_readers", "n_cases", "readings"]].values.tolist()
    [[3, 20, 60]]
    """
    import pandas as pd
    from tqdm.auto import tqdm

    _check_options(metric, "random", n_boot, confidence)
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, not {power!r}")
    for name, values, low in (("readers", readers, 3), ("cases", cases, 3)):
        if not len(values) or any(int(v) != v or v < low for v in values):
            raise ValueError(f"{name} must be whole numbers ≥ {low}, not {tuple(values)!r}")
    components = equivalence_components(data, model=model, case=case, rater=rater, score=score)
    designs = [(int(r), int(n)) for r in sorted(set(readers)) for n in sorted(set(cases))]
    rows = []
    for k, (r, n) in enumerate(tqdm(designs, desc="designs", disable=not progress)):
        p = equivalence_power(components, n_readers=r, n_cases=n, margin=margin, metric=metric,
                              n_sim=n_sim, n_boot=n_boot, confidence=confidence,
                              seed=np.random.SeedSequence(seed).spawn(len(designs))[k])
        rows.append({"n_readers": r, "n_cases": n, "readings": r * n, "power": p,
                     "power_se": float(np.sqrt(p * (1 - p) / n_sim)), "reaches": p >= power})
    table = pd.DataFrame(rows)
    reaching = table[table["reaches"]].sort_values(["readings", "n_readers"])
    smallest = None if reaching.empty else {
        key: int(reaching.iloc[0][key]) for key in ("n_readers", "n_cases")}
    if smallest is not None:
        smallest["power"] = float(reaching.iloc[0]["power"])
    table.attrs.update(components={k: v for k, v in asdict(components).items()
                                   if k != "case_means"},
                       theta=components.theta(metric), margin=margin, power=power,
                       smallest=smallest, n_sim=n_sim, n_boot=n_boot, confidence=confidence,
                       metric=metric)
    return table
