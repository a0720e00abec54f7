"""Display files that do not give hidden repeats away.

A rater's account can read ``cases/`` (see :mod:`covsev_tools.cohort.folder`). A hidden repeat must
not be findable there by comparing files: its display PNG is its original's image with a few pixels
(0.5 %, at least one) moved by one grey level, drawn from a fresh secret random state, so neither the
file bytes nor the decoded pixels hash alike, and nobody can recompute which pixels moved. One grey
level on one pixel in two hundred is far below what a reader can see. After a run every display file
gets the same modification time, touched in the order of their random IDs, so neither timestamps nor
the order of their status changes tells which files were written last.

What stays possible, and is inherent to showing an image twice: comparing image *content* (a person
recognising the image, or a perceptual hash) pairs a repeat with its original. The reading order's
minimum gap is the defence there.

Examples
--------
>>> import numpy as np
>>> original = np.full((40, 50), 255, np.uint8)
>>> variant = repeat_variant(original)
>>> int(np.abs(variant.astype(int) - original).max()), int((variant != original).sum())  # 0.5 % of 2,000
(1, 10)
"""
from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from covsev_tools.cohort.errors import CohortError
from covsev_tools.files import replaced_atomically

__all__ = ["FRACTION_CHANGED", "repeat_variant", "same_timestamps", "write_repeat_images"]

#: Share of a repeat's pixels moved by one grey level.
FRACTION_CHANGED = 0.005


def repeat_variant(image: np.ndarray) -> np.ndarray:
    """A copy of an 8-bit image with ``FRACTION_CHANGED`` of its pixels (at least one) moved by one level.

    Pixels at 255 move down, all others up; the random state comes from :mod:`secrets`, so the
    changed pixels cannot be recomputed from anything stored.

    Examples
    --------
    >>> image = np.zeros((3, 3), np.uint8)
    >>> variant = repeat_variant(image)
    >>> int(variant.sum()), variant.shape, variant.dtype
    (1, (3, 3), dtype('uint8'))
    """
    rng = np.random.default_rng(secrets.randbits(128))
    flat = image.reshape(-1).copy()
    n_changed = max(1, round(flat.size * FRACTION_CHANGED))
    where = rng.choice(flat.size, size=n_changed, replace=False)
    flat[where] = np.where(flat[where] == 255, 254, flat[where] + 1)
    return flat.reshape(image.shape)


def write_repeat_images(cases_dir: Path, repeats: dict[str, str], rewritten: set[str]) -> None:
    """Give each repeat its own display file, a :func:`repeat_variant` of its original's.

    A repeat's file is (re)made when it is missing, when its original's display file was rewritten in
    this run (``rewritten``), or when it is a byte copy of it (cohorts made before this rule).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> cases = Path(tempfile.mkdtemp())
    >>> Image.new("L", (10, 10), color=80).save(cases / "ca.png")
    >>> write_repeat_images(cases, {"cr": "ca"}, rewritten={"ca"})
    >>> changed = np.asarray(Image.open(cases / "cr.png")) != np.asarray(Image.open(cases / "ca.png"))
    >>> int(changed.sum())
    1
    """
    import cv2

    for repeat_id, case_id in sorted(repeats.items()):
        target, source = cases_dir / f"{repeat_id}.png", cases_dir / f"{case_id}.png"
        if target.is_file() and case_id not in rewritten and _digest(target) != _digest(source):
            continue
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint8 or image.ndim != 2:
            raise CohortError(f"{source}: display image missing or not 8-bit grey; "
                              "run `covsev cohort create` again with --new-ids")
        ok, encoded = cv2.imencode(".png", repeat_variant(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise CohortError(f"{target}: cannot encode the display PNG")
        with replaced_atomically(target, durable=False) as tmp:  # rebuilt by re-running cohort create
            tmp.write_bytes(encoded.tobytes())


def same_timestamps(cases_dir: Path, display_ids: Iterable[str], when: float | None = None) -> None:
    """Set every display file's access and modification time to ``when`` (default: now), in ID order.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("cb", "ca"):
    ...     _ = (folder / f"{name}.png").write_bytes(b"")
    >>> same_timestamps(folder, ["cb", "ca"], when=1_700_000_000)
    >>> {(folder / f"{n}.png").stat().st_mtime for n in ("ca", "cb")}
    {1700000000.0}
    """
    when = time.time() if when is None else when
    for display_id in sorted(display_ids):
        os.utime(cases_dir / f"{display_id}.png", (when, when))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
