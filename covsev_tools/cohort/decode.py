"""Decoding the unique images into display PNGs, in a small process pool that survives decoder crashes.

A corrupt file can crash a C decoder and, with it, a worker process. The pool then loses the jobs
it held; each lost job is retried alone in its own process, so only the file that crashes is lost.

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> Image.new("L", (8, 6)).save(folder / "x.png")
>>> decode_all([(str(folder / "x.png"), str(folder / "d.png"), None, 64)], workers=1, progress=False)
[{'error': '', 'image_height': 6, 'image_width': 8, 'bit_depth': 8, 'source_format': 'png'}]
"""
from __future__ import annotations

from typing import Any

from covsev_tools.images.reader import ImageReadError

__all__ = ["decode_all"]


def _decode_job(job: tuple) -> dict[str, Any]:
    """Worker: read one file and write its display PNG. Returns metadata or the error (never raises)."""
    from covsev_tools.images.display import save_display_png
    from covsev_tools.images.reader import read_xray

    path, png_path, max_pixels, max_side, *rest = job
    try:
        xray = read_xray(path, max_pixels=max_pixels)
        save_display_png(xray, png_path, max_side=max_side, noise=rest[0] if rest else None)
    except ImageReadError as exc:
        return {"error": exc.reason}
    except Exception as exc:  # a failure writing the PNG must not abort the cohort either
        return {"error": f"cannot write display image ({type(exc).__name__}: {exc})"}
    height, width = xray.meta["original_size"]
    return {"error": "", "image_height": height, "image_width": width, "bit_depth": xray.meta["bit_depth"],
            "source_format": xray.meta["source_format"]}


def decode_all(jobs: list[tuple], workers: int, progress: bool) -> list[dict[str, Any]]:
    """Run ``(source, display_png, max_pixels, max_side[, noise])`` jobs; one result dict per job, in order.

    ``noise`` is ``(sd, seed)`` of the Gaussian noise added to the display image, or None.

    In-process for few files, else in a pool of ``workers`` processes; a tqdm bar on stderr when
    ``progress``. A result's ``error`` is "" or why the file could not be used.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "bad.png").write_text("not an image")
    >>> decode_all([(str(folder / "bad.png"), str(folder / "d.png"), None, 64)], workers=1, progress=False)
    [{'error': 'not an image (unrecognised file content)'}]
    """
    from tqdm.auto import tqdm

    with tqdm(total=len(jobs), desc="reading images", unit="img", disable=not progress or not jobs) as bar:
        if workers <= 1 or len(jobs) < 8:
            results = []
            for job in jobs:
                results.append(_decode_job(job))
                bar.update()
            return results
        results = _run_pool(jobs, workers, bar)
        for i in [i for i, r in enumerate(results) if r is None]:
            results[i] = _run_isolated(jobs[i])  # the pool died under it: retry alone
            bar.update()
        return results


def _run_pool(jobs: list[tuple], workers: int, bar) -> list[dict[str, Any] | None]:
    """Results in job order; None for jobs lost when a worker process died (e.g. a decoder crash)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    results: list[dict[str, Any] | None] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_decode_job, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except BrokenProcessPool:
                continue
            bar.update()
    return results


def _run_isolated(job: tuple) -> dict[str, Any]:
    """One job in its own process, so a decoder that crashes the interpreter only loses this file."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=1) as pool:
            return pool.submit(_decode_job, job).result()
    except BrokenProcessPool:
        return {"error": "the image decoder crashed on this file (corrupt data?)"}
