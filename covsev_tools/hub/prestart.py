"""Start the raters' servers before a reading session, so that logging in does not wait for them.

A rater's first login starts their Jupyter server: about 1.5 s of CPU, most of it importing
Jupyter Server, Voila and JupyterHub. One rater alone waits 3-4 s; twenty raters who log in
together at the start of a session share the study machine's cores for forty processes (server
and kernel each) and the last of them waited about 30 s on two cores (``benchmarks/hub_load.py``).
``covsev hub prestart`` starts every assigned rater's server ahead of the session through the
hub's REST API (as JupyterHub deployments do before a class), so that a login only opens the
page and its kernel.

A started server is the same server a login would start (as the rater's account, with their
case list and limits); nobody can reach it before the rater logs in. A server nobody uses is
stopped by the idle culler after the study's idle timeout, so prestart at most that long before
the session (default: an hour).

The hub's API is reached with the token of a JupyterHub service, ``covsev-prestart``, whose only
permission is to start and stop the servers of the study's raters; the token is in ``hub/`` (root
only), and is sent only to a root process listening on the hub's port (a rater's process could
listen there while the hub is down) and never through an HTTP proxy of the environment.

Examples
--------
>>> prestart_servers("/srv/study")                   # doctest: +SKIP
{'rad1': 'started', 'rad2': 'started', 'rad3': 'already running'}
"""
from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

from covsev_tools.hub.accounts import _session  # the one opener of the hub's database (0600, quiet)
from covsev_tools.hub.study import Study, StudyError

__all__ = ["PRESTART_SERVICE", "listener_uid", "prestart_servers", "prestart_service", "revoke_old_tokens"]

#: The JupyterHub service whose token ``covsev hub prestart`` uses.
PRESTART_SERVICE = "covsev-prestart"
TOKEN_FILE = "prestart_token"
#: Seconds between two looks at the servers being started.
POLL_SECONDS = 1.0


def _token(study: Study, create: bool) -> str:
    path = study.hub_dir / TOKEN_FILE
    if not path.exists() and create:
        old = os.umask(0o077)  # root only from the start, like the cookie secret
        try:
            path.write_text(secrets.token_hex(32) + "\n")
        finally:
            os.umask(old)
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise StudyError(f"{path}: cannot read the prestart token ({exc.strerror}); covsev hub prestart needs "
                         "root and a hub started with covsev hub start") from None
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
        raise StudyError(f"{path}: not a token written by covsev (delete it and restart the hub: "
                         "covsev hub start then makes a new one and revokes the old)")
    return token


def prestart_service(study: Study) -> tuple[dict, dict]:
    """The service and role entries of the hub's configuration (the token is made on first use).

    The role may start and stop the servers of the study's raters as the hub starts, nothing else
    (not coordinators' servers, not users' tokens or accounts).

    Examples
    --------
    >>> service, role = prestart_service(Study.load("/srv/study"))   # doctest: +SKIP
    >>> service["name"], role["scopes"]                               # doctest: +SKIP
    ('covsev-prestart', ['servers!user=rad1', 'servers!user=rad2'])
    """
    service = {"name": PRESTART_SERVICE, "api_token": _token(study, create=True)}
    role = {"name": PRESTART_SERVICE, "scopes": [f"servers!user={name}" for name in study.members("rater")],
            "services": [PRESTART_SERVICE]}
    return service, role


def revoke_old_tokens(study: Study) -> int:
    """Delete every token of the prestart service in the hub's database but the one in ``hub/``.

    JupyterHub adds the configured token at each start and never removes an earlier one, so a
    token file that was replaced would leave the old token valid. Run by ``hub start`` (root,
    before JupyterHub opens the database). The number of tokens deleted.

    Examples
    --------
    >>> revoke_old_tokens(Study.load("/srv/study"))        # doctest: +SKIP
    0
    """
    from jupyterhub import orm

    if not (study.hub_dir / TOKEN_FILE).exists() or not (study.hub_dir / "jupyterhub.sqlite").exists():
        return 0
    keep = _token(study, create=False)
    session = _session(study)
    try:
        service = orm.Service.find(session, PRESTART_SERVICE)
        if service is None:
            return 0
        old = [token for token in service.api_tokens if not token.match(keep)]
        for token in old:
            session.delete(token)
        session.commit()
        return len(old)
    finally:
        session.close()


def listener_uid(port: int, tables=("/proc/net/tcp", "/proc/net/tcp6")) -> int | None:
    """The uid of the socket listening on TCP ``port`` of this machine (any address), or None.

    Examples
    --------
    >>> import socket
    >>> with socket.socket() as sock:
    ...     sock.bind(("127.0.0.1", 0)); sock.listen()
    ...     listener_uid(sock.getsockname()[1]) == os.geteuid()
    True
    """
    for table in tables:
        try:
            lines = open(table, encoding="ascii").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "0100007F:1F90", state 0A = LISTEN, then tx/rx, timers, retransmits, uid
            if len(fields) > 7 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return int(fields[7])
    return None


def _hub_api(study: Study) -> str:
    try:
        port = int(json.loads((study.hub_dir / "ports.json").read_text())[0])
    except (OSError, ValueError, TypeError, IndexError):
        raise StudyError(f"{study.hub_dir / 'ports.json'}: no hub port; start the hub first "
                         "(covsev hub start)") from None
    # the port is no secret (every rater server is told the hub's API address): only a root
    # process -- the hub -- gets the token, never a rater's process holding the port while the hub is down
    owner = listener_uid(port)
    if owner != 0:
        raise StudyError(f"the hub does not listen on its port {port} (" +
                         ("nothing listens there" if owner is None else f"a process of uid {owner} does") +
                         "): is it running (covsev hub start)?")
    return f"http://127.0.0.1:{port}/hub/api"


#: Straight to the hub on 127.0.0.1: never through an HTTP proxy set in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _call(api: str, token: str, method: str, path: str) -> tuple[int, dict]:
    request = urllib.request.Request(api + path, method=method, headers={"Authorization": f"token {token}"})
    try:
        with _OPENER.open(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise StudyError(f"the hub does not answer at {api} ({getattr(exc, 'reason', exc)}); "
                         "is it running (covsev hub start)?") from None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {}
    return status, data if isinstance(data, dict) else {}


def _server_state(api: str, token: str, name: str) -> str | None:
    """'ready', 'pending' or 'stopped' from the hub's model of the user; None if the user is unknown.

    An answer that is not the user's model (a hub too busy to answer in time, a 5xx) is 'pending':
    ask again at the next look.
    """
    try:
        status, user = _call(api, token, "GET", f"/users/{urllib.parse.quote(name)}")
    except StudyError:
        return "pending"
    if status == 404:
        return None
    if status != 200:
        return "pending"
    server = (user.get("servers") or {}).get("")
    if not server:
        return "stopped"
    return "ready" if server.get("ready") else "pending"


def prestart_servers(study_dir, *, timeout: float = 600, progress: bool = True) -> dict[str, str]:
    """Start the server of every rater with an active case list; wait until each is ready.

    Parameters
    ----------
    study_dir : path
        The study folder of a running hub (``covsev hub start``).
    timeout : float
        Seconds to wait for all servers; those not ready by then are reported as such.
    progress : bool
        Show a progress bar of servers ready.

    Returns
    -------
    dict
        Rater -> ``"started"``, ``"already running"`` or why it did not start.

    Raises
    ------
    StudyError
        The hub does not answer, or the token cannot be read (needs root).

    Examples
    --------
    >>> prestart_servers("/srv/study", progress=False)   # doctest: +SKIP
    {'rad1': 'started', 'rad2': 'already running'}
    """
    from tqdm.auto import tqdm

    study = Study.load(study_dir)
    api, token = _hub_api(study), _token(study, create=False)
    raters = [name for name in study.members("rater") if study.active_cohort(name)]
    outcome: dict[str, str] = {}
    waiting: list[str] = []
    for name in raters:
        # the hub knows a user once they have logged in or been added to it; starting makes them known
        status, body = _call(api, token, "POST", f"/users/{urllib.parse.quote(name)}/server")
        if status in (201, 202):
            outcome[name] = "started"
            waiting.append(name)
        elif status == 400 and "already running" in str(body.get("message", "")):
            outcome[name] = "already running"
        elif status in (403, 404):  # added after the hub started: its users and the service's role predate them
            outcome[name] = "not known to the hub yet (added after it started: restart it, or they log in once)"
        elif status >= 500:  # the spawner refused at once (e.g. the account cannot reach the installation)
            outcome[name] = "failed to start (the hub's log says why)"
        else:
            outcome[name] = f"not started: {body.get('message') or f'HTTP {status}'}"
    deadline = time.monotonic() + timeout
    with tqdm(total=len(waiting), desc="rater servers ready", unit="server", disable=not progress) as bar:
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                state = _server_state(api, token, name)
                if state == "ready":
                    waiting.remove(name)
                    bar.update(1)
                elif state in ("stopped", None):  # the spawn failed; the hub's log has the reason
                    outcome[name] = "failed to start (see the hub's log)"
                    waiting.remove(name)
                    bar.update(1)
            if waiting:
                time.sleep(POLL_SECONDS)
    for name in waiting:
        outcome[name] = f"not ready after {timeout:.0f} s"
    return outcome
