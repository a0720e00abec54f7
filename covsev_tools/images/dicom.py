"""DICOM through pydicom: modality LUT, VOI, MONOCHROME1 inversion, scaled to BitsStored.

Stored values -> modality LUT (rescale slope/intercept) -> VOI LUT, else the first window, else the
full range of the stored values; that range is mapped linearly onto ``[0, 2**BitsStored - 1]`` (at
most 16 bits) and rounded to uint8/uint16, so ``max_value`` is ``2**BitsStored - 1`` (the convention of
torchxrayvision's ``read_xray_dcm``). MONOCHROME1 is inverted afterwards (``max_value - value``) so
that white = dense.

Examples
--------
>>> xray = read_dicom(Path("/data/chest.dcm"), max_pixels=None, frame=None)   # doctest: +SKIP
>>> xray.meta["photometric"], xray.max_value                                  # doctest: +SKIP
('MONOCHROME1', 4095)
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from covsev_tools.images.xray import ImageReadError, XRay, check_frame, check_size

__all__ = ["read_dicom"]


def read_dicom(path: Path, max_pixels: int | None, frame: int | None) -> XRay:
    """DICOM through pydicom: modality LUT, VOI, MONOCHROME1 inversion, scaled to BitsStored.

    Examples
    --------
    >>> import tempfile
    >>> from pydicom.dataset import Dataset, FileMetaDataset
    >>> from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
    >>> ds = Dataset()
    >>> ds.file_meta = FileMetaDataset()
    >>> ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    >>> ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    >>> ds.set_pixel_data(np.array([[0, 10], [20, 255]], dtype=np.uint8), "MONOCHROME1", 8)
    >>> path = Path(tempfile.mkdtemp()) / "x.dcm"
    >>> ds.save_as(path, enforce_file_format=True)
    >>> read_dicom(path, max_pixels=None, frame=None).array.tolist()  # inverted: white = dense
    [[255, 245], [235, 0]]
    """
    ds = _dcmread(path)
    if "PixelData" not in ds:
        if not getattr(ds, "file_meta", None):  # a forced read of a file without a DICOM header
            raise ImageReadError(path, "not an image (no valid DICOM header and no pixel data)")
        raise ImageReadError(path, "DICOM file has no pixel data (not an image object)")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    check_size(path, rows, cols, max_pixels)
    _check_finite_tags(path, ds)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    index = check_frame(path, n_frames, frame)
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


#: Tags whose values scale the pixels: one NaN or infinity there makes every pixel NaN (an all-black image).
_SCALING_TAGS = ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth")


def _check_finite_tags(path: Path, ds) -> None:
    """Refuse a file whose rescale or window values are not finite numbers, naming the tag."""
    for keyword in _SCALING_TAGS:
        with warnings.catch_warnings():  # pydicom warns "Invalid value for VR DS"; the error below says more
            warnings.simplefilter("ignore", UserWarning)
            value = ds.get(keyword)
        values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for item in values:
            if item is None or item == "":
                continue
            try:
                finite = np.isfinite(float(item))
            except (TypeError, ValueError):
                raise ImageReadError(path, f"DICOM {keyword} is {str(item)!r}, not a number") from None
            if not finite:
                raise ImageReadError(path, f"DICOM {keyword} is {str(item).strip()} (not a finite number): "
                                           "the pixel values cannot be computed")


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
