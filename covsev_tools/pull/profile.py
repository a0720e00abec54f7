"""De-identification on the way in: DICOM PS3.15 Annex E Basic Profile, with two of its options.

What a study needs from its images is the image, the patient's sex and age, and the time between a
patient's images; not who the patient is, where they were scanned or on which day. The profile is
the standard's Basic Application Level Confidentiality Profile (Table E.1-1, shipped as
``data/basic_profile.csv``) with

- *Retain Longitudinal Temporal Information with Modified Dates*: every date and time is moved by
  one secret offset, so the days between a patient's images are kept;
- *Retain Patient Characteristics*: sex, age, size, weight and ethnic group are kept (the option's
  free-text "clean" elements, such as allergies, are removed: text cannot be cleaned safely).

The replacement values (new UIDs, dummy names and IDs, shifted dates) come from dicognito, a
maintained pydicom-based implementation whose replacements are derived from a seed: the same
original UID gives the same new UID in every run with the same seed, so a resumed or later pull
into the same folder stays consistent without keeping a mapping in memory. dicognito alone leaves
many Basic-Profile elements in place (descriptions, comments, private attributes, overlays: see
``benchmarks/pull_deid.py``), so the table's remove/empty actions are applied first and every
element of the table is checked afterwards; an image that still carries an original value is refused.

References
----------
DICOM PS3.15 2025a, Annex E "Attribute Confidentiality Profiles", Table E.1-1.
dicognito, https://github.com/blairconrad/dicognito (MIT).

Examples
--------
>>> actions = basic_profile_actions()
>>> actions["PatientName"], actions["PatientSex"], actions["StudyDate"], actions["StudyInstanceUID"]
('Z', 'K', 'C', 'U')
"""
from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import importlib.metadata
import importlib.resources
import warnings
from typing import Any

__all__ = ["PROFILE_DESCRIPTION", "PROFILE_CODES", "basic_profile_actions", "basic_profile_table",
           "deidentify", "pseudonym", "remaining_identifiers"]

#: The profile and options as DICOM codes (DCM, CID 7050), written into each image.
PROFILE_CODES = (("113100", "Basic Application Confidentiality Profile"),
                 ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
                 ("113108", "Retain Patient Characteristics Option"))
#: One line for the provenance file and the report's methods text.
PROFILE_DESCRIPTION = ("DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile with the Retain "
                       "Longitudinal Temporal Information with Modified Dates and Retain Patient "
                       "Characteristics options")


@functools.lru_cache(maxsize=1)
def basic_profile_table() -> tuple[dict[str, str], ...]:
    """The rows of Table E.1-1: ``tag`` (8 hex digits, ``X`` for a repeating group), ``keyword``,
    ``name``, ``basic`` (the Basic Profile's action), ``dates`` and ``patient`` (the two options').

    Examples
    --------
    >>> rows = basic_profile_table()
    >>> len(rows) > 600, rows[0]["keyword"]
    (True, 'AffectedSOPInstanceUID')
    """
    text = importlib.resources.files("covsev_tools.pull").joinpath("data/basic_profile.csv").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return tuple(csv.DictReader(lines))


@functools.lru_cache(maxsize=1)
def basic_profile_actions() -> dict[str, str]:
    """Keyword -> the action covsev takes under the profile and its two options.

    ``K`` keep, ``C`` shift (dates and times), ``X`` remove, ``Z`` empty, ``D`` replace by a dummy
    (emptied when dicognito has no dummy for it), ``U`` new UID. Where the standard allows a choice
    (``X/Z``, ``X/Z/D``...) the element is emptied or replaced, which keeps a type 1 or 2 element
    present; ``X/Z/U*`` sequences keep their items with new UIDs.

    Examples
    --------
    >>> actions = basic_profile_actions()
    >>> actions["PatientBirthDate"], actions["PatientAge"], actions["InstitutionName"], actions["Allergies"]
    ('Z', 'K', 'D', 'X')
    """
    actions = {}
    for row in basic_profile_table():
        if not row["keyword"]:
            continue
        basic = row["basic"]
        if row["patient"] == "K":
            action = "K"
        elif row["dates"] == "C":
            action = "C"
        elif basic.startswith("X/Z/U"):
            action = "U"
        elif basic in ("X", "Z", "D", "U"):
            action = basic
        else:  # X/Z, X/D, Z/D, X/Z/D
            action = "D" if "D" in basic else "Z"
        actions[row["keyword"]] = action
    return actions


def pseudonym(original_patient_id: str, key: bytes, prefix: str = "P") -> str:
    """A patient's pseudonymous ID: the same for every study of that patient, meaningless without ``key``.

    An HMAC-SHA256 of the original ID under the pull folder's secret key, so the mapping needs no
    table to stay consistent across studies and resumed runs, and cannot be reversed by trying IDs
    without the key. 12 base-32 characters (60 bits): no collision in practice for a cohort.

    Examples
    --------
    >>> pseudonym("12345678", b"k" * 32)
    'P...'
    >>> pseudonym("12345678", b"k" * 32) == pseudonym("12345678", b"k" * 32) != pseudonym("1234567", b"k" * 32)
    True
    """
    import base64

    digest = hmac.new(key, original_patient_id.encode("utf-8"), hashlib.sha256).digest()
    return prefix + base64.b32encode(digest).decode("ascii")[:12]


def deidentify(dataset, key: bytes) -> dict[str, Any]:
    """De-identify ``dataset`` in place; return what the link table needs (original ↔ new).

    Parameters
    ----------
    dataset : pydicom.Dataset
        A whole instance (with ``file_meta``); changed in place.
    key : bytes
        The pull folder's secret: seeds dicognito (new UIDs, date offset) and the patient pseudonym.

    Returns
    -------
    dict
        ``original_*`` and ``new_*`` patient ID, study, series and SOP instance UIDs.

    Raises
    ------
    ValueError
        An element of the profile still holds an original value after de-identification
        (never seen; the image is then not kept).

    Examples
    --------
    >>> from pydicom.dataset import Dataset, FileMetaDataset
    >>> ds = Dataset()
    >>> ds.file_meta = FileMetaDataset()
    >>> ds.PatientName, ds.PatientID, ds.PatientSex, ds.StudyDate = "Doe^Jane", "123", "F", "20200314"
    >>> ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3", "1.2.3.4", "1.2.3.4.5"
    >>> ds.InstitutionName, ds.StudyDescription = "St Elsewhere", "CHEST PA for Jane Doe"
    >>> link = deidentify(ds, b"k" * 32)
    >>> str(ds.PatientName) == ds.PatientID == link["new_patient_id"], ds.PatientSex
    (True, 'F')
    >>> "StudyDescription" in ds, ds.StudyDate != "20200314", ds.StudyInstanceUID != "1.2.3"
    (False, True, True)
    """
    import copy

    import dicognito.anonymizer

    original = copy.deepcopy(dataset)
    link = {"original_patient_id": str(dataset.get("PatientID", "")),
            "original_study_uid": str(dataset.get("StudyInstanceUID", "")),
            "original_series_uid": str(dataset.get("SeriesInstanceUID", "")),
            "original_sop_uid": str(dataset.get("SOPInstanceUID", ""))}
    _keep_age(dataset)
    _apply_removals(dataset, empty=False)  # dicognito cannot take an empty ID
    with warnings.catch_warnings():  # dicognito looks up "<X>Time" for every "<X>Date", named or not
        warnings.filterwarnings("ignore", message=".*used with the 'in' operator", category=UserWarning)
        dicognito.anonymizer.Anonymizer(seed=key.hex()).anonymize(dataset)
    _apply_removals(dataset)  # dicognito adds fake addresses where the profile removes them
    _empty_unreplaced(dataset, original)
    new_id = pseudonym(link["original_patient_id"], key)
    dataset.PatientID, dataset.PatientName = new_id, new_id
    _record_method(dataset)
    left = remaining_identifiers(dataset, original)
    if left:
        raise ValueError(f"original value left in {', '.join(left[:3])}")
    link.update(new_patient_id=new_id, new_study_uid=str(dataset.get("StudyInstanceUID", "")),
                new_series_uid=str(dataset.get("SeriesInstanceUID", "")),
                new_sop_uid=str(dataset.get("SOPInstanceUID", "")))
    return link


def _keep_age(dataset) -> None:
    """Patient's Age from birth and study dates when the image has none (the birth date is removed)."""
    birth, study = str(dataset.get("PatientBirthDate", "")), str(dataset.get("StudyDate", ""))
    if dataset.get("PatientAge") or len(birth) != 8 or len(study) != 8 or not (birth + study).isdigit():
        return
    years = int(study[:4]) - int(birth[:4]) - (study[4:] < birth[4:])
    if 0 <= years < 1000:
        dataset.PatientAge = f"{years:03d}Y"


def _apply_removals(dataset, empty: bool = True) -> None:
    """The table's X (and, if ``empty``, Z) actions, private attributes and curve/overlay groups, at every depth."""
    actions = basic_profile_actions()

    def visit(ds):
        for element in list(ds):
            group = element.tag.group
            if element.tag.is_private or 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and group % 2 == 0):
                del ds[element.tag]
                continue
            action = actions.get(element.keyword)
            if action == "X":
                del ds[element.tag]
            elif action == "Z" and empty:
                element.value = None if element.VR != "SQ" else []
            elif element.VR == "SQ":
                for item in element.value:
                    visit(item)

    visit(dataset)
    for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                    "ReceivingApplicationEntityTitle"):
        if keyword in dataset.file_meta:
            delattr(dataset.file_meta, keyword)


def _empty_unreplaced(dataset, original) -> None:
    """A D or C element dicognito left as it was is emptied (a dummy or shifted value was required)."""
    actions = basic_profile_actions()

    def visit(ds, before):
        for element in list(ds):
            action = actions.get(element.keyword)
            if element.VR == "SQ":
                previous = before.get(element.tag) if before is not None else None
                for i, item in enumerate(element.value):
                    visit(item, previous.value[i] if previous is not None and i < len(previous.value) else None)
                continue
            if action in ("D", "C", "U") and element.value not in (None, "", b"") and before is not None \
                    and element.tag in before and before[element.tag].value == element.value:
                element.value = None

    visit(dataset, original)


def _record_method(dataset) -> None:
    from pydicom.dataset import Dataset

    dataset.PatientIdentityRemoved = "YES"
    dataset.LongitudinalTemporalInformationModified = "MODIFIED"
    dataset.DeidentificationMethod = "covsev: PS3.15 Annex E Basic, Modified Dates, Patient Chars"  # LO: 64
    codes = []
    for value, meaning in PROFILE_CODES:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "DCM", meaning
        codes.append(code)
    dataset.DeidentificationMethodCodeSequence = codes


def remaining_identifiers(dataset, original) -> list[str]:
    """Elements of the profile (not kept by an option) that still hold their original, non-empty value.

    Checks every element of Table E.1-1 at every depth of ``dataset`` against ``original``, plus
    private attributes and curve/overlay groups. Empty means de-identified.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> before = Dataset(); before.PatientName = "Doe^Jane"; before.PatientSex = "F"
    >>> after = Dataset(); after.PatientName = "Doe^Jane"; after.PatientSex = "F"
    >>> remaining_identifiers(after, before)
    ['PatientName']
    """
    actions = basic_profile_actions()
    originals = _values_by_keyword(original)
    left = []

    def visit(ds, path):
        for element in ds:
            name = path + (element.keyword or str(element.tag))
            group = element.tag.group
            if element.tag.is_private or 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and group % 2 == 0):
                left.append(name)
                continue
            if element.VR == "SQ":
                for item in element.value:
                    visit(item, name + ">")
                continue
            action = actions.get(element.keyword)
            if action in (None, "K") or element.value in (None, "", b""):
                continue
            if action == "X" or _text(element.value) in originals.get(element.keyword, ()):
                left.append(name)

    visit(dataset, "")
    return left


def _text(value) -> str:
    return str(list(value) if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__") else value)


def _values_by_keyword(dataset) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}

    def visit(ds):
        for element in ds:
            if element.VR == "SQ":
                for item in element.value:
                    visit(item)
            elif element.value not in (None, "", b""):
                values.setdefault(element.keyword, set()).add(_text(element.value))

    visit(dataset)
    return values


def library_versions() -> dict[str, str]:
    """Versions of the libraries that de-identify, for the provenance record.

    Examples
    --------
    >>> sorted(library_versions())
    ['dicognito', 'pydicom']
    """
    return {name: importlib.metadata.version(name) for name in ("dicognito", "pydicom")}
