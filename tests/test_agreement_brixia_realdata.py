"""Real two-reader data (Brixia public annotations: senior S-* vs junior J-*) against the libraries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from irrCAC.raw import CAC
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa as sm_fleiss

import krippendorff
from covsev_tools.agreement import agreement_report, to_json

pytestmark = pytest.mark.realdata
ZONES = ["A", "B", "C", "D", "E", "F", "Global"]


@pytest.fixture(scope="module")
def annotations(shared_data):
    path = shared_data / "brixia-public" / "public-annotations.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return pd.read_csv(path, encoding="utf-8-sig")  # the file starts with a byte-order mark


def long_zone(annotations, zone) -> pd.DataFrame:
    wide = annotations[["filename", f"S-{zone}", f"J-{zone}"]]
    wide.columns = ["case", "senior", "junior"]
    return wide.melt(id_vars="case", var_name="rater", value_name="score")


@pytest.fixture(scope="module")
def reports(annotations):
    return {zone: agreement_report(long_zone(annotations, zone),
                                   categories="0-18" if zone == "Global" else "0-3",
                                   n_boot=200, seed=0) for zone in ZONES}


@pytest.mark.parametrize("zone", ZONES)
def test_zone_matches_reference_libraries(annotations, reports, zone):
    report = reports[zone]
    senior = annotations[f"S-{zone}"].to_numpy(float)
    junior = annotations[f"J-{zone}"].to_numpy(float)
    q = 19 if zone == "Global" else 4
    labels = np.arange(q)
    assert (report["n_cases"], report["n_raters"]) == (192, 2)
    pair = report["pairs"][0]
    assert (pair["rater_a"], pair["rater_b"]) == ("junior", "senior")
    table = np.histogram2d(junior, senior, bins=np.arange(q + 1) - 0.5)[0]
    for key, weights in (("kappa", None), ("kappa_linear", "linear"),
                         ("kappa_quadratic", "quadratic")):
        assert pair[key]["value"] == pytest.approx(
            cohen_kappa_score(junior, senior, labels=labels, weights=weights), abs=1e-9)
        ref = cohens_kappa(table, wt=weights, weights=None if weights is None else labels)
        assert pair[key]["se"] == pytest.approx(ref.std_kappa, abs=1e-9)
        assert pair[key]["ci95"][0] < pair[key]["value"] < pair[key]["ci95"][1]

    old = pg.options["round.column.CI95"]
    pg.options["round.column.CI95"] = None
    try:
        icc = pg.intraclass_corr(long_zone(annotations, zone), "case", "rater", "score")
    finally:
        pg.options["round.column.CI95"] = old
    for form, kind in (("ICC1", "ICC(1,1)"), ("ICC2", "ICC(A,1)"), ("ICC3k", "ICC(C,k)")):
        row = icc.set_index("Type").loc[kind]
        assert report["icc"][form]["value"] == pytest.approx(row["ICC"], abs=1e-9)
        np.testing.assert_allclose(report["icc"][form]["ci95"], row["CI95"], atol=1e-9)

    data = np.vstack([junior, senior])
    for level in ("nominal", "ordinal", "interval", "ratio"):
        assert report["krippendorff_alpha"][level]["value"] == pytest.approx(
            krippendorff.alpha(data, level_of_measurement=level, value_domain=labels), abs=1e-9)

    wide = pd.DataFrame({"junior": junior, "senior": senior})
    for name, weights in (("AC1", "identity"), ("AC2_linear", "linear"),
                          ("AC2_quadratic", "quadratic")):
        ref = CAC(wide, weights=weights, categories=list(labels.astype(float)), digits=15).gwet()
        assert report["gwet"][name]["value"] == pytest.approx(ref["est"]["coefficient_value"], abs=1e-9)
        assert report["gwet"][name]["se"] == pytest.approx(ref["est"]["se"], abs=1e-9)

    counts = np.stack([(data == c).sum(axis=0) for c in labels], axis=1)
    assert report["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(counts), abs=1e-9)
    assert pair["pearson"]["value"] == pytest.approx(stats.pearsonr(junior, senior)[0], abs=1e-12)
    assert pair["spearman"]["value"] == pytest.approx(stats.spearmanr(junior, senior)[0], abs=1e-12)
    assert pair["bland_altman"]["bias"] == pytest.approx((junior - senior).mean(), abs=1e-12)
    to_json(report)  # strict


def test_global_score_senior_vs_junior_is_substantial(reports):
    """Sanity on the real readers: good but imperfect agreement on the 0-18 global score."""
    report = reports["Global"]
    assert 0.6 < report["icc"]["ICC2"]["value"] < 0.95
    assert 0.6 < report["pairs"][0]["kappa_quadratic"]["value"] < 0.95
