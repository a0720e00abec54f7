"""Text burned into the pixels: found by the image's own flag or by OCR of its corners, masked or excluded.

De-identifying the header does nothing for a name or a date printed into the image, which is
where X-ray systems put them: in the corners. Every image whose Burned In Annotation is YES, or in
whose corners ``tesseract`` (when installed) reads text, is listed in ``review.csv`` for the
coordinator to check by eye; ``--mask-corners`` blacks out the corners, ``--exclude-burned-in``
leaves such images out. Neither is proof: a label can sit anywhere, and OCR misses text.

Examples
--------
>>> import numpy as np
>>> from pydicom.dataset import Dataset, FileMetaDataset
>>> ds = Dataset(); ds.file_meta = FileMetaDataset()
>>> ds.set_pixel_data(np.full((100, 100), 200, np.uint8), "MONOCHROME2", 8)
>>> mask_corners(ds)
>>> int(ds.pixel_array[0, 0]), int(ds.pixel_array[50, 50]), int(ds.pixel_array[99, 99])
(0, 200, 0)
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["CORNER", "corners_text", "mask_corners", "tesseract_available"]

#: Fraction of the width and of the height that makes a corner (where systems print labels).
CORNER = (0.25, 0.12)


def _corner_slices(height: int, width: int):
    h, w = max(1, round(height * CORNER[1])), max(1, round(width * CORNER[0]))
    return [(slice(0, h), slice(0, w)), (slice(0, h), slice(width - w, width)),
            (slice(height - h, height), slice(0, w)), (slice(height - h, height), slice(width - w, width))]


def mask_corners(dataset) -> None:
    """Black out the four corners of a single-frame greyscale image, in place (stored uncompressed).

    "Black" is what the image displays as black: 0 for MONOCHROME2, the largest stored value for
    MONOCHROME1.
    """
    import numpy as np

    pixels = np.array(dataset.pixel_array, copy=True)
    if pixels.ndim != 2:
        raise ValueError("only single-frame greyscale images can be masked")
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    bits = int(dataset.get("BitsStored", pixels.dtype.itemsize * 8))
    signed = pixels.dtype.kind == "i"
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    black = high if photometric == "MONOCHROME1" else low
    for rows, cols in _corner_slices(*pixels.shape):
        pixels[rows, cols] = black
    dataset.set_pixel_data(pixels, photometric, bits)


def tesseract_available() -> bool:
    """True when the ``tesseract`` OCR program is on PATH.

    Examples
    --------
    >>> isinstance(tesseract_available(), bool)
    True
    """
    return shutil.which("tesseract") is not None


def corners_text(dataset, timeout: float = 30) -> str:
    """Text ``tesseract`` reads in the image's corners ("" when none, or when tesseract is absent).

    Each corner is stretched to 8 bits and read as a line of text (page segmentation mode 6).
    """
    if not tesseract_available():
        return ""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(dataset.pixel_array, dtype=np.float64)
    if pixels.ndim != 2:
        return ""
    if str(dataset.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = pixels.max() - pixels
    found = []
    with tempfile.TemporaryDirectory(prefix="covsev-ocr-") as folder:
        for i, (rows, cols) in enumerate(_corner_slices(*pixels.shape)):
            corner = pixels[rows, cols]
            span = float(corner.max() - corner.min()) or 1.0
            path = Path(folder) / f"corner{i}.png"
            Image.fromarray(((corner - corner.min()) * 255 / span).astype(np.uint8)).save(path)
            try:
                result = subprocess.run(["tesseract", str(path), "-", "--psm", "6"], capture_output=True,
                                        text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                continue
            words = [w for w in result.stdout.split() if sum(c.isalnum() for c in w) >= 3]
            found.extend(words)
    return " ".join(found)
