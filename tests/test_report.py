"""The report: self-contained HTML, paper tables, numbers equal to the agreement module, CLI."""
from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest

from covsev_tools import agreement
from covsev_tools.cli import main
from covsev_tools.validation import load_inputs
from covsev_tools.report.build import build_report
from covsev_tools.report.methods import software_versions
from covsev_tools.datasets import published_labels_path, simulate_cohort
from covsev_tools.report.tables import fmt_ci, to_latex
from covsev_tools.validation.validate import complete_panel, to_long

from helpers import result_row, result_rows

SECTIONS = ("1. Study", "2. Inter-rater agreement", "3. Model vs reference",
            "4. The model as one more rater",
            "5. Is the model within the radiologists' variability?", "6. External validation",
            "7. Intra-rater reliability", "8. Subgroups and longitudinal change", "9. Methods",
            "10. Software")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return simulate_cohort(seed=4).write(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="module")
def report(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    build_report(cohort / "ratings.csv", cohort / "predictions.csv", out,
                 key=cohort / "key.csv", n_boot=100, seed=1)
    return out


def test_html_is_self_contained_with_every_section(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    figures = sorted(p.stem for p in (report / "figures").glob("*.png"))
    assert figures == ["agreement_heatmap", "bland_altman", "equivalence_profile",
                       "inter_rater_kappa", "longitudinal", "per_rater_error",
                       "prediction_vs_reference"]
    assert page.count('src="data:image/png;base64,') == len(figures)
    for section in SECTIONS:
        assert section in page
    assert "4 (R1, R2, R3, R4)" in page and "94 with a reference score" in page
    versions = software_versions()
    for name in ("covsev", "numpy", "pandas", "scipy", "statsmodels", "pingouin"):
        assert f"<td>{name}</td><td>{versions[name]}</td>" in page


def test_every_figure_has_png_and_pdf(report):
    for png in (report / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"


def test_figures_drawn_by_worker_processes_equal_those_drawn_here(cohort, report, tmp_path):
    """The default report drew its figures in two forked processes; drawing the same figures
    in this process gives the same PNG bytes, in the same order."""
    from covsev_tools.report.build import report_figures
    from covsev_tools.validation import load_study, validate

    here = tmp_path / "here"
    result = validate(load_study(ratings=cohort / "ratings.csv",
                                 predictions=cohort / "predictions.csv", key=cohort / "key.csv"),
                      n_boot=100, seed=1)
    figures = report_figures(result, here, workers=1)
    names = [f["name"] for f in figures]
    assert names == ["prediction_vs_reference", "bland_altman", "inter_rater_kappa",
                     "agreement_heatmap", "per_rater_error", "equivalence_profile", "longitudinal"]
    for figure in figures:
        assert (here / f"{figure['name']}.png").read_bytes() == \
            (report / "figures" / f"{figure['name']}.png").read_bytes()


def test_each_figure_starts_as_soon_as_its_section_is_done(cohort, tmp_path):
    """validate(on_section=...) names each section in order, with the tables so far; EarlyFigures
    hands each figure to the workers right after the section that completes its numbers."""
    from concurrent.futures import Future

    from covsev_tools.report.drawing import EarlyFigures
    from covsev_tools.validation import load_study, validate

    class Recorder:
        section = None
        when: dict = {}

        def submit(self, _function, spec, _out):
            self.when[spec.name] = self.section
            return Future()

    pool, seen = Recorder(), []
    early = EarlyFigures(pool, tmp_path)

    def on_section(name, result):
        seen.append((name, set(result.tables)))
        pool.section = name
        early(name, result)

    validate(load_study(cohort=cohort), n_boot=0, on_section=on_section)
    assert [name for name, _ in seen] == ["accuracy", "longitudinal", "inter_rater",
                                          "model_as_rater", "equivalence", "external",
                                          "intra_rater", "subgroups"]
    assert "calibration" in seen[0][1] and "inter_rater" not in seen[0][1]
    assert pool.when == {"prediction_vs_reference": "accuracy", "bland_altman": "accuracy",
                         "inter_rater_kappa": "inter_rater", "agreement_heatmap": "model_as_rater",
                         "per_rater_error": "model_as_rater", "longitudinal": "longitudinal",
                         "equivalence_profile": "equivalence"}
    assert set(early.started) == set(pool.when)


def test_the_statistics_run_on_one_blas_thread_and_the_setting_is_restored(cohort, tmp_path,
                                                                         monkeypatch):
    """OpenBLAS's spare thread spins on the core the figures are drawn on: build_report limits
    BLAS to one thread while it works, and gives the caller back its own setting."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from covsev_tools.report import build

    def blas_threads():  # each BLAS library loaded (numpy's, scipy's, torch's ...): its threads
        return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas"}

    seen = []
    validate = build.validate

    def recording(*args, **kwargs):
        seen.append(blas_threads())
        return validate(*args, **kwargs)

    monkeypatch.setattr(build, "validate", recording)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        if not before:
            pytest.skip("threadpoolctl lists no BLAS library here (e.g. Accelerate on macOS)")
        assert max(before.values()) == 2  # numpy's OpenBLAS on a 2-core machine at least
        build_report(out_dir=tmp_path, cohort=cohort, n_boot=0, workers=1)
        assert blas_threads() == before
    assert len(seen) == 1 and set(seen[0]) == set(before) and set(seen[0].values()) == {1}


def test_saving_solves_the_layout_once_and_gives_the_same_pixels(tmp_path):
    """figures.save solves the constrained layout itself and draws each file once; the PNG has
    exactly the pixels of matplotlib's own savefig with the layout engine, and the PDF page
    has the figure's size."""
    import io

    import numpy as np
    from PIL import Image

    from covsev_tools.report import figures

    m = pd.DataFrame([[1.0, 0.62], [0.62, 1.0]], index=["reader_one", "B"], columns=["reader_one", "B"])
    plain = figures.agreement_heatmap({"extent": m, "opacity": m}, "weighted κ")
    expected = io.BytesIO()
    plain.savefig(expected, format="png", dpi=figures.PNG_DPI)

    fig = figures.agreement_heatmap({"extent": m, "opacity": m}, "weighted κ")
    paths = figures.save(fig, tmp_path, "heat")
    assert fig.get_layout_engine() is None and fig.get_dpi() == plain.get_dpi()  # size kept
    saved = np.asarray(Image.open(paths["png"]))
    assert saved.shape == np.asarray(Image.open(expected)).shape == (600, 1380, 4)
    assert np.array_equal(saved, np.asarray(Image.open(expected)))
    box = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", paths["pdf"].read_bytes())
    assert (float(box[1]), float(box[2])) == (9.2 * 72, 4.0 * 72)


@pytest.mark.parametrize("setting", ["figure.autolayout", "figure.constrained_layout.use"])
def test_a_users_matplotlib_layout_setting_does_not_lay_the_saved_files_out_again(tmp_path,
                                                                                  setting):
    """savefig restores a figure's engine with set_layout_engine(None), which reads the user's
    settings: with `figure.autolayout: True` the PDF heatmaps were laid out again, over their
    colour bars (matplotlib warned). save() keeps the one layout for both files."""
    import warnings

    import matplotlib
    import numpy as np
    from PIL import Image

    from covsev_tools.report import figures

    m = pd.DataFrame([[1.0, 0.62], [0.62, 1.0]], index=["A", "B"], columns=["A", "B"])
    default = figures.save(figures.agreement_heatmap({"extent": m}), tmp_path / "default", "h")
    with matplotlib.rc_context({setting: True}), warnings.catch_warnings():
        warnings.simplefilter("error")  # "not compatible with tight_layout" fails the test
        fig = figures.agreement_heatmap({"extent": m})
        paths = figures.save(fig, tmp_path / "user", "h")
        assert fig.get_layout_engine() is None
    assert np.array_equal(np.asarray(Image.open(paths["png"])),
                          np.asarray(Image.open(default["png"])))
    drawn = [re.sub(rb"/CreationDate \(D:[^)]*\)", b"", p["pdf"].read_bytes()) for p in (paths, default)]
    assert drawn[0] == drawn[1]


def test_a_figure_that_fails_in_a_worker_raises_here(tmp_path):
    from covsev_tools.report.drawing import FigureSpec, draw_figures

    spec = FigureSpec("broken", "never drawn", int, ("not a number",))
    with pytest.raises(ValueError, match="invalid literal for int"):
        draw_figures([spec, spec], tmp_path, workers=2)
    assert not list(tmp_path.glob("*.png"))


def test_tables_in_three_formats(report):
    tables = report / "tables"
    for name in ("reference", "model_vs_reference", "calibration", "model_as_rater", "icc",
                 "external_validation", "intra_rater", "subgroups", "longitudinal"):
        assert (tables / f"{name}.csv").is_file() and (tables / f"{name}.md").is_file()
        tex = (tables / f"{name}.tex").read_text()
        assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    md = (tables / "model_vs_reference.md").read_text()
    assert re.search(r"\| CCC \| 0\.\d\d \(0\.\d\d–0\.\d\d\) \|", md)


def test_report_numbers_equal_the_agreement_module(cohort, report):
    inputs = load_inputs(cohort / "ratings.csv", cohort / "predictions.csv",
                         key_path=cohort / "key.csv")
    table = pd.read_csv(report / "tables" / "model_vs_reference.csv").set_index(["scale", "statistic"])
    pair = pd.concat([inputs.predictions["extent"].rename("model"),
                      inputs.reference_total("extent").rename("reference")], axis=1).dropna()
    direct = result_row(agreement.concordance_ccc(to_long(pair), rater_a="model", rater_b="reference"))
    assert table.loc[("extent", "CCC"), "estimate"] == pytest.approx(direct["value"], rel=1e-12)
    icc = pd.read_csv(report / "tables" / "icc.csv").set_index(["scale", "panel", "form"])
    direct_icc = result_rows(agreement.icc(to_long(complete_panel(inputs, "extent"))))["ICC2"]
    assert icc.loc[("extent", "raters + model", "ICC(A,1)"), "estimate"] == pytest.approx(
        direct_icc["value"], rel=1e-12)
    assert icc.loc[("extent", "raters + model", "ICC(A,1)"), "ci_low"] == pytest.approx(
        direct_icc["ci95"][0], rel=1e-12)


def test_summary_sentence_states_the_model_against_the_raters(report):
    import json

    summary = json.loads((report / "summary.json").read_text())
    sentence = summary["sentences"]["model_vs_raters:extent"]
    assert re.match(r"On extent, the model's MAE against the consensus of the other raters "
                    r"\(\d\.\d\d, 95% CI \d\.\d\d–\d\.\d\d\) (lies within|is below|is above)", sentence)
    assert sentence in html.unescape((report / "report.html").read_text(encoding="utf-8"))


def test_reference_only_report_says_why_sections_are_missing(tmp_path):
    sim = simulate_cohort(seed=0)
    sim.predictions.drop(columns="case_id").to_csv(tmp_path / "p.csv", index=False)
    page = build_report(published_labels_path(), tmp_path / "p.csv", tmp_path / "out",
                        metadata=published_labels_path("metadata.csv"), n_boot=50).html.read_text()
    assert "Individual ratings are not available" in page
    assert "individual ratings not available (reference-only input)" in page
    assert "Longitudinal: change in prediction" in page  # real patients/offsets of the metadata
    assert not (tmp_path / "out" / "tables" / "model_as_rater.csv").exists()


def test_ci_formatting_as_a_paper_prints_it():
    assert fmt_ci(0.8712, 0.8149, 0.9101) == "0.87 (0.81–0.91)"
    assert fmt_ci(-0.2, -0.55, 0.1) == "−0.20 (−0.55 to 0.10)"
    assert fmt_ci(1.0, float("nan"), 2.0) == "1.00"
    tex = to_latex(pd.DataFrame({"Rater": ["dr_x"], "MAE": ["−0.20 (−0.55 to 0.10)"]}), "Cap 5%", "t")
    assert "dr\\_x" in tex and "$-$0.20 ($-$0.55 to 0.10)" in tex and "Cap 5\\%" in tex


# --------------------------------------------------------------------------- CLI

def test_cli_report_on_a_cohort_folder(cohort, tmp_path, capsys):
    rc = main(["report", "--cohort", str(cohort), "--out", str(tmp_path / "r"), "--bootstrap", "50",
               "--reference", "median", "--subgroup", "view", "--confidence", "0.9"])
    assert rc == 0
    assert f"report: {tmp_path / 'r' / 'report.html'}" in capsys.readouterr().out
    subgroups = pd.read_csv(tmp_path / "r" / "tables" / "subgroups.csv")
    assert set(subgroups["variable"]) == {"view"}
    # --confidence reaches every interval, the captions, the sentences and the methods
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["settings"]["confidence"] == 0.9 and summary["settings"]["n_boot"] == 50
    assert "90% CI" in summary["sentences"]["model_vs_raters:extent"]
    page = html.unescape((tmp_path / "r" / "report.html").read_text())
    assert "Model vs reference: estimate (90% bootstrap CI)" in page and "90% CIs: percentile bootstrap" in page
    assert "95%" not in (tmp_path / "r" / "tables" / "tables.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--cohort", "{tmp}/nope"], "no such folder"),
    ([], "give --cohort DIR or --ratings CSV (and --predictions CSV for the model sections)"),
    (["--cohort", "{cohort}", "--bootstrap", "-1"], "--bootstrap -1: must be 0 or more"),
    (["--cohort", "{cohort}", "--workers", "0"], "--workers 0: must be 1 or more"),
    (["--cohort", "{cohort}", "--confidence", "95"], "--confidence 95.0: must be between 0 and 1 (e.g. 0.95)"),
    (["--cohort", "{cohort}", "--subgroup", "scanner"],
     "subgroup column 'scanner' not in the metadata (available: filename, patientid, offset, sex, age, view, site)"),
    (["--cohort", "{cohort}", "--cluster-col", "patient"],
     "cluster column 'patient' not found in the metadata (available: filename, patientid, offset"),
    (["--cohort", "{cohort}", "--predictions", "{tmp}/missing.csv"], "no predictions"),
])
def test_cli_report_usage_errors_exit_2(argv, message, cohort, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, cohort=cohort) for a in argv]
    assert main(["report", *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("covsev report: error: ") and message in err


def test_cli_report_missing_columns_and_unknown_cases_exit_2(cohort, tmp_path, capsys):
    ratings = pd.read_csv(cohort / "ratings.csv")
    ratings.drop(columns=["component"]).to_csv(tmp_path / "nocomp.csv", index=False)
    assert main(["report", "--cohort", str(cohort), "--ratings", str(tmp_path / "nocomp.csv"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "ratings are missing column(s) component" in capsys.readouterr().err
    ratings.loc[0, "case_id"] = "c-not-in-cohort"
    ratings.to_csv(tmp_path / "unknown.csv", index=False)
    assert main(["report", "--cohort", str(cohort), "--ratings", str(tmp_path / "unknown.csv"),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "1 rated case(s) unknown to" in err and "'c-not-in-cohort'" in err


def test_cli_report_without_out_is_an_argparse_error(cohort):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--cohort", str(cohort)])
    assert exc.value.code == 2


def test_cli_report_exports_ratings_from_the_label_store(tmp_path, capsys):
    """Contract with the cohort and label store: a real cohort folder without ratings.csv."""
    import numpy as np
    from PIL import Image

    from covsev_tools.cohort import create_cohort
    from covsev_tools.labels.store import LabelStore

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray((rng.random((32, 32)) * 255).astype("uint8")).save(images / f"img{i}.png")
    cohort = create_cohort(images, "mini", out_dir=tmp_path / "cohort", repeat_fraction=0.25,
                           repeat_min_gap=1, seed=1, raters=["a", "b", "c"], progress=False)
    store = LabelStore(tmp_path / "labels", "mini")
    index = {case: i for i, case in enumerate(sorted(cohort.case_ids))}
    for r, rater in enumerate(("a", "b", "c")):
        for position, display_id in enumerate(cohort.reading_order(rater), start=1):
            right = (index[cohort.resolve(display_id)] + r) % 5
            store.save({"rater": rater, "case_id": display_id, "session_id": "s", "position": position,
                        "scales": {"extent": {"version": "1", "scores": {"right": right % 5, "left": 1},
                                              "total": right % 5 + 1},
                                   "opacity": {"version": "1", "scores": {"right": right % 4, "left": 0},
                                               "total": right % 4}},
                        "not_assessable": False, "not_assessable_reason": None, "comment": "",
                        "time_shown": "2026-01-01T10:00:00.000Z", "seconds_on_case": 3.0})
    key = cohort.key()
    preds = key[["case_id", "filename"]].dropna().assign(
        geographic_extent=np.linspace(0, 8, len(key)), opacity=np.linspace(0, 6, len(key)), error="")
    preds.to_csv(tmp_path / "cohort" / "predictions.csv", index=False)
    out = tmp_path / "report"
    rc = main(["report", "--cohort", str(tmp_path / "cohort"), "--labels-dir", str(tmp_path / "labels"),
               "--out", str(out), "--bootstrap", "20"])
    assert rc == 0, capsys.readouterr().err
    assert (out / "ratings.csv").is_file() and (out / "report.html").is_file()
    loro = pd.read_csv(out / "tables" / "model_as_rater.csv")
    assert set(loro["rater"].dropna()) == {"a", "b", "c"} and (loro["n"] == 8).all()
    assert loro["rater"].isna().sum() == 2  # the model's MAE over the left-out raters, per scale
    assert (pd.read_csv(out / "tables" / "intra_rater.csv")["n"] == 2).all()


def test_too_few_cases_is_a_clear_error(cohort, tmp_path, capsys):
    preds = pd.read_csv(cohort / "predictions.csv").iloc[:2]
    preds.to_csv(tmp_path / "two.csv", index=False)
    rc = main(["report", "--cohort", str(cohort), "--predictions", str(tmp_path / "two.csv"),
               "--out", str(tmp_path / "r")])
    assert rc == 2
    assert "only 2 case(s) have both a reference score" in capsys.readouterr().err


def _label_store_study(root):
    """A cohort scored in its label store by 3 raters (one case adjudicated); no predictions."""
    from covsev_tools.labels import LabelStore

    from helpers import make_cohort

    study = make_cohort(root, n=12, name="pilot", repeat_fraction=0.25)
    store = LabelStore(root / "labels", "pilot", scales=study.scales)
    by_name = {scale.name: scale for scale in study.scales}

    def entry(extent, opacity):
        return {name: {"version": by_name[name].version, "scores": scores, "total": by_name[name].total(scores)}
                for name, scores in (("extent", extent), ("opacity", opacity))}

    for offset, rater in enumerate(("ra", "rb", "rc")):
        for i, case in enumerate(study.reading_order(rater)):
            level = (i * 7 + offset * (i % 3)) % 4
            store.save({"rater": rater, "case_id": case, "scales": entry(
                {"right": level, "left": (level + 1) % 5}, {"right": level % 4, "left": 1})})
    store.save({"rater": "consensus", "adjudicator": "senior", "case_id": study.case_ids[0], "comment": "agreed",
                "scales": entry({"right": 4, "left": 4}, {"right": 3, "left": 3})})
    return study


def test_report_without_a_model_has_the_raters_sections_and_says_the_model_is_absent(tmp_path, capsys):
    study = _label_store_study(tmp_path)
    out = tmp_path / "r"
    assert main(["report", "--cohort", str(study.dir), "--labels-dir", str(tmp_path / "labels"), "--out", str(out),
                 "--reference", "consensus", "--bootstrap", "20"]) == 0, capsys.readouterr().err
    page = (out / "report.html").read_text()
    assert "No model predictions: the model&#39;s sections" in page or "No model predictions: the model's sections" in page
    for heading in ("1. Study", "2. Inter-rater agreement", "7. Intra-rater reliability", "Adjudication"):
        assert heading in page
    for absent in ("3. Model vs reference", "4. The model as one more rater", "5. Is the model within",
                   "8. Subgroups"):
        assert absent not in page
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {"reference", "inter_rater", "intra_rater", "adjudication"} <= tables
    assert not tables & {"model_vs_reference", "calibration", "model_as_rater", "subgroups"}
    adjudication = pd.read_csv(out / "tables" / "adjudication.csv")
    assert adjudication["n_adjudicated"].tolist() == [1, 1] and adjudication["n_cases"].tolist() == [12, 12]
    # the consensus is 8 (extent) against the raters' mean on that case: the change says how far it moved
    ratings = pd.read_csv(out / "ratings.csv")
    first = ratings[(ratings["case_id"] == study.case_ids[0]) & (ratings["rater"] != "consensus")
                    & (ratings["scale"] == "extent") & (ratings["component"] == "total") & ~ratings["is_repeat"]]
    assert adjudication.loc[0, "mean_abs_change"] == pytest.approx(abs(8 - first["score"].mean()))
    assert "with a model prediction" in page and "0 with a model prediction" in page
    pairs = pd.read_csv(out / "tables" / "intra_rater.csv")["n"].min()
    assert pairs < 10 and f"Small numbers: as few as {pairs} repeat pair" in page


def test_report_explains_fleiss_kappa_against_the_icc(report):
    page = html.unescape((report / "report.html").read_text())
    raw = pd.read_csv(report / "tables" / "inter_rater.csv")
    total = raw[(raw["scale"] == "extent") & (raw["component"] == "total")].set_index("statistic")["estimate"]
    assert total["ICC(2,1)"] - total["Fleiss κ"] >= 0.2  # the simulated raters, as the study
    assert (f"On extent (total), unweighted Fleiss κ is {total['Fleiss κ']:.2f} while ICC(2,1) is "
            f"{total['ICC(2,1)']:.2f}") in page
    assert "counts only identical levels as agreement" in page


def test_a_failed_report_leaves_no_ratings_export_behind(tmp_path, capsys):
    study = _label_store_study(tmp_path)
    labels = ["--labels-dir", str(tmp_path / "labels")]
    out = tmp_path / "fresh"
    # refused after the export was written (an unknown subgroup column): everything made is removed
    assert main(["report", "--cohort", str(study.dir), *labels, "--out", str(out), "--subgroup", "scanner"]) == 2
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main(["report", "--cohort", str(study.dir), *labels, "--out", str(kept),
                 "--predictions", str(tmp_path / "missing.csv")]) == 2
    assert "no predictions file" in capsys.readouterr().err
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]  # the folder's own files stay
