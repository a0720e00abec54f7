"""agreement_report: JSON schema, strict JSON, nulls with reasons, table formats and input errors."""
from __future__ import annotations

import io
import json
import re

import krippendorff
import numpy as np
import pandas as pd
import pytest

from covsev_tools.agreement import (AgreementInputError, agreement_report, cohen_kappa,
                                    fleiss_kappa, format_csv, format_latex, format_markdown,
                                    krippendorff_alpha, ratings_matrix, to_json)
from covsev_tools.agreement.continuous import continuous_xy

from helpers import result_row

ICC_FIELDS = {"value", "ci95", "F", "df1", "df2", "pval"}
PAIR_FIELDS = {"rater_a", "rater_b", "n", "kappa", "kappa_linear", "kappa_quadratic", "pearson",
               "spearman", "ccc", "mae", "rmse", "bland_altman"}
BA_FIELDS = {"bias", "sd", "loa_low", "loa_high", "bias_ci95", "loa_low_ci95", "loa_high_ci95"}


def simulated(n=60, k=4, seed=0, missing=0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    wide = np.clip(np.rint(rng.uniform(0, 8, (n, 1)) + rng.normal(0, 1, (n, k))), 0, 8)
    wide[rng.random((n, k)) < missing] = np.nan
    return pd.DataFrame({"case": np.repeat([f"c{i}" for i in range(n)], k),
                         "rater": np.tile([f"r{j}" for j in range(k)], n), "score": wide.ravel()})


def strict_loads(text: str):
    def reject(token):
        raise ValueError(f"non-strict JSON token {token}")
    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def report():
    return agreement_report(simulated(), categories="0-8", n_boot=300, seed=1)


def test_schema(report):
    assert {"n_cases", "n_raters", "n_ratings", "method", "icc", "fleiss_kappa",
            "krippendorff_alpha", "gwet", "pairs", "vs_others"} <= set(report)
    assert (report["n_cases"], report["n_raters"]) == (60, 4)
    assert set(report["icc"]) == {"ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"}
    assert all(ICC_FIELDS <= set(entry) for entry in report["icc"].values())
    assert set(report["krippendorff_alpha"]) == {"nominal", "ordinal", "interval", "ratio"}
    assert all({"value", "ci95"} <= set(e) for e in report["krippendorff_alpha"].values())
    assert set(report["gwet"]) == {"AC1", "AC2_linear", "AC2_quadratic"}
    assert all({"value", "se", "ci95"} <= set(e) for e in report["gwet"].values())
    assert len(report["pairs"]) == 6 and all(PAIR_FIELDS <= set(p) for p in report["pairs"])
    assert all(BA_FIELDS <= set(p["bland_altman"]) for p in report["pairs"])
    assert [v["rater"] for v in report["vs_others"]] == ["r0", "r1", "r2", "r3"]
    assert report["method"]["bootstrap"] == {**report["method"]["bootstrap"], "n_boot": 300,
                                             "seed": 1, "unit": "case"}
    assert report["method"]["icc"]["n_used"] + report["method"]["icc"]["n_dropped"] == 60
    assert report["method"]["categories"] == list(range(9))


def test_every_statistic_has_a_ci(report):
    entries = list(report["icc"].values()) + [report["fleiss_kappa"]] + \
        list(report["krippendorff_alpha"].values()) + list(report["gwet"].values())
    for pair in report["pairs"] + report["vs_others"]:
        entries += [pair[k] for k in ("pearson", "spearman", "ccc")]
        entries += [pair[k] for k in ("kappa", "kappa_linear", "kappa_quadratic") if k in pair]
    for entry in entries:
        low, high = entry["ci95"]
        assert low <= entry["value"] <= high


def test_strict_json_round_trip(report):
    assert strict_loads(to_json(report)) == report


def test_report_uses_one_resample_matrix_for_all_statistics(report):
    table = simulated()
    pair = report["pairs"][0]
    alone = result_row(cohen_kappa(table, rater_a=pair["rater_a"], rater_b=pair["rater_b"],
                                   weights="quadratic", categories="0-8", n_boot=300, seed=1))
    assert_same_entry(pair["kappa_quadratic"], alone)
    assert_same_entry(report["fleiss_kappa"],
                      result_row(fleiss_kappa(table, categories="0-8", n_boot=300, seed=1)))
    assert_same_entry(report["krippendorff_alpha"]["ordinal"], result_row(krippendorff_alpha(
        table, level="ordinal", categories="0-8", n_boot=300, seed=1)))


def assert_same_entry(entry: dict, row: dict):
    """A statistic of the JSON report equals the tidy row of its own function, field by field."""
    entry = dict(entry)
    assert row["method"] == entry.pop("ci_method")
    assert {k: v for k, v in row.items() if k in entry} == entry


def test_full_report_deterministic_with_2000_resamples():
    table = simulated(n=40, k=3)
    first = agreement_report(table, categories="0-8", n_boot=2000, seed=5)
    assert first == agreement_report(table, categories="0-8", n_boot=2000, seed=5)
    assert first != agreement_report(table, categories="0-8", n_boot=2000, seed=6)


def test_vs_others_is_rater_against_mean_of_the_others(report):
    matrix = ratings_matrix(simulated())
    others = np.nanmean(matrix.scores[:, 1:], axis=1)
    expected = continuous_xy(matrix.scores[:, 0], others)
    got = {k: v for k, v in report["vs_others"][0].items() if k != "rater"}
    assert strict_loads(json.dumps(got)) == strict_loads(json.dumps(expected))


def test_one_rater_gives_reasons_not_crash():
    table = simulated(k=1)
    result = agreement_report(table, n_boot=50)
    assert result["icc"]["ICC2"] == {"value": None, "reason": "needs at least 2 raters"}
    assert result["fleiss_kappa"]["value"] is None and result["fleiss_kappa"]["reason"]
    assert all(e["value"] is None for e in result["krippendorff_alpha"].values())
    assert result["pairs"] == [] and result["vs_others"] == []
    strict_loads(to_json(result))
    assert "—[1]" in format_markdown(result)


def test_constant_scores_give_reasons_and_strict_json():
    table = simulated(missing=0)
    table["score"] = 2.0
    result = agreement_report(table, n_boot=50)
    assert result["icc"]["ICC1"]["value"] is None
    assert result["krippendorff_alpha"]["interval"]["value"] is None
    assert "no variance" in result["pairs"][0]["pearson"]["reason"]
    text = to_json(result)
    assert "NaN" not in text
    strict_loads(text)


def test_non_integer_scores_continuous_and_icc_work_kappas_explain():
    table = simulated()
    table["score"] = table["score"] / 3  # e.g. means of three raters: 2.67
    result = agreement_report(table, n_boot=50)
    wide = ratings_matrix(table).scores
    complete = wide[np.isfinite(wide).all(axis=1)]
    assert result["icc"]["ICC2"]["value"] == pytest.approx(
        pingouin_icc2(complete), abs=1e-9)
    assert result["krippendorff_alpha"]["interval"]["value"] == pytest.approx(
        krippendorff.alpha(wide.T, level_of_measurement="interval"), abs=1e-9)
    assert "not categorical" in result["pairs"][0]["kappa"]["reason"]
    assert "not categorical" in result["gwet"]["AC1"]["reason"]
    assert result["krippendorff_alpha"]["nominal"]["value"] is None
    both = np.isfinite(wide[:, :2]).all(axis=1)
    x, y = wide[both, 0], wide[both, 1]
    lin = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert result["pairs"][0]["ccc"]["value"] == pytest.approx(lin, abs=1e-12)


def pingouin_icc2(complete: np.ndarray) -> float:
    """ICC2 (absolute agreement, single rater) of a complete matrix, by pingouin."""
    import pingouin as pg

    n, k = complete.shape
    long = pd.DataFrame({"case": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n),
                         "score": complete.ravel()})
    table = pg.intraclass_corr(long, targets="case", raters="rater", ratings="score")
    return float(table.set_index("Type").loc["ICC(A,1)", "ICC"])


def test_markdown_prints_values_with_cis(report):
    text = format_markdown(report)
    assert re.search(r"\| ICC2 ICC\(A,1\) \| 0\.\d\d \(0\.\d\d–0\.\d\d\) \|", text)
    assert "| r0 vs r1 | " in text
    assert "Each rater vs the mean of the others" in text


def test_latex_booktabs(report):
    text = format_latex(report)
    assert text.count("\\toprule") == text.count("\\bottomrule") == 4
    assert re.search(r"0\.\d\d \(0\.\d\d--0\.\d\d\)", text)
    assert "NaN" not in text and "nan" not in text


def test_latex_escapes_rater_names():
    table = simulated(k=2)
    table["rater"] = table["rater"].map({"r0": "Dr_A & co", "r1": "50% B"})
    text = format_latex(agreement_report(table, n_boot=20))
    assert r"50\% B vs Dr\_A \& co" in text  # raters in sorted order


def test_csv_is_tidy(report):
    frame = pd.read_csv(io.StringIO(format_csv(report)))
    assert list(frame.columns[:8]) == ["section", "statistic", "rater_a", "rater_b", "n", "value",
                                       "ci_low", "ci_high"]
    icc2 = frame[(frame.section == "icc") & (frame.statistic == "ICC2")].iloc[0]
    assert icc2.value == pytest.approx(report["icc"]["ICC2"]["value"], rel=1e-12)
    # 12 rows per pair, and since issue 13 a 13th: the proportional bias slope of Bland-Altman
    assert len(frame[frame.section == "pair"]) == 6 * 13


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="score"), "missing score column 'score'"),
    (lambda t: t.assign(score=t.score.astype(object).where(t.index != 5, "two")),
     "non-numeric scores in column 'score' at row 5"),
    (lambda t: pd.concat([t, t.iloc[[2]]]), "case 'c0' × rater 'r2'"),
    (lambda t: t.assign(case=t.case.where(t.index != 7, "")), "empty 'case' at row 7"),
])
def test_bad_tables_get_clear_messages(change, message):
    with pytest.raises(AgreementInputError, match=re.escape(message)):
        agreement_report(change(simulated()), n_boot=0)


def test_scores_outside_given_categories_named():
    table = simulated()
    table.loc[4, "score"] = 11
    with pytest.raises(AgreementInputError, match=r"outside the categories \{0, 1, 2, 3\} at row"):
        agreement_report(table, categories="0-3", n_boot=0)


def test_case_id_fallback():
    table = simulated(k=2).rename(columns={"case": "case_id"})
    assert agreement_report(table, n_boot=0)["n_cases"] == 60


def test_tables_name_the_confidence_level_they_were_computed_at():
    report = agreement_report(simulated(n=30, k=2), categories="0-8", n_boot=50, confidence=0.9)
    assert report["method"]["confidence_level"] == 0.9
    text = format_markdown(report)
    assert "ICC (90% CI)" in text and "95% CI" not in text
    assert "95% CI" in format_markdown(agreement_report(simulated(n=30, k=2), n_boot=0))
