"""The coordinator and scoring notebooks run top to bottom headless (nbclient) on a tiny cohort."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from PIL import Image

from covsev_tools.scoring.app import ScoringApp

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def run_notebook(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def outputs_text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(parts)


@pytest.fixture
def study(tmp_path, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        pixels = (np.random.default_rng(i).random((40, 40)) * 255).astype("uint8")
        Image.fromarray(pixels).save(images / f"SECRETPATIENT{i}.png")
    env = {"COVSEV_IMAGES": images, "COVSEV_COHORT_NAME": "nbtest", "COVSEV_COHORT": tmp_path / "cohort",
           "COVSEV_REPEAT_FRACTION": "0.5", "COVSEV_REPEAT_GAP": "1", "COVSEV_SEED": "11", "COVSEV_RATERS": "rad1,rad2",
           "COVSEV_LABELS_DIR": tmp_path / "labels", "COVSEV_EXPORT": tmp_path / "out" / "ratings.csv",
           "COVSEV_RATER": "rad1"}
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return tmp_path


def test_coordinator_then_scoring_then_export(study):
    first = run_notebook("00_coordinator.ipynb")
    text = outputs_text(first)
    assert "4 cases, 2 hidden repeats" in text and "raters: rad1, rad2" in text
    assert "3 raters, interval width 0.2: 36 cases" in text  # Bonett (2002), ICC 0.8
    assert "wrote 0 rows" in text

    scoring = run_notebook("01_blinded_scoring.ipynb")
    [output] = scoring.cells[0]["outputs"]
    assert "application/vnd.jupyter.widget-view+json" in output["data"]
    assert "SECRETPATIENT" not in outputs_text(scoring) and "cannot start" not in outputs_text(scoring)

    app = ScoringApp(study / "cohort", rater="rad1", labels_dir=study / "labels")
    for _ in range(3):
        for key in "2110":
            app.keys.simulate(key)
        app.keys.simulate("Enter")
    again = outputs_text(run_notebook("00_coordinator.ipynb"))
    assert "wrote 18 rows (1 raters, 3 cases)" in again
    ratings = pd.read_csv(study / "out" / "ratings.csv")
    assert set(ratings["filename"]) <= {f"SECRETPATIENT{i}.png" for i in range(4)}
    assert ratings.query("component == 'total' and scale == 'extent'")["score"].tolist() == [3, 3, 3]
    assert re.search(r"rad1\s+3\s+6\s+3\s", again)  # progress: 3 scored of 6 (2 repeats), 3 left
    assert re.search(r"rad2\s+0\s+6\s+6\s", again)


def test_scoring_notebook_without_cohort_shows_a_message(study, monkeypatch):
    monkeypatch.delenv("COVSEV_COHORT")
    text = outputs_text(run_notebook("01_blinded_scoring.ipynb"))
    assert "cannot start" in text and "COVSEV_COHORT" in text
