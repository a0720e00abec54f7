"""The whole reader study on a real hub, driven in Chromium: ``pytest -m hub -k workflow``.

A study with a required training round, two raters and a coordinator. One rater passes training,
the other fails, is given a retry and passes; both score the study; ``hub init`` is re-run
mid-study and changes nothing for them; one rater is finished (their server stops); the
coordinator runs ``covsev hub status`` in a JupyterLab terminal, adjudicates a discordant case in
``adjudication.ipynb`` and writes the report without a model. Needs root, configurable-http-proxy
and Debian's Chromium.
"""
from __future__ import annotations

import json
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, HubStudy, block_outside, hub_marks, run_as, running_hub

from covsev_tools.hub.labelservice import LABEL_ACCOUNT

pytest.importorskip("jupyterhub")
pytest.importorskip("playwright")

COVSEV = [sys.executable, "-m", "covsev_tools.cli"]

pytestmark = hub_marks(1800, browser=True)


@pytest.fixture(scope="module")
def hub():
    yield from running_hub(HubStudy(n_cases=4, repeat_fraction=0.0, training_cases=2, max_mae=1.0),
                           [("r1", "rater"), ("r2", "rater"), ("c1", "coordinator")])


def login(browser, hub: HubStudy, suffix: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    attempted = block_outside(context)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login", timeout=90_000)
    page.fill("#username_input", hub.name(suffix))
    page.fill("#password_input", hub.passwords[hub.name(suffix)])
    page.click("#login_submit")
    return page, attempted


def score(page, levels: str) -> None:
    """Type the four component scores and Enter, as a rater at the keyboard."""
    for key in [*levels, "Enter"]:
        page.keyboard.press(key)


def train(page, levels: str, cases: int = 2) -> None:
    page.get_by_text("TRAINING ROUND", exact=False).first.wait_for(timeout=240_000)
    for n in range(1, cases + 1):
        page.get_by_text(f"Case {n} of {cases}", exact=True).wait_for(timeout=60_000)
        score(page, levels)
        page.get_by_text("Your scores and the reference").wait_for(timeout=60_000)
        page.keyboard.press("Enter")


def score_study(page, levels: str, cases: int = 4) -> None:
    for n in range(1, cases + 1):
        page.get_by_text(f"Case {n} of {cases}", exact=True).wait_for(timeout=60_000)
        score(page, levels)
    page.get_by_text(f"All {cases} cases are scored", exact=False).first.wait_for(timeout=60_000)


def records(hub: HubStudy, *parts: str) -> list[dict]:
    path = hub.dir.joinpath("labels", *parts)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def access(hub: HubStudy) -> dict[str, tuple]:
    """Owner, group and mode of every file under cohorts/, training/ and labels/ (what raters depend on)."""
    out = {}
    for top in ("cohorts", "training", "labels"):
        for path in sorted((hub.dir / top).rglob("*")):
            info = path.stat()
            out[str(path.relative_to(hub.dir))] = (info.st_uid, info.st_gid, info.st_mode)
    return out


def wait_stopped(hub: HubStudy, name: str, timeout: float = 90) -> None:
    """Until no server process of ``name`` is left (the hub polls every 10 s)."""
    import pwd

    uid = pwd.getpwnam(name).pw_uid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}").stat().st_uid == uid
                   for pid in hub.processes()):
            return
        time.sleep(1)
    raise AssertionError(f"the server of {name} still runs {timeout:.0f} s after hub finish")


def test_workflow_training_scoring_finish_adjudication_report(hub):
    from playwright.sync_api import sync_playwright

    r1, r2, c1 = hub.name("r1"), hub.name("r2"), hub.name("c1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # r1 passes training (the reference is 1 everywhere), opens the study and scores it all 0
            page1, outside1 = login(browser, hub, "r1")
            train(page1, "1111")
            page1.get_by_text("threshold (mean absolute error of each total at most 1): met").wait_for()
            page1.get_by_role("button", name="Open the blinded cases").click()
            score_study(page1, "0000")
            assert page1.get_by_role("link", name="Log out", exact=True).count() == 1

            # r2 fails (3 everywhere: 4 points off per total), sees the result and what happens next
            page2, outside2 = login(browser, hub, "r2")
            train(page2, "3333")
            page2.get_by_text("Training round finished: threshold not met").wait_for()
            end = page2.locator(".covsev-end").inner_text()
            assert "can open a new training round" in end and "thank you" not in end
            assert "Geographic extent total +4, Opacity total +4" in end
            status = subprocess.run(COVSEV + ["hub", "status", str(hub.dir)], capture_output=True, text=True)
            assert re.search(rf"{r2}\s+rater\s+pilot\s+active\s+failed", status.stdout), status.stdout

            # the coordinator lets r2 retry; the first attempt is kept
            retry = subprocess.run(COVSEV + ["training", "retry", str(hub.dir), r2], capture_output=True, text=True)
            assert retry.returncode == 0, retry.stderr
            assert len(records(hub, "_training", "calib", "history", f"{r2}.1.jsonl")) == 2
            page2.reload()
            train(page2, "1111")
            page2.get_by_role("button", name="Open the blinded cases").click()
            page2.get_by_text("Case 1 of 4", exact=True).wait_for(timeout=60_000)
            score(page2, "3333")
            page2.get_by_text("Case 2 of 4", exact=True).wait_for(timeout=60_000)

            # hub init again mid-study (as the README says after adding images): nothing changes
            before = access(hub)
            raters, coordinators = hub.groups
            init = subprocess.run(COVSEV + ["hub", "init", str(hub.dir), "--cohort", str(hub.source.dir),
                                            "--rater-group", raters, "--coordinator-group", coordinators],
                                  capture_output=True, text=True)
            assert init.returncode == 0, init.stderr
            assert "alembic" not in init.stdout + init.stderr
            assert access(hub) == before
            for n in range(2, 5):  # r2 carries on in the same page
                page2.get_by_text(f"Case {n} of 4", exact=True).wait_for(timeout=60_000)
                score(page2, "3333")
            page2.get_by_text("All 4 cases are scored", exact=False).first.wait_for(timeout=60_000)
            assert len(records(hub, "pilot", f"{r2}.jsonl")) == 4 and len(records(hub, "pilot", f"{r1}.jsonl")) == 4
            # written by the label service, under its own account: not a file either rater could touch
            for log in (hub.dir / "labels" / "pilot" / f"{r}.jsonl" for r in (r1, r2)):
                assert pwd.getpwuid(log.stat().st_uid).pw_name == LABEL_ACCOUNT, log

            # r1 is finished: their server stops, and their next visit says so (not a 500)
            finish = subprocess.run(COVSEV + ["hub", "finish", str(hub.dir), r1, "pilot"], capture_output=True,
                                    text=True)
            assert finish.returncode == 0, finish.stderr
            wait_stopped(hub, r1)
            page1.goto(f"{hub.url}/hub/home", timeout=90_000)
            page1.goto(f"{hub.url}/hub/spawn/{r1}", timeout=240_000)
            page1.get_by_text("Your case list is finished", exact=False).wait_for(timeout=240_000)
            assert outside1 == [] and outside2 == []

            # the coordinator: JupyterLab, a terminal with covsev, the adjudication notebook
            lab, _ = login(browser, hub, "c1")
            lab.wait_for_url(re.compile(rf".*/user/{c1}/lab.*"), timeout=240_000)
            lab.locator(".jp-LabShell").first.wait_for(timeout=240_000)
            lab.locator(".jp-LauncherCard", has_text="Terminal").first.click(timeout=120_000)
            lab.locator(".jp-Terminal").first.wait_for(timeout=120_000)
            assert lab.get_by_text("Jupyter news", exact=False).count() == 0  # nothing asked from the internet
            lab.locator(".jp-Terminal").first.click()
            lab.keyboard.type("covsev hub status . > outputs/status.txt 2>&1; echo done-$((6*7))\n")
            status_file = hub.dir / "outputs" / "status.txt"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "read by all" not in (
                    status_file.read_text() if status_file.exists() else ""):
                time.sleep(1)
            text = status_file.read_text()
            assert "pilot: 4 of 4 cases read by all 2 raters" in text, text
            assert re.search(rf"{r2}\s+rater\s+pilot\s+active\s+passed \(attempt 2\)", text), text
            assert status_file.stat().st_uid == __import__("pwd").getpwnam(c1).pw_uid  # ran as the coordinator

            lab.goto(f"{hub.url}/user/{c1}/lab/tree/adjudication.ipynb", timeout=90_000)
            lab.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            # run the cell once the kernel is ready (Shift+Enter before that is lost in JupyterLab)
            lab.get_by_text(re.compile(r"covsev study\) \| Idle")).wait_for(timeout=180_000)
            lab.locator(".jp-Notebook .jp-Cell").nth(1).click()
            lab.keyboard.press("Shift+Enter")
            try:
                lab.get_by_text("Discordant case 1 of 4", exact=False).wait_for(timeout=180_000)
            except Exception:
                lab.screenshot(path=str(hub.base.parent / f"{hub.prefix}-adjudication.png"))  # what Lab showed
                raise
            for scale, component in (("extent", "right"), ("extent", "left"), ("opacity", "right"),
                                     ("opacity", "left")):
                lab.locator(f".covsev-row-{scale}-{component} button", has_text="2").first.click()
            lab.get_by_placeholder("Reason for the consensus (required)").fill("reviewed together")
            lab.get_by_role("button", name="Save consensus").click()
            lab.get_by_text("✓ Consensus saved").wait_for(timeout=60_000)
        finally:
            browser.close()
    [consensus] = records(hub, "pilot", "consensus.jsonl")
    assert consensus["adjudicator"] == c1 and consensus["comment"] == "reviewed together"
    assert consensus["scales"]["extent"]["total"] == 4

    # the report without a model, written by the coordinator's account
    report = run_as(hub.dir, c1, [str(hub.dir / "app" / "bin" / "covsev"), "report", "--cohort", "cohorts/pilot",
                                  "--labels-dir", "labels", "--out", "outputs/report", "--reference", "consensus",
                                  "--bootstrap", "50"], cwd=hub.dir)
    assert report.returncode == 0, report.stderr
    page = (hub.dir / "outputs" / "report" / "report.html").read_text()
    assert "No model predictions" in page and "2. Inter-rater agreement" in page and "Adjudication" in page
