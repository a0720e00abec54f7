"""covsev reads back exactly what it wrote spreadsheet-safe (issue 15 point 3): the quote prefix a
spreadsheet needs never changes a value for covsev's own readers."""
from __future__ import annotations

import pandas as pd

from covsev_tools import files
from covsev_tools.cohort import folder

AWKWARD = ["+ve", "=HYPERLINK(\"http://x\",\"y\")", "-2+3", "@SUM(1+1)", "'=already quoted", "'plain",
           "-2", "fine"]


def test_integrity_csv_round_trip_through_every_covsev_reader(tmp_path):
    path = tmp_path / "t.csv"
    files.write_csv_atomic(pd.DataFrame({"note": AWKWARD, "=col": range(len(AWKWARD))}), path)
    written = path.read_text()
    assert "'+ve" in written and "''=already quoted" in written and "\n-2," in written
    frame = files.read_csv(path, dtype=str, keep_default_na=False)
    assert frame.columns.tolist() == ["note", "=col"]
    assert frame["note"].tolist() == AWKWARD
    rows = folder.read_csv(path)
    assert [row["note"] for row in rows] == AWKWARD and "=col" in rows[0]


def test_integrity_subgroup_labels_survive_the_key(tmp_path):
    """A metadata value like '+ve' reaches the report unchanged through key.csv and the export."""
    from covsev_tools.validation.inputs import read_input_table

    path = tmp_path / "key.csv"
    files.write_csv_atomic(pd.DataFrame({"filename": ["a.png", "b.png"], "pcr": ["+ve", "-ve"]}), path)
    assert read_input_table(path, "metadata")["pcr"].tolist() == ["+ve", "-ve"]


def test_integrity_agreement_csv_neutralises_rater_names(tmp_path, capsys):
    from covsev_tools.cli import main

    ratings = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4], "rater": ["=cmd()", "@bob"] * 4,
                            "score": [0, 0, 1, 1, 2, 1, 3, 3]})
    ratings.to_csv(tmp_path / "r.csv", index=False)
    assert main(["agreement", str(tmp_path / "r.csv"), "--bootstrap", "0", "--csv"]) == 0
    out = capsys.readouterr().out
    assert "'=cmd()" in out and "'@bob" in out
    assert not any(line.startswith(("=", "@")) or ",=" in line or ",@" in line for line in out.splitlines())
