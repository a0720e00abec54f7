"""Where a scoring page's records go: the label files, or the hub's label service.

:func:`open_label_store` is the one place that chooses. Off the hub a page writes its rater's log
itself (:class:`~covsev_tools.labels.store.LabelStore`). On the hub the spawner sets
``$COVSEV_LABEL_SERVICE``, and the page talks to the hub's label service
(:mod:`covsev_tools.hub.labelservice`) with its server's token instead: the rater's account can
neither write their log nor their reading order, so a rater who runs code in the page's kernel
cannot add records their page did not make outside the service's checks, nor reorder their cases.

:class:`ServiceLabelStore` has what a scoring session uses of a ``LabelStore``: :meth:`save`,
:meth:`latest` and :meth:`records` of one rater, and :meth:`reading_order`. A save returns only
once the service has appended and fsynced the record; a save it did not acknowledge (not
reachable, restarting, refused) raises :class:`~covsev_tools.labels.store.StoreError`, so the
page shows "NOT SAVED" and keeps the entry for the next try.

Examples
--------
>>> import os, tempfile
>>> os.environ.pop(LABEL_SERVICE_ENV, None) and None
>>> type(open_label_store(tempfile.mkdtemp(), "pilot")).__name__
'LabelStore'
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from covsev_tools.labels.store import LabelStore, StoreError

__all__ = ["LABEL_SERVICE_ENV", "ServiceLabelStore", "open_label_store"]

#: Set by the hub's spawner on rater servers: the label service's address.
LABEL_SERVICE_ENV = "COVSEV_LABEL_SERVICE"
#: Seconds one request may take (a save waits at most 5 s for its log's lock on the service's side).
REQUEST_TIMEOUT = 15.0
#: Pauses between tries of a save the service did not answer (it is being restarted by the hub).
RETRY_PAUSES = (0.25, 0.5, 1.0, 2.0)


def open_label_store(labels_dir, cohort: str, scales=None, *, training: bool = False):
    """The store a scoring page saves to: the hub's label service when on the hub, else the files.

    Parameters
    ----------
    labels_dir : str or Path
        The files' root (for a training round, its ``_training`` folder); unused on the hub.
    cohort : str
        The cohort, or the training set's name.
    training : bool
        A training round (the service keeps its records apart from every study's).

    Examples
    --------
    >>> import tempfile
    >>> open_label_store(tempfile.mkdtemp(), "pilot").cohort
    'pilot'
    """
    url = os.environ.get(LABEL_SERVICE_ENV)
    if url:
        return ServiceLabelStore(url, cohort, token=os.environ.get("JUPYTERHUB_API_TOKEN", ""), scales=scales,
                                 training=training)
    return LabelStore(labels_dir, cohort, scales=scales)


class ServiceLabelStore:
    """A cohort's label store reached through the hub's label service, as one rater (the token's).

    Parameters
    ----------
    url : str
        The service's address, ``http://127.0.0.1:<port>/services/covsev-labels/``.
    cohort : str
        The cohort (the rater's active assignment).
    token : str
        The hub's token of the rater's server (``$JUPYTERHUB_API_TOKEN``): it, not the record, says who saves.
    scales : optional
        Kept for the same signature as ``LabelStore``; the service checks records against the cohort's scales.
    training : bool
        The cohort is a training set (its round, apart from the study).

    Examples
    --------
    >>> store = ServiceLabelStore("http://127.0.0.1:9/services/covsev-labels/", "pilot", token="x")
    >>> store.cohort
    'pilot'
    """

    def __init__(self, url: str, cohort: str, token: str, scales=None, *, training: bool = False):
        self.url, self.cohort, self.token = url.rstrip("/") + "/", cohort, token
        self.scales = tuple(scales) if scales is not None else None
        self.warnings: list = []
        self._where = ("training/" if training else "") + quote(cohort, safe="")

    def _request(self, method: str, what: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}api/{self._where}/{what}", method=method,
            data=None if body is None else json.dumps(body, allow_nan=False).encode("utf-8"),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # the service answered: refused, with its reason
            try:
                reason = json.loads(exc.read()).get("error") or exc.reason
            except (ValueError, AttributeError):
                reason = exc.reason
            raise StoreError(f"the label service refused ({exc.code}): {reason}") from None

    def _retrying(self, method: str, what: str, body: dict | None = None) -> dict:
        """One request, tried again while the service is not reachable (a refusal is final)."""
        for pause in (*RETRY_PAUSES, None):
            try:
                return self._request(method, what, body)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                if pause is None:
                    reason = getattr(exc, "reason", exc)
                    raise StoreError(f"the label service did not answer ({reason}); nothing was saved, "
                                     "press Enter to try again") from None
                time.sleep(pause)
        raise AssertionError("unreachable")

    def save(self, record: dict) -> dict:
        """Send one record; the record as the service wrote it, once appended and fsynced.

        Raises
        ------
        StoreError
            Not acknowledged: refused (with the service's reason) or the service not reachable.

        Examples
        --------
        >>> ServiceLabelStore("http://127.0.0.1:9/", "pilot", "x").save({"case_id": "c1"})  # doctest: +SKIP
        """
        try:
            return self._retrying("POST", "records", record)["record"]
        except (KeyError, TypeError):
            raise StoreError("the label service answered without the saved record") from None

    def records(self, rater: str | None = None) -> list[dict]:
        """The rater's valid records in log order (``rater``: the token's user; others are never returned)."""
        return list(self._retrying("GET", "records")["records"])

    def latest(self, rater: str | None = None) -> dict[tuple[str, str], dict]:
        """Latest record per ``(rater, case_id)`` of the token's rater (the service applies the store's rule)."""
        return {(r["rater"], r["case_id"]): r for r in self._retrying("GET", "records")["latest"]}

    def reading_order(self, cohort, rater: str, save: bool = True) -> list[str]:
        """The rater's reading order, as the service holds it (the rater cannot write it; ``save`` is moot)."""
        order = self._retrying("GET", "order")["order"]
        if not isinstance(order, list) or not all(isinstance(i, str) for i in order):
            raise StoreError("the label service answered with an order that is not a list of cases")
        return order
