"""read_xray on images the tests make: every format and bit depth, DICOM pipeline, bad input."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage.io
from PIL import Image

from covsev_tools.images import ImageReadError, XRay, read_xray, save_display_png, to_display_uint8

RNG = np.random.default_rng(20200525)


def seed_read(path: Path) -> np.ndarray:
    """What the seed did: skimage.io.imread then the first channel of a colour image."""
    img = skimage.io.imread(path)
    return img[:, :, 0] if img.ndim == 3 else img


def grey8(h: int = 40, w: int = 56) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w), dtype=np.uint8)


# ------------------------------------------------------------------------- PNG / JPEG, 8-bit


@pytest.mark.filterwarnings("ignore:Palette images with Transparency:UserWarning")  # the seed's read of P
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "1"])
def test_8bit_png_equals_the_seed_read(tmp_path, mode):
    rgb = np.stack([grey8(), grey8(), grey8(), grey8()], axis=-1)
    img = Image.fromarray(rgb, "RGBA").convert(mode)
    path = tmp_path / f"x_{mode}.png"
    img.save(path)
    xray = read_xray(path)
    expected = seed_read(path)
    if mode == "1":  # bilevel: the seed gets booleans; we keep the 0/255 grey values
        expected = expected.astype(np.uint8) * 255
    assert xray.array.dtype == np.uint8 and xray.array.ndim == 2
    np.testing.assert_array_equal(xray.array, expected)
    assert xray.max_value == 255
    assert xray.meta["source_format"] == "png" and xray.meta["bit_depth"] == 8
    assert xray.meta["original_size"] == (40, 56) and xray.meta["n_frames"] == 1


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_8bit_jpeg_equals_the_seed_read(tmp_path, mode):
    rgb = np.stack([grey8(64, 48)] * 3, axis=-1)
    path = tmp_path / f"x_{mode}.JPG"  # upper-case extension on purpose
    Image.fromarray(rgb, "RGB").convert(mode).save(path, quality=90)
    xray = read_xray(path)
    assert xray.meta["source_format"] == "jpeg" and xray.meta["mode"] == mode
    if mode != "CMYK":  # imageio keeps CMYK as 4 channels; we convert to RGB first (no seed image is CMYK)
        np.testing.assert_array_equal(xray.array, seed_read(path))
    assert xray.array.shape == (64, 48) and xray.max_value == 255


def test_exif_orientation_is_not_applied_like_the_seed(tmp_path):
    img = Image.fromarray(grey8(30, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    xray = read_xray(path)
    assert xray.array.shape == (30, 50)
    np.testing.assert_array_equal(xray.array, seed_read(path))


def test_format_comes_from_content_not_extension(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    Image.fromarray(grey8()).save(path, format="PNG")
    assert read_xray(path).meta["source_format"] == "png"


# ---------------------------------------------------------------------------- 16-bit PNG


def test_16bit_grey_png_keeps_16_bits(tmp_path):
    values = RNG.integers(0, 65536, size=(33, 47), dtype=np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)  # uint16 -> mode I;16
    xray = read_xray(path)
    assert xray.array.dtype == np.uint16 and xray.max_value == 65535 and xray.meta["bit_depth"] == 16
    np.testing.assert_array_equal(xray.array, values)
    np.testing.assert_array_equal(xray.array, seed_read(path))


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_keeps_16_bits_of_the_first_channel(tmp_path, channels):
    import cv2

    rgb = RNG.integers(0, 65536, size=(21, 34, channels), dtype=np.uint16)
    path = tmp_path / f"rgb16_{channels}.png"
    bgr = rgb[:, :, [2, 1, 0] + ([3] if channels == 4 else [])]
    assert cv2.imwrite(str(path), bgr)
    xray = read_xray(path)
    assert xray.array.dtype == np.uint16 and xray.max_value == 65535
    np.testing.assert_array_equal(xray.array, rgb[:, :, 0])
    # Pillow (hence the seed) would only see the high byte of the same channel
    np.testing.assert_array_equal(xray.array >> 8, seed_read(path))


# ------------------------------------------------------------------------------------- DICOM


def write_dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
                compress: str | None = None, **elements) -> Path:
    """A minimal valid DICOM file (secondary capture) holding ``pixels``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = "Test^Patient"
    bits = bits_stored or pixels.dtype.itemsize * 8
    ds.set_pixel_data(pixels, photometric, bits)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    if compress:
        import pydicom.uid

        ds.compress(getattr(pydicom.uid, compress))
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_12bit_monochrome2_without_voi_keeps_stored_values(tmp_path):
    values = RNG.integers(0, 4096, size=(32, 24), dtype=np.uint16)
    xray = read_xray(write_dicom(tmp_path / "a.dcm", values, bits_stored=12))
    assert xray.max_value == 4095 and xray.array.dtype == np.uint16
    np.testing.assert_array_equal(xray.array, values)
    assert xray.meta["source_format"] == "dicom" and xray.meta["bit_depth"] == 12
    assert xray.meta["photometric"] == "MONOCHROME2" and xray.meta["voi"] == "none"


def test_dicom_monochrome1_is_inverted_so_white_is_dense(tmp_path):
    values = grey8()
    xray = read_xray(write_dicom(tmp_path / "mono1.dcm", values, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(xray.array, 255 - values)
    assert xray.max_value == 255 and xray.meta["photometric"] == "MONOCHROME1"


def expected_window(y: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 linear window, to [0, 1], written out independently of pydicom."""
    unit = (y - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(unit, 0.0, 1.0)


def test_dicom_rescale_then_window(tmp_path):
    stored = RNG.integers(0, 4096, size=(20, 30), dtype=np.uint16)
    path = write_dicom(tmp_path / "win.dcm", stored, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1024,
                       WindowCenter=1000, WindowWidth=3000)
    xray = read_xray(path)
    modality = stored * 2.0 - 1024
    expected = np.rint(expected_window(modality, 1000, 3000) * 4095).astype(np.uint16)
    np.testing.assert_array_equal(xray.array, expected)
    assert xray.meta["voi"] == "window" and xray.max_value == 4095
    assert (xray.array == 0).any() and (xray.array == 4095).any()  # the window really clips


def test_dicom_window_then_monochrome1_inversion(tmp_path):
    stored = RNG.integers(0, 4096, size=(10, 12), dtype=np.uint16)
    path = write_dicom(tmp_path / "win1.dcm", stored, photometric="MONOCHROME1", bits_stored=12,
                       WindowCenter=2048, WindowWidth=1024)
    expected = 4095 - np.rint(expected_window(stored.astype(float), 2048, 1024) * 4095)
    np.testing.assert_array_equal(read_xray(path).array, expected)


def test_dicom_voi_lut_sequence_is_preferred_over_window(tmp_path):
    from pydicom.dataset import Dataset

    stored = RNG.integers(0, 256, size=(16, 16), dtype=np.uint8)
    lut = (255 - np.arange(256)).astype(np.uint16)  # an inverting LUT, 8-bit output
    item = Dataset()
    item.LUTDescriptor = [256, 0, 8]
    item.LUTData = lut.astype("<u2").tobytes()  # OW in explicit VR
    path = write_dicom(tmp_path / "lut.dcm", stored, VOILUTSequence=[item], WindowCenter=10, WindowWidth=2)
    xray = read_xray(path)
    assert xray.meta["voi"] == "lut"
    np.testing.assert_array_equal(xray.array, 255 - stored)


def test_dicom_signed_pixels_are_shifted_into_range(tmp_path):
    stored = RNG.integers(-2048, 2048, size=(8, 9), dtype=np.int16)
    xray = read_xray(write_dicom(tmp_path / "signed.dcm", stored, bits_stored=12))
    np.testing.assert_array_equal(xray.array, stored.astype(int) + 2048)
    assert xray.max_value == 4095


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless"])
def test_dicom_compressed_transfer_syntaxes(tmp_path, syntax):
    values = RNG.integers(0, 4096, size=(32, 40), dtype=np.uint16)
    path = write_dicom(tmp_path / f"{syntax}.dcm", values, bits_stored=12, compress=syntax)
    xray = read_xray(path)
    np.testing.assert_array_equal(xray.array, values)
    assert xray.meta["transfer_syntax"] != "1.2.840.10008.1.2.1"


def test_dicom_multiframe_needs_a_frame(tmp_path):
    frames = RNG.integers(0, 256, size=(3, 10, 12), dtype=np.uint8)
    path = write_dicom(tmp_path / "multi.dcm", frames)
    with pytest.raises(ImageReadError, match=r"multi-frame image \(3 frames\)") as info:
        read_xray(path)
    assert info.value.path == str(path)
    np.testing.assert_array_equal(read_xray(path, frame=2).array, frames[2])
    with pytest.raises(ImageReadError, match="frame 3 requested but the image has 3"):
        read_xray(path, frame=3)


def test_dicom_without_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "nopix.dcm", grey8())
    import pydicom

    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_xray(path)


def test_truncated_compressed_dicom(tmp_path):
    path = write_dicom(tmp_path / "cutrle.dcm", RNG.integers(0, 4096, size=(64, 64), dtype=np.uint16),
                       bits_stored=12, compress="RLELossless")
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(ImageReadError, match="cutrle.dcm: truncated"):
        read_xray(path)


def test_truncated_dicom_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "cut.dcm", RNG.integers(0, 4096, size=(64, 64), dtype=np.uint16), bits_stored=12)
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(ImageReadError, match="cut.dcm: .*(truncated|corrupt)"):
        read_xray(path)


# ------------------------------------------------------------------------------- bad input


def jpeg_bytes(h: int = 256, w: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(grey8(h, w)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@pytest.mark.parametrize("name, content, reason", [
    ("empty.jpg", b"", r"empty file \(0 bytes\)"),
    ("notes.png", b"this is a text file, not a chest X-ray\n" * 5, "not an image"),
    ("cut.jpg", jpeg_bytes()[:3000], "truncated or corrupt JPEG"),
    ("cut.png", None, "truncated or corrupt PNG"),
    ("fake.dcm", b"\0" * 128 + b"DICM" + b"garbage" * 20, "DICOM"),
    ("text.dcm", b"hello, I am a text file\n", r"not an image \(no valid DICOM header"),
])
def test_bad_files_raise_one_typed_error_naming_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is None:  # a PNG cut in the middle of its pixel data
        buf = io.BytesIO()
        Image.fromarray(grey8(200, 200)).save(buf, format="PNG")
        content = buf.getvalue()[: len(buf.getvalue()) // 2]
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_xray(path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_xray(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        read_xray(tmp_path)


def test_decompression_bomb_guard_is_configurable(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(grey8(100, 120)).save(path)
    with pytest.raises(ImageReadError, match=r"120 x 100 = 12,000 pixels, above the limit of 10,000"):
        read_xray(path, max_pixels=10_000)
    assert read_xray(path, max_pixels=None).array.shape == (100, 120)
    dcm = write_dicom(tmp_path / "big.dcm", grey8(100, 120))
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_xray(dcm, max_pixels=10_000)


def test_pillow_bomb_header_is_caught_before_decoding(tmp_path):
    # a PNG header claiming 100000 x 100000 pixels: refused from the header, no allocation
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\0\0\0\0IEND\xaeB`\x82")
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match="bomb"):
        read_xray(path)


def test_multiframe_tiff_needs_a_frame(tmp_path):
    path = tmp_path / "stack.tif"
    frames = [Image.fromarray(grey8(10, 10)) for _ in range(2)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match="multi-frame"):
        read_xray(path)
    np.testing.assert_array_equal(read_xray(path, frame=1).array, np.asarray(frames[1]))


def test_image_read_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(ImageReadError("a b.png", "empty file (0 bytes)")))
    assert (err.path, err.reason, str(err)) == ("a b.png", "empty file (0 bytes)", "a b.png: empty file (0 bytes)")


# --------------------------------------------------------------------------------- display


def test_to_display_uint8_scales_and_caps_long_side():
    x = XRay(np.array([[0, 2048, 4095]] * 2, dtype=np.uint16), 4095, {})
    np.testing.assert_array_equal(to_display_uint8(x), [[0, 128, 255]] * 2)
    big = XRay(grey8(300, 600), 255, {})
    assert to_display_uint8(big, max_side=100).shape == (50, 100)
    assert to_display_uint8(big, max_side=1000) is big.array  # 8-bit, small: untouched


def test_display_stretches_unwindowed_wide_dicom_only():
    narrow = np.array([[100, 1100]], dtype=np.uint16)  # 10 bits of data in a 16-bit range
    unwindowed = XRay(narrow, 65535, {"source_format": "dicom", "voi": "none"})
    np.testing.assert_array_equal(to_display_uint8(unwindowed), [[0, 255]])
    windowed = XRay(narrow, 65535, {"source_format": "dicom", "voi": "window"})
    np.testing.assert_array_equal(to_display_uint8(windowed), [[0, 4]])


def test_save_display_png_round_trips_and_carries_no_metadata(tmp_path):
    x = XRay(grey8(30, 20), 255, {"path": "secret name.dcm"})
    out = save_display_png(x, tmp_path / "c.png")
    with Image.open(out) as img:
        assert img.mode == "L" and not img.info.get("exif") and "secret" not in str(img.info)
        np.testing.assert_array_equal(np.asarray(img), x.array)


# ------------------------------------------------------------------- integrity (issue 15, 5)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")  # pydicom warns about 'inf' on write
@pytest.mark.parametrize("tag, text", [("RescaleSlope", "NaN"), ("RescaleSlope", "-inf"),
                                       ("RescaleIntercept", "inf"), ("RescaleSlope", "1e400"),
                                       ("WindowWidth", "NaN"), ("WindowCenter", "inf")])
def test_integrity_nonfinite_dicom_scaling_is_a_named_error(tmp_path, tag, text):
    other = {"RescaleSlope": "1", "RescaleIntercept": "0"}
    if tag.startswith("Window"):
        other = {"WindowCenter": "2000", "WindowWidth": "4000"}
    path = write_dicom(tmp_path / "x.dcm", np.arange(12, dtype=np.uint16).reshape(3, 4), bits_stored=12,
                       **{**other, tag: text})
    with pytest.raises(ImageReadError) as caught:
        read_xray(path)
    assert caught.value.reason == (f"DICOM {tag} is {text} (not a finite number): "
                                   "the pixel values cannot be computed")
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_integrity_finite_dicom_scaling_still_reads(tmp_path):
    path = write_dicom(tmp_path / "x.dcm", np.array([[0, 4095]], dtype=np.uint16), bits_stored=12,
                       RescaleSlope="2", RescaleIntercept="-1024")
    assert read_xray(path).array.tolist() == [[0, 4095]]
