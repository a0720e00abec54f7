"""Scoring app driven from Python: clicks and key events on the widget objects, checked on disk."""
from __future__ import annotations

import json

import ipywidgets as W
import pytest

from covsev_tools.scoring.app import NOT_ASSESSABLE_REASONS, ScoringApp, ScoringSetupError, launch
from covsev_tools.labels.store import LabelStore

from helpers import make_cohort


@pytest.fixture
def cohort(tmp_path):
    return make_cohort(tmp_path)


@pytest.fixture
def app(cohort, tmp_path):
    return ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")


def rater_records(app) -> list[dict]:
    return app.store.records(app.session.rater)


def score_by_mouse(app, extent=(2, 3), opacity=(1, 2)):
    for (scale, values) in (("extent", extent), ("opacity", opacity)):
        for component, value in zip(("right", "left"), values, strict=True):
            app.rows.buttons[(scale, component)][value].click()


def test_mouse_scoring_saves_full_record_and_moves_on(app, cohort):
    assert "Case 1 of 5" in app.header.value
    score_by_mouse(app)
    assert "5 / 8" in app.rows.total_labels["extent"].value and "3 / 6" in app.rows.total_labels["opacity"].value
    assert app.rows.buttons[("extent", "left")][3].button_style == "info"
    assert "50-75% involvement" in app.rows.level_texts[("extent", "left")].value
    app.save_button.click()
    [record] = rater_records(app)
    assert record["case_id"] == cohort.reading_order("rad1")[0] and record["position"] == 1
    assert record["scales"] == {
        "extent": {"version": "1", "scores": {"right": 2, "left": 3}, "total": 5},
        "opacity": {"version": "1", "scores": {"right": 1, "left": 2}, "total": 3}}
    assert record["not_assessable"] is False and record["session_id"] == app.session.session_id
    assert record["time_shown"] <= record["time_saved"] and record["seconds_on_case"] >= 0
    assert app.session.index == 1 and "Case 2 of 5" in app.header.value and "Saved case 1" in app.status.value


def test_keyboard_scoring_digits_advance_the_highlighted_field(app):
    for key in ["4", "0", "3", "1"]:
        app.keys.simulate(key)
    assert app.session.entry.scores == {("extent", "right"): 4, ("extent", "left"): 0,
                          ("opacity", "right"): 3, ("opacity", "left"): 1}
    assert app.session.entry.highlighted.key == ("opacity", "left")  # the highlight stays on the last field
    app.keys.simulate("ArrowUp")
    app.keys.simulate("2")  # corrects opacity right, then highlights opacity left again
    assert "▶" in app.rows.field_labels[("opacity", "left")].value
    assert "▶" not in app.rows.field_labels[("extent", "right")].value
    app.keys.simulate("Enter")
    [record] = rater_records(app)
    assert record["scales"]["extent"]["scores"] == {"right": 4, "left": 0}
    assert record["scales"]["opacity"] == {"version": "1", "scores": {"right": 2, "left": 1}, "total": 3}


def test_digit_out_of_range_for_highlighted_field_is_refused(app):
    app.keys.simulate("0"), app.keys.simulate("0")  # extent done; opacity right highlighted
    app.keys.simulate("4")  # opacity tops out at 3
    assert app.session.entry.scores[("opacity", "right")] is None and "not a level of Opacity" in app.status.value


def test_incomplete_score_is_refused_naming_what_is_missing(app):
    app.rows.buttons[("extent", "right")][1].click()
    app.keys.simulate("Enter")
    assert rater_records(app) == [] and app.session.index == 0
    message = app.status.value
    assert "Geographic extent: Left lung" in message and "Opacity: Right lung" in message
    assert "Opacity: Left lung" in message and "Extent: Right" not in message


def test_not_assessable_cycles_reasons_and_saves_empty_scores(app):
    app.rows.buttons[("extent", "right")][1].click()
    app.keys.simulate("n")
    assert app.not_assessable.value and app.reason.value == NOT_ASSESSABLE_REASONS[0]
    assert app.rows.buttons[("extent", "left")][0].disabled
    app.keys.simulate("n")
    assert app.reason.value == NOT_ASSESSABLE_REASONS[1]
    app.comment.value = "patient rotated"
    app.keys.simulate("Enter")
    [record] = rater_records(app)
    assert record["not_assessable"] and record["not_assessable_reason"] == NOT_ASSESSABLE_REASONS[1]
    assert record["scales"]["extent"] == {"version": "1", "scores": {"right": None, "left": None}, "total": None}
    assert record["comment"] == "patient rotated"


def test_not_assessable_without_reason_is_refused_and_n_cycle_clears(app):
    app.not_assessable.value = True
    app.save_button.click()
    assert rater_records(app) == [] and "reason" in app.status.value
    for _ in range(len(NOT_ASSESSABLE_REASONS) + 1):  # no reason -> first ... last -> cleared
        app.keys.simulate("n")
    assert not app.not_assessable.value and app.reason.value is None


def test_go_back_change_and_latest_wins_with_history(app):
    score_by_mouse(app, (1, 1), (1, 1))
    app.keys.simulate("Enter")
    score_by_mouse(app, (2, 2), (2, 2))
    app.keys.simulate("Enter")
    app.keys.simulate("ArrowLeft"), app.keys.simulate("ArrowLeft")
    assert app.session.index == 0 and app.session.entry.scores[("extent", "right")] == 1  # own earlier score shown
    app.rows.buttons[("extent", "right")][4].click()
    app.keys.simulate("Enter")
    # issue 14: after a change the app returns to where the rater left off (the first unscored case)
    assert app.session.index == 2 and app.session.entry.scores[("extent", "right")] is None
    app.keys.simulate("ArrowLeft")
    assert app.session.index == 1 and app.session.entry.scores[("extent", "right")] == 2
    first = app.session.order[0]
    assert [r["scales"]["extent"]["total"] for r in rater_records(app) if r["case_id"] == first] == [2, 5]
    assert app.store.totals("extent").loc[first, "rad1"] == 5


def test_next_cannot_skip_past_the_first_unscored_case(app):
    app.keys.simulate("ArrowRight")
    assert app.session.index == 0 and "cannot be skipped" in app.status.value and app.next_button.disabled
    app.prev_button.click()
    assert app.session.index == 0


def test_go_to_lists_positions_only_and_reaches_every_scored_case(app):
    assert app.jump.options == (("Case 1", 1),) and app.jump.value == 1
    for extent in (1, 2, 3):
        score_by_mouse(app, (extent, extent))
        app.keys.simulate("Enter")
    assert [label for label, _ in app.jump.options] == ["Case 1", "Case 2", "Case 3", "Case 4"]
    assert app.jump.value == 4 and app.session.index == 3
    app.jump.value = 2  # the rater picks "Case 2" in the list
    assert app.session.index == 1 and app.session.entry.scores[("extent", "right")] == 2 and "Case 2 of 5" in app.header.value
    assert not app.jump_to(5) and app.session.index == 1 and "cannot be skipped" in app.status.value
    assert app.jump_to(4) and app.session.index == 3 and app.session.entry.scores[("extent", "right")] is None
    for _ in range(2):
        score_by_mouse(app)
        app.keys.simulate("Enter")
    assert app.session.done and app.jump.value is None and len(app.jump.options) == 5
    app.jump.value = 5
    assert app.session.index == 4 and app.scoring_box.layout.display is None


def test_restart_resumes_at_first_unscored_position(app, cohort, tmp_path):
    for _ in range(3):
        score_by_mouse(app)
        app.keys.simulate("Enter")
    again = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    assert again.session.index == 3 and "Case 4 of 5" in again.header.value and "3 of 5 scored" in again.header.value
    assert again.session.session_id != app.session.session_id


def test_progress_counts_only_the_cases_still_in_the_order(app, cohort, tmp_path):
    # A scored case whose image left the cohort (re-run without it) is no longer in the order: the
    # header and the progress bar said "3 of 4 scored" with 2 scored and the 3rd case on screen.
    from covsev_tools.cohort import create_cohort

    for _ in range(3):
        score_by_mouse(app)
        app.keys.simulate("Enter")
    first = cohort.key().set_index("case_id").loc[app.session.order[0], "filename"]
    (tmp_path / "tiny_images" / first).unlink()
    create_cohort(tmp_path / "tiny_images", "tiny", out_dir=cohort.dir, progress=False, workers=1)
    again = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    assert len(again.session.order) == 4 and again.session.index == 2 and "Case 3 of 4" in again.header.value
    assert "2 of 4 scored" in again.header.value and again.progress.value == 2


def test_a_missing_display_image_is_a_message_not_a_crash(cohort, tmp_path):
    # A deleted (or unreadable) cases/<id>.png ended the page in a FileNotFoundError traceback,
    # when shown and when preloaded as the next case.
    first = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels").session.order
    for display_id in first[:2]:
        cohort.display_image_path(display_id).unlink()
    app = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    assert app.session is not None and app.viewer.token == ""
    assert "The image of this case cannot be shown (No such file or directory)" in app.status.value
    app.not_assessable.value, app.reason.value = True, NOT_ASSESSABLE_REASONS[-1]
    app.keys.simulate("Enter")
    assert app.session.index == 1 and "cannot be shown" in app.status.value and len(rater_records(app)) == 1
    score_by_mouse(app)
    app.keys.simulate("Enter")
    assert app.session.index == 2 and app.viewer.token and "cannot be shown" not in app.status.value


def test_end_screen_after_last_case_and_review_possible(app):
    for _ in range(5):
        score_by_mouse(app)
        app.keys.simulate("Enter")
    assert app.session.done and app.scoring_box.layout.display == "none" and "All 5 cases" in app.status.value
    assert app.viewer.token == ""
    # issue 14: a proper end screen: summary, nothing to save, no image, no live Save button
    assert app.image_panel.layout.display == "none" and app.save_button.layout.display == "none"
    assert app.save_button.disabled and app.end_panel.layout.display is None
    assert "All 5 cases are scored" in app.end_panel.value and "5 saved, 0 marked not assessable" in app.end_panel.value
    assert "nothing left to save" in app.end_panel.value
    app.keys.simulate("Enter"), app.save_button.click()
    assert len(rater_records(app)) == 5 and app.session.done
    app.keys.simulate("ArrowLeft")
    assert app.session.index == 4 and app.scoring_box.layout.display is None
    assert app.image_panel.layout.display is None and app.save_button.layout.display is None
    assert app.end_panel.layout.display == "none" and app.viewer.token
    app.rows.buttons[("extent", "right")][0].click()
    app.keys.simulate("Enter")  # a change to the last case: back to the end screen
    assert app.session.done and app.image_panel.layout.display == "none" and len(rater_records(app)) == 6


def test_rater_from_environment(cohort, tmp_path, monkeypatch):
    monkeypatch.delenv("COVSEV_RATER", raising=False)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.setenv("COVSEV_COHORT", str(cohort.dir))
    monkeypatch.setenv("COVSEV_LABELS_DIR", str(tmp_path / "envlabels"))
    monkeypatch.setenv("COVSEV_RATER", "envrater")  # off the hub: the coordinator-set rater ID
    app = ScoringApp()
    score_by_mouse(app)
    app.keys.simulate("Enter")
    assert (tmp_path / "envlabels" / "tiny" / "envrater.jsonl").exists()


def test_hub_login_is_the_rater_and_no_rater_field_is_shown(cohort, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    monkeypatch.setenv("COVSEV_RATER", "envrater")  # issue 12: the login wins over anything else
    monkeypatch.setenv("COVSEV_COHORT", str(cohort.dir))
    monkeypatch.setenv("COVSEV_LABELS_DIR", str(tmp_path / "envlabels"))
    app = ScoringApp()
    assert app.session.rater == "hubuser" and app.login.widget not in app.widget.children
    assert "Rater ID" not in widget_state_text(app.widget)
    score_by_mouse(app)
    app.keys.simulate("Enter")
    [record] = LabelStore(tmp_path / "envlabels", "tiny").records("hubuser")
    assert record["rater"] == "hubuser" and not (tmp_path / "envlabels" / "tiny" / "envrater.jsonl").exists()
    with pytest.raises(ScoringSetupError, match="signed in as 'hubuser'"):
        ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "envlabels")  # no scoring as someone else
    shown = launch(cohort.dir, rater="rad1", labels_dir=tmp_path / "envlabels")
    assert "cannot start" in shown.value and "hubuser" in shown.value


def test_log_out_link_only_on_the_hub_and_escaped(cohort, tmp_path, monkeypatch):
    for name in ("JUPYTERHUB_USER", "JUPYTERHUB_BASE_URL", "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    off_hub = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    assert off_hub.logout.value == "" and "Log out" not in widget_state_text(off_hub.widget)
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/st'udy<x>/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/st'udy<x>/user/hubuser/")
    on_hub = ScoringApp(cohort.dir, labels_dir=tmp_path / "labels")
    assert "Log out" in widget_state_text(on_hub.widget)
    assert "<a href='/st&#x27;udy&lt;x&gt;/hub/logout'>Log out</a>" in on_hub.logout.value


def test_reserved_rater_name_consensus_is_refused(cohort, tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    app = ScoringApp(cohort.dir, labels_dir=tmp_path / "labels")
    app.login.rater_input.value = "consensus"
    app.login.start_button.click()
    assert app.session is None and "reserved" in app.login.status.value
    for name in ("Consensus", "CONSENSUS"):  # one file with consensus.jsonl on a case-insensitive disk
        app.login.rater_input.value = name
        app.login.start_button.click()
        assert app.session is None and f"&#x27;{name}&#x27; is reserved" in app.login.status.value


def test_login_refuses_unsafe_rater_id_then_starts(cohort, tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    for name in ("COVSEV_RATER", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    app = ScoringApp(cohort.dir, labels_dir=tmp_path / "labels")
    assert app.session is None and app.login.widget in app.widget.children
    app.login.rater_input.value = "../../etc/passwd"
    app.keys.simulate("Enter")
    assert app.session is None and "invalid rater ID" in app.login.status.value
    app.login.rater_input.value = "rad7"
    app.login.start_button.click()
    assert app.session.rater == "rad7" and app.session_box in app.widget.children


def test_brixia_session_needs_no_code_change(tmp_path):
    cohort = make_cohort(tmp_path, n=3, name="brix", scales=("brixia",))
    app = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    assert [f.component.key for f in app.rows.fields] == list("ABCDEF")
    assert sorted(app.rows.buttons[("brixia", "A")]) == [0, 1, 2, 3]
    for key in "012321":
        app.keys.simulate(key)
    assert "9 / 18" in app.rows.total_labels["brixia"].value
    app.keys.simulate("Enter")
    [record] = rater_records(app)
    assert record["scales"] == {"brixia": {"version": "1", "total": 9,
                                           "scores": dict(zip("ABCDEF", [0, 1, 2, 3, 2, 1], strict=True))}}


def test_on_a_kernel_loop_the_next_image_follows_the_page_updates(app, monkeypatch):
    """In a kernel (an event loop runs) the image sent ahead waits PRELOAD_DELAY seconds, so that
    when many raters save at once their page updates are not queued behind images."""
    import asyncio

    from covsev_tools.scoring.viewer import PRELOAD_DELAY

    sent = []
    monkeypatch.setattr(app.viewer, "send", lambda content, buffers=None: sent.append(content["token"]))

    async def save_then_wait():
        score_by_mouse(app)
        app.keys.simulate("Enter")
        before = list(sent)
        await asyncio.sleep(PRELOAD_DELAY + 0.3)
        return before

    assert asyncio.run(save_then_wait()) == []
    assert sent == [app.viewer.preloaded(app.session.order[2])] and sent[0]


def test_viewer_shortcuts_and_buttons(app):
    viewer = app.viewer
    app.keys.simulate("+")
    assert viewer.zoom == pytest.approx(1.25)
    app.keys.simulate("i"), app.keys.simulate("Shift+ArrowUp"), app.keys.simulate("Shift+ArrowLeft")
    assert viewer.invert and viewer.brightness == pytest.approx(1.1) and viewer.contrast == pytest.approx(1 / 1.1)
    app.keys.simulate("r")
    assert (viewer.zoom, viewer.invert, viewer.brightness, viewer.contrast) == (1.0, False, 1.0, 1.0)
    app.toolbar.buttons["Invert"].click()
    assert viewer.invert
    for _ in range(30):
        app.toolbar.buttons["+"].click()
    assert viewer.zoom == 12.0


def test_next_image_is_preloaded_and_resent_when_the_browser_lacks_it(app, monkeypatch):
    current, upcoming = app.viewer.token, app.viewer.preloaded(app.session.order[1])
    assert current and upcoming and current != upcoming and set(app.viewer._images) >= {current, upcoming}
    png = app.cohort.display_image_path(app.session.order[1]).read_bytes()
    assert app.viewer._images[upcoming] == png
    sent = []
    monkeypatch.setattr(app.viewer, "send", lambda content, buffers=None: sent.append((content, buffers)))
    score_by_mouse(app)
    app.keys.simulate("Enter")
    assert app.viewer.token == upcoming  # shown from the preload, not re-sent
    assert [c["token"] for c, _ in sent] == [app.viewer.preloaded(app.session.order[2])]  # only the following one went out
    app.viewer._handle_custom_msg({"kind": "missing", "token": upcoming}, [])
    assert sent[-1] == ({"kind": "image", "token": upcoming}, [png])


def test_a_failed_save_is_reported_and_not_confirmed(app):
    score_by_mouse(app)
    app.store.folder.mkdir(parents=True, exist_ok=True)
    app.store.path_for("rad1").mkdir()  # a folder where the file should be: the write fails
    app.keys.simulate("Enter")
    assert app.session.index == 0 and "NOT SAVED" in app.status.value and "Saved" not in app.status.value


def widget_state_text(root: W.Widget) -> str:
    """Synced state of every widget of the page (the app and all it contains), as sent to the browser."""
    seen, todo, states = set(), [root], []
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        state = widget.get_state()
        states.append(state)
        for name in widget.keys:
            value = getattr(widget, name)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, W.Widget):
                    todo.append(item)
    return json.dumps(states, default=str)


def test_nothing_identifying_reaches_the_widgets(tmp_path):
    cohort = make_cohort(tmp_path, n=4, name="blind", repeat_fraction=0.5)
    app = ScoringApp(cohort.dir, rater="rad1", labels_dir=tmp_path / "labels")
    key = cohort.key()
    forbidden = set(key["filename"]) | set(key["path"]) | set(key["sha256"]) | set(cohort.display_ids)
    forbidden |= {str(cohort.dir), "SECRETPATIENT"}
    for _ in range(len(app.session.order)):
        text = widget_state_text(app.widget)
        assert "Case " in text and "covsev-app" not in forbidden
        assert not [f for f in forbidden if f in text]
        images = b"".join(app.viewer._images.values())
        assert not [f for f in forbidden if f.encode() in images]
        score_by_mouse(app)
        app.keys.simulate("Enter")
    assert len(app.session.order) == 6 and app.session.done


def test_setup_errors_are_plain_messages(tmp_path, monkeypatch):
    monkeypatch.delenv("COVSEV_COHORT", raising=False)
    with pytest.raises(ScoringSetupError, match="COVSEV_COHORT"):
        ScoringApp()
    shown = launch(tmp_path / "nowhere", rater="rad1")
    assert isinstance(shown, W.HTML) and "cannot start" in shown.value and "cohort.json" in shown.value


def test_two_raters_are_kept_apart(cohort, tmp_path):
    labels = tmp_path / "labels"
    one = ScoringApp(cohort.dir, rater="rad1", labels_dir=labels)
    two = ScoringApp(cohort.dir, rater="rad2", labels_dir=labels)
    score_by_mouse(one, (4, 4), (3, 3))
    one.keys.simulate("Enter")
    assert two.session.index == 0 and two.session.entry.scores[("extent", "right")] is None
    assert LabelStore(labels, "tiny").raters() == ["rad1"]
    fresh = ScoringApp(cohort.dir, rater="rad2", labels_dir=labels)  # rad1's save is not rad2's
    assert fresh.session.index == 0 and fresh.session.latest == {} and "0 of 5 scored" in fresh.header.value


def test_every_bound_key_has_an_action_and_unbound_keys_do_nothing(app, monkeypatch):
    actions = app._key_actions()
    assert all(key in actions or key.isdigit() for key in app.keys.bindings)
    focused = []
    monkeypatch.setattr(app.comment, "focus", lambda: focused.append(True))
    app.keys.simulate("c")
    assert focused == [True]
    before = dict(app.session.entry.scores)
    app.keys.simulate("x")
    app.keys._handle_custom_msg({"kind": "key", "key": "Delete"}, [])
    assert app.session.entry.scores == before and app.status.value == ""
    score_by_mouse(app)
    app.keys.simulate("Ctrl+Enter")
    app.keys.simulate("PageUp")
    assert app.session.index == 0 and len(rater_records(app)) == 1
    app.keys.simulate("PageDown")
    assert app.session.index == 1
