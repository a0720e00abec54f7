"""Spreadsheet-safe CSV (issue 15.3): every CSV written for people neutralises formula cells (OWASP:
a quote before = + - @ tab CR) while numbers stay numbers; raw output on request. Each writer is read
back with pandas and with Python's csv module."""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covsev_tools import files
from covsev_tools.cli import main
from covsev_tools.cohort import create_cohort
from covsev_tools.labels import LabelStore

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tx", "\r=1"]
SAFE_TEXT = ["plain", "", "a=b", "'quoted but no formula"]
# A quote before a formula gets one more quote, so that covsev's own readers undo the escape exactly
# (files.spreadsheet_unescape): "'=x" and "=x" must not both be written as "'=x".
QUOTED_FORMULAS = ["'=already quoted"]
NUMBER_TEXT = ["-2", "+1.5", "-0.25", "1e-3", "-.5"]


def neutral(value: str) -> str:
    return "'" + value


def read_both(path):
    """The file read back by pandas (as text) and by the csv module."""
    by_pandas = pd.read_csv(path, dtype=str, keep_default_na=False)
    with open(path, newline="", encoding="utf-8") as fh:
        by_csv = list(csv.DictReader(fh))
    return by_pandas, by_csv


def test_integrity_csv_writer_neutralises_formulas_and_keeps_numbers(tmp_path):
    text = FORMULAS + QUOTED_FORMULAS + SAFE_TEXT + NUMBER_TEXT
    frame = pd.DataFrame({"comment": text, "score": np.arange(len(text)) - 5,
                          "mean": np.linspace(-1.5, 1.5, len(text)),
                          "group": pd.Categorical(["=A1"] * 2 + ["b"] * (len(text) - 2)),
                          "=header": ["x"] * len(text)})
    out = files.write_csv_atomic(frame, tmp_path / "t.csv")
    expected = [neutral(v) for v in FORMULAS + QUOTED_FORMULAS] + SAFE_TEXT + NUMBER_TEXT
    by_pandas, by_csv = read_both(out)
    assert list(by_pandas.columns) == ["comment", "score", "mean", "group", "'=header"]
    assert by_pandas["comment"].tolist() == expected == [row["comment"] for row in by_csv]
    assert by_pandas["group"].tolist()[:3] == ["'=A1", "'=A1", "b"]
    numbers = pd.read_csv(out)
    assert numbers["score"].tolist() == list(range(-5, len(text) - 5))  # negative numbers stay numbers
    np.testing.assert_allclose(numbers["mean"], frame["mean"])
    assert frame["comment"].tolist() == text  # the caller's table is not changed
    assert files.spreadsheet_safe("-") == "'-" and files.spreadsheet_safe("--1") == "'--1"


def test_integrity_csv_raw_flag_context_and_environment_write_cells_unchanged(tmp_path, monkeypatch):
    frame = pd.DataFrame({"comment": FORMULAS})
    for write in (lambda p: files.write_csv_atomic(frame, p, raw=True),
                  lambda p: files.write_rows_csv_atomic(p, ["comment"], frame.to_dict("records"), raw=True)):
        path = write(tmp_path / "raw.csv")
        with open(path, newline="", encoding="utf-8") as fh:
            assert [r["comment"] for r in csv.DictReader(fh)] == FORMULAS
    with files.raw_csv():
        files.write_csv_atomic(frame, tmp_path / "ctx.csv")
    monkeypatch.setenv(files.RAW_CSV_ENV, "1")
    files.write_csv_atomic(frame, tmp_path / "env.csv")
    monkeypatch.setenv(files.RAW_CSV_ENV, "0")
    files.write_csv_atomic(frame, tmp_path / "safe.csv")
    for name, want in (("ctx.csv", FORMULAS), ("env.csv", FORMULAS), ("safe.csv", [neutral(v) for v in FORMULAS])):
        with open(tmp_path / name, newline="", encoding="utf-8") as fh:
            assert [r["comment"] for r in csv.DictReader(fh)] == want, name
    assert pd.read_csv(tmp_path / "ctx.csv")["comment"].tolist() == FORMULAS  # a CR cell is quoted


def test_integrity_row_writer_and_csv_text_neutralise(tmp_path):
    rows = [{"name": v, "n": -2} for v in FORMULAS + NUMBER_TEXT]
    path = files.write_rows_csv_atomic(tmp_path / "rows.csv", ["name", "n"], rows)
    by_pandas, by_csv = read_both(path)
    want = [neutral(v) for v in FORMULAS] + NUMBER_TEXT
    assert by_pandas["name"].tolist() == want == [r["name"] for r in by_csv]
    assert set(pd.read_csv(path)["n"]) == {-2}
    text = files.csv_text(["name", "n"], rows)
    assert [r["name"] for r in csv.DictReader(io.StringIO(text))] == want


@pytest.fixture
def hostile_study(tmp_path):
    """A cohort whose file names and metadata hold formulas, and raters whose comments do."""
    images = tmp_path / "images"
    images.mkdir()
    names = ["=cmd.png", "@SUM(1+1).png", "-2+3.png", "plain.png", "b.png", "c.png"]
    for i, name in enumerate(names):
        Image.fromarray((np.random.default_rng(i).random((32, 32)) * 255).astype("uint8")).save(images / name)
    meta = tmp_path / "meta.csv"
    pd.DataFrame({"filename": names, "note": ["+cmd|' /C calc'!A0", "ok", "=1+1", "-", "", "fine"],
                  "age_change": ["-2", "3", "-0.5", "+4", "", "0"]}).to_csv(meta, index=False)
    cohort = create_cohort(images, "hostile", out_dir=tmp_path / "cohort", metadata_csv=meta,
                           repeat_fraction=0.0, seed=1, progress=False, workers=1)
    store = LabelStore(tmp_path / "labels", "hostile", scales=cohort.scales)
    comments = dict(zip(cohort.reading_order("ann"), FORMULAS))
    for case_id, comment in comments.items():
        store.save({"rater": "ann", "case_id": case_id, "comment": comment,
                    "scales": {"extent": {"version": "1", "scores": {"right": 1, "left": 2}, "total": 3},
                               "opacity": {"version": "1", "scores": {"right": 0, "left": 1}, "total": 1}}})
    return cohort, tmp_path


def test_integrity_key_csv_neutralises_file_names_and_metadata(hostile_study):
    cohort, _ = hostile_study
    by_pandas, by_csv = read_both(cohort.dir / "key.csv")
    by_name = by_pandas.set_index("filename")
    assert set(by_name.index) == {"'=cmd.png", "'@SUM(1+1).png", "'-2+3.png", "plain.png", "b.png", "c.png"}
    assert by_name.loc["'=cmd.png", "note"] == "'+cmd|' /C calc'!A0" and by_name.loc["'-2+3.png", "note"] == "'=1+1"
    assert sorted(r["age_change"] for r in by_csv) == ["", "+4", "-0.5", "-2", "0", "3"]  # numbers untouched
    assert sorted(pd.read_csv(cohort.dir / "key.csv")["age_change"].dropna()) == [-2.0, -0.5, 0.0, 3.0, 4.0]


@pytest.mark.parametrize("raw", [False, True, "global"])
def test_integrity_ratings_export_neutralises_comments_names_and_metadata(hostile_study, raw):
    cohort, root = hostile_study
    out = root / "ratings.csv"
    args = ["labels", "export", str(cohort.dir), "--out", str(out), "--labels-dir", str(root / "labels")]
    assert main(["--raw-csv", *args] if raw == "global" else args + (["--raw-csv"] if raw else [])) == 0
    raw = bool(raw)
    by_pandas, by_csv = read_both(out)
    with open(out, newline="", encoding="utf-8") as fh:
        comments = {r["comment"] for r in csv.DictReader(fh)}
    assert comments == (set(FORMULAS) if raw else {neutral(v) for v in FORMULAS})
    assert [r["comment"] for r in by_csv] == by_pandas["comment"].tolist()
    cells = by_pandas[["comment", "filename", "note"]].to_numpy().ravel()
    assert any(c[:1] in tuple("=+-@\t\r") for c in cells) == raw  # raw keeps them; safe never starts so
    numbers = pd.read_csv(out)
    assert numbers["score"].dtype.kind == "i" and set(numbers["score"]) == {0, 1, 2, 3}
    assert numbers["age_change"].dtype.kind == "f" and set(numbers["age_change"].dropna()) <= {-2.0, -0.5, 0.0, 3.0, 4.0}


def test_integrity_report_tables_csv_is_neutralised(tmp_path):
    from covsev_tools.report.tables import Table, write_table

    raw = pd.DataFrame({"subgroup": ["=HYPERLINK(1)", "-2+3", "men"], "estimate": [-0.5, 0.25, 1.0],
                        "n": [-1, 2, 3]})
    paths = write_table(Table("subgroups", "caption", raw, raw.astype(str)), tmp_path)
    by_pandas, by_csv = read_both(paths["csv"])
    assert by_pandas["subgroup"].tolist() == ["'=HYPERLINK(1)", "'-2+3", "men"] == [r["subgroup"] for r in by_csv]
    back = pd.read_csv(paths["csv"])
    assert back["estimate"].tolist() == [-0.5, 0.25, 1.0] and back["n"].tolist() == [-1, 2, 3]
