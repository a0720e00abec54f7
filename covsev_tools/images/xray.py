"""The decoded X-ray (:class:`XRay`), the one error readers raise, and the checks every reader shares.

Examples
--------
>>> import numpy as np
>>> XRay(np.zeros((2, 3), dtype=np.uint8), 255).array.shape
(2, 3)
>>> str(ImageReadError("a.png", "empty file (0 bytes)"))
'a.png: empty file (0 bytes)'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_PIXELS", "DISPLAY_MAX_SIDE", "ImageReadError", "XRay", "check_frame", "check_size"]

#: Default decompression-bomb guard: 100 megapixels (a large CXR is ~4300 x 3500 = 15 Mpx).
DEFAULT_MAX_PIXELS = 100_000_000
#: Long side of the display PNGs written for the rater app.
DISPLAY_MAX_SIDE = 2048

class ImageReadError(Exception):
    """The one error :func:`read_xray` raises for bad input.

    Parameters
    ----------
    path : str or Path
        The file that could not be read.
    reason : str
        Why, in words a coordinator can act on (``"empty file (0 bytes)"``, ``"truncated or corrupt
        JPEG data"``, ...).
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across the cohort process pool
        return (type(self), (self.path, self.reason))


@dataclass
class XRay:
    """A decoded chest X-ray.

    Attributes
    ----------
    array : numpy.ndarray
        2-D, white = dense, values in ``[0, max_value]`` (uint8 or uint16).
    max_value : int
        The white level, e.g. 255 or 4095.
    meta : dict
        ``source_format`` ("png", "jpeg", "dicom", ...), ``bit_depth``, ``original_size``
        (height, width), ``mode`` (Pillow mode) or ``photometric`` (DICOM), ``n_frames``, ``frame``,
        ``path``, and for DICOM ``transfer_syntax`` and ``voi`` (what VOI was applied).
    """

    array: np.ndarray
    max_value: int
    meta: dict[str, Any] = field(default_factory=dict)


def check_size(path: Path, height: int, width: int, max_pixels: int | None) -> None:
    """Refuse an empty size, or more than ``max_pixels`` pixels (a decompression-bomb guard).

    Examples
    --------
    >>> check_size(Path("x.png"), 100, 100, max_pixels=10_000)
    >>> check_size(Path("x.png"), 100, 101, max_pixels=10_000)
    Traceback (most recent call last):
    ...
    covsev_tools.images.xray.ImageReadError: x.png: image is 101 x 100 = 10,100 pixels, above the limit of 10,000 (possible decompression bomb; raise max_pixels)
    """
    if height <= 0 or width <= 0:
        raise ImageReadError(path, f"invalid image size {width} x {height}")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageReadError(path, f"image is {width} x {height} = {height * width:,} pixels, above the "
                                   f"limit of {max_pixels:,} (possible decompression bomb; raise max_pixels)")


def check_frame(path: Path, n_frames: int, frame: int | None) -> int:
    """The frame index to read: 0 for a single-frame file, else ``frame``, which must be given.

    Examples
    --------
    >>> check_frame(Path("x.dcm"), 1, None), check_frame(Path("x.dcm"), 3, 2)
    (0, 2)
    """
    if frame is None:
        if n_frames > 1:
            raise ImageReadError(path, f"multi-frame image ({n_frames} frames) where one frame is "
                                       "expected; pass frame=<index> to choose one")
        return 0
    if not 0 <= frame < n_frames:
        raise ImageReadError(path, f"frame {frame} requested but the image has {n_frames} frame(s)")
    return frame
