"""Scale linking (covsev_tools.linking): hand computation, symmetry, standard errors, resampling, bad input."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings, strategies as st
from scipy import stats

from covsev_tools.agreement.bootstrap import Resampling
from covsev_tools.linking import LinkInputError, link_scales
from covsev_tools.linking.link import demo_table
from covsev_tools.linking.methods import Grid, delta_method_se, percentile_point, percentile_rank, presmooth

# A small single-group table: source 0-3, target 0-2, ten cases.
X = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
Y = [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
TABLE = pd.DataFrame({"src": X, "tgt": Y})


def test_mean_sigma_equals_hand_computation():
    # μX = 2, σX² = 1, μY = 1.2, σY² = 2.0 − 1.44 = 0.56: l(x) = √0.56 (x − 2) + 1.2
    link = link_scales(TABLE, source="src", target="tgt", method="mean-sigma", n_boot=0)
    expected = [math.sqrt(0.56) * (x - 2) + 1.2 for x in (0, 1, 2, 3)]
    assert np.allclose(link.table["estimate"], expected, atol=1e-9, rtol=0)
    assert link.table.index.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.allclose(link.apply([0.5, 2.5]), [math.sqrt(0.56) * (x - 2) + 1.2 for x in (0.5, 2.5)],
                       atol=1e-9, rtol=0)


def test_equipercentile_equals_hand_computation():
    # Kolen & Brennan §2.5: f_X = .1 .2 .3 .4, P_X(x) = F(x−1) + .5 f(x) = .05 .2 .45 .8 (and at 1.25:
    # .1 + .75·.2 = .25); f_Y = .2 .4 .4, P_Y⁻¹(p) = (p − F(xU − 1))/f(xU) + xU − .5 with xU the first
    # score with F_Y > p: −.25, .5, 1.125, 2.0 and (.25 − .2)/.4 + .5 = .625.
    link = link_scales(TABLE, source="src", target="tgt", method="equipercentile", n_boot=0)
    assert np.allclose(link.table["estimate"], [-0.25, 0.5, 1.125, 2.0], atol=1e-9, rtol=0)
    assert abs(link.apply([1.25])[0] - 0.625) < 1e-9
    f = np.array([[0.1, 0.2, 0.3, 0.4]])
    assert np.allclose(percentile_rank(f, Grid(0.0, 1.0, 4), [-1, 0, 1, 1.25, 3, 3.5]),
                       [[0, 0.05, 0.2, 0.25, 0.8, 1.0]], atol=1e-12)
    # the target's percentile points, including both ends (−½ and K + ½ steps)
    fy = np.array([[0.2, 0.4, 0.4]])
    assert np.allclose(percentile_point(fy, Grid(0.0, 1.0, 3), np.array([[0.0, 0.6, 1.0]])),
                       [[-0.5, 1.5, 2.5]], atol=1e-12)


def test_equipercentile_on_a_half_point_grid_equals_the_integer_one_rescaled():
    # means of two raters (steps of ½) give the same link as twice the scores, halved
    halves = TABLE.assign(src=TABLE["src"] / 2)
    link = link_scales(halves, source="src", target="tgt", method="equipercentile", n_boot=0)
    assert np.allclose(link.apply([0.0, 0.5, 1.0, 1.5]), [-0.25, 0.5, 1.125, 2.0], atol=1e-9)


def test_linear_equals_least_squares():
    link = link_scales(TABLE, source="src", target="tgt", method="linear", n_boot=0)
    fit = stats.linregress(X, Y)
    assert abs(link.parameters["slope"] - 0.7) < 1e-12 and abs(fit.slope - 0.7) < 1e-12
    assert abs(link.parameters["intercept"] - fit.intercept) < 1e-12


def test_presmoothing_equals_statsmodels_poisson_glm():
    sm = pytest.importorskip("statsmodels.api")
    counts = np.array([3.0, 7, 12, 9, 14, 6, 2, 1, 0, 1])
    grid = Grid(0.0, 1.0, counts.size)
    u = (grid.points - grid.points.mean()) / grid.points.std()
    for degree in (2, 3):
        glm = sm.GLM(counts, np.vander(u, degree + 1, increasing=True), family=sm.families.Poisson())
        expected = glm.fit(tol=1e-14).mu
        ours = presmooth(counts[None, :] / counts.sum(), grid, degree, counts.sum())[0]
        assert np.allclose(ours, expected / expected.sum(), atol=1e-9, rtol=0)
        # a degree-C fit keeps the first C moments
        assert abs((ours * grid.points).sum() - (counts * grid.points).sum() / counts.sum()) < 1e-9


@pytest.mark.parametrize("method,presmoothing", [("mean-sigma", None), ("linear", None),
                                                 ("equipercentile", None), ("equipercentile", 3)])
def test_links_are_monotone(method, presmoothing):
    link = link_scales(demo_table(60, seed=4), source="brixia", target="extent", method=method,
                       presmooth=presmoothing, n_boot=50, seed=1)
    assert np.all(np.diff(link.table["estimate"]) > 0)
    fine = link.apply(np.linspace(*link.source_range, 400))
    assert np.all(np.diff(fine) >= -1e-12)
    assert (link.table["ci_low"] <= link.table["estimate"] + 1e-9).all()


@pytest.mark.parametrize("method", ["mean-sigma", "equipercentile"])
def test_inverse_round_trips(method):
    table = demo_table(40, seed=2)
    link = link_scales(table, source="brixia", target="extent", method=method, n_boot=0)
    # score points the fitting cases have (where a score has no case, equipercentile is flat)
    scores = np.unique(table["brixia"])[1::3]
    assert np.allclose(link.inverse(link.apply(scores)), scores, atol=1e-9)
    linear = link_scales(demo_table(), source="brixia", target="extent", method="linear", n_boot=0)
    with pytest.raises(LinkInputError, match="not symmetric"):
        linear.inverse([2.0])


def test_mean_sigma_bootstrap_se_agrees_with_delta_method():
    rng = np.random.default_rng(11)
    n = 2000
    x = rng.normal(9.0, 3.0, n)
    y = 0.4 * x + rng.normal(0.0, 0.8, n)
    link = link_scales(pd.DataFrame({"x": x, "y": y}), source="x", target="y", n_boot=2000, seed=5)
    points = np.arange(4.0, 15.0)
    delta = delta_method_se(x, y, points)
    boot = link.table.loc[points, "se"].to_numpy()
    assert np.all(np.abs(boot / delta - 1) < 0.10), (boot / delta).round(3)


def test_cluster_resampled_link_equals_a_plain_loop():
    table = demo_table(12, seed=3).assign(patient_id=list("aabbbcddeeff"))
    link = link_scales(table, source="brixia", target="extent", n_boot=40, seed=9)
    assert link.provenance["unit"] == "patient" and link.provenance["n_clusters"] == 6
    patients = sorted(set(table["patient_id"]), key=list(table["patient_id"]).index)
    draws = np.random.default_rng(9).integers(0, len(patients), size=(40, len(patients)))
    for b, drawn in enumerate(draws):
        rows = pd.concat([table[table["patient_id"] == patients[i]] for i in drawn])
        slope = rows["extent"].std(ddof=0) / rows["brixia"].std(ddof=0)
        intercept = rows["extent"].mean() - slope * rows["brixia"].mean()
        assert abs(link.replicates["slope"][b] - slope) < 1e-9
        assert abs(link.replicates["intercept"][b] - intercept) < 1e-9
    # leave one patient out, by hand
    errors = []
    for patient in patients:
        rest, out = table[table["patient_id"] != patient], table[table["patient_id"] == patient]
        slope = rest["extent"].std(ddof=0) / rest["brixia"].std(ddof=0)
        predicted = slope * (out["brixia"] - rest["brixia"].mean()) + rest["extent"].mean()
        errors.extend(predicted - out["extent"])
    assert abs(link.loo_mae - np.mean(np.abs(errors))) < 1e-9
    assert abs(link.loo_rmse - np.sqrt(np.mean(np.square(errors)))) < 1e-9


def test_bootstrap_uses_the_agreement_kernel_draws():
    link = link_scales(demo_table(), source="brixia", target="extent", n_boot=30, seed=2)
    weights = Resampling(30, 30, 2).weights()[1:]
    x, y = demo_table()["brixia"].to_numpy(), demo_table()["extent"].to_numpy()
    b = 7
    w = weights[b]
    mx, my = (w * x).sum() / 30, (w * y).sum() / 30
    slope = math.sqrt((w * (y - my) ** 2).sum() / (w * (x - mx) ** 2).sum())
    assert abs(link.replicates["slope"][b] - slope) < 1e-9


def test_seeded_links_are_reproducible_and_case_loo_matches_loop():
    table = demo_table(25, seed=8)
    a = link_scales(table, source="brixia", target="extent", method="equipercentile", n_boot=30, seed=4)
    b = link_scales(table, source="brixia", target="extent", method="equipercentile", n_boot=30, seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    errors = []
    for i in range(len(table)):
        rest = table.drop(index=i)
        fit = link_scales(rest, source="brixia", target="extent", method="equipercentile", n_boot=0)
        # the left-out fit keeps the full sample's score points (a case at an end stays on the grid)
        fx = np.bincount(rest["brixia"].astype(int) - int(table["brixia"].min()),
                         minlength=int(np.ptp(table["brixia"])) + 1) / len(rest)
        fy = np.bincount(rest["extent"].astype(int) - int(table["extent"].min()),
                         minlength=int(np.ptp(table["extent"])) + 1) / len(rest)
        gx = Grid(float(table["brixia"].min()), 1.0, fx.size)
        gy = Grid(float(table["extent"].min()), 1.0, fy.size)
        rank = percentile_rank(fx[None], gx, [table.loc[i, "brixia"]])
        errors.append(percentile_point(fy[None], gy, rank)[0, 0] - table.loc[i, "extent"])
        assert fit.n_replicates == 0
    assert abs(a.loo_mae - np.mean(np.abs(errors))) < 1e-9


def test_scores_outside_the_fitted_range_are_clamped_with_a_warning():
    link = link_scales(TABLE, source="src", target="tgt", n_boot=0)
    with pytest.warns(UserWarning, match="2 src score.*outside the fitted range 0-3"):
        linked = link.apply([-2, 1, 7, np.nan])
    assert linked[0] == link.apply([0])[0] and linked[2] == link.apply([3])[0]
    assert np.isnan(linked[3])


@pytest.mark.parametrize("change,options,message", [
    (lambda t: t, {"target": "nope"}, "no column 'nope' \\(--target\\)"),
    (lambda t: t.assign(src=t["src"].astype(object).where(t.index != 3, "x")), {},
     "non-numeric scores in column 'src' at row 3"),
    (lambda t: t.head(9), {}, "at least 10 cases scored on both 'src' and 'tgt'; found 9"),
    (lambda t: t.assign(tgt=t["tgt"].where(t.index > 0)), {}, "found 9"),
    (lambda t: t, {"method": "zscore"}, "unknown --method 'zscore'"),
    (lambda t: t, {"presmooth": 2}, "--presmooth"),
    (lambda t: t.assign(src=t["src"] + 0.123), {"method": "equipercentile"}, "needs discrete scores; 'src'"),
    (lambda t: t.assign(case=[1, 1] + list(range(8))), {"case": "case"}, "more than once in 'case': 1"),
    (lambda t: t.assign(site=list(range(10))), {"cluster": "patient"}, "missing cluster \\(patient\\) column"),
    (lambda t: t.assign(tgt=2), {}, "'tgt' has the same score \\(2\\) for every double-scored case"),
])
def test_bad_input_is_named(change, options, message):
    options = {"source": "src", "target": "tgt", "n_boot": 0, **options}
    with pytest.raises(LinkInputError, match=message):
        link_scales(change(TABLE.copy()), **options)


def test_link_error_is_a_covsev_error_with_one_line():
    from covsev_tools.errors import CovsevError

    with pytest.raises(CovsevError) as caught:
        link_scales(TABLE.head(3), source="src", target="tgt")
    assert "\n" not in str(caught.value)


def test_no_warning_inside_the_range():
    link = link_scales(TABLE, source="src", target="tgt", n_boot=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        link.apply([0, 3])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 18), st.integers(0, 8)), min_size=10, max_size=60))
def test_equipercentile_is_monotone_and_inverts_at_observed_scores_on_any_table(rows):
    table = pd.DataFrame(rows, columns=["brixia", "extent"])
    assume(table["brixia"].nunique() > 1 and table["extent"].nunique() > 1)
    for presmoothing in (None, 2):
        link = link_scales(table, source="brixia", target="extent", method="equipercentile",
                           presmooth=presmoothing, n_boot=0)
        fine = link.apply(np.linspace(*link.source_range, 200))
        assert np.all(np.diff(fine) >= -1e-9)
    # without presmoothing every observed score has a percentile-rank width of its own
    observed = np.unique(table["brixia"]).astype(float)
    link = link_scales(table, source="brixia", target="extent", method="equipercentile", n_boot=0)
    assert np.allclose(link.inverse(link.apply(observed)), observed, atol=1e-9)
