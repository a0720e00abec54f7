"""``covsev pull``: find the frontal chest X-rays of a list of studies on a PACS, de-identify, save.

Order of work, so that a bad input costs nothing: the study list (or query) is checked, then the
server is reached and the credentials proved, and only then is the output folder made. Each image
is fetched, checked again on its full header, de-identified, checked for burned-in text, written
whole and recorded in the folder's journal; an interrupted pull run again skips what the journal
holds, so nothing is fetched twice.

Examples
--------
>>> summary = pull("http://127.0.0.1:8042/dicom-web", "site1", studies_csv="studies.csv")  # doctest: +SKIP
>>> print(summary.text())                                                                  # doctest: +SKIP
studies: 40 asked, 39 found, 1 not found
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from covsev_tools.pull.burnedin import corners_text, mask_corners, tesseract_available
from covsev_tools.pull.dicomweb import DicomWebSource
from covsev_tools.pull.dimse import DimseSource
from covsev_tools.pull.errors import PullError
from covsev_tools.pull.folder import PullFolder
from covsev_tools.pull.profile import PROFILE_DESCRIPTION, deidentify, library_versions
from covsev_tools.pull.selection import burned_in_flag, frontal_view, skip_reason
from covsev_tools.pull.studies import StudyRequest, parse_query, read_studies
from covsev_tools.pull.summary import PullSummary

__all__ = ["open_source", "pull"]


def open_source(url: str, *, user: str | None = None, password: str | None = None, token: str | None = None,
                calling_aet: str = "COVSEV", retrieve: str = "get", store_port: int | None = None,
                attempts: int = 4, backoff: float = 1.0):
    """The source a URL names: ``http(s)://.../dicom-web`` (DICOMweb) or ``dimse://AET@host:port``.

    Examples
    --------
    >>> open_source("dimse://PACS@10.0.0.5:104", calling_aet="COVSEV").describe()
    'DIMSE PACS@10.0.0.5:104 (calling AE COVSEV, C-GET)'
    >>> open_source("ftp://pacs")
    Traceback (most recent call last):
    covsev_tools.pull.errors.PullError: ftp://pacs: not a source; give http(s)://host/dicom-web or dimse://AET@host:port
    """
    if url.startswith(("http://", "https://")):
        if "@" in url.split("/")[2]:
            raise PullError("the URL holds credentials; give them with --user (password from COVSEV_PACS_PASSWORD) "
                            "or --token instead, so they stay out of the provenance record")
        return DicomWebSource(url, user=user, password=password, token=token, attempts=attempts, backoff=backoff)
    if url.startswith("dimse://"):
        return DimseSource(url, calling_aet=calling_aet, retrieve=retrieve, store_port=store_port,
                           attempts=attempts, backoff=backoff)
    raise PullError(f"{url}: not a source; give http(s)://host/dicom-web or dimse://AET@host:port")


def pull(url: str, out: str | Path, *, studies_csv: str | Path | None = None, query: list[str] | None = None,
         user: str | None = None, password: str | None = None, token: str | None = None,
         calling_aet: str = "COVSEV", retrieve: str = "get", store_port: int | None = None,
         mask: bool = False, exclude_burned_in: bool = False, ocr: bool | None = None,
         attempts: int = 4, backoff: float = 1.0, progress: bool = True, source=None) -> PullSummary:
    """Pull the frontal CR/DX chest X-rays of some studies into a de-identified, coordinator-only folder.

    Parameters
    ----------
    url : str
        ``http(s)://host/dicom-web`` or ``dimse://AET@host:port``.
    out : str or Path
        The pull folder (made 0700; an earlier pull's folder is resumed). See :mod:`covsev_tools.pull.folder`.
    studies_csv : str or Path, optional
        CSV with a ``StudyInstanceUID`` or ``AccessionNumber`` column.
    query : list of str, optional
        ``KEY=VALUE`` filters instead of a list (``PatientID``, ``StudyDate`` range, ``Modality``...).
    user, password, token
        DICOMweb basic or bearer-token authentication.
    calling_aet, retrieve, store_port
        DIMSE: this side's AE title, ``"get"`` or ``"move"``, the C-MOVE storage port.
    mask : bool
        Black out the corners of images that may carry burned-in text.
    exclude_burned_in : bool
        Leave such images out instead.
    ocr : bool, optional
        Read the corners with tesseract; default: when tesseract is installed.
    attempts, backoff
        Retries of a failed request and the first wait (seconds, doubled each time).
    progress : bool
        tqdm progress bar on stderr.
    source : object, optional
        A source already made (with ``check``, ``find_studies``, ``instances``, ``retrieve``,
        ``describe``, ``close``), used instead of the one ``url`` names: tests wrap one to count or
        interrupt retrievals.

    Returns
    -------
    PullSummary

    Raises
    ------
    PullError
        Bad list or option, server unreachable, credentials refused, or no image to keep (then a
        folder this call made is removed again).
    """
    if mask and exclude_burned_in:
        raise PullError("--mask-corners and --exclude-burned-in: choose one")
    if (studies_csv is None) == (not query):
        raise PullError("give either --studies CSV or --query KEY=VALUE")
    requests = read_studies(studies_csv) if studies_csv is not None else \
        [StudyRequest(0, filters=tuple(parse_query(query).items()))]
    source = source or open_source(url, user=user, password=password, token=token, calling_aet=calling_aet,
                                   retrieve=retrieve, store_port=store_port, attempts=attempts, backoff=backoff)
    started = _now()
    try:
        source.check()
        folder = PullFolder(out)
        created = folder.prepare()
        try:
            with folder.locked():
                summary = _run(source, folder, requests, mask, exclude_burned_in,
                               tesseract_available() if ocr is None else ocr, progress)
        except BaseException:
            if created and not folder.journal():
                shutil.rmtree(folder.root, ignore_errors=True)
            raise
    finally:
        source.close()
    run = {"source": source.describe(), "started": started, "finished": _now(),
           "request": {"studies_csv": str(Path(studies_csv).resolve()) if studies_csv is not None else None,
                       "studies_csv_sha256": _sha256(studies_csv) if studies_csv is not None else None,
                       "n_studies": len(requests) if studies_csv is not None else None,
                       "query": dict(requests[0].filters) if studies_csv is None else None},
           "selection": "frontal (PA/AP or unstated view) chest (or unstated body part) CR/DX images: CR Image, "
                        "DX For Presentation, or Secondary Capture with modality CR/DX",
           "deidentification": {"profile": PROFILE_DESCRIPTION, "libraries": library_versions(),
                                "burned_in": "masked corners" if mask else ("excluded" if exclude_burned_in
                                                                            else "listed for review"),
                                "ocr": bool(tesseract_available() if ocr is None else ocr)},
           "summary": summary.as_dict()}
    folder.write_provenance(run)
    folder.secure()
    return summary


def _run(source, folder: PullFolder, requests: list[StudyRequest], mask: bool, exclude: bool, ocr: bool,
         progress: bool) -> PullSummary:
    key = folder.key()
    journal = folder.journal()
    done = {e["original_sop_uid"] for e in journal}
    summary = PullSummary(studies_asked=len(requests) if not requests[0].filters else 0)
    todo, seen = [], set()
    for request in requests:
        studies = source.find_studies(study_uid=request.study_uid or None, accession=request.accession or None,
                                      filters=dict(request.filters) or None)
        if not studies:
            summary.not_found.append(request.label)
            continue
        studies = [uid for uid in studies if uid not in seen]  # listed twice (UID and accession): once
        seen.update(studies)
        summary.studies_found += len(studies)
        if request.filters:
            summary.studies_asked += len(studies)
        for study_uid in studies:
            for header in source.instances(study_uid):
                reason = skip_reason(header)
                if reason:
                    summary.skip(str(header.get("SOPInstanceUID", "")), reason)
                elif str(header.SOPInstanceUID) in done:
                    summary.images_already_there += 1
                else:
                    todo.append(header)
    try:
        for header in _bar(todo, progress):
            _fetch_one(source, folder, header, key, summary, mask, exclude, ocr, journal)
    finally:
        if journal:
            folder.write_tables(journal)
    if not journal:
        asked = f"{summary.studies_asked} stud{'y' if summary.studies_asked == 1 else 'ies'} asked"
        why = "; ".join(f"{n} {reason}" for reason, n in summary.reasons().most_common(3)) or \
            f"{len(summary.not_found)} not found"
        raise PullError(f"{source.describe()}: no frontal CR/DX image among the {asked} ({why}); nothing written")
    return summary


def _fetch_one(source, folder: PullFolder, header, key: bytes, summary: PullSummary, mask: bool, exclude: bool,
               ocr: bool, journal: list) -> None:
    sop = str(header.SOPInstanceUID)
    dataset = source.retrieve(header)
    reason = skip_reason(dataset)  # the full header can say more than the query did
    if reason:
        summary.skip(sop, reason)
        return
    burned = "BurnedInAnnotation=YES" if burned_in_flag(dataset) else ""
    try:
        if not burned and ocr:
            words = corners_text(dataset)
            burned = f"OCR found {len(words.split())} word(s) in the corners" if words else ""
        if burned and exclude:
            summary.burned_in.append(sop)
            summary.excluded_burned_in += 1
            summary.skip(sop, "burned-in text possible (excluded)")
            return
        if burned and mask:
            mask_corners(dataset)
        facts = {"view": frontal_view(dataset), "modality": str(dataset.get("Modality", "")),
                 "original_accession": str(dataset.get("AccessionNumber", "")),
                 "original_study_date": str(dataset.get("StudyDate", ""))}
        link = deidentify(dataset, key)
        if burned and not mask:  # PS3.3: YES means removed from the attributes *and* the pixel data
            dataset.PatientIdentityRemoved = "NO"
    except Exception as exc:  # a file pydicom or the de-identifier cannot handle is skipped, never half-kept
        summary.skip(sop, f"unreadable ({type(exc).__name__}: {str(exc)[:80]})")
        return
    entry = {**link, **facts, "filename": f"{link['new_patient_id']}/{link['new_sop_uid']}.dcm",
             "source": source.describe(), "sex": str(dataset.get("PatientSex", "")),
             "age": _years(str(dataset.get("PatientAge", ""))), "date": str(dataset.get("StudyDate", "")),
             "burned_in": burned, "masked": bool(burned and mask)}
    folder.keep(dataset, entry)
    journal.append(entry)
    summary.images_kept += 1
    summary.view_unstated += not facts["view"]
    if burned:
        summary.burned_in.append(sop)
        summary.masked += bool(mask)


def _years(age: str) -> str:
    """A DICOM age string (``045Y``, ``006M``) as years, for the metadata."""
    if len(age) == 4 and age[:3].isdigit() and age[3] in "YMWD":
        per_year = {"Y": 1, "M": 12, "W": 52.18, "D": 365.25}[age[3]]
        return str(int(int(age[:3]) / per_year))
    return ""


def _bar(items: list, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc="pull", unit="image", disable=not progress or not items)


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
