"""The label service without a hub: its checks, tried as a rater with a shell and a token would.

The service (covsev_tools.hub.labelservice) runs here in a thread on a free 127.0.0.1 port
(helpers.label_service), with a stand-in for the hub's token check (token -> user, as
HubAuth.user_for_token answers). Every refusal
must leave the log byte for byte as it was; the page's client (ServiceLabelStore) must save only
what the service acknowledged. The live hub's version of these attacks is in test_hub_labels.py.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from helpers import TokenNames, label_service, make_cohort

pytest.importorskip("tornado")

SCALES = {"extent": {"version": "1", "scores": {"right": 2, "left": 3}, "total": 5},
          "opacity": {"version": "1", "scores": {"right": 1, "left": 2}, "total": 3}}


class FakeHubAuth(TokenNames):
    """``tok-<name>`` is that user's token, ``tok-svc`` a service's (as HubAuth.user_for_token answers)."""

    async def user_for_token(self, token, sync=True):
        if token == "tok-svc":
            return {"kind": "service", "name": "idle-culler"}
        return await super().user_for_token(token) if token in ("tok-r1", "tok-r2", "tok-c1") else None


@pytest.fixture
def service(tmp_path):
    from covsev_tools.hub.study import Study

    cohort = make_cohort(tmp_path / "src", n=5, name="pilot", repeat_fraction=0.4)
    other = make_cohort(tmp_path / "src", n=3, name="other")
    study = Study.new(tmp_path / "study", name="t")
    study.settings["cohorts"] = {"pilot": str(cohort.dir), "other": str(other.dir)}
    study.save()
    for name, role in (("r1", "rater"), ("r2", "rater"), ("c1", "coordinator")):
        study.add_member(name, role)
    for name in ("r1", "r2"):
        study.assign(name, "pilot")
        cohort.reading_order(name)  # made by the hub side (prepare_rater) before a server starts
    with label_service(study.dir, FakeHubAuth()) as url:
        yield {"url": url, "study": study, "cohort": cohort, "logs": study.labels_dir / "pilot"}


def _post(url, body: bytes, token: str | None = "tok-r1", cohort: str = "pilot"):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"token {token}"
    request = urllib.request.Request(f"{url}api/{cohort}/records", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read()
        except OSError:  # a body over the limit: tornado answers 400 and resets the connection
            text = b""
        return exc.code, (json.loads(text) if text.startswith(b"{") else {"error": text.decode()[:200]})
    except (urllib.error.URLError, ConnectionError) as exc:  # the server closed a body over its limit
        return 0, {"error": str(exc)}


def _record(service, rater="r1", position=1, **extra):
    case = service["cohort"].reading_order(rater, save=False)[position - 1]
    return {"case_id": case, "rater": rater, "position": position, "scales": SCALES, **extra}


def _snapshot(service) -> dict:
    return {p.name: p.read_bytes() for p in service["logs"].glob("*.jsonl")} if service["logs"].is_dir() else {}


def test_a_save_is_written_by_the_service_with_its_own_time_and_id(service):
    from covsev_tools.labels import LabelStore
    from covsev_tools.labels.remote import ServiceLabelStore

    store = ServiceLabelStore(service["url"], "pilot", token="tok-r1")
    assert store.reading_order(service["cohort"], "r1") == service["cohort"].reading_order("r1", save=False)
    before = time.time()
    saved = store.save({k: v for k, v in _record(service).items() if k != "rater"})
    assert saved["rater"] == "r1" and saved["cohort"] == "pilot" and len(saved["record_id"]) == 32
    on_disk = LabelStore(service["study"].labels_dir, "pilot").records("r1")
    assert on_disk == [saved]  # what the page was told is exactly what is in the log
    assert abs(time.mktime(time.strptime(saved["time_saved"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
               - before) < 5
    assert list(store.latest("r1")) == [("r1", saved["case_id"])]
    assert ServiceLabelStore(service["url"], "pilot", token="tok-r2").records("r2") == []  # only one's own


@pytest.mark.parametrize("token, body_rater, status, says", [
    ("tok-r1", "r2", 403, "signed in as r1, the record names 'r2'"),   # another rater's name in the body
    ("tok-r2", "r1", 403, "signed in as r2, the record names 'r1'"),   # another token, the victim's name
    ("tok-c1", "c1", 403, "c1 is not a rater of this study"),           # a coordinator's token
    ("tok-svc", "r1", 403, "not a user's token"),                       # a service's token
    ("made-up", "r1", 403, "not a user's token"),                       # a token the hub does not know
    (None, "r1", 401, "no token"),
])
def test_nobody_saves_as_someone_else(service, token, body_rater, status, says):
    before = _snapshot(service)
    code, answer = _post(service["url"], json.dumps(_record(service, rater="r1") | {"rater": body_rater}).encode(),
                         token=token)
    assert (code, says in answer["error"]) == (status, True), answer
    assert _snapshot(service) == before


def test_a_case_outside_the_rater_list_or_place_or_cohort_is_refused(service):
    before = _snapshot(service)
    record = _record(service)
    assert _post(service["url"], json.dumps(record | {"case_id": "not-a-case"}).encode())[0] == 400
    code, answer = _post(service["url"], json.dumps(record | {"position": 3}).encode())
    assert code == 400 and "not that case's place" in answer["error"]
    code, answer = _post(service["url"], json.dumps(record).encode(), cohort="other")  # not assigned
    assert code == 403 and "not r1's case list" in answer["error"]
    service["study"].finish("r1", "pilot")  # hub finish: at once, no restart of the service
    code, answer = _post(service["url"], json.dumps(record).encode())
    assert code == 403 and "not r1's case list" in answer["error"]
    assert _snapshot(service) == before


def _bad_body(service, kind: str) -> bytes:
    record = _record(service)
    return {
        "not json": b"{not json",
        "nested brackets": b"[" * 100_000 + b"]" * 100_000,   # a RecursionError in a parser
        "a string": b'"just a string"',
        "infinite time": json.dumps(record | {"seconds_on_case": float("inf")}).encode(),
        "saved in 2099": json.dumps(record | {"time_saved": "2099-01-01T00:00:00.000Z"}).encode(),
        "own record id": json.dumps(record | {"record_id": "0" * 32}).encode(),
        "score off the scale": json.dumps(record | {"scales": {**SCALES, "extent": {
            "version": "1", "scores": {"right": 9, "left": 3}, "total": 12}}}).encode(),
        "2 MB": b'{"case_id": "' + b"x" * 2_000_000 + b'"}',     # over the body limit: connection closed
    }[kind]


@pytest.mark.parametrize("kind, says", [
    ("not json", "a record is a JSON object"), ("nested brackets", "a record is a JSON object"),
    ("a string", "a record is a JSON object"), ("infinite time", "is not a finite number"),
    ("saved in 2099", "time_saved is set by the label service"),
    ("own record id", "record_id is set by the label service"),
    ("score off the scale", "extent"), ("2 MB", ""),
])
def test_malformed_huge_non_finite_and_future_records_are_refused(service, kind, says):
    before = _snapshot(service)
    code, answer = _post(service["url"], _bad_body(service, kind))
    assert code in (0, 400, 413) and says in answer["error"], (code, answer)
    assert _snapshot(service) == before
    assert _post(service["url"], json.dumps(_record(service)).encode())[0] == 201  # and the service goes on


def test_a_save_the_service_did_not_answer_is_not_saved(tmp_path, monkeypatch):
    from covsev_tools.hub.server import free_port
    from covsev_tools.labels import StoreError
    from covsev_tools.labels import remote

    monkeypatch.setattr(remote, "RETRY_PAUSES", (0.05, 0.05))
    store = remote.ServiceLabelStore(f"http://127.0.0.1:{free_port()}/services/covsev-labels/", "pilot", "tok")
    with pytest.raises(StoreError, match="did not answer.*nothing was saved"):
        store.save({"case_id": "c1"})


def test_the_store_is_chosen_in_one_place(tmp_path, monkeypatch):
    from covsev_tools.labels import LabelStore
    from covsev_tools.labels.remote import LABEL_SERVICE_ENV, ServiceLabelStore, open_label_store

    monkeypatch.delenv(LABEL_SERVICE_ENV, raising=False)
    assert type(open_label_store(tmp_path, "pilot")) is LabelStore
    monkeypatch.setenv(LABEL_SERVICE_ENV, "http://127.0.0.1:1/services/covsev-labels/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "tok-r1")
    store = open_label_store(tmp_path, "pilot")
    assert isinstance(store, ServiceLabelStore) and store.token == "tok-r1"


def test_a_scoring_session_saves_through_the_service(service):
    from covsev_tools.labels import LabelStore
    from covsev_tools.labels.remote import ServiceLabelStore
    from covsev_tools.scoring.session import ScoringSession

    session = ScoringSession(service["cohort"], ServiceLabelStore(service["url"], "pilot", "tok-r2"), "r2")
    assert session.order == service["cohort"].reading_order("r2", save=False)
    for level in (2, 3, 1, 2):
        session.type_digit(level)
    assert session.advance() and session.message.text.startswith("✓ Saved case 1")
    [saved] = LabelStore(service["study"].labels_dir, "pilot").records("r2")
    assert saved["case_id"] == session.order[0] and saved["scales"]["extent"]["total"] == 5
    again = ScoringSession(service["cohort"], ServiceLabelStore(service["url"], "pilot", "tok-r2"), "r2")
    assert again.index == 1  # resumes after the saved case, from the service's records


def test_a_training_round_goes_through_the_service_once_per_case(tmp_path):
    from covsev_tools.hub.study import Study
    from covsev_tools.labels import StoreError
    from covsev_tools.labels.remote import ServiceLabelStore
    from covsev_tools.scoring.training import require_training

    from helpers import make_training_set

    cohort = make_cohort(tmp_path / "src", n=3, name="pilot")
    training = make_training_set(tmp_path / "src", 2)
    require_training(cohort.dir, training.cohort.dir, max_mae=1.0)
    study = Study.new(tmp_path / "study", name="t")
    study.settings["cohorts"] = {"pilot": str(cohort.dir)}
    study.save()
    study.add_member("r1", "rater")
    study.assign("r1", "pilot")
    training.cohort.reading_order("r1")
    with label_service(study.dir, FakeHubAuth()) as url:
        store = ServiceLabelStore(url, "calib", "tok-r1", training=True)
        order = store.reading_order(training.cohort, "r1")
        assert order == training.cohort.reading_order("r1", save=False)
        record = {"case_id": order[0], "position": 1, "scales": SCALES, "training": True}
        saved = store.save(record)
        assert training.first_readings("r1", study.labels_dir) == {order[0]: saved}  # in labels/_training/calib
        with pytest.raises(StoreError, match=r"\(409\).*each case is scored once"):
            store.save(record)  # the reference has been shown: a second reading would copy it
        with pytest.raises(StoreError, match=r"\(403\).*not the training round"):
            ServiceLabelStore(url, "pilot", "tok-r1", training=True).save(record)
        result = training.result("r1", study.labels_dir, 1.0, store)
        assert (result["scored"], result["cases"]) == (1, 2)


def test_the_service_keeps_its_port_across_hub_restarts(tmp_path):
    """Rater servers that outlive a hub keep the service's address: hub start reuses the port (hub/ports.json)."""
    from covsev_tools.hub.hubconfig import label_service_port
    from covsev_tools.hub.server import _internal_ports, free_port
    from covsev_tools.hub.study import Study

    study = Study.new(tmp_path / "study", name="t")
    study.hub_dir.mkdir()
    old = [free_port(), free_port()]
    (study.hub_dir / "ports.json").write_text(json.dumps(old))  # written before the label service
    first = _internal_ports(study)
    assert list(first[:2]) == old and first[2] not in old
    assert _internal_ports(study) == first and label_service_port(study) == first[2]
