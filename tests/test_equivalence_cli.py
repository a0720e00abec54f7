"""``covsev equivalence``: the documented JSON, text output and one-line errors (exit 2)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covsev_tools.agreement import model_equivalence
from covsev_tools.cli import main


def write_table(path, n=40, readers=4, seed=0, patients=True):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 8, n)
    rows = []
    for j, name in enumerate(["cnn"] + [f"r{k}" for k in range(readers)]):
        scores = np.clip(np.rint(truth + rng.normal(0, 0.5) + rng.normal(0, 0.9, n)), 0, 8)
        for i in range(n):
            row = {"case": f"c{i:02d}", "rater": name, "score": int(scores[i])}
            if patients:
                row["patient_id"] = f"P{i // 2}"
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run(argv, capsys):
    code = main(["equivalence", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_equivalence_cli_json_matches_the_library(tmp_path, capsys):
    path = write_table(tmp_path / "t.csv")
    code, out, _ = run([path, "--model", "cnn", "--margin", "0.3", "--bootstrap", "300",
                        "--seed", "4", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert {"n_cases", "n_readers", "metric", "readers", "margin"} <= set(result)
    assert (result["n_cases"], result["n_readers"], result["metric"], result["readers"],
            result["margin"]) == (40, 4, "mae", "random", 0.3)
    frame = model_equivalence(pd.read_csv(path), model="cnn", margin=0.3, n_boot=300, seed=4)
    for name in ("model_reader", "reader_reader", "excess_disagreement", "disagreement_ratio",
                 "williams_index"):
        for key in ("estimate", "ci_low", "ci_high"):
            assert result[name][key] == pytest.approx(frame.loc[name, key], rel=1e-12)
    assert result["excess_disagreement"]["p_value"] == pytest.approx(
        frame.loc["excess_disagreement", "p_value"])
    assert isinstance(result["excess_disagreement"]["noninferior"], bool)
    assert "patients and readers resampled" in result["method"]


def test_equivalence_cli_fixed_readers_no_cluster_msd_and_text(tmp_path, capsys):
    path = write_table(tmp_path / "t.csv", readers=2)
    code, out, _ = run([path, "--model", "cnn", "--readers", "fixed", "--no-cluster",
                        "--metric", "msd", "--bootstrap", "100", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["readers"] == "fixed" and result["metric"] == "msd"
    assert result["method"] == "bootstrap percentile (cases resampled, readers fixed)"
    assert result["margin_rule"] == "0.25 × reader_reader"
    assert result["margin"] == pytest.approx(0.25 * result["reader_reader"]["estimate"])
    code, out, _ = run([path, "--model", "cnn", "--readers", "fixed", "--bootstrap", "100"],
                       capsys)
    assert code == 0 and "excess_disagreement" in out and "bioequivalence" in out
    assert "these readers only" in out


@pytest.mark.parametrize("argv, message", [
    (["--model", "cnn2"], "model 'cnn2' is not a rater of the table (raters: cnn, r0, r1)"),
    (["--model", "cnn"], "readers='random' needs at least 3 readers besides the model; found 2"),
    (["--model", "cnn", "--score-col", "grade"], "missing score column 'grade'"),
    (["--model", "cnn", "--cluster-col", "pid"], "missing cluster (patient) column 'pid'"),
])
def test_equivalence_cli_errors_are_one_line_exit_2(tmp_path, capsys, argv, message):
    path = write_table(tmp_path / "t.csv", readers=2)
    code, out, err = run([path, *argv], capsys)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_equivalence_cli_non_numeric_scores(tmp_path, capsys):
    path = write_table(tmp_path / "t.csv")
    table = pd.read_csv(path, dtype=str)
    table.loc[5, "score"] = "moderate"
    table.to_csv(path, index=False)
    code, _, err = run([path, "--model", "cnn"], capsys)
    assert code == 2 and "non-numeric scores in column 'score' at line 7" in err


def test_plan_equivalence_json_and_text(tmp_path, capsys):
    from covsev_tools.agreement.equivalence_planning import equivalence_plan

    path = write_table(tmp_path / "pilot.csv", n=60, readers=4)
    code = main(["plan", "equivalence", "--pilot", str(path), "--model", "cnn", "--margin", "0.4",
                 "--readers", "3,5", "--cases", "40,80", "--simulations", "40", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(d["n_readers"], d["n_cases"]) for d in result["designs"]] == [
        (3, 40), (3, 80), (5, 40), (5, 80)]
    plan = equivalence_plan(pd.read_csv(path), model="cnn", margin=0.4, readers=(3, 5),
                            cases=(40, 80), n_sim=40)
    assert [d["power"] for d in result["designs"]] == plan["power"].tolist()
    assert result["smallest"] == plan.attrs["smallest"]
    assert result["components"]["n_pilot_readers"] == 4
    code = main(["plan", "equivalence", "--pilot", str(path), "--model", "cnn", "--margin", "0.4",
                 "--readers", "3", "--cases", "40", "--simulations", "10"])
    out = capsys.readouterr().out
    assert code == 0 and "Power (10 simulated studies per design" in out and "reader SD" in out


@pytest.mark.parametrize("argv, message", [
    (["--model", "x", "--margin", "0.3"], "model 'x' is not a rater"),
    (["--model", "cnn", "--margin", "0.3", "--readers", "2"], "readers must be whole numbers ≥ 3"),
    (["--model", "cnn", "--margin", "0.3", "--power", "1.5"], "power must be between 0 and 1"),
])
def test_plan_equivalence_errors_exit_2(tmp_path, capsys, argv, message):
    path = write_table(tmp_path / "pilot.csv", n=20, readers=3)
    code = main(["plan", "equivalence", "--pilot", str(path), *argv, "--simulations", "5"])
    err = capsys.readouterr().err
    assert code == 2 and message in err


def test_equivalence_cli_takes_patientid_as_the_patient_column(tmp_path, capsys):
    path = write_table(tmp_path / "t.csv")
    pd.read_csv(path).rename(columns={"patient_id": "patientid"}).to_csv(path, index=False)
    code, out, _ = run([path, "--model", "cnn", "--bootstrap", "50", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["cluster_column"] == "patientid"
    assert "patients and readers resampled" in result["method"]
    code, out, _ = run([path, "--model", "cnn", "--bootstrap", "50", "--no-cluster", "--json"],
                       capsys)
    result = json.loads(out)
    assert result["cluster_column"] is None and "cases and readers resampled" in result["method"]
