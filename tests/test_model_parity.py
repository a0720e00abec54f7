"""Parity with the seed method (``predict_severity.py``) on all 94 images of the paper's cohort.

The checkpoint is a seeded random DenseNet saved under xrv's standard file name (no internet);
the comparison still exercises every step: reading, normalisation, crop, the fast anti-aliased
resize, the network, features and the published mapping.
"""
from __future__ import annotations

import numpy as np
import pytest

from covsev_tools.model.outputs import OUTPUT_COLUMNS
from covsev_tools.model.predictor import predict
from covsev_tools.model.weights import WEIGHTS_NAME
from helpers import seed_reference

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def parity_deviations(image_dir, weights_dir):
    """Max deviations of the package pipeline from the seed method over a folder of images."""
    import torchxrayvision as xrv

    paths = sorted(p for p in image_dir.iterdir() if p.is_file())
    reference_model = xrv.models.DenseNet(weights=WEIGHTS_NAME, cache_dir=str(weights_dir))
    refs = [seed_reference(p, reference_model) for p in paths]
    table, feats = predict(paths, weights_dir=weights_dir, batch_size=16, progress=False,
                           return_features=True)
    assert (table["error"] == "").all(), table.loc[table["error"] != "", ["filename", "error"]]
    ref_feats = np.stack([r["features"] for r in refs])
    scale = np.abs(ref_feats).max(axis=1, keepdims=True)
    return {
        "n": len(paths),
        "geographic_extent": float(np.max(np.abs(table["geographic_extent"]
                                                 - [r["geographic_extent"] for r in refs]))),
        "opacity": float(np.max(np.abs(table["opacity"] - [r["opacity"] for r in refs]))),
        "outputs": float(np.max(np.abs(table[list(OUTPUT_COLUMNS)].to_numpy()
                                       - np.stack([r["outputs"] for r in refs])))),
        "outputs_spread": float(np.ptp(np.stack([r["outputs"] for r in refs]))),
        "features_rel": float(np.max(np.abs(feats - ref_feats) / scale)),
        "unclamped": int(sum(0 < r["geographic_extent"] < 8 for r in refs)),
    }


def test_parity_with_seed_method_on_cohen2020(shared_data, weights_dir):
    dev = parity_deviations(shared_data / "cohen2020" / "images", weights_dir)
    print("parity deviations:", dev)
    assert dev["n"] == 94
    assert dev["unclamped"] >= 47  # most scores are inside the scale, so the check is real
    assert dev["geographic_extent"] <= 1e-3
    assert dev["opacity"] <= 1e-3
    # all 18 raw outputs of every image, not only the Lung Opacity output behind the scores; the
    # outputs spread over several units (checkpoint rescaled in helpers.make_checkpoint), so a
    # 1e-3 bound is a real check
    assert dev["outputs_spread"] > 1.0
    assert dev["outputs"] <= 1e-3
    assert dev["features_rel"] <= 5e-4
