"""PNG, JPEG and other raster formats through Pillow, matching ``skimage.io.imread`` exactly.

- 8-bit PNG/JPEG: the exact uint8 values the seed got from ``skimage.io.imread(path)`` (first channel
  of a colour image, palette images expanded first, no EXIF rotation); ``max_value`` 255.
- 16-bit PNG: uint16, ``max_value`` 65535 (PNG stores samples scaled to the full 16 bits).

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.png"
>>> Image.new("L", (4, 3), color=9).save(path)
>>> xray = read_pillow(path, path.read_bytes()[:132], None, None)
>>> xray.array.shape, xray.max_value, xray.meta["source_format"]
((3, 4), 255, 'png')
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from covsev_tools.images.xray import ImageReadError, XRay, check_frame, check_size

__all__ = ["read_pillow"]


def read_pillow(path: Path, head: bytes, max_pixels: int | None, frame: int | None) -> XRay:
    """PNG/JPEG/other raster formats through Pillow, matching ``skimage.io.imread`` exactly.

    ``head`` is the file's first bytes (at least 33, to see a PNG's IHDR chunk).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "x.jpg"
    >>> Image.new("RGB", (6, 4), color=(90, 10, 10)).save(path)
    >>> xray = read_pillow(path, path.read_bytes()[:132], None, None)
    >>> xray.meta["source_format"], xray.array.shape, int(xray.array.max()) > 80  # red channel
    ('jpeg', (4, 6), True)
    """
    from PIL import Image

    with warnings.catch_warnings():
        # our own max_pixels check replaces Pillow's bomb warning
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", "Palette images with Transparency", UserWarning)
        with _open_pillow(path) as img:
            fmt = _format_name(img)
            width, height = img.size
            check_size(path, height, width, max_pixels)
            # MPO (camera JPEG) frames 2+ are previews/depth maps: the image is frame 0, as for skimage
            n_frames = 1 if img.format == "MPO" else int(getattr(img, "n_frames", 1))
            index = check_frame(path, n_frames, frame)
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
