"""Shared fixtures. Real data lives beside the checkout in ../shared/data and is never copied here."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COVSEV_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real reference data; skips the test with the reason when it is absent."""
    if not (SHARED_DATA / "cohen2020" / "images").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set COVSEV_SHARED_DATA to its folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A folder holding a seeded random-weights xrv checkpoint under its standard file name, so the
    real loading code runs offline (the published weights cannot be downloaded here)."""
    from helpers import make_checkpoint

    folder = tmp_path_factory.mktemp("weights")
    make_checkpoint(folder)
    return folder
