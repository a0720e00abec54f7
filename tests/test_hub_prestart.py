"""``covsev hub prestart`` on a real hub: the raters' servers start before anyone logs in.

Two raters with a case list, one without, and a coordinator, none of whom has logged in yet. Run
as root (the coordinator's ``sudo``), prestart starts exactly the two assigned raters' servers,
waits until they are ready and says so; a rater's login then opens the page on that same server;
a second prestart finds them running. The service's token is root's alone and can start servers
but not read anyone's tokens or the users' admin pages. Needs root and configurable-http-proxy.
"""
from __future__ import annotations

import json
import os
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
    assert not any(_server(hub, s) for s in ("r1", "r2", "r3"))  # nobody has logged in
    result = subprocess.run(COVSEV + ["hub", "prestart", str(hub.dir)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{hub.name('r1')}: started" in lines and f"{hub.name('r2')}: started" in lines
    assert "2 of 2 rater servers ready" in result.stdout
    assert "stopped after 10 min (the idle timeout)" in result.stdout
    started = {s: _server(hub, s) for s in ("r1", "r2")}
    assert all(server.get("ready") for server in started.values())
    assert not _server(hub, "r3")  # no case list: left alone (the coordinator is out of the token's reach)

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
    assert _api(hub, f"/users/{hub.name('r1')}/tokens")[0] in (403, 404)      # nobody's tokens
    assert _api(hub, f"/users/{hub.name('r1')}", method="DELETE")[0] in (403, 404)  # no account changes
    assert _api(hub, "/proxy")[0] == 403
    # not the coordinator's server: the role names the raters only
    assert _api(hub, f"/users/{hub.name('c1')}/server", method="POST")[0] in (403, 404)
    assert _api(hub, f"/users/{hub.name('c1')}")[0] in (403, 404)


# As a rater: listen on a port of 127.0.0.1 and print what one connection sends within 20 s.
_FAKE_HUB = """
import socket, sys
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(); sock.settimeout(20)
print(sock.getsockname()[1], flush=True)
try:
    conn, _ = sock.accept(); conn.settimeout(5); print("GOT", conn.recv(65536))
except OSError:
    print("nothing")
"""


@pytest.fixture(scope="module")
def stopped():
    """A study whose hub is not running (init, one rater)."""
    study = HubStudy(n_cases=2, repeat_fraction=0.0)
    try:
        study.init()
        study.add("r1", "rater")
        yield study
    finally:
        study.cleanup()


def test_prestart_says_so_when_the_hub_does_not_answer(stopped):
    result = subprocess.run(COVSEV + ["hub", "prestart", str(stopped.dir)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2  # a usage error, as every covsev command reports one
    assert "no hub port; start the hub first (covsev hub start)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_token_goes_to_no_rater_who_holds_the_hubs_port_while_it_is_down(stopped):
    """Raters know the hub's API port; with the hub down, one of them listens there."""
    import pwd

    from covsev_tools.hub.prestart import prestart_service
    from covsev_tools.hub.runtime import rater_python
    from covsev_tools.hub.study import Study

    study = Study.load(stopped.dir)
    prestart_service(study)  # the token file, as the hub's first start makes it
    entry = pwd.getpwnam(stopped.name("r1"))
    listener = subprocess.Popen([rater_python(study), "-c", _FAKE_HUB], stdout=subprocess.PIPE, text=True, cwd="/",
                                user=entry.pw_uid, group=entry.pw_gid, env={"PATH": "/usr/bin:/bin"},
                                extra_groups=os.getgrouplist(entry.pw_name, entry.pw_gid))
    try:
        port = int(listener.stdout.readline())
        (stopped.dir / "hub" / "ports.json").write_text(json.dumps([port, port + 1, port + 2]))
        result = subprocess.run(COVSEV + ["hub", "prestart", str(stopped.dir)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2
        assert f"the hub does not listen on its port {port} (a process of uid {entry.pw_uid} does)" in result.stderr
    finally:
        out, _ = listener.communicate(timeout=60)
    assert out.strip() == "nothing"  # not even a connection, let alone the token


def test_hub_start_revokes_a_replaced_token(stopped):
    """JupyterHub adds the configured token at each start but never removes an earlier one."""
    from jupyterhub import orm

    from covsev_tools.hub.prestart import PRESTART_SERVICE, prestart_service, revoke_old_tokens
    from covsev_tools.hub.study import Study

    study = Study.load(stopped.dir)
    current = prestart_service(study)[0]["api_token"]
    session = orm.new_session_factory(f"sqlite:///{study.hub_dir / 'jupyterhub.sqlite'}")()
    try:
        service = orm.Service(name=PRESTART_SERVICE)
        session.add(service)
        if session.query(orm.OAuthClient).filter_by(identifier="jupyterhub").first() is None:
            session.add(orm.OAuthClient(identifier="jupyterhub"))  # the hub makes it at its first start
        session.commit()
        for token in ("ab" * 32, current):  # an old token left by an earlier file, and the file's
            service.new_api_token(token, generated=False)
    finally:
        session.close()
    assert revoke_old_tokens(study) == 1
    session = orm.new_session_factory(f"sqlite:///{study.hub_dir / 'jupyterhub.sqlite'}")()
    try:
        left = orm.Service.find(session, PRESTART_SERVICE).api_tokens
        assert len(left) == 1 and left[0].match(current)
    finally:
        session.close()
    assert revoke_old_tokens(study) == 0
