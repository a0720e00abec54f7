"""A DICOMweb server as a source: QIDO-RS to find, WADO-RS to retrieve (``dicomweb-client``).

The instance headers of a CR/DX series are read with WADO-RS *metadata* (no pixels), so laterals,
presentation states and reports are skipped before any image is transferred. HTTP 429/503/504 are
retried by dicomweb-client's own exponential backoff; a dropped connection by
:func:`~covsev_tools.pull.retry.with_retries`.

Examples
--------
>>> source = DicomWebSource("http://127.0.0.1:8042/dicom-web", user="coordinator", password="s3cret")
>>> source.describe()
'DICOMweb http://127.0.0.1:8042/dicom-web'
"""
from __future__ import annotations

from typing import Any

from covsev_tools.pull.errors import PullError
from covsev_tools.pull.retry import with_retries

__all__ = ["DicomWebSource"]

_CR_DX = ("CR", "DX")


class DicomWebSource:
    """QIDO-RS/WADO-RS client for one server, with basic (user, password) or bearer-token auth.

    Examples
    --------
    >>> DicomWebSource("https://pacs.example.org/dicom-web", token="abc").describe()
    'DICOMweb https://pacs.example.org/dicom-web'
    """

    def __init__(self, url: str, *, user: str | None = None, password: str | None = None,
                 token: str | None = None, timeout: float = 30, attempts: int = 4, backoff: float = 1.0):
        self.url = url.rstrip("/")
        self.attempts, self.backoff = attempts, backoff
        self._auth = (user, password, token)
        self._timeout = timeout
        self._client = None

    def describe(self) -> str:
        """The server, without credentials."""
        return f"DICOMweb {self.url}"

    def _open(self):
        if self._client is None:
            from dicomweb_client.api import DICOMwebClient
            from dicomweb_client.session_utils import create_session, create_session_from_user_pass

            user, password, token = self._auth
            session = create_session_from_user_pass(user, password or "") if user else create_session()
            headers = {"Authorization": f"Bearer {token}"} if token else None
            self._client = DICOMwebClient(self.url, session=session, headers=headers, timeout=self._timeout)
            self._client.set_http_retry_params(retry=True, max_attempts=self.attempts,
                                               wait_exponential_multiplier=int(self.backoff * 1000))
        return self._client

    def _call(self, what: str, function, *args, missing_ok: bool = True, **kwargs):
        """Run one request with retries on connection loss; HTTP errors become one clear line.

        A 404 is None (an unknown study or series) when ``missing_ok``, else an error.
        """
        import requests

        try:
            return with_retries(lambda: function(*args, **kwargs), attempts=self.attempts, backoff=self.backoff,
                                retry_on=(requests.ConnectionError, requests.Timeout))
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                raise PullError(f"{self.url}: credentials refused (HTTP {status})") from None
            if status == 404 and missing_ok:
                return None
            if status == 404:
                raise PullError(f"{self.url}: no DICOMweb service here (HTTP 404 for a study query); "
                                "check the URL, e.g. https://host/dicom-web") from None
            raise PullError(f"{self.url}: {what} failed (HTTP {status})") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PullError(f"{self.url}: server unreachable ({_reason(exc)})") from None

    def check(self) -> None:
        """Reach the server and prove the credentials with one QIDO query; raise :class:`PullError` if not."""
        client = self._open()
        self._call("query", client.search_for_studies, limit=1, missing_ok=False)

    def find_studies(self, *, study_uid: str | None = None, accession: str | None = None,
                     filters: dict[str, str] | None = None) -> list[str]:
        """StudyInstanceUIDs matching one UID, one accession number, or QIDO filters."""
        client = self._open()
        search = dict(filters or {})
        if study_uid:
            search["StudyInstanceUID"] = study_uid
        if accession:
            search["AccessionNumber"] = accession
        found = self._call("study query", client.search_for_studies, search_filters=search,
                           get_remaining=True) or []
        return list(dict.fromkeys(_value(s, "0020000D") for s in found if _value(s, "0020000D")))

    def instances(self, study_uid: str) -> list[Any]:
        """Headers (pydicom Datasets, no pixels) of every instance of a study.

        CR/DX series are read with their full metadata; other series only with what QIDO returns,
        which is enough to skip them.
        """
        from pydicom.dataset import Dataset

        client = self._open()
        headers = []
        for series in self._call("series query", client.search_for_series, study_uid, get_remaining=True) or []:
            series_uid, modality = _value(series, "0020000E"), _value(series, "00080060").upper()
            if modality in _CR_DX:
                metadata = self._call("metadata", client.retrieve_series_metadata, study_uid, series_uid) or []
            else:
                metadata = self._call("instance query", client.search_for_instances, study_uid, series_uid,
                                      get_remaining=True) or []
            for item in metadata:
                ds = Dataset.from_json(item, bulk_data_uri_handler=lambda *a: b"")
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
                ds.Modality = ds.get("Modality", modality) or modality
                headers.append(ds)
        return headers

    def retrieve(self, header) -> Any:
        """The whole instance (pydicom Dataset) in the transfer syntax the server stores."""
        client = self._open()
        dataset = self._call("retrieve", client.retrieve_instance, header.StudyInstanceUID,
                             header.SeriesInstanceUID, header.SOPInstanceUID,
                             media_types=(("application/dicom", "*"),))
        if dataset is None:
            raise PullError(f"{self.url}: instance {header.SOPInstanceUID} vanished during the pull")
        return dataset

    def close(self) -> None:
        """Close the HTTP session."""
        if self._client is not None:
            self._client._session.close()


def _value(item: dict, tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or [""]
    return str(values[0])


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker.lower() in text.lower():
            return marker.lower()
    return type(exc).__name__
