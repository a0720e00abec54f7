"""``covsev agreement``: outputs, the labels-export file with --filter, and clear errors (exit 2)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covsev_tools.cli import main


def write_ratings(path, n=30, raters=("ann", "bob", "cat"), seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 9, n)
    rows = [{"case": f"c{i:02d}", "rater": r, "score": int(np.clip(truth[i] + rng.integers(-1, 2), 0, 8))}
            for i in range(n) for r in raters]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_export(path, n=25, seed=1):
    """A file shaped like `covsev labels export`: several scales/components, repeats, N/A rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for rater in ("r1", "r2"):
        for i in range(n):
            right, left = (int(v) for v in np.clip(rng.integers(0, 5, 2), 0, 4))
            for repeat in (False, True) if i < 3 else (False,):
                for scale, comps in (("extent", {"right": right, "left": left,
                                                 "total": right + left}),
                                     ("opacity", {"right": 1, "left": 2, "total": 3})):
                    for component, score in comps.items():
                        rows.append({"cohort": "demo", "case_id": f"case{i:03d}",
                                     "display_id": f"R{i}" if repeat else f"case{i:03d}",
                                     "is_repeat": repeat, "rater": rater, "scale": scale,
                                     "scale_version": "1", "component": component,
                                     "score": "" if (i == 5 and rater == "r2") else score,
                                     "not_assessable": i == 5 and rater == "r2"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run(argv, capsys):
    code = main(["agreement", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_is_strict_and_complete(tmp_path, capsys):
    path = write_ratings(tmp_path / "ratings.csv")
    code, out, _ = run([path, "--categories", "0-8", "--bootstrap", "200", "--json"], capsys)
    assert code == 0
    report = json.loads(out, parse_constant=lambda t: pytest.fail(f"non-strict token {t}"))
    assert (report["n_cases"], report["n_raters"], report["n_ratings"]) == (30, 3, 90)
    assert report["method"]["bootstrap"]["n_boot"] == 200
    assert report["method"]["categories"] == list(range(9))
    assert len(report["pairs"]) == 3 and len(report["vs_others"]) == 3


@pytest.mark.parametrize("flag, marker", [("--markdown", "| ICC2 ICC(A,1) |"),
                                          ("--latex", "\\toprule"),
                                          ("--csv", "section,statistic,rater_a")])
def test_table_formats_to_file(tmp_path, capsys, flag, marker):
    path = write_ratings(tmp_path / "ratings.csv")
    out_file = tmp_path / "out.txt"
    code, out, _ = run([path, "--bootstrap", "50", flag, "--out", out_file], capsys)
    assert code == 0 and out == ""
    assert marker in out_file.read_text(encoding="utf-8")


def test_labels_export_with_filters_and_case_id_fallback(tmp_path, capsys):
    path = write_export(tmp_path / "export.csv")
    code, out, _ = run([path, "--filter", "scale=extent", "--filter", "component=total",
                        "--filter", "is_repeat=false", "--categories", "0-8",
                        "--bootstrap", "100", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert (report["n_cases"], report["n_raters"]) == (25, 2)
    assert report["n_ratings"] == 49 and report["method"]["n_missing_scores"] == 1
    assert report["method"]["icc"]["n_dropped"] == 1
    export = pd.read_csv(path)
    keep = export[(export.scale == "extent") & (export.component == "total") & ~export.is_repeat]
    wide = keep.pivot(index="case_id", columns="rater", values="score").dropna()
    from sklearn.metrics import cohen_kappa_score
    assert report["pairs"][0]["kappa_quadratic"]["value"] == pytest.approx(
        cohen_kappa_score(wide.r1, wide.r2, labels=range(9), weights="quadratic"), abs=1e-9)


def test_export_without_repeat_filter_names_duplicates(tmp_path, capsys):
    path = write_export(tmp_path / "export.csv")
    code, _, err = run([path, "--case-col", "case_id", "--filter", "scale=extent",
                        "--filter", "component=total", "--json"], capsys)
    assert code == 2
    assert "duplicate ratings" in err and "case 'case000' × rater 'r1' at line" in err


def test_error_messages(tmp_path, capsys):
    good = write_ratings(tmp_path / "ratings.csv")
    table = pd.read_csv(good)

    def check(frame, message, *extra):
        path = tmp_path / "bad.csv"
        frame.to_csv(path, index=False)
        code, out, err = run([path, *extra, "--json"], capsys)
        assert code == 2 and out == "", err
        assert message in err, err

    check(table.drop(columns="rater"), "missing rater column 'rater'")
    bad = table.astype({"score": object})
    bad.loc[[2, 7], "score"] = ["high", "2,5"]
    check(bad, "non-numeric scores in column 'score' at line 4, 9")
    check(table[table.rater == "ann"], "need at least two raters to measure agreement; found 1 (ann)")
    check(table.assign(score=4), "constant scores")
    check(table, "no column 'scale'", "--filter", "scale=extent")
    check(table, "no rows left", "--filter", "rater=zed")
    check(table, "outside the categories {0, 1, 2, 3}", "--categories", "0-3")
    code, _, err = run([tmp_path / "absent.csv", "--json"], capsys)
    assert code == 2 and "no such file" in err


def test_output_format_is_required(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["agreement", str(write_ratings(tmp_path / "r.csv"))])
    assert exit_info.value.code == 2


def test_categories_from_a_scale(tmp_path, capsys):
    pytest.importorskip("covsev_tools.scales.scale")
    path = write_export(tmp_path / "export.csv")
    base = [path, "--filter", "scale=extent", "--filter", "is_repeat=false", "--bootstrap", "10",
            "--categories", "extent", "--json"]
    code, out, _ = run([*base, "--filter", "component=total"], capsys)
    assert code == 0 and json.loads(out)["method"]["categories"] == list(range(9))
    code, out, _ = run([*base, "--filter", "component=right"], capsys)
    assert code == 0 and json.loads(out)["method"]["categories"] == list(range(5))
    code, _, err = run([path, "--categories", "nonsense", "--json"], capsys)
    assert code == 2 and "--categories 'nonsense'" in err


def test_adjudicated_consensus_rows_are_not_a_rater(tmp_path, capsys):
    """An export after `covsev adjudicate` holds rater 'consensus': the statistics leave it out."""
    path = write_export(tmp_path / "export.csv")
    base = ["--filter", "scale=extent", "--filter", "component=total", "--filter", "is_repeat=false",
            "--bootstrap", "0", "--json"]
    code, plain, _ = run([path, *base], capsys)
    assert code == 0
    table = pd.read_csv(path)
    consensus = table[(table["rater"] == "r1")].assign(rater="consensus")
    with_consensus = tmp_path / "with-consensus.csv"
    pd.concat([table, consensus]).to_csv(with_consensus, index=False)
    code, out, err = run([with_consensus, *base], capsys)
    assert code == 0
    assert json.loads(out)["raters"] == json.loads(plain)["raters"] == ["r1", "r2"]
    assert json.loads(out)["icc"] == json.loads(plain)["icc"]
    assert f"{len(consensus[(consensus.scale == 'extent') & (consensus.component == 'total') & ~consensus.is_repeat])} rows of rater 'consensus'" in err


@pytest.mark.parametrize("column", ["patient_id", "patientid"])
def test_default_cluster_takes_either_spelling_of_the_patient_column_and_says_so(tmp_path, capsys, column):
    """covsev's own export and the image collection say ``patientid``: the default must use it too."""
    table = pd.read_csv(write_ratings(tmp_path / "r.csv", n=40))
    table[column] = table["case"].str[1:].astype(int) // 4          # 4 images per patient
    path = tmp_path / "with_patients.csv"
    table.to_csv(path, index=False)
    code, default, err = run([path, "--json", "--bootstrap", 200], capsys)
    assert code == 0 and f"resamples patients (column '{column}')" in err
    code, named, _ = run([path, "--json", "--bootstrap", 200, "--cluster-col", column], capsys)
    assert json.loads(default) == json.loads(named)
    code, images, err = run([path, "--json", "--bootstrap", 200, "--no-cluster"], capsys)
    assert "resamples images (--no-cluster)" in err
    assert json.loads(images)["fleiss_kappa"] != json.loads(default)["fleiss_kappa"]


def test_no_patient_column_says_images_are_resampled(tmp_path, capsys):
    code, _, err = run([write_ratings(tmp_path / "r.csv"), "--json", "--bootstrap", 50], capsys)
    assert code == 0 and "no patient column (patient_id or patientid)" in err
