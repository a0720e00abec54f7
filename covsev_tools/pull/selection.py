"""Which instances of a study are kept: frontal chest radiographs (CR or DX), and why others are not.

A chest X-ray study often holds a lateral view, a presentation state, a dose report or a scanned
request next to the frontal image. Only the frontal CR/DX images are scored; everything else is
skipped with its reason, which the pull's summary counts.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.SOPClassUID, ds.Modality, ds.ViewPosition = CR_IMAGE, "CR", "LL"
>>> skip_reason(ds)
'lateral view (LL)'
>>> ds.ViewPosition = "PA"
>>> skip_reason(ds) is None, frontal_view(ds)
(True, 'PA')
"""
from __future__ import annotations

__all__ = ["CR_IMAGE", "DX_PRESENTATION", "DX_PROCESSING", "SECONDARY_CAPTURE", "burned_in_flag",
           "frontal_view", "skip_reason"]

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
#: Secondary capture: digitised films and converted public sets (SIIM, NIH) carry Modality CR/DX.
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_IMAGE_CLASSES = {CR_IMAGE, DX_PRESENTATION, SECONDARY_CAPTURE}
_FRONTAL = {"PA", "AP"}
_LATERAL = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD", "LLO", "RLO"}
#: Body Part Examined values (PS3.16 CID 4031 and common local variants) of a chest radiograph;
#: an image that does not state its body part is kept.
_CHEST = ("CHEST", "THORAX", "LUNG", "TORAX", "THORAKS", "POUMON")


def skip_reason(header) -> str | None:
    """Why an instance is not kept (``None``: it is a frontal CR/DX chest radiograph).

    Parameters
    ----------
    header : pydicom.Dataset
        The instance's attributes (pixel data not needed).

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> sr = Dataset(); sr.SOPClassUID, sr.Modality = "1.2.840.10008.5.1.4.1.1.88.11", "SR"
    >>> skip_reason(sr)
    'not an image (Basic Text SR Storage)'
    >>> ct = Dataset(); ct.SOPClassUID, ct.Modality = "1.2.840.10008.5.1.4.1.1.2", "CT"
    >>> skip_reason(ct)
    'not CR/DX (CT)'
    >>> abdomen = Dataset(); abdomen.SOPClassUID, abdomen.Modality = CR_IMAGE, "CR"
    >>> abdomen.ViewPosition, abdomen.BodyPartExamined = "AP", "ABDOMEN"
    >>> skip_reason(abdomen)
    'not chest (ABDOMEN)'
    """
    sop_class = str(header.get("SOPClassUID", ""))
    modality = str(header.get("Modality", "")).upper()
    if sop_class == DX_PROCESSING:
        return "DX for processing (raw detector data, not for display)"
    if sop_class not in _IMAGE_CLASSES and "PixelData" not in header and not _is_image_class(sop_class):
        return f"not an image ({_class_name(sop_class)})"
    if modality not in ("CR", "DX"):
        return f"not CR/DX ({modality or 'no modality'})"
    if sop_class not in _IMAGE_CLASSES:
        return f"not a CR/DX image class ({_class_name(sop_class)})"
    view = frontal_view(header)
    if view not in _FRONTAL and view in _LATERAL:
        return f"lateral view ({view})"
    body = str(header.get("BodyPartExamined", "") or "").strip().upper()
    if body and not any(word in body for word in _CHEST):
        return f"not chest ({body})"
    return None


def frontal_view(header) -> str:
    """``PA``, ``AP``, a lateral code, or ``""`` when the image does not say.

    View Position first, else the View Code Sequence's meaning (SNOMED-coded views).

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> code = Dataset(); code.CodeMeaning = "postero-anterior"
    >>> ds = Dataset(); ds.ViewCodeSequence = [code]
    >>> frontal_view(ds)
    'PA'
    """
    view = str(header.get("ViewPosition", "") or "").strip().upper()
    if view:
        return view
    for item in header.get("ViewCodeSequence", []) or []:
        meaning = str(item.get("CodeMeaning", "")).lower()
        if "lateral" in meaning:
            return "LAT"
        if "postero-anterior" in meaning or "posteroanterior" in meaning:
            return "PA"
        if "antero-posterior" in meaning or "anteroposterior" in meaning:
            return "AP"
    return ""


def burned_in_flag(header) -> bool:
    """True when the image says its pixels carry burned-in text (Burned In Annotation = YES).

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.BurnedInAnnotation = "YES"
    >>> burned_in_flag(ds)
    True
    """
    return str(header.get("BurnedInAnnotation", "")).strip().upper() == "YES"


def _is_image_class(sop_class: str) -> bool:
    from pydicom.uid import UID

    name = UID(sop_class).name if sop_class else ""
    return "Image Storage" in name


def _class_name(sop_class: str) -> str:
    from pydicom.uid import UID

    if not sop_class:
        return "no SOP class"
    name = UID(sop_class).name
    return name if name != sop_class else f"SOP class {sop_class}"
