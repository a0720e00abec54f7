"""Display copies for raters: an 8-bit grey rendering, written as a PNG without any source metadata.

Examples
--------
>>> import numpy as np
>>> to_display_uint8(XRay(np.array([[0, 65535]], dtype=np.uint16), 65535, {})).tolist()
[[0, 255]]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from covsev_tools.files import replaced_atomically
from covsev_tools.images.xray import DISPLAY_MAX_SIDE, ImageReadError, XRay

__all__ = ["save_display_png", "to_display_uint8"]


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


def save_display_png(xray: XRay, path: str | Path, max_side: int | None = DISPLAY_MAX_SIDE,
                     noise: tuple[float, int] | None = None) -> Path:
    """Write the display rendering as an 8-bit PNG atomically (temp file + rename).

    No metadata of the source (file name, DICOM tags, EXIF) is copied into the PNG. ``noise``
    (``(sd, seed)``, see :func:`covsev_tools.images.disguise.draw_noise`) adds Gaussian noise, as a
    cohort does to every display image so that its hidden repeats (noisy by their disguise) do not
    stand out.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> out = save_display_png(XRay(np.full((3, 5), 7, np.uint8), 255), Path(tempfile.mkdtemp()) / "c.png")
    >>> Image.open(out).size
    (5, 3)
    """
    import cv2  # encodes PNG about twice as fast as Pillow at the same size

    path = Path(path)
    array = to_display_uint8(xray, max_side)
    if noise is not None:
        from covsev_tools.images.disguise import add_noise

        array = add_noise(array, *noise)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ImageReadError(path, "cannot encode the display PNG")
    with replaced_atomically(path, durable=False) as tmp:  # rebuilt by re-running cohort create
        tmp.write_bytes(encoded.tobytes())
    return path
