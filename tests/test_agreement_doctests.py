"""The docstring examples of covsev_tools.agreement stay true."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["_table", "alpha", "bootstrap", "continuous", "formatting", "gwet", "icc", "kappa",
           "report"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"covsev_tools.agreement.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
