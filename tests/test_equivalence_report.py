"""The report's section "Is the model within the radiologists' variability?" (issue 24)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covsev_tools.agreement import model_equivalence
from covsev_tools.datasets.simulate import simulate_cohort
from covsev_tools.report import build_report
from covsev_tools.report.sections import report_tables
from covsev_tools.validation import load_inputs, validate
from covsev_tools.validation.equivalence import equivalence_matrix


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = simulate_cohort(seed=4).write(tmp_path_factory.mktemp("cohort"))
    return load_inputs(folder / "ratings.csv", folder / "predictions.csv",
                       key_path=folder / "key.csv")


def test_equivalence_section_equals_the_library_on_the_same_patients(inputs):
    result = validate(inputs, n_boot=200, seed=3)
    table = result.tables["equivalence"]
    assert set(table["scale"]) == set(inputs.scales)
    assert set(table["readers"]) == {"random", "fixed"}
    # the section's matrix: first-reading totals of the raters plus the model, with patients
    matrix, name = equivalence_matrix(inputs, "extent")
    assert matrix.raters == inputs.raters + ["model"] and matrix.clusters is not None
    wide = inputs.totals("extent").join(inputs.predictions["extent"].rename("model"), how="inner")
    long = wide.reset_index().melt(id_vars="case", var_name="rater", value_name="score")
    long = long.merge(pd.Series(dict(zip(matrix.cases, matrix.clusters)), name="patient_id"),
                      left_on="case", right_index=True)
    for readers in ("random", "fixed"):
        expected = model_equivalence(long, model="model", readers=readers, n_boot=200, seed=3)
        got = table[(table["scale"] == "extent") & (table["readers"] == readers)]
        np.testing.assert_allclose(got["estimate"], expected["estimate"], rtol=1e-12)
        np.testing.assert_allclose(got["ci_high"], expected["ci_high"], rtol=1e-12)
        assert got["margin"].dropna().iloc[0] == pytest.approx(
            0.25 * expected.loc["reader_reader", "estimate"])
    random = table[(table["scale"] == "extent") & (table["readers"] == "random")]
    fixed = table[(table["scale"] == "extent") & (table["readers"] == "fixed")]
    # readers random: a wider interval of the readers' own disagreement than readers fixed
    width = {name: (rows["ci_high"] - rows["ci_low"]).iloc[1]
             for name, rows in (("random", random), ("fixed", fixed))}
    assert width["random"] > width["fixed"]
    sentence = result.sentences["equivalence:extent"]
    assert sentence.startswith("On extent, the mean absolute difference between the model and 4 "
                               "readers was ") and "other readers like these" in sentence
    assert "1.25 times as much" in result.notes["equivalence"]
    formatted = next(t for t in report_tables(result) if t.name == "equivalence").formatted
    assert list(formatted["Readers"]) == ["random", "fixed", "random", "fixed"]
    assert set(formatted["Non-inferior"]) <= {"yes", "not shown"}
    profile = result.extras["equivalence_profiles"]["extent"]
    assert list(profile.index) == inputs.raters + ["model"]
    assert profile.loc["model", "estimate"] == pytest.approx(
        fixed[fixed["statistic"] == "model_reader"]["estimate"].iloc[0])


def test_equivalence_section_given_margin_and_two_raters(inputs):
    two = inputs.ratings[inputs.ratings["rater"].isin(["R1", "R2"])]
    from dataclasses import replace
    result = validate(replace(inputs, ratings=two), n_boot=50, margin=0.5)
    table = result.tables["equivalence"]
    assert set(table["readers"]) == {"fixed"} and (table["margin"].dropna() == 0.5).all()
    assert "readers random needs at least 3" in result.notes["equivalence"]
    assert "given with --margin" in result.notes["equivalence"]
    assert "these readers only" in result.sentences["equivalence:extent"]


def test_equivalence_report_html_has_the_section_figure_and_margin_option(inputs, tmp_path,
                                                                         capsys):
    from covsev_tools.cli import main

    folder = tmp_path / "cohort"
    simulate_cohort(seed=4).write(folder)
    code = main(["report", "--cohort", str(folder), "--out", str(tmp_path / "r"), "--bootstrap",
                 "50", "--margin", "0.4", "--workers", "1"])
    assert code == 0
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "5. Is the model within the radiologists&#39; variability?" in page or \
        "5. Is the model within the radiologists' variability?" in page
    assert 'id="fig-equivalence_profile"' in page and "--margin 0.4" in page
    assert "Margin (extent 0.40, opacity 0.40): given with --margin" in page
    csv = pd.read_csv(tmp_path / "r" / "tables" / "equivalence.csv")
    assert (csv["margin"].dropna() == 0.4).all()
    assert main(["report", "--cohort", str(folder), "--out", str(tmp_path / "r2"),
                 "--margin", "-1"]) == 2
