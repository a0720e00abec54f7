"""Where a cohort's images came from: the pull's record, found beside its images, in one sentence.

``covsev pull`` writes ``pull.json`` beside the ``images/`` folder it fills. ``covsev cohort create``
on that ``images/`` folder copies the record into the cohort (coordinator-only ``provenance.json``),
``covsev cohort show`` prints it, and the report's methods text says how the images were retrieved
and de-identified.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()); (root / "images").mkdir()
>>> find_pull_record(root / "images") is None
True
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from covsev_tools.pull.folder import PROVENANCE_FILE, read_provenance

__all__ = ["find_pull_record", "provenance_sentence"]


def find_pull_record(images_dir: str | Path) -> dict[str, Any] | None:
    """The pull record of an ``images/`` folder that ``covsev pull`` filled, else None.

    Examples
    --------
    >>> find_pull_record("/nonexistent/images") is None
    True
    """
    images_dir = Path(images_dir)
    path = images_dir.parent / PROVENANCE_FILE
    if images_dir.name != "images" or not path.is_file() or not (images_dir.parent / ".pull").is_dir():
        return None
    return read_provenance(path)


def provenance_sentence(record: dict[str, Any]) -> str:
    """One sentence on how the images were retrieved and de-identified, for methods text and ``cohort show``.

    Examples
    --------
    >>> run = {"source": "DICOMweb https://pacs/dicom-web", "finished": "2026-12-07T15:00:00+00:00",
    ...        "deidentification": {"profile": "DICOM PS3.15 Annex E Basic Profile",
    ...                             "libraries": {"dicognito": "0.19.0", "pydicom": "3.0.2"},
    ...                             "burned_in": "listed for review"},
    ...        "summary": {"images_kept": 12, "studies_asked": 10}}
    >>> provenance_sentence({"runs": [run]})
    'Images were retrieved from a PACS by DICOMweb (10 studies asked, 12 frontal CR/DX images kept; 2026-12-07) and de-identified on retrieval (DICOM PS3.15 Annex E Basic Profile; dicognito 0.19.0, pydicom 3.0.2); images flagged for burned-in text were listed for review.'
    """
    runs = record.get("runs") or []
    if not runs:
        return ""
    kinds = sorted({str(r.get("source", "")).split(" ")[0] for r in runs})
    asked = sum(int((r.get("summary") or {}).get("studies_asked") or 0) for r in runs)
    kept = sum(int((r.get("summary") or {}).get("images_kept") or 0) for r in runs)
    days = sorted(str(r.get("finished", ""))[:10] for r in runs)
    when = days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"
    deid = runs[-1].get("deidentification") or {}
    libraries = ", ".join(f"{k} {v}" for k, v in sorted((deid.get("libraries") or {}).items()))
    return (f"Images were retrieved from a PACS by {' and '.join(kinds)} ({asked} studies asked, {kept} frontal "
            f"CR/DX images kept; {when}) and de-identified on retrieval ({deid.get('profile', '')}; {libraries}); "
            f"images flagged for burned-in text were {deid.get('burned_in', 'listed for review')}.")
