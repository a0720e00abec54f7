"""What to pull: a CSV of studies (StudyInstanceUID or AccessionNumber) or a query, checked up front.

Every row is checked before the first request, so a typo in row 40 stops the pull before anything
is fetched or written, with the file, the row and the reason in one line.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "studies.csv"
>>> _ = path.write_text("StudyInstanceUID\\n1.2.840.1\\n1.2.840.2\\n")
>>> [r.label for r in read_studies(path)]
['StudyInstanceUID 1.2.840.1', 'StudyInstanceUID 1.2.840.2']
>>> parse_query(["PatientID=MRN1", "StudyDate=20200101-20200331"])
{'PatientID': 'MRN1', 'StudyDate': '20200101-20200331'}
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from covsev_tools.pull.errors import PullError

__all__ = ["QUERY_KEYS", "StudyRequest", "parse_query", "read_studies"]

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_SAFE = re.compile(r"^[A-Za-z0-9 ._\-/^]{1,64}$")
_DATE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")
#: Keys a ``--query`` may use (study-level attributes every PACS matches on).
QUERY_KEYS = ("PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy", "StudyDescription")


@dataclass(frozen=True)
class StudyRequest:
    """One study asked for: by ``study_uid`` or by ``accession``, or by ``filters`` (a query)."""

    row: int
    study_uid: str = ""
    accession: str = ""
    filters: tuple = ()

    @property
    def label(self) -> str:
        """How the summary names the request.

        Examples
        --------
        >>> StudyRequest(2, accession="A1").label
        'AccessionNumber A1'
        """
        if self.study_uid:
            return f"StudyInstanceUID {self.study_uid}"
        if self.accession:
            return f"AccessionNumber {self.accession}"
        return "query " + ", ".join(f"{k}={v}" for k, v in self.filters)


def read_studies(path: str | Path) -> list[StudyRequest]:
    """The requests of a CSV with a ``StudyInstanceUID`` or an ``AccessionNumber`` column (or both).

    Blank rows are skipped; a row's UID wins over its accession number; repeated studies are asked once.

    Raises
    ------
    PullError
        Missing file or column, an empty list, or a malformed UID or accession number (file and row named).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            if "StudyInstanceUID" not in columns and "AccessionNumber" not in columns:
                raise PullError(f"{path}: needs a StudyInstanceUID or an AccessionNumber column")
            requests, seen = [], set()
            for row_number, raw in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
                uid, accession = row.get("StudyInstanceUID", ""), row.get("AccessionNumber", "")
                if not uid and not accession:
                    continue
                if uid and (len(uid) > 64 or not _UID.match(uid)):
                    raise PullError(f"{path}: row {row_number}: {uid[:70]!r} is not a DICOM UID")
                if not uid and not _SAFE.match(accession):
                    raise PullError(f"{path}: row {row_number}: accession number {accession[:70]!r} has "
                                    "characters a PACS query cannot take")
                request = StudyRequest(row_number, study_uid=uid) if uid else \
                    StudyRequest(row_number, accession=accession)
                if request.label not in seen:
                    seen.add(request.label)
                    requests.append(request)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PullError(f"{path}: cannot read the study list ({getattr(exc, 'strerror', None) or exc})") from None
    if not requests:
        raise PullError(f"{path}: no study listed")
    return requests


def parse_query(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` items (keys from :data:`QUERY_KEYS`) as a filter dictionary; dates as ``YYYYMMDD-YYYYMMDD``.

    Examples
    --------
    >>> parse_query(["Modality=CR"])
    {'ModalitiesInStudy': 'CR'}
    """
    filters: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key == "Modality":
            key = "ModalitiesInStudy"
        if not sep or key not in QUERY_KEYS:
            raise PullError(f"--query {item!r}: expected KEY=VALUE with KEY one of {', '.join(QUERY_KEYS)}")
        if key == "StudyDate" and not (_DATE.match(value) and value.strip("-")):
            raise PullError(f"--query {item!r}: a date or range is YYYYMMDD, YYYYMMDD-YYYYMMDD or YYYYMMDD-")
        if key != "StudyDate" and not _SAFE.match(value.replace("*", "").replace("?", "") or "x"):
            raise PullError(f"--query {item!r}: the value has characters a PACS query cannot take")
        filters[key] = value
    if not filters:
        raise PullError("--query: give at least one KEY=VALUE")
    return filters
