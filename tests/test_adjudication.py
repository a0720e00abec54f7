"""Adjudication of discordant cases (issue 14 point 2): listing, side by side, consensus records."""
from __future__ import annotations

import pytest

from covsev_tools.cli.main import main
from covsev_tools.cohort.ids import CONSENSUS_RATER
from covsev_tools.labels import LabelStore, ratings_export
from covsev_tools.scoring.adjudication import Adjudication, AdjudicationError, discordant_cases, side_by_side
from covsev_tools.scoring.adjudication_view import AdjudicationApp, readings_html
from covsev_tools.scoring.app import launch
from covsev_tools.scoring.session import ScoringSession

from helpers import make_cohort


@pytest.fixture(autouse=True)
def off_the_hub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.delenv("COVSEV_ADJUDICATOR", raising=False)


#: Per rater, the scores (extent right, left, opacity right, left) of the cohort's cases 0-3 in
#: case-ID order: case 0 agrees; case 1 differs by 2 on one lung (component); case 2 differs by 1
#: on each lung of both scales (totals 2 apart: discordant only with total threshold < 2);
#: case 3 is not assessable for rad2.
READINGS = {
    "rad1": [(1, 1, 1, 1), (1, 2, 1, 1), (2, 2, 1, 1), (3, 3, 2, 2)],
    "rad2": [(1, 1, 1, 1), (3, 2, 1, 1), (3, 3, 1, 1), None],
}


@pytest.fixture
def study(tmp_path):
    cohort = make_cohort(tmp_path, n=4, name="adj", repeat_fraction=0.5)
    labels = tmp_path / "labels"
    cases = sorted(cohort.case_ids)
    repeats = cohort.repeats()
    for rater, rows in READINGS.items():
        session = ScoringSession.open(cohort.dir, rater, labels)
        while not session.at_end:
            case = repeats.get(session.case_id, session.case_id)
            row = rows[cases.index(case)]
            if session.case_id in repeats:
                row = (4, 4, 3, 3)  # a wildly different repeat reading: repeats must not count
            if row is None:
                session.cycle_not_assessable()
            else:
                for value in row:
                    session.type_digit(value)
            assert session.advance()
    return {"cohort": cohort, "labels": labels, "cases": cases}


def test_adjudicate_lists_discordant_cases_by_thresholds(study):
    cohort, labels, cases = study["cohort"], study["labels"], study["cases"]
    default = discordant_cases(cohort, labels)
    assert default["case_id"].tolist() == [cases[1], cases[3]]
    assert default["position"].tolist() == [1, 2] and not default["adjudicated"].any()
    assert default["reasons"].iloc[0] == "extent right 1-3"
    assert default["reasons"].iloc[1] == "not assessable for rad2 only"
    assert default["max_component_difference"].tolist() == [2, 0] and default["raters"].tolist() == [2, 2]
    strict_total = discordant_cases(cohort, labels, total_threshold=1)
    assert strict_total["case_id"].tolist() == [cases[1], cases[2], cases[3]]
    assert strict_total["reasons"].iloc[1] == "extent total 4-6"
    lenient = discordant_cases(cohort, labels, component_threshold=3, total_threshold=5)
    assert lenient["case_id"].tolist() == [cases[3]]
    for bad in ({"component_threshold": 0}, {"total_threshold": -1}):
        with pytest.raises(AdjudicationError, match="threshold"):
            discordant_cases(cohort, labels, **bad)


def test_adjudication_side_by_side_and_consensus_record_with_history(study):
    cohort, labels, cases = study["cohort"], study["labels"], study["cases"]
    wide = side_by_side(cohort, cases[1], labels)
    assert list(wide.index) == ["rad1", "rad2"]
    assert list(wide.columns) == ["extent right", "extent left", "extent total", "opacity right", "opacity left",
                                  "opacity total", "not_assessable", "comment"]
    assert wide.loc["rad1", "extent right"] == 1 and wide.loc["rad2", "extent right"] == 3
    assert wide.loc["rad2", "extent total"] == 5 and not wide["not_assessable"].any()
    adj = Adjudication(cohort, "senior1", labels)
    assert adj.case_id == cases[1] and adj.consensus() is None
    with pytest.raises(AdjudicationError, match="needs a reason"):
        adj.save({"extent": {"right": 2, "left": 2}, "opacity": {"right": 1, "left": 1}}, reason="  ")
    with pytest.raises(AdjudicationError, match="still to score Opacity"):
        adj.save({"extent": {"right": 2, "left": 2}}, reason="x")
    with pytest.raises(AdjudicationError, match="not saved"):
        adj.save({"extent": {"right": 7, "left": 2}, "opacity": {"right": 1, "left": 1}}, reason="x")
    first = adj.save({"extent": {"right": 2, "left": 2}, "opacity": {"right": 1, "left": 1}}, reason="upper zone spared")
    second = adj.save({"extent": {"right": 3, "left": 2}, "opacity": {"right": 1, "left": 1}},
                      reason="re-read: right lower zone involved")
    store = LabelStore(labels, cohort.name)
    history = [r for r in store.records(CONSENSUS_RATER) if r["case_id"] == cases[1]]
    assert [r["record_id"] for r in history] == [first["record_id"], second["record_id"]]
    assert history[-1]["adjudicator"] == "senior1" and history[-1]["comment"] == "re-read: right lower zone involved"
    assert history[-1]["scales"]["extent"] == {"version": "1", "scores": {"right": 3, "left": 2}, "total": 5}
    assert adj.consensus()["record_id"] == second["record_id"]
    assert discordant_cases(cohort, labels)["adjudicated"].tolist() == [True, False]
    # the export carries the consensus (rater 'consensus'); the readings do not count it
    export = ratings_export(cohort, labels)
    consensus = export[(export["rater"] == CONSENSUS_RATER) & (export["component"] == "total")]
    assert consensus.set_index("scale")["score"].to_dict() == {"extent": 5, "opacity": 2}
    assert set(consensus["case_id"]) == {cases[1]}
    assert "consensus" not in side_by_side(cohort, cases[1], labels).index


def test_adjudication_refuses_levels_that_are_not_whole_numbers(study):
    # int() used to turn 2.7 into 2, True into 1, "3" into 3 and -0.5 into 0: a consensus (the
    # reference standard) other than the one given, saved without a word.
    cohort, labels = study["cohort"], study["labels"]
    adj = Adjudication(cohort, "senior1", labels)
    for value in (2.7, True, "3", -0.5):
        scores = {"extent": {"right": value, "left": 2}, "opacity": {"right": 1, "left": 1}}
        with pytest.raises(AdjudicationError, match=r"Geographic extent: Right lung = .* is not a whole level"):
            adj.save(scores, reason="x")
    assert LabelStore(labels, cohort.name).records(CONSENSUS_RATER) == []
    import numpy as np

    saved = adj.save({"extent": {"right": np.int64(3), "left": 2}, "opacity": {"right": 1, "left": 1}}, reason="x")
    assert saved["scales"]["extent"] == {"version": "1", "scores": {"right": 3, "left": 2}, "total": 5}


def test_adjudication_page_with_a_missing_display_image_says_so(study):
    # A deleted cases/<id>.png ended the adjudication page in a FileNotFoundError traceback.
    cohort, labels, cases = study["cohort"], study["labels"], study["cases"]
    cohort.display_image_path(cases[1]).unlink()
    page = AdjudicationApp(cohort.dir, "senior1", labels_dir=labels)
    assert page.state.case_id == cases[1] and page.viewer.token == ""
    assert "cannot be shown (No such file or directory)" in page.status.value
    assert "rad1" in page.readings.value and "rad2" in page.readings.value


def test_adjudicator_identity_rules(study, monkeypatch):
    cohort, labels = study["cohort"], study["labels"]
    with pytest.raises(AdjudicationError, match="reserved"):
        Adjudication(cohort, CONSENSUS_RATER, labels)
    monkeypatch.setenv("JUPYTERHUB_USER", "chief")
    with pytest.raises(AdjudicationError, match="signed in as 'chief'"):
        Adjudication(cohort, "someone_else", labels)
    page = AdjudicationApp(cohort.dir, labels_dir=labels)
    assert page.state.adjudicator == "chief"


def test_adjudication_page_not_blind_banner_and_save(study, monkeypatch):
    cohort, labels, cases = study["cohort"], study["labels"], study["cases"]
    page = AdjudicationApp(cohort.dir, "senior1", labels)
    text = page.widget.children[2].value
    assert "NOT BLIND" in text and "rater name &#x27;consensus&#x27;" in text
    assert "Discordant case 1 of 2" in page.header.value and "extent right 1-3" in page.header.value
    assert "rad1" in page.readings.value and "rad2" in page.readings.value
    assert page.viewer.token and page.viewer._images[page.viewer.token] == cohort.display_image_path(cases[1]).read_bytes()
    for key in "2211":
        page.keys.simulate(key)
    page.save_button.click()
    assert "needs a reason" in page.status.value and LabelStore(labels, cohort.name).records(CONSENSUS_RATER) == []
    page.reason.value = "agreed at review"
    page.save_button.click()
    assert "Consensus saved" in page.status.value and "1 of 2 adjudicated" in page.header.value
    [record] = LabelStore(labels, cohort.name).records(CONSENSUS_RATER)
    assert record["scales"]["extent"]["scores"] == {"right": 2, "left": 2} and record["adjudicator"] == "senior1"
    page.keys.simulate("ArrowRight")
    assert "Discordant case 2 of 2" in page.header.value and page.reason.value == ""
    assert page.readings.value.count("<tr>") == 3 and ">yes<" in page.readings.value  # rad2: not assessable
    page.not_assessable.value = True
    page.reason.value = "too rotated"
    page.save_button.click()
    latest = LabelStore(labels, cohort.name).latest(CONSENSUS_RATER)
    assert latest[(CONSENSUS_RATER, cases[3])]["not_assessable"] is True
    page.keys.simulate("ArrowLeft")
    assert page.reason.value == "agreed at review" and page.state.entry.scores[("extent", "right")] == 2
    monkeypatch.setenv("COVSEV_ADJUDICATOR", "senior1")  # notebook 01 opens the adjudication page
    widget = launch(cohort.dir, labels_dir=labels)
    assert "NOT BLIND" in widget.children[2].value
    assert "&lt;b&gt;" in readings_html(page.state.readings().assign(comment="<b>"))


def test_adjudicate_command_lists_cases(study, capsys):
    cohort, labels, cases = study["cohort"], study["labels"], study["cases"]
    assert main(["adjudicate", str(cohort.dir), "--labels-dir", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "2 discordant cases" in out and cases[1] in out and "extent right 1-3" in out
    assert main(["adjudicate", str(cohort.dir), "--labels-dir", str(labels), "--total-threshold", "1",
                 "--component-threshold", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 discordant cases" in out and all(c in out for c in cases[1:]) and cases[0] not in out
    assert "extent total 3-5" in out and "extent right" not in out
    assert main(["adjudicate", str(cohort.dir), "--labels-dir", str(labels), "--component-threshold", "0"]) == 2
    assert "threshold" in capsys.readouterr().err


def test_adjudicate_command_prints_a_table_and_on_the_hub_points_to_the_notebook(study, capsys, monkeypatch):
    cohort, labels = study["cohort"], study["labels"]
    assert main(["adjudicate", str(cohort.dir), "--labels-dir", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "\\n" not in out and len(out.splitlines()) >= 4  # one line per case, not a literal \n
    assert "covsev page" in out
    monkeypatch.setenv("COVSEV_STUDY", "/srv/study")  # as the hub sets it in a coordinator's JupyterLab
    assert main(["adjudicate", str(cohort.dir), "--labels-dir", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "open adjudication.ipynb in /srv/study" in out and "covsev page" not in out


def test_adjudicate_command_defaults_match_the_library():
    from covsev_tools.cli import readerstudy
    from covsev_tools.scoring import adjudication

    assert (readerstudy.DEFAULT_COMPONENT_THRESHOLD, readerstudy.DEFAULT_TOTAL_THRESHOLD) == (
        adjudication.DEFAULT_COMPONENT_THRESHOLD, adjudication.DEFAULT_TOTAL_THRESHOLD)


def test_adjudicated_consensus_is_not_listed_as_a_rater_in_progress(study):
    from covsev_tools.labels import rater_progress

    cohort, labels, cases = study["cohort"], study["labels"], study["cases"]
    Adjudication(cohort, "senior1", labels).save(
        {"extent": {"right": 2, "left": 2}, "opacity": {"right": 1, "left": 1}}, reason="agreed")
    assert CONSENSUS_RATER in LabelStore(labels, cohort.name).raters()
    progress = rater_progress(cohort, labels)
    assert progress["rater"].tolist() == ["rad1", "rad2"]
    assert progress["scored"].tolist() == [6, 6]  # 4 cases + 2 hidden repeats each
