"""The label service: the hub's own writer of the raters' label logs.

A rater can run code in the page's kernel, so nothing that kernel may write can be trusted: a
rater who owned their log could add records their page never made, and one who owned their
reading order could drop the hidden repeats from it. On the hub, therefore, neither file is the
rater's. Both belong to the service account (:data:`LABEL_ACCOUNT`, group coordinators, 0640; the
log append-only), and the page saves through this small JupyterHub service, run by the hub as
that account on 127.0.0.1:

- the rater's identity comes from the hub's token (the page's ``$JUPYTERHUB_API_TOKEN``, asked of
  the hub with :class:`jupyterhub.services.auth.HubAuth`), never from the request: a ``rater`` in
  the body that is not the token's user is refused;
- the user must be a rater of the study, the cohort their active assignment, the case in their
  reading order (at its position), and the record must pass the one schema
  (:func:`covsev_tools.labels.records.check_record`: size, non-finite numbers, dates);
- the service sets ``time_saved``, ``record_id``, ``schema`` and ``cohort`` itself (a record that
  brings its own is refused), appends under
  the log's lock and fsyncs (:meth:`covsev_tools.labels.store.LabelStore.save`), and only then
  answers 201; the page says "saved" only after that answer.

Routes, under the service's prefix (``/services/covsev-labels/``)::

    GET  api/<cohort>/order     the rater's reading order        {"order": [...]}
    GET  api/<cohort>/records   the rater's records, log order   {"records": [...], "latest": [...]}
    POST api/<cohort>/records   save one record                  201 {"record": {...}}

and the same under ``api/training/<set>/`` for the training round the rater's assignment requires
(``labels/_training/<set>/``; one record per case).

The hub starts the service (``c.JupyterHub.services``, see :func:`service_spec`) and starts it
again if it exits; the page (:class:`covsev_tools.labels.remote.ServiceLabelStore`) retries a
save the service did not answer, and says "NOT SAVED" until one is acknowledged.

Examples
--------
>>> spec = service_spec("/srv/study", 8765, "/usr/bin/python3")
>>> spec["name"], spec["user"], spec["url"]
('covsev-labels', 'covsev-labels', 'http://127.0.0.1:8765')
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["LABEL_ACCOUNT", "SERVICE_NAME", "LABEL_SERVICE_ENV", "make_app", "service_spec", "service_url", "main"]

#: The service's name in the hub (its URL prefix is ``/services/<name>/``).
SERVICE_NAME = "covsev-labels"
#: The Unix account the service runs as: owner of every rater's label log and reading order.
LABEL_ACCOUNT = "covsev-labels"
#: Where a rater's page finds the service (set by the spawner): ``http://127.0.0.1:<port>/services/covsev-labels/``.
LABEL_SERVICE_ENV = "COVSEV_LABEL_SERVICE"
#: Longest request body accepted (a record is a few hundred bytes; the log's line limit is 1 MiB).
MAX_BODY_BYTES = 1024 * 1024
#: Seconds the service trusts the hub's answer about a token (logout deletes tokens; a stopped server's too).
TOKEN_CACHE_SECONDS = 60
#: Fields only the service sets: a record from a page never chooses its time, identity or place.
SERVICE_FIELDS = ("record_id", "schema", "cohort", "time_saved")


def service_spec(study_dir, port: int, python: str) -> dict:
    """The entry of ``c.JupyterHub.services`` that runs the label service as :data:`LABEL_ACCOUNT`.

    Examples
    --------
    >>> service_spec("/srv/study", 8765, "/usr/bin/python3")["command"][-1]
    '/srv/study'
    """
    return {"name": SERVICE_NAME, "user": LABEL_ACCOUNT, "url": f"http://127.0.0.1:{int(port)}",
            # a `-c` line that imports main: the service needs none of the hub's other modules
            "command": [python, "-c", "import sys; from covsev_tools.hub.labelservice import main; main(sys.argv[1:])",
                        str(Path(study_dir))],
            "cwd": "/", "environment": {"PYTHONNOUSERSITE": "1", "HOME": "/"}}


def service_url(port: int) -> str:
    """The address a rater's page saves to: straight to 127.0.0.1, as a server reaches the hub's API.

    The service answers under any prefix that ends in ``services/covsev-labels/``, so the hub's
    ``base_url`` (seen only by the proxy's routes) does not matter here.

    Examples
    --------
    >>> service_url(8765)
    'http://127.0.0.1:8765/services/covsev-labels/'
    """
    return f"http://127.0.0.1:{int(port)}/services/{SERVICE_NAME}/"


class _Refused(Exception):
    """A request the service answers with ``status`` and one line saying why."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _changed(folder: Path) -> tuple:
    """When a cohort folder's description and case list last changed (the service's cache key)."""
    out = []
    for name in ("cohort.json", "manifest.csv"):
        try:
            out.append((folder / name).stat().st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)


class _Labels:
    """What the service knows of the study: who rates what, cohorts and their stores (cached)."""

    def __init__(self, study_dir):
        self.study_dir = Path(study_dir)
        self._cohorts: dict[str, object] = {}
        self._loaded = None

    def assignment(self, user: str, cohort: str, training: bool = False):
        """``(Cohort, LabelStore)`` of ``cohort`` if it is ``user``'s active assignment; else refused.

        With ``training``, ``cohort`` names the training set that assignment requires, and the store
        is the training round's (``labels/_training/<set>/``). ``users.json`` is read at each request,
        so ``hub finish`` and ``hub assign`` take effect at once.
        """
        study = self._study()
        if study.role(user) != "rater":
            raise _Refused(403, f"{user} is not a rater of this study")
        active = study.active_cohort(user)
        if training:
            return self._training(study, active, cohort, user)
        if active != cohort:
            raise _Refused(403, f"{cohort!r} is not {user}'s case list now")
        return self._cohort(study, cohort)

    def _study(self):
        """The study's settings and accounts, read again whenever either file changed.

        Checking both files against their schema takes ~10 ms (most of a save's time); their
        inode, size and time change with every write (``hub finish`` and ``assign`` replace them).
        """
        from covsev_tools.hub.study import Study, StudyError

        try:
            key = tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in
                        (os.stat(self.study_dir / name) for name in ("study.json", "users.json")))
            if self._loaded is None or self._loaded[0] != key:
                self._loaded = (key, Study.load(self.study_dir))
        except (OSError, StudyError) as exc:
            raise _Refused(503, f"the study cannot be read: {exc}") from None
        return self._loaded[1]

    def _training(self, study, active: str | None, name: str, user: str):
        from covsev_tools.scoring.training import TrainingSet, training_requirement

        requirement = training_requirement(study.cohort_dir(active)) if active else None
        if requirement is None:
            raise _Refused(403, f"{user}'s case list requires no training round")
        key = ("training:" + requirement["training_set"], _changed(Path(requirement["training_set"])))
        held = self._cohorts.get(key)
        if held is None:
            training = TrainingSet.load(requirement["training_set"])
            held = (training.cohort, training.store(study.labels_dir))
            self._cohorts[key] = held
        if held[0].name != name:
            raise _Refused(403, f"{name!r} is not the training round of {user}'s case list")
        return held

    def _cohort(self, study, name: str):
        from covsev_tools.cohort import Cohort
        from covsev_tools.labels.store import LabelStore

        folder = study.cohort_dir(name)
        key = (name, _changed(folder))  # cases added by `hub init` since: read the cohort again
        held = self._cohorts.get(key)
        if held is None:
            cohort = Cohort.load(folder)
            held = (cohort, LabelStore(study.labels_dir, cohort.name, scales=cohort.scales))
            self._cohorts[key] = held
        return held

    def order(self, user: str, cohort: str, training: bool = False) -> list[str]:
        """``user``'s reading order of ``cohort`` (made by the hub at their server's start; never written here)."""
        loaded, _ = self.assignment(user, cohort, training)
        return loaded.reading_order(user, save=False)

    def records(self, user: str, cohort: str, training: bool = False) -> dict:
        """``user``'s valid records of ``cohort`` in log order, and the latest per case."""
        _, store = self.assignment(user, cohort, training)
        return {"records": store.records(user), "latest": list(store.latest(user).values())}

    def save(self, user: str, cohort: str, record, training: bool = False) -> dict:
        """Check ``record`` as ``user``'s, then append and fsync it; the record as written.

        A training round takes one record per case: the reading made before its reference was shown.
        """
        from covsev_tools.labels.store import StoreError

        loaded, store = self.assignment(user, cohort, training)
        if not isinstance(record, dict):
            raise _Refused(400, "record not saved: a record is a JSON object")
        if record.get("rater", user) != user:
            raise _Refused(403, f"record not saved: signed in as {user}, the record names {record.get('rater')!r}")
        order = loaded.reading_order(user, save=False)
        case_id = record.get("case_id")
        if not isinstance(case_id, str) or case_id not in order:
            raise _Refused(400, f"record not saved: case {str(case_id)[:40]!r} is not in {user}'s case list")
        position = record.get("position")
        if position is not None and position != order.index(case_id) + 1:
            raise _Refused(400, f"record not saved: position {str(position)[:12]} is not that case's place "
                                "in the case list")
        if training and any(r["case_id"] == case_id for r in store.records(user)):
            raise _Refused(409, "record not saved: training: each case is scored once, before its reference is shown")
        chosen = [k for k in SERVICE_FIELDS if k in record]
        if chosen:
            raise _Refused(400, f"record not saved: {', '.join(chosen)} is set by the label service, not the page")
        try:
            return store.save({**record, "rater": user})
        except (StoreError, ValueError) as exc:
            raise _Refused(400, str(exc)) from None


def make_app(study_dir, hub_auth):
    """The tornado application of the service (``hub_auth``: a :class:`HubAuth`, or any object with
    an awaitable ``user_for_token(token, sync=False)``, as the tests give).

    Examples
    --------
    >>> app = make_app("/srv/study", hub_auth=object())
    >>> type(app).__name__
    'Application'
    """
    from tornado import web

    labels = _Labels(study_dir)
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="covsev-labels")  # fsyncs off the event loop

    class Handler(web.RequestHandler):
        async def _user(self) -> str:
            header = self.request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() not in ("token", "bearer") or not token.strip():
                raise _Refused(401, "no token: the label service needs the hub's token of the rater's server")
            try:
                model = await hub_auth.user_for_token(token.strip(), sync=False)
            except Exception as exc:  # the hub unreachable, or its answer unreadable
                raise _Refused(503, f"the hub could not check the token ({type(exc).__name__})") from None
            if not model or model.get("kind", "user") != "user" or not model.get("name"):
                raise _Refused(403, "the token is not a user's token of this hub")
            return model["name"]

        def _request_summary(self) -> str:  # the access log names who asked (the audit of every save)
            return f"{super()._request_summary()} {getattr(self, '_who', '-')}"

        async def _answer(self, work, status: int = 200) -> None:
            try:
                user = self._who = await self._user()
                body = await asyncio.get_running_loop().run_in_executor(pool, work, user)
            except _Refused as refused:
                self.set_status(refused.status)
                body = {"error": refused.reason}
            except Exception as exc:  # never a traceback to the page, never a lost answer
                self.set_status(500)
                body = {"error": f"the label service failed: {type(exc).__name__}: {exc}"[:300]}
            else:
                self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(body, ensure_ascii=False))

    class HomeHandler(web.RequestHandler):
        def get(self):  # the hub checks that the service answers at its prefix
            self.set_header("Content-Type", "text/plain")
            self.finish("covsev label service\n")

    class OrderHandler(Handler):
        async def get(self, training, cohort):
            await self._answer(lambda user: {"order": labels.order(user, cohort, bool(training))})

    class RecordsHandler(Handler):
        async def get(self, training, cohort):
            await self._answer(lambda user: labels.records(user, cohort, bool(training)))

        async def post(self, training, cohort):
            try:
                record = json.loads(self.request.body)
            except (ValueError, RecursionError):  # 100,000 nested brackets included
                record = None  # refused below, once the token is checked

            await self._answer(lambda user: {"record": labels.save(user, cohort, record, bool(training))},
                               status=201)

    base = r"/(?:[^?#]*/)?services/" + re.escape(SERVICE_NAME)  # whatever the hub's base_url
    cohort_part = r"(training/)?([A-Za-z0-9][A-Za-z0-9_.-]{0,63})"  # a study's cohort, or a training set
    return web.Application([(rf"{base}/?", HomeHandler), (rf"{base}/api/{cohort_part}/order", OrderHandler),
                            (rf"{base}/api/{cohort_part}/records", RecordsHandler)],
                           max_body_size=MAX_BODY_BYTES, xsrf_cookies=False)


def main(argv=None) -> None:
    """Run the service as the hub starts it: ``python -m covsev_tools.hub.labelservice STUDY_DIR``.

    Listens where ``$JUPYTERHUB_SERVICE_URL`` says (127.0.0.1 only).

    Examples
    --------
    >>> main(["/srv/study"])        # doctest: +SKIP
    """
    from jupyterhub.services.auth import HubAuth
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m covsev_tools.hub.labelservice STUDY_DIR (started by the hub)")
    import logging

    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s covsev-labels] %(message)s")
    os.umask(0o027)
    address = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    if address.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"the label service listens on 127.0.0.1 only, not {address.hostname}")
    auth = HubAuth(cache_max_age=TOKEN_CACHE_SECONDS)
    app = make_app(argv[0], auth)
    server = HTTPServer(app, max_body_size=MAX_BODY_BYTES)
    server.listen(address.port, "127.0.0.1")
    print(f"covsev label service for {argv[0]} on 127.0.0.1:{address.port}", file=sys.stderr, flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
