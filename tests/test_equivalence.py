"""Reader-random equivalence of a model and the readers (issue 24): ``pytest -k equivalence``."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from covsev_tools.agreement import AgreementInputError, RatingsMatrix, model_equivalence
from covsev_tools.agreement._table import as_matrix, resampling
from covsev_tools.agreement.equivalence import equivalence_replicates, reader_counts


def long_table(wide: dict, patients=None) -> pd.DataFrame:
    """Tidy table from {rater: [score per case]} (None = missing reading)."""
    rows = []
    for name, scores in wide.items():
        for i, value in enumerate(scores):
            row = {"case": f"c{i}", "rater": name, "score": np.nan if value is None else value}
            if patients is not None:
                row["patient_id"] = patients[i]
            rows.append(row)
    return pd.DataFrame(rows)


def d(x, y, metric="mae"):
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    f = abs if metric == "mae" else (lambda v: v * v)
    return sum(f(a - b) for a, b in pairs) / len(pairs)


WIDE = {"ai": [2, 5, 0, 7, 3], "r1": [2, 4, 1, 8, None], "r2": [3, 6, 0, 6, 3],
        "r3": [1, 5, 0, None, 4], "r4": [2, 4, 2, 7, 2]}


@pytest.mark.parametrize("metric", ["mae", "msd"])
def test_equivalence_point_estimates_equal_hand_computation_with_missing_readings(metric):
    readers = [r for r in WIDE if r != "ai"]
    d_mr = np.mean([d(WIDE["ai"], WIDE[r], metric) for r in readers])
    pair_d = [d(WIDE[a], WIDE[b], metric) for a, b in combinations(readers, 2)]
    d_rr = np.mean(pair_d)
    williams = (np.mean([1 / d(WIDE["ai"], WIDE[r], metric) for r in readers])
                / np.mean([1 / v for v in pair_d]))
    out = model_equivalence(long_table(WIDE), model="ai", margin=0.3, metric=metric, n_boot=0)
    expected = [d_mr, d_rr, d_mr - d_rr, d_mr / d_rr, williams]
    np.testing.assert_allclose(out["estimate"].to_numpy(), expected, rtol=1e-12)
    assert list(out.index) == ["model_reader", "reader_reader", "excess_disagreement",
                               "disagreement_ratio", "williams_index"]
    assert (out["n"] == 5).all() and (out["n_readers"] == 4).all()
    assert (out["readers"] == "random").all() and (out["metric"] == metric).all()
    assert out.loc["excess_disagreement", "margin"] == 0.3
    assert out.attrs["confidence"] == 0.95 and out.attrs["model"] == "ai"


def test_equivalence_hand_example_and_the_default_margin():
    # ai-r1 2/3, ai-r2 2/3, ai-r3 1/3 -> D_MR 5/9; r1-r2 4/3, r1-r3 1, r2-r3 1 -> D_RR 10/9
    table = long_table({"ai": [2, 5, 0], "r1": [2, 4, 1], "r2": [3, 6, 0], "r3": [1, 5, 0]})
    out = model_equivalence(table, model="ai", n_boot=0)
    assert out.loc["model_reader", "estimate"] == pytest.approx(5 / 9)
    assert out.loc["reader_reader", "estimate"] == pytest.approx(10 / 9)
    assert out.loc["williams_index", "estimate"] == pytest.approx(2 / (11 / 12))
    assert out.attrs["margin"] == pytest.approx(0.25 * 10 / 9)
    assert out.attrs["margin_rule"] == "0.25 × reader_reader"
    assert np.isnan(out.loc["excess_disagreement", "ci_high"])


def _loop_replicate(scores, model, readers, patient_of, case_weight, reader_count):
    """θ of one resample by plain loops: patients drawn with all their images, readers drawn,
    pairs of draws of the same reader left out."""
    cases = []
    for p in sorted(set(patient_of)):
        images = [i for i, q in enumerate(patient_of) if q == p]
        times = case_weight[images[0]]
        assert all(case_weight[i] == times for i in images)  # a patient moves with all images
        cases += images * int(times)
    draws = [r for r, c in zip(readers, reader_count) for _ in range(int(c))]

    def dis(a, b):
        diffs = [abs(scores[i, a] - scores[i, b]) for i in cases
                 if np.isfinite(scores[i, a]) and np.isfinite(scores[i, b])]
        return sum(diffs) / len(diffs)

    d_mr = sum(dis(model, r) for r in draws) / len(draws)
    pair_values = [dis(a, b) for a, b in combinations(draws, 2) if a != b]
    d_rr = sum(pair_values) / len(pair_values) if pair_values else np.nan
    return d_mr, d_rr


def test_equivalence_patient_two_way_bootstrap_equals_a_plain_loop_over_resamples():
    rng = np.random.default_rng(5)
    patients = ["P0", "P0", "P1", "P2", "P2", "P2", "P3", "P4", "P4", "P5"]
    wide = {name: [float(v) for v in rng.integers(0, 9, 10)] for name in
            ("ai", "r1", "r2", "r3", "r4")}
    wide["r2"][3] = None
    wide["ai"][0] = None
    matrix = as_matrix(long_table(wide, patients), cluster="patient_id")
    model = matrix.raters.index("ai")
    readers = [j for j in range(len(matrix.raters)) if j != model]
    patient_of = [patients[int(c[1:])] for c in matrix.cases]
    values = equivalence_replicates(matrix, model, n_boot=60, seed=11)
    weights = resampling(matrix, 60, 11).weights()
    counts = reader_counts(len(readers), 60, 11)
    assert values.shape == (61, 5)
    for b in range(61):
        d_mr, d_rr = _loop_replicate(matrix.scores, model, readers, patient_of, weights[b],
                                     counts[b])
        assert values[b, 0] == pytest.approx(d_mr, rel=1e-12)
        if np.isnan(d_rr):
            assert np.isnan(values[b, 1])
        else:
            assert values[b, 1] == pytest.approx(d_rr, rel=1e-12)
            assert values[b, 2] == pytest.approx(d_mr - d_rr, rel=1e-12, abs=1e-12)
    assert np.isnan(values[:, 1]).sum() == (np.count_nonzero(counts, axis=1) == 1).sum()


def test_equivalence_reader_draws_are_multinomial_and_fixed_readers_are_not_resampled():
    counts = reader_counts(3, 20_000, seed=1)
    assert (counts.sum(axis=1) == 3).all()
    single = (np.count_nonzero(counts[1:], axis=1) == 1).mean()
    assert single == pytest.approx(1 / 9, abs=0.01)  # R^(1-R) with 3 readers
    assert (reader_counts(3, 5, readers="fixed") == 1).all()
    # A seed gives the same draws; readers random with 3 readers reports its valid resamples.
    assert (reader_counts(4, 10, seed=3) == reader_counts(4, 10, seed=3)).all()
    table = long_table({"ai": [2, 5, 0, 4], "r1": [2, 4, 1, 3], "r2": [3, 6, 0, 5],
                        "r3": [1, 5, 0, 4]})
    out = model_equivalence(table, model="ai", margin=0.3, n_boot=900, seed=2)
    assert 700 < out.loc["reader_reader", "n_boot_valid"] < 900
    assert "Beiden" in out.loc["excess_disagreement", "method"]


def test_equivalence_bad_input():
    table = long_table({"ai": [2, 5, 0], "r1": [2, 4, 1], "r2": [3, 6, 0]})
    with pytest.raises(AgreementInputError, match="model 'cnn' is not a rater.*ai, r1, r2"):
        model_equivalence(table, model="cnn", margin=0.3)
    with pytest.raises(AgreementInputError, match="needs at least 3 readers.*found 2"):
        model_equivalence(table, model="ai", margin=0.3)
    fixed = model_equivalence(table, model="ai", margin=0.3, readers="fixed", n_boot=50)
    assert (fixed["readers"] == "fixed").all()
    assert "readers fixed" in fixed.loc["excess_disagreement", "method"]
    with pytest.raises(AgreementInputError, match="needs at least 2 readers"):
        model_equivalence(long_table({"ai": [1, 2], "r1": [1, 3]}), model="ai", readers="fixed")
    with pytest.raises(ValueError, match="metric"):
        model_equivalence(table, model="ai", metric="rmse", readers="fixed")
    with pytest.raises(ValueError, match="margin must be a finite number"):
        model_equivalence(table, model="ai", margin=float("nan"), readers="fixed")
    with pytest.raises(ValueError, match="readers must be"):
        model_equivalence(table, model="ai", readers="some")
    with pytest.raises(AgreementInputError, match="non-numeric"):
        model_equivalence(table.assign(score=["x"] + list(table.score[1:])), model="ai")


# --- coverage simulation -----------------------------------------------------------------
BIAS_SD, NOISE_SD = 0.5, 0.9  # reader bias and reading noise on a 0-8 scale (the figures)


def _mean_abs_normal(mean, sd):
    """E|N(mean, sd²)|, the folded normal mean."""
    return sd * np.sqrt(2 / np.pi) * np.exp(-mean ** 2 / (2 * sd ** 2)) + mean * (
        1 - 2 * stats.norm.cdf(-mean / sd))


def population_theta(model_bias, model_noise=NOISE_SD):
    """θ of a model with this bias against the population of readers (readers random)."""
    d_mr = _mean_abs_normal(model_bias, np.sqrt(BIAS_SD ** 2 + NOISE_SD ** 2 + model_noise ** 2))
    d_rr = _mean_abs_normal(0.0, np.sqrt(2 * BIAS_SD ** 2 + 2 * NOISE_SD ** 2))
    return d_mr - d_rr


def simulated_study(rng, n_readers=5, n_cases=100, model_noise=NOISE_SD):
    truth = rng.uniform(0, 8, n_cases)[:, None]
    readers = truth + rng.normal(0, BIAS_SD, n_readers) + rng.normal(0, NOISE_SD,
                                                                      (n_cases, n_readers))
    model_bias = rng.normal(0, BIAS_SD)
    model = truth[:, 0] + model_bias + rng.normal(0, model_noise, n_cases)
    scores = np.column_stack([model, readers])
    matrix = RatingsMatrix(scores=scores, cases=list(range(n_cases)),
                           raters=["model"] + [f"r{j}" for j in range(n_readers)],
                           categories=None, categories_source="none")
    return matrix, model_bias


def test_equivalence_population_theta_agrees_with_monte_carlo():
    rng = np.random.default_rng(0)
    n = 2_000_000
    bias = 0.7
    readers_bias = rng.normal(0, BIAS_SD, n)
    d_mr = np.abs(bias + rng.normal(0, NOISE_SD, n) - readers_bias - rng.normal(0, NOISE_SD, n))
    d_rr = np.abs(rng.normal(0, BIAS_SD, n) + rng.normal(0, NOISE_SD, n) - readers_bias
                  - rng.normal(0, NOISE_SD, n))
    assert d_mr.mean() - d_rr.mean() == pytest.approx(population_theta(bias), abs=0.005)


def test_equivalence_coverage_random_readers_at_least_90_percent_fixed_lower():
    """200 studies of 5 readers × 100 cases, the model one more reader of the population."""
    rng = np.random.default_rng(2024)
    covered = {"random": 0, "fixed": 0}
    n_studies = 200
    for study in range(n_studies):
        matrix, model_bias = simulated_study(rng)
        theta = population_theta(model_bias)
        for readers in covered:
            out = model_equivalence(matrix, model="model", margin=0.3, readers=readers,
                                    n_boot=1000, seed=study)
            row = out.loc["excess_disagreement"]
            covered[readers] += row.ci_low <= theta <= row.ci_high
    coverage = {k: v / n_studies for k, v in covered.items()}
    print(f"coverage of the 95% interval over {n_studies} studies: {coverage}")
    assert coverage["random"] >= 0.90
    assert coverage["fixed"] < coverage["random"]


def test_equivalence_noisier_model_is_not_called_noninferior_in_most_studies():
    rng = np.random.default_rng(7)
    margin = 0.25 * _mean_abs_normal(0.0, np.sqrt(2 * BIAS_SD ** 2 + 2 * NOISE_SD ** 2))
    calls = []
    for study in range(100):
        matrix, _ = simulated_study(rng, model_noise=2 * NOISE_SD)
        out = model_equivalence(matrix, model="model", margin=margin, n_boot=500, seed=study)
        row = out.loc["excess_disagreement"]
        assert row.noninferior == (row.ci_high < margin)
        assert (row.p_value < 0.025) == row.noninferior or abs(row.p_value - 0.025) < 0.01
        calls.append(row.noninferior)
    assert np.mean(calls) < 0.1


# --- planning -------------------------------------------------------------------------------
def test_equivalence_pilot_components_equal_statsmodels_two_way_anova():
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    from covsev_tools.agreement.equivalence_planning import equivalence_components

    rng = np.random.default_rng(3)
    wide = {"ai": rng.integers(0, 9, 30)}
    base = rng.integers(0, 9, 30)
    wide.update({f"r{j}": np.clip(base + rng.integers(-1, 2, 30) + j % 2, 0, 8) for j in range(4)})
    table = long_table({k: v.tolist() for k, v in wide.items()})
    c = equivalence_components(table, model="ai")
    readers = table[table.rater != "ai"]
    anova = sm.stats.anova_lm(smf.ols("score ~ C(case) + C(rater)", data=readers).fit())
    ms_error, ms_rater = anova.loc["Residual", "mean_sq"], anova.loc["C(rater)", "mean_sq"]
    assert c.residual_sd ** 2 == pytest.approx(ms_error, rel=1e-10)
    assert c.reader_sd ** 2 == pytest.approx(max((ms_rater - ms_error) / 30, 0), rel=1e-10)
    reader_mean = np.mean([wide[f"r{j}"] for j in range(4)], axis=0)
    assert c.model_bias == pytest.approx((wide["ai"] - reader_mean).mean())
    assert c.model_sd ** 2 == pytest.approx(
        max(np.var(wide["ai"] - reader_mean, ddof=1) - ms_error / 4, 0.01 * ms_error))


def test_equivalence_plan_design_at_80_percent_power_gives_75_to_85_percent_independently():
    from covsev_tools.agreement.equivalence_planning import equivalence_plan

    rng = np.random.default_rng(42)
    n, n_readers = 300, 6
    truth = rng.uniform(0, 8, n)[:, None]
    pilot_readers = truth + rng.normal(0, 0.5, n_readers) + rng.normal(0, 0.9, (n, n_readers))
    pilot_scores = np.column_stack([truth[:, 0] + 0.1 + rng.normal(0, 0.9, n), pilot_readers])
    pilot = long_table(dict(zip(["ai"] + [f"r{j}" for j in range(n_readers)],
                                pilot_scores.T.tolist())))
    plan = equivalence_plan(pilot, model="ai", margin=0.35, readers=(4,),
                            cases=tuple(range(40, 201, 20)), n_sim=200, seed=1)
    smallest = plan.attrs["smallest"]
    assert smallest is not None and 0.8 <= smallest["power"] <= 0.86
    assert (plan[plan.n_cases < smallest["n_cases"]]["power"] < 0.8).all()
    # an independent simulation of that design from the plan's planning values, through the
    # public function
    c = plan.attrs["components"]
    rng = np.random.default_rng(2025)
    calls = []
    for study in range(300):
        m, r = smallest["n_cases"], smallest["n_readers"]
        severity = rng.uniform(0, 8, m)[:, None]
        readers = severity + rng.normal(0, c["reader_sd"], r) + rng.normal(0, c["residual_sd"],
                                                                            (m, r))
        model = severity[:, 0] + c["model_bias"] + rng.normal(0, c["model_sd"], m)
        matrix = RatingsMatrix(scores=np.column_stack([model, readers]), cases=list(range(m)),
                               raters=["ai"] + [f"r{j}" for j in range(r)], categories=None,
                               categories_source="none")
        out = model_equivalence(matrix, model="ai", margin=0.35, n_boot=400, seed=study)
        calls.append(bool(out.loc["excess_disagreement", "noninferior"]))
    power = np.mean(calls)
    print(f"plan: {smallest}; independent simulation: {power:.3f}")
    assert 0.75 <= power <= 0.85


def test_equivalence_plan_bad_options():
    from covsev_tools.agreement.equivalence_planning import equivalence_plan

    table = long_table(WIDE)
    with pytest.raises(ValueError, match="readers must be whole numbers ≥ 3"):
        equivalence_plan(table, model="ai", margin=0.3, readers=(2,))
    with pytest.raises(ValueError, match="power must be"):
        equivalence_plan(table, model="ai", margin=0.3, power=80)
    with pytest.raises(AgreementInputError, match="not a rater"):
        equivalence_plan(table, model="x", margin=0.3)
