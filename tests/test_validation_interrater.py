"""The inter-rater section, the consensus reference and the honest headline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covsev_tools import agreement
from covsev_tools.datasets import simulate_cohort
from covsev_tools.validation import load_inputs, validate
from covsev_tools.validation.interrater import PAIRWISE_KAPPA, inter_rater, kappa_matrix, percent_agreement


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return simulate_cohort(seed=3).write(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def inputs(folder):
    return load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=folder / "key.csv")


@pytest.fixture(scope="module")
def section(inputs):
    rows = inter_rater(inputs, n_boot=100, seed=0)
    pairs = rows["statistic"] == PAIRWISE_KAPPA
    return {"rows": rows, "table": rows[~pairs], "pairwise": rows[pairs]}


def _long(inputs, scale, component):
    wide = inputs.components(scale, component)
    return wide.rename_axis(index="case", columns="rater").stack().rename("score").reset_index()


def test_every_statistic_for_every_total_and_lung(section):
    table = section["table"]
    expected = {"ICC(2,1)", "ICC(2,k)", "ICC(3,1)", "ICC(3,k)", "Fleiss κ",
                "Krippendorff α (ordinal)", "Krippendorff α (interval)", "Gwet AC2 (quadratic)",
                "Exact agreement", "Agreement within ±1"}
    for scale in ("extent", "opacity"):
        for component in ("total", "right", "left"):
            rows = table[(table["scale"] == scale) & (table["component"] == component)]
            assert set(rows["statistic"]) == expected
            assert rows[["estimate", "ci_low", "ci_high"]].notna().all().all()
            assert (rows["ci_low"] <= rows["estimate"] + 1e-12).all()
            assert (rows["n"] > 80).all()
    assert "model" not in set(section["pairwise"]["rater_a"]) | set(section["pairwise"]["rater_b"])
    assert table["rater_a"].isna().all() and len(section["pairwise"]) == 2 * 3 * 6  # 2 scales, 3 parts, 6 pairs
    assert section["rows"].attrs == {"confidence": 0.95, "n_boot": 100, "seed": 0, "cluster": "patientid"}
    assert set(table.loc[table["statistic"] == "Exact agreement", "method"]) == {
        "bootstrap percentile, patients resampled"}


def test_numbers_equal_the_agreement_module(inputs, section):
    table = section["table"].set_index(["scale", "component", "statistic"])
    long = _long(inputs, "extent", "right")
    icc = agreement.icc(long)
    assert table.loc[("extent", "right", "ICC(2,1)"), "estimate"] == icc.loc["ICC2", "estimate"]
    assert table.loc[("extent", "right", "ICC(2,1)"), "ci_high"] == icc.loc["ICC2", "ci_high"]
    alpha = agreement.krippendorff_alpha(long, level="ordinal", categories="0-4", n_boot=0)
    assert table.loc[("extent", "right", "Krippendorff α (ordinal)"), "estimate"] == pytest.approx(
        alpha["estimate"].iloc[0], abs=1e-12)
    total = _long(inputs, "opacity", "total")
    ac2 = agreement.gwet_ac(total, weights="quadratic", categories="0-6")
    assert table.loc[("opacity", "total", "Gwet AC2 (quadratic)"), "estimate"] == pytest.approx(
        ac2["estimate"].iloc[0], abs=1e-12)
    pairs = section["pairwise"].set_index(["scale", "component", "rater_a", "rater_b"])
    two = total[total["rater"].isin(["R1", "R3"])]
    kappa = agreement.cohen_kappa(two, rater_a="R1", rater_b="R3", weights="quadratic",
                                  categories="0-6", n_boot=0)
    assert pairs.loc[("opacity", "total", "R1", "R3"), "estimate"] == pytest.approx(
        kappa["estimate"].iloc[0], abs=1e-12)
    totals = section["pairwise"]
    matrix = kappa_matrix(totals[(totals["scale"] == "opacity") & (totals["component"] == "total")])
    assert matrix.loc["R3", "R1"] == matrix.loc["R1", "R3"] == pairs.loc[("opacity", "total", "R1", "R3"), "estimate"]


def test_percent_agreement_by_hand_with_missing_ratings():
    wide = pd.DataFrame({"A": [0, 2, 4, 1], "B": [0, 3, np.nan, 1], "C": [1, 2, 4, np.nan]})
    # case 1: pairs AB agree, AC/BC differ by 1 -> 1/3 exact, 3/3 within 1
    # case 2: AB 1, AC 0, BC 1 -> 1/3 exact, 3/3 within; case 3: AC only -> 1/1; case 4: AB -> 1/1
    exact = percent_agreement(wide, n_boot=200).iloc[0]
    assert exact["statistic"] == "Exact agreement"
    assert exact["estimate"] == pytest.approx((1 / 3 + 1 / 3 + 1 + 1) / 4)
    assert exact["n"] == 4 and exact["ci_low"] <= exact["estimate"] <= exact["ci_high"]
    within = percent_agreement(wide, tolerance=1, n_boot=0).iloc[0]
    assert within["statistic"] == "Agreement within ±1" and within["estimate"] == pytest.approx(1.0)
    single = pd.DataFrame({"A": [1, 2], "B": [1, np.nan]})
    assert percent_agreement(single, n_boot=0)["n"].iloc[0] == 1
    # patients resampled: two images of one patient always move together
    narrow = percent_agreement(wide, n_boot=300, seed=1, confidence=0.5)
    assert narrow.attrs["confidence"] == 0.5 and narrow["ci_high"].iloc[0] - narrow["ci_low"].iloc[0] < (
        exact["ci_high"] - exact["ci_low"])
    clustered = percent_agreement(wide, n_boot=300, seed=1, cluster=["p", "p", "q", "q"])
    assert clustered["method"].iloc[0] == "bootstrap percentile, patients resampled"


def test_consensus_is_the_reference_and_never_a_rater(folder, tmp_path):
    ratings = pd.read_csv(folder / "ratings.csv")
    r1 = ratings[(ratings["rater"] == "R1") & ~ratings["is_repeat"]]
    first = r1[r1["case_id"].isin(sorted(r1["case_id"].unique())[:10])].copy()
    first["rater"] = "consensus"
    first["score"] = 0.0
    with_consensus = pd.concat([ratings, first], ignore_index=True)
    with_consensus.to_csv(tmp_path / "ratings.csv", index=False)
    args = (tmp_path / "ratings.csv", folder / "predictions.csv")
    mean = load_inputs(*args, key_path=folder / "key.csv")
    adjudicated = load_inputs(*args, key_path=folder / "key.csv", reference="consensus")
    assert mean.raters == adjudicated.raters == ["R1", "R2", "R3", "R4"]
    ref = adjudicated.reference.set_index(["case", "scale", "component"])
    case = first["case_id"].iloc[0]
    assert ref.loc[(case, "extent", "total"), "reference"] == 0.0
    assert ref.loc[(case, "extent", "total"), "source"] == "consensus"
    other = sorted(set(mean.reference["case"]) - set(first["case_id"]))[0]
    assert ref.loc[(other, "extent", "total"), "reference"] == mean.reference.set_index(
        ["case", "scale", "component"]).loc[(other, "extent", "total"), "reference"]
    from covsev_tools.report import build_report

    page = build_report(*args, tmp_path / "r", key=folder / "key.csv", reference="consensus",
                        n_boot=20).html.read_text()
    assert "adjudicator&#39;s consensus score" in page and "never counted as a rater" in page
    with pytest.raises(ValueError, match="--reference consensus needs adjudicated records"):
        load_inputs(folder / "ratings.csv", folder / "predictions.csv", reference="consensus")


def test_headline_warns_when_few_cases_have_every_rater(folder, tmp_path):
    from covsev_tools.report import build_report

    ratings = pd.read_csv(folder / "ratings.csv")
    cases = sorted(ratings["case_id"].unique())
    sparse = ratings[~((ratings["rater"] == "R4") & ratings["case_id"].isin(cases[20:]))]
    sparse.to_csv(tmp_path / "sparse.csv", index=False)
    report = build_report(tmp_path / "sparse.csv", folder / "predictions.csv", tmp_path / "r",
                          key=folder / "key.csv", n_boot=20, command="pytest headline")
    page = report.html.read_text()
    facts = report.result.inputs
    assert "<strong>94 cases</strong>" in page and "<strong>4 raters</strong>" in page
    assert f"<strong>{facts.metadata['patientid'].nunique()} patients</strong>" in page
    assert 'class="warning"' in page and "Only 20 of 94 cases were rated by all 4 raters" in page
    assert "ICC uses only the cases rated by every rater" in page
    assert "resampling patients (metadata column &#39;patientid&#39;" in page
    assert "pytest headline" in page and "bootstrap seed 0, 20 resamples" in page
    full = build_report(folder / "ratings.csv", folder / "predictions.csv", tmp_path / "full",
                        key=folder / "key.csv", n_boot=20).html.read_text()
    assert 'class="warning"' not in full
    tables = report.out_dir / "tables"
    assert "\\toprule" in (tables / "inter_rater.tex").read_text()
    folded = (tables / "inter_rater.md").read_text()
    assert "| Scale | Statistic | Total | Right | Left | n (total) | Interval |" in folded  # per component
    assert len([line for line in folded.splitlines() if line.startswith("| extent")]) == 10
    assert set(pd.read_csv(tables / "pairwise_kappa.csv")["rater_a"]) <= {"R1", "R2", "R3"}
