"""Patient-clustered bootstrap: patients are resampled with all their images (issue 13)."""
from __future__ import annotations

import json

import krippendorff
import numpy as np
import pandas as pd
import pytest

from covsev_tools.agreement import (AgreementInputError, agreement_report, cohen_kappa,
                                    fleiss_kappa, krippendorff_alpha, ratings_matrix)
from covsev_tools.agreement.alpha import alpha_batch
from covsev_tools.agreement.bootstrap import Resampling, cluster_codes
from covsev_tools.agreement.continuous import pearson_xy
from covsev_tools.cli import main


def patients_table(n_patients=40, images=4, raters=3, jitter=0.0, seed=0, shuffle=False):
    """Integer scores 0-8; the images of a patient are near-identical copies (``jitter`` noise)."""
    rng = np.random.default_rng(seed)
    severity = rng.uniform(0, 8, n_patients)
    bias = rng.normal(0, 0.5, (n_patients, raters))  # a rater's reading of a patient
    rows = []
    for p in range(n_patients):
        for i in range(images):
            noise = rng.normal(0, jitter, raters)
            scores = np.clip(np.rint(severity[p] + bias[p] + noise), 0, 8)
            rows += [{"case": f"p{p:03d}_img{i}", "patient_id": f"P{p:03d}", "rater": f"r{j}",
                      "score": scores[j]} for j in range(raters)]
    table = pd.DataFrame(rows)
    if shuffle:  # patient labels unrelated to case order
        mapping = dict(zip(table.patient_id.unique(), rng.permutation(table.patient_id.unique())))
        table["patient_id"] = table.patient_id.map(mapping)
    return table


def width(frame):
    row = frame.iloc[0]
    return row.ci_high - row.ci_low


def test_near_identical_images_per_patient_give_a_clearly_wider_interval():
    table = patients_table(n_patients=40, images=4)
    for function, kwargs in ((fleiss_kappa, {}), (krippendorff_alpha, {"level": "interval"}),
                             (cohen_kappa, {"rater_a": "r0", "rater_b": "r1",
                                            "weights": "quadratic"})):
        clustered = function(table, n_boot=1000, seed=1, **kwargs)
        naive = function(table, n_boot=1000, seed=1, cluster=None, **kwargs)
        assert clustered.iloc[0].estimate == naive.iloc[0].estimate
        # 4 copies per patient: the effective sample is ~4x smaller, the interval ~2x wider
        assert width(clustered) > 1.5 * width(naive), function.__name__
        assert "patients resampled" in clustered.iloc[0].method
        assert naive.iloc[0].method == "bootstrap percentile"


def test_one_image_per_patient_equals_the_case_bootstrap_within_monte_carlo_error():
    table = patients_table(n_patients=150, images=1, shuffle=True, seed=3)
    for function in (fleiss_kappa, krippendorff_alpha):
        clustered = function(table, n_boot=2000, seed=2).iloc[0]
        naive = function(table, n_boot=2000, seed=5, cluster=None).iloc[0]
        # two independent 2,000-resample runs: percentile bounds agree to ~0.01
        assert clustered.ci_low == pytest.approx(naive.ci_low, abs=0.02)
        assert clustered.ci_high == pytest.approx(naive.ci_high, abs=0.02)


def test_small_case_equals_a_plain_loop_over_resampled_patients():
    table = patients_table(n_patients=6, images=3, raters=3, jitter=0.8, seed=4)
    table.loc[table.index[5], "score"] = np.nan  # a missing rating
    matrix = ratings_matrix(table, categories="0-8")
    n_boot, seed = 40, 11
    plan = Resampling(len(matrix.cases), n_boot, seed, matrix.clusters)
    batch = alpha_batch(matrix.scores, np.arange(9.0), "interval", plan.weights())
    # the plain loop: draw patients, stack all their images, ask the reference library
    patients = np.asarray(matrix.clusters)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, patients.max() + 1, size=(n_boot, patients.max() + 1))
    loop = []
    for row in drawn:
        rows = np.concatenate([np.flatnonzero(patients == p) for p in row])
        loop.append(krippendorff.alpha(matrix.scores[rows].T, level_of_measurement="interval"))
    np.testing.assert_allclose(batch[1:], loop, atol=1e-12)
    result = krippendorff_alpha(table, level="interval", categories="0-8", n_boot=n_boot,
                                seed=seed).iloc[0]
    low, high = np.percentile(loop, [2.5, 97.5])
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_report_method_says_which_unit_was_resampled():
    report = agreement_report(patients_table(n_patients=10, images=2), n_boot=50)
    boot = report["method"]["bootstrap"]
    assert (boot["unit"], boot["n_clusters"], boot["cluster_column"]) == ("patient", 10, "patient_id")
    assert report["n_patients"] == 10 and report["n_cases"] == 20
    naive = agreement_report(patients_table(n_patients=10, images=2), n_boot=50, cluster=None)
    assert naive["method"]["bootstrap"]["unit"] == "case" and "n_patients" not in naive


def test_an_image_with_two_patients_or_a_missing_patient_column_is_refused():
    table = patients_table(n_patients=5, images=2)
    table.loc[0, "patient_id"] = "P999"
    with pytest.raises(AgreementInputError, match="more than one 'patient_id'"):
        fleiss_kappa(table)
    with pytest.raises(AgreementInputError, match="missing cluster \\(patient\\) column 'subject'"):
        fleiss_kappa(patients_table(n_patients=5, images=2), cluster="subject")


def test_cli_cluster_col(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    patients_table(n_patients=12, images=2).rename(columns={"patient_id": "subject"}).to_csv(
        path, index=False)
    assert main(["agreement", str(path), "--json", "--bootstrap", "30",
                 "--cluster-col", "subject"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"]["bootstrap"]["unit"] == "patient"
    assert report["method"]["bootstrap"]["n_clusters"] == 12
    assert main(["agreement", str(path), "--json", "--bootstrap", "30"]) == 0  # no patient_id
    assert json.loads(capsys.readouterr().out)["method"]["bootstrap"]["unit"] == "case"
    code = main(["agreement", str(path), "--json", "--cluster-col", "patient"])
    assert code == 2 and "missing cluster (patient) column 'patient'" in capsys.readouterr().err
