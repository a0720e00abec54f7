"""The statistics API: one function per statistic, keyword-only options named alike, tidy results."""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import covsev_tools.agreement as agreement
from covsev_tools.agreement import (bland_altman, cohen_kappa, concordance_ccc, fleiss_kappa,
                                    gwet_ac, icc, krippendorff_alpha, pairwise_agreement, pearson,
                                    spearman)

from helpers import long_table

STATISTICS = [icc, cohen_kappa, fleiss_kappa, krippendorff_alpha, gwet_ac, pearson, spearman,
              concordance_ccc, bland_altman, pairwise_agreement]
BOOTSTRAPPED = [cohen_kappa, fleiss_kappa, krippendorff_alpha, pairwise_agreement]


def two_raters(n=40, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 9, n)
    wide = np.column_stack([truth, np.clip(truth + rng.integers(-1, 2, n), 0, 8)]).astype(float)
    return long_table(wide)


@pytest.mark.parametrize("function", STATISTICS, ids=lambda f: f.__name__)
def test_options_are_keyword_only_and_named_alike(function):
    parameters = list(inspect.signature(function).parameters.values())
    assert parameters[0].name == "data"
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters[1:]), function.__name__
    names = {p.name for p in parameters}
    assert "confidence" in names and "ci95" not in names
    # "level" is Krippendorff's level of measurement and nothing else
    assert ("level" in names) == (function is krippendorff_alpha)
    if function in BOOTSTRAPPED:
        assert {"n_boot", "seed", "cluster"} <= names
        assert inspect.signature(function).parameters["cluster"].default == "patient_id"


@pytest.mark.parametrize("function", STATISTICS, ids=lambda f: f.__name__)
def test_results_are_tidy_frames_with_the_confidence_in_attrs(function):
    kwargs = {"n_boot": 200} if function in BOOTSTRAPPED else {}
    frame = function(two_raters(), confidence=0.9, **kwargs)
    assert isinstance(frame, pd.DataFrame)
    leading = ["estimate", "ci_low", "ci_high", "n", "method"]
    columns = [c for c in frame.columns if c != "statistic"]
    assert columns[:5] == leading
    assert frame.attrs["confidence"] == 0.9
    assert not any("95" in str(c) for c in frame.columns)
    defined = frame.dropna(subset=["ci_low", "ci_high"])
    assert len(defined) >= 1
    assert (defined.ci_low <= defined.estimate).all() and (defined.estimate <= defined.ci_high).all()


@pytest.mark.parametrize("function", [icc, cohen_kappa, pearson, bland_altman],
                         ids=lambda f: f.__name__)
def test_a_lower_confidence_gives_a_narrower_interval(function):
    kwargs = {"n_boot": 400} if function in BOOTSTRAPPED else {}
    wide = function(two_raters(), confidence=0.95, **kwargs)
    narrow = function(two_raters(), confidence=0.80, **kwargs)
    first = wide.index[0]
    assert narrow.loc[first, "estimate"] == wide.loc[first, "estimate"]
    assert (narrow.loc[first, "ci_high"] - narrow.loc[first, "ci_low"]
            < wide.loc[first, "ci_high"] - wide.loc[first, "ci_low"])


def test_undefined_statistic_is_a_row_with_a_reason():
    table = two_raters()
    table["score"] = table["score"] / 3  # not categorical
    frame = cohen_kappa(table, n_boot=0)
    assert np.isnan(frame.loc["kappa", "estimate"]) and "not categorical" in frame.loc["kappa", "reason"]


def test_one_row_per_estimate_with_the_statistic_named():
    assert list(icc(two_raters()).index) == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
    assert list(bland_altman(two_raters()).index) == ["bias", "loa_low", "loa_high",
                                                      "proportional_bias"]
    assert list(cohen_kappa(two_raters(), weights="quadratic", n_boot=0).index) == ["kappa_quadratic"]
    assert krippendorff_alpha(two_raters(), level="ordinal", n_boot=0).loc[
        "krippendorff_alpha", "level"] == "ordinal"
    pairs = pairwise_agreement(two_raters(), n_boot=0)
    assert pairs.statistic.tolist()[:3] == ["kappa", "kappa_linear", "kappa_quadratic"]
    assert set(pairs.rater_a) == {0} and set(pairs.rater_b) == {1}


def test_curated_all_and_every_public_function_has_an_example():
    assert sorted(agreement.__all__) == sorted(set(agreement.__all__))
    for name in agreement.__all__:
        obj = getattr(agreement, name)
        if inspect.isfunction(obj):
            assert "Examples" in (obj.__doc__ or ""), name
    assert "continuous_xy" not in agreement.__all__  # a kernel, not a user-facing statistic


def test_positional_options_are_refused():
    with pytest.raises(TypeError):
        krippendorff_alpha(two_raters(), "nominal")
