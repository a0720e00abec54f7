"""The idle culler on a real hub: an idle rater's server is stopped, nothing saved is lost.

A study with a one-minute idle timeout: the hub's jupyterhub-idle-culler service checks every 30 s.
A rater scores a case, closes the page and goes away; the culler stops the server; the rater logs
in again and resumes at the next case. About two minutes. Needs root and configurable-http-proxy.
"""
from __future__ import annotations

import time

import pytest

from helpers import HubStudy, hub_marks, hub_records, rater_client, running_hub, score_and_save

pytest.importorskip("jupyterhub")

IDLE_TIMEOUT = 60

pytestmark = hub_marks(600)


@pytest.fixture()
def hub():
    yield from running_hub(HubStudy(n_cases=4, repeat_fraction=0.0), [("r1", "rater")], idle_timeout=IDLE_TIMEOUT)


def _servers(client) -> dict:
    response = client.http.get(f"{client.base}/hub/api/user", timeout=30,
                               headers={"Referer": f"{client.base}/hub/"})
    return response.json().get("servers") or {}


def test_idle_server_is_culled_and_the_rater_resumes_where_they_stopped(hub):
    client = rater_client(hub, "r1")
    client.open_session()
    position, _ = score_and_save(client)
    client.close()  # the rater closes the tab and leaves
    assert _servers(client), "the server stopped before it was idle"

    deadline = time.monotonic() + IDLE_TIMEOUT + 180
    while _servers(client) and time.monotonic() < deadline:
        time.sleep(2)
    assert not _servers(client), "the idle server was not culled"
    log = (hub.base / "hub.log").read_text(errors="replace")
    assert f"Culling server {client.name}" in log

    saved = hub_records(hub, client.name, "pilot")
    assert [r["position"] for r in saved] == [position]

    again = rater_client(hub, "r1")
    again.open_session()
    assert f"Case {position + 1} of 4" in again.widget_text(r"Case \d+ of")
    assert "1 of 4 scored" in again.widget_text(r"scored")
    again.close()
