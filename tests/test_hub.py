"""A real JupyterHub, proxy and rater servers on 127.0.0.1: logins, isolation, a malicious rater, SIGKILL.

One hub (``covsev hub start``) serves the whole module; raters r1 and r2 score cohort "pilot",
r3 has no assignment, c1 is a coordinator. Needs root (Unix accounts), configurable-http-proxy, and
for the browser test Debian's Chromium.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import (CHROMIUM, CHROMIUM_ARGS, HUB_SCORES, HubStudy, block_outside, hub_marks,
                     hub_records as records, rater_client as rater, running_hub, score_and_save, start_hub, stop_hub)

pytest.importorskip("jupyterhub")
requests = pytest.importorskip("requests")

pytestmark = hub_marks(900)


@pytest.fixture(scope="module")
def hub():
    yield from running_hub(HubStudy(n_cases=6, repeat_fraction=0.34),
                           [("r1", "rater"), ("r2", "rater"), ("r3", "rater", None), ("c1", "coordinator")])


def test_wrong_password_is_refused(hub):
    from hub_client import HubClientError

    client = rater(hub, "r1")
    client.password = "not-the-password"
    with pytest.raises(HubClientError, match="refused"):
        client.login()
    assert client.http.get(f"{hub.url}/hub/api/user", timeout=30).status_code == 403  # not logged in
    # a user who is not in the study cannot log in either, even with a hub-side record
    stranger = rater(hub, "r1")
    stranger.name = "nobody"
    with pytest.raises(HubClientError, match="refused"):
        stranger.login()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian Chromium not installed at /usr/bin/chromium")
def test_browser_logins_two_raters_and_a_coordinator(hub):
    from playwright.sync_api import sync_playwright

    r1, r2, c1 = hub.name("r1"), hub.name("r2"), hub.name("c1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name in (r1, r2):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                attempted = block_outside(context)  # a hospital network: nothing outside the hub answers
                page = context.new_page()
                page.goto(f"{hub.url}/hub/login", timeout=90_000)
                page.fill("#username_input", name)
                page.fill("#password_input", hub.passwords[name])
                page.click("#login_submit")
                page.get_by_text("Case 1 of 8", exact=True).wait_for(timeout=240_000)
                assert re.search(rf"/user/{name}/voila/render/scoring\.ipynb", page.url)
                assert page.get_by_text(f"rater {name}", exact=False).count() >= 1
                assert page.get_by_placeholder("your rater ID").count() == 0  # nobody types an ID
                # covsev's offline Voila template: no Font Awesome links (Voila's default page has two)
                assert page.evaluate("document.querySelectorAll('link[href*=\"fontawesome\"], "
                                     "link[href*=\"font-awesome\"]').length") == 0
                for scale, component, value in HUB_SCORES:
                    page.locator(f".covsev-row-{scale}-{component} button", has_text=str(value)).first.click()
                page.get_by_role("button", name="Save and next (Enter)").click()
                page.get_by_text("Case 2 of 8", exact=True).wait_for(timeout=60_000)
                saved = records(hub, name)
                assert [r["rater"] for r in saved] == [name]
                assert saved[0]["scales"]["extent"]["scores"] == {"right": 2, "left": 3}
                logout = page.get_by_role("link", name="Log out", exact=True)
                assert logout.count() == 1 and logout.get_attribute("href") == "/hub/logout"
                logout.click()  # the page's own link, not a typed address
                page.wait_for_url(re.compile(r".*/hub/login.*"), timeout=60_000)
                assert page.locator("#username_input").count() == 1
                assert attempted == [], f"requests to outside the hub: {attempted}"
                page.context.close()
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(f"{hub.url}/hub/login", timeout=90_000)
            page.fill("#username_input", c1)
            page.fill("#password_input", hub.passwords[c1])
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf".*/user/{c1}/lab.*"), timeout=240_000)
            page.locator("#jp-main-dock-panel, .jp-LabShell").first.wait_for(timeout=240_000)
            page.context.close()
        finally:
            browser.close()


def test_rater_without_assignment_is_told_so(hub):
    client = rater(hub, "r3")
    client.open_session(timeout=180)  # a page, not a failed spawn (500)
    assert "no case list to score" in client.widget_text("Nothing to score")
    assert "/hub/logout" in client.widget_text("Nothing to score")
    client.close()


def test_finish_stops_the_raters_server_and_the_next_login_says_so(hub):
    from covsev_tools.hub import assign

    client = rater(hub, "r3")
    client.login()  # so that the hub's API answers this client (wait_until_stopped asks it)
    assert client.http.get(f"{hub.url}/hub/api/user", timeout=30,
                           headers={"Referer": f"{hub.url}/hub/"}).json()["servers"]  # still running
    assign(hub.dir, client.name, "pilot")  # the running "nothing to score" server is stopped ...
    wait_until_stopped(client, timeout=60)
    client.open_session()  # ... and the next login scores the cohort
    client.wait_for_text(r"Case 1 of 8", timeout=60)
    position, _ = score_and_save(client)
    result = subprocess.run([sys.executable, "-m", "covsev_tools.cli", "hub", "finish", str(hub.dir), client.name,
                             "pilot"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    wait_until_stopped(client, timeout=60)  # the hub polls every 10 s and stops it
    saved = len(records(hub, client.name))
    with pytest.raises(Exception):  # the finished rater's old page can no longer save
        client.score_case(HUB_SCORES, timeout=20)
    assert len(records(hub, client.name)) == saved == 1
    client.close()
    again = rater(hub, "r3")
    again.open_session(timeout=180)
    assert "Your case list is finished" in again.widget_text("Nothing to score")
    again.close()


# ---------------------------------------------------------------------------------------------- isolation

OWN_SERVER_PATHS = ["api/contents", "api/contents/scoring.ipynb", "api/kernels", "api/sessions",
                    "api/kernelspecs", "api/terminals", "api/nbconvert", "api/config/notebook", "lab",
                    "lab/tree/scoring.ipynb", "tree", "notebooks/scoring.ipynb", "edit/scoring.ipynb",
                    "terminals/1", "files/scoring.ipynb", "files/config/jupyter_server_config.py",
                    "nbconvert/html/scoring.ipynb"]
HUB_ADMIN_PATHS = ["hub/admin", "hub/api/users", "hub/api/groups", "hub/api/proxy", "hub/api/services",
                   "hub/authorize", "hub/signup"]


def test_rater_reaches_no_api_no_lab_no_other_server_no_admin(hub):
    client = rater(hub, "r1")
    client.open_session()
    other = hub.name("r2")
    headers = {"Referer": f"{hub.url}/hub/"}
    answers = {}
    for path in OWN_SERVER_PATHS:
        for method in ("GET", "POST", "DELETE") if path.startswith("api/") else ("GET",):
            response = client.http.request(method, f"{hub.url}/user/{client.name}/{path}", allow_redirects=False,
                                           timeout=30, headers=headers)
            answers[f"{method} own/{path}"] = response.status_code
    xsrf = {**headers, "X-XSRFToken": client.http.cookies.get("_xsrf", path=f"/user/{client.name}/") or ""}
    for method, path in [("DELETE", f"api/kernels/{client.kernel_id}"), ("POST", f"api/kernels/{client.kernel_id}/restart"),
                         ("POST", f"api/kernels/{client.kernel_id}/interrupt"), ("POST", "api/kernels"),
                         ("PUT", "api/contents/x.ipynb"), ("POST", "api/sessions"), ("POST", "api/shutdown")]:
        response = client.http.request(method, f"{hub.url}/user/{client.name}/{path}", allow_redirects=False,
                                       timeout=30, headers=xsrf, json={})
        answers[f"{method} own/{path} (xsrf)"] = response.status_code
    for path in ["", "voila/render/scoring.ipynb", "api/kernels", "api/contents", "lab"]:
        response = client.http.get(f"{hub.url}/user/{other}/{path}", timeout=30, headers=headers)
        answers[f"GET other/{path}"] = response.status_code
    for path in HUB_ADMIN_PATHS + [f"hub/api/users/{other}", f"hub/api/users/{other}/tokens"]:
        answers[f"GET {path}"] = client.http.get(f"{hub.url}/{path}", timeout=30, headers=headers,
                                                 allow_redirects=False).status_code
    for method, path in [("POST", f"hub/api/users/{other}/server"), ("DELETE", f"hub/api/users/{other}/server"),
                         ("POST", f"hub/api/users/{other}/tokens"), ("POST", "hub/api/users/newuser"),
                         ("PATCH", f"hub/api/users/{client.name}")]:
        response = client.http.request(method, f"{hub.url}/{path}", timeout=30, json={"admin": True},
                                       headers={**headers, "X-XSRFToken": client.http.cookies.get("_xsrf", path="/hub/")})
        answers[f"{method} {path}"] = response.status_code
    refused = {k: v for k, v in answers.items() if v not in (403, 404)}
    assert not refused, f"answered without 403/404: {refused}"
    # and the scoring page itself still works
    assert client.http.get(f"{hub.url}/user/{client.name}/voila/render/scoring.ipynb", timeout=120).status_code == 200
    client.close()


def test_malicious_rater_code_through_the_kernel_websocket_gets_permission_error(hub):
    client = rater(hub, "r1")
    client.open_session()
    other = hub.name("r2")
    cohort, labels = hub.dir / "cohorts" / "pilot", hub.dir / "labels" / "pilot"
    original = next((hub.base / "source" / "pilot_images").iterdir())
    attempts = {
        "key": f"open({str(cohort / 'key.csv')!r}).read()",
        "repeat map": f"open({str(cohort / 'repeats.csv')!r}).read()",
        "other rater's log": f"open({str(labels / (other + '.jsonl'))!r}).read()",
        "append to other's log": f"open({str(labels / (other + '.jsonl'))!r}, 'a').write('{{}}\\n')",
        "new log file": f"open({str(labels / 'forged.jsonl')!r}, 'a')",
        "list the logs": f"__import__('os').listdir({str(labels)!r})",
        "other rater's order": f"open({str(cohort / 'orders' / (other + '.json'))!r}).read()",
        "original image": f"open({str(original)!r}, 'rb').read()",
        "model outputs": f"__import__('os').listdir({str(hub.dir / 'outputs')!r})",
        "hub database": f"open({str(hub.dir / 'hub' / 'jupyterhub.sqlite')!r}, 'rb').read()",
        "cookie secret": f"open({str(hub.dir / 'hub' / 'jupyterhub_cookie_secret')!r}).read()",
        "accounts": f"open({str(hub.dir / 'users.json')!r}).read()",
    }
    results = {what: client.execute(code) for what, code in attempts.items()}
    wrong = {what: (r["status"], r["ename"]) for what, r in results.items() if r["ename"] != "PermissionError"}
    assert not wrong, f"not refused by the operating system: {wrong}"
    # the label store names a log it cannot read instead of raising (coordinator tools go on): nothing
    # of the other rater's comes back, and the reason is the operating system's refusal
    through_store = client.execute(
        f"from covsev_tools.labels import LabelStore; s = LabelStore({str(hub.dir / 'labels')!r}, 'pilot'); "
        f"print(len(s.records({other!r})), [w.reason for w in s.warnings])")
    assert through_store["stdout"].startswith("0 ['cannot be read (Permission denied)"), through_store
    # the kernel really is the rater's own account (not root); even their own log is the label service's
    who = client.execute("import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name, os.getuid() != 0)")
    assert who["stdout"].split() == [client.name, "True"]
    own = client.execute(f"open({str(labels / (client.name + '.jsonl'))!r}, 'a')")
    assert own["ename"] == "PermissionError", own
    client.close()


# ---------------------------------------------------------------------------------------------- durability


def _server_pid(hub: HubStudy, name: str) -> int:
    import pwd

    uid = pwd.getpwnam(name).pw_uid
    for pid in hub.processes():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if Path(f"/proc/{pid}").stat().st_uid == uid and b"jupyterhub.singleuser" in cmdline:
            return pid
    raise AssertionError(f"no server process of {name}")


def wait_until_stopped(client, timeout: float = 90) -> None:
    """Until the hub has noticed the server is gone (it polls its servers every 10 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.http.get(f"{client.base}/hub/api/user", timeout=30, headers={"Referer": f"{client.base}/hub/"})
        if not response.json().get("servers"):
            return
        time.sleep(1)
    raise AssertionError("the hub did not notice the killed server")


def test_sigkill_of_a_rater_server_mid_session_loses_no_confirmed_save(hub):
    client = rater(hub, "r2")
    client.open_session()
    before = len(records(hub, client.name))
    confirmed = [score_and_save(client)[0] for _ in range(3)]
    # a fourth case half scored, then the server dies
    (row,) = client.find(dom_class="covsev-row-extent-right")
    client.click([c for c in client.children(row) if client.states[c].get("description") == "1"][0])
    os.kill(_server_pid(hub, client.name), signal.SIGKILL)
    client.close()
    wait_until_stopped(client)

    saved = records(hub, client.name)
    assert len(saved) == before + 3
    assert [r["position"] for r in saved[before:]] == confirmed

    again = rater(hub, "r2")
    again.open_session()
    resume = confirmed[-1] + 1
    assert again.widget_text(r"Case \d+ of") and f"Case {resume} of 8" in again.widget_text(r"Case \d+ of")
    assert f"{len({r['case_id'] for r in records(hub, again.name)})} of 8 scored" in again.widget_text(r"scored")
    again.close()


def test_status_counts_progress_and_shows_no_scores(hub):
    result = subprocess.run([sys.executable, "-m", "covsev_tools.cli", "hub", "status", str(hub.dir)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    r2 = rows[hub.name("r2")]
    assert r2[1:4] == ["rater", "pilot", "active"]
    assert int(r2[-3]) == len({r["case_id"] for r in records(hub, hub.name("r2"))}) and r2[-2] == "8"
    assert not re.search(r"extent|opacity|right|left|comment", result.stdout)


def test_hub_sigkill_and_restart_keeps_saves_and_resumes(hub):
    client = rater(hub, "r1")
    client.open_session()
    position, _ = score_and_save(client)
    client.close()
    stop_hub(hub.proc, signal.SIGKILL)
    assert records(hub, client.name)[-1]["position"] == position
    hub.proc, hub.url = start_hub(hub, "hub-restarted.log")
    again = rater(hub, "r1")
    again.open_session()
    assert f"Case {position + 1} of 8" in again.widget_text(r"Case \d+ of")
    again.close()
