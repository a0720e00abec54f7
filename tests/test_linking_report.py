"""The report on a cohort scored on another scale (`covsev report --link`): linked reference, linking
error carried into the intervals, the BrixIA two-reader cohort end to end."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from covsev_tools.agreement.bootstrap import Resampling, percentile_ci
from covsev_tools.cli import main
from covsev_tools.linking import link_scales, open_link, save_link
from covsev_tools.linking.link import demo_table
from covsev_tools.validation import load_inputs
from covsev_tools.validation.inputs import InputError
from covsev_tools.validation.linked import link_reference, linked_comparison


def _brixia_cohort(folder, n=30, seed=0):
    """Two raters scoring Brixia, one patient per two images, and a model's extent predictions."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 1, n)
    cases = [f"c{i:02d}" for i in range(n)]
    rows = [{"case_id": c, "rater": r, "scale": "brixia", "component": "total", "filename": f"{c}.png",
             "patient_id": f"p{i // 2}", "score": float(np.clip(np.rint(18 * t + rng.normal(0, 1.5)), 0, 18))}
            for i, (c, t) in enumerate(zip(cases, truth)) for r in ("senior", "junior")]
    pd.DataFrame(rows).to_csv(folder / "ratings.csv", index=False)
    pd.DataFrame({"case_id": cases, "geographic_extent": np.clip(8 * truth + rng.normal(0, 0.7, n), 0, 8)}
                 ).to_csv(folder / "predictions.csv", index=False)
    return folder / "ratings.csv", folder / "predictions.csv"


def test_linked_mae_interval_equals_a_plain_loop_over_cohort_and_link_resamples(tmp_path):
    ratings, preds = _brixia_cohort(tmp_path)
    link = link_scales(demo_table(40, seed=5), source="brixia", target="extent", n_boot=300, seed=7)
    inputs = link_reference(load_inputs(ratings, preds), [link])
    table = linked_comparison(inputs, [link], n_boot=200, seed=3)
    note = table.attrs["note"]
    assert table.attrs["n_boot"] == 200 and table.attrs["cluster"] == "patient_id"
    # by hand: resample b draws the cohort's patients (the agreement kernel's draw) and uses the link
    # refitted on resample b of its own cases (slope and intercept replicate b)
    wide = inputs.totals("brixia").sort_index()
    mean_score = wide.mean(axis=1).to_numpy()
    prediction = inputs.predictions["extent"].loc[wide.index].to_numpy()
    clusters = pd.factorize(inputs.metadata["patient_id"].loc[wide.index], sort=True)[0]
    weights = Resampling(len(wide), 200, 3, clusters).weights()[1:]
    maes = []
    for b, w in enumerate(weights):
        linked = link.replicates["slope"][b] * mean_score + link.replicates["intercept"][b]
        maes.append((w * np.abs(prediction - linked)).sum() / w.sum())
    low, high, _ = percentile_ci(np.array(maes))
    row = table.set_index("statistic").loc["Model MAE vs linked reference"]
    assert abs(row["ci_low"] - low) < 1e-9 and abs(row["ci_high"] - high) < 1e-9
    assert abs(row["estimate"] - np.abs(prediction - link.apply(mean_score)).mean()) < 1e-12
    # the reference of the model sections is the raters' mean, linked
    reference = inputs.reference_total("extent").loc[wide.index].to_numpy()
    assert np.allclose(reference, link.apply(mean_score))
    loo = table.set_index("statistic").loc["Link leave-one-out MAE"]
    assert loo["estimate"] == link.loo_mae and loo["n"] == 40
    assert "Inter-rater agreement is on the brixia scale" in note


def test_report_with_a_link_file_and_bad_links(tmp_path, capsys):
    ratings, preds = _brixia_cohort(tmp_path)
    link = save_link(link_scales(demo_table(40), source="brixia", target="extent", n_boot=100),
                     tmp_path / "link.json")
    out = tmp_path / "report"
    assert main(["report", "--ratings", str(ratings), "--predictions", str(preds), "--out", str(out),
                 "--bootstrap", "50", "--workers", "1", "--link", str(link)]) == 0, capsys.readouterr().err
    html = (out / "report.html").read_text()
    assert "Model MAE vs linked reference" in html and "Link leave-one-out MAE" in html
    assert "--link " in html  # the command line in the methods
    assert "the link does not record its fitting cases" in html
    linked = pd.read_csv(out / "tables" / "linked.csv")
    assert set(linked["scale"]) == {"extent", "brixia"}
    capsys.readouterr()
    # a link to a scale the model does not predict, a cohort that has no such scale
    other = save_link(link_scales(demo_table(40).rename(columns={"extent": "rale"}), source="brixia",
                                  target="rale", n_boot=0), tmp_path / "rale.json")
    assert main(["report", "--ratings", str(ratings), "--predictions", str(preds), "--out", str(out),
                 "--bootstrap", "0", "--link", str(other)]) == 2
    assert "the model predicts extent and opacity, not 'rale'" in capsys.readouterr().err
    assert main(["report", "--ratings", str(ratings), "--predictions", str(preds), "--out", str(out),
                 "--bootstrap", "0", "--link", str(link), "--link-scale", "rale"]) == 2
    assert "--link-scale 'rale': the ratings have no such scale" in capsys.readouterr().err


def test_a_link_is_refused_for_a_cohort_already_on_the_target_scale(simulated_inputs):
    with pytest.raises(InputError, match="already has extent scores"):
        link_reference(simulated_inputs, [open_link("brixia-mean-to-extent")], "extent")


@pytest.mark.realdata
@pytest.mark.slow
def test_brixia_two_reader_cohort_end_to_end(shared_data, weights_dir, tmp_path, capsys):
    """187 BrixIA images, senior and junior as two raters: predict → link (bundled) → report."""
    folder = shared_data / "brixia-public"
    annotations = pd.read_csv(folder / "public-annotations.csv", encoding="utf-8-sig")
    images = set(os.listdir(folder / "images"))
    annotations = annotations[annotations["filename"].isin(images)]
    assert len(annotations) == 187
    rows = [{"case_id": f, "filename": f, "rater": rater, "scale": "brixia", "component": "total",
             "score": score} for rater, column in (("senior", "S-Global"), ("junior", "J-Global"))
            for f, score in zip(annotations["filename"], annotations[column])]
    pd.DataFrame(rows).to_csv(tmp_path / "ratings.csv", index=False)
    preds = tmp_path / "predictions.csv"
    assert main(["predict", str(folder / "images"), "--out", str(preds), "--weights-dir", str(weights_dir),
                 "--quiet"]) == 0
    out = tmp_path / "report"
    rc = main(["report", "--ratings", str(tmp_path / "ratings.csv"), "--predictions", str(preds),
               "--out", str(out), "--bootstrap", "200", "--workers", "1",
               "--link", "brixia-mean-to-extent", "--link", "brixia-mean-to-opacity"])
    assert rc == 0, capsys.readouterr().err
    linked = pd.read_csv(out / "tables" / "linked.csv")

    def cell(scale, statistic, column="estimate"):
        return linked[(linked["scale"] == scale) & (linked["statistic"] == statistic)][column].iloc[0]

    assert cell("extent", "Model MAE vs linked reference", "n") == 187
    # the raters' disagreement on their own scale, measured on the real annotations
    senior, junior = annotations["S-Global"].to_numpy(), annotations["J-Global"].to_numpy()
    assert abs(cell("brixia", "Rater vs rater MAE (brixia scale)") - np.abs(senior - junior).mean()) < 1e-12
    # the link's own error is the bundled one; the overlap with its fitting images is stated
    assert abs(cell("extent", "Link leave-one-out MAE") - open_link("brixia-mean-to-extent").loo_mae) < 1e-12
    # the linking error widens the interval of the model's error
    propagated = cell("extent", "Model MAE vs linked reference", "ci_high") - cell(
        "extent", "Model MAE vs linked reference", "ci_low")
    fixed = cell("extent", "Model MAE, link held fixed", "ci_high") - cell(
        "extent", "Model MAE, link held fixed", "ci_low")
    assert propagated > fixed
    html = (out / "report.html").read_text()
    assert "65 of this cohort&#39;s 187 cases were among the link&#39;s fitting cases" in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"]["n_cases"] == 187
    inter = pd.read_csv(out / "tables" / "inter_rater.csv")
    assert set(inter["scale"]) == {"brixia"}  # inter-rater agreement stays on the cohort's scale


def test_the_cases_a_link_was_fitted_on_are_counted(tmp_path):
    ratings, preds = _brixia_cohort(tmp_path)
    both = demo_table(40, seed=1).assign(filename=[f"c{i:02d}.png" for i in range(40)])  # c00-c29 shared
    link = link_scales(both, source="brixia", target="extent", case="filename", n_boot=20)
    assert len(link.provenance["case_sha256"]) == 40
    inputs = link_reference(load_inputs(ratings, preds), [link])
    note = linked_comparison(inputs, [link], n_boot=20).attrs["note"]
    assert "30 of this cohort's 30 cases were among the link's fitting cases" in note


def test_a_case_scored_by_one_rater_has_no_rater_pair(tmp_path):
    ratings, preds = _brixia_cohort(tmp_path)
    table = pd.read_csv(ratings)
    table.loc[(table["case_id"] == "c03") & (table["rater"] == "junior"), "score"] = None
    table.to_csv(ratings, index=False)
    link = link_scales(demo_table(40), source="brixia", target="extent", n_boot=50)
    inputs = link_reference(load_inputs(ratings, preds), [link])
    result = linked_comparison(inputs, [link], n_boot=50).set_index("statistic")
    wide = inputs.totals("brixia").drop(index="c03")
    own = np.abs(wide["senior"] - wide["junior"]).mean()
    linked = np.abs(link.apply(wide["senior"]) - link.apply(wide["junior"])).mean()
    assert result.loc["Rater vs rater MAE (brixia scale)", "n"] == 29
    assert abs(result.loc["Rater vs rater MAE (brixia scale)", "estimate"] - own) < 1e-12
    assert abs(result.loc["Rater vs rater MAE, linked", "estimate"] - linked) < 1e-12
    assert result.loc["Model MAE vs linked reference", "n"] == 30  # c03's reference is the senior's score
