"""Training round (issue 14 point 1): training sets, feedback, summary, status, the study gate."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covsev_tools.labels import LabelStore, ratings_export
from covsev_tools.scoring import ScoringApp
from covsev_tools.scoring.training import (
    TRAINING_LABELS, TrainingError, TrainingSet, require_training, training_requirement, training_status)
from covsev_tools.scoring.training_build import build_training_set, paper_reference

from helpers import make_cohort

#: Reference of the four training images: extent per lung (so per component), opacity total only.
REFERENCE = pd.DataFrame({
    "filename": [f"train{i}.png" for i in range(4)],
    "extent_right": [1, 2, 3, 0], "extent_left": [2, 2, 4, 0],
    "opacity_total": [2.0, 3.5, 6.0, 0.0],
})


@pytest.fixture(autouse=True)
def off_the_hub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)


def training_images(root, names):
    folder = root / "train_images"
    folder.mkdir()
    for i, name in enumerate(names):
        pixels = (np.random.default_rng(100 + i).random((40, 40)) * 255).astype("uint8")
        Image.fromarray(pixels).save(folder / name)
    return folder


@pytest.fixture
def training(tmp_path):
    images = training_images(tmp_path, REFERENCE["filename"])
    return build_training_set(images, REFERENCE, "calib", tmp_path / "calib", progress=False)


def reference_of(training, case_id):
    return training.reference.entries[case_id]


def test_training_build_maps_reference_scores_to_case_ids(training, tmp_path):
    assert isinstance(training, TrainingSet) and len(training.cohort.case_ids) == 4
    assert training.cohort.repeats() == {}
    key = training.cohort.key().set_index("filename")
    first = key.loc["train0.png", "case_id"]
    assert reference_of(training, first) == {"extent": {"total": 3.0, "scores": {"right": 1.0, "left": 2.0}},
                                              "opacity": {"total": 2.0, "scores": None}}
    assert reference_of(training, key.loc["train1.png", "case_id"])["opacity"]["total"] == 3.5
    stored = json.loads((tmp_path / "calib" / "training.json").read_text())
    assert set(stored["reference"]) == set(training.cohort.case_ids)


def test_training_build_refuses_unreferenced_images_and_writes_nothing(tmp_path):
    images = training_images(tmp_path, ["train0.png", "stranger.png"])
    with pytest.raises(TrainingError, match="1 file.*no reference score.*stranger.png"):
        build_training_set(images, REFERENCE, "calib", tmp_path / "calib", progress=False)
    assert not (tmp_path / "calib").exists()
    with pytest.raises(TrainingError, match="no 'filename' column"):
        build_training_set(images, REFERENCE.drop(columns="filename"), "calib", tmp_path / "x", progress=False)


def test_training_build_never_overwrites_a_study_cohort(tmp_path):
    # `covsev training build --name pilot` beside a study called pilot (default out cohorts/pilot)
    # re-ran cohort creation on the study: its repeats and display images were gone.
    study = make_cohort(tmp_path, n=12, name="study", repeat_fraction=0.25)
    before = sorted(p.name for p in (study.dir / "cases").iterdir())
    images = training_images(tmp_path, REFERENCE["filename"])
    with pytest.raises(TrainingError, match="holds a study cohort, not a training set"):
        build_training_set(images, REFERENCE, "study", study.dir, progress=False)
    assert sorted(p.name for p in (study.dir / "cases").iterdir()) == before
    assert len(study.repeats()) == 3 and not (study.dir / "training.json").exists()
    again = build_training_set(images, REFERENCE, "calib", tmp_path / "calib", progress=False)
    rebuilt = build_training_set(images, REFERENCE, "calib", tmp_path / "calib", progress=False)
    assert rebuilt.cohort.case_ids == again.cohort.case_ids  # a training set may be rebuilt in place


def test_training_build_with_its_folder_inside_the_images_folder(tmp_path):
    images = training_images(tmp_path, REFERENCE["filename"])
    for _ in range(2):  # the second run must not count the set's own display PNGs as images
        built = build_training_set(images, REFERENCE, "calib", images / "calib", progress=False)
    assert len(built.cohort.case_ids) == 4


@pytest.mark.parametrize("edit, problem", [
    (lambda entry: entry["extent"].update(total="abc"), "extent.total must be number"),
    (lambda entry: entry["extent"].update(scores=[1, 2]), "extent.scores cannot be validated by any definition"),
    (lambda entry: entry.update(extent=None), "extent must be object"),
])
def test_training_tampered_training_file_is_a_one_line_error(training, tmp_path, capsys, edit, problem):
    # A damaged training.json opened, then the page failed with a TypeError/AttributeError on the
    # first feedback, after the rater's record was saved.
    from covsev_tools.cli.main import main
    from covsev_tools.scoring.app import launch

    path = training.cohort.dir / "training.json"
    data = json.loads(path.read_text())
    case = sorted(data["reference"])[0]
    edit(data["reference"][case])
    path.write_text(json.dumps(data))
    expected = f"{path}: not a valid training file (tampered or damaged?): reference.{case}.{problem}"
    with pytest.raises(TrainingError) as caught:
        TrainingSet.load(training.cohort.dir)
    assert str(caught.value) == expected
    assert "The scoring app cannot start" in launch(training.cohort.dir, "rad1", tmp_path / "labels").value
    assert main(["training", "status", str(training.cohort.dir), "--labels-dir", str(tmp_path / "labels")]) == 2
    assert capsys.readouterr().err == f"covsev training: error: {expected}\n"


def test_training_reference_csv_with_notes_and_paper_reference(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text("## notes: licence\n" + REFERENCE.to_csv(index=False))
    images = training_images(tmp_path, REFERENCE["filename"])
    built = build_training_set(images, path, "fromcsv", tmp_path / "fromcsv", progress=False)
    assert len(built.reference.entries) == 4
    paper = paper_reference()
    assert len(paper) == 94 and paper["extent_total"].between(0, 8).all()
    assert paper["opacity_total"].between(0, 6).all()
    row = paper.set_index("filename").loc["01E392EE-69F9-4E33-BFCE-E5C968654078.jpeg"]
    assert (row["extent_total"], row["opacity_total"]) == (6.0, 4.0)  # first row of the published CSV


def score(app, extent, opacity):
    for (scale, values) in (("extent", extent), ("opacity", opacity)):
        for component, value in zip(("right", "left"), values, strict=True):
            app.rows.buttons[(scale, component)][value].click()


def reference_for_position(app, training):
    return reference_of(training, app.session.order[app.session.index])


def test_training_page_feedback_after_each_case_then_summary(training, tmp_path):
    labels = tmp_path / "labels"
    app = ScoringApp(training.cohort.dir, rater="rad1", labels_dir=labels)
    assert "TRAINING ROUND" in app.banner.value and app.session.training
    assert "training round rad1" in app.header.value and app.feedback.value == ""
    diffs, left_diffs = [], []  # +1 on the left lung at odd positions, unless the reference is already 4
    for n in range(4):
        ref = reference_for_position(app, training)
        extent = (int(ref["extent"]["scores"]["right"]), min(4, int(ref["extent"]["scores"]["left"]) + n % 2))
        score(app, extent, (1, 1))
        app.keys.simulate("Enter")
        # saved, and the page stays on the case showing the scores beside the reference
        assert app.session.index == n and "Your scores and the reference" in app.feedback.value
        assert "Next case (Enter)" == app.save_button.description
        assert f"<td>{ref['opacity']['total']:g}</td>" in app.feedback.value  # total-only reference
        assert "Right lung" in app.feedback.value and "No involvement" in app.feedback.value  # definitions
        diffs.append((extent[0] + extent[1]) - ref["extent"]["total"])
        left_diffs.append(extent[1] - ref["extent"]["scores"]["left"])
        app.keys.simulate("Enter")
        assert app.session.index == n + 1 and app.feedback.value == ""
    assert app.session.done and "Training summary" in app.end_panel.value and "Mean absolute error" in app.end_panel.value
    records = LabelStore(labels / TRAINING_LABELS, "calib").records("rad1")
    assert len(records) == 4 and all(r["training"] is True for r in records)  # no duplicate save on "next"
    summary = training.reference.summary(app.session.order, app.session.latest)
    mae = summary["mae"].set_index(["scale", "component"])["mae"]
    assert mae[("extent", "total")] == pytest.approx(np.mean(np.abs(diffs)))
    # was approx(0.5): wrong whenever the reading order put the image with left = 4 at an odd position
    assert mae[("extent", "right")] == 0.0 and mae[("extent", "left")] == pytest.approx(np.mean(np.abs(left_diffs)))
    assert mae[("extent", "left")] in (0.25, 0.5)
    opacity = [abs(2 - reference_of(training, c)["opacity"]["total"]) for c in app.session.order]
    assert mae[("opacity", "total")] == pytest.approx(np.mean(opacity), abs=1e-3)
    assert ("opacity", "right") not in mae.index  # no component reference, no component MAE
    worst = max(range(4), key=lambda i: abs(diffs[i]) + opacity[i])
    assert summary["furthest"][0][0] == worst + 1
    assert f"Case {worst + 1}" in app.end_panel.value


def test_training_records_never_enter_the_study(training, tmp_path):
    study = make_cohort(tmp_path, n=3, name="study")
    labels = tmp_path / "labels"
    app = ScoringApp(training.cohort.dir, rater="rad1", labels_dir=labels)
    score(app, (1, 1), (1, 1))
    app.keys.simulate("Enter")
    assert LabelStore(labels, "study").raters() == [] and not (labels / "calib").exists()
    assert ratings_export(study, labels).empty
    assert (labels / TRAINING_LABELS / "calib" / "rad1.jsonl").is_file()


def test_training_reference_once_seen_cannot_be_copied_into_the_result(training, tmp_path):
    # After the first Enter the page shows the reference; changing the scores then and pressing
    # Enter saved them again, so a rater who scored every case 0 passed any threshold by copying.
    from covsev_tools.scoring.session import ScoringSession

    labels = tmp_path / "labels"
    session = ScoringSession(training.cohort, training.store(labels), "rad1", reference=training.reference)
    while not session.done:
        for _ in range(4):
            session.type_digit(0)
        assert session.advance() and session.feedback()  # saved; the reference is on screen
        for row in session.feedback():
            if row["component"] in ("right", "left") and row["reference"] is not None:
                session.entry.set_score((row["scale"], row["component"]), int(row["reference"]))
        assert session.save() is None and "scored once, before the reference is shown" in session.message.text
        assert session.advance()  # Enter goes on without saving the copy
    assert len(training.store(labels).records("rad1")) == 4
    result = training.result("rad1", labels, max_mae=1.5)
    assert result["completed"] and not result["passed"] and result["mae_extent"] == pytest.approx(3.5)
    # a copy saved anyway (a second tab, an edited log) does not count: the first reading does
    case = session.order[0]
    copy = {"case_id": case, "rater": "rad1", "training": True,
            "scales": {"extent": {"version": "1", "scores": {"right": 1, "left": 2}, "total": 3},
                       "opacity": {"version": "1", "scores": {"right": 1, "left": 1}, "total": 2}}}
    training.store(labels).save(copy)
    assert training.first_readings("rad1", labels)[case]["scales"]["extent"]["total"] == 0
    assert training.result("rad1", labels, max_mae=1.5)["mae_extent"] == pytest.approx(3.5)


def complete(training, rater, labels, extent_offset=0):
    app = ScoringApp(training.cohort.dir, rater=rater, labels_dir=labels)
    while not app.session.done:
        ref = reference_for_position(app, training)
        right = min(4, int(ref["extent"]["scores"]["right"]) + extent_offset)
        opacity = round(ref["opacity"]["total"])
        score(app, (right, int(ref["extent"]["scores"]["left"])), (min(3, opacity), opacity - min(3, opacity)))
        app.keys.simulate("Enter"), app.keys.simulate("Enter")
    return app


def test_training_status_threshold_and_coordinator_view(training, tmp_path):
    labels = tmp_path / "labels"
    complete(training, "good", labels)
    complete(training, "far", labels, extent_offset=3)
    partial = ScoringApp(training.cohort.dir, rater="partial", labels_dir=labels)
    score(partial, (0, 0), (0, 0))
    partial.keys.simulate("Enter")
    status = training_status(training.cohort.dir, labels, max_mae=1.5).set_index("rater")
    assert list(status.index) == ["far", "good", "partial"]
    assert status.loc["good", "mae_extent"] == 0.0 and status.loc["good", "passed"]
    assert status.loc["far", "completed"] and not status.loc["far", "passed"] and status.loc["far", "mae_extent"] > 1.5
    assert status.loc["partial", "scored"] == 1 and not status.loc["partial", "completed"]
    assert not status.loc["partial", "passed"]
    assert status.loc["good", "mae_opacity"] == pytest.approx(0.5 / 4)  # 4 for 3.5 once, else exact
    assert status.loc["far", "mae_extent"] == pytest.approx((3 + 2 + 1 + 3) / 4)
    lenient = training_status(training.cohort.dir, labels, max_mae=5).set_index("rater")
    assert lenient.loc["far", "passed"] and not lenient.loc["partial", "passed"]


def test_training_required_before_the_blinded_cases_open(training, tmp_path):
    study = make_cohort(tmp_path, n=3, name="study")
    labels = tmp_path / "labels"
    with pytest.raises(TrainingError, match="not a training set"):
        require_training(study.dir, study.dir)
    require_training(study.dir, training.cohort.dir, max_mae=5.0)
    assert training_requirement(study.dir)["max_mae"] == 5.0
    page = ScoringApp(study.dir, rater="rad1", labels_dir=labels)
    assert page.session is None and page.gate_box in page.widget.children
    trainer = page.trainer
    assert trainer.session.training and "opens after a passed round" in trainer.banner.value
    assert page.gate_box.children == (trainer.widget,) and trainer.logout.value == ""  # one banner, one log-out
    while not trainer.session.done:
        score(trainer, (4, 4), (3, 3))
        trainer.keys.simulate("Enter"), trainer.keys.simulate("Enter")
    assert trainer.study_button.layout.display is None and "Training threshold" in trainer.end_panel.value
    trainer.study_button.click()
    assert page.session is not None and not page.session.training and "Case 1 of 3" in page.header.value
    assert page.session_box in page.widget.children
    again = ScoringApp(study.dir, rater="rad1", labels_dir=labels)  # passed: straight to the study
    assert again.session is not None and again.gate_box not in again.widget.children


def test_training_failed_round_keeps_the_study_closed(training, tmp_path):
    study = make_cohort(tmp_path, n=3, name="study")
    labels = tmp_path / "labels"
    require_training(study.dir, training.cohort.dir, max_mae=0.25)
    page = ScoringApp(study.dir, rater="rad2", labels_dir=labels)
    while not page.trainer.session.done:
        score(page.trainer, (4, 4), (3, 3))
        page.trainer.keys.simulate("Enter"), page.trainer.keys.simulate("Enter")
    assert page.trainer.study_button.layout.display == "none" and "not met" in page.trainer.end_panel.value
    assert page.session is None


def test_training_on_real_paper_images(shared_data, tmp_path):
    images = shared_data / "cohen2020" / "images"
    built = build_training_set(images, paper_reference(), "paper", tmp_path / "paper", progress=False)
    assert len(built.cohort.case_ids) == len(built.reference.entries) == 94
    key = built.cohort.key().set_index("filename")
    case = key.loc["01E392EE-69F9-4E33-BFCE-E5C968654078.jpeg", "case_id"]
    assert built.reference.entries[case] == {"extent": {"total": 6.0, "scores": None},
                                             "opacity": {"total": 4.0, "scores": None}}


def test_training_commands_build_status_require(tmp_path, capsys):
    from covsev_tools.cli.main import main

    images = training_images(tmp_path, REFERENCE["filename"])
    reference = tmp_path / "reference.csv"
    REFERENCE.to_csv(reference, index=False)
    assert main(["training", "build", str(images), "--name", "cli", "--out", str(tmp_path / "cli"),
                 "--reference", str(reference)]) == 0
    assert "training set cli: 4 cases with reference scores" in capsys.readouterr().out
    labels = tmp_path / "labels"
    assert main(["training", "status", str(tmp_path / "cli"), "--labels-dir", str(labels)]) == 0
    assert "no rater has started" in capsys.readouterr().out
    complete(TrainingSet.load(tmp_path / "cli"), "good", labels)
    assert main(["training", "status", str(tmp_path / "cli"), "--labels-dir", str(labels), "--max-mae", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "False" in out and "0.125" in out  # opacity MAE 0.125 > 0.1: not passed
    study = make_cohort(tmp_path, n=2, name="study")
    assert main(["training", "require", str(study.dir), "--training", str(tmp_path / "cli"), "--max-mae", "1"]) == 0
    assert training_requirement(study.dir) == {"training_set": str((tmp_path / "cli").resolve()), "max_mae": 1.0}
    assert main(["training", "require", str(study.dir), "--training", str(study.dir)]) == 2
    assert "not a training set" in capsys.readouterr().err
    assert main(["training", "build", str(images), "--name", "bad", "--out", str(tmp_path / "bad"),
                 "--reference", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_training_build_takes_a_seeded_subset_or_a_list(tmp_path):
    import subprocess
    import sys

    images = training_images(tmp_path, REFERENCE["filename"])
    two = build_training_set(images, REFERENCE, "two", tmp_path / "two", cases=2, seed=5, progress=False)
    names = sorted(two.cohort.key()["filename"])
    assert len(names) == 2 and set(names) < set(REFERENCE["filename"])
    again = build_training_set(images, REFERENCE, "two2", tmp_path / "two2", cases=2, seed=5, progress=False)
    assert sorted(again.cohort.key()["filename"]) == names  # the same draw for the same seed
    csv = tmp_path / "ref.csv"
    REFERENCE.to_csv(csv, index=False)
    listed = subprocess.run([sys.executable, "-m", "covsev_tools.cli", "training", "build", str(images), "--name",
                             "listed", "--out", str(tmp_path / "listed"), "--reference", str(csv),
                             "--cases", "train3.png,train1.png"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "2 cases" in listed.stdout
    assert sorted(TrainingSet.load(tmp_path / "listed").cohort.key()["filename"]) == ["train1.png", "train3.png"]
    for cases, message in ((9, "--cases 9: only 4 referenced image"), (["nope.png"], "nope.png is not a referenced")):
        with pytest.raises(TrainingError, match=message):
            build_training_set(images, REFERENCE, "bad", tmp_path / "bad", cases=cases, progress=False)
    assert not (tmp_path / "bad").exists()  # refused before anything is written


def test_retry_keeps_the_attempt_and_the_requirement_resolves_relative_paths(training, tmp_path):
    from covsev_tools.scoring.training import HISTORY_FOLDER, retry_training

    labels = tmp_path / "labels"
    store = training.store(labels)
    case = training.cohort.reading_order("rad1")[0]
    store.save({"rater": "rad1", "case_id": case, "scales": {}})
    kept = retry_training(training.cohort.dir, "rad1", labels)
    assert kept == store.folder / HISTORY_FOLDER / "rad1.1.jsonl" and len(kept.read_text().splitlines()) == 1
    assert store.records("rad1") == [] and training.earlier_attempts("rad1", labels) == [kept]
    with pytest.raises(TrainingError, match="no training record"):
        retry_training(training.cohort.dir, "rad1", labels)
    status = training_status(training.cohort.dir, labels)
    assert status[["rater", "scored", "attempt"]].to_dict("records") == [{"rater": "rad1", "scored": 0, "attempt": 2}]
    study = make_cohort(tmp_path / "s", n=2, name="pilot")
    (study.dir / "training_required.json").write_text(json.dumps({"training_set": "../calib", "max_mae": 1}))
    assert training_requirement(study.dir)["training_set"] == str((tmp_path / "s" / "calib").resolve())


def test_feedback_shows_one_way_on(training, tmp_path):
    page = ScoringApp(training.cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    score(page, (1, 1), (1, 1))
    page.keys.simulate("Enter")  # saved: the reference is shown
    assert page.save_button.description == "Next case (Enter)" and page.next_button.layout.display == "none"
    page.keys.simulate("Enter")
    assert page.next_button.layout.display is None
