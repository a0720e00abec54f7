"""Can a rater find the hidden repeats by comparing display images? The attacks' figures on real images.

A cohort is made from the paper's 94 images (``../shared/data/cohen2020/images``, or
``COVSEV_SHARED_DATA``) with 10 hidden repeats, as ``covsev cohort create`` makes it; every attack of
:mod:`covsev_tools.cohort.repeat_audit` is run over all pairs of its 104 display images, first on the
repeats as they are now (disguised), then on the same cohort with each repeat replaced by what
earlier versions wrote (its original with 0.5 % of the pixels moved by one grey level). Last, what
the disguise does to the model's input (``covsev_tools.model.preprocess.prepare_image``), over every
case of the cohort disguised once.

    .venv/bin/python benchmarks/repeat_attacks.py               # seeds 1, 2, 3
    .venv/bin/python benchmarks/repeat_attacks.py --seeds 1 --repeats 10

Case IDs are drawn with ``secrets``, so which cases are repeated, and their disguises, differ from
run to run even for one seed: the figures are a fresh draw each time.

Issue 21's goal: no repeat found by an exact pixel comparison or an 8x8 average hash.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("COVSEV_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def old_variant(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What covsev wrote before issue 21: 0.5 % of the pixels (at least one) moved by one grey level."""
    flat = image.reshape(-1).copy()
    where = rng.choice(flat.size, size=max(1, round(flat.size * 0.005)), replace=False)
    flat[where] = np.where(flat[where] == 255, 254, flat[where] + 1)
    return flat.reshape(image.shape)


def model_input_change(images: dict, seed: int):
    """Every case disguised once as if it were a repeat: what changes in the model's 224 x 224 input."""
    import pandas as pd

    from covsev_tools.cohort.blinding import repeat_image
    from covsev_tools.model.preprocess import prepare_image

    rows = []
    for case_id, image in images.items():
        shown = repeat_image(image, seed, "r" + case_id[1:], max_side=2048)
        a, b = (prepare_image(x, 255)[0].astype(np.float64) for x in (image, shown))
        rows.append({"mean_shift": b.mean() - a.mean(), "sd_change_pct": 100 * (b.std() / a.std() - 1),
                     "correlation": float(np.corrcoef(a.ravel(), b.ravel())[0, 1]),
                     "display_grey_shift": float(shown.mean()) - float(image.mean())})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    import cv2
    import pandas as pd

    from covsev_tools.cohort import create_cohort
    from covsev_tools.cohort.repeat_audit import repeat_detectability, repeat_findability

    folder = DATA / "cohen2020" / "images"
    if not folder.is_dir():
        print(f"real data not found at {folder} (set COVSEV_SHARED_DATA)")
        return 1
    pd.set_option("display.width", 160)
    columns = ["attack", "auc", "repeat_median", "repeat_max", "other_min", "found_clean", "top_k_hits",
               "others_within_median", "nearest_is_original"]
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            cohort = create_cohort(folder, "attacks", out_dir=Path(tmp) / "c", repeat_fraction=args.repeats / 94,
                                   repeat_min_gap=10, seed=seed, workers=2, progress=False)
            made = time.perf_counter() - start
            images = {i: cv2.imread(str(cohort.display_image_path(i)), cv2.IMREAD_UNCHANGED)
                      for i in cohort.display_ids}
            repeats = cohort.repeats()
            start = time.perf_counter()
            now = repeat_findability(images, repeats)
            audited = time.perf_counter() - start
            rng = np.random.default_rng(seed)
            before = repeat_findability({**images, **{r: old_variant(images[c], rng) for r, c in repeats.items()}},
                                       repeats)
            print(f"\n== seed {seed}: {len(cohort.case_ids)} cases, {len(repeats)} hidden repeats, "
                  f"{int(now['n_other_pairs'][0])} other pairs "
                  f"(cohort made in {made:.1f} s, attacks in {audited:.1f} s)")
            print("-- before (0.5 % of pixels moved by one level):")
            print(before[columns].round(4).to_string(index=False))
            print("-- now (disguised):")
            print(now[columns].round(4).to_string(index=False))
            sizes = {i: cohort.display_image_path(i).stat().st_size for i in images}
            single = repeat_detectability(images, repeats, sizes).set_index("attack")["auc"]
            print(f"-- one image at a time, ROC AUC of repeats against cases (0.5: tells nothing): "
                  f"noise estimate {single['noise_sd']:.3f}, PNG bytes per pixel {single['bytes_per_pixel']:.3f}")
            if seed == args.seeds[0]:
                cases = {i: images[i] for i in cohort.case_ids}
                change = model_input_change(cases, seed).describe(percentiles=[0.05, 0.5, 0.95])
                print(f"\n== the model's input (224 x 224, torchxrayvision's [-1024, 1024]), each of the "
                      f"{len(cases)} cases against itself disguised; display_grey_shift in grey levels of 255:")
                print(change.loc[["min", "5%", "50%", "95%", "max"]].round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
