"""Study planning: each method against its source's worked example, and ``covsev plan``."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from covsev_tools.agreement import planning
from covsev_tools.agreement.fleiss import kappa_se
from covsev_tools.cli import main


def test_icc_bonett_2002_worked_example():
    # Bonett (2002): ICC 0.85, 4 raters, width 0.2 -> n = 19.2, and n = 20 gives a width near 0.2
    assert planning.icc_sample_size(0.85, 4, 0.2, exact=True) == pytest.approx(19.2, abs=0.05)
    assert planning.icc_sample_size(0.85, 4, 0.2) == 20
    assert planning.icc_width(0.85, 4, 20) == pytest.approx(0.2, abs=0.01)
    # the formula written out: 8 z² (1-ρ)² (1+(k-1)ρ)² / (k(k-1)w²) + 1
    z = stats.norm.ppf(0.975)
    by_hand = 8 * z ** 2 * 0.15 ** 2 * 3.55 ** 2 / (12 * 0.04) + 1
    assert planning.icc_sample_size(0.85, 4, 0.2, exact=True) == pytest.approx(by_hand, abs=1e-12)


def test_icc_two_raters_adds_bonetts_five_rho_and_width_inverts_n():
    base = 8 * stats.norm.ppf(0.975) ** 2 * 0.2 ** 2 * 1.8 ** 2 / (2 * 0.3 ** 2) + 1
    assert planning.icc_sample_size(0.8, 2, 0.3, exact=True) == pytest.approx(base + 4.0)
    for rho, k, w in ((0.6, 3, 0.25), (0.9, 5, 0.1), (0.75, 2, 0.2)):
        n = planning.icc_sample_size(rho, k, w, exact=True)
        assert planning.icc_width(rho, k, n) == pytest.approx(w, rel=1e-12)


def test_icc_plan_table_trades_raters_for_cases():
    table = planning.icc_plan_table(0.8)
    assert list(table.columns) == [2, 3, 4, 5, 6] and list(table.index) == [0.1, 0.15, 0.2, 0.25, 0.3]
    values = table.to_numpy()
    assert (np.diff(values, axis=1) <= 0).all()   # more raters, fewer cases
    assert (np.diff(values, axis=0) <= 0).all()   # wider interval, fewer cases
    assert table.loc[0.2, 4] == planning.icc_sample_size(0.8, 4, 0.2)


def cantor_q(kappa, rate1, rate2):
    """Cantor (1996) Q for a 2 × 2 table, transcribed separately (his formula, (1 - πe)^-4 form)."""
    pe = rate1 * rate2 + (1 - rate1) * (1 - rate2)
    po = kappa * (1 - pe) + pe
    p22 = (po - rate1 + (1 - rate2)) / 2
    p11 = po - p22
    p12, p21 = rate1 - p11, rate2 - p11
    return (1 - pe) ** -4 * (p11 * (1 - pe - (rate2 + rate1) * (1 - po)) ** 2
                             + p22 * (1 - pe - (2 - rate1 - rate2) * (1 - po)) ** 2
                             + (1 - po) ** 2 * (p12 * (rate2 + 1 - rate1) ** 2
                                                + p21 * (1 - rate2 + rate1) ** 2)
                             - (po * pe - 2 * pe + po) ** 2)


@pytest.mark.parametrize("kappa, rate1, rate2", [(0.7, 0.5, 0.5), (0.4, 0.3, 0.2), (0.6, 0.2, 0.25)])
def test_kappa_q_is_cantors_and_the_fleiss_cohen_everitt_variance(kappa, rate1, rate2):
    q = planning._kappa_q(kappa, rate1, rate2)
    assert q == pytest.approx(cantor_q(kappa, rate1, rate2), rel=1e-12)
    table = planning._kappa_table(kappa, rate1, rate2)
    assert table.sum() == pytest.approx(1.0)
    assert table[0].sum() == pytest.approx(rate1) and table[:, 0].sum() == pytest.approx(rate2)
    assert q == pytest.approx(kappa_se(table * 1000, np.eye(2), kappa) ** 2 * 1000, rel=1e-12)


def test_kappa_cantor_test_example_and_precision_by_hand():
    # the worked example of R irr::N.cohen.kappa(0.5, 0.5, 0.7, 0.85): 96
    assert planning.kappa_test_sample_size(0.7, 0.85, rate_a=0.5) == 96
    q = cantor_q(0.6, 0.3, 0.3)
    assert planning.kappa_sample_size(0.6, 0.2, rate_a=0.3) == math.ceil(
        stats.norm.ppf(0.975) ** 2 * q / 0.1 ** 2)
    with pytest.raises(ValueError, match="impossible"):
        planning.kappa_sample_size(0.9, 0.2, rate_a=0.05, rate_b=0.5)


def test_kappa_precision_holds_in_simulation():
    n = planning.kappa_sample_size(0.6, 0.2, rate_a=0.3)
    table = planning._kappa_table(0.6, 0.3, 0.3).ravel()
    rng = np.random.default_rng(0)
    kappas = []
    for counts in rng.multinomial(n, table, size=2000):
        p = counts.reshape(2, 2) / n
        pe = p.sum(axis=1) @ p.sum(axis=0)
        kappas.append((np.trace(p) - pe) / (1 - pe))
    half = np.subtract(*np.percentile(kappas, [97.5, 2.5])) / 2
    assert half == pytest.approx(0.1, abs=0.01)


def test_limits_bland_altman_examples():
    # Lancet 1986: n = 17, s = 38.8 -> SE √(3s²/n) = 16.3 and t(16) × SE = 34.6
    out = planning.limits_precision(17, sd=38.8)
    assert round(out["se"], 1) == 16.3 and round(out["half_width"], 1) == 34.6
    # Bland & Altman (1999): 100 cases give limits known to about ± 0.34 s
    assert round(planning.limits_precision(100)["half_width"], 2) == 0.34
    n = planning.limits_sample_size(0.3)
    assert planning.limits_precision(n)["half_width"] <= 0.3 < planning.limits_precision(n - 1)["half_width"]


def test_mae_sample_size_from_pilot_errors():
    rng = np.random.default_rng(3)
    pilot = rng.normal(0.3, 1.2, 20_000)  # a pilot large enough that its SD is the truth
    out = planning.mae_sample_size(pilot, 0.1)
    sd = np.abs(pilot).std(ddof=1)
    assert out["n"] == math.ceil((stats.norm.ppf(0.975) * sd / 0.1) ** 2)
    assert out["mae"] == pytest.approx(np.abs(pilot).mean())
    # at that n the interval of the MAE of new cases has the requested half-width
    maes = np.abs(rng.normal(0.3, 1.2, (1000, out["n"]))).mean(axis=1)
    assert np.subtract(*np.percentile(maes, [97.5, 2.5])) / 2 == pytest.approx(0.1, rel=0.15)


def test_cli_plan_icc_json_and_table(capsys):
    assert main(["plan", "icc", "--expected", "0.85", "--raters", "4", "--width", "0.2",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 20
    assert main(["plan", "icc", "--expected", "0.85", "--raters", "4", "--width", "0.2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("20 cases") and "Bonett 2002" in text and "raters" in text
    assert main(["plan", "table", "--expected", "0.8", "--widths", "0.2,0.3", "--raters", "2,4",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"]["0.2"]["4"] == planning.icc_sample_size(
        0.8, 4, 0.2)


def test_cli_plan_other_kinds_and_errors(tmp_path, capsys):
    assert main(["plan", "kappa", "--expected", "0.6", "--width", "0.2", "--rate", "0.3",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 296
    assert main(["plan", "limits", "--n", "17", "--sd", "38.8", "--json"]) == 0
    assert round(json.loads(capsys.readouterr().out)["se"], 1) == 16.3
    pilot = tmp_path / "pilot.csv"
    pd.DataFrame({"prediction": [1, 2, 3, 4.5], "reference": [1.5, 2, 2, 4]}).to_csv(pilot, index=False)
    assert main(["plan", "mae", str(pilot), "--half-width", "0.2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_pilot"] == 4
    assert main(["plan", "icc", "--expected", "1.5", "--raters", "3", "--width", "0.2"]) == 2
    assert "expected must be in (0, 1)" in capsys.readouterr().err
    assert main(["plan", "mae", str(pilot), "--half-width", "0.2", "--reference-col", "truth"]) == 2
    assert "no column 'truth'" in capsys.readouterr().err
