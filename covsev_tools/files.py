"""Output files written whole or not at all.

A coordinator often re-runs a command over its previous output (``predictions.csv``, the ratings
export, ``cohort.json``). Writing in place would leave a truncated file behind if the run is
killed or the disk fills up, and the earlier good file would be gone. Everything is therefore
written to a temporary file in the same folder, flushed to disk, and moved over the target with
``os.replace``, which is atomic on POSIX and Windows file systems. A symbolic link is followed
(its target is replaced), an existing file keeps its permissions, and a target that is not a
regular file (``/dev/stdout``, a pipe) is written directly.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with replaced_atomically(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text()
'done'
"""
from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def replaced_atomically(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    On an exception the temporary file is removed and ``path`` keeps its previous content.
    ``durable=False`` skips the two fsyncs (about 2 ms per file) for files that can be rebuilt,
    such as a cohort's display images.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a device or a pipe cannot be replaced
        yield path
        return
    path = path.resolve() if path.is_symlink() else path
    # unique per writer (process, thread, call), so concurrent writers never share a temporary
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if durable:  # else a power cut after the rename can leave an empty file under the name
            fsync_path(tmp)
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)  # and the rename itself
    finally:
        tmp.unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to ``path`` through :func:`replaced_atomically`."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv_atomic(frame, path: str | os.PathLike) -> Path:
    """Write a DataFrame as CSV (no index) through :func:`replaced_atomically`."""
    with replaced_atomically(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def save_npy_atomic(array, path: str | os.PathLike) -> Path:
    """``numpy.save`` through :func:`replaced_atomically` (the exact file name is kept)."""
    import numpy as np

    with replaced_atomically(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return Path(path)
