"""Re-fitting: coefficient recovery, grouping without leakage, the seed protocol on real labels,
mapping export and the ``covsev refit`` command."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covsev_tools.model import refit, refit_data
from covsev_tools.cli import main
from covsev_tools.model.mapping import SeverityMapping
from covsev_tools.model.outputs import OUTPUT_COLUMNS

A_EXT, B_EXT = 0.8705248236656189, 3.4137437


def synthetic_predictions(n=120, n_patients=40, noise=0.0, seed=0):
    """Predictions whose Lung Opacity output is linear in a known label (plus optional noise)."""
    rng = np.random.default_rng(seed)
    outputs = rng.normal(0, 1, (n, 18))
    table = pd.DataFrame(outputs, columns=list(OUTPUT_COLUMNS))
    table.insert(0, "filename", [f"img{i:03d}.png" for i in range(n)])
    lung = table["xrv:Lung Opacity"].to_numpy()
    labels = pd.DataFrame({"filename": table["filename"],
                           "geographic_extent": A_EXT * lung + B_EXT + rng.normal(0, noise, n),
                           "opacity": 0.5 * lung + 2.5})
    meta = pd.DataFrame({"filename": table["filename"], "patientid": rng.integers(0, n_patients, n),
                         "view": "PA"})
    table["error"] = ""
    return table, labels, meta


def test_ols_recovers_known_coefficients():
    preds, labels, meta = synthetic_predictions()
    data = refit_data.join_refit_data(preds, labels, meta)
    mapping = refit.fit_mapping(data, "lung_opacity", "linear")
    spec = mapping.targets["geographic_extent"]
    assert spec["coef"][0] == pytest.approx(A_EXT, abs=1e-9)
    assert spec["intercept"] == pytest.approx(B_EXT, abs=1e-9)
    assert mapping.targets["opacity"]["coef"][0] == pytest.approx(0.5, abs=1e-9)
    assert mapping.n_train == 120 and mapping.provenance["group_col"] == "patientid"


def test_ridge_mapping_reproduces_the_pipeline_predictions():
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    preds, labels, meta = synthetic_predictions(noise=0.5)
    data = refit_data.join_refit_data(preds, labels, meta)
    X, y = data.design("all_outputs"), data.table["geographic_extent"].to_numpy()
    pipe = make_pipeline(StandardScaler(), RidgeCV(alphas=refit.RIDGE_ALPHAS)).fit(X, y)
    coef, intercept = refit.linear_coefficients(pipe)
    np.testing.assert_allclose(X @ coef + intercept, pipe.predict(X), atol=1e-9)


@pytest.mark.parametrize("scheme", ["kfold", "shuffle"])
def test_grouped_splits_never_share_a_patient(scheme):
    groups = np.random.default_rng(3).integers(0, 30, 200)
    splits = refit.grouped_splits(groups, scheme, n_splits=5, n_repeats=4, seed=7)
    assert len(splits) == (20 if scheme == "kfold" else 4)
    for _, train, test in splits:
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == 200 if scheme == "kfold" else len(test) > 0
    if scheme == "kfold":  # each repeat covers every image exactly once
        first = np.concatenate([test for r, _, test in splits if r == 0])
        np.testing.assert_array_equal(np.sort(first), np.arange(200))


def test_metrics_match_numpy():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    m = refit.metrics(y, p)
    assert m["mae"] == pytest.approx(np.mean(np.abs(y - p)), abs=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)), abs=1e-12)
    assert m["pearson_r"] == pytest.approx(np.corrcoef(y, p)[0, 1], abs=1e-12)
    assert m["r2"] == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2), abs=1e-12)


def test_compare_table_is_tidy_and_ranks_an_informative_input_first():
    preds, labels, meta = synthetic_predictions(noise=0.3)
    data = refit_data.join_refit_data(preds, labels, meta)
    table = refit.compare_regressors(data, ["geographic_extent"], ["lung_opacity", "all_outputs"], n_repeats=3)
    assert list(table.columns) == ["target", "features", "model", "scheme", "n_images",
                                   "n_patients", "metric", "mean", "sd", "min", "max", "n_repeats"]
    assert len(table) == 2 * 2 * 4
    mae = table[table.metric == "mae"].set_index(["features", "model"])["mean"]
    assert mae.loc[("lung_opacity", "linear")] < 0.35  # noise sd 0.3 -> MAE ~0.24


# ----------------------------------------------------------------------------- real labels

def _real_data(shared_data, noise=0.0):
    """Model-free: a 'Lung Opacity output' built from the published extent labels themselves."""
    root = shared_data / "cohen2020"
    labels = refit_data.read_labels(root / "covid-severity-scores.csv")
    rng = np.random.default_rng(0)
    preds = pd.DataFrame(rng.normal(0, 1, (len(labels), 18)), columns=list(OUTPUT_COLUMNS))
    preds.insert(0, "filename", labels["filename"])
    preds["xrv:Lung Opacity"] = (labels["geographic_extent"] - B_EXT) / A_EXT + rng.normal(0, noise, len(labels))
    preds["error"] = ""
    return refit_data.join_refit_data(preds, labels, root / "metadata.csv"), labels


@pytest.mark.realdata
def test_published_labels_are_read(shared_data):
    data, labels = _real_data(shared_data)
    assert len(labels) == 94 and {"geographic_extent", "opacity"} <= set(labels.columns)
    assert len(data.table) == 94 and data.table["group"].nunique() == 65
    assert data.group_col == "patientid"


@pytest.mark.realdata
def test_seed_protocol_on_real_labels(shared_data):
    data, _ = _real_data(shared_data)
    table = refit.seed_protocol(data, ["geographic_extent"]).set_index("metric")
    assert (table["n_repeats"] == 50).all() and (table["n_images"] == 94).all()
    assert table.loc["mae", "mean"] < 1e-9 and table.loc["pearson_r", "mean"] == pytest.approx(1)
    # the exact 50 splits: seeds 0-49, grouped by patient, about half the patients each side
    groups = data.table["group"].to_numpy()
    for _, train, test in refit.grouped_splits(groups, "shuffle", n_repeats=50, test_size=0.5):
        assert not set(groups[train]) & set(groups[test])
        assert abs(len(set(groups[test])) - 32.5) <= 1


@pytest.mark.realdata
def test_seed_protocol_recovers_slope_with_noise(shared_data):
    data, _ = _real_data(shared_data, noise=0.5)
    mapping = refit.fit_mapping(data, "lung_opacity", "linear", ["geographic_extent"])
    # label = a*(x - noise) + b: OLS attenuates the slope by var(x_true)/var(x) (errors-in-variables)
    x_true = (data.table["geographic_extent"] - B_EXT) / A_EXT
    attenuation = x_true.var() / data.table["xrv:Lung Opacity"].var()
    assert mapping.targets["geographic_extent"]["coef"][0] == pytest.approx(A_EXT * attenuation, rel=0.15)
    table = refit.seed_protocol(data, ["geographic_extent"]).set_index("metric")
    assert 0.2 < table.loc["mae", "mean"] < 0.6 and table.loc["mae", "sd"] > 0


# ----------------------------------------------------------------------------- command

@pytest.fixture()
def refit_files(tmp_path):
    preds, labels, meta = synthetic_predictions(noise=0.2)
    preds.loc[3, "error"] = "ImageReadError: broken"
    preds.to_csv(tmp_path / "p.csv", index=False)
    labels.rename(columns={"geographic_extent": "geographic_mean", "opacity": "opacity_mean"}).to_csv(
        tmp_path / "l.csv", index=False)
    (tmp_path / "l2.csv").write_text("## comment\n## another\n" + (tmp_path / "l.csv").read_text())
    meta.to_csv(tmp_path / "m.csv", index=False)
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((len(preds), 1024), dtype=np.float32))
    return tmp_path


def test_refit_command_writes_table_and_usable_mapping(refit_files):
    d = refit_files
    rc = main(["refit", "--predictions", str(d / "p.csv"), "--labels", str(d / "l2.csv"),
               "--metadata", str(d / "m.csv"), "--features", str(d / "f.npy"), "--repeats", "2",
               "--seed-protocol", "--out-table", str(d / "t.csv"), "--out-mapping", str(d / "map.json"),
               "--mapping-from", "four_outputs:ridge"])
    assert rc == 0
    table = pd.read_csv(d / "t.csv")
    assert set(table["features"]) == set(refit_data.FEATURE_SETS)
    assert set(table["scheme"]) == {"kfold", "seed_notebook"}
    assert (table["n_images"] == 119).all()  # the error row is dropped
    raw = json.loads((d / "map.json").read_text())
    assert raw["features"] == refit_data.FEATURE_SETS["four_outputs"] and raw["n_train"] == 119
    assert SeverityMapping.load(d / "map.json").targets["geographic_extent"]["clamp"] == [0.0, 8.0]


@pytest.mark.parametrize("extra, message", [
    (["--feature-sets", "nope"], "unknown feature set"),
    (["--feature-sets", "features_1024"], "needs --features"),
    (["--models", "forest"], "unknown model"),
    (["--metadata", "missing.csv"], "no such file"),
])
def test_refit_command_usage_errors_exit_2(refit_files, capsys, extra, message):
    d = refit_files
    rc = main(["refit", "--predictions", str(d / "p.csv"), "--labels", str(d / "l.csv"),
               "--out-table", str(d / "t.csv"), *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_a_list_of_input_names_is_a_feature_set():
    preds, labels, meta = synthetic_predictions()
    data = refit_data.join_refit_data(preds, labels, meta)
    by_name = refit.fit_mapping(data, "lung_opacity", "linear")
    by_list = refit.fit_mapping(data, ["xrv:Lung Opacity"], "linear")
    assert by_list.targets == by_name.targets
    assert data.design(["xrv:Lung Opacity", "xrv:Pneumonia"]).shape == (120, 2)


def test_labels_with_a_byte_order_mark_and_comment_lines(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("## published scores\n## CC BY-SA\nfilename,geographic_mean,opacity_mean\n"
                    "a.png,3.0,2.0\nb.png,5.5,4.0\n", encoding="utf-8-sig")
    labels = refit_data.read_labels(path)
    assert list(labels["filename"]) == ["a.png", "b.png"]
    assert list(labels["geographic_extent"]) == [3.0, 5.5]


# ----------------------------------------------------------------------------- group column

def test_refit_missing_group_col_is_an_error_naming_column_and_file(refit_files, capsys):
    d = refit_files
    rc = main(["refit", "--predictions", str(d / "p.csv"), "--labels", str(d / "l.csv"),
               "--metadata", str(d / "m.csv"), "--group-col", "patient_id",
               "--out-table", str(d / "t.csv"), "--out-mapping", str(d / "map.json")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'patient_id'" in err and str(d / "m.csv") in err and "patientid" in err  # columns shown
    assert not (d / "t.csv").exists() and not (d / "map.json").exists()


def test_refit_missing_group_col_without_metadata_names_the_predictions(refit_files, capsys):
    d = refit_files
    rc = main(["refit", "--predictions", str(d / "p.csv"), "--labels", str(d / "l.csv"),
               "--out-table", str(d / "t.csv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "'patientid'" in err and str(d / "p.csv") in err
    assert not (d / "t.csv").exists()


def test_refit_group_col_none_makes_each_image_its_own_group(refit_files):
    d = refit_files
    rc = main(["refit", "--predictions", str(d / "p.csv"), "--labels", str(d / "l.csv"),
               "--group-col", "none", "--models", "linear", "--feature-sets", "lung_opacity",
               "--repeats", "2", "--out-table", str(d / "t.csv"), "--out-mapping", str(d / "map.json")])
    assert rc == 0
    table = pd.read_csv(d / "t.csv")
    assert (table["n_patients"] == 119).all() and (table["n_images"] == 119).all()
    assert json.loads((d / "map.json").read_text())["provenance"]["group_col"] == "filename"


def test_join_refit_data_group_col_must_exist_unless_none():
    preds, labels, meta = synthetic_predictions()
    with pytest.raises(refit_data.RefitInputError, match="the metadata table: no group column 'patient'"):
        refit_data.join_refit_data(preds, labels, meta, group_col="patient")
    per_image = refit_data.join_refit_data(preds, labels, meta, group_col=None)
    assert per_image.group_col == "filename" and per_image.table["group"].nunique() == 120
    by_patient = refit_data.join_refit_data(preds, labels, meta)
    assert by_patient.table["group"].nunique() == meta["patientid"].nunique()


def test_labels_from_ratings_average_first_readings_without_repeats_or_the_consensus():
    ratings = pd.DataFrame({
        "filename": ["a.png"] * 5 + ["b.png"] * 3,
        "rater": ["r1", "r2", "r3", "r1", "consensus", "r1", "r2", "r2"],
        "scale": ["extent"] * 5 + ["extent", "extent", "opacity"],
        "component": "total", "score": [2, 3, None, 8, 8, 5, 6, 4],
        "is_repeat": ["False", "False", "False", "True", "False", "False", "False", "False"]})
    labels = refit_data.labels_from_ratings(ratings).set_index("filename")
    assert labels.loc["a.png", "geographic_extent"] == 2.5     # r3 not assessable, repeat and consensus out
    assert labels.loc["b.png", "geographic_extent"] == 5.5 and labels.loc["b.png", "opacity"] == 4
    assert np.isnan(labels.loc["a.png", "opacity"]) and labels.attrs["n_raters"] == 2
    with pytest.raises(refit_data.RefitInputError, match="r.csv: not a ratings export .*is_repeat"):
        refit_data.labels_from_ratings(ratings.drop(columns="is_repeat"), "r.csv")


def test_refit_from_the_ratings_export_equals_refit_from_the_labels_it_stands_for(tmp_path, capsys):
    from covsev_tools.datasets import simulate_cohort

    folder = simulate_cohort(seed=2, n_cases=60).write(tmp_path / "sim")
    ratings = pd.read_csv(folder / "ratings.csv")
    first = ratings[(ratings.component == "total") & ~ratings.is_repeat]
    by_hand = first.pivot_table(index="filename", columns="scale", values="score", aggfunc="mean")
    by_hand.rename(columns={"extent": "geographic_extent"}).to_csv(tmp_path / "labels.csv")
    common = ["--predictions", str(folder / "predictions.csv"), "--repeats", "2", "--out-mapping"]
    assert main(["refit", "--labels", str(tmp_path / "labels.csv"), "--metadata", str(folder / "key.csv"),
                 *common, str(tmp_path / "m1.json"), "--out-table", str(tmp_path / "t1.csv")]) == 0
    assert main(["refit", "--ratings", str(folder / "ratings.csv"), *common, str(tmp_path / "m2.json"),
                 "--out-table", str(tmp_path / "t2.csv")]) == 0
    assert "mean of 4 raters' first readings" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t1.csv"), pd.read_csv(tmp_path / "t2.csv"))
    one, two = (SeverityMapping.load(tmp_path / f"m{i}.json") for i in (1, 2))
    assert one.targets == two.targets
    assert "mean of the raters' first-reading totals" in two.provenance["labels"]


def test_refit_labels_from_the_cohort_equal_those_from_its_export(tmp_path):
    from covsev_tools.labels import ratings_export
    from covsev_tools.model.refit_run import study_labels
    from covsev_tools.scoring import ScoringApp
    from helpers import make_cohort

    cohort = make_cohort(tmp_path, n=4, name="rf", repeat_fraction=0.5)
    labels_dir = tmp_path / "labels"
    for rater, keys in (("rad1", "1203"), ("rad2", "2213")):
        app = ScoringApp(cohort.dir, rater=rater, labels_dir=labels_dir)
        for _ in range(6):
            for key in keys:
                app.keys.simulate(key)
            app.keys.simulate("Enter")
    ratings_export(cohort, labels_dir).to_csv(tmp_path / "ratings.csv", index=False)
    from_cohort, meta_cohort = study_labels(cohort=cohort.dir, labels_dir=labels_dir)
    from_file, meta_file = study_labels(ratings=tmp_path / "ratings.csv")
    pd.testing.assert_frame_equal(from_cohort, from_file)
    assert from_cohort["geographic_extent"].tolist() == [3.5] * 4      # totals 1 + 2 and 2 + 2
    assert list(meta_cohort["filename"]) == list(meta_file["filename"])
