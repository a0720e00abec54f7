"""The hub's two study-aware parts: who may log in, and what server each user gets.

:class:`StudyAuthenticator` is NativeAuthenticator (hashed passwords, throttling after failed
logins) that lets in only the users of the study's ``users.json``. :class:`StudySpawner` is
JupyterHub's LocalProcessSpawner -- each server runs as the user's own Unix account -- that gives a
rater the scoring page of their active assignment and a coordinator JupyterLab on the study folder.

Examples
--------
In the generated ``hub/jupyterhub_config.py`` (see :func:`covsev_tools.hub.hubconfig.configure`)::

    c.JupyterHub.spawner_class = "covsev_tools.hub.spawner.StudySpawner"
"""
from __future__ import annotations

import asyncio
import functools
import os
import pwd
import shutil
import sys
from pathlib import Path

from jupyterhub.handlers.login import LogoutHandler
from jupyterhub.spawner import LocalProcessSpawner
from nativeauthenticator import NativeAuthenticator
from tornado import web
from traitlets import Unicode

from covsev_tools.hub.isolation import (KERNEL_TRANSPORT_ARGS, account_cgroup, end_account_processes,
                                        join_cgroup, limit_resources, memory_cgroup, prepare_runtime_dir,
                                        remove_cgroup, runtime_dir)
from covsev_tools.hub.labelservice import LABEL_SERVICE_ENV
from covsev_tools.hub.permissions import prepare_rater
from covsev_tools.hub.preflight import unreachable_for
from covsev_tools.hub.study import Study
from covsev_tools.scoring.access import NO_CASES_ENV
from covsev_tools.scoring.offline import voila_template_root

__all__ = ["CannotStartError", "EndSessionLogoutHandler", "NoAssignmentError", "StudyAuthenticator", "StudySpawner", "SCORING_NOTEBOOK"]

#: The notebook Voila renders on a rater's server (in the study's ``app/`` folder).
SCORING_NOTEBOOK = "scoring.ipynb"


class CannotStartError(web.HTTPError):
    """The account's server cannot start; the hub's page says why in plain words, at once.

    An HTTP error (503) with the rater's message as ``jupyterhub_message``: JupyterHub shows any
    other exception of a spawn that fails within its first second as "500 : Internal Server Error
    -- Unhandled error starting server". The study's templates (``hub/templates``) put
    :attr:`covsev_title` above the message instead of the status code.

    Examples
    --------
    >>> error = CannotStartError("Your scoring page cannot start: ... Tell your study coordinator.")
    >>> error.status_code, str(error)
    (503, 'Your scoring page cannot start: ... Tell your study coordinator.')
    """

    covsev_title = "Your scoring page cannot open"

    def __init__(self, message: str):
        super().__init__(503)
        self.jupyterhub_message = message

    def __str__(self) -> str:
        return self.jupyterhub_message


class NoAssignmentError(CannotStartError):
    """A user who is no longer in the study logged in; the hub shows this message on its page."""


#: Failed logins from one client address, over all accounts, after which that address waits.
ADDRESS_FAILED_LOGINS = 20


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    """A bcrypt hash of nothing, checked for unknown user names (same cost as a real check)."""
    import bcrypt

    return bcrypt.hashpw(os.urandom(16), bcrypt.gensalt())


class EndSessionLogoutHandler(LogoutHandler):
    """``/hub/logout`` that ends the login everywhere, not only in this browser.

    JupyterHub's logout clears the browser's cookie, but a copy of it made before (another tab, a
    script) stays valid: the cookie holds the user's ``cookie_id``, which never changes. Here the
    ``cookie_id`` is replaced and every API token of the user is deleted, so every earlier cookie
    and token stops working (the server was already stopped by ``shutdown_on_logout``).
    """

    async def handle_logout(self):
        """Rotate the user's cookie ID and delete their tokens."""
        from jupyterhub.utils import new_token

        user = self.current_user
        if user is None:
            return
        user.orm_user.cookie_id = new_token()
        for token in list(user.orm_user.api_tokens):
            self.db.delete(token)
        self.db.commit()


class StudyAuthenticator(NativeAuthenticator):
    """NativeAuthenticator restricted to the users of one study folder, whose logout ends the login."""

    study_dir = Unicode(config=True, help="The study folder whose users.json lists who may log in.")

    def check_allowed(self, username, authentication=None):
        """Only users of the study (read at each login, so removals take effect at once)."""
        return Study.load(self.study_dir).role(username) is not None

    async def authenticate(self, handler, data):
        """NativeAuthenticator's check, throttled per account *and address*, as slow for a wrong name.

        Failures count per (account, client address): five wrong passwords from one address pause
        that account for that address only, so nobody can lock a rater out from elsewhere. An
        address with :data:`ADDRESS_FAILED_LOGINS` failures over all accounts is paused as a whole.
        An unknown user name costs one bcrypt check, as a wrong password does, so the answer's
        timing does not tell which names exist.
        """
        import bcrypt

        username = self.normalize_username(data.get("username", ""))
        password = str(data.get("password", ""))
        address = getattr(getattr(handler, "request", None), "remote_ip", "") or ""
        key, address_key = f"{username}\0{address}", f"\0{address}"
        if self.allowed_failed_logins and (self.is_blocked(key) or self._address_blocked(address_key)):
            return None
        user = self.get_user(username)
        # bcrypt takes ~0.3 s of CPU: in a thread (it releases the GIL), so that twenty raters logging
        # in together neither wait for each other's checks one by one nor stall the hub's event loop.
        check = functools.partial(bcrypt.checkpw, password.encode(),
                                  _dummy_hash() if user is None else user.password)
        matches = await asyncio.get_running_loop().run_in_executor(None, check)
        valid = user is not None and matches and user.is_authorized
        if valid:
            self.successful_login(key)
            return username
        self.add_login_attempt(key)
        self.add_login_attempt(address_key)
        return None

    def _address_blocked(self, address_key: str) -> bool:
        attempts = self.login_attempts.get(address_key)
        return bool(attempts and attempts["count"] >= ADDRESS_FAILED_LOGINS
                    and not self.can_try_to_login_again(address_key))

    def get_handlers(self, app):
        """NativeAuthenticator's pages, and a logout that invalidates earlier cookies and tokens."""
        return [*super().get_handlers(app), (r"/logout", EndSessionLogoutHandler)]


class StudySpawner(LocalProcessSpawner):
    """Local processes as the user's Unix account: scoring page for raters, JupyterLab for coordinators.

    Every server, whatever the role, gets kernels on Unix sockets in its account's private runtime
    folder, the study's resource limits, and, when it stops, the end of every process of its account
    (see :mod:`covsev_tools.hub.isolation`).
    """

    study_dir = Unicode(config=True, help="The study folder.")
    #: What the running server was started for (a rater's cohort, ``""`` for the nothing-to-score page);
    #: when the study says otherwise (``hub finish``, ``hub assign``), the next poll stops the server.
    started_for = Unicode(None, allow_none=True)
    #: Where rater pages save (:mod:`covsev_tools.hub.labelservice`); set by the hub's configuration.
    label_service_url = Unicode("", config=True, help="The label service's address for rater pages.")

    async def start(self):
        """Set the role's folder, landing page and environment, then start the server."""
        study = Study.load(self.study_dir)
        role = study.role(self.user.name)
        if role == "rater":
            self._as_rater(study)
        elif role == "coordinator":
            self._as_coordinator(study)
        else:
            raise NoAssignmentError(f"{self.user.name} is no longer a user of this study.")
        reason = unreachable_for(study, self.user.name)
        if reason is not None:  # fail now, on the hub's page, not after a 300-second spinner
            raise CannotStartError(f"Your scoring page cannot start: {reason}. Tell your study coordinator.")
        account = pwd.getpwnam(self.user.name)
        # Whatever an earlier session of this account left running (the hub lost track of it) goes
        # first: a new server starts alone.
        await asyncio.get_running_loop().run_in_executor(None, end_account_processes, account.pw_uid)
        folder = prepare_runtime_dir(account.pw_uid, account.pw_gid)
        self.environment["JUPYTER_RUNTIME_DIR"] = str(folder)
        # On the command line: it outranks any config file, the coordinator's own ~/.jupyter included.
        self.args = list(KERNEL_TRANSPORT_ARGS) + getattr(self, "_role_args", [])
        # Address space for raters only: importing torch alone maps more than 2 GiB of libraries,
        # and coordinators run the model in their JupyterLab.
        memory = study.limit("memory_limit_mb") * 2**20 if role == "rater" else None
        self._limits = (memory, study.limit("max_processes"))
        # ... and the same figure as the total of the server with all its kernels, where cgroups can
        # be used: RLIMIT_AS alone would let two kernels take twice it
        self._cgroup = memory_cgroup(account.pw_uid, memory) if memory else None
        ip, port = await super().start()
        await self._wait_listening(ip, port)
        return ip, port

    async def _wait_listening(self, ip: str, port: int) -> None:
        """Until the server accepts connections; a clear error at once if its process ends first.

        JupyterHub itself would wait the whole ``http_timeout`` (300 s) for a server whose process
        exited at its first line (an installation the account cannot import, a broken config), and
        the rater would watch a spinner all that time.
        """
        deadline = asyncio.get_running_loop().time() + self.start_timeout
        while asyncio.get_running_loop().time() < deadline:
            status = await LocalProcessSpawner.poll(self)
            if status is not None:
                raise CannotStartError(f"Your scoring page cannot start: its server stopped at once (exit status "
                                       f"{status}; the hub's log says why). Tell your study coordinator.")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip or "127.0.0.1", port), 5)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)
                continue
            writer.close()
            return

    def make_preexec_fn(self, name):
        """Lower the limits, then become the account (limits first: a rater could not lower them after)."""
        become = super().make_preexec_fn(name)
        memory, processes = getattr(self, "_limits", (None, None))

        group = getattr(self, "_cgroup", None)

        def preexec():
            join_cgroup(group)
            limit_resources(memory, processes)
            become()

        return preexec

    async def stop(self, now=False):
        """Stop the server, then every other process of the account (a detached one included)."""
        await super().stop(now=now)
        try:
            uid = pwd.getpwnam(self.user.name).pw_uid
        except KeyError:
            return  # the account is gone already
        if uid == 0:
            return
        await asyncio.get_running_loop().run_in_executor(None, end_account_processes, uid)
        shutil.rmtree(runtime_dir(uid), ignore_errors=True)
        # the group this hub made, or (a server started before a hub restart) the one found by name
        remove_cgroup(getattr(self, "_cgroup", None) or account_cgroup(uid))

    def _as_rater(self, study: Study) -> None:
        cohort = study.active_cohort(self.user.name)
        self.started_for = cohort or ""
        self._role_args = []
        self.notebook_dir = str(study.app_dir)
        self.default_url = f"/voila/render/{SCORING_NOTEBOOK}"
        self.environment = {
            "COVSEV_LABELS_DIR": str(study.labels_dir),
            # Root-owned config: a rater cannot turn Lab or terminals back on from ~/.jupyter.
            "JUPYTER_CONFIG_DIR": str(study.rater_config_dir),
            **_common_environment(study),
        }
        if self.label_service_url:  # the page saves through the hub's service, never to a file of its own
            self.environment[LABEL_SERVICE_ENV] = self.label_service_url
        if cohort is None:  # the same page, saying so (and how to log out), rather than a failed spawn
            self.environment[NO_CASES_ENV] = _nothing_to_score(study, self.user.name)
            return
        prepare_rater(study, self.user.name, cohort)
        self.environment["COVSEV_COHORT"] = str(study.cohort_dir(cohort))

    def _as_coordinator(self, study: Study) -> None:
        self.started_for = None
        self.notebook_dir = str(study.dir)
        self.default_url = "/lab"
        common = _common_environment(study)
        self.environment = {"COVSEV_STUDY": str(study.dir), "COVSEV_LABELS_DIR": str(study.labels_dir),
                            # root-owned config: the terminal's shell (see hub.admin._write_coordinator_tools)
                            "JUPYTER_CONFIG_DIR": str(study.app_dir / "coordinator"),
                            # covsev (app/bin, made by hub init) before the system's commands
                            "PATH": os.pathsep.join([str(study.app_dir / "bin"), "/usr/local/bin", "/usr/bin",
                                                     "/bin"]),
                            **common}
        # JupyterLab asks about "Jupyter news" (from the internet): off, from the study's settings folder
        self._role_args = [f"--LabApp.app_settings_dir={study.app_dir / 'lab-settings'}",
                           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]

    async def poll(self):
        """The process's state; a rater's server whose assignment changed is stopped (status 0).

        ``hub finish`` (by a coordinator, from any account) only writes ``users.json``; the hub polls
        every ``poll_interval`` seconds, and here the server stops, so a finished rater cannot change
        a case afterwards. Their next login gets the page saying there is nothing to score.
        """
        status = await super().poll()
        if status is not None or self.started_for is None or getattr(self, "_stopping", False):
            return status
        try:
            now = Study.load(self.study_dir).active_cohort(self.user.name) or ""
        except Exception:  # a study file being rewritten: ask again at the next poll
            return None
        if now == self.started_for:
            return None
        self.log.info("covsev: %s's assignment changed (%r -> %r): stopping their server",
                      self.user.name, self.started_for, now)
        self._stopping = True
        try:
            await self.stop()
        finally:
            self._stopping = False
        return 0

    def get_state(self):
        """The process's state plus what it was started for (kept across hub restarts)."""
        state = super().get_state()
        if self.started_for is not None:
            state["covsev_started_for"] = self.started_for
        return state

    def load_state(self, state):
        """Restore :meth:`get_state`."""
        super().load_state(state)
        self.started_for = state.get("covsev_started_for")

    def clear_state(self):
        """Forget the process (and what it was started for)."""
        super().clear_state()
        self.started_for = None


def _nothing_to_score(study: Study, name: str) -> str:
    """What a rater without an active assignment reads: finished, or not assigned yet."""
    entry = study.member(name) or {"assignments": []}
    if entry["assignments"] and all(a["status"] == "finished" for a in entry["assignments"]):
        return ("Your case list is finished: thank you. Every score you saved is kept. Your study "
                "coordinator will tell you if there is more to score.")
    return ("You have no case list to score at the moment. Your study coordinator will tell you when "
            "one is assigned to you.")


def _common_environment(study: Study) -> dict[str, str]:
    """The study's kernel spec (an interpreter the account can run) first; no per-user site-packages.

    Then covsev's offline Voila template, then this environment's data files.
    """
    # This environment's data files (Voila templates, widget JavaScript) after the study's kernel spec:
    # a study runtime in app/runtime has a prefix of its own that holds none of them.
    # The offline template must be on JUPYTER_PATH before the server starts: with disable_user_config,
    # jupyterhub-singleuser freezes the data path before config files run, so a JUPYTER_PATH set in
    # app/config/jupyter_server_config.py never reaches Voila (the page then waits forever).
    data = os.pathsep.join([str(study.app_dir / "jupyter"), str(voila_template_root()),
                            str(Path(sys.prefix) / "share" / "jupyter")])
    return {"JUPYTER_PATH": data, "JUPYTERLAB_DIR": str(Path(sys.prefix) / "share" / "jupyter" / "lab"),
            # which server extensions are installed (Voila, JupyterLab): this environment's etc/jupyter
            "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"), "PYTHONNOUSERSITE": "1",
            # glibc reserves 64 MiB of address space per thread arena; under the address-space limit
            # that would be memory the kernel cannot use.
            "MALLOC_ARENA_MAX": "2"}
