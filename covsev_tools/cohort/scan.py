"""Finding the image files of a folder and grouping identical files (sha256) into one case.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.png").write_bytes(b"same"), (folder / "b.png").write_bytes(b"same")
>>> rows, first = group_by_content(find_files(folder, exclude=[]), folder)
>>> [r["filename"] for r in rows], len(first)
(['a.png', 'b.png'], 1)
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from covsev_tools.cohort.folder import SOURCE_COLUMNS
from covsev_tools.images.listing import list_images

__all__ = ["file_sha256", "find_files", "group_by_content", "mark_duplicates"]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of the file's bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = path.write_bytes(b"abc")
    >>> file_sha256(path)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def find_files(images_dir: Path, exclude: Iterable[Path]) -> list[Path]:
    """Every regular, non-hidden file under ``images_dir`` (sorted), outside the ``exclude`` files and folders.

    The listing is :func:`covsev_tools.images.listing.list_images`; ``exclude`` keeps the cohort's own
    folder and the metadata CSV out when they sit inside the images folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "cohort").mkdir()
    >>> for name in (".hidden", "x.png", "meta.csv", "cohort/c1.png"):
    ...     _ = (folder / name).write_text("")
    >>> [p.name for p in find_files(folder, exclude=[folder / "cohort", folder / "meta.csv"])]
    ['x.png']
    """
    excluded = [p.resolve() for p in exclude]

    def kept(path: Path) -> bool:
        real = path.resolve()
        return not any(real == e or e in real.parents for e in excluded)

    return [p for p in list_images(images_dir) if kept(p)]


def group_by_content(files: list[Path], images_dir: Path) -> tuple[list[dict], dict]:
    """Hash every file: key rows (one per file) and sha256 -> first row (the file that is scored).

    A file that cannot be read gets ``status`` "unreadable" and its error at once.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.png").write_bytes(b"x")
    >>> rows, first = group_by_content([folder / "a.png"], folder)
    >>> rows[0]["filename"], rows[0]["sha256"][:8], list(first) == [rows[0]["sha256"]]
    ('a.png', '2d711642', True)
    """
    rows, first = [], {}
    for path in files:
        row = {"filename": path.relative_to(images_dir).as_posix(), "path": str(path.resolve()),
               "sha256": "", "case_id": "", "duplicate_of": "", "status": "", "error": ""}
        try:
            row["sha256"] = file_sha256(path)
        except OSError as exc:
            row.update(status="unreadable", error=f"cannot read file ({exc.strerror or exc})")
        rows.append(row)
        if row["sha256"]:
            first.setdefault(row["sha256"], row)
    return rows, first


def mark_duplicates(rows: list[dict], first: dict[str, dict]) -> list[tuple[str, str]]:
    """Later files with the same content share the first file's case ID (or its error).

    Returns the (file, first file) pairs that became duplicates.

    Examples
    --------
    >>> a = {"filename": "a.png", "sha256": "f", "status": "ok", "case_id": "cx", "error": ""}
    >>> b = {"filename": "b.png", "sha256": "f", "status": "", "case_id": "", "error": ""}
    >>> mark_duplicates([a, b], {"f": a}), b["status"], b["case_id"]
    ([('b.png', 'a.png')], 'duplicate', 'cx')
    """
    duplicates = []
    for row in rows:
        original = first.get(row["sha256"]) if row["sha256"] else None
        if original is None or original is row:
            continue
        row["duplicate_of"] = original["filename"]
        if original["status"] == "ok":
            row.update({c: original.get(c, "") for c in SOURCE_COLUMNS}, case_id=original["case_id"],
                       status="duplicate")
            duplicates.append((row["filename"], original["filename"]))
        else:
            row.update(status="unreadable", error=original["error"])
    return duplicates
