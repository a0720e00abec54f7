"""End to end on the paper's real images: model step (offline checkpoint) → validation report.

The checkpoint has random weights (the published ones cannot be downloaded here), so the numbers
mean nothing; what is checked is that the whole path runs on real files and that every section of
the report is filled from the model's own predictions.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from covsev_tools.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

# The report's sections (issue 13 added the inter-rater section as the second).
SECTIONS = ("1. Study", "2. Inter-rater agreement", "3. Model vs reference",
            "4. The model as one more rater",
            "5. Is the model within the radiologists' variability?", "6. External validation",
            "7. Intra-rater reliability", "8. Subgroups and longitudinal change", "9. Methods", "10. Software")


def test_demo_runs_the_model_on_the_real_images(shared_data, weights_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--images", str(shared_data / "cohen2020" / "images"),
               "--weights-dir", str(weights_dir), "--bootstrap", "50", "--seed", "0"])
    assert rc == 0, capsys.readouterr().err
    html = (out / "report" / "report.html").read_text()
    for section in SECTIONS:
        assert section in html
    assert "torchxrayvision DenseNet-121 on the images in" in html
    published = (out / "published-report" / "report.html").read_text()
    assert "3. Model vs reference" in published
    summary = json.loads((out / "published-report" / "summary.json").read_text())
    assert summary["study"]["n_cases"] == 94


def test_cohort_predict_then_report_on_published_labels(shared_data, weights_dir, tmp_path, capsys):
    cohort = tmp_path / "cohen2020"
    src = shared_data / "cohen2020"
    assert main(["cohort", "create", str(src / "images"), "--name", "cohen2020", "--out", str(cohort),
                 "--metadata", str(src / "metadata.csv"), "--quiet"]) == 0
    preds = tmp_path / "predictions.csv"
    assert main(["predict", "--cohort", str(cohort), "--out", str(preds),
                 "--weights-dir", str(weights_dir), "--quiet"]) == 0
    table = pd.read_csv(preds, keep_default_na=False)
    assert len(table) == 94 and (table["error"] == "").all()
    assert table["case_id"].str.fullmatch(r"c[a-z0-9]{8}").all()
    assert (cohort / "predictions.csv").is_file()
    report = tmp_path / "report"
    rc = main(["report", "--cohort", str(cohort), "--ratings", str(src / "covid-severity-scores.csv"),
               "--predictions", str(preds), "--out", str(report), "--bootstrap", "50"])
    assert rc == 0, capsys.readouterr().err
    html = (report / "report.html").read_text()
    assert "3. Model vs reference" in html and "94" in html
