"""Could a rater find the hidden repeats by comparing display images? Six pair and two single-image attacks.

A rater's account can read every display image of the cohort (``cases/``). Each attack here gives
every pair of display images a distance (smaller = more alike), as a rater who saved the images
could compute it; how well the hidden-repeat pairs separate from all other pairs says how well that
attack finds repeats:

- ``size``: ``|log(w1 / w2)| + |log(h1 / h2)|`` of the image sizes in pixels (nearly every
  radiograph of a cohort has a size of its own);
- ``equal_pixels``: share of pixels that differ, for two images of the same size (a ``diff``);
  images of different sizes are at 1;
- ``mse``: mean squared difference after resizing both to 64 x 64 (area averages; a near-exact comparison with
  the sizes aligned);
- ``average_hash``: Hamming distance of 8 x 8 average hashes (64 bits);
- ``dct_hash``: Hamming distance of DCT perceptual hashes (pHash, 64 bits);
- ``correlation``: 1 - Pearson correlation of the images resized to 64 x 64 (normalised
  cross-correlation, without registration).

Two more attacks look at one image at a time, for what would tell *that* an image is a repeat
(:func:`repeat_detectability`): its noise level (Immerkaer's estimate) and its PNG's bytes per
pixel. A disguise adds noise; so every case's display image gets noise of the same kind.

The first four pair attacks are what a hidden repeat's disguise (:mod:`covsev_tools.images.disguise`) is built
against; the last two compare image *content* and still pair a repeat with its original, as a
person recognising the radiograph would. The hashes are those of the ``imagehash`` package
(Buchner), which the tests use to check them.

References
----------
Zauner C. Implementation and benchmarking of perceptual image hash functions. Master's thesis,
Upper Austria University of Applied Sciences, 2010 (average hash, DCT hash).
Fawcett T. An introduction to ROC analysis. Pattern Recognit Lett 2006;27:861-74 (AUC).
Immerkaer J. Fast noise variance estimation. Comput Vis Image Underst 1996;64(2):300-2.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> images = {f"c{i}": rng.integers(0, 256, (40 + i, 50), dtype=np.uint8) for i in range(4)}
>>> images["r0"] = images["c0"].copy()
>>> table = repeat_findability(images, {"r0": "c0"})
>>> table.set_index("attack").loc["equal_pixels", ["found_clean", "nearest_is_original"]].tolist()
[1, 1]
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

__all__ = ["ATTACKS", "audit_repeats", "average_hash", "dct_hash", "noise_sd", "pair_distances", "repeat_detectability",
           "repeat_findability"]

#: The attacks, in the order of the table, with what their distance is.
ATTACKS = {
    "size": "|log w1/w2| + |log h1/h2| of the sizes",
    "equal_pixels": "share of pixels that differ (same size only, else 1)",
    "mse": "mean squared difference at 64 x 64",
    "average_hash": "Hamming distance of 8 x 8 average hashes",
    "dct_hash": "Hamming distance of 64-bit DCT hashes (pHash)",
    "correlation": "1 - Pearson r at 64 x 64 (no registration)",
}
_SMALL = 64


def average_hash(image: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """The average hash of a grey image: Lanczos to ``hash_size`` squared, each pixel above the mean.

    Same as ``imagehash.average_hash`` (its ``hash`` array).

    Examples
    --------
    >>> average_hash(np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1)), 4).astype(int).tolist()[0]
    [0, 0, 1, 1]
    """
    from PIL import Image

    small = np.asarray(Image.fromarray(image).resize((hash_size, hash_size), Image.Resampling.LANCZOS))
    return small > small.mean()


def dct_hash(image: np.ndarray, hash_size: int = 8, highfreq_factor: int = 4) -> np.ndarray:
    """The DCT perceptual hash (pHash) of a grey image: the low-frequency DCT block against its median.

    Same as ``imagehash.phash``: Lanczos to ``hash_size * highfreq_factor`` squared, a 2-D DCT
    (type II), its top-left ``hash_size`` squared coefficients above their median.

    Examples
    --------
    >>> dct_hash(np.zeros((40, 40), np.uint8)).shape
    (8, 8)
    """
    from PIL import Image
    from scipy.fft import dct

    side = hash_size * highfreq_factor
    small = np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64)
    low = dct(dct(small, axis=0), axis=1)[:hash_size, :hash_size]
    return low > np.median(low)


def pair_distances(images: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each attack's distance between every two images: ``{attack: n x n array}`` in the order of ``images``.

    Parameters
    ----------
    images : mapping
        Display ID -> 2-D uint8 image.

    Examples
    --------
    >>> images = {"a": np.zeros((8, 8), np.uint8), "b": np.full((8, 8), 9, np.uint8), "c": np.zeros((8, 9), np.uint8)}
    >>> d = pair_distances(images)
    >>> d["equal_pixels"][0].tolist(), round(float(d["size"][0, 2]), 3)
    ([0.0, 1.0, 1.0], 0.118)
    """
    from PIL import Image

    arrays = list(images.values())
    sizes = np.log(np.array([a.shape for a in arrays], dtype=np.float64))
    # area averages (Pillow's box filter; OpenCV's resize would start its thread pool in this process)
    small = np.stack([np.asarray(Image.fromarray(a).resize((_SMALL, _SMALL), Image.Resampling.BOX),
                                 dtype=np.float64).ravel() for a in arrays])
    hashes = {name: np.stack([f(a).ravel() for a in arrays]).astype(np.int64)
              for name, f in (("average_hash", average_hash), ("dct_hash", dct_hash))}
    squares = (small ** 2).sum(1)
    centred = small - small.mean(1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    correlation = centred @ centred.T / np.maximum(np.outer(norms, norms), 1e-12)
    distances = {
        "size": np.abs(sizes[:, None, :] - sizes[None, :, :]).sum(-1),
        "equal_pixels": _differing_share(arrays),
        "mse": np.maximum(squares[:, None] + squares[None, :] - 2 * small @ small.T, 0) / small.shape[1],
        "average_hash": None, "dct_hash": None,
        "correlation": 1.0 - correlation,
    }
    for name, bits in hashes.items():
        distances[name] = bits @ (1 - bits).T + (1 - bits) @ bits.T  # Hamming distance
    return {name: distances[name].astype(np.float64) for name in ATTACKS}


def _differing_share(arrays: list[np.ndarray]) -> np.ndarray:
    """Share of differing pixels for images of the same size; 1 for images of different sizes."""
    n = len(arrays)
    out = np.ones((n, n))
    np.fill_diagonal(out, 0.0)
    by_shape: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        by_shape.setdefault(a.shape, []).append(i)
    for members in by_shape.values():
        for k, i in enumerate(members):
            for j in members[k + 1:]:
                out[i, j] = out[j, i] = float(np.mean(arrays[i] != arrays[j]))
    return out


def repeat_findability(images: Mapping[str, np.ndarray], repeats: Mapping[str, str]):
    """How well each attack tells the hidden-repeat pairs from all other pairs of display images.

    Parameters
    ----------
    images : mapping
        Display ID -> 2-D uint8 image: every case and every hidden repeat of a cohort.
    repeats : mapping
        Hidden repeat ID -> its original's case ID (both in ``images``).

    Returns
    -------
    pandas.DataFrame
        One row per attack: ``attack``, ``distance`` (what it is), ``n_repeats``, ``n_other_pairs``,
        ``auc`` (probability that a repeat pair is closer than another pair, ties half: ROC AUC),
        ``repeat_median`` and ``repeat_max`` (distances of the repeat pairs), ``other_min`` (the
        closest pair that is not a repeat and its original), ``found_clean`` (repeat pairs closer
        than every other pair: found with no false positive), ``top_k_hits`` (repeat pairs among the
        ``n_repeats`` closest pairs, ties shared in proportion: what a rater who read the number of
        repeats in ``cohort.json`` would catch), ``others_within_median`` (other pairs at or below the
        repeat pairs' median distance: the false alarms of catching half of them),
        ``nearest_is_original`` (repeats whose single nearest image, strictly, is their original:
        a rater who suspects a case and looks for its twin).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> images = {f"c{i}": rng.integers(0, 256, (30, 30), dtype=np.uint8) for i in range(5)}
    >>> images["r1"] = np.clip(images["c1"].astype(int) + 1, 0, 255).astype(np.uint8)
    >>> row = repeat_findability(images, {"r1": "c1"}).set_index("attack").loc["mse"]
    >>> float(row["auc"]), int(row["found_clean"])
    (1.0, 1)
    """
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    ids = list(images)
    index = {display_id: i for i, display_id in enumerate(ids)}
    pairs = {(min(index[r], index[c]), max(index[r], index[c])) for r, c in repeats.items()}
    upper_i, upper_j = np.triu_indices(len(ids), k=1)
    is_repeat = np.array([(i, j) in pairs for i, j in zip(upper_i, upper_j)])
    rows = []
    for attack, matrix in pair_distances(images).items():
        values = matrix[upper_i, upper_j]
        repeat_d, other_d = values[is_repeat], values[~is_repeat]
        nearest = 0
        for r, c in repeats.items():
            others = np.delete(matrix[index[r]], [index[r], index[c]])
            nearest += int(matrix[index[r], index[c]] < others.min())
        rows.append({"attack": attack, "distance": ATTACKS[attack], "n_repeats": len(pairs),
                     "n_other_pairs": int(other_d.size),
                     "auc": float(roc_auc_score(is_repeat, -values)) if 0 < len(pairs) < values.size else float("nan"),
                     "repeat_median": float(np.median(repeat_d)), "repeat_max": float(repeat_d.max()),
                     "other_min": float(other_d.min()), "found_clean": int((repeat_d < other_d.min()).sum()),
                     "top_k_hits": _top_k_hits(values, is_repeat, len(pairs)),
                     "others_within_median": int((other_d <= np.median(repeat_d)).sum()),
                     "nearest_is_original": nearest})
    return pd.DataFrame(rows)


def _top_k_hits(values: np.ndarray, is_repeat: np.ndarray, k: int) -> float:
    """Expected repeat pairs among the ``k`` closest pairs when ties at the cut are drawn at random."""
    cut = np.sort(values)[k - 1]
    below, at = values < cut, values == cut
    return float(is_repeat[below].sum() + (k - below.sum()) * is_repeat[at].sum() / at.sum())


def noise_sd(image: np.ndarray) -> float:
    """Immerkaer's estimate of the standard deviation of an image's Gaussian noise, in grey levels.

    Examples
    --------
    >>> flat = np.random.default_rng(0).normal(100, 2.0, (300, 300))
    >>> round(noise_sd(flat), 1)
    2.0
    """
    v = image.astype(np.float64)
    if min(v.shape) < 3:
        return 0.0
    # the mask [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] over the interior, as sums of shifted copies
    rows = v[:-2] - 2 * v[1:-1] + v[2:]
    response = rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]
    return float(math.sqrt(math.pi / 2) * np.abs(response).mean() / 6)


def repeat_detectability(images: Mapping[str, np.ndarray], repeats: Mapping[str, str],
                         png_bytes: Mapping[str, int] | None = None):
    """How well a look at one image at a time tells the hidden repeats from the cases.

    Parameters
    ----------
    images : mapping
        Display ID -> 2-D uint8 image.
    repeats : mapping
        Hidden repeat ID -> its original's case ID.
    png_bytes : mapping, optional
        Display ID -> size of its PNG file; default: each image encoded as ``cohort create`` does.

    Returns
    -------
    pandas.DataFrame
        One row per attack (``noise_sd``, ``bytes_per_pixel``): ``attack``, ``n_repeats``, ``n_cases``,
        ``auc`` (probability that a repeat scores higher than a case: 0.5 tells nothing, and so does
        1 - AUC far from 0.5 the other way round).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> images = {f"c{i}": np.full((60, 60), 90, np.uint8) for i in range(6)}
    >>> images["r0"] = rng.normal(90, 3, (60, 60)).clip(0, 255).astype(np.uint8)  # only the repeat is noisy
    >>> repeat_detectability(images, {"r0": "c0"})["auc"].tolist()
    [1.0, 1.0]
    """
    import cv2
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    ids = list(images)
    if png_bytes is None:
        png_bytes = {i: len(cv2.imencode(".png", images[i], [cv2.IMWRITE_PNG_COMPRESSION, 1])[1]) for i in ids}
    is_repeat = np.array([i in repeats for i in ids])
    scores = {"noise_sd": [noise_sd(images[i]) for i in ids],
              "bytes_per_pixel": [png_bytes[i] / images[i].size for i in ids]}
    both = 0 < is_repeat.sum() < len(ids)
    return pd.DataFrame([{"attack": name, "n_repeats": int(is_repeat.sum()), "n_cases": int((~is_repeat).sum()),
                          "auc": float(roc_auc_score(is_repeat, values)) if both else float("nan")}
                         for name, values in scores.items()])


def audit_repeats(cohort):
    """:func:`repeat_findability` and :func:`repeat_detectability` on a cohort's display images (coordinator only).

    Returns
    -------
    pandas.DataFrame
        The rows of both, with ``kind`` ``"pair"`` or ``"image"`` (columns that do not apply are empty).

    Parameters
    ----------
    cohort : Cohort
        A cohort folder with its coordinator-only ``repeats.csv``.

    Examples
    --------
    >>> from covsev_tools.cohort.create import example_cohort
    >>> table = audit_repeats(example_cohort(n_images=12, repeat_fraction=0.25))
    >>> table["attack"].tolist() == list(ATTACKS) + ["noise_sd", "bytes_per_pixel"], int(table["n_repeats"].iloc[0])
    (True, 3)
    """
    import cv2

    from covsev_tools.cohort.errors import CohortError

    repeats = cohort.repeats()
    if not repeats:
        raise CohortError(f"{cohort.dir}: the cohort has no hidden repeats to audit")
    images = {}
    for display_id in cohort.display_ids:
        image = cv2.imread(str(cohort.display_image_path(display_id)), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 2:
            raise CohortError(f"{cohort.display_image_path(display_id)}: display image missing or not grey")
        images[display_id] = image
    import pandas as pd

    sizes = {i: cohort.display_image_path(i).stat().st_size for i in images}
    pairs = repeat_findability(images, repeats).assign(kind="pair")
    single = repeat_detectability(images, repeats, sizes).assign(kind="image")
    return pd.concat([pairs, single], ignore_index=True)
