"""Real browser, end to end: Voila serves the scoring notebook, Playwright drives Debian's Chromium.

Three cases are scored (mouse, keyboard, keyboard plus image shortcuts), the page is reloaded and
must resume at the fourth case, the rater's file must hold the three records, and no file name,
path or case ID of the cohort may appear in the page's HTML.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import block_outside, make_cohort

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian Chromium not installed at /usr/bin/chromium "
                       "(apt-get install chromium; Playwright cannot download browsers here)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with status {proc.returncode}")
        try:
            urllib.request.urlopen(url + "voila/static/favicon.ico", timeout=2)  # noqa: S310 (local server)
            return
        except urllib.error.HTTPError:  # any HTTP answer means the server is up
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"voila did not answer at {url} within {timeout} s")


@contextmanager
def chromium_page(url: str, size=(1400, 900), timeout: int = 90_000):
    """Chromium on ``url``, every request outside this machine blocked; yields (page, attempted),
    ``attempted`` listing the outside addresses the page tried."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": size[0], "height": size[1]})
            attempted = block_outside(context)
            page = context.new_page()
            page.goto(url, timeout=timeout)
            yield page, attempted
        finally:
            browser.close()


def stop_server(proc: subprocess.Popen, log) -> None:
    """SIGTERM (Voila and Jupyter shut their kernels down on it), then kill if it hangs."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def serve_voila(tmp_path: Path, env_extra: dict, name: str = "voila"):
    """Start Voila (the offline ``covsev`` template) on the scoring notebook; returns (proc, log, url)."""
    from covsev_tools.scoring.offline import TEMPLATE, offline_env

    port = free_port()
    env = offline_env({**os.environ, **{k: str(v) for k, v in env_extra.items()}})
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(REPO / "notebooks" / "01_blinded_scoring.ipynb"),
         "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", f"--template={TEMPLATE}"],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return proc, log, f"http://127.0.0.1:{port}/"


@pytest.fixture
def voila(tmp_path):
    """A Voila server on the scoring notebook, pointed at a 5-case cohort by environment variables."""
    cohort = make_cohort(tmp_path, n=5, name="web")
    labels = tmp_path / "labels"
    proc, log, url = serve_voila(tmp_path, {"COVSEV_COHORT": cohort.dir, "COVSEV_LABELS_DIR": labels,
                                            "COVSEV_RATER": "webrad"})
    try:
        wait_for_http(url, proc)
        yield {"url": url, "cohort": cohort, "file": labels / "web" / "webrad.jsonl"}
    finally:
        stop_server(proc, log)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def button(page, scale: str, component: str, value: int):
    return page.locator(f".covsev-row-{scale}-{component} button", has_text=str(value)).first


def wait_case(page, n: int, of: int = 5, timeout: float = 60_000) -> None:
    page.get_by_text(f"Case {n} of {of}", exact=True).wait_for(timeout=timeout)


def image_style(page) -> dict:
    return page.eval_on_selector(".covsev-viewer-img", "img => ({src: img.src, transform: img.style.transform,"
                                 " filter: img.style.filter, token: img.dataset.token, w: img.naturalWidth})")


def test_browser_session_mouse_keyboard_reload_resume(voila):
    started = time.monotonic()
    with chromium_page(voila["url"]) as (page, attempted):
        wait_case(page, 1)
        page.wait_for_function("document.querySelector('.covsev-viewer-img').naturalWidth > 0")
        first_src = image_style(page)["src"]
        assert first_src.startswith("blob:")

        # case 1: mouse only
        for scale, component, value in [("extent", "right", 2), ("extent", "left", 3),
                                        ("opacity", "right", 1), ("opacity", "left", 2)]:
            button(page, scale, component, value).click()
        page.get_by_text("Total geographic extent: 5 / 8").wait_for()
        page.get_by_role("button", name="Save and next (Enter)").click()
        wait_case(page, 2)
        page.get_by_text("✓ Saved case 1 of 5").wait_for()
        assert len(records(voila["file"])) == 1

        # case 2: keyboard only (focus is still on the save button)
        for key in ["1", "4", "0", "3"]:
            page.keyboard.press(key)
        page.get_by_text("Total geographic extent: 5 / 8").wait_for()
        page.keyboard.press("Enter")
        wait_case(page, 3)
        page.wait_for_function(f"document.querySelector('.covsev-viewer-img').src !== {first_src!r}")

        # case 3: image shortcuts, an incomplete save refused, then keyboard scoring
        page.keyboard.press("+")
        page.keyboard.press("i")
        page.wait_for_function("document.querySelector('.covsev-viewer-img').style.filter.includes('invert')")
        assert "scale(1.25)" in image_style(page)["transform"]
        page.keyboard.press("r")
        page.wait_for_function("!document.querySelector('.covsev-viewer-img').style.filter.includes('invert')")
        page.keyboard.press("4")
        page.keyboard.press("Enter")
        page.get_by_text("Not saved — still to score:", exact=False).wait_for()
        assert len(records(voila["file"])) == 2
        for key in ["4", "2", "2"]:
            page.keyboard.press(key)
        page.keyboard.press("Enter")
        wait_case(page, 4)

        page.reload()
        wait_case(page, 4)  # a new kernel: the app resumed from the rater's file
        page.get_by_text("3 of 5 scored", exact=False).wait_for()
        saved = records(voila["file"])
        html = page.content()

        # and the keyboard works straight after a load, with nothing focused
        for key in ["0", "0", "0", "0", "Enter"]:
            page.keyboard.press(key)
        wait_case(page, 5)
        # the "Go to" list opens any scored case (positions only) without saving anything
        page.get_by_label("Go to").select_option(label="Case 2")
        wait_case(page, 2)
        options = page.get_by_label("Go to").locator("option").all_inner_texts()
        page.get_by_label("Go to").focus()  # as after a pick with the mouse
        page.keyboard.press("0")  # a score for the highlighted lung, not the list's type-ahead
        page.get_by_text("Total geographic extent: 4 / 8", exact=False).wait_for()

    order = voila["cohort"].reading_order("webrad")
    assert [r["case_id"] for r in saved] == order[:3] and [r["position"] for r in saved] == [1, 2, 3]
    assert [r["scales"]["extent"]["scores"] for r in saved] == [
        {"right": 2, "left": 3}, {"right": 1, "left": 4}, {"right": 4, "left": 4}]
    assert [r["scales"]["opacity"]["total"] for r in saved] == [3, 3, 4]
    key = voila["cohort"].key()
    identifying = [*key["filename"], *key["path"], *key["sha256"], *voila["cohort"].display_ids,
                   "SECRETPATIENT", str(voila["cohort"].dir)]
    assert [s for s in identifying if s in html] == []
    assert "Case 4 of 5" in html
    assert attempted == [], f"requests to outside the server: {attempted}"
    assert len(records(voila["file"])) == 4
    assert [o.replace("\xa0", " ") for o in options] == [f"Case {p}" for p in range(1, 6)]  # nbsp: ipywidgets
    print(f"\nbrowser session: 4 cases scored in Chromium, page reloaded once, {time.monotonic() - started:.1f} s")


@pytest.fixture
def lab(tmp_path):
    """JupyterLab (no token) on a copy of the scoring notebook, so Lab never writes to the repository."""
    cohort = make_cohort(tmp_path, n=5, name="labweb")
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / "01_blinded_scoring.ipynb", root / "notebooks")
    labels, port = tmp_path / "labels", free_port()
    env = {**os.environ, "COVSEV_COHORT": str(cohort.dir), "COVSEV_LABELS_DIR": str(labels),
           "COVSEV_RATER": "labrad", "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config")}
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, proc)
        yield {"url": url + "lab/tree/notebooks/01_blinded_scoring.ipynb",
               "file": labels / "labweb" / "labrad.jsonl"}
    finally:
        stop_server(proc, log)


def run_first_cell(page, attempts: int = 4) -> None:
    """Shift+Enter on the first cell until the app shows (Lab may drop a run sent while the
    kernel is still connecting, leaving the cell unexecuted)."""
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
    for attempt in range(attempts):
        page.locator(".jp-Cell .jp-InputArea-editor").first.click()
        page.keyboard.press("Shift+Enter")
        try:
            wait_case(page, 1, timeout=20_000)
            return
        except Exception:
            if attempt == attempts - 1:
                raise


def test_jupyterlab_keys_score_and_do_not_trigger_notebook_shortcuts(lab):
    with chromium_page(lab["url"], size=(1500, 1000), timeout=120_000) as (page, _):
        run_first_cell(page)
        cells = page.eval_on_selector_all(".jp-Cell", "els => els.map(e => e.className)")
        button(page, "extent", "right", 2).click()
        for key in ["3", "1", "2", "Enter"]:  # in command mode "1"-"3" would make headings
            page.keyboard.press(key)
        wait_case(page, 2)
        after = page.eval_on_selector_all(".jp-Cell", "els => els.map(e => e.className)")
    assert len(after) == len(cells) and all("jp-CodeCell" in c for c in after)  # no cell added/changed
    [record] = records(lab["file"])
    assert record["scales"]["extent"]["total"] == 5 and record["scales"]["opacity"]["total"] == 3


@pytest.fixture
def voila_short(tmp_path):
    """Voila on a 2-case cohort, for the end screen."""
    cohort = make_cohort(tmp_path, n=2, name="short")
    labels = tmp_path / "labels"
    proc, log, url = serve_voila(tmp_path, {"COVSEV_COHORT": cohort.dir, "COVSEV_LABELS_DIR": labels,
                                            "COVSEV_RATER": "endrad"})
    try:
        wait_for_http(url, proc)
        yield {"url": url, "file": labels / "short" / "endrad.jsonl"}
    finally:
        stop_server(proc, log)


def test_browser_page_loads_nothing_from_outside_and_ends_cleanly(voila_short):
    with chromium_page(voila_short["url"]) as (page, attempted):
        wait_case(page, 1, of=2)
        page.wait_for_function("document.querySelector('.covsev-viewer-img').naturalWidth > 0")
        for n in (1, 2):
            for key in ["1", "1", "1", "1", "Enter"]:
                page.keyboard.press(key)
            if n == 1:
                wait_case(page, 2, of=2)
        page.get_by_text("All 2 cases are scored — thank you.", exact=False).first.wait_for()
        end = page.evaluate("""() => {
            const visible = (el) => !!el && el.offsetParent !== null;
            const img = document.querySelector('.covsev-viewer-img');
            const save = [...document.querySelectorAll('button')].filter(
                (b) => b.textContent.includes('Save') && visible(b) && !b.disabled);
            const broken = [...document.querySelectorAll('img')].filter(
                (i) => visible(i) && !(i.complete && i.naturalWidth > 0));
            return {imgVisible: visible(img), liveSave: save.length, broken: broken.length,
                    text: document.body.innerText};
        }""")
        page.keyboard.press("Enter")  # nothing to save: no new record
        page.wait_for_timeout(500)
        icons = page.evaluate("document.querySelectorAll('link[href*=\"fontawesome\"], link[href*=\"font-awesome\"]').length")
    assert attempted == [], f"requests to outside the server: {attempted}"
    assert icons == 0
    assert end["imgVisible"] is False and end["liveSave"] == 0 and end["broken"] == 0
    assert "nothing left to save" in end["text"] and "2 saved, 0 marked not assessable" in end["text"]
    assert len(records(voila_short["file"])) == 2


@pytest.fixture
def voila_training(tmp_path):
    """Voila on a 2-case training set (extent reference per lung, opacity total only)."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from covsev_tools.scoring.training_build import build_training_set

    images = tmp_path / "train_images"
    images.mkdir()
    for i in range(2):
        Image.fromarray((np.random.default_rng(i).random((40, 40)) * 255).astype("uint8")).save(images / f"t{i}.png")
    reference = pd.DataFrame({"filename": ["t0.png", "t1.png"], "extent_right": [3, 3], "extent_left": [1, 1],
                              "opacity_total": [2.5, 2.5]})
    training = build_training_set(images, reference, "webtrain", tmp_path / "webtrain", progress=False)
    labels = tmp_path / "labels"
    proc, log, url = serve_voila(tmp_path, {"COVSEV_COHORT": training.cohort.dir, "COVSEV_LABELS_DIR": labels,
                                            "COVSEV_RATER": "trainee"}, name="training")
    try:
        wait_for_http(url, proc)
        yield {"url": url, "file": labels / "_training" / "webtrain" / "trainee.jsonl"}
    finally:
        stop_server(proc, log)


def test_browser_training_feedback_beside_reference_then_summary(voila_training):
    with chromium_page(voila_training["url"]) as (page, attempted):
        wait_case(page, 1, of=2)
        page.get_by_text("TRAINING ROUND", exact=False).first.wait_for()
        for key in ["2", "1", "1", "1", "Enter"]:  # extent 2/1 (reference 3/1), opacity 1/1
            page.keyboard.press(key)
        page.get_by_text("Your scores and the reference").wait_for()
        feedback = page.locator(".covsev-feedback").inner_text()
        wait_case(page, 1, of=2)  # still on the case while the reference is shown
        page.get_by_role("button", name="Next case (Enter)").wait_for()
        page.keyboard.press("Enter")
        wait_case(page, 2, of=2)
        for key in ["3", "1", "1", "2", "Enter"]:
            page.keyboard.press(key)
        page.get_by_text("Your scores and the reference").wait_for()
        page.keyboard.press("Enter")
        page.get_by_text("Training summary").wait_for()
        summary = page.locator(".covsev-end").inner_text()
    assert attempted == []
    rows = [line.split("\t") for line in feedback.splitlines() if "\t" in line]
    assert ["Geographic extent", "Right lung", "2", "3", "-1"] in rows
    assert ["Geographic extent", "Left lung", "1", "1", "0"] in rows
    assert ["Opacity", "Total", "2", "2.5", "-0.5"] in rows
    assert "No involvement" in feedback  # the scale definitions are shown with the feedback
    assert ("Furthest from the reference (your total minus the reference, per scale): "
            "Case 1 (Geographic extent total -1, Opacity total -0.5)") in summary
    summary_rows = [line.split("\t") for line in summary.splitlines() if "\t" in line]
    assert ["extent", "right", "0.50", "2"] in summary_rows and ["opacity", "total", "0.50", "2"] in summary_rows
    assert len(records(voila_training["file"])) == 2


@pytest.fixture
def voila_adjudication(tmp_path):
    """Voila's adjudication page on a 3-case cohort where two raters disagree on one case."""
    from covsev_tools.scoring.session import ScoringSession

    cohort = make_cohort(tmp_path, n=3, name="adjweb")
    labels = tmp_path / "labels"
    target = sorted(cohort.case_ids)[0]
    for rater, far in (("rad1", 0), ("rad2", 3)):
        session = ScoringSession.open(cohort.dir, rater, labels)
        while not session.at_end:
            for value in ((far if session.case_id == target else 0), 0, 0, 0):
                session.type_digit(value)
            session.advance()
    proc, log, url = serve_voila(tmp_path, {"COVSEV_COHORT": cohort.dir, "COVSEV_LABELS_DIR": labels,
                                            "COVSEV_ADJUDICATOR": "chief"}, name="adjudication")
    try:
        wait_for_http(url, proc)
        yield {"url": url, "file": labels / "adjweb" / "consensus.jsonl", "case": target}
    finally:
        stop_server(proc, log)


def test_browser_adjudication_page_side_by_side_and_consensus(voila_adjudication):
    with chromium_page(voila_adjudication["url"]) as (page, attempted):
        page.get_by_text("Discordant case 1 of 1").wait_for(timeout=60_000)
        banner = page.locator(".covsev-banner-adjudication").inner_text()
        table = page.locator(".covsev-table").first.inner_text()
        page.wait_for_function("document.querySelector('.covsev-viewer-img').naturalWidth > 0")
        for scale, component, value in [("extent", "right", 2), ("extent", "left", 0),
                                        ("opacity", "right", 0), ("opacity", "left", 0)]:
            button(page, scale, component, value).click()
        page.get_by_role("button", name="Save consensus").click()
        page.get_by_text("needs a reason").wait_for()
        page.get_by_placeholder("Reason for the consensus (required)").fill("mid-zone opacity on review")
        page.get_by_role("button", name="Save consensus").click()
        page.get_by_text("✓ Consensus saved").wait_for()
    assert attempted == []
    assert "NOT BLIND" in banner
    rows = [line.split("\t") for line in table.splitlines() if "\t" in line]
    assert rows[0][:4] == ["rater", "extent right", "extent left", "extent total"]
    assert rows[1][:4] == ["rad1", "0", "0", "0"] and rows[2][:4] == ["rad2", "3", "0", "3"]
    [record] = records(voila_adjudication["file"])
    assert record["rater"] == "consensus" and record["adjudicator"] == "chief"
    assert record["case_id"] == voila_adjudication["case"] and record["comment"] == "mid-zone opacity on review"
    assert record["scales"]["extent"] == {"version": "1", "scores": {"right": 2, "left": 0}, "total": 2}
