"""Display files that do not give hidden repeats away.

A rater's account can read ``cases/`` (see :mod:`covsev_tools.cohort.folder`). A hidden repeat must
not be findable there by comparing files: its display PNG is its original's image in a disguise
(:mod:`covsev_tools.images.disguise`: a slight crop, rotation and resize, a grey-level change and
noise), so its size, its bytes and its pixels differ from the original's and an 8x8 average hash no
longer pairs them. The disguise is drawn from the cohort's secret seed and the repeat's ID, so a
re-run remakes the same file, and its parameters are kept in the coordinator-only ``repeats.csv``.
After a run every display file gets the same modification time, touched in the order of their
random IDs, so neither timestamps nor the order of their status changes tells which files were
written last.

What stays possible, and is inherent to showing an image twice: comparing image *content* (a person
recognising the image, a perceptual hash, a correlation after registration) pairs a repeat with its
original (:mod:`covsev_tools.cohort.repeat_audit` measures it). The reading order's minimum gap is
the defence there.

Examples
--------
>>> import numpy as np
>>> original = np.tile(np.arange(50, dtype=np.uint8) * 5, (40, 1))
>>> repeat = repeat_image(original, seed=7, repeat_id="c22222222")
>>> repeat.shape != original.shape
True
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from covsev_tools.cohort.errors import CohortError
from covsev_tools.files import replaced_atomically
from covsev_tools.images.disguise import Disguise, apply_disguise, draw_disguise

__all__ = ["repeat_disguise", "repeat_image", "same_timestamps", "write_repeat_images"]


def repeat_disguise(shape: tuple[int, ...], seed: int, repeat_id: str, max_side: int | None = None) -> Disguise:
    """The disguise of hidden repeat ``repeat_id`` of a cohort whose secret seed is ``seed``.

    Examples
    --------
    >>> repeat_disguise((400, 300), 7, "c22222222") == repeat_disguise((400, 300), 7, "c22222222")
    True
    >>> repeat_disguise((400, 300), 7, "c22222222") == repeat_disguise((400, 300), 8, "c22222222")
    False
    """
    return draw_disguise(shape, f"{int(seed)}:repeat-image:{repeat_id}", max_side)


def repeat_image(original: np.ndarray, seed: int, repeat_id: str, max_side: int | None = None) -> np.ndarray:
    """The display image of a hidden repeat: its original's display image, disguised.

    Examples
    --------
    >>> original = np.full((30, 40), 90, np.uint8)
    >>> repeat_image(original, 1, "c33333333").dtype
    dtype('uint8')
    """
    return apply_disguise(original, repeat_disguise(original.shape, seed, repeat_id, max_side))


def write_repeat_images(cases_dir: Path, repeats: Mapping[str, str], rewritten: set[str], *, seed: int,
                        sources: Mapping[str, str | Path], recorded: Mapping[str, Mapping[str, str]] | None = None,
                        max_side: int | None = None, max_pixels: int | None = None) -> dict[str, dict[str, str]]:
    """Give each repeat its own display file, its original's image in a disguise; return each disguise's record.

    The disguise is applied to the original's display rendering read again from its source file
    (``sources``: case ID -> file), not to the original's display file: that one has noise of its
    own (every display image has), and a repeat with both would be the noisier image.

    A repeat's file is (re)made when it is missing, when its original's display file was rewritten in
    this run (``rewritten``), or when ``recorded`` (the rows of the earlier ``repeats.csv``) holds no
    disguise of this version for it (cohorts made before: a copy, or a few pixels moved by one level),
    or when the file's size is not the recorded disguise's (replaced by something else).

    Returns
    -------
    dict
        Repeat ID -> the disguise's columns for ``repeats.csv`` (:meth:`Disguise.to_record`).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> Image.new("L", (100, 80), color=80).save(folder / "source.png")
    >>> records = write_repeat_images(folder, {"cr": "ca"}, {"ca"}, seed=5, sources={"ca": folder / "source.png"})
    >>> Image.open(folder / "cr.png").size == (int(records["cr"]["width"]), int(records["cr"]["height"]))
    True
    >>> write_repeat_images(folder, {"cr": "ca"}, set(), seed=5, sources={}, recorded=records) == records
    True
    """
    import cv2

    from covsev_tools.images import ImageReadError, read_xray, to_display_uint8

    recorded = recorded or {}
    records = {}
    for repeat_id, case_id in sorted(repeats.items()):
        target = cases_dir / f"{repeat_id}.png"
        earlier = Disguise.from_record(dict(recorded.get(repeat_id, {})))
        if case_id not in rewritten and earlier is not None and _size(target) == (earlier.width, earlier.height):
            records[repeat_id] = earlier.to_record()
            continue
        try:
            image = to_display_uint8(read_xray(sources[case_id], max_pixels=max_pixels), max_side)
        except KeyError:
            raise CohortError(f"case {case_id}: no source image for its hidden repeat {repeat_id}") from None
        except ImageReadError as exc:
            raise CohortError(f"{sources[case_id]}: cannot read for its hidden repeat ({exc.reason})") from None
        disguise = repeat_disguise(image.shape, seed, repeat_id, max_side)
        ok, encoded = cv2.imencode(".png", apply_disguise(image, disguise), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise CohortError(f"{target}: cannot encode the display PNG")
        with replaced_atomically(target, durable=False) as tmp:  # rebuilt by re-running cohort create
            tmp.write_bytes(encoded.tobytes())
        records[repeat_id] = disguise.to_record()
    return records


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



def _size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a PNG from its header; None when it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError):
        return None
