"""Scales, reader and cohorts on the real reference data in ../shared/data (skipped when absent)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skimage.io

from covsev_tools.cohort import create_cohort
from covsev_tools.images import read_xray
from covsev_tools.scales import load_scale

pytestmark = pytest.mark.realdata


def test_every_cohen2020_image_equals_the_seed_read(shared_data):
    paths = sorted((shared_data / "cohen2020" / "images").iterdir())
    assert len(paths) == 94
    for path in paths:
        xray = read_xray(path)
        seed = skimage.io.imread(path)
        seed = seed[:, :, 0] if seed.ndim == 3 else seed
        assert xray.array.dtype == np.uint8 and xray.max_value == 255, path.name
        np.testing.assert_array_equal(xray.array, seed, err_msg=path.name)
        assert xray.meta["original_size"] == seed.shape[:2]


def test_dicom_samples(shared_data):
    import pydicom

    mono1 = shared_data / "dicom" / "Fake_MONOHR1.dcm"
    xray = read_xray(mono1)
    raw = pydicom.dcmread(mono1).pixel_array
    assert xray.meta["photometric"] == "MONOCHROME1" and xray.max_value == 255
    np.testing.assert_array_equal(xray.array, 255 - raw)  # inverted: white = dense
    siim = shared_data / "dicom" / "siim-pneumothorax-sample.dcm"
    xray = read_xray(siim)
    assert xray.meta["photometric"] == "MONOCHROME2" and xray.array.shape == (1024, 1024)
    np.testing.assert_array_equal(xray.array, pydicom.dcmread(siim).pixel_array)


def test_cohen2020_cohort_with_metadata(shared_data, tmp_path):
    data = shared_data / "cohen2020"
    cohort = create_cohort(data / "images", "cohen2020", out_dir=tmp_path / "cohen2020",
                           metadata_csv=data / "metadata.csv", seed=1, progress=False)
    report = cohort.report
    assert (report.n_readable, report.n_unreadable, report.n_cases) == (94, 0, 94)
    assert report.images_without_metadata == [] and report.metadata_unmatched_rows == []
    key = cohort.key()
    assert {"patientid", "offset", "sex", "view"} <= set(key.columns) and (key["view"] == "PA").all()
    scores = pd.read_csv(data / "covid-severity-scores.csv", comment="#")
    assert set(scores["filename"]) == set(key["filename"])  # the published labels join on the key
    extent = load_scale("extent")
    assert scores["geographic_mean"].between(extent.min_total, extent.max_total).all()
    assert len(list((cohort.dir / "cases").glob("*.png"))) == 94


def test_brixia_cohort_reads_all_187_including_a_name_with_a_space(shared_data, tmp_path):
    data = shared_data / "brixia-public"
    cohort = create_cohort(data / "images", "brixia", out_dir=tmp_path / "brixia", scales=["brixia"],
                           repeat_fraction=0.1, seed=2, progress=False,
                           display_max_side=512)  # small display PNGs keep this test quick
    report = cohort.report
    assert (report.n_readable, report.n_unreadable) == (187, 0)
    key = cohort.key().set_index("filename")
    assert key.loc["immagine 2.png", "status"] == "ok"
    formats = {row["source_format"] for row in cohort.cases()}  # source facts: coordinator side
    assert formats == {"png", "jpeg"}
    assert {row["bit_depth"] for row in cohort.cases()} == {"8", "16"}  # one 16-bit RGBA PNG
    annotations = pd.read_csv(data / "public-annotations.csv", encoding="utf-8-sig")
    brixia = load_scale("brixia")
    zones = annotations[[f"S-{z}" for z in brixia.component_keys]].rename(columns=lambda c: c[2:])
    totals = [brixia.total(row) for row in zones.to_dict("records")]
    assert totals == annotations["S-Global"].tolist()  # the scale file reproduces the published totals
