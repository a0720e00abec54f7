"""Validation statistics: hand-checked leave-one-rater-out, paired bootstrap, parity with agreement."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covsev_tools import agreement
from covsev_tools.validation.inputs import InputError, ValidationInputs, tidy_ratings
from covsev_tools.validation.reference import reference_scores
from covsev_tools.validation.study import load_inputs
from covsev_tools.datasets.simulate import simulate_cohort
from covsev_tools.validation.validate import (calibration, complete_panel, leave_one_rater_out,
                                     longitudinal_pairs, model_summary_mae, model_vs_reference,
                                     model_within_raters_sentence, repeat_pairs, subgroup_columns,
                                     to_long, validate)

from covsev_tools.report.tables import statistic_columns
from covsev_tools.validation.raters import LORO_STATISTICS

from helpers import result_row, result_rows, bland_altman_fields


def _loro(panel, *args, **kwargs) -> pd.DataFrame:
    """leave_one_rater_out side by side per rater: rater_mae, model_mae, difference (+_ci_low/_ci_high)."""
    tidy = leave_one_rater_out(panel, *args, **kwargs)
    assert list(tidy.columns) == ["rater", "statistic", "estimate", "ci_low", "ci_high", "n", "method"]
    assert tidy.attrs["confidence"] == kwargs.get("confidence", 0.95)
    wide = statistic_columns(tidy, ["rater"], dict(zip(LORO_STATISTICS, ("rater_mae", "model_mae", "difference"))))
    return wide.assign(n=wide["rater_mae_n"])

# 4 cases x 3 raters + model; the expected values below are worked by hand.
PANEL = pd.DataFrame({"A": [0, 2, 4, 1], "B": [1, 2, 3, 1], "C": [2, 2, 5, 3],
                      "model": [1, 3, 4, 2]}, index=["c1", "c2", "c3", "c4"], dtype=float)


@pytest.fixture(scope="module")
def sim_inputs(tmp_path_factory):
    folder = simulate_cohort(seed=2).write(tmp_path_factory.mktemp("sim"))
    return load_inputs(folder / "ratings.csv", folder / "predictions.csv",
                       key_path=folder / "key.csv")


def test_leave_one_rater_out_by_hand():
    # A vs mean(B,C) = [1.5, 2, 4, 2]: |A - c| = [1.5, 0, 0, 1] -> 0.625; model [0.5, 1, 0, 0] -> 0.375
    # B vs mean(A,C) = [1, 2, 4.5, 2]: [0, 0, 1.5, 1] -> 0.625; model [0, 1, 0.5, 0] -> 0.375
    # C vs mean(A,B) = [0.5, 2, 3.5, 1]: [1.5, 0, 1.5, 2] -> 1.25; model [0.5, 1, 0.5, 1] -> 0.75
    loro = _loro(PANEL, "mean", n_boot=200, seed=0).set_index("rater")
    np.testing.assert_allclose(loro["rater_mae"], [0.625, 0.625, 1.25])
    np.testing.assert_allclose(loro["model_mae"], [0.375, 0.375, 0.75])
    np.testing.assert_allclose(loro["difference"], [-0.25, -0.25, -0.5])
    assert (loro["n"] == 4).all()
    for name in ("rater_mae", "model_mae", "difference"):
        assert (loro[f"{name}_ci_low"] <= loro[name]).all() and (loro[name] <= loro[f"{name}_ci_high"]).all()


def test_leave_one_rater_out_median_consensus():
    panel = PANEL.assign(D=[0.0, 0.0, 0.0, 0.0])[["A", "B", "C", "D", "model"]]
    loro = _loro(panel, "median", n_boot=10).set_index("rater")
    # D vs median(A,B,C) = [1, 2, 4, 1] -> |0 - .| mean = 2.0
    assert loro.loc["D", "rater_mae"] == pytest.approx(2.0)
    assert loro.loc["D", "model_mae"] == pytest.approx(np.mean([0, 1, 0, 1]))


def test_identical_predictions_give_exactly_zero_difference():
    panel = PANEL.assign(model=PANEL["B"])
    loro = _loro(panel, n_boot=500, seed=3).set_index("rater")
    row = loro.loc["B"]
    assert row["difference"] == 0.0
    assert row["difference_ci_low"] == 0.0 and row["difference_ci_high"] == 0.0


def test_paired_ci_is_seeded_and_covers_the_estimate(sim_inputs):
    panel = complete_panel(sim_inputs, "extent")
    a = _loro(panel, n_boot=300, seed=5)
    b = _loro(panel, n_boot=300, seed=5)
    c = _loro(panel, n_boot=300, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["difference_ci_low"].equals(c["difference_ci_low"])
    assert (a["difference_ci_low"] < a["difference"]).all() and (a["difference"] < a["difference_ci_high"]).all()


def test_sentence_reports_range_and_closest_rater():
    loro = leave_one_rater_out(PANEL, n_boot=100, seed=0)
    summary = model_summary_mae(PANEL, n_boot=100, seed=0)
    assert summary["estimate"].iloc[0] == pytest.approx(np.mean([0.375, 0.375, 0.75]))
    sentence = model_within_raters_sentence(loro, summary, "extent")
    # below the raters' range, but the paired interval to the closest rater crosses 0: no "better"
    assert "is below the range of the raters' own MAE (0.62–1.25)" in sentence
    assert "closest rater (A)" in sentence and "is −0.25 (−1.00 to 0.50), an interval that includes 0" in sentence


def test_model_vs_reference_equals_agreement_module(sim_inputs):
    table = model_vs_reference(sim_inputs, n_boot=100, seed=0).set_index(["scale", "statistic"])
    ref = sim_inputs.reference_total("extent")
    pred = sim_inputs.predictions["extent"]
    both = pd.concat([ref.rename("reference"), pred.rename("model")], axis=1).dropna()
    long = to_long(both)
    ccc = result_row(agreement.concordance_ccc(long, rater_a="model", rater_b="reference"))
    assert table.loc[("extent", "CCC"), "estimate"] == ccc["value"]
    assert table.loc[("extent", "CCC"), "ci_low_analytic"] == ccc["ci95"][0]
    assert table.loc[("extent", "Pearson r"), "estimate"] == result_row(agreement.pearson(long, rater_a="model", rater_b="reference"))["value"]
    assert table.loc[("extent", "Spearman ρ"), "estimate"] == result_row(agreement.spearman(long, rater_a="model", rater_b="reference"))["value"]
    ba = bland_altman_fields(agreement.bland_altman(long, rater_a="model", rater_b="reference"))
    assert table.loc[("extent", "Bias (pred − ref)"), "estimate"] == pytest.approx(ba["bias"], abs=1e-12)
    assert table.loc[("extent", "Upper LoA"), "estimate"] == pytest.approx(ba["loa_high"], abs=1e-12)
    assert table.loc[("extent", "MAE"), "estimate"] == pytest.approx((both["model"] - both["reference"]).abs().mean())


def test_icc_with_and_without_model_equals_agreement(sim_inputs):
    result = validate(sim_inputs, n_boot=50, seed=0)
    icc = result.tables["icc"].set_index(["scale", "panel", "form"])
    panel = complete_panel(sim_inputs, "opacity")
    direct = result_rows(agreement.icc(to_long(panel)))
    assert icc.loc[("opacity", "raters + model", "ICC(A,1)"), "estimate"] == direct["ICC2"]["value"]
    raters_only = result_rows(agreement.icc(to_long(panel.drop(columns="model"))))
    assert icc.loc[("opacity", "raters", "ICC(A,k)"), "ci_high"] == raters_only["ICC2k"]["ci95"][1]


def test_reference_mean_and_median_ignore_repeats():
    table = pd.DataFrame({"case_id": ["a"] * 4, "display_id": ["a", "a", "a", "r1"],
                          "is_repeat": ["false", "false", "false", "true"],
                          "rater": ["x", "y", "z", "x"], "scale": "extent", "component": "total",
                          "score": [2, 3, 7, 8]})
    ratings = tidy_ratings(table)
    assert reference_scores(ratings, "mean")["reference"].item() == 4.0
    assert reference_scores(ratings, "median")["reference"].item() == 3.0
    assert reference_scores(ratings, "mean")["n_raters"].item() == 3


def test_repeat_pairs_and_intra_rater(sim_inputs):
    pairs = repeat_pairs(sim_inputs.ratings, "extent")
    assert set(pairs.columns) == {"rater", "case", "first", "repeat"}
    result = validate(sim_inputs, n_boot=20, seed=0)
    intra = result.tables["intra_rater"].set_index(["scale", "rater", "statistic"])
    grp = pairs[pairs["rater"] == "R2"]
    assert (intra.loc[("extent", "R2"), "n"] == len(grp)).all()
    assert intra.loc[("extent", "R2", "MAE"), "estimate"] == pytest.approx((grp["first"] - grp["repeat"]).abs().mean())
    wide = pd.DataFrame({"1": grp["first"].to_numpy(), "2": grp["repeat"].to_numpy()})
    icc = result_rows(agreement.icc(to_long(wide)))["ICC2"]
    assert intra.loc[("extent", "R2", "ICC(A,1)"), "estimate"] == icc["value"]
    assert intra.loc[("extent", "R2", "ICC(A,1)"), "ci_low"] == icc["ci95"][0]
    kappa = agreement.cohen_kappa(to_long(wide), weights="quadratic", categories="0-8", n_boot=0)
    assert intra.loc[("extent", "R2", "Weighted κ (quadratic)"), "estimate"] == kappa["estimate"].iloc[0]


def test_calibration_recovers_a_known_line():
    cases = [f"c{i}" for i in range(20)]
    pred = np.linspace(0, 6, 20)
    inputs = ValidationInputs(
        None, pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
                            "reference": 1 + 0.5 * pred, "n_raters": np.nan}),
        pd.DataFrame({"extent": pred}, index=pd.Index(cases, name="case")),
        pd.DataFrame(index=pd.Index([], name="case")), "case_id", "mean", {})
    cal = calibration(inputs).set_index("statistic")
    assert cal.loc["Slope", "estimate"] == pytest.approx(0.5)
    assert cal.loc["Intercept", "estimate"] == pytest.approx(1.0)


def test_longitudinal_pairs_are_consecutive_images_of_a_patient():
    cases = ["a", "b", "c", "d"]
    inputs = ValidationInputs(
        None, pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
                            "reference": [1.0, 3.0, 2.0, 5.0], "n_raters": np.nan}),
        pd.DataFrame({"extent": [2.0, 2.5, 1.0, 4.0]}, index=pd.Index(cases, name="case")),
        pd.DataFrame({"patientid": ["p", "p", "p", "q"], "offset": [5, 0, 9, 0]},
                     index=pd.Index(cases, name="case")), "case_id", "mean", {})
    pairs = longitudinal_pairs(inputs, "extent")
    assert pairs[["case_from", "case_to"]].values.tolist() == [["b", "a"], ["a", "c"]]
    assert pairs["days"].tolist() == [5.0, 4.0]
    assert pairs["delta_reference"].tolist() == [-2.0, 1.0]
    assert pairs["delta_prediction"].tolist() == [-0.5, -1.0]


def test_subgroup_columns_default_and_requested():
    meta = pd.DataFrame({"view": ["AP", "PA"], "sex": ["M", "M"], "site": ["A", "B"]})
    assert subgroup_columns(meta) == ["view", "site"]  # sex has a single level
    with pytest.raises(KeyError, match="scanner"):
        subgroup_columns(meta, ["scanner"])


def test_ratings_missing_columns_is_a_clear_error(tmp_path):
    bad = tmp_path / "ratings.csv"
    pd.DataFrame({"case_id": ["a"], "rater": ["x"], "score": [1]}).to_csv(bad, index=False)
    preds = tmp_path / "p.csv"
    pd.DataFrame({"case_id": ["a"], "geographic_extent": [1.0]}).to_csv(preds, index=False)
    with pytest.raises(InputError, match=r"ratings\.csv: ratings are missing column\(s\) scale, component"):
        load_inputs(bad, preds)


def test_non_numeric_score_names_the_row(tmp_path):
    table = pd.DataFrame({"case_id": ["a", "a"], "rater": ["x", "y"], "scale": "extent",
                          "component": "total", "score": ["1", "two"]})
    with pytest.raises(InputError, match=r"row 3: score 'two' is not a number"):
        tidy_ratings(table, "r.csv")


def test_ratings_of_unknown_cases_are_refused(tmp_path):
    folder = simulate_cohort(seed=1).write(tmp_path / "sim")
    preds = pd.read_csv(folder / "predictions.csv")
    preds["case_id"] = "other-" + preds["case_id"]
    preds.to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(InputError, match=r"94 rated case\(s\) unknown to .*other\.csv"):
        load_inputs(folder / "ratings.csv", tmp_path / "other.csv")
    key = pd.read_csv(folder / "key.csv").iloc[:-1]  # the key no longer knows one rated case
    key.to_csv(tmp_path / "key.csv", index=False)
    with pytest.raises(InputError, match=r"1 rated case\(s\) unknown to .*key\.csv"):
        load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=tmp_path / "key.csv")


def test_hash_in_a_comment_does_not_cut_the_row(tmp_path):
    folder = simulate_cohort(seed=1).write(tmp_path / "sim")
    ratings = pd.read_csv(folder / "ratings.csv")
    ratings["comment"] = "see #3"
    ratings.to_csv(folder / "ratings.csv", index=False)
    inputs = load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=folder / "key.csv")
    assert inputs.raters == ["R1", "R2", "R3", "R4"]
    assert inputs.metadata["view"].notna().all()


def test_reference_only_input_skips_the_multi_rater_sections(tmp_path):
    from covsev_tools.datasets import published_labels_path

    sim = simulate_cohort(seed=0)
    sim.predictions.drop(columns="case_id").to_csv(tmp_path / "p.csv", index=False)
    inputs = load_inputs(published_labels_path(), tmp_path / "p.csv")
    assert inputs.case_key == "filename" and inputs.reference_method == "published"
    result = validate(inputs, n_boot=20)
    assert "model_as_rater" not in result.tables and "model_as_rater" in result.notes
    assert result.tables["model_vs_reference"]["n"].iloc[0] == 93


def test_out_of_fold_refit_recovers_an_exact_line():
    from covsev_tools.validation.external import out_of_fold

    x = np.linspace(-3, 3, 40)
    groups = np.repeat(np.arange(20), 2)  # two images per patient
    pred = out_of_fold(x, 0.5 * x + 3, groups, (0, 8), n_splits=5, n_repeats=3)
    np.testing.assert_allclose(pred, 0.5 * x + 3)
    np.testing.assert_allclose(out_of_fold(x, 2 * x + 3, groups, (0, 8)), np.clip(2 * x + 3, 0, 8))


def test_external_validation_is_paired_against_the_published_mapping(sim_inputs):
    from covsev_tools.validation.external import external_validation

    from covsev_tools.validation.external import mapping_coefficients

    table = external_validation(sim_inputs, n_boot=100, seed=0, n_repeats=2)
    coefs = mapping_coefficients(sim_inputs)
    assert table.attrs["note"] is None and table.attrs["n_boot"] == 100
    assert set(table["method"]) == {"bootstrap percentile, patients resampled"}
    t = table[table["scale"] == "extent"].set_index(["mapping", "statistic"])["estimate"]
    refit = [m for m in t.index.get_level_values(0) if m.startswith("refitted")][0]
    assert t[(refit, "Δ MAE (refit − published)")] == pytest.approx(
        t[(refit, "MAE")] - t[("published (as is)", "MAE")])
    assert t[("published (as is)", "MAE")] == model_vs_reference(sim_inputs, n_boot=10).set_index(
        ["scale", "statistic"]).loc[("extent", "MAE"), "estimate"]
    published = coefs[(coefs["scale"] == "extent") & (coefs["mapping"] == "published")].iloc[0]
    assert published["slope"] == 0.8705248236656189 and published["intercept"] == 3.4137437
    no_raw = ValidationInputs(sim_inputs.ratings, sim_inputs.reference,
                              sim_inputs.predictions.drop(columns="xrv:Lung Opacity"),
                              sim_inputs.metadata, "case_id", "mean", {})
    empty = external_validation(no_raw, n_boot=10)
    assert not len(empty) and "no raw 'xrv:Lung Opacity'" in empty.attrs["note"]
    assert not len(mapping_coefficients(no_raw))


def test_constant_predictions_leave_a_note_instead_of_calibration():
    cases = [f"c{i}" for i in range(12)]
    inputs = ValidationInputs(
        None, pd.DataFrame({"case": cases, "scale": "extent", "component": "total",
                            "reference": np.linspace(0, 8, 12), "n_raters": np.nan}),
        pd.DataFrame({"extent": np.full(12, 3.4)}, index=pd.Index(cases, name="case")),
        pd.DataFrame(index=pd.Index([], name="case")), "case_id", "mean", {})
    result = validate(inputs, n_boot=20, seed=0)
    assert not len(result.tables["calibration"])
    assert result.notes["calibration"].startswith("No calibration for extent")


def test_sentence_says_better_or_worse_only_when_the_paired_interval_excludes_zero():
    def rows(difference_lows):
        return pd.DataFrame({"rater": ["A", "A", "B", "B"], "statistic": ["Rater MAE", "Model − rater"] * 2,
                             "estimate": [0.5, 0.07, 0.6, -0.03],
                             "ci_low": [np.nan, difference_lows[0], np.nan, difference_lows[1]],
                             "ci_high": [np.nan, 0.28, np.nan, 0.1]})
    loro = rows([-0.15, -0.2])
    summary = pd.DataFrame({"statistic": ["Model MAE"], "estimate": [0.67], "ci_low": [0.5], "ci_high": [0.8]})
    summary.attrs["confidence"] = 0.9
    sentence = model_within_raters_sentence(loro, summary, "extent")
    assert "(0.67, 90% CI 0.50–0.80)" in sentence
    assert "is above the range of the raters' own MAE (0.50–0.60)" in sentence and "worse than)" not in sentence
    assert sentence.endswith("(B) is −0.03 (−0.20 to 0.10), an interval that includes 0: the model is not shown "
                             "to be worse than that rater.")
    clear = rows([0.02, 0.01])
    assert "is above (worse than) the range" in model_within_raters_sentence(clear, summary, "extent")


def test_confidence_and_cluster_flow_from_validate_to_every_interval(sim_inputs):
    from covsev_tools.report.methods import methods_text

    narrow = validate(sim_inputs, n_boot=200, seed=0, confidence=0.8)
    usual = validate(sim_inputs, n_boot=200, seed=0)
    assert narrow.settings["confidence"] == 0.8 and usual.settings["confidence"] == 0.95
    checked = []
    for name, table in narrow.tables.items():
        if "ci_low" not in table.columns or not len(table):
            continue
        assert table.attrs["confidence"] == 0.8, name
        assert {"estimate", "ci_low", "ci_high", "n", "method"} <= set(table.columns), name
        other = usual.tables[name]
        np.testing.assert_array_equal(table["estimate"], other["estimate"])  # estimates do not move
        width = (table["ci_high"] - table["ci_low"]).to_numpy(float)
        wider = (other["ci_high"] - other["ci_low"]).to_numpy(float)
        both = np.isfinite(width) & np.isfinite(wider) & (wider > 0)
        assert both.any() and (width[both] < wider[both]).all(), name  # every interval at 80%, not 95%
        checked.append(name)
    assert {"model_vs_reference", "calibration", "inter_rater", "pairwise_kappa", "model_as_rater", "icc",
            "equivalence", "external_validation", "intra_rater", "subgroups"} <= set(checked)
    assert any(line.startswith("80% CIs: percentile bootstrap (200 resamples") for line in methods_text(narrow))
    assert "80% CI" in narrow.sentences["model_vs_raters:extent"]
    assert "80% CI" in narrow.sentences["equivalence:extent"]
    images = validate(sim_inputs, n_boot=50, seed=0, cluster=None)
    assert images.settings["unit"] == "image" and images.tables["model_vs_reference"].attrs["cluster"] is None
    assert set(images.tables["model_vs_reference"]["method"].iloc[:2]) == {"bootstrap percentile"}
    assert usual.tables["model_vs_reference"].attrs["cluster"] == "patientid"
    with pytest.raises(TypeError):
        model_vs_reference(sim_inputs, 100)  # n_boot is keyword-only, as in the agreement package
