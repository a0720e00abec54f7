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

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from covsev_tools.files import replaced_atomically

#: Default decompression-bomb guard: 100 megapixels (a large CXR is ~4300 x 3500 = 15 Mpx).
DEFAULT_MAX_PIXELS = 100_000_000
#: Long side of the display PNGs written for the rater app.
DISPLAY_MAX_SIDE = 2048

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


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


# --------------------------------------------------------------------------------- entry point


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
    >>> xray = read_xray("/data/cohen2020/images/1.jpg")     # doctest: +SKIP
    >>> import torchxrayvision as xrv                          # doctest: +SKIP
    >>> img = xrv.datasets.normalize(xray.array, xray.max_value)  # doctest: +SKIP
    """
    path = Path(path)
    head = _read_head(path)
    try:
        if head.startswith(_PNG_MAGIC) or head.startswith(_JPEG_MAGIC) or not _looks_like_dicom(path, head):
            xray = _read_pillow(path, head, max_pixels, frame)
        else:
            xray = _read_dicom(path, max_pixels, frame)
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


def _check_size(path: Path, height: int, width: int, max_pixels: int | None) -> None:
    if height <= 0 or width <= 0:
        raise ImageReadError(path, f"invalid image size {width} x {height}")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageReadError(path, f"image is {width} x {height} = {height * width:,} pixels, above the "
                                   f"limit of {max_pixels:,} (possible decompression bomb; raise max_pixels)")


def _check_frame(path: Path, n_frames: int, frame: int | None) -> int:
    if frame is None:
        if n_frames > 1:
            raise ImageReadError(path, f"multi-frame image ({n_frames} frames) where one frame is "
                                       "expected; pass frame=<index> to choose one")
        return 0
    if not 0 <= frame < n_frames:
        raise ImageReadError(path, f"frame {frame} requested but the image has {n_frames} frame(s)")
    return frame


# ------------------------------------------------------------------------------ PNG, JPEG, ...


def _read_pillow(path: Path, head: bytes, max_pixels: int | None, frame: int | None) -> XRay:
    """PNG/JPEG/other raster formats through Pillow, matching ``skimage.io.imread`` exactly."""
    from PIL import Image

    with warnings.catch_warnings():
        # our own max_pixels check replaces Pillow's bomb warning
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", "Palette images with Transparency", UserWarning)
        with _open_pillow(path) as img:
            fmt = _format_name(img)
            width, height = img.size
            _check_size(path, height, width, max_pixels)
            # MPO (camera JPEG) frames 2+ are previews/depth maps: the image is frame 0, as for skimage
            n_frames = 1 if img.format == "MPO" else int(getattr(img, "n_frames", 1))
            index = _check_frame(path, n_frames, frame)
            if fmt == "png" and _png_is_16bit_colour(head):
                array, mode = _read_png16_colour(path), img.mode
            else:
                array, mode = _pillow_array(path, img, index, fmt)
    array = _first_channel(array)
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")  # callers may normalise in place
    max_value = 65535 if array.dtype == np.uint16 else 255
    meta = {"source_format": fmt, "bit_depth": 16 if array.dtype == np.uint16 else 8,
            "original_size": (height, width), "mode": mode, "photometric": None,
            "n_frames": n_frames, "frame": index}
    return XRay(array, max_value, meta)


def _open_pillow(path: Path):
    """``Image.open`` with its failures turned into named reasons."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised file content)") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"image too large for Pillow's decompression-bomb limit ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        kind = path.suffix.lstrip(".").upper() or "image"
        raise ImageReadError(path, f"truncated or corrupt {kind} header ({exc})") from None


def _format_name(img) -> str:
    fmt = (img.format or "unknown").lower()
    return "jpeg" if fmt == "mpo" else fmt


def _pillow_array(path: Path, img, index: int, fmt: str) -> tuple[np.ndarray, str]:
    """Decode one frame the way imageio's Pillow plugin (used by skimage.io.imread) does."""
    from PIL import Image

    if index:
        img.seek(index)
    mode = img.mode
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageReadError(path, f"truncated or corrupt {fmt.upper()} data ({exc})") from None
    if img.mode == "P":
        img = img.convert(img.palette.mode)  # as imageio: expand the palette to RGB(A)
    elif img.mode == "1":
        img = img.convert("L")  # bilevel -> 0/255 so values stay in [0, 255]
    elif fmt == "png" and img.mode in ("I", "I;16B"):
        img = img.convert("I;16")  # as imageio: 16-bit grey PNG -> uint16
    elif img.mode in ("I", "F", "I;16B", "I;16L"):
        return _wide_to_uint16(np.asarray(img)), mode
    elif img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    if img.mode in ("RGB", "RGBA", "LA"):
        # Only the first channel is used (as the seed did): extracting it in Pillow avoids
        # copying all channels into numpy, ~30% of the read time of colour images.
        img = img.getchannel(0)
    array = np.asarray(img)
    if array.dtype != np.uint8 and array.dtype != np.uint16:
        array = _wide_to_uint16(array)
    return array, mode


def _wide_to_uint16(array: np.ndarray) -> np.ndarray:
    """32-bit integer/float rasters (e.g. TIFF): clip into uint16."""
    return np.clip(np.nan_to_num(array.astype(np.float64)), 0, 65535).round().astype(np.uint16)


def _first_channel(array: np.ndarray) -> np.ndarray:
    """The seed's ``img[:, :, 0]`` for colour images (R of RGB/RGBA, grey of LA)."""
    return array[:, :, 0] if array.ndim == 3 else array


def _png_is_16bit_colour(head: bytes) -> bool:
    """Pillow reads 16-bit RGB(A)/grey-alpha PNGs as 8-bit; detect them from the IHDR chunk.

    ``head`` is the file's first bytes as :func:`_read_head` read them (the IHDR is within 33).
    """
    ihdr = head[:33]
    if len(ihdr) < 26 or ihdr[12:16] != b"IHDR":
        return False
    bit_depth, colour_type = ihdr[24], ihdr[25]
    return bit_depth == 16 and colour_type in (2, 4, 6)


def _read_png16_colour(path: Path) -> np.ndarray:
    """16-bit colour PNG via OpenCV (keeps 16 bits); returned as RGB(A)/grey-alpha order."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)  # np.fromfile + imdecode: unicode-safe paths
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageReadError(path, "truncated or corrupt PNG data (16-bit colour)")
    if array.ndim == 3 and array.shape[2] >= 3:
        array = array[:, :, [2, 1, 0] + ([3] if array.shape[2] == 4 else [])]  # BGR(A) -> RGB(A)
    return array.astype(np.uint16, copy=False)


# ------------------------------------------------------------------------------------- DICOM


def _read_dicom(path: Path, max_pixels: int | None, frame: int | None) -> XRay:
    """DICOM through pydicom: modality LUT, VOI, MONOCHROME1 inversion, scaled to BitsStored."""
    ds = _dcmread(path)
    if "PixelData" not in ds:
        if not getattr(ds, "file_meta", None):  # a forced read of a file without a DICOM header
            raise ImageReadError(path, "not an image (no valid DICOM header and no pixel data)")
        raise ImageReadError(path, "DICOM file has no pixel data (not an image object)")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    _check_size(path, rows, cols, max_pixels)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    index = _check_frame(path, n_frames, frame)
    pixels = _dicom_pixels(path, ds, index if n_frames > 1 else None)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if pixels.ndim == 3:  # colour DICOM (already RGB after pydicom's YBR conversion)
        pixels = pixels[:, :, 0]
    bits = int(ds.get("BitsStored", 8 * pixels.dtype.itemsize))
    out_bits = max(1, min(bits, 16))
    max_value = 2 ** out_bits - 1
    unit, voi = _dicom_unit_range(ds, pixels, bits)
    array = np.rint(unit * max_value).astype(np.uint8 if out_bits <= 8 else np.uint16)
    if photometric == "MONOCHROME1":
        array = (max_value - array).astype(array.dtype)  # white = dense
    meta = {"source_format": "dicom", "bit_depth": bits, "original_size": (rows, cols),
            "mode": None, "photometric": photometric, "n_frames": n_frames, "frame": index,
            "transfer_syntax": str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""),
            "voi": voi}
    return XRay(array, max_value, meta)


def _dcmread(path: Path):
    """``pydicom.dcmread`` with its errors and end-of-file warnings turned into named reasons."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=path.suffix.lower() in (".dcm", ".dicom", ".dic"))
        except InvalidDicomError as exc:
            raise ImageReadError(path, f"not a valid DICOM file ({exc})") from None
        except Exception as exc:
            raise ImageReadError(path, f"truncated or corrupt DICOM file ({type(exc).__name__}: {exc})") from None
    ended_early = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    if ended_early:
        raise ImageReadError(path, f"truncated DICOM file ({ended_early[0]})")
    return ds


def _dicom_pixels(path: Path, ds, index: int | None) -> np.ndarray:
    """Decode (one frame of) the pixel data; decoder problems are named with the transfer syntax."""
    from pydicom.pixels import pixel_array

    try:
        if index is None:
            return ds.pixel_array
        return pixel_array(ds, index=index)
    except Exception as exc:
        tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(tsyntax, "name", str(tsyntax))
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "plugin" in reason.lower() or "no pixel data decoders" in reason.lower():
            raise ImageReadError(path, f"cannot decode DICOM pixel data in transfer syntax {name!r}: {reason} "
                                       "(install pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg)") from None
        raise ImageReadError(path, f"truncated or corrupt DICOM pixel data ({name}): {reason}") from None


def _dicom_unit_range(ds, pixels: np.ndarray, bits: int) -> tuple[np.ndarray, str]:
    """Modality LUT then VOI, mapped onto [0, 1]; returns the array and which VOI was used."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(pixels, ds)
    lo, hi = _modality_output_range(ds, bits)
    if ds.get("VOILUTSequence"):
        lut_bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        if values.dtype.kind == "f":  # a LUT is indexed by integers (PS3.3 C.11.2.1.1)
            values = np.rint(values).astype(np.int64)
        values, lo, hi, voi = apply_voi_lut(values, ds, prefer_lut=True), 0.0, 2.0 ** lut_bits - 1, "lut"
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        values, voi = apply_voi_lut(values.astype(np.float64), ds, prefer_lut=False), "window"
    else:
        voi = "none"
    span = (hi - lo) or 1.0
    return np.clip((np.asarray(values, dtype=np.float64) - lo) / span, 0.0, 1.0), voi


def _modality_output_range(ds, bits: int) -> tuple[float, float]:
    """The range pydicom's windowing maps onto: the stored range through the modality LUT."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, 2.0 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, 2.0 ** bits - 1
    else:
        lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return lo, hi


# ------------------------------------------------------------------------------------ display


def to_display_uint8(xray: XRay, max_side: int | None = None) -> np.ndarray:
    """An 8-bit grey rendering of ``xray`` for the rater app (white = dense).

    Parameters
    ----------
    xray : XRay
    max_side : int or None
        Downscale (Lanczos, aspect kept) so that the long side is at most this many pixels.

    Returns
    -------
    numpy.ndarray
        2-D uint8. For an 8-bit image that needs no resizing, the array itself.

    Notes
    -----
    Values are scaled linearly from ``[0, max_value]``, except for a DICOM of more than 8 bits that
    had no VOI LUT or window: its stored range (often 16 bits for 10-12 bits of data) would look
    nearly black, so its own minimum-maximum range is stretched instead, as a viewer would.

    Examples
    --------
    >>> import numpy as np
    >>> x = XRay(np.array([[0, 4095]], dtype=np.uint16), 4095, {})
    >>> to_display_uint8(x).tolist()
    [[0, 255]]
    """
    array = xray.array
    if not (array.dtype == np.uint8 and xray.max_value == 255):
        low, high = 0.0, max(float(xray.max_value), 1.0)
        if xray.meta.get("voi") == "none" and xray.max_value > 255 and array.size:
            low, high = float(array.min()), float(max(array.max(), array.min() + 1))
        scaled = (array.astype(np.float64) - low) * (255.0 / (high - low))
        array = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    height, width = array.shape
    if max_side and max(height, width) > max_side:
        from PIL import Image

        ratio = max_side / max(height, width)
        size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
        array = np.asarray(Image.fromarray(array).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
    return array


def save_display_png(xray: XRay, path: str | Path, max_side: int | None = DISPLAY_MAX_SIDE) -> Path:
    """Write the display rendering as an 8-bit PNG atomically (temp file + rename).

    No metadata of the source (file name, DICOM tags, EXIF) is copied into the PNG.
    """
    import cv2  # encodes PNG about twice as fast as Pillow at the same size

    path = Path(path)
    ok, encoded = cv2.imencode(".png", to_display_uint8(xray, max_side), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ImageReadError(path, "cannot encode the display PNG")
    with replaced_atomically(path, durable=False) as tmp:  # rebuilt by re-running cohort create
        tmp.write_bytes(encoded.tobytes())
    return path
