"""Gwet's AC1/AC2: Gwet (2014) example via irrCAC and parity with irrCAC to 1e-9."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from irrCAC.datasets import raw_4raters
from irrCAC.raw import CAC

from covsev_tools.agreement import gwet_ac

from helpers import long_table, result_row



def irrcac(wide, weights, categories):
    est = CAC(pd.DataFrame(wide), weights=weights, categories=categories, digits=15).gwet()["est"]
    return est


def test_gwet_2014_four_raters_example():
    """Gwet (2014) 4 raters × 12 units (irrCAC raw_4raters): AC1 0.77544, SE 0.14295."""
    wide = raw_4raters().to_numpy(dtype=float)
    result = result_row(gwet_ac(long_table(wide)))
    assert round(result["value"], 5) == 0.77544
    assert round(result["se"], 5) == 0.14295
    assert result["ci95"][0] == pytest.approx(0.46081, abs=1e-5)
    assert result["ci95"][1] == 1.0


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(4))
def test_matches_irrcac_with_missing_and_unused_categories(weights, seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(10, 50), rng.integers(2, 6)
    wide = np.clip(rng.integers(0, 6, (n, 1)) + rng.integers(-1, 2, (n, k)), 0, 6).astype(float)
    wide[rng.random((n, k)) < 0.15] = np.nan
    wide = wide[np.isfinite(wide).any(axis=1)]
    categories = list(np.arange(0.0, 9.0))  # 7 and 8 never used: AC1's chance term still counts them
    result = result_row(gwet_ac(long_table(wide), weights=weights, categories="0-8"))
    reference = irrcac(wide, weights or "identity", categories)
    assert result["value"] == pytest.approx(reference["coefficient_value"], abs=1e-9)
    assert result["se"] == pytest.approx(reference["se"], abs=1e-9)
    np.testing.assert_allclose(result["ci95"], reference["confidence_interval"], atol=1e-9)
    observed = result_row(gwet_ac(long_table(wide), weights=weights))["value"]
    assert observed != pytest.approx(result["value"], abs=1e-6)


def test_not_categorical_gives_reason():
    result = result_row(gwet_ac(long_table(np.array([[1.5, 2.0], [2.5, 2.5], [0.25, 1.0]]))))
    assert result["value"] is None and "not categorical" in result["reason"]
