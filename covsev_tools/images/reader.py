"""Read chest X-rays (PNG, JPEG, DICOM, and other Pillow formats) into one 2-D array.

Every reader returns an :class:`XRay` whose ``array`` is 2-D, white = dense, with values in
``[0, max_value]``, so that ``torchxrayvision.datasets.normalize(xray.array, xray.max_value)`` is the
model input:

- 8-bit PNG/JPEG: the exact uint8 values the seed got from ``skimage.io.imread(path)`` (first channel
  of a colour image, palette images expanded first, no EXIF rotation); ``max_value`` 255.
- 16-bit PNG: uint16, ``max_value`` 65535 (PNG stores samples scaled to the full 16 bits).
- DICOM: stored values -> modality LUT (rescale slope/intercept) -> VOI LUT, else the first window,
  else the full range of the stored values; that range is mapped linearly onto
  ``[0, 2**BitsStored - 1]`` (at most 16 bits) and rounded to uint8/uint16, so ``max_value`` is
  ``2**BitsStored - 1`` (the convention of torchxrayvision's ``read_xray_dcm``). MONOCHROME1 is
  inverted afterwards (``max_value - value``) so that white = dense.

Bad input raises :class:`ImageReadError` (and nothing else), naming the file and the reason.

Examples
--------
>>> from covsev_tools.images.reader import read_xray
>>> xray = read_xray("case.png")                      # doctest: +SKIP
>>> xray.array.shape, xray.max_value, xray.meta["source_format"]  # doctest: +SKIP
((1024, 1024), 255, 'png')
"""
from __future__ import annotations

from pathlib import Path

from covsev_tools.images.dicom import read_dicom
from covsev_tools.images.pillow import read_pillow
from covsev_tools.images.xray import DEFAULT_MAX_PIXELS, DISPLAY_MAX_SIDE, ImageReadError, XRay

__all__ = ["DEFAULT_MAX_PIXELS", "DISPLAY_MAX_SIDE", "ImageReadError", "XRay", "read_xray"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def read_xray(path: str | Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
              frame: int | None = None) -> XRay:
    """Read one chest X-ray into a 2-D array plus metadata.

    The format is found from the file's content, not its extension.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG or DICOM file (other single-frame Pillow formats such as TIFF/BMP also work).
    max_pixels : int or None
        Refuse images with more pixels than this (decompression-bomb guard); None disables it.
    frame : int or None
        Frame to read from a multi-frame file. With None, a multi-frame file is an error.

    Returns
    -------
    XRay

    Raises
    ------
    ImageReadError
        Missing or empty file, not an image, truncated/corrupt data, multi-frame without ``frame``,
        too many pixels, or an undecodable DICOM transfer syntax.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "case.png"
    >>> Image.new("L", (40, 30), color=200).save(path)
    >>> xray = read_xray(path)
    >>> xray.array.shape, xray.max_value, xray.meta["source_format"]
    ((30, 40), 255, 'png')
    >>> xray = read_xray("/data/cohen2020/images/1.jpg")     # doctest: +SKIP
    >>> import torchxrayvision as xrv                          # doctest: +SKIP
    >>> img = xrv.datasets.normalize(xray.array, xray.max_value)  # doctest: +SKIP
    """
    path = Path(path)
    head = _read_head(path)
    try:
        if head.startswith(_PNG_MAGIC) or head.startswith(_JPEG_MAGIC) or not _looks_like_dicom(path, head):
            xray = read_pillow(path, head, max_pixels, frame)
        else:
            xray = read_dicom(path, max_pixels, frame)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(path, "not enough memory to decode the image") from None
    except Exception as exc:  # last resort: never let a library traceback reach the user
        raise ImageReadError(path, f"cannot decode image ({type(exc).__name__}: {exc})") from None
    xray.meta["path"] = str(path)
    return xray


def _read_head(path: Path) -> bytes:
    """First bytes of the file, with the file-level errors (missing, empty, directory) named."""
    try:
        if path.is_dir():
            raise ImageReadError(path, "is a directory, not an image file")
        with open(path, "rb") as fh:
            head = fh.read(132)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open file ({exc.strerror or exc})") from None
    if not head:
        raise ImageReadError(path, "empty file (0 bytes)")
    return head


def _looks_like_dicom(path: Path, head: bytes) -> bool:
    """DICOM Part 10 preamble, or a .dcm/.dicom file without one (old ACR-NEMA style)."""
    return head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom", ".dic")
