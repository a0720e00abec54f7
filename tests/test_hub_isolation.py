"""No channel between study accounts, tried as a rater with a shell would: from their page's kernel.

One hub; raters r1 and r2 score cohort "pilot", c1 is a coordinator with a JupyterLab kernel. Rater
r1's kernel subscribes (ZMQ SUB, every topic) to every listening TCP socket of the study's other
accounts (from ``/proc/net/tcp``) and to every socket file it can name (``/proc/net/unix``, and a walk
of ``/run``, ``/tmp``, ``/dev/shm`` and the study folder), while r2 scores and the coordinator prints
the key. Nothing may be received -- while the same listener hears r1's own kernel, which shows it
works. Then limits and clean stops: 3 GiB refused in a kernel, a detached process gone after
logout, ``hub remove-user`` right after a session. Needs root and configurable-http-proxy.
"""
from __future__ import annotations

import json
import os
import pwd
import signal
import time
from pathlib import Path

import pytest

from helpers import HubStudy, hub_marks, hub_records, rater_client, running_hub, score_and_save

pytest.importorskip("jupyterhub")

LISTEN_SECONDS = 30

pytestmark = hub_marks(900)


@pytest.fixture(scope="module")
def hub():
    yield from running_hub(HubStudy(n_cases=6, repeat_fraction=0.34),
                           [("r1", "rater"), ("r2", "rater"), ("r4", "rater"), ("c1", "coordinator")])


# What the attacker runs in rater r1's kernel: a listener thread on every reachable socket.
LISTENER = r'''
import os, stat, threading, time, json, socket, errno, glob
import zmq

_me = os.getuid()
_study_uids = set(STUDY_UIDS)
_roots = ["/run", "/dev/shm", STUDY_BASE]  # /proc/net/unix names every bound socket anyway


def _tcp_targets():
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A":  # LISTEN
                continue
            host, port = f[1].rsplit(":", 1)
            uid = int(f[7])
            if uid != _me and uid in _study_uids:
                found.append(("[::1]" if name.endswith("6") else "127.0.0.1", int(port, 16), uid))
    return found


def _unix_targets():
    paths = set()
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[-1].startswith("/"):
            paths.add(f[-1])
    for root in _roots:
        for folder, dirs, files in os.walk(root, onerror=lambda e: None):
            for name in files + dirs:
                path = os.path.join(folder, name)
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        paths.add(path)
                except OSError:
                    pass
    mine = "/run/covsev/%d/" % _me
    # the study's own sockets and the kernels' folders; not other programs' of this machine
    return sorted(p for p in paths if (p.startswith("/run/covsev/") or p.startswith(STUDY_BASE)) and not p.startswith(mine))


def _own_iopub():
    out = []
    for path in glob.glob("/run/covsev/%d/kernel-*.json" % _me):
        info = json.load(open(path))
        if info["transport"] == "ipc":
            out.append("ipc://%s-%d" % (info["ip"], info["iopub_port"]))
        else:
            out.append("tcp://%s:%d" % (info["ip"], info["iopub_port"]))
    return out


ATTACK = {"tcp": [], "unix": [], "connect_errors": {}, "heard": {}, "own": 0, "done": False}


def _listen(seconds):
    context = zmq.Context.instance()
    poller, names = zmq.Poller(), {}
    targets = ["tcp://%s:%d" % (h, p) for h, p, _ in _tcp_targets()] + ["ipc://" + p for p in _unix_targets()]
    ATTACK["tcp"] = [t for t in targets if t.startswith("tcp")]
    ATTACK["unix"] = [t[6:] for t in targets if t.startswith("ipc")]
    for path in ATTACK["unix"]:  # a plain connect says why it is refused
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(path)
            ATTACK["connect_errors"][path] = "connected"
        except OSError as exc:
            ATTACK["connect_errors"][path] = errno.errorcode.get(exc.errno, str(exc))
        finally:
            s.close()
    own = _own_iopub()
    for address in targets + own:
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.RECONNECT_IVL, 500)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(address)
        poller.register(sub, zmq.POLLIN)
        names[sub] = address
    deadline = time.time() + seconds
    while time.time() < deadline:
        for sub, _ in poller.poll(200):
            while True:
                try:
                    parts = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if names[sub] in own:
                    ATTACK["own"] += 1
                else:
                    ATTACK["heard"].setdefault(names[sub], []).append(b" ".join(parts)[:200].decode("utf-8", "replace"))
    for sub in names:
        sub.close()
    ATTACK["done"] = True


threading.Thread(target=_listen, args=(LISTEN_SECONDS,), daemon=True).start()
'''


def _coordinator_kernel(hub: HubStudy):
    """The coordinator logged in, with a kernel of their JupyterLab connected."""
    client = rater_client(hub, "c1")
    client.login()
    client.start_server()
    base = f"{hub.url}/user/{client.name}"
    client.http.get(f"{base}/lab", timeout=120)
    xsrf = next(c.value for c in client.http.cookies if c.name == "_xsrf" and c.path.startswith("/user/"))
    response = client.http.post(f"{base}/api/kernels", json={"name": "python3"}, timeout=120,
                                headers={"X-XSRFToken": xsrf, "Referer": f"{base}/lab"})
    assert response.status_code == 201, response.text[:300]
    client.kernel_id = response.json()["id"]
    client.connect()
    assert client.execute("print(1 + 1)")["stdout"].strip() == "2"
    return client


def _tcp_listeners(uids: set[int]) -> dict[int, list[str]]:
    """``{uid: ["<port> <command line of the process that holds it>", ...]}`` of listening TCP sockets."""
    holders = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                for fd in (entry / "fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        holders[target[8:-1]] = command
            except OSError:
                continue
    out: dict[int, list[str]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(name).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[7]) in uids:
                port = int(f[1].rsplit(":", 1)[1], 16)
                out.setdefault(int(f[7]), []).append(f"{port} {holders.get(f[9], '?')}")
    return out


def test_a_rater_kernel_hears_nothing_of_other_accounts(hub):
    r1, r2 = rater_client(hub, "r1"), rater_client(hub, "r2")
    r1.open_session()
    r2.open_session()
    coordinator = _coordinator_kernel(hub)
    uids = {pwd.getpwnam(hub.name(s)).pw_uid for s in ("r1", "r2", "c1")}

    # every account's kernels are on Unix sockets in its own 0700 folder; none listens on TCP but the
    # account's Jupyter server itself (HTTP, behind the hub's login)
    for name in (r1.name, r2.name, coordinator.name):
        uid = pwd.getpwnam(name).pw_uid
        folder = Path(f"/run/covsev/{uid}")
        info = folder.stat()
        assert (info.st_uid, info.st_mode & 0o777) == (uid, 0o700)
        connections = [json.loads(p.read_text()) for p in folder.glob("kernel-*.json")]
        assert connections and {c["transport"] for c in connections} == {"ipc"}, name
    # On TCP only: each account's Jupyter server (HTTP, behind the hub's login), and in each kernel
    # ipykernel's pipe for subprocess output (a PULL socket: it never sends, and takes only messages
    # that carry the kernel's random key). The listener below tries both kinds anyway.
    listeners = _tcp_listeners(uids)
    for uid, held in listeners.items():
        servers = [h for h in held if "jupyterhub.singleuser" in h]
        assert len(servers) == 1 and all("ipykernel_launcher" in h for h in held if h not in servers), held

    code = (LISTENER.replace("STUDY_UIDS", repr(sorted(uids))).replace("STUDY_BASE", repr(str(hub.base)))
            .replace("LISTEN_SECONDS", str(LISTEN_SECONDS)))
    started = r1.execute(code)
    assert started["status"] == "ok", started
    time.sleep(3)  # the listener has connected everywhere
    # the others work: rater 2 scores, the coordinator prints the key; rater 1's own kernel prints too
    key = coordinator.execute(f"print(open({str(hub.dir / 'cohorts' / 'pilot' / 'key.csv')!r}).read())")
    assert "case_id" in key["stdout"]
    saved = [score_and_save(r2)[0] for _ in range(2)]
    assert [r["position"] for r in hub_records(hub, r2.name)][-2:] == saved
    r1.execute("print('rater 1 prints this')")
    deadline = time.monotonic() + LISTEN_SECONDS + 30
    while time.monotonic() < deadline:
        done = r1.execute("print(ATTACK['done'])")["stdout"].strip()
        if done == "True":
            break
        time.sleep(2)
    result = json.loads(r1.execute("print(json.dumps(ATTACK))")["stdout"])
    assert result["done"]
    assert result["heard"] == {}, f"rater 1 heard other accounts: {result['heard']}"
    assert result["own"] > 0, "the listener heard not even its own kernel: the test proves nothing"
    # it did try the others' kernel sockets, and the operating system refused each one
    others = [p for p in result["unix"] if any(p.startswith(f"/run/covsev/{pwd.getpwnam(n).pw_uid}/")
                                               for n in (r2.name, coordinator.name))]
    assert {Path(p).parent.name for p in others} >= {str(pwd.getpwnam(n).pw_uid) for n in (r2.name, coordinator.name)}
    assert {result["connect_errors"][p] for p in others} == {"EACCES"}, result["connect_errors"]
    assert result["tcp"], "no TCP socket of another account was tried"
    for client in (r1, r2, coordinator):
        client.close()


def test_three_gib_in_a_kernel_is_refused_and_the_page_goes_on(hub):
    client = rater_client(hub, "r2")
    client.open_session()
    big = client.execute("import numpy as np\nx = np.ones(3 * 2**30, dtype=np.uint8)\nprint(int(x.sum()))")
    assert big["ename"] == "MemoryError", big
    assert client.execute("print(6 * 7)")["stdout"].strip() == "42"  # the kernel lives on
    shown = client.position()
    position, _ = score_and_save(client)
    assert position == shown
    client.close()


def _memory_controller() -> bool:
    from covsev_tools.hub.isolation import CGROUP_ROOTS

    v1, v2 = CGROUP_ROOTS
    controllers = (v2 / "cgroup.controllers").read_text() if (v2 / "cgroup.controllers").is_file() else ""
    return (v1 / "memory.limit_in_bytes").is_file() or "memory" in controllers.split()


# Each child stays under the per-process address-space limit (2 GiB) but the two together do not
# fit the server's total (2 GiB with the server and the kernel): the OOM killer ends one of them.
TWO_CHILDREN = r'''
import json, subprocess, sys
code = "import numpy as np, time; x = np.ones(1200 * 2**20, dtype=np.uint8); time.sleep(6)"
children = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
groups = [line for line in open("/proc/self/cgroup").read().splitlines() if "covsev/" in line]
print(json.dumps({"codes": [c.wait() for c in children], "groups": groups}))
'''


def test_a_rater_server_and_its_kernels_share_one_memory_total(hub):
    if not _memory_controller():
        pytest.skip("no cgroup memory controller on this machine: the per-process RLIMIT_AS is the only limit")
    client = rater_client(hub, "r2")
    client.open_session()
    uid = pwd.getpwnam(client.name).pw_uid
    found = json.loads(client.execute(TWO_CHILDREN, timeout=120)["stdout"])
    assert any(line.endswith(f"/covsev/{uid}") for line in found["groups"]), found  # the kernel is in its group
    assert -signal.SIGKILL in found["codes"], found  # one child ended by the group's OOM killer
    assert client.execute("print(6 * 7)")["stdout"].strip() == "42"  # the kernel lives on
    shown = client.position()
    position, _ = score_and_save(client)
    assert position == shown
    client.close()


def _logout(client) -> None:
    client.http.get(f"{client.base}/hub/logout", timeout=60)


def _wait_gone(pid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.5)
    return False


def test_a_detached_process_is_gone_after_logout_and_remove_user_works_at_once(hub):
    from covsev_tools.hub import remove_user
    from covsev_tools.hub.isolation import account_processes

    client = rater_client(hub, "r4")
    client.open_session()
    spawned = client.execute(
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '600'], start_new_session=True, stdin=subprocess.DEVNULL,"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nprint(p.pid)")
    pid = int(spawned["stdout"].strip())
    assert Path(f"/proc/{pid}").exists()
    client.close()
    _logout(client)
    assert _wait_gone(pid), "the rater's detached process outlived the logout"
    uid = pwd.getpwnam(client.name).pw_uid
    assert account_processes(uid) == []
    # and removing the account right after a session works (userdel refuses a busy account)
    again = rater_client(hub, "r4")
    again.open_session()
    again.execute("import subprocess; subprocess.Popen(['sleep', '600'], start_new_session=True)")
    again.close()
    remove_user(hub.dir, client.name)
    with pytest.raises(KeyError):
        pwd.getpwnam(client.name)


def test_logout_ends_the_login_for_every_copy_of_the_cookie_and_every_token(hub):
    import requests

    client = rater_client(hub, "r1")
    client.login()
    api = f"{hub.url}/hub/api"
    headers = {"Referer": f"{hub.url}/hub/", "X-XSRFToken": client.http.cookies.get("_xsrf", path="/hub/")}
    tokens = f"{api}/users/{client.name}/tokens"
    # a token the rater makes expires within 12 h: asked for a year it is refused, asked for no expiry
    # it gets the 12 h
    year = client.http.post(tokens, json={"note": "year", "expires_in": 365 * 86400}, headers=headers, timeout=30)
    assert year.status_code == 400 and "must not exceed 43200" in year.text
    forever = client.http.post(tokens, json={"note": "forever"}, headers=headers, timeout=30)
    assert forever.status_code == 201 and forever.json()["expires_at"] is not None
    made = client.http.post(tokens, json={"note": "short", "expires_in": 3600}, headers=headers, timeout=30)
    assert made.status_code == 201, made.text[:200]
    token = made.json()["token"]
    copied = requests.Session()  # another tab, or a script, with the same cookies
    copied.cookies.update(client.http.cookies)
    assert copied.get(f"{api}/user", headers={"Referer": f"{hub.url}/hub/"}, timeout=30).status_code == 200
    assert requests.get(f"{api}/user", headers={"Authorization": f"token {token}"}, timeout=30).status_code == 200
    _logout(client)
    assert copied.get(f"{api}/user", headers={"Referer": f"{hub.url}/hub/"}, timeout=30).status_code == 403
    assert requests.get(f"{api}/user", headers={"Authorization": f"token {token}"}, timeout=30).status_code == 403
    # and the rater logs in again as usual
    again = rater_client(hub, "r1")
    again.login()
    assert again.http.get(f"{api}/user", headers={"Referer": f"{hub.url}/hub/"}, timeout=30).json()["name"] == client.name
