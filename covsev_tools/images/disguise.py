"""A repeated image in disguise: a slight crop, rotation and resize, a grey-level change and noise.

A hidden repeat shows a rater the same radiograph a second time to measure intra-rater
reliability. Its display file must not be found by comparing files: a copy with a few pixels
moved by one grey level is still found exactly by its size (nearly every radiograph of a cohort has
a size of its own), by comparing pixels, or by an 8x8 average hash. The disguise changes every
pixel and the size, within bounds a reader does not notice on a severity score:

- the field of view loses 0.5-2 % of the width or height on each side (the border, never the
  lungs), and at most 3 % together with the rotation;
- a rotation of 0.2-0.6 degrees about the centre (patients are positioned less exactly than that;
  less on a long, narrow image, where it would otherwise cut more than 3 %);
- the pixel grid is resized by 0.9-1.1 (1.5 % more or less in one direction; never back to the
  original's size): the scoring page fits the image to the screen, so this changes the file's size,
  not what the reader sees;
- grey levels: gamma 0.95-0.98 or 1.02-1.05, contrast 1-3 % up or down about mid-grey, brightness
  1-3 levels up or down (of 255);
- a shading: a linear ramp of grey levels across the image in a random direction, 2-5 levels up at
  one edge and down at the other (the anode heel effect alone makes more);
- Gaussian noise of 1-2 grey levels (standard deviation), below the quantum noise of a radiograph.

The noise alone would tell a repeat from a case (a noisier image, a larger PNG per pixel), so every
case's display image gets noise of the same kind (:func:`draw_noise`, :func:`add_noise`): measured
on the paper's 94 images with 10 repeats, when only the repeats had noise, a noise estimate picked
them with an ROC AUC of 0.94 and a file's bytes per pixel with 0.85; with noise in every image, 0.54
and 0.49.

Every parameter is drawn from a seed made of the cohort's secret seed and the repeat's ID, so the
coordinator can remake the file exactly while a rater cannot guess it; the parameters are kept in
the coordinator-only ``repeats.csv``. A comparison of image *content* (a perceptual hash, or a
correlation after registration) still pairs a repeat with its original: see
:mod:`covsev_tools.cohort.repeat_audit` for the measured figures.

References
----------
Pillow ``Image.transform`` (affine, bicubic interpolation) for the geometry.

Examples
--------
>>> import numpy as np
>>> image = np.tile(np.linspace(0, 255, 200).astype(np.uint8), (160, 1))
>>> disguise = draw_disguise(image.shape, "7:c22222222")
>>> shown = apply_disguise(image, disguise)
>>> shown.shape != image.shape, shown.dtype
(True, dtype('uint8'))
>>> bool(np.array_equal(apply_disguise(image, draw_disguise(image.shape, "7:c22222222")), shown))
True
"""
from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

__all__ = ["DISGUISE_BOUNDS", "DISGUISE_COLUMNS", "DISGUISE_VERSION", "Disguise", "NOISE_VERSION", "add_noise",
           "apply_disguise", "draw_disguise", "draw_noise"]

#: Written with every disguise record; a record of another version (or none) makes the file again.
DISGUISE_VERSION = "1"

#: Written to ``cohort.json`` when every display image has :func:`draw_noise` noise; a cohort made
#: before (its cases without noise) has its display images made again by ``cohort create``.
NOISE_VERSION = 1

#: The range each parameter is drawn from (magnitudes; the sign is drawn separately where it says so).
DISGUISE_BOUNDS = {
    "crop": (0.005, 0.02),          # fraction of the width (left, right) or height (top, bottom) cut off
    "max_cut": 0.03,                # cut on any side, the rotation's extra zoom included
    "rotation_deg": (0.2, 0.6),     # either direction
    "resize": (0.9, 1.1),           # pixel grid, both directions
    "stretch": 0.015,               # one direction up to this much more than the other
    "log_gamma": (0.02, 0.05),      # gamma = exp(+-value): 0.95-0.98 or 1.02-1.05
    "contrast": (0.01, 0.03),       # 1 +- value, about mid-grey
    "brightness": (1.0, 3.0),       # grey levels of 255, either direction
    "shading": (2.0, 5.0),          # grey levels of 255 at the edges of the ramp
    "noise_sd": (1.0, 2.0),         # grey levels of 255
}


@dataclasses.dataclass(frozen=True)
class Disguise:
    """The parameters of one repeat's disguise (all that :func:`apply_disguise` needs).

    Attributes
    ----------
    crop_left, crop_top, crop_right, crop_bottom : float
        Fraction of the width or height cut off on each side, the rotation's extra zoom included.
    rotation_deg : float
        Rotation of the content about the centre of the kept region, in degrees (the sign is the direction).
    width, height : int
        Size of the disguised image in pixels.
    gamma, contrast, brightness : float
        Grey-level map ``127.5 + contrast * (255 * (v / 255) ** gamma - 127.5) + brightness``.
    shading, shading_angle_deg : float
        A ramp ``shading * (x cos a + y sin a)`` added, with ``x`` and ``y`` from -1 to 1 across the image.
    noise_sd : float
        Standard deviation of the added Gaussian noise, in grey levels.
    noise_seed : int
        Seed of the noise.

    Examples
    --------
    >>> d = draw_disguise((1000, 800), "1:c33333333")
    >>> Disguise.from_record(d.to_record()) == d
    True
    """

    crop_left: float
    crop_top: float
    crop_right: float
    crop_bottom: float
    rotation_deg: float
    width: int
    height: int
    gamma: float
    contrast: float
    brightness: float
    shading: float
    shading_angle_deg: float
    noise_sd: float
    noise_seed: int

    def to_record(self) -> dict[str, str]:
        """The parameters as text columns (``repeats.csv``), with ``disguise`` = the version.

        Examples
        --------
        >>> draw_disguise((100, 80), "1:c33333333").to_record()["disguise"]
        '1'
        """
        record = {"disguise": DISGUISE_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            record[field.name] = repr(value)  # a float's repr reads back to the same float
        return record

    @classmethod
    def from_record(cls, record: dict[str, str]) -> "Disguise | None":
        """The disguise a record of this version describes; None for another version or a damaged record.

        Examples
        --------
        >>> Disguise.from_record({"repeat_id": "c33333333", "case_id": "c44444444"}) is None
        True
        """
        if record.get("disguise") != DISGUISE_VERSION:
            return None
        try:
            values = {f.name: (int if f.type in (int, "int") else float)(record[f.name])
                      for f in dataclasses.fields(cls)}
        except (KeyError, TypeError, ValueError):
            return None
        if not all(math.isfinite(v) for v in values.values()) or values["width"] < 1 or values["height"] < 1:
            return None
        return cls(**values)


#: The columns of a disguise's record (:meth:`Disguise.to_record`), as ``repeats.csv`` holds them.
DISGUISE_COLUMNS = ("disguise",) + tuple(f.name for f in dataclasses.fields(Disguise))


def draw_disguise(shape: tuple[int, ...], seed_text: str, max_side: int | None = None) -> Disguise:
    """Draw the disguise of an image of ``shape`` from a seed text (e.g. ``"<cohort seed>:<repeat ID>"``).

    Parameters
    ----------
    shape : tuple
        ``(height, width)`` of the image to disguise.
    seed_text : str
        Hashed (sha256) into the random state: the same text gives the same disguise.
    max_side : int, optional
        The disguised image's long side is at most this (the cohort's display size).

    Returns
    -------
    Disguise
        Within :data:`DISGUISE_BOUNDS`.

    Examples
    --------
    >>> d = draw_disguise((2048, 1700), "42:c55555555", max_side=2048)
    >>> max(d.width, d.height) <= 2048, 0.005 <= d.crop_left <= 0.03, 0.2 <= abs(d.rotation_deg) <= 0.6
    (True, True, True)
    """
    height, width = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:16], "big"))
    bounds = DISGUISE_BOUNDS

    def signed(low: float, high: float) -> float:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(low, high))

    left, right, top, bottom = (float(v) for v in rng.uniform(*bounds["crop"], size=4))
    angle = signed(*bounds["rotation_deg"])
    resize, stretch = float(rng.uniform(*bounds["resize"])), float(rng.uniform(-1, 1) * bounds["stretch"])
    gamma = math.exp(signed(*bounds["log_gamma"]))
    contrast, brightness = 1.0 + signed(*bounds["contrast"]), signed(*bounds["brightness"])
    shading, shading_angle = float(rng.uniform(*bounds["shading"])), float(rng.uniform(0.0, 360.0))
    noise_sd, noise_seed = float(rng.uniform(*bounds["noise_sd"])), int(rng.integers(2**62))

    cuts, angle = _kept_region(width, height, (left, top, right, bottom), angle, bounds["max_cut"])
    kept_w, kept_h = width * (1 - cuts[0] - cuts[2]), height * (1 - cuts[1] - cuts[3])

    out_w, out_h = kept_w * resize * (1 + stretch), kept_h * resize * (1 - stretch)
    if max_side and max(out_w, out_h) > max_side:
        out_w, out_h = out_w * max_side / max(out_w, out_h), out_h * max_side / max(out_w, out_h)
    out_w, out_h = max(1, round(out_w)), max(1, round(out_h))
    if (out_w, out_h) == (width, height):  # never the original's size (small images can round back to it)
        out_w = out_w - 1 if out_w > 1 else out_w + 1
    return Disguise(*cuts, rotation_deg=angle, width=out_w, height=out_h,
                    gamma=gamma, contrast=contrast, brightness=brightness, shading=shading,
                    shading_angle_deg=shading_angle, noise_sd=noise_sd, noise_seed=noise_seed)


def _kept_region(width: int, height: int, crop: tuple[float, ...], angle: float,
                 max_cut: float) -> tuple[tuple[float, float, float, float], float]:
    """The cuts (left, top, right, bottom) that keep the rotated region inside the image, and the angle.

    The cropped region is shrunk about its centre until, rotated, it fits; when that would cut more
    than ``max_cut`` on a side (a long, narrow image), the angle is halved until it does not.
    """
    left, top, right, bottom = crop
    kept_w, kept_h = width * (1 - left - right), height * (1 - top - bottom)
    centre_x, centre_y = width * (left + (1 - left - right) / 2), height * (top + (1 - top - bottom) / 2)
    while True:
        cos, sin = math.cos(math.radians(angle)), abs(math.sin(math.radians(angle)))
        half_x, half_y = (kept_w * cos + kept_h * sin) / 2, (kept_w * sin + kept_h * cos) / 2
        shrink = min(1.0, min(centre_x, width - centre_x) / half_x, min(centre_y, height - centre_y) / half_y)
        w, h = kept_w * shrink, kept_h * shrink
        cuts = ((centre_x - w / 2) / width, (centre_y - h / 2) / height,
                1 - (centre_x + w / 2) / width, 1 - (centre_y + h / 2) / height)
        if max(cuts) <= max_cut or abs(angle) < 1e-3:
            return cuts, angle
        angle /= 2


def apply_disguise(image: np.ndarray, disguise: Disguise) -> np.ndarray:
    """The disguised copy of a 2-D 8-bit image (a new array of ``disguise.height x disguise.width``).

    Parameters
    ----------
    image : numpy.ndarray
        2-D uint8 display image.
    disguise : Disguise
        From :func:`draw_disguise` (or read back with :meth:`Disguise.from_record`).

    Returns
    -------
    numpy.ndarray
        2-D uint8.

    Examples
    --------
    >>> flat = np.full((50, 40), 100, np.uint8)
    >>> shown = apply_disguise(flat, draw_disguise(flat.shape, "3:c66666666"))
    >>> 90 < float(shown.mean()) < 110, float(shown.std()) < 5  # grey levels, shading and noise
    (True, True)
    """
    from PIL import Image

    height, width = image.shape
    d = disguise
    kept_w, kept_h = width * (1 - d.crop_left - d.crop_right), height * (1 - d.crop_top - d.crop_bottom)
    # centre of the kept region in pixel-centre coordinates (pixel i covers [i - 0.5, i + 0.5])
    centre = np.array([width * d.crop_left + kept_w / 2 - 0.5, height * d.crop_top + kept_h / 2 - 0.5])
    angle = math.radians(d.rotation_deg)
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotate @ np.diag([kept_w / d.width, kept_h / d.height])  # output pixel -> source pixel
    offset = centre - linear @ np.array([(d.width - 1) / 2, (d.height - 1) / 2])
    # Pillow's AFFINE maps output to source in continuous coordinates (a pixel's centre at i + 0.5).
    # Pillow, not OpenCV: cv2.warpAffine starts OpenCV's thread pool in this process, and decoding
    # workers forked from it afterwards (a prediction in the same notebook) hung on it.
    shifted = offset + 0.5 - linear @ np.array([0.5, 0.5])
    coefficients = (linear[0, 0], linear[0, 1], shifted[0], linear[1, 0], linear[1, 1], shifted[1])
    warped = np.asarray(Image.fromarray(image.astype(np.float32), mode="F").transform(
        (d.width, d.height), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BICUBIC))
    grey = 255.0 * (np.clip(warped, 0, 255) / 255.0) ** d.gamma
    grey = 127.5 + d.contrast * (grey - 127.5) + d.brightness
    angle = math.radians(d.shading_angle_deg)
    ramp_x = np.linspace(-1.0, 1.0, d.width, dtype=np.float32) * (d.shading * math.cos(angle))
    ramp_y = np.linspace(-1.0, 1.0, d.height, dtype=np.float32) * (d.shading * math.sin(angle))
    grey += ramp_y[:, None] + ramp_x[None, :]
    return add_noise(grey, d.noise_sd, d.noise_seed)


def draw_noise(seed_text: str) -> tuple[float, int]:
    """The noise of one display image, ``(sd, seed)``, drawn from a seed text as a disguise's is.

    Examples
    --------
    >>> sd, seed = draw_noise("7:case-image:c22222222")
    >>> 1.0 <= sd <= 2.0, draw_noise("7:case-image:c22222222") == (sd, seed)
    (True, True)
    """
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:16], "big"))
    return float(rng.uniform(*DISGUISE_BOUNDS["noise_sd"])), int(rng.integers(2**62))


def add_noise(image: np.ndarray, sd: float, seed: int) -> np.ndarray:
    """``image`` (grey levels, any real dtype) plus Gaussian noise of ``sd`` levels, rounded to uint8.

    Examples
    --------
    >>> noisy = add_noise(np.full((200, 200), 100, np.uint8), 1.5, seed=3)
    >>> noisy.dtype, round(float(noisy.std()), 1), add_noise(noisy, 0.0, 0).tolist() == noisy.tolist()
    (dtype('uint8'), 1.5, True)
    """
    grey = image.astype(np.float32)
    if sd > 0:
        grey += np.random.default_rng(seed).normal(0.0, sd, size=grey.shape).astype(np.float32)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)
