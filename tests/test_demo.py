"""`covsev demo` runs offline on the bundled labels and writes both reports."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from covsev_tools.cli import main


def test_demo_writes_both_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--bootstrap", "100", "--seed", "0"]) == 0
    printed = capsys.readouterr().out
    main_report, published = out / "report" / "report.html", out / "published-report" / "report.html"
    assert f"report (simulated multi-rater cohort): {main_report.resolve()}" in printed
    assert f"report (model vs published means):     {published.resolve()}" in printed
    assert "On extent, the model's MAE against the consensus of the other raters" in printed
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["study"]["n_raters"] == 4 and summary["study"]["n_cases"] == 94
    assert "Predictions: simulated" in main_report.read_text()
    assert {"model_as_rater", "intra_rater"}.isdisjoint(summary["notes"])
    ref_only = json.loads((out / "published-report" / "summary.json").read_text())
    assert ref_only["settings"]["reference"] == "published" and "model_as_rater" in ref_only["notes"]
    assert (out / "simulated-cohort" / "ratings.csv").is_file()


def test_demo_simulates_a_study_of_any_size(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--cases", "300", "--raters", "3", "--bootstrap", "50"]) == 0
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["study"]["n_cases"] == 300 and summary["study"]["raters"] == ["R1", "R2", "R3"]
    assert summary["settings"]["command"] == "covsev demo --cases 300 --raters 3 --seed 0 --bootstrap 50"
    key = pd.read_csv(out / "simulated-cohort" / "key.csv")
    assert len(key) == 300 and key["filename"].is_unique
    published = json.loads((out / "published-report" / "summary.json").read_text())
    preds = pd.read_csv(out / "published" / "predictions.csv")
    assert published["study"]["n_cases"] == 94 and len(preds) == 94  # the published images only
    assert published["study"]["n_predicted"] == int(preds["error"].isna().sum())
    assert main(["demo", "--out", str(out), "--cases", "2"]) == 2
    assert "--cases 2: must be 3 or more" in capsys.readouterr().err


def test_demo_confidence_reaches_both_reports_and_the_command(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--cases", "30", "--raters", "2", "--bootstrap", "50",
                 "--confidence", "0.9"]) == 0
    assert "90% CI" in capsys.readouterr().out
    for report in ("published-report", "report"):
        summary = json.loads((out / report / "summary.json").read_text())
        assert summary["settings"]["confidence"] == 0.9
        assert summary["settings"]["command"] == ("covsev demo --cases 30 --raters 2 --seed 0 --bootstrap 50 "
                                                  "--confidence 0.9")
        page = (out / report / "report.html").read_text()
        assert "90% bootstrap CI" in page and "95% CI" not in page and "95% bootstrap" not in page
    assert "90% CI" in summary["sentences"]["model_vs_raters:extent"]  # the multi-rater report's sentence
    assert main(["demo", "--out", str(out), "--confidence", "95"]) == 2
    assert "--confidence 95.0: must be between 0 and 1" in capsys.readouterr().err


def test_demo_images_folder_errors_exit_2(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--images", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("covsev demo: error: --images") and "no such folder" in err
    (tmp_path / "empty").mkdir()
    assert main(["demo", "--out", str(tmp_path), "--images", str(tmp_path / "empty")]) == 2
    assert "none of the 94 published images" in capsys.readouterr().err


@pytest.mark.realdata
def test_demo_with_images_but_no_weights_is_a_clear_error(shared_data, tmp_path, capsys):
    weights = tmp_path / "no-weights"
    weights.mkdir()
    rc = main(["demo", "--out", str(tmp_path / "o"), "--images", str(shared_data / "cohen2020" / "images"),
               "--weights-dir", str(weights)])
    assert rc == 2
    assert str(weights) in capsys.readouterr().err


def test_demo_with_images_uses_the_models_predictions(tmp_path, monkeypatch, capsys):
    """The model step is wired in: its predictions (here a stand-in) replace the simulated ones."""
    import numpy as np
    import pandas as pd

    from covsev_tools import model
    from covsev_tools.datasets import load_published_labels

    labels = load_published_labels()
    images = tmp_path / "images"
    images.mkdir()
    for name in labels["filename"][:-1]:  # one image missing: it becomes an error row
        (images / name).write_bytes(b"")
    calls = {}

    def fake_predict(paths, *, weights_dir=None, **_):
        calls["n"], calls["weights_dir"] = len(paths), weights_dir
        names = [p.rsplit("/", 1)[-1] for p in paths]
        truth = labels.set_index("filename").loc[names]
        return pd.DataFrame({"filename": names, "geographic_extent": truth["geographic_mean"].to_numpy() + 0.5,
                             "opacity": truth["opacity_mean"].to_numpy(),
                             "xrv:Lung Opacity": np.linspace(-2, 2, len(names)), "error": ""})

    monkeypatch.setattr(model, "predict", fake_predict)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--images", str(images), "--weights-dir", str(tmp_path),
                 "--bootstrap", "50"]) == 0
    assert calls == {"n": 93, "weights_dir": tmp_path}
    table = pd.read_csv(out / "published-report" / "tables" / "model_vs_reference.csv")
    bias = table[(table["scale"] == "extent") & (table["statistic"] == "Bias (pred − ref)")].iloc[0]
    assert bias["estimate"] == pytest.approx(0.5) and bias["n"] == 93
    assert "torchxrayvision DenseNet-121 on the images in" in (out / "report" / "report.html").read_text()
