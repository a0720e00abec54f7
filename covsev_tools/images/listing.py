"""Finding the image files of a study folder, in a stable order.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> root = Path(tempfile.mkdtemp())
>>> for name in ("b.png", "a/c.dcm", ".hidden.png", ".cache/d.png"):
...     (root / name).parent.mkdir(parents=True, exist_ok=True)
...     _ = (root / name).write_bytes(b"")
>>> [p.relative_to(root).as_posix() for p in list_images(root)]
['a/c.dcm', 'b.png']
"""
from __future__ import annotations

import os
from pathlib import Path


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Every regular, non-hidden file under ``folder``, sorted by relative path (as cohorts do).

    Hidden files and folders (name starting with ``.``) are skipped; files are not opened here, so
    an unreadable one is listed and reported by whoever reads it.

    Parameters
    ----------
    folder : path
        The images folder, searched recursively.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> import tempfile
    >>> list_images(tempfile.mkdtemp())
    []
    """
    folder = Path(folder)
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in names
                  if not n.startswith(".") and (Path(root) / n).is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())
