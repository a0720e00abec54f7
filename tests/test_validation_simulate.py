"""The simulated multi-rater cohort: seeded, in range, and the biases put in come back out."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from covsev_tools.model.outputs import OUTPUT_COLUMNS
from covsev_tools.datasets import load_published_labels
from covsev_tools.datasets.simulate import LUNG_MAX, SimulationSettings, simulate_cohort


@pytest.fixture(scope="module")
def sim():
    return simulate_cohort(seed=7)


def test_published_labels_are_the_papers_94_images():
    labels = load_published_labels()
    assert list(labels.columns) == ["filename", "geographic_mean", "opacity_mean"]
    assert len(labels) == 94 and labels["filename"].is_unique
    assert labels["geographic_mean"].between(0, 8).all() and labels["opacity_mean"].between(0, 6).all()
    # first data row of the published file
    assert labels.iloc[0].tolist() == ["01E392EE-69F9-4E33-BFCE-E5C968654078.jpeg", 6.0, 4.0]


def test_same_seed_same_tables_other_seed_differs():
    a, b, c = simulate_cohort(seed=3), simulate_cohort(seed=3), simulate_cohort(seed=4)
    pdt.assert_frame_equal(a.ratings, b.ratings)
    pdt.assert_frame_equal(a.predictions, b.predictions)
    pdt.assert_frame_equal(a.key, b.key)
    assert not a.ratings["score"].equals(c.ratings["score"])


def test_scores_are_integers_in_range_and_totals_add_up(sim):
    r = sim.ratings
    rated = r[r["score"].notna()]
    assert (rated["score"] == rated["score"].round()).all()
    for scale, lung_max in LUNG_MAX.items():
        lungs = rated[(rated["scale"] == scale) & rated["component"].isin(["right", "left"])]
        assert lungs["score"].between(0, lung_max).all()
        assert lungs["score"].max() == lung_max and lungs["score"].min() == 0
    wide = rated.pivot_table(index=["display_id", "rater", "scale"], columns="component",
                             values="score")
    np.testing.assert_array_equal(wide["total"], wide["right"] + wide["left"])


def test_empty_scores_only_when_not_assessable(sim):
    r = sim.ratings
    assert r["not_assessable"].any()
    assert (r["score"].isna() == r["not_assessable"]).all()


def test_hidden_repeats_resolve_to_their_case(sim):
    r = sim.ratings
    repeats = r[r["is_repeat"]]
    assert set(repeats["display_id"]) == set(sim.repeats["repeat_id"])
    assert not set(repeats["display_id"]) & set(sim.key["case_id"])
    mapping = dict(zip(sim.repeats["repeat_id"], sim.repeats["case_id"]))
    assert (repeats["case_id"] == repeats["display_id"].map(mapping)).all()
    assert len(sim.repeats) == round(0.15 * 94)


def test_export_columns_and_metadata(sim):
    for column in ("cohort", "case_id", "display_id", "is_repeat", "rater", "scale",
                   "scale_version", "component", "score", "not_assessable", "filename",
                   "patientid", "offset", "view", "sex"):
        assert column in sim.ratings.columns
    assert sim.key["case_id"].is_unique and len(sim.key) == 94
    assert (sim.key.groupby("patientid")["offset"].min() == 0).all()
    assert sim.key["patientid"].value_counts().max() >= 2  # some patients have follow-up images


def test_known_rater_bias_is_recovered():
    # mid-range truth so that clipping at 0 and at the maximum does not attenuate the bias
    truth = pd.DataFrame({"filename": [f"img{i}.png" for i in range(3000)],
                          "geographic_mean": 4.0, "opacity_mean": 3.0})
    settings = SimulationSettings(rater_bias=(-0.5, 0.0, 0.25, 0.5), repeat_fraction=0.0,
                                  failed_predictions=0, not_assessable=0.0)
    sim = simulate_cohort(truth, settings, seed=1)
    totals = sim.ratings[(sim.ratings["component"] == "total") & (sim.ratings["scale"] == "extent")]
    bias = (totals.groupby("rater")["score"].mean() - 4.0).to_numpy()
    np.testing.assert_allclose(bias, [-1.0, 0.0, 0.5, 1.0], atol=0.06)  # two lungs per total


def test_predictions_follow_the_published_mapping_with_realistic_error(sim):
    p = sim.predictions
    assert [c for c in p.columns if c.startswith("xrv:")] == list(OUTPUT_COLUMNS)
    ok = p[p["error"] == ""]
    assert (p["error"] != "").sum() == 1 and p.loc[p["error"] != "", "opacity"].isna().all()
    expected = np.clip(0.8705248236656189 * ok["xrv:Lung Opacity"] + 3.4137437, 0, 8)
    np.testing.assert_allclose(ok["geographic_extent"], expected)
    truth = sim.truth.set_index("case_id")["extent"]
    mae = (ok.set_index("case_id")["geographic_extent"] - truth).abs().mean()
    assert 0.8 < mae < 1.4  # the paper's extent MAE is 1.14
