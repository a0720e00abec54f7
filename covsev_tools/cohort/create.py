"""Making (or updating) a blinded cohort folder from a folder of images, and the report of what it found.

Every file is hashed (sha256); identical files become one case. Each unique readable image gets a
random case ID (reused by hash when the folder already holds a cohort) and a display PNG. Unreadable
files are listed in the key with their error; they never abort the run. :class:`CreationReport`
says what one run found.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Sequence

from covsev_tools.cohort.cohort import Cohort
from covsev_tools.cohort.decode import decode_all
from covsev_tools.cohort.errors import CohortError, NoReadableImageError
from covsev_tools.cohort.folder import (KEY_COLUMNS, MANIFEST_COLUMNS, PROVENANCE_FILE, REPEAT_COLUMNS,
                                        SOURCE_COLUMNS, coordinator_only, read_csv, write_csv)
from covsev_tools.cohort.ids import is_case_id, new_case_id
from covsev_tools.cohort.info import (NAME_PATTERN, cohort_info, earlier_settings, read_info, read_secret,
                                      secret_text)
from covsev_tools.cohort.metadata import join_metadata, read_metadata
from covsev_tools.cohort.orders import check_order_rater, load_order, save_order
from covsev_tools.cohort.blinding import same_timestamps, write_repeat_images
from covsev_tools.cohort.repeats import check_repeats_possible, choose_repeats
from covsev_tools.cohort.scan import find_files, group_by_content, mark_duplicates
from covsev_tools.files import write_text_atomic
from covsev_tools.images.disguise import NOISE_VERSION, draw_noise
from covsev_tools.images.reader import DEFAULT_MAX_PIXELS, DISPLAY_MAX_SIDE

__all__ = ["CreationReport", "create_cohort", "example_cohort"]

_COUNTS = ("n_files", "n_readable", "n_unreadable", "n_duplicates", "n_cases", "n_repeats")


@dataclass
class CreationReport:
    """What :func:`create_cohort` found; its counts are saved in ``cohort.json``.

    Examples
    --------
    >>> report = CreationReport(n_files=3, n_readable=2, n_unreadable=1, n_cases=2, n_new_cases=2)
    >>> report.summary("pilot", "cohorts/pilot")
    "cohort 'pilot': 2 readable images -> 2 cases (2 new), 0 duplicates, 1 unreadable, 0 hidden repeats; written to cohorts/pilot"
    """

    n_files: int = 0
    n_readable: int = 0
    n_unreadable: int = 0
    n_duplicates: int = 0
    n_cases: int = 0
    n_new_cases: int = 0
    n_repeats: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    metadata_unmatched_rows: list[str] = field(default_factory=list)
    images_without_metadata: list[str] = field(default_factory=list)

    def summary(self, name: str, out_dir: Path | str) -> str:
        """The one-line summary printed by ``covsev cohort create`` (see the class example)."""
        return (f"cohort {name!r}: {self.n_readable} readable images -> {self.n_cases} cases "
                f"({self.n_new_cases} new), {self.n_duplicates} duplicates, {self.n_unreadable} unreadable, "
                f"{self.n_repeats} hidden repeats; written to {out_dir}")

    def count(self, rows: list[dict], case_ids: list[str], repeats: dict, previous_ids) -> None:
        """Fill the counts from the key rows, the cases and repeats, and the IDs of an earlier run.

        Examples
        --------
        >>> report = CreationReport(n_files=3)
        >>> rows = [{"status": "ok"}, {"status": "duplicate"}, {"status": "unreadable"}]
        >>> report.count(rows, ["ca"], {"cr": "ca"}, previous_ids=set())
        >>> report.n_readable, report.n_duplicates, report.n_unreadable, report.n_repeats, report.n_new_cases
        (2, 1, 1, 1, 1)
        """
        self.n_cases, self.n_repeats = len(case_ids), len(repeats)
        self.n_readable = sum(r["status"] in ("ok", "duplicate") for r in rows)
        self.n_unreadable = sum(r["status"] == "unreadable" for r in rows)
        self.n_duplicates = sum(r["status"] == "duplicate" for r in rows)
        self.n_new_cases = sum(cid not in previous_ids for cid in case_ids)


def create_cohort(images_dir: str | Path, name: str, out_dir: str | Path | None = None,
                  metadata_csv: str | Path | None = None, repeat_fraction: float | None = None,
                  repeat_min_gap: int | None = None, seed: int | None = None, new_ids: bool = False,
                  scales: Sequence[Any] | str | None = None, *, raters: Sequence[str] = (),
                  workers: int = 2, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                  display_max_side: int = DISPLAY_MAX_SIDE, progress: bool = True,
                  only: Collection[str] | None = None) -> Cohort:
    """Create (or update) a blinded cohort folder from a folder of images.

    Parameters
    ----------
    images_dir : str or Path
        Folder of PNG/JPEG/DICOM files (searched recursively; hidden files skipped).
    name : str
        Cohort name.
    out_dir : str or Path, optional
        Cohort folder; default ``cohorts/<name>``.
    metadata_csv : str or Path, optional
        CSV with a ``filename`` column, joined on the file's base name into ``key.csv``.
        Defaults to the metadata file of an earlier run on the same folder.
    repeat_fraction : float, optional
        Fraction of cases shown a second time under a hidden repeat ID (0 <= f < 1).
        Default: that of an earlier run on ``out_dir``, else 0.
    repeat_min_gap : int, optional
        At least this many other items between a case and its repeat in every reading order.
        Default: that of an earlier run, else 10.
    seed : int, optional
        Cohort seed; default: the seed of an earlier run, else a random one. Stored in the
        coordinator-only ``secret.json``: reading orders and the choice of repeats derive from it.
    new_ids : bool
        Draw new IDs for every case even if the folder has a cohort (old display images removed).
    scales : sequence or str, optional
        Scale names or files (``"extent,opacity"`` also accepted); definitions stored in ``cohort.json``.
        Default: the scales of an earlier run, else ``("extent", "opacity")``.
    raters : sequence of str
        Write ``orders/<rater>.json`` for these raters now (others are made on first use).
    workers : int
        Processes used to decode images.
    max_pixels : int or None
        Decompression-bomb guard passed to :func:`covsev_tools.images.read_xray`.
    display_max_side : int
        Long side of the display PNGs.
    progress : bool
        Show a tqdm progress bar on stderr.
    only : collection of str, optional
        Only the files with these base names (e.g. a training subset); the folder's others are left out.

    Returns
    -------
    Cohort
        With ``.report`` (:class:`~covsev_tools.cohort.CreationReport`).

    Raises
    ------
    CohortError
        Bad arguments, missing images folder, no files, or a bad metadata CSV.
    NoReadableImageError
        No file could be read as an image (a :class:`CohortError` with the run's ``report``);
        nothing is written.
    covsev_tools.scales.ScaleDefinitionError
        Unknown scale or bad scale file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "images").mkdir()
    >>> for i in range(3):
    ...     Image.new("L", (20, 16), color=40 * i).save(root / "images" / f"{i}.png")
    >>> cohort = create_cohort(root / "images", "demo", out_dir=root / "demo", seed=1, progress=False)
    >>> len(cohort.case_ids), cohort.report.n_readable
    (3, 3)
    """
    images_dir, name = Path(images_dir), _check_name(name)
    raters = [check_order_rater(r) for r in raters]  # refused before anything is written
    if not images_dir.is_dir():
        raise CohortError(f"{images_dir}: images folder not found")
    out_dir = Path(out_dir) if out_dir is not None else Path("cohorts") / name
    with _creation_lock(out_dir):
        previous = _load_previous(out_dir, new_ids)
        settings = _settings(previous, repeat_fraction, repeat_min_gap, seed, scales, metadata_csv)
        settings["display_max_side"], settings["display_noise"] = display_max_side, NOISE_VERSION
        metadata = read_metadata(Path(settings["metadata_csv"])) if settings["metadata_csv"] else None

        files = find_files(images_dir, exclude=[out_dir] + ([Path(settings["metadata_csv"])] if metadata else []))
        if only is not None:
            files = [f for f in files if f.name in set(only)]
        if not files:
            raise CohortError(f"{images_dir}: no files found")
        (out_dir / "cases").mkdir(parents=True, exist_ok=True)

        report = CreationReport(n_files=len(files))
        rows, first = group_by_content(files, images_dir)
        check_repeats_possible(len(first), settings["fraction"], settings["min_gap"])  # before the slow part
        case_ids, rewritten = _decode_unique(first, previous, out_dir, workers, max_pixels, display_max_side,
                                             progress, settings["seed"])
        report.duplicates = mark_duplicates(rows, first)
        report.unreadable = [(r["filename"], r["error"]) for r in rows if r["status"] == "unreadable"]
        if not case_ids:
            raise NoReadableImageError(images_dir, report)
        if metadata is not None:
            report.metadata_unmatched_rows, report.images_without_metadata = join_metadata(rows, metadata)
        repeats = choose_repeats(case_ids, previous["repeats"], settings["fraction"], settings["min_gap"],
                                 settings["seed"], set(case_ids) | set(previous["ids"].values()))
        sources = {r["case_id"]: r["path"] for r in rows if r["status"] == "ok"}
        disguises = write_repeat_images(out_dir / "cases", repeats, rewritten, seed=settings["seed"], sources=sources,
                                        recorded=previous["repeat_rows"], max_side=display_max_side,
                                        max_pixels=max_pixels)
        _remove_stale_images(out_dir, set(case_ids) | set(repeats))
        same_timestamps(out_dir / "cases", case_ids + list(repeats))
        report.count(rows, case_ids, repeats, previous["cases"])
        key_columns = list(KEY_COLUMNS) + (list(metadata["columns"]) if metadata is not None else [])
        _write_files(out_dir, name, images_dir, settings, report, rows, key_columns, case_ids, repeats,
                     disguises, previous["info"])

        cohort = Cohort.load(out_dir)
        cohort.report = report
        _refresh_orders(cohort, new_ids, raters)
        return cohort


def _settings(previous: dict, fraction, min_gap, seed, scales, metadata_csv) -> dict[str, Any]:
    """This run's settings: those given, else those of the earlier run, else the defaults; checked."""
    from covsev_tools.scales import load_scales

    old = earlier_settings(previous["info"], previous["secret"])
    fraction = float(old["fraction"] if fraction is None else fraction)
    min_gap = int(old["min_gap"] if min_gap is None else min_gap)
    if not 0.0 <= fraction < 1.0:
        raise CohortError(f"repeat fraction must be in [0, 1), got {fraction}")
    if min_gap < 0:
        raise CohortError(f"repeat gap must be >= 0, got {min_gap}")
    return {"fraction": fraction, "min_gap": min_gap, "seed": int(old["seed"] if seed is None else seed),
            "scales": load_scales(old["scales"] if scales is None else scales),
            "metadata_csv": old["metadata_csv"] if metadata_csv is None else metadata_csv}


def _write_files(out_dir: Path, name: str, images_dir: Path, settings: dict, report: CreationReport,
                 rows: list[dict], key_columns: list[str], case_ids: list[str], repeats: dict[str, str],
                 disguises: dict[str, dict[str, str]], old_info: dict) -> None:
    """The manifest, key, repeats, secret and ``cohort.json`` (last: it marks a complete cohort)."""
    display_ids = sorted(case_ids + list(repeats))
    write_csv(out_dir / "manifest.csv", MANIFEST_COLUMNS, [{"case_id": i} for i in display_ids])
    with coordinator_only(out_dir):  # the key, the repeat map and the seed: 0600 from their first byte
        write_csv(out_dir / "key.csv", key_columns, rows)
        write_csv(out_dir / "repeats.csv", REPEAT_COLUMNS,
                  [{"repeat_id": r, "case_id": c, **disguises[r]} for r, c in sorted(repeats.items())])
        write_text_atomic(out_dir / "secret.json", secret_text(settings["seed"], images_dir, settings["metadata_csv"]))
    counts = {k: getattr(report, k) for k in _COUNTS}
    info = cohort_info(name, settings, settings["scales"], counts, old_info)
    _copy_provenance(images_dir, out_dir)
    write_text_atomic(out_dir / "cohort.json", json.dumps(info, indent=1) + "\n")


def _copy_provenance(images_dir: Path, out_dir: Path) -> None:
    """The pull record of images that ``covsev pull`` fetched, as the cohort's ``provenance.json`` (0600).

    It names the PACS and the de-identification, which the coordinator states in the methods; it
    holds no image's identity, but it is still the coordinator's alone.
    """
    from covsev_tools.pull import PullError, find_pull_record

    try:
        record = find_pull_record(images_dir)
    except PullError as exc:
        raise CohortError(str(exc)) from None
    if record is None:
        return
    target = out_dir / PROVENANCE_FILE
    old_mask = os.umask(0o077)
    try:
        write_text_atomic(target, json.dumps(record, indent=1, sort_keys=True) + "\n")
    finally:
        os.umask(old_mask)
    os.chmod(target, 0o600)


def example_cohort(folder: str | Path | None = None, n_images: int = 6, repeat_fraction: float = 0.34,
                   seed: int = 1) -> Cohort:
    """A small cohort of generated grey images, for examples and trying things out.

    Parameters
    ----------
    folder : str or Path, optional
        Where to put ``images/`` and the cohort folder ``demo/``; default a new temporary folder.
    n_images, repeat_fraction, seed
        Passed on to :func:`create_cohort` (the minimum repeat gap is 1).

    Examples
    --------
    >>> cohort = example_cohort()
    >>> len(cohort.case_ids), len(cohort.repeats()), len(cohort.display_ids)
    (6, 2, 8)
    """
    import tempfile

    import numpy as np
    from PIL import Image

    root = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="covsev-example-"))
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n_images):
        Image.fromarray(rng.integers(0, 256, size=(24, 20), dtype=np.uint8)).save(images / f"image_{i:02d}.png")
    return create_cohort(images, "demo", out_dir=root / "demo", repeat_fraction=repeat_fraction,
                         repeat_min_gap=1, seed=seed, workers=1, progress=False)


@contextmanager
def _creation_lock(out_dir: Path):
    """Hold ``out_dir/.create.lock`` so two runs never update the same cohort at once.

    A second ``cohort create`` on the same folder fails at once with a clear message instead of
    interleaving its IDs, images and CSVs with the first. A folder this call created is removed
    again if the run fails.
    """
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir / ".create.lock"
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CohortError(f"{out_dir}: another 'covsev cohort create' is updating this cohort; "
                              "run again when it has finished") from None
        try:
            yield
        except BaseException:
            if created:  # everything in it is this run's: leave nothing half-made behind
                shutil.rmtree(out_dir, ignore_errors=True)
            raise


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        raise CohortError(f"cohort name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return name


def _load_previous(out_dir: Path, new_ids: bool) -> dict[str, Any]:
    """What an earlier run left: info, sha256 -> case ID, case ID -> key row of its file, repeats."""
    previous: dict[str, Any] = {"info": {}, "secret": {}, "ids": {}, "cases": {}, "repeats": {}, "repeat_rows": {}}
    if not (out_dir / "cohort.json").is_file():
        return previous
    try:
        previous["info"] = read_info(out_dir / "cohort.json")
        previous["secret"] = read_secret(out_dir, previous["info"])
    except CohortError as exc:
        raise CohortError(f"{exc} (the existing cohort)") from None
    if new_ids:
        return previous
    key = read_csv(out_dir / "key.csv")
    previous["ids"] = {r["sha256"]: r["case_id"] for r in key if r.get("case_id")}
    previous["cases"] = {r["case_id"]: r for r in key if r.get("status") == "ok"}
    repeat_rows = read_csv(out_dir / "repeats.csv")
    previous["repeats"] = {r["repeat_id"]: r["case_id"] for r in repeat_rows}
    previous["repeat_rows"] = {r["repeat_id"]: r for r in repeat_rows}  # with each repeat's disguise
    return previous


def _decode_unique(first: dict[str, dict], previous: dict, out_dir: Path, workers: int,
                   max_pixels: int | None, max_side: int, progress: bool, seed: int) -> tuple[list[str], set[str]]:
    """Decode each unique file once (skipping ones an earlier run did); the sorted case IDs and those decoded.

    Every display image gets the noise a repeat's disguise adds (seeded by the cohort seed and the
    case ID), so noise tells no repeat from a case; display images of a cohort made before (without
    it) are made again.
    """
    taken = set(previous["ids"].values()) | set(previous["repeats"])
    noisy = previous["info"].get("display_noise") == NOISE_VERSION
    done, jobs, pending = [], [], []
    for sha, row in first.items():
        case_id = previous["ids"].get(sha) or new_case_id(taken)
        png = out_dir / "cases" / f"{case_id}.png"
        earlier = previous["cases"].get(case_id)
        if noisy and earlier and earlier.get("sha256") == sha and earlier.get("image_height") and png.is_file():
            row.update({c: earlier[c] for c in SOURCE_COLUMNS}, case_id=case_id, status="ok")
            done.append(case_id)
            continue
        jobs.append((row["path"], str(png), max_pixels, max_side, draw_noise(f"{seed}:case-image:{case_id}")))
        pending.append((case_id, row))
    rewritten = set()
    for (case_id, row), result in zip(pending, decode_all(jobs, workers, progress)):
        if result["error"]:
            row.update(status="unreadable", error=result["error"])
            continue
        row.update({c: result[c] for c in SOURCE_COLUMNS}, case_id=case_id, status="ok")
        rewritten.add(case_id)
    return sorted(done + list(rewritten)), rewritten


def _remove_stale_images(out_dir: Path, keep: set[str]) -> None:
    """Drop display PNGs of cases that are no longer in the cohort (only files with our ID pattern)."""
    for png in (out_dir / "cases").glob("*.png"):
        if is_case_id(png.stem) and png.stem not in keep:
            png.unlink()


def _refresh_orders(cohort: Cohort, new_ids: bool, raters: Sequence[str]) -> None:
    """Bring existing reading orders up to date (new cases appended) and make the requested ones."""
    orders_dir = cohort.dir / "orders"
    existing = sorted(p.stem for p in orders_dir.glob("*.json")) if orders_dir.is_dir() else []
    if new_ids:  # old orders name IDs that no longer exist; start them afresh
        for rater in existing:
            (orders_dir / f"{rater}.json").unlink()
    for rater in dict.fromkeys(list(existing) + list(raters)):
        order = cohort.reading_order(rater)
        path = orders_dir / f"{rater}.json"
        if load_order(path)["seed"] is not None:  # written when the rater's file still held its seed
            save_order(path, rater, order)
