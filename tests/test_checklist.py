"""Reporting checklists filled from the study (GRRAS, CLAIM 2024, TRIPOD+AI, STARD-AI) and the
study description they read (study.yaml, covsev study describe)."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from covsev_tools.cli.main import main
from covsev_tools.report.checklist_fill_model import FILLERS
from covsev_tools.report.checklist_items import GUIDELINES
from covsev_tools.report.checklists import fill_checklists
from covsev_tools.report.description import DescriptionError, describe_study, read_description
from covsev_tools.report.tables import fmt, fmt_ci

RATERS = ("a", "b", "c")


# --------------------------------------------------------------------------- the item lists

@pytest.mark.parametrize("key, numbered, rows", [("grras", 15, 15), ("claim", 44, 44),
                                                 ("tripod-ai", 27, 52), ("stard-ai", 40, 48)])
def test_checklist_item_counts_match_the_published_guidelines(key, numbered, rows):
    guideline = GUIDELINES[key]
    assert guideline.numbered == numbered and len(guideline.items) == rows
    # the numbered items run 1..N without a gap, each lettered sub-item under its number
    assert guideline.main_numbers == [str(n) for n in range(1, numbered + 1)]
    assert len({item.number for item in guideline.items}) == rows


def test_checklist_tripod_ai_and_stard_ai_sub_items():
    letters = lambda key, n: [i.number for i in GUIDELINES[key].items  # noqa: E731
                              if re.fullmatch(rf"{n}[a-g]", i.number)]
    assert letters("tripod-ai", 12) == [f"12{c}" for c in "abcdefg"]
    assert letters("tripod-ai", 18) == [f"18{c}" for c in "abcdef"]
    assert letters("stard-ai", 15) == [f"15{c}" for c in "abcd"]
    assert letters("stard-ai", 40) == ["40a", "40b"]


def test_checklist_items_are_short_paraphrases_with_a_filler_or_a_hint():
    for guideline in GUIDELINES.values():
        for item in guideline.items:
            assert 10 <= len(item.topic) <= 100, (guideline.key, item.number)
            assert item.fact is None or item.fact in FILLERS, (guideline.key, item.number)


# --------------------------------------------------------------------------- the demo study

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from covsev_tools.report.demo import build_demo

    main_report, published = build_demo(tmp_path_factory.mktemp("demo"), n_cases=40, n_raters=3,
                                        n_boot=50)
    return main_report, published


def _checklist(folder, key) -> pd.DataFrame:
    return pd.read_csv(folder / f"checklist-{key}.csv", dtype=str, keep_default_na=False)


def _item(frame, number) -> pd.Series:
    return frame.set_index("item").loc[number]


def test_checklist_files_and_html_section_on_the_demo(demo):
    report = demo[0]
    html = report.html.read_text(encoding="utf-8")
    assert 'id="checklists"' in html
    for key in GUIDELINES:
        frame = _checklist(report.out_dir, key)
        assert len(frame) == len(GUIDELINES[key].items)
        assert set(frame["status"]) <= {"filled", "partly", "author"}
        counts = frame["status"].value_counts()
        summary = (f"{GUIDELINES[key].title}: {counts.get('filled', 0)} filled, "
                   f"{counts.get('partly', 0)} partly, {counts.get('author', 0)} for the author")
        assert summary in html
        recorded = json.loads((report.out_dir / "summary.json").read_text())["checklists"][key]
        assert recorded == {s: int(counts.get(s, 0)) for s in ("filled", "partly", "author")}
        assert (report.out_dir / f"checklist-{key}.md").read_text().startswith(f"# {GUIDELINES[key].title}")
        # every filled item says something and says where the report shows it
        filled = frame[frame["status"] == "filled"]
        assert (filled["study_text"].str.len() > 10).all() and (filled["where"] != "").all()
        assert (frame.loc[frame["status"] == "author", "author_to_add"] != "").all()
        # partly and author items say what the author adds; filled items are complete
        assert (frame.loc[frame["status"] != "filled", "author_to_add"] != "").all()
        assert (filled["author_to_add"] == "").all()


def test_checklist_filled_items_hold_the_reports_numbers(demo):
    report = demo[0]
    out = report.out_dir
    study = json.loads((out / "summary.json").read_text())["study"]
    grras, claim = _checklist(out, "grras"), _checklist(out, "claim")
    counts = _item(grras, "11")
    assert counts["status"] == "filled"
    assert counts["study_text"].startswith(f"{study['n_raters']} raters (R1, R2, R3); "
                                           f"{study['n_cases']} cases (images) of "
                                           f"{study['n_patients']} patients")
    per_patient = pd.read_csv(out.parent / "simulated-cohort" / "key.csv")["patientid"].value_counts()
    assert (f"(images per patient: median {fmt(per_patient.median(), 1)}, range "
            f"{per_patient.min()}–{per_patient.max()})") in counts["study_text"]
    assert f"{study['n_complete']} of {study['n_cases']} cases rated by every rater" in counts["study_text"]
    assert f"{study['n_repeat_cases']} cases read a second time ({study['n_repeats']} repeat" in counts["study_text"]
    assert _item(claim, "35")["study_text"] == counts["study_text"]
    # the estimates are the report's own tables, formatted as the report formats them
    inter = pd.read_csv(out / "tables" / "inter_rater.csv")
    icc = inter[(inter["scale"] == "extent") & (inter["component"] == "total")
                & (inter["statistic"] == "ICC(2,1)")].iloc[0]
    assert f"ICC(2,1) {fmt_ci(icc.estimate, icc.ci_low, icc.ci_high)}" in _item(grras, "13")["study_text"]
    mvr = pd.read_csv(out / "tables" / "model_vs_reference.csv")
    mae = mvr[(mvr["scale"] == "opacity") & (mvr["statistic"] == "MAE")].iloc[0]
    performance = _item(claim, "37")
    assert performance["status"] == "filled"
    assert f"opacity (n = {mae.n}): MAE {fmt_ci(mae.estimate, mae.ci_low, mae.ci_high)}" in performance["study_text"]
    cal = pd.read_csv(out / "tables" / "calibration.csv")
    slope = cal[(cal["scale"] == "extent") & (cal["statistic"] == "Slope")].iloc[0]
    assert f"extent slope {fmt_ci(slope.estimate, slope.ci_low, slope.ci_high)}" in performance["study_text"]
    assert "50 resamples" in _item(claim, "29")["study_text"]


def test_checklist_demo_never_claims_what_simulated_data_did_not_do(demo):
    grras = _checklist(demo[0].out_dir, "grras")
    claim = _checklist(demo[0].out_dir, "claim")
    # simulated readers were not blinded and predictions were not made by the model
    assert _item(grras, "8")["status"] == "partly" and "simulated" in _item(grras, "8")["study_text"]
    assert _item(claim, "9")["status"] == "partly" and "simulated" in _item(claim, "9")["study_text"]
    # the published-means report has no individual ratings: GRRAS does not apply
    published = demo[1].out_dir
    assert not (published / "checklist-grras.csv").exists()
    assert (published / "checklist-claim.csv").is_file()


# --------------------------------------------------------------------------- a real rated cohort

def _rated_cohort(tmp_path, *, repeats: bool, repeat_days: float = 3.0):
    """A cohort made by covsev cohort create, read by three raters through the label store, the
    ratings exported to <cohort>/ratings.csv with the repeats saved ``repeat_days`` later."""
    from PIL import Image

    from covsev_tools.cohort import create_cohort
    from covsev_tools.labels import ratings_export, write_ratings_csv
    from covsev_tools.labels.store import LabelStore

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray((rng.random((32, 32)) * 255).astype("uint8")).save(images / f"img{i}.png")
    cohort = create_cohort(images, "mini", out_dir=tmp_path / "cohort",
                           repeat_fraction=0.2 if repeats else 0.0, repeat_min_gap=2, seed=1,
                           raters=list(RATERS), progress=False, workers=1)
    labels = tmp_path / "labels"
    store = LabelStore(labels, "mini")
    index = {case: i for i, case in enumerate(sorted(cohort.case_ids))}
    for r, rater in enumerate(RATERS):
        for position, display_id in enumerate(cohort.reading_order(rater), start=1):
            value = (index[cohort.resolve(display_id)] + r) % 5
            store.save({"rater": rater, "case_id": display_id, "session_id": "s", "position": position,
                        "scales": {"extent": {"version": "1", "scores": {"right": value, "left": 1},
                                              "total": value + 1},
                                   "opacity": {"version": "1", "scores": {"right": value % 4, "left": 0},
                                               "total": value % 4}},
                        "not_assessable": False, "not_assessable_reason": None, "comment": "",
                        "time_shown": "2026-01-01T10:00:00.000Z", "seconds_on_case": 3.0})
    export = ratings_export(cohort, labels)
    first = pd.Timestamp("2026-01-01T10:00:00Z")
    export["time_saved"] = np.where(export["is_repeat"], (first + pd.Timedelta(days=repeat_days)).isoformat(),
                                    first.isoformat())
    write_ratings_csv(export, tmp_path / "cohort" / "ratings.csv")
    key = cohort.key()
    preds = key[["case_id", "filename"]].dropna().assign(
        geographic_extent=np.linspace(0, 8, len(key)), opacity=np.linspace(0, 6, len(key)), error="")
    preds.to_csv(tmp_path / "cohort" / "predictions.csv", index=False)
    return tmp_path / "cohort", labels


def _report(cohort, labels, out, *extra) -> int:
    return main(["report", "--cohort", str(cohort), "--labels-dir", str(labels), "--out", str(out),
                 "--bootstrap", "20", "--workers", "1", *extra])


def test_checklist_real_cohort_states_blinding_and_the_measured_repeat_spacing(tmp_path, capsys):
    cohort, labels = _rated_cohort(tmp_path, repeats=True, repeat_days=3.0)
    assert _report(cohort, labels, tmp_path / "r", "--checklists", "grras,tripod-ai") == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "r").glob("checklist-*.csv")) == [
        "checklist-grras.csv", "checklist-tripod-ai.csv"]
    grras = _checklist(tmp_path / "r", "grras")
    process = _item(grras, "8")
    assert process["status"] == "filled"
    assert "no clinical information, no other rater's score and no model prediction" in process["study_text"]
    # 2 of 10 cases repeated, each at least 2 cases after its original, 3 days apart for 3 raters
    assert ("2 cases were shown again as hidden repeats, each at least 2 cases after its first "
            "showing; time between first and repeat reading, from the records' save times: median "
            "3.00 days (range 3.00–3.00, 6 pairs)") in process["study_text"]
    assert _item(grras, "9")["status"] == "filled"
    tripod = _checklist(tmp_path / "r", "tripod-ai")
    assert _item(tripod, "8c")["status"] == "filled"


def test_checklist_study_without_repeats_or_training_leaves_them_to_the_author(tmp_path):
    from covsev_tools.validation import load_study, validate

    cohort, labels = _rated_cohort(tmp_path, repeats=False)
    result = validate(load_study(cohort=cohort), n_boot=0)
    frames = fill_checklists(result, "grras,claim", study_dir=cohort, labels_dir=labels)
    grras, claim = frames["grras"].set_index("item"), frames["claim"].set_index("item")
    process = grras.loc["8"]
    assert "hidden repeat" not in process["study_text"] and "No case was shown twice" in process["study_text"]
    assert "intra-rater agreement was not measured" in process["author_to_add"]
    raters = grras.loc["12"]
    assert raters["status"] == "partly"
    assert "No training round was required" in raters["study_text"] and "passed" not in raters["study_text"]
    assert "covsev training require" in raters["author_to_add"]
    assert process["status"] == "partly"
    assert "experience_years" in raters["author_to_add"]
    assert claim.loc["18", "status"] == "partly"
    assert "intra-rater variability not measured" in claim.loc["18", "study_text"]
    # no bootstrap: the uncertainty item asks for intervals instead of claiming them
    assert claim.loc["29", "status"] == "partly" and "--bootstrap" in claim.loc["29", "author_to_add"]


def test_checklist_training_round_result_appears(tmp_path):
    from PIL import Image

    from covsev_tools.scoring.training import TrainingSet, require_training
    from covsev_tools.scoring.training_build import build_training_set
    from covsev_tools.validation import load_study, validate

    cohort, labels = _rated_cohort(tmp_path, repeats=False)
    images = tmp_path / "train_images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((24, 24), 40 * i, dtype="uint8")).save(images / f"t{i}.png")
    reference = pd.DataFrame({"filename": [f"t{i}.png" for i in range(3)], "extent_total": [2.0, 4.0, 6.0],
                              "opacity_total": [1.0, 2.0, 3.0]})
    training = build_training_set(images, reference, "calib", tmp_path / "calib", progress=False)
    files = dict(zip(training.cohort.key()["case_id"], training.cohort.key()["filename"]))
    totals = reference.set_index("filename")
    for rater, offset, offset_opacity in (("a", 0, 0), ("b", -2, -1)):  # a matches, b is off
        for position, case in enumerate(training.cohort.reading_order(rater, save=False), start=1):
            row = totals.loc[files[case]]
            extent, opacity = row["extent_total"] + offset, row["opacity_total"] + offset_opacity
            training.store(labels).save({
                "rater": rater, "case_id": case, "session_id": "t", "position": position,
                "scales": {"extent": {"version": "1", "scores": {"right": int(extent) // 2,
                                      "left": int(extent) - int(extent) // 2}, "total": int(extent)},
                           "opacity": {"version": "1", "scores": {"right": int(opacity) // 2,
                                       "left": int(opacity) - int(opacity) // 2}, "total": int(opacity)}},
                "not_assessable": False, "not_assessable_reason": None, "comment": "",
                "time_shown": "2026-01-01T09:00:00.000Z", "seconds_on_case": 2.0})
    require_training(cohort, tmp_path / "calib", max_mae=1.0)
    assert isinstance(TrainingSet.load(tmp_path / "calib"), TrainingSet)
    describe_study(cohort, [f"raters.{r}.experience_years={y}" for r, y in zip(RATERS, (10, 2, 5))])
    result = validate(load_study(cohort=cohort), n_boot=0)
    item = fill_checklists(result, "grras", study_dir=cohort, labels_dir=labels)["grras"].set_index(
        "item").loc["12"]
    assert item["status"] == "filled" and item["author_to_add"] == ""
    text = item["study_text"]
    assert text.startswith("3 raters: a (10 years' experience); b (2 years' experience); c (5 years' experience).")
    assert ("every rater had to pass a training round (set calib, mean absolute error of each scale "
            "total at most 1.00): passed a; not passed b") in text


# --------------------------------------------------------------------------- the study description

def test_checklist_recorded_facts_appear(tmp_path):
    from covsev_tools.validation import load_study, validate

    cohort, labels = _rated_cohort(tmp_path, repeats=True)
    assert main(["study", "describe", str(cohort),
                 "--set", "raters.a.experience_years=12", "--set", "raters.a.role=thoracic radiologist",
                 "--set", "raters.b.experience_years=3", "--set", "raters.b.role=resident",
                 "--set", "raters.c.experience_years=7.5", "--set", "raters.c.role=radiologist",
                 "--set", "setting=Two teaching hospitals in Lyon, France",
                 "--set", "ethics=Approved by CPP Sud-Est (2026-001); consent waived",
                 "--set", "sample_size.rationale=covsev plan icc: 10 cases for a pilot",
                 "--set", "sample_size.planned_cases=10"]) == 0
    assert read_description(cohort)["raters"]["c"] == {"experience_years": 7.5, "role": "radiologist"}
    result = validate(load_study(cohort=cohort), n_boot=0)
    frames = fill_checklists(result, "all", study_dir=cohort, labels_dir=labels)
    grras = frames["grras"].set_index("item")
    # every rater's experience is recorded; only the missing training round is left to say
    assert grras.loc["12", "status"] == "partly"
    assert "experience" not in grras.loc["12", "author_to_add"]
    assert "Say how the raters were prepared" in grras.loc["12", "author_to_add"]
    assert ("a (thoracic radiologist, 12 years' experience); b (resident, 3 years' experience); "
            "c (radiologist, 7.5 years' experience)") in grras.loc["12", "study_text"]
    assert grras.loc["4", "status"] == "filled"
    assert grras.loc["6", "study_text"].startswith("covsev plan icc: 10 cases for a pilot Planned: 10 cases.")
    tripod = frames["tripod-ai"].set_index("item")
    assert tripod.loc["6a", "status"] == "filled" and "Lyon, France" in tripod.loc["6a", "study_text"]
    assert "CPP Sud-Est" in tripod.loc["17", "study_text"]
    assert frames["stard-ai"].set_index("item").loc["6", "study_text"] == tripod.loc["17", "study_text"]


@pytest.mark.parametrize("text, message", [
    ("setting: Lyon\nsetings: Paris\n", "line 2: unknown field 'setings'"),
    ("raters:\n  anna:\n    role: radiologist\n    experience: 12\n",
     "line 4: unknown field raters.anna.experience"),
    ("raters:\n  anna:\n    experience_years: -1\n",
     "line 3: raters.anna.experience_years = -1 must be bigger than or equal to 0"),
    ("sample_size:\n  planned_cases: many\n", "line 2: sample_size.planned_cases = 'many' must be integer"),
    ("setting: [Lyon\n", "line 2: not valid YAML"),
])
def test_checklist_malformed_description_is_refused_with_its_line(tmp_path, text, message):
    (tmp_path / "study.yaml").write_text(text)
    with pytest.raises(DescriptionError, match=re.escape(message)):
        read_description(tmp_path)


def test_checklist_malformed_description_stops_the_report_before_any_work(tmp_path, capsys):
    cohort, labels = _rated_cohort(tmp_path, repeats=False)
    (cohort / "study.yaml").write_text("setting: Lyon\nraters:\n  a:\n    experience_years: twelve\n")
    assert _report(cohort, labels, tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "study.yaml, line 4: raters.a.experience_years = 'twelve' must be number" in err
    assert not (tmp_path / "r" / "report.html").exists()


def test_checklist_describe_refuses_a_bad_assignment_and_keeps_the_file(tmp_path, capsys):
    describe_study(tmp_path, ["setting=Lyon"])
    before = (tmp_path / "study.yaml").read_text()
    assert main(["study", "describe", str(tmp_path), "--set", "raters.a.experience_years=12",
                 "--set", "raters.a.years=3"]) == 2
    assert "--set raters.a.years=3: unknown field raters.a.years" in capsys.readouterr().err
    assert (tmp_path / "study.yaml").read_text() == before  # nothing half-written
    assert main(["study", "describe", str(tmp_path), "--set", "no-equals-sign"]) == 2
    assert "expected FIELD=VALUE" in capsys.readouterr().err
    assert main(["study", "describe", str(tmp_path / "missing"), "--set", "setting=x"]) == 2


def test_checklist_unknown_name_is_a_usage_error(tmp_path, capsys):
    cohort, labels = _rated_cohort(tmp_path, repeats=False)
    assert _report(cohort, labels, tmp_path / "r", "--checklists", "claim,consort") == 2
    assert "--checklists claim,consort: unknown checklist 'consort'" in capsys.readouterr().err
    assert _report(cohort, labels, tmp_path / "r2", "--checklists", "none") == 0
    assert not list((tmp_path / "r2").glob("checklist-*"))
    assert 'id="checklists"' not in (tmp_path / "r2" / "report.html").read_text()


def test_checklist_csv_cells_that_look_like_formulas_are_neutralised(tmp_path):
    from covsev_tools.validation import load_study, validate

    cohort, labels = _rated_cohort(tmp_path, repeats=False)
    describe_study(cohort, ["setting==HYPERLINK(\"http://x\")"])
    result = validate(load_study(cohort=cohort), n_boot=0)
    from covsev_tools.report.checklists import write_checklists

    write_checklists(fill_checklists(result, "tripod-ai", study_dir=cohort), tmp_path / "out")
    raw = (tmp_path / "out" / "checklist-tripod-ai.csv").read_text()
    assert "\n6a,Methods,Setting and centres,filled,\"'=HYPERLINK(\"\"http://x\"\")" in raw


def test_checklist_weights_file_name_is_xrvs_and_its_hash_is_reported(tmp_path, monkeypatch):
    import hashlib

    from covsev_tools.model.weights import weights_filename
    from covsev_tools.report import checklist_facts

    assert checklist_facts.WEIGHTS_FILE == weights_filename()
    monkeypatch.setenv("COVSEV_WEIGHTS_DIR", str(tmp_path))
    assert checklist_facts._weights() is None
    (tmp_path / weights_filename()).write_bytes(b"not really weights")
    assert checklist_facts._weights()["sha256"] == hashlib.sha256(b"not really weights").hexdigest()


def test_checklist_requirement_file_name_is_the_training_modules():
    from covsev_tools.scoring.training import REQUIREMENT_FILE

    assert REQUIREMENT_FILE == "training_required.json"


def test_checklist_docs_page_lists_every_item_as_the_code_has_it(repo_root):
    page = (repo_root / "docs" / "checklists.md").read_text(encoding="utf-8")
    for guideline in GUIDELINES.values():
        section = page.split(f"## {guideline.title}\n", 1)[1].split("\n## ", 1)[0]
        rows = {line.split(" | ")[0][2:]: line for line in section.splitlines() if line.startswith("| ")}
        for item in guideline.items:
            row = rows[item.number]
            assert row.startswith(f"| {item.number} | {item.topic} | "), (guideline.key, item.number)
            source = row.split(" | ")[2]
            if item.fact is None:
                assert source == "the author |", (guideline.key, item.number)
            else:  # the study's own fact, or the study.yaml field that answers it
                assert f"(`{item.fact}`)" in source or source.startswith("`study.yaml`"), row


def test_checklist_recorded_text_is_escaped_in_the_html(tmp_path):
    from covsev_tools.report.build import render_html
    from covsev_tools.validation import load_study, validate

    cohort, _ = _rated_cohort(tmp_path, repeats=False)
    describe_study(cohort, ["setting=<script>alert(1)</script> Lyon"])
    result = validate(load_study(cohort=cohort), n_boot=0)
    page = render_html(result, [], [], "t", fill_checklists(result, "tripod-ai", study_dir=cohort))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Lyon (recorded in study.yaml)." in page
    assert '<details class="checklist" id="checklist-tripod-ai">' in page


def test_checklist_linked_cohort_states_the_raters_own_scale(tmp_path, capsys):
    """A cohort scored on Brixia, linked to extent: agreement is stated on the Brixia scale."""
    from covsev_tools.linking import link_scales, save_link
    from covsev_tools.linking.link import demo_table

    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1, 30)
    rows = [{"case_id": f"c{i:02d}", "rater": r, "scale": "brixia", "component": "total",
             "filename": f"c{i:02d}.png", "patient_id": f"p{i // 2}",
             "score": float(np.clip(np.rint(18 * t + rng.normal(0, 1.5)), 0, 18))}
            for i, t in enumerate(truth) for r in ("senior", "junior")]
    pd.DataFrame(rows).to_csv(tmp_path / "ratings.csv", index=False)
    pd.DataFrame({"case_id": [f"c{i:02d}" for i in range(30)],
                  "geographic_extent": np.clip(8 * truth + rng.normal(0, 0.7, 30), 0, 8)}
                 ).to_csv(tmp_path / "predictions.csv", index=False)
    link = save_link(link_scales(demo_table(40), source="brixia", target="extent", n_boot=20),
                     tmp_path / "link.json")
    out = tmp_path / "report"
    assert main(["report", "--ratings", str(tmp_path / "ratings.csv"), "--predictions",
                 str(tmp_path / "predictions.csv"), "--out", str(out), "--bootstrap", "20",
                 "--workers", "1", "--link", str(link), "--checklists", "grras"]) == 0, capsys.readouterr().err
    grras = _checklist(out, "grras")
    assert _item(grras, "2")["study_text"].startswith("Brixia")
    inter = pd.read_csv(out / "tables" / "inter_rater.csv")
    icc = inter[(inter["scale"] == "brixia") & (inter["component"] == "total")
                & (inter["statistic"] == "ICC(2,1)")].iloc[0]
    assert (f"brixia total: ICC(2,1) {fmt_ci(icc.estimate, icc.ci_low, icc.ci_high)}"
            in _item(grras, "13")["study_text"])


def test_checklist_hub_study_adds_the_raters_own_accounts_to_the_blinding(tmp_path):
    import shutil

    from covsev_tools.validation import load_study, validate

    cohort, labels = _rated_cohort(tmp_path, repeats=False)
    hub_cohort = tmp_path / "hubstudy" / "cohorts" / "mini"
    shutil.copytree(cohort, hub_cohort)
    result = validate(load_study(cohort=hub_cohort), n_boot=0)
    plain = fill_checklists(result, "tripod-ai", study_dir=hub_cohort)["tripod-ai"].set_index("item")
    assert "Unix account" not in plain.loc["8c", "study_text"]  # no study.json: not a hub study
    for name in ("study.json", "users.json"):
        (tmp_path / "hubstudy" / name).write_text("{}")
    hub = fill_checklists(result, "tripod-ai", study_dir=hub_cohort)["tripod-ai"].set_index("item")
    assert ("the study ran on covsev's JupyterHub, each rater under a Unix account of their own "
            "that cannot read the cohort's key or its list of hidden repeats.") in hub.loc["8c", "study_text"]
