"""Running the hub: ``covsev hub start``.

Refuses, in one line each: a non-root start (JupyterHub must create and switch to each rater's
account), an address beyond localhost without TLS (unless ``insecure``), and a missing proxy.

Examples
--------
>>> hub_command("study", port=8000)                       # doctest: +SKIP
['/.../python', '-m', 'jupyterhub', '-f', '/.../study/hub/jupyterhub_config.py', ...]
"""
from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from covsev_tools.files import write_text_atomic
from covsev_tools.hub.accounts import ensure_label_account
from covsev_tools.hub.hubconfig import find_proxy
from covsev_tools.hub.isolation import proc_hides_pids
from covsev_tools.hub.permissions import apply_permissions, exposed_originals
from covsev_tools.hub.preflight import check_study_account
from covsev_tools.hub.prestart import revoke_old_tokens
from covsev_tools.hub.runtime import compile_bytecode
from covsev_tools.hub.admin import protect_cohort_sources
from covsev_tools.hub.study import Study, StudyError

__all__ = ["LOCAL_ADDRESSES", "free_port", "hub_command", "start_hub"]

LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 now.

    Examples
    --------
    >>> 1024 < free_port() < 65536
    True
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the hub binds: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _internal_ports(study: Study) -> tuple[int, int, int]:
    """The hub API, proxy API and label service ports: the same as last time when free (hub/ports.json).

    Rater servers that outlived a killed hub keep talking to the hub API and label service ports
    they were given, so a restarted hub listens there again and they carry on.
    """
    path = study.hub_dir / "ports.json"
    try:
        ports = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        ports = []
    if len(ports) == 2:  # written before the label service
        ports.append(free_port())
    if len(ports) != 3:
        ports = [free_port(), free_port(), free_port()]
    # Only the hub's port must stay; a proxy left over from a killed hub is replaced by JupyterHub.
    ports = [p if _port_free(p) else free_port() for p in ports]
    write_text_atomic(path, json.dumps(ports) + "\n")
    return ports[0], ports[1], ports[2]


def hub_command(study_dir, ip: str = "127.0.0.1", port: int = 8000, ssl_cert=None, ssl_key=None,
                insecure: bool = False) -> list[str]:
    """The ``jupyterhub`` command line for the study, after checking the address and TLS rules.

    Examples
    --------
    >>> hub_command("study", ip="0.0.0.0")         # doctest: +SKIP
    Traceback (most recent call last):
    StudyError: refusing to listen on 0.0.0.0 without TLS: ...
    """
    study = Study.load(study_dir)
    if (ssl_cert is None) != (ssl_key is None):
        raise StudyError("give both --ssl-cert and --ssl-key, or neither")
    for path in (ssl_cert, ssl_key):
        if path is not None and not Path(path).is_file():
            raise StudyError(f"{path}: no such file")
    if ip not in LOCAL_ADDRESSES and ssl_cert is None and not insecure:
        raise StudyError(f"refusing to listen on {ip} without TLS: passwords would cross the network "
                         "in clear; give --ssl-cert and --ssl-key (or --insecure behind a TLS proxy)")
    find_proxy()
    hub_port, proxy_api_port, _label_port = _internal_ports(study)  # the label port: read by hubconfig
    command = [sys.executable, "-m", "jupyterhub", "-f", str(study.hub_dir / "jupyterhub_config.py"),
               f"--ip={ip}", f"--port={int(port)}",
               f"--JupyterHub.hub_bind_url=http://127.0.0.1:{hub_port}",
               f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{proxy_api_port}"]
    if ssl_cert is not None:
        command += [f"--ssl-cert={Path(ssl_cert).resolve()}", f"--ssl-key={Path(ssl_key).resolve()}"]
    return command


def start_hub(study_dir, ip: str = "127.0.0.1", port: int = 8000, ssl_cert=None, ssl_key=None,
              insecure: bool = False) -> None:
    """Check the machine and the study folder, then replace this process with JupyterHub.

    Never returns; JupyterHub stops with Ctrl-C (SIGINT) or SIGTERM and stops the servers it started.

    Examples
    --------
    >>> start_hub("/srv/study", port=8000)        # doctest: +SKIP
    """
    if os.geteuid() != 0:
        raise StudyError("covsev hub start needs root: JupyterHub creates no accounts itself but must "
                         "start each rater's server as that rater's Unix account; run it with sudo")
    command = hub_command(study_dir, ip, port, ssl_cert, ssl_key, insecure)
    study = Study.load(study_dir)
    ensure_label_account(study)  # studies made before the label service get its account here
    apply_permissions(study)
    for path in protect_cohort_sources(study):
        print(f"note: {path} was readable by every account; closed (chmod o-rwx)", file=sys.stderr)
    if compile_bytecode() is None:
        print("note: covsev's bytecode cache could not be written in full (an installation root does not own "
              "or cannot write): raters' servers and kernels compile those modules at each start", file=sys.stderr)
    if revoke_old_tokens(study):
        print("note: an earlier token of the covsev-prestart service was revoked", file=sys.stderr)
    check_study_account(study)
    for folder in exposed_originals(study):
        print(f"warning: original images in {folder} are readable by every account on this machine "
              f"(chmod o-rwx {folder})", file=sys.stderr)
    if not proc_hides_pids():
        print("warning: /proc is mounted without hidepid: every account sees every process's command line "
              "(mount -o remount,hidepid=invisible /proc; see the README's hardening list)", file=sys.stderr)
    scheme = "https" if ssl_cert else "http"
    print(f"covsev hub: {study.name} at {scheme}://{ip}:{port}/ (stop with Ctrl-C)", file=sys.stderr, flush=True)
    os.chdir(study.hub_dir)
    os.execv(command[0], command)
