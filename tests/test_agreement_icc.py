"""ICC: Shrout & Fleiss (1979) published values and parity with pingouin.intraclass_corr (1e-9)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from covsev_tools.agreement import icc
from covsev_tools.agreement.icc import FORMS, icc_from_matrix, mean_squares

from helpers import long_table, result_rows

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
                          [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)
PUBLISHED = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
PINGOUIN_TYPES = dict(zip(FORMS, ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)",
                                  "ICC(C,k)"]))



def pingouin_icc(table: pd.DataFrame) -> pd.DataFrame:
    old = pg.options["round.column.CI95"]
    pg.options["round.column.CI95"] = None  # pingouin rounds CIs to 2 decimals by default
    try:
        return pg.intraclass_corr(table.dropna(subset=["score"]), "case", "rater", "score",
                                  nan_policy="omit").set_index("Type")
    finally:
        pg.options["round.column.CI95"] = old


def assert_matches_pingouin(result: dict, reference: pd.DataFrame) -> None:
    for form, kind in PINGOUIN_TYPES.items():
        row = reference.loc[kind]
        mine = result[form]
        assert mine["value"] == pytest.approx(row["ICC"], abs=1e-9), form
        assert mine["F"] == pytest.approx(row["F"], rel=1e-9), form
        assert (mine["df1"], mine["df2"]) == (row["df1"], row["df2"]), form
        assert mine["pval"] == pytest.approx(row["pval"], rel=1e-9, abs=1e-300), form
        np.testing.assert_allclose(mine["ci95"], row["CI95"], atol=1e-9, err_msg=form)


def test_shrout_fleiss_published_values():
    result = result_rows(icc(long_table(SHROUT_FLEISS)))
    assert {form: round(result[form]["value"], 2) for form in FORMS} == PUBLISHED


def test_shrout_fleiss_matches_pingouin():
    table = long_table(SHROUT_FLEISS)
    assert_matches_pingouin(result_rows(icc(table)), pingouin_icc(table))


@pytest.mark.parametrize("seed", range(5))
def test_random_tables_with_missing_match_pingouin_complete_cases(seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(8, 60), rng.integers(2, 6)
    wide = np.rint(rng.uniform(0, 8, (n, 1)) + rng.normal(0, 1.2, (n, k)) + rng.normal(0, 0.5, k))
    wide[rng.random((n, k)) < 0.08] = np.nan
    table = long_table(wide)
    result = result_rows(icc(table))
    assert_matches_pingouin(result, pingouin_icc(table))
    assert result["ICC1"]["n"] == int(np.isfinite(wide).all(axis=1).sum())


def test_non_integer_scores_work():
    rng = np.random.default_rng(3)
    wide = rng.normal(4, 2, (30, 1)) + rng.normal(0, 0.7, (30, 3))  # e.g. rater means like 2.67
    table = long_table(wide)
    assert_matches_pingouin(result_rows(icc(table)), pingouin_icc(table))


def test_satterthwaite_df_equals_shrout_fleiss_form():
    """McGraw & Wong's v equals the Shrout & Fleiss (1979) expression used by pingouin."""
    ms = mean_squares(SHROUT_FLEISS)
    n, k = ms["n"], ms["k"]
    rho = icc_from_matrix(SHROUT_FLEISS)["ICC2"]["value"]
    fj = ms["msc"] / ms["mse"]
    sf = ((n - 1) * (k - 1) * (k * rho * fj + n * (1 + (k - 1) * rho) - k * rho) ** 2
          / ((n - 1) * k ** 2 * rho ** 2 * fj ** 2 + (n * (1 + (k - 1) * rho) - k * rho) ** 2))
    a = k * rho / (n * (1 - rho))
    b = 1 + k * rho * (n - 1) / (n * (1 - rho))
    mw = (a * ms["msc"] + b * ms["mse"]) ** 2 / (
        (a * ms["msc"]) ** 2 / (k - 1) + (b * ms["mse"]) ** 2 / ((n - 1) * (k - 1)))
    assert mw == pytest.approx(sf, rel=1e-12)


def test_one_rater_and_no_complete_cases_give_reasons():
    one = result_rows(icc(long_table(SHROUT_FLEISS[:, :1])))
    assert one["ICC2"] == {"value": None, "reason": "needs at least 2 raters"}
    wide = SHROUT_FLEISS.copy()
    wide[np.arange(6), np.arange(6) % 4] = np.nan
    result = result_rows(icc(long_table(wide)))
    assert result["ICC3"]["value"] is None and "rated by all 4 raters" in result["ICC3"]["reason"]


def test_constant_scores_give_reason_not_nan():
    result = result_rows(icc(long_table(np.full((5, 3), 2.0))))
    assert all(result[f]["value"] is None and "no variance" in result[f]["reason"] for f in FORMS)


def test_out_of_order_interval_is_withheld_with_a_reason():
    """Strong disagreement: ICC(A,k) = -8.77 and McGraw & Wong's Satterthwaite bounds come out
    reversed (pingouin prints them as they come); no interval is better than a reversed one."""
    import numpy as np

    from covsev_tools.agreement.icc import icc_from_matrix

    x = np.array([[3, 4, 6], [8, 0, 8], [4, 3, 6], [5, 2, 2], [6, 5, 4], [3, 6, 3], [2, 8, 2],
                  [2, 6, 5]], dtype=float)
    got = icc_from_matrix(x)
    assert got["ICC2k"]["value"] == pytest.approx(-8.773584905660378, abs=1e-12)
    assert "ci95" not in got["ICC2k"] and "bounds out of order" in got["ICC2k"]["ci_reason"]
    for form, entry in got.items():
        if "ci95" in entry:
            assert entry["ci95"][0] <= entry["ci95"][1], form
