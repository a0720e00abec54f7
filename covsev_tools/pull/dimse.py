"""A classic PACS as a source: DIMSE C-FIND to find, C-GET or C-MOVE to retrieve (``pynetdicom``).

For hospitals without DICOMweb. C-GET brings the images back on the same association; C-MOVE asks
the PACS to send them to a storage SCP that the pull runs itself, on ``store_port``, under the
calling AE title: the PACS must know that AE title with this machine's address and that port.

Examples
--------
>>> source = DimseSource("dimse://ORTHANC@127.0.0.1:4242", calling_aet="COVSEV")
>>> source.describe()
'DIMSE ORTHANC@127.0.0.1:4242 (calling AE COVSEV, C-GET)'
"""
from __future__ import annotations

import re
import threading
from typing import Any

from covsev_tools.pull.errors import PullError
from covsev_tools.pull.retry import with_retries

__all__ = ["DimseSource", "parse_dimse_url"]

_URL = re.compile(r"^dimse://(?P<aet>[^@/\s]{1,16})@(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})/?$")
_AET = re.compile(r"^[\x21-\x7e]([\x20-\x7e]{0,14}[\x21-\x7e])?$")
#: Storage classes accepted on C-GET/C-MOVE: the chest X-ray classes and what a chest study holds beside them.
_STORAGE = ("1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
            "1.2.840.10008.5.1.4.1.1.7")
_IMAGE_KEYS = ("SOPInstanceUID", "SOPClassUID", "Modality", "ViewPosition", "BurnedInAnnotation",
               "BodyPartExamined", "InstanceNumber")


def parse_dimse_url(url: str) -> tuple[str, str, int]:
    """``dimse://AET@host:port`` -> (called AE title, host, port); :class:`PullError` if malformed.

    Examples
    --------
    >>> parse_dimse_url("dimse://PACS@10.0.0.5:104")
    ('PACS', '10.0.0.5', 104)
    """
    match = _URL.match(url)
    if not match or not 0 < int(match["port"]) < 65536 or not _AET.match(match["aet"]):
        raise PullError(f"{url}: not a DIMSE address; expected dimse://AET@host:port")
    return match["aet"], match["host"].strip("[]"), int(match["port"])


class DimseSource:
    """C-FIND/C-GET/C-MOVE client of one PACS.

    Parameters
    ----------
    url : str
        ``dimse://AET@host:port`` (the PACS's called AE title, address and port).
    calling_aet : str
        This side's AE title, as registered in the PACS.
    retrieve : {"get", "move"}
        C-GET (default) or C-MOVE to this side's storage SCP on ``store_port``.
    store_port : int, optional
        Port of the storage SCP for C-MOVE (bound to all interfaces: the PACS connects to it).
    """

    def __init__(self, url: str, *, calling_aet: str = "COVSEV", retrieve: str = "get",
                 store_port: int | None = None, store_host: str = "", timeout: float = 30, attempts: int = 4,
                 backoff: float = 1.0):
        self.called_aet, self.host, self.port = parse_dimse_url(url)
        if not _AET.match(calling_aet or ""):
            raise PullError(f"--calling-aet {calling_aet!r}: an AE title is 1-16 printable characters")
        if retrieve not in ("get", "move"):
            raise PullError(f"--retrieve {retrieve!r}: choose get or move")
        if retrieve == "move" and not store_port:
            raise PullError("--retrieve move needs --store-port (the port the PACS sends the images to)")
        self.calling_aet, self.retrieve_by, self.store_port = calling_aet, retrieve, store_port
        self.store_host = store_host
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff
        self._server = None
        self._received: dict[str, Any] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The PACS and how it is asked, for messages and the provenance record."""
        how = "C-GET" if self.retrieve_by == "get" else f"C-MOVE to port {self.store_port}"
        return f"DIMSE {self.called_aet}@{self.host}:{self.port} (calling AE {self.calling_aet}, {how})"

    def _where(self) -> str:
        return f"dimse://{self.called_aet}@{self.host}:{self.port}"

    def _ae(self, contexts: tuple[str, ...], storage: bool = False):
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        for uid in contexts:
            ae.add_requested_context(uid)
        if storage:  # the stored transfer syntax is accepted as it is: no transcoding by the PACS
            for uid in _STORAGE:
                ae.add_requested_context(uid, _transfer_syntaxes())
        return ae

    def _associate(self, contexts: tuple[str, ...], storage: bool = False, handlers=None):
        """An established association, retried with backoff; refusals and silence become one line."""
        from pynetdicom.presentation import build_role

        roles = [build_role(uid, scp_role=True) for uid in _STORAGE] if storage else []

        def attempt():
            ae = self._ae(contexts, storage)
            assoc = ae.associate(self.host, self.port, ae_title=self.called_aet, ext_neg=roles or None,
                                 evt_handlers=handlers or [])
            if assoc.is_established:
                return assoc
            if assoc.is_rejected:
                raise PullError(f"{self._where()}: association rejected (calling AE {self.calling_aet} or called "
                                f"AE {self.called_aet} not accepted by the PACS)")
            raise ConnectionError("no association")

        try:
            return with_retries(attempt, attempts=self.attempts, backoff=self.backoff, retry_on=(ConnectionError,))
        except ConnectionError:
            raise PullError(f"{self._where()}: server unreachable (no DICOM association)") from None

    def check(self) -> None:
        """C-ECHO, then a one-study C-FIND, so refused AE titles show before anything is written."""
        from pynetdicom.sop_class import Verification

        assoc = self._associate((Verification,))
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
        if not status or status.Status != 0:
            raise PullError(f"{self._where()}: C-ECHO failed")
        self._find({"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "", "PatientID": "NONE-covsev-check"})

    def _find(self, identifier: dict[str, Any]) -> list[Any]:
        from pydicom.dataset import Dataset
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

        query = Dataset()
        for keyword, value in identifier.items():
            setattr(query, keyword, value)
        assoc = self._associate((FIND,))
        results, failed = [], None
        try:
            for status, found in assoc.send_c_find(query, FIND):
                if not status:
                    failed = "the PACS aborted the query"
                    break
                if status.Status in (0xFF00, 0xFF01) and found is not None:
                    results.append(found)
                elif status.Status != 0:
                    failed = f"status 0x{status.Status:04X}"
        finally:
            assoc.release()
        if failed:
            hint = f" (is calling AE {self.calling_aet} registered in the PACS for queries?)"
            raise PullError(f"{self._where()}: C-FIND refused: {failed}{hint}")
        return results

    def find_studies(self, *, study_uid: str | None = None, accession: str | None = None,
                     filters: dict[str, str] | None = None) -> list[str]:
        """StudyInstanceUIDs matching one UID, one accession number, or C-FIND keys."""
        identifier = {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": study_uid or "",
                      **({"AccessionNumber": accession} if accession else {}), **(filters or {})}
        found = self._find(identifier)
        return list(dict.fromkeys(str(ds.StudyInstanceUID) for ds in found if ds.get("StudyInstanceUID")))

    def instances(self, study_uid: str) -> list[Any]:
        """Headers of every instance of a study, from series- and image-level C-FIND."""
        headers = []
        for series in self._find({"QueryRetrieveLevel": "SERIES", "StudyInstanceUID": study_uid,
                                  "SeriesInstanceUID": "", "Modality": ""}):
            identifier = {"QueryRetrieveLevel": "IMAGE", "StudyInstanceUID": study_uid,
                          "SeriesInstanceUID": series.SeriesInstanceUID, **{k: "" for k in _IMAGE_KEYS}}
            for ds in self._find(identifier):
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series.SeriesInstanceUID
                if not ds.get("Modality"):
                    ds.Modality = series.get("Modality", "")
                headers.append(ds)
        return headers

    def retrieve(self, header) -> Any:
        """The whole instance, by C-GET or by C-MOVE to this side's storage SCP."""
        identifier = {"QueryRetrieveLevel": "IMAGE", "StudyInstanceUID": header.StudyInstanceUID,
                      "SeriesInstanceUID": header.SeriesInstanceUID, "SOPInstanceUID": header.SOPInstanceUID}
        sop = str(header.SOPInstanceUID)
        if self.retrieve_by == "get":
            self._get(identifier)
        else:
            self._move(identifier)
        with self._lock:
            dataset = self._received.pop(sop, None)
        if dataset is None:
            raise PullError(f"{self._where()}: instance {sop} was not delivered")
        return dataset

    def _store_handler(self, event):
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        with self._lock:
            self._received[str(dataset.SOPInstanceUID)] = dataset
        return 0x0000

    def _get(self, identifier: dict) -> None:
        from pydicom.dataset import Dataset
        from pynetdicom import evt
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

        query = Dataset()
        for keyword, value in identifier.items():
            setattr(query, keyword, value)
        assoc = self._associate((GET,), storage=True, handlers=[(evt.EVT_C_STORE, self._store_handler)])
        try:
            statuses = [s.Status for s, _ in assoc.send_c_get(query, GET) if s]
        finally:
            assoc.release()
        self._check_retrieve("C-GET", statuses)

    def _move(self, identifier: dict) -> None:
        from pydicom.dataset import Dataset
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE

        self._start_store_server()
        query = Dataset()
        for keyword, value in identifier.items():
            setattr(query, keyword, value)
        assoc = self._associate((MOVE,))
        try:
            statuses = [s.Status for s, _ in assoc.send_c_move(query, self.calling_aet, MOVE) if s]
        finally:
            assoc.release()
        self._check_retrieve("C-MOVE", statuses)

    def _check_retrieve(self, what: str, statuses: list[int]) -> None:
        final = statuses[-1] if statuses else None
        if final not in (0x0000, 0xB000):
            text = "no reply" if final is None else f"status 0x{final:04X}"
            hint = " (is the calling AE allowed to retrieve, and known to the PACS for C-MOVE?)" \
                if final is not None and final >= 0xA000 else ""
            raise PullError(f"{self._where()}: {what} failed: {text}{hint}")

    def _start_store_server(self) -> None:
        if self._server is not None:
            return
        from pynetdicom import AE, evt

        ae = AE(ae_title=self.calling_aet)
        for uid in _STORAGE:
            ae.add_supported_context(uid, _transfer_syntaxes())
        try:
            self._server = ae.start_server((self.store_host, self.store_port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._store_handler)])
        except OSError as exc:
            raise PullError(f"--store-port {self.store_port}: cannot listen ({exc.strerror})") from None

    def close(self) -> None:
        """Stop the C-MOVE storage SCP, if one was started."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None


def _transfer_syntaxes() -> list[str]:
    """The compressed syntaxes pydicom decodes (with pylibjpeg), then uncompressed: at most 8 per context.

    Compressed first, so that a PACS that takes the first acceptable one sends the stored pixels as
    they are rather than decoding them with its own decoder.
    """
    from pydicom import uid

    return [uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLosslessSV1, uid.JPEG2000Lossless, uid.JPEG2000,
            uid.RLELossless, uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian]
