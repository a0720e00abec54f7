"""Notebook 03 runs top to bottom headless (nbclient) on a small simulated cohort."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_notebook_03_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("COVSEV_OUT", str(tmp_path / "report"))
    monkeypatch.setenv("COVSEV_BOOTSTRAP", "50")
    monkeypatch.setenv("COVSEV_SEED", "5")
    for name in ("COVSEV_COHORT", "COVSEV_RATINGS", "COVSEV_PREDICTIONS", "COVSEV_METADATA"):
        monkeypatch.delenv(name, raising=False)
    notebook = nbformat.read(NOTEBOOKS / "03_validation_report.ipynb", as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "covsev_tools.cli" not in source and "build_report(" in source  # same call as the CLI
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", ""))
                     for cell in notebook.cells for o in cell.get("outputs", []))
    assert "94 cases, 93 with a prediction, raters: R1, R2, R3, R4" in text
    assert "the model's MAE against the consensus of the other raters" in text
    assert "the model's excess disagreement was" in text  # readers random (issue 24)
    assert f"report: {tmp_path / 'report' / 'report.html'}" in text
    assert (tmp_path / "report" / "tables" / "model_vs_reference.tex").is_file()
    assert (tmp_path / "report" / "tables" / "inter_rater.tex").is_file()
    assert "notebooks/03_validation_report.ipynb" in (tmp_path / "report" / "report.html").read_text()
    images = [o for cell in notebook.cells for o in cell.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 7  # the six figures of the report and the inter-rater κ matrix
