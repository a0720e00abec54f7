"""Records no rater can change: the label service on a real hub, tried from rater 1's kernel.

One hub; raters r1 and r2 score cohort "pilot". Their logs and reading orders belong to the label
service's account, and their pages save through the service with their server's token. From rater
1's kernel -- what a rater with a shell has -- the test tries to (a) append to any log directly,
(b) save as rater 2 (their name in the body; a token of theirs), (c) write or replace the reading
order, (d) send malformed, huge, non-finite and future records. Each is refused and the logs stay
byte for byte as they were, and ``covsev hub status`` still counts them. Then a killed service is
started again by the hub, and no confirmed save is lost. Needs root and configurable-http-proxy.
"""
from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import HubStudy, hub_marks, hub_records, rater_client, running_hub, score_and_save

pytest.importorskip("jupyterhub")

pytestmark = hub_marks(900)


@pytest.fixture(scope="module")
def hub():
    yield from running_hub(HubStudy(n_cases=6, repeat_fraction=0.34),
                           [("r1", "rater"), ("r2", "rater"), ("c1", "coordinator")])


# What the attacker has in rater 1's kernel: the page's environment, urllib, and their own account.
TOOLS = r'''
import json, os, urllib.request, urllib.error
URL, TOKEN = os.environ["COVSEV_LABEL_SERVICE"], os.environ["JUPYTERHUB_API_TOKEN"]

def call(method, what, body=None, token=TOKEN, cohort="pilot", url=None):
    request = urllib.request.Request(url or URL + "api/%s/%s" % (cohort, what), data=body, method=method,
                                     headers={"Authorization": "token " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()[:400]
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, exc.read().decode()[:400]
        except OSError:
            return exc.code, ""
    except OSError as exc:
        return 0, str(exc)[:200]
'''


def _bytes(hub: HubStudy) -> dict[str, bytes]:
    folder = hub.dir / "labels" / "pilot"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.jsonl"))}


def _call(client, expression: str) -> tuple[int, str]:
    result = client.execute(f"print(json.dumps({expression}))")
    assert result["status"] == "ok", result
    return tuple(json.loads(result["stdout"]))


def _service_pids() -> list[int]:
    from covsev_tools.hub.labelservice import LABEL_ACCOUNT

    uid = pwd.getpwnam(LABEL_ACCOUNT).pw_uid
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid and \
                    b"covsev_tools.hub.labelservice" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _service_answers(hub: HubStudy) -> bool:
    import requests

    from covsev_tools.hub.hubconfig import label_service_port
    from covsev_tools.hub.labelservice import service_url
    from covsev_tools.hub.study import Study

    try:
        url = service_url(label_service_port(Study.load(hub.dir)))
        return requests.get(f"{url}api/pilot/order", timeout=5).status_code == 401  # up, and asks for a token
    except requests.ConnectionError:
        return False


def test_saves_go_through_the_service_into_a_log_the_rater_cannot_touch(hub):
    from covsev_tools.hub.labelservice import LABEL_ACCOUNT

    r1, r2 = rater_client(hub, "r1"), rater_client(hub, "r2")
    r1.open_session()
    r2.open_session()
    first, _ = score_and_save(r1)
    score_and_save(r2)
    logs = hub.dir / "labels" / "pilot"
    order = hub.dir / "cohorts" / "pilot" / "orders" / f"{r1.name}.json"
    for path in (logs / f"{r1.name}.jsonl", logs / f"{r2.name}.jsonl", order):
        info = path.stat()
        assert (pwd.getpwuid(info.st_uid).pw_name, info.st_mode & 0o777) == (LABEL_ACCOUNT, 0o640), path
    [saved] = hub_records(hub, r1.name)
    assert (saved["rater"], saved["position"]) == (r1.name, first)
    # the kernel has what the page uses: the service's address and the server's own token, whose owner is r1
    assert r1.execute(TOOLS)["status"] == "ok"
    who = r1.execute("print(json.loads(urllib.request.urlopen(urllib.request.Request("
                     "os.environ['JUPYTERHUB_API_URL'] + '/user', headers={'Authorization': 'token ' + TOKEN}),"
                     " timeout=30).read())['name'])")
    assert who["stdout"].strip() == r1.name
    before = _bytes(hub)

    # (a) no log is the rater's to write, their own included, nor a new one, nor can one be locked
    direct = {
        "append to own log": f"open({str(logs / (r1.name + '.jsonl'))!r}, 'a').write('{{}}\\n')",
        "append to other's log": f"open({str(logs / (r2.name + '.jsonl'))!r}, 'a').write('{{}}\\n')",
        "new log": f"open({str(logs / 'forged.jsonl')!r}, 'a')",
        "read own log (to lock it)": f"open({str(logs / (r1.name + '.jsonl'))!r})",
        "chmod own log": f"os.chmod({str(logs / (r1.name + '.jsonl'))!r}, 0o666)",
        "store save": (f"from covsev_tools.labels.store import LabelStore, StoreError\ntry:\n"
                       f"    LabelStore({str(hub.dir / 'labels')!r}, 'pilot').save({{'rater': {r1.name!r}, 'case_id': 'x'}})\n"
                       f"except StoreError as exc:\n    raise PermissionError(str(exc))"),
    }
    outcomes = {what: r1.execute(code)["ename"] for what, code in direct.items()}
    assert outcomes == dict.fromkeys(direct, "PermissionError"), outcomes

    # (c) the reading order: not readable, writable, replaceable or chmod-able; the page gets it from the service
    orders = {"read": f"open({str(order)!r}).read()", "write": f"open({str(order)!r}, 'w')",
              "replace": f"os.replace('/etc/hostname', {str(order)!r})", "chmod": f"os.chmod({str(order)!r}, 0o666)",
              "new file": f"open({str(order.parent / 'x.json')!r}, 'w')"}
    outcomes = {what: r1.execute(code)["ename"] for what, code in orders.items()}
    assert outcomes == dict.fromkeys(orders, "PermissionError"), outcomes
    status, body = _call(r1, "call('GET', 'order')")
    served = json.loads(body)["order"]
    from covsev_tools.cohort.orders import load_order

    assert status == 200 and served == load_order(order)["items"]

    # (b) as rater 2: their name in the body with r1's token; r2's token is nowhere r1 can read it;
    # the hub will not make r1 a token of r2's; a made-up token
    record = {"case_id": served[0], "position": 1, "scales": saved["scales"]}
    as_r2 = json.dumps({**record, "rater": r2.name})
    status, body = _call(r1, f"call('POST', 'records', {as_r2!r}.encode())")
    assert status == 403 and f"the record names '{r2.name}'" in body, body
    r2_pids = [p for p in hub.processes() if Path(f"/proc/{p}").stat().st_uid == pwd.getpwnam(r2.name).pw_uid]
    assert r2_pids
    environ = r1.execute(f"[open('/proc/%d/environ' % p).read() for p in {r2_pids!r}]")
    assert environ["ename"] in ("PermissionError", "FileNotFoundError"), environ
    status, body = _call(r1, f"call('POST', '', json.dumps({{'note': 'x'}}).encode(), "
                             f"url=os.environ['JUPYTERHUB_API_URL'] + '/users/{r2.name}/tokens')")
    assert status in (403, 404), body
    status, body = _call(r1, f"call('POST', 'records', {json.dumps(record)!r}.encode(), token='0' * 32)")
    assert status == 403 and "not a user's token" in body
    status, body = _call(r1, f"call('GET', 'records', token='')")
    assert status in (401, 403)

    # (d) malformed, huge, non-finite, future, forged fields, off-list cases: each refused
    bad = {
        "not json": "b'{not json'",
        "nested brackets": "b'[' * 100000 + b']' * 100000",
        "2 MB": "b'{\"case_id\": \"' + b'x' * 2000000 + b'\"}'",
        "infinite time": repr(json.dumps({**record, "seconds_on_case": float("inf")}).encode()),
        "NaN score": repr(json.dumps({**record, "scales": {"extent": {"version": "1", "scores": {
            "right": float("nan"), "left": 1}, "total": 1}}}).encode()),
        "saved in 2099": repr(json.dumps({**record, "time_saved": "2099-01-01T00:00:00.000Z"}).encode()),
        "own record id": repr(json.dumps({**record, "record_id": "f" * 32}).encode()),
        "not in the list": repr(json.dumps({**record, "case_id": "zzzz"}).encode()),
        "wrong place": repr(json.dumps({**record, "position": 5}).encode()),
    }
    answers = {what: _call(r1, f"call('POST', 'records', {body})") for what, body in bad.items()}
    refused = {what: status for what, (status, _) in answers.items() if status not in (0, 400, 413)}
    assert not refused, answers
    assert _bytes(hub) == before, "a refused request changed a log"

    # the coordinator's tools read every log as before: nothing skipped, the saves counted
    from covsev_tools.labels import LabelStore

    store = LabelStore(hub.dir / "labels", "pilot")
    assert len(store.records()) == 2 and store.warnings == []
    status_table = subprocess.run([sys.executable, "-m", "covsev_tools.cli", "hub", "status", str(hub.dir)],
                                  capture_output=True, text=True, timeout=120)
    assert status_table.returncode == 0, status_table.stderr
    rows = {line.split()[0]: line.split() for line in status_table.stdout.splitlines() if line.startswith(hub.prefix)}
    assert "1" in rows[r1.name] and "1" in rows[r2.name], status_table.stdout
    for client in (r1, r2):
        client.close()


def test_a_killed_service_is_started_again_and_no_confirmed_save_is_lost(hub):
    client = rater_client(hub, "r2")
    client.open_session()
    confirmed = [score_and_save(client)[0]]
    held = hub_records(hub, client.name)
    [pid] = _service_pids()
    os.kill(pid, signal.SIGKILL)
    # the next save: acknowledged only once the service is back (the hub restarts it within its
    # 30-second poll); until then the page says NOT SAVED and keeps the scores on screen
    shown = client.position()
    for scale, component, value in [("extent", "right", 1), ("extent", "left", 1), ("opacity", "right", 1),
                                    ("opacity", "left", 1)]:
        (row,) = client.find(dom_class=f"covsev-row-{scale}-{component}")
        (button,) = [c for c in client.children(row) if client.states[c].get("description") == str(value)]
        client.click(button)
    (save,) = client.find(description="Save and next (Enter)")
    client.click(save)
    client.wait_for_text(rf"NOT SAVED|Saved case {shown} of", timeout=60)
    said_not_saved = client.widget_text(rf"Saved case {shown} of") is None
    if said_not_saved:
        assert client.position() == shown  # still on the case, with the scores on screen
        assert hub_records(hub, client.name) == held  # nothing written that the page did not confirm
        deadline = time.monotonic() + 90
        while not _service_answers(hub) and time.monotonic() < deadline:
            client.receive(0.5)  # keeps reading the page's messages while the hub restarts the service
        client.click(save)  # the rater presses Enter again
        client.wait_for_text(rf"Saved case {shown} of", timeout=60)
    confirmed.append(shown)
    new_pids = _service_pids()
    assert new_pids and pid not in new_pids
    positions = [r["position"] for r in hub_records(hub, client.name)]
    assert set(confirmed) <= set(positions), (confirmed, positions)
    # a fresh page resumes after the last confirmed case, from the restarted service's records
    client.close()
    again = rater_client(hub, "r2")
    again.open_session()
    assert again.position() == max(confirmed) + 1
    again.close()
    print(f"service restarted (pid {pid} -> {new_pids}); page said NOT SAVED first: {said_not_saved}")
