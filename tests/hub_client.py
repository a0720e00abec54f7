"""A rater as a program: log in through the hub, open the scoring page, talk to its kernel.

Used by the hub's tests (``tests/test_hub*.py``) and by ``benchmarks/hub_load.py``, which is why it
lives here and not in the package. :class:`RaterClient` goes through the same doors as a browser -- the hub's login form, its spawn page, the proxy, Voila's page -- and then
speaks the Jupyter widget protocol on the page's kernel websocket, as the page's JavaScript does
(clicks are ``custom`` ``click`` messages to a button's model; the page's updates come back as
``update`` messages). :meth:`RaterClient.execute` sends code the way a malicious rater could.

Examples
--------
>>> rater = RaterClient("http://127.0.0.1:8000", "rad1", "secret-password")   # doctest: +SKIP
>>> rater.login(); rater.open_scoring_page()                                  # doctest: +SKIP
>>> rater.execute("open('/study/cohorts/pilot/key.csv').read()")["ename"]    # doctest: +SKIP
'PermissionError'
"""
from __future__ import annotations

import json
import re
import time
import uuid

import requests

__all__ = ["HubClientError", "RaterClient"]


class HubClientError(RuntimeError):
    """The hub or the rater's server did not answer as a browser would expect."""


def _message(msg_type: str, content: dict, session: str, channel: str = "shell") -> dict:
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "covsev", "session": session,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "version": "5.3"}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content,
            "channel": channel, "buffers": []}


class RaterClient:
    """One rater's browser, without the browser."""

    def __init__(self, base_url: str, name: str, password: str):
        self.base, self.name, self.password = base_url.rstrip("/"), name, password
        self.http = requests.Session()
        self.kernel_id: str | None = None
        self.socket = None
        self.session = uuid.uuid4().hex
        self.states: dict[str, dict] = {}

    # -- the hub

    def login(self) -> requests.Response:
        """Post the hub's login form; raises if the hub refuses the password."""
        self.http.get(f"{self.base}/hub/login", timeout=30)
        response = self.http.post(f"{self.base}/hub/login", allow_redirects=False, timeout=60,
                                  data={"username": self.name, "password": self.password,
                                        "_xsrf": self.http.cookies.get("_xsrf", path="/hub/")})
        if response.status_code != 302:
            raise HubClientError(f"login of {self.name} refused ({response.status_code})")
        return response

    def start_server(self, timeout: float = 240) -> None:
        """Ask the hub for the server (as after login) and wait until it answers."""
        # Not followed: once the server runs, the redirect ends on the scoring page, whose render is
        # streamed while the notebook executes; the readiness poll below decides instead.
        self.http.get(f"{self.base}/hub/spawn/{self.name}", timeout=timeout, allow_redirects=False)
        self._follow_progress(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.http.get(f"{self.base}/hub/api/users/{self.name}", timeout=30,
                                     headers={"Referer": f"{self.base}/hub/"})
            if response.status_code == 200 and response.json().get("servers", {}).get("", {}).get("ready"):
                return
            pending = self.http.get(f"{self.base}/hub/spawn-pending/{self.name}", timeout=30)
            if "Spawn failed" in pending.text:
                raise HubClientError(f"spawn of {self.name} failed: {_spawn_error(pending.text)}")
            time.sleep(0.5)
        raise HubClientError(f"server of {self.name} not ready after {timeout:.0f} s")

    def _follow_progress(self, timeout: float) -> None:
        """Read the spawn's progress events, as the hub's spawn page does; raise with the hub's message
        if the spawn failed (e.g. "You have no case list to score ...")."""
        url = f"{self.base}/hub/api/users/{self.name}/server/progress"
        with self.http.get(url, stream=True, timeout=timeout,
                           headers={"Referer": f"{self.base}/hub/", "Accept": "text/event-stream"}) as response:
            if response.status_code != 200:
                return  # no spawn in progress (already running): the readiness poll decides
            for line in response.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("failed"):
                    raise HubClientError(f"spawn of {self.name} failed: {event.get('message', '')}")
                if event.get("ready"):
                    return

    # -- the scoring page and its kernel

    def open_scoring_page(self, timeout: float = 240) -> str:
        """Load ``/user/<name>/`` (the landing page), connect to its kernel; the page's HTML."""
        response = self.http.get(f"{self.base}/user/{self.name}/", timeout=timeout)
        match = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', response.text)
        if response.status_code != 200 or not match:
            raise HubClientError(f"{response.url}: no scoring page ({response.status_code})")
        self.kernel_id = match.group(1)
        self.connect()
        return response.text

    def connect(self) -> None:
        """Open the kernel websocket of the page (with the page's cookies)."""
        from websockets.sync.client import connect

        url = f"{self.base.replace('http', 'ws', 1)}/user/{self.name}/api/kernels/{self.kernel_id}/channels"
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        self._connection = connect(f"{url}?session_id={self.session}", additional_headers={"Cookie": cookie},
                                   max_size=None, open_timeout=60)
        self.socket = self._connection.__enter__()  # closed in close(), which the tests call

    def close(self) -> None:
        """Close the websocket (as closing the tab does)."""
        if self.socket is not None:
            self._connection.__exit__(None, None, None)
            self.socket = None

    def send(self, msg_type: str, content: dict, channel: str = "shell", metadata: dict | None = None) -> str:
        """Send one message on the kernel websocket; its ``msg_id``."""
        message = _message(msg_type, content, self.session, channel)
        message["metadata"] = metadata or {}
        self.socket.send(json.dumps(message))
        return message["header"]["msg_id"]

    def receive(self, timeout: float) -> dict | None:
        """The next message (None on timeout); widget ``update``s are applied to :attr:`states`."""
        try:
            message = _decode(self.socket.recv(timeout=timeout))
        except TimeoutError:
            return None
        if message.get("msg_type") == "comm_msg":
            data = message["content"].get("data", {})
            if data.get("method") == "update":
                self.states.setdefault(message["content"]["comm_id"], {}).update(data.get("state", {}))
        return message

    def execute(self, code: str, timeout: float = 60) -> dict:
        """Run ``code`` in the page's kernel, as a rater typing into a websocket could.

        Returns ``{"status", "stdout", "ename", "evalue"}``.
        """
        msg_id = self.send("execute_request", {"code": code, "silent": False, "store_history": False,
                                               "user_expressions": {}, "allow_stdin": False,
                                               "stop_on_error": True})
        result = {"status": None, "stdout": "", "ename": None, "evalue": None}
        deadline, idle = time.monotonic() + timeout, False
        # the reply comes on the shell channel, the output on iopub: done when both are in (the
        # kernel's "idle" follows its last output on iopub; the reply may overtake it)
        while (result["status"] is None or not idle) and time.monotonic() < deadline:
            message = self.receive(max(0.1, deadline - time.monotonic()))
            if not message or message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                result["stdout"] += content.get("text", "")
            elif kind == "error":
                result["ename"], result["evalue"] = content["ename"], content["evalue"]
            elif kind == "execute_reply":
                result["status"] = content["status"]
            elif kind == "status":
                idle = content.get("execution_state") == "idle"
        return result

    # -- widgets

    def request_states(self, timeout: float = 60) -> dict[str, dict]:
        """Every widget's state, through the ``jupyter.widget.control`` comm (as a page does on load)."""
        comm_id = uuid.uuid4().hex
        self.send("comm_open", {"comm_id": comm_id, "target_name": "jupyter.widget.control", "data": {}},
                  metadata={"version": "1.0.0"})  # ipywidgets' control protocol version
        self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_states"}})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(0.1, deadline - time.monotonic()))
            if message and message.get("msg_type") == "comm_msg" and message["content"]["comm_id"] == comm_id:
                states = message["content"]["data"].get("states", {})
                self.states = {k: v.get("state", {}) for k, v in states.items()}
                return self.states
        raise HubClientError("no widget states from the kernel")

    def find(self, description: str | None = None, dom_class: str | None = None) -> list[str]:
        """Model IDs of widgets with this ``description`` and/or this CSS class."""
        found = []
        for model_id, state in self.states.items():
            if description is not None and state.get("description") != description:
                continue
            if dom_class is not None and dom_class not in state.get("_dom_classes", []):
                continue
            found.append(model_id)
        return found

    def children(self, model_id: str) -> list[str]:
        """Model IDs of a box's children."""
        return [c.replace("IPY_MODEL_", "") for c in self.states[model_id].get("children", [])]

    def click(self, model_id: str) -> None:
        """Click a button, as ipywidgets' JavaScript does."""
        self.send("comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}})

    def wait_for_text(self, pattern: str, timeout: float = 60) -> float:
        """Wait until some widget's ``value`` matches ``pattern``; seconds waited."""
        started = time.monotonic()
        regex = re.compile(pattern)
        while time.monotonic() - started < timeout:
            if any(isinstance(s.get("value"), str) and regex.search(s["value"]) for s in self.states.values()):
                return time.monotonic() - started
            self.receive(0.2)
        raise HubClientError(f"{self.name}: no widget showed {pattern!r} within {timeout:.0f} s")

    def widget_text(self, pattern: str) -> str | None:
        """The first widget ``value`` matching ``pattern`` (the header, the status line...)."""
        regex = re.compile(pattern)
        return next((s["value"] for s in self.states.values()
                     if isinstance(s.get("value"), str) and regex.search(s["value"])), None)

    # -- a rater's session

    def open_session(self, timeout: float = 240) -> None:
        """What a rater's browser does on arrival: log in, have the server started, open the
        scoring page and read its widgets."""
        self.login()
        self.start_server(timeout=timeout)
        self.open_scoring_page(timeout=timeout)
        self.request_states(timeout=timeout)

    def position(self) -> int:
        """The position of the case shown ("Case 3 of 8" gives 3)."""
        match = re.search(r"Case (\d+) of", self.widget_text(r"Case \d+ of") or "")
        if match is None:
            raise HubClientError(f"{self.name}: the page shows no case")
        return int(match.group(1))

    def score_case(self, scores, timeout: float = 120) -> tuple[int, float]:
        """Click ``scores`` ``[(scale, component, value), ...]`` and "Save and next" as the page's
        buttons do; wait for the save's confirmation and the next case. Returns the position
        saved and the seconds from the click to the next case."""
        shown = self.position()
        for scale, component, value in scores:
            (row,) = self.find(dom_class=f"covsev-row-{scale}-{component}")
            (button,) = [c for c in self.children(row)
                         if self.states[c].get("description") == str(value)]
            self.click(button)
        (save,) = self.find(description="Save and next (Enter)")
        clicked = time.monotonic()
        self.click(save)
        self.wait_for_text(rf"Saved case {shown} of", timeout=timeout)
        self.wait_for_text(rf"Case {shown + 1} of", timeout=timeout)
        return shown, time.monotonic() - clicked


def _decode(frame: str | bytes) -> dict:
    """A websocket frame as a message; binary frames (widget buffers, e.g. images) carry the JSON
    first: a count of parts, their offsets (big-endian uint32), then the parts."""
    if isinstance(frame, str):
        return json.loads(frame)
    count = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 * (i + 1):4 * (i + 2)], "big") for i in range(count)] + [len(frame)]
    return json.loads(frame[offsets[0]:offsets[1]])


def _spawn_error(html: str) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    match = re.search(r"Spawn failed:?\s*(.{0,300})", text)
    return match.group(1).strip() if match else "see the hub's log"
