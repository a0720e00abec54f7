"""Root fixtures: the simulated study the package's docstring examples read.

``covsev_tools/cli/__main__.py`` runs the command when imported, so doctest collection skips it.
"""
collect_ignore = ["covsev_tools/cli/__main__.py"]

import pytest


@pytest.fixture(scope="session")
def simulated_cohort(tmp_path_factory):
    """The package's default simulated study (``simulate_cohort(seed=0)``) written once, read by
    the docstring examples of the validation and report stages (they never write into it)."""
    from covsev_tools.datasets import simulate_cohort

    return simulate_cohort(seed=0).write(tmp_path_factory.mktemp("simulated") / "cohort")


@pytest.fixture
def simulated_inputs(simulated_cohort):
    """``load_inputs`` of the simulated study's ratings, predictions and key."""
    from covsev_tools.validation import load_inputs

    folder = simulated_cohort
    return load_inputs(folder / "ratings.csv", folder / "predictions.csv", key_path=folder / "key.csv")


@pytest.fixture
def simulated_result(simulated_inputs):
    """``validate(..., n_boot=0)`` of the simulated study."""
    from covsev_tools.validation import validate

    return validate(simulated_inputs, n_boot=0)
