"""``covsev hub prestart`` on a real hub: the raters' servers start before anyone logs in.

Two raters with a case list, one without, and a coordinator, none of whom has logged in yet. Run
as root (the coordinator's ``sudo``), prestart starts exactly the two assigned raters' servers,
waits until they are ready and says so; a rater's login then opens the page on that same server;
a second prestart finds them running. The service's token is root's alone and can start servers
but not read anyone's tokens or the users' admin pages. Needs root and configurable-http-proxy.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from helpers import HubStudy, hub_marks, rater_client, run_as, running_hub

pytest.importorskip("jupyterhub")

pytestmark = hub_marks(600)

COVSEV = [sys.executable, "-m", "covsev_tools.cli"]


@pytest.fixture(scope="module")
def hub():
    yield from running_hub(HubStudy(n_cases=4, repeat_fraction=0.0),
                           [("r1", "rater"), ("r2", "rater"), ("r3", "rater", None), ("c1", "coordinator")])


def _api(hub, path: str, method: str = "GET") -> tuple[int, dict]:
    ports = json.loads((hub.dir / "hub" / "ports.json").read_text())
    token = (hub.dir / "hub" / "prestart_token").read_text().strip()
    request = urllib.request.Request(f"http://127.0.0.1:{ports[0]}/hub/api{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _server(hub, suffix: str) -> dict:
    status, user = _api(hub, f"/users/{hub.name(suffix)}")
    assert status == 200
    return (user.get("servers") or {}).get("", {})


def test_prestart_starts_the_assigned_raters_servers_and_a_login_uses_them(hub):
    assert not any(_server(hub, s) for s in ("r1", "r2", "r3", "c1"))  # nobody has logged in
    result = subprocess.run(COVSEV + ["hub", "prestart", str(hub.dir)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{hub.name('r1')}: started" in lines and f"{hub.name('r2')}: started" in lines
    assert "2 of 2 rater servers ready" in result.stdout
    assert "stopped after 10 min (the idle timeout)" in result.stdout
    started = {s: _server(hub, s) for s in ("r1", "r2")}
    assert all(server.get("ready") for server in started.values())
    assert not _server(hub, "r3") and not _server(hub, "c1")  # no case list, and the coordinator: left alone

    client = rater_client(hub, "r1")
    client.open_session()
    assert "Case 1 of 4" in client.widget_text(r"Case \d+ of")
    client.close()
    # the page ran on the server prestart started, not on a new one
    assert _server(hub, "r1")["started"] == started["r1"]["started"]

    again = subprocess.run(COVSEV + ["hub", "prestart", str(hub.dir)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{hub.name('r2')}: already running" in again.stdout


def test_the_prestart_token_is_roots_and_can_do_nothing_but_start_servers(hub):
    token = hub.dir / "hub" / "prestart_token"
    assert oct(token.stat().st_mode & 0o777) == "0o600" and token.stat().st_uid == 0
    read = run_as(hub.dir, hub.name("r1"), ["python", "-c", f"open({str(token)!r}).read()"])
    assert read.returncode != 0 and "Permission denied" in read.stderr
    assert _api(hub, f"/users/{hub.name('r1')}/tokens")[0] == 403      # nobody's tokens
    assert _api(hub, f"/users/{hub.name('r1')}", method="DELETE")[0] == 403  # no account changes
    assert _api(hub, "/proxy")[0] == 403


def test_prestart_says_so_when_the_hub_does_not_answer(tmp_path):
    study = HubStudy(n_cases=2, repeat_fraction=0.0)
    try:
        study.init()
        study.add("r1", "rater")
        result = subprocess.run(COVSEV + ["hub", "prestart", str(study.dir)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2  # a usage error, as every covsev command reports one
        assert "start the hub first (covsev hub start)" in result.stderr or "is it running" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        study.cleanup()
