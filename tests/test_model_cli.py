"""``covsev predict``: folder, files and cohort runs, offline weights, exit codes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from covsev_tools.model.mapping import SeverityMapping
from covsev_tools.model.outputs import OUTPUT_COLUMNS
from covsev_tools.model.weights import weights_filename, weights_url
from covsev_tools.cli import main
from helpers import write_images


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    write_images(folder)
    (folder / "nested").mkdir()
    shutil.copy(folder / "grey.png", folder / "nested" / "copy.png")  # a duplicate, in a subfolder
    return folder


def test_predict_folder_writes_csv_features_and_saliency(image_dir, weights_dir, tmp_path, capsys):
    out, feats = tmp_path / "p.csv", tmp_path / "f.npy"
    rc = main(["predict", str(image_dir), "--out", str(out), "--weights-dir", str(weights_dir),
               "--features", str(feats), "--saliency", str(tmp_path / "sal"), "--batch-size", "2"])
    assert rc == 0
    table = pd.read_csv(out, keep_default_na=False)
    names = sorted(p.relative_to(image_dir).as_posix() for p in image_dir.rglob("*") if p.is_file())
    assert list(table["filename"]) == names
    assert list(table.columns) == ["filename", "geographic_extent", "opacity",
                                   *OUTPUT_COLUMNS, "error"]
    bad = table["filename"] == "broken.png"
    assert table.loc[bad, "error"].str.contains("broken.png").all()
    assert (table.loc[~bad, "error"] == "").all()
    array = np.load(feats)
    assert array.shape == (len(table), 1024) and array.dtype == np.float32
    assert np.isnan(array[bad.to_numpy()]).all() and not np.isnan(array[~bad.to_numpy()]).any()
    assert len(list((tmp_path / "sal").glob("*.png"))) == (~bad).sum()
    err = capsys.readouterr().err
    assert "predict" in err and f"wrote {len(table)} rows" in err  # tqdm bar + summary on stderr


def test_predict_files_and_mapping(image_dir, weights_dir, tmp_path):
    mapping = SeverityMapping(
        features=["xrv:Lung Opacity"],
        targets={"geographic_extent": {"coef": [0.0], "intercept": 2.5, "clamp": [0, 8]}})
    mapping.save(tmp_path / "m.json")
    out = tmp_path / "p.csv"
    rc = main(["predict", str(image_dir / "grey.png"), str(image_dir / "rgb.jpg"), "--out", str(out),
               "--weights-dir", str(weights_dir), "--mapping", str(tmp_path / "m.json"),
               "--workers", "0", "--quiet"])
    assert rc == 0
    table = pd.read_csv(out)
    assert list(table["filename"]) == ["grey.png", "rgb.jpg"]
    assert (table["geographic_extent"] == 2.5).all() and table["opacity"].isna().all()


def test_predict_cohort_keys_rows_by_case_id(image_dir, weights_dir, tmp_path):
    from covsev_tools.cohort import create_cohort

    cohort = create_cohort(image_dir, "demo", out_dir=tmp_path / "cohort", seed=1)
    key = cohort.key()
    out = tmp_path / "p.csv"
    assert main(["predict", "--cohort", str(cohort.dir), "--out", str(out), "--weights-dir",
                 str(weights_dir), "--quiet"]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns[:3]) == ["case_id", "filename", "geographic_extent"]
    ok = key[key["status"] == "ok"]
    assert sorted(table["case_id"]) == sorted(ok["case_id"])
    assert dict(zip(table["case_id"], table["filename"])) == dict(zip(ok["case_id"], ok["filename"]))
    pd.testing.assert_frame_equal(pd.read_csv(cohort.dir / "predictions.csv", keep_default_na=False), table)


@pytest.mark.parametrize("argv, message", [
    (["predict", "--out", "x.csv"], "nothing to predict"),
    (["predict", "missing.png", "--out", "x.csv"], "missing.png: no such file"),
    (["predict", "--cohort", "nowhere", "--out", "x.csv"], "not a cohort folder"),
])
def test_predict_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_mapping_file_exits_2(image_dir, weights_dir, tmp_path, capsys):
    (tmp_path / "m.json").write_text(json.dumps({"features": ["xrv:Lung Opacity"]}))
    rc = main(["predict", str(image_dir / "grey.png"), "--out", str(tmp_path / "p.csv"),
               "--weights-dir", str(weights_dir), "--mapping", str(tmp_path / "m.json")])
    assert rc == 2 and "not a valid severity mapping" in capsys.readouterr().err


def test_missing_weights_exit_2_with_one_message(image_dir, tmp_path):
    """The real console script, no network: exit 2 and one message with file, URL and folder."""
    env = {**os.environ, "COVSEV_WEIGHTS_DIR": str(tmp_path / "empty")}
    entry = "import sys; from covsev_tools.cli import main; sys.exit(main())"  # as the console script
    proc = subprocess.run([sys.executable, "-c", entry, "predict", str(image_dir),
                           "--out", str(tmp_path / "p.csv")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert weights_filename() in lines[0] and weights_url() in lines[0]
    assert str(tmp_path / "empty") in lines[0]
    assert not (tmp_path / "p.csv").exists()


def test_predict_every_image_unreadable_exits_2_and_writes_nothing(weights_dir, tmp_path):
    """The real console script: exit 2, one line naming a file and the reason, no output files."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff truncated\nsecond line")
    out, feats = tmp_path / "p.csv", tmp_path / "f.npy"
    entry = "import sys; from covsev_tools.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", entry, "predict", str(folder), "--out", str(out),
                           "--features", str(feats), "--weights-dir", str(weights_dir), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "none of the 2 images could be read" in lines[0] and "a.png" in lines[0]
    assert "ImageReadError" in lines[0] and "nothing written" in lines[0]
    assert not out.exists() and not feats.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]  # no temporaries left either


def test_predict_some_unreadable_images_still_succeeds(image_dir, weights_dir, tmp_path):
    out = tmp_path / "p.csv"
    assert main(["predict", str(image_dir / "broken.png"), str(image_dir / "grey.png"), "--out",
                 str(out), "--weights-dir", str(weights_dir), "--workers", "0", "--quiet"]) == 0
    assert list(pd.read_csv(out, keep_default_na=False)["error"] != "") == [True, False]
