"""JupyterHub's configuration for a study, built in code from the study folder.

``covsev hub init`` writes ``hub/jupyterhub_config.py`` as three lines that call :func:`configure`,
so the settings live (and are tested) here, and a hub restarted after a covsev upgrade picks up
the new ones.

Examples
--------
>>> from traitlets.config import Config
>>> c = Config()
>>> configure(c, "study")                                 # doctest: +SKIP
>>> c.NativeAuthenticator.enable_signup                   # doctest: +SKIP
False
"""
from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

from covsev_tools.hub.accounts import MIN_PASSWORD_LENGTH, hub_db_url
from covsev_tools.hub.labelservice import service_spec, service_url
from covsev_tools.hub.prestart import prestart_service
from covsev_tools.hub.runtime import rater_python
from covsev_tools.hub.study import Study, StudyError

__all__ = ["HUB_CONFIG", "configure", "find_proxy", "label_service_port"]

#: The generated ``hub/jupyterhub_config.py``.
HUB_CONFIG = (
    "# Written by covsev hub init; the settings are in covsev_tools/hub/hubconfig.py.\n"
    "from pathlib import Path\n\n"
    "from covsev_tools.hub.hubconfig import configure\n\n"
    "configure(c, Path(__file__).resolve().parents[1])  # noqa: F821 (c is JupyterHub's config)\n"
)
FAILED_LOGINS_BEFORE_PAUSE = 5
#: Days a login cookie is valid (then the rater signs in again; logout ends it at once).
SESSION_DAYS = 1
#: Longest life of an API token made through the hub's API (tokens of running servers excepted).
TOKEN_MAX_SECONDS = 12 * 3600
PAUSE_SECONDS = 120


def find_proxy() -> str:
    """Path of ``configurable-http-proxy``: on PATH, else the project-local npm install.

    ``make install`` runs ``npm install --prefix .venv/node configurable-http-proxy``.

    Examples
    --------
    >>> find_proxy()                      # doctest: +SKIP
    '/srv/covsev/.venv/node/node_modules/.bin/configurable-http-proxy'
    """
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    local = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    raise StudyError("configurable-http-proxy not found: run `npm install --prefix "
                     f"{Path(sys.prefix) / 'node'} configurable-http-proxy` (needs nodejs and npm)")


def configure(c, study_dir) -> None:
    """Fill JupyterHub's config object ``c`` for the study in ``study_dir``.

    Examples
    --------
    >>> configure(c, "/srv/study")         # doctest: +SKIP
    """
    study = Study.load(study_dir)
    hub = study.hub_dir
    c.JupyterHub.db_url = hub_db_url(study)
    c.JupyterHub.cookie_secret_file = str(hub / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(hub / "jupyterhub.pid")
    c.JupyterHub.shutdown_on_logout = True
    # A login lasts a working day, not JupyterHub's two weeks; a token a rater makes expires too.
    c.JupyterHub.cookie_max_age_days = SESSION_DAYS
    c.JupyterHub.token_expires_in_max_seconds = TOKEN_MAX_SECONDS
    c.JupyterHub.admin_access = False
    c.JupyterHub.template_vars = {"announcement_login": f"{study.name}: sign in with the account "
                                                       "your study coordinator gave you."}
    c.ConfigurableHTTPProxy.command = [find_proxy()]
    c.ConfigurableHTTPProxy.pid_file = str(hub / "proxy.pid")
    _authentication(c, study)
    _spawning(c, study)
    _services(c, study)


def _authentication(c, study: Study) -> None:
    c.JupyterHub.authenticator_class = "covsev_tools.hub.spawner.StudyAuthenticator"
    c.StudyAuthenticator.study_dir = str(study.dir)
    # The hub adds these to its database when it starts, so `hub prestart` can start the server of
    # a rater who never logged in. Who may log in is still decided at each login from users.json
    # (StudyAuthenticator.check_allowed): a user removed while the hub runs is refused.
    c.StudyAuthenticator.allowed_users = set(study.members())
    c.NativeAuthenticator.enable_signup = False
    c.NativeAuthenticator.open_signup = False
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.minimum_password_length = MIN_PASSWORD_LENGTH
    c.NativeAuthenticator.allowed_failed_logins = FAILED_LOGINS_BEFORE_PAUSE
    c.NativeAuthenticator.seconds_before_next_try = PAUSE_SECONDS


#: What every study server runs: ``jupyterhub-singleuser``, without jsonschema's IRI check. Jupyter
#: Server imports jupyter_events, which imports jsonschema's format checks, and rfc3987-syntax (the
#: "iri" check) compiles a Lark grammar when imported: 1.7 of the 3.2 s of CPU that the server's
#: imports take, in every server start -- about 17 s of a 2-core machine when 20 raters log in
#: together. No event schema of a study server uses the "iri" format.
#: The first line names the program for ``ps`` (and the tests that look for the server's process).
SINGLEUSER_CODE = ("# jupyterhub.singleuser, without jsonschema's IRI grammar (see covsev_tools.hub.hubconfig)\n"
                   "import sys; sys.modules['rfc3987_syntax'] = None\n"
                   "from jupyterhub.singleuser import main; main()")


def _spawning(c, study: Study) -> None:
    c.JupyterHub.spawner_class = "covsev_tools.hub.spawner.StudySpawner"
    c.StudySpawner.study_dir = str(study.dir)
    c.Spawner.cmd = [rater_python(study), "-c", SINGLEUSER_CODE]
    # Twenty raters logging in within the same minute on a two-core server start twenty Jupyter
    # servers at once (~4 s of CPU each); two minutes were not always enough for the last one.
    c.Spawner.start_timeout = 300
    c.Spawner.http_timeout = 300
    c.Spawner.disable_user_config = True
    # A server that died (kill -9, out of memory) is noticed within seconds, so the rater's next
    # login starts a fresh one instead of landing on a proxy error.
    c.Spawner.poll_interval = 10
    # A server that cannot start is explained on the hub's page in plain words (see spawner.CannotStartError).
    c.JupyterHub.template_paths = [str(Path(__file__).parent / "templates")]


def label_service_port(study: Study) -> int:
    """The label service's port: the third of ``hub/ports.json`` (written by ``hub start``), else a free one.

    Examples
    --------
    >>> label_service_port(Study.load("study"))       # doctest: +SKIP
    40123
    """
    try:
        ports = json.loads((study.hub_dir / "ports.json").read_text())
        return int(ports[2])
    except (OSError, ValueError, TypeError, IndexError, KeyError):
        with socket.socket() as sock:  # jupyterhub started without `covsev hub start`
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def _services(c, study: Study) -> None:
    """The label service (raters' saves, see :mod:`covsev_tools.hub.labelservice`) and the idle culler.

    The culler stops servers idle for the study's timeout; every save is already on disk, so nothing is lost.
    """
    timeout = int(study.settings["idle_timeout"])
    port = label_service_port(study)
    c.StudySpawner.label_service_url = service_url(port)
    prestart, prestart_role = prestart_service(study)
    c.JupyterHub.services = [service_spec(study.dir, port, rater_python(study)), {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={timeout}",
                    f"--cull-every={max(30, timeout // 4)}"],
    }, prestart]
    c.JupyterHub.load_roles = [{
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }, prestart_role]
