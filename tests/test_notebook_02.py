"""Notebook 02 runs top to bottom headless (nbclient) on a small generated cohort, offline."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
from nbclient import NotebookClient


NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _generated_cohort(root: Path, n: int = 12):
    from PIL import Image

    from covsev_tools.cohort import create_cohort

    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:320, 0:280]
    rows = []
    for i in range(n):
        picture = 128 + 80 * np.sin(xx / (20 + i)) * np.cos(yy / 31.0) + rng.normal(0, 10, xx.shape)
        name = f"cxr{i:02d}.png"
        Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(images / name)
        rows.append({"filename": name, "geographic_mean": round(i * 8 / n, 1),
                     "opacity_mean": round(i * 6 / n, 1), "patientid": i // 2, "view": "PA"})
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    table = pd.DataFrame(rows)
    (root / "labels.csv").write_text("## generated labels\n" + table[
        ["filename", "geographic_mean", "opacity_mean"]].to_csv(index=False))
    table[["patientid", "filename", "view"]].to_csv(root / "metadata.csv", index=False)
    return create_cohort(images, "nb02", out_dir=root / "cohort", seed=3)


def test_notebook_02_headless(tmp_path, monkeypatch, weights_dir):
    cohort = _generated_cohort(tmp_path)
    out = tmp_path / "out"
    env = {"COVSEV_COHORT": str(cohort.dir), "COVSEV_LABELS": str(tmp_path / "labels.csv"),
           "COVSEV_METADATA": str(tmp_path / "metadata.csv"),
           "COVSEV_WEIGHTS_DIR": str(weights_dir), "COVSEV_OUT": str(out),
           "COVSEV_REPEATS": "2", "COVSEV_FOLDS": "3"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(NOTEBOOKS / "02_predict_and_refit.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text = "\n".join(str(o.get("text", "")) for cell in notebook.cells
                     for o in cell.get("outputs", []))
    assert "12 images predicted, 0 unreadable" in text  # the broken file is not a cohort case
    assert "12 labelled images from 6 groups (patientid)" in text
    predictions = pd.read_csv(cohort.dir / "predictions.csv")
    assert list(predictions.columns[:2]) == ["case_id", "filename"] and len(predictions) == 12
    assert np.load(out / "features.npy").shape == (12, 1024)
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison["features"]) == {"lung_opacity", "four_outputs", "all_outputs",
                                           "features_1024"}
    assert (pd.read_csv(out / "seed_protocol.csv")["n_repeats"] == 50).all()
    mapping = json.loads((out / "mapping_lung_opacity_linear.json").read_text())
    assert mapping["n_train"] == 12 and mapping["features"] == ["xrv:Lung Opacity"]


def test_notebook_02_is_thin_and_never_imports_the_cli():
    notebook = nbformat.read(NOTEBOOKS / "02_predict_and_refit.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert not any("covsev_tools.cli" in source for source in code)
    assert not any(line.lstrip().startswith("def ") for source in code for line in source.splitlines())
    assert sum(len(source.splitlines()) for source in code) <= 45  # a screen of calls
