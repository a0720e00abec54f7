"""Blinded cohorts: opaque case IDs, display images, a coordinator-only key, per-rater reading orders.

Folder layout (default ``cohorts/<name>/``)::

    cohort.json        name, created, source dir, seed, repeat settings, scales, counts
    manifest.csv       case_id, sha256, height, width, bit_depth, source_format   (rater side, no names)
    cases/<id>.png     8-bit display image per case and per hidden repeat
    key.csv            coordinator only: case_id, sha256, filename, path, duplicate_of, status, error, metadata...
    repeats.csv        coordinator only: repeat_id, case_id
    orders/<rater>.json  {"rater", "seed", "items": [{"position", "case_id"}]}

Case IDs are random (``secrets``), so they reveal nothing about the file; re-running on the same
folder reuses them by content hash. Repeat IDs look exactly like case IDs.

Examples
--------
>>> from covsev_tools.cohort.cohort import create_cohort, Cohort
>>> cohort = create_cohort("images/", "pilot", repeat_fraction=0.1, seed=7)  # doctest: +SKIP
>>> cohort.reading_order("rater1")[:3]                                        # doctest: +SKIP
['c7hk2m9qx', 'cq4w8e2zt', 'cm3n5p7rs']
>>> Cohort.load("cohorts/pilot").resolve("cq4w8e2zt")                         # doctest: +SKIP
'c7hk2m9qx'
"""
from __future__ import annotations

import csv
import datetime as _dt
import fcntl
import hashlib
import json
import math
import os
import random
import re
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from covsev_tools.files import replaced_atomically, write_text_atomic
from covsev_tools.images.reader import DEFAULT_MAX_PIXELS, DISPLAY_MAX_SIDE, ImageReadError
from covsev_tools.cohort.ids import RaterIdError, validate_rater_id

SCHEMA_VERSION = 1
MANIFEST_COLUMNS = ("case_id", "sha256", "height", "width", "bit_depth", "source_format")
KEY_COLUMNS = ("case_id", "sha256", "filename", "path", "duplicate_of", "status", "error")
REPEAT_COLUMNS = ("repeat_id", "case_id")
DEFAULT_SCALES = ("extent", "opacity")
# No 0/o/1/l/i: IDs are read aloud and typed by people. The leading "c" keeps every ID non-numeric,
# so spreadsheet tools and pandas never turn one into a number.
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_ID_LENGTH = 8
_CASE_ID_RE = re.compile(r"^c[a-z0-9]{%d}$" % _ID_LENGTH)


class CohortError(ValueError):
    """A cohort cannot be created or read (bad arguments, missing or inconsistent files)."""


@dataclass
class CreationReport:
    """What :func:`create_cohort` found; also saved in ``cohort.json`` under ``report``."""

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
        """The one-line summary printed by ``covsev cohort create``."""
        return (f"cohort {name!r}: {self.n_readable} readable images -> {self.n_cases} cases "
                f"({self.n_new_cases} new), {self.n_duplicates} duplicates, {self.n_unreadable} unreadable, "
                f"{self.n_repeats} hidden repeats; written to {out_dir}")


# ------------------------------------------------------------------------------ small helpers


def new_case_id(taken: set[str] | None = None) -> str:
    """A fresh opaque ID such as ``"c7hk2m9qx"`` (cryptographically random, never derived from a file)."""
    taken = taken if taken is not None else set()
    while True:
        candidate = "c" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def rater_seed(cohort_seed: int, rater: str) -> int:
    """Per-rater shuffle seed derived from the cohort seed and the rater ID (stable across runs)."""
    digest = hashlib.sha256(f"{cohort_seed}:{rater}".encode("utf-8")).digest()
    return int.from_bytes(digest[:6], "big")  # < 2**53: exact in JSON readers of any language


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    with replaced_atomically(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _check_rater(rater: str) -> str:
    """The store's rater-ID rule (the ID names ``orders/<rater>.json`` too), as a :class:`CohortError`."""
    try:
        return validate_rater_id(rater)
    except RaterIdError as exc:
        raise CohortError(f"{exc} (it names the file orders/<rater>.json)") from None


# -------------------------------------------------------------------------------- the cohort


class Cohort:
    """A cohort folder. Open one with :meth:`Cohort.load`; make one with :func:`create_cohort`.

    Rater-side attributes (safe for the scoring app): :attr:`case_ids`, :attr:`display_ids`,
    :meth:`reading_order`, :meth:`display_image_path`, :attr:`scales`, :attr:`manifest`.
    Coordinator-only: :meth:`key`, :meth:`resolve`, :meth:`repeats`.
    """

    def __init__(self, directory: Path, info: dict[str, Any], manifest: list[dict[str, str]]):
        self.dir = Path(directory)
        self.info = info
        self.manifest = manifest
        self.report: CreationReport | None = None
        self._repeats: dict[str, str] | None = None

    # -- loading

    @classmethod
    def load(cls, directory: str | Path) -> "Cohort":
        """Open an existing cohort folder.

        Raises
        ------
        CohortError
            If ``cohort.json`` or ``manifest.csv`` is missing or unreadable.
        """
        directory = Path(directory)
        info_path = directory / "cohort.json"
        if not info_path.is_file():
            raise CohortError(f"{directory}: not a cohort folder (no cohort.json); "
                              "make one with `covsev cohort create`")
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CohortError(f"{info_path}: cannot read ({exc})") from None
        manifest_path = directory / "manifest.csv"
        if not manifest_path.is_file():
            raise CohortError(f"{manifest_path}: missing")
        manifest = _read_csv(manifest_path)
        return cls(directory, info, manifest)

    # -- rater side

    @property
    def name(self) -> str:
        """Cohort name."""
        return self.info["name"]

    @property
    def seed(self) -> int:
        """Cohort seed (per-rater reading orders derive from it)."""
        return int(self.info["seed"])

    @property
    def case_ids(self) -> list[str]:
        """IDs of the unique readable images (no repeat IDs)."""
        return [row["case_id"] for row in self.manifest]

    @property
    def display_ids(self) -> list[str]:
        """Every ID a rater may be shown: case IDs then hidden repeat IDs."""
        return self.case_ids + list(self.repeats())

    @property
    def scales(self) -> list:
        """The cohort's scales (:class:`covsev_tools.scales.scale.Scale`), from their stored definitions."""
        from covsev_tools.scales.scale import load_scale

        return [load_scale(s) for s in _stored_scales(self.info, self.dir / "cohort.json")]

    def display_image_path(self, case_id: str) -> Path:
        """Path of ``cases/<case_id>.png`` for a case or repeat ID.

        Raises
        ------
        KeyError
            If the ID is not part of this cohort.
        """
        if case_id not in set(self.display_ids):
            raise KeyError(f"{case_id!r} is not a case of cohort {self.name!r}")
        return self.dir / "cases" / f"{case_id}.png"

    def reading_order(self, rater: str, save: bool = True) -> list[str]:
        """The rater's reading order (display IDs; repeats included), stored in ``orders/<rater>.json``.

        The first call for a rater shuffles with a seed derived from the cohort seed and the rater ID
        and saves it; later calls return the saved order. Cases added to the cohort since are
        appended (shuffled) at the end, so a rater's earlier positions never move. With
        ``save=False`` (progress reports) nothing is written; the order is the same, since it
        depends only on the seeds.
        """
        rater = _check_rater(rater)
        path = self.dir / "orders" / f"{rater}.json"
        gap = int(self.info.get("repeats", {}).get("min_gap", 10))
        saved = self._load_order(path)
        if saved is None:
            seed = rater_seed(self.seed, rater)
            order = build_reading_order(self.case_ids, self.repeats(), seed, gap)
        else:
            seed = int(saved["seed"])
            known = set(self.display_ids)
            order = [i for i in saved["items"] if i in known]
            if len(order) == len(known):
                return order
            order = extend_reading_order(order, self.case_ids, self.repeats(),
                                         f"{seed}:extend:{len(saved['items'])}", gap)
        if save:
            self._save_order(path, rater, seed, order)
        return order

    @staticmethod
    def _load_order(path: Path) -> dict | None:
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {"seed": data["seed"], "items": [item["case_id"] for item in data["items"]]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CohortError(f"{path}: unreadable reading order ({exc})") from None

    def _save_order(self, path: Path, rater: str, seed: int, order: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        items = [{"position": i + 1, "case_id": cid} for i, cid in enumerate(order)]
        write_text_atomic(path, json.dumps({"rater": rater, "seed": seed, "items": items}, indent=1) + "\n")

    # -- coordinator side

    def key(self):
        """Coordinator-only key: one row per source file (``KEY_COLUMNS`` then metadata columns).

        Returns
        -------
        pandas.DataFrame
            ``case_id``, ``sha256``, ``filename``, ``path``, ``duplicate_of``, ``status``
            (``ok``/``duplicate``/``unreadable``), ``error`` as strings ("" when empty); metadata
            columns as pandas parses them.
        """
        import pandas as pd

        path = self.dir / "key.csv"
        if not path.is_file():
            raise CohortError(f"{path}: missing (the key is kept by the coordinator only)")
        frame = pd.read_csv(path, dtype={c: str for c in KEY_COLUMNS})
        for column in KEY_COLUMNS:
            frame[column] = frame[column].fillna("")
        return frame

    def repeats(self) -> dict[str, str]:
        """Coordinator-only map of hidden repeat ID -> original case ID."""
        if self._repeats is None:
            self._repeats = {row["repeat_id"]: row["case_id"] for row in _read_csv(self.dir / "repeats.csv")}
        return dict(self._repeats)

    def resolve(self, display_id: str) -> str:
        """Map a display ID (case or repeat ID) to its case ID.

        Raises
        ------
        KeyError
            If the ID is not part of this cohort.
        """
        repeats = self.repeats()
        if display_id in repeats:
            return repeats[display_id]
        if display_id in set(self.case_ids):
            return display_id
        raise KeyError(f"{display_id!r} is not a case of cohort {self.name!r}")

    def __repr__(self) -> str:
        return f"Cohort({self.name!r}, {len(self.manifest)} cases, dir={str(self.dir)!r})"


# ------------------------------------------------------------------------------ reading order


def build_reading_order(case_ids: Sequence[str], repeats: dict[str, str], seed: int, min_gap: int) -> list[str]:
    """Seeded shuffle of ``case_ids`` with each repeat ID inserted after its original.

    Each repeat comes after its original with at least ``min_gap`` other items in between. Originals
    of repeats that would land too late to allow that are swapped to an earlier position.

    Parameters
    ----------
    case_ids : sequence of str
    repeats : dict
        repeat ID -> case ID.
    seed : int
    min_gap : int

    Returns
    -------
    list of str

    Raises
    ------
    CohortError
        If the repeats cannot all be placed ``min_gap`` apart.
    """
    rng = random.Random(seed)
    order = list(case_ids)
    rng.shuffle(order)
    repeated = set(repeats.values())
    latest_ok = len(order) - 1 - min_gap  # an original at index <= this can be followed at the end
    early_free = [i for i in range(max(latest_ok + 1, 0)) if order[i] not in repeated]
    rng.shuffle(early_free)
    for i in range(len(order)):
        if order[i] in repeated and i > latest_ok:
            if not early_free:
                raise CohortError(f"cannot place {len(repeats)} repeats at least {min_gap} cases after their "
                                  f"originals among {len(order)} cases; lower --repeat-gap or --repeat-fraction")
            j = early_free.pop()
            order[i], order[j] = order[j], order[i]
    _insert_repeats(order, repeats, rng, min_gap)
    return order


def _insert_repeats(order: list[str], repeats: dict[str, str], rng: random.Random, min_gap: int) -> None:
    """Insert each repeat at a random place at least ``min_gap`` items after its original.

    Inserting never shortens the distance of an already placed pair. Where the original is too close
    to the end, the repeat goes last (callers that need a guarantee make room first).
    """
    for repeat_id in sorted(repeats, key=lambda r: rng.random()):
        first = order.index(repeats[repeat_id])
        order.insert(rng.randint(min(first + min_gap + 1, len(order)), len(order)), repeat_id)


def extend_reading_order(order: list[str], case_ids: Sequence[str], repeats: dict[str, str], seed: Any,
                         min_gap: int) -> list[str]:
    """Append the cases and repeats missing from a saved order, leaving its positions untouched.

    New cases are shuffled onto the end; new repeats then go at least ``min_gap`` items after their
    original where the order is long enough (else last).
    """
    rng = random.Random(seed)
    have = set(order)
    new_cases = [c for c in case_ids if c not in have]
    rng.shuffle(new_cases)
    extended = list(order) + new_cases
    _insert_repeats(extended, {r: c for r, c in repeats.items() if r not in have}, rng, min_gap)
    return extended


# ------------------------------------------------------------------------------------- creation


def _decode_job(job: tuple[str, str, int | None, int]) -> dict[str, Any]:
    """Worker: read one file and write its display PNG. Returns metadata or the error (never raises)."""
    from covsev_tools.images.reader import read_xray, save_display_png

    path, png_path, max_pixels, max_side = job
    try:
        xray = read_xray(path, max_pixels=max_pixels)
        save_display_png(xray, png_path, max_side=max_side)
    except ImageReadError as exc:
        return {"error": exc.reason}
    except Exception as exc:  # a failure writing the PNG must not abort the cohort either
        return {"error": f"cannot write display image ({type(exc).__name__}: {exc})"}
    height, width = xray.meta["original_size"]
    return {"error": "", "height": height, "width": width, "bit_depth": xray.meta["bit_depth"],
            "source_format": xray.meta["source_format"]}


def _run_jobs(jobs: list[tuple], workers: int, progress: bool) -> list[dict[str, Any]]:
    """Decode in a small process pool (in-process for few files), with a tqdm bar on stderr."""
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


def _scan(images_dir: Path, exclude: Iterable[Path]) -> list[Path]:
    """Every regular, non-hidden file under ``images_dir`` (sorted), skipping ``exclude`` trees."""
    excluded = [p.resolve() for p in exclude]
    files = []
    for root, dirs, names in os.walk(images_dir):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (root_path / d).resolve() not in excluded)
        files += [root_path / n for n in names if not n.startswith(".") and (root_path / n).is_file()
                  and (root_path / n).resolve() not in excluded]
    return sorted(files, key=lambda p: p.relative_to(images_dir).as_posix())


def _load_previous(out_dir: Path, new_ids: bool) -> dict[str, Any]:
    """What an earlier run left: info, sha256 -> case ID, manifest rows, repeats."""
    previous: dict[str, Any] = {"info": {}, "ids": {}, "manifest": {}, "repeats": {}}
    if not (out_dir / "cohort.json").is_file():
        return previous
    try:
        previous["info"] = json.loads((out_dir / "cohort.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CohortError(f"{out_dir / 'cohort.json'}: cannot read the existing cohort ({exc})") from None
    if new_ids:
        return previous
    previous["ids"] = {r["sha256"]: r["case_id"] for r in _read_csv(out_dir / "key.csv") if r.get("case_id")}
    previous["manifest"] = {r["case_id"]: r for r in _read_csv(out_dir / "manifest.csv")}
    previous["repeats"] = {r["repeat_id"]: r["case_id"] for r in _read_csv(out_dir / "repeats.csv")}
    return previous


def _group_by_content(files: list[Path], images_dir: Path, report: CreationReport) -> tuple[list[dict], dict]:
    """Hash every file; rows for the key plus sha256 -> first row (the file that is scored)."""
    rows, first = [], {}
    for path in files:
        row = {"filename": path.relative_to(images_dir).as_posix(), "path": str(path.resolve()),
               "sha256": "", "case_id": "", "duplicate_of": "", "status": "", "error": ""}
        try:
            row["sha256"] = file_sha256(path)
        except OSError as exc:
            row.update(status="unreadable", error=f"cannot read file ({exc.strerror or exc})")
            report.unreadable.append((row["filename"], row["error"]))
        rows.append(row)
        if row["sha256"]:
            first.setdefault(row["sha256"], row)
    return rows, first


def _n_repeats(n_cases: int, fraction: float) -> int:
    return math.floor(fraction * n_cases + 0.5) if fraction > 0 else 0


def _check_repeats_possible(n_cases: int, fraction: float, min_gap: int) -> None:
    """Each repeat needs ``min_gap`` items after its original, so at most ``n_cases - min_gap`` repeats."""
    target = _n_repeats(n_cases, fraction)
    if target and target > n_cases - min_gap:
        raise CohortError(f"cannot show {target} repeats at least {min_gap} cases after their originals "
                          f"among {n_cases} cases; lower --repeat-fraction or --repeat-gap")


def _choose_repeats(case_ids: list[str], previous: dict[str, str], fraction: float, min_gap: int,
                    seed: int, taken: set[str]) -> dict[str, str]:
    """Hidden repeats: keep earlier ones whose case still exists, add new ones up to the fraction."""
    _check_repeats_possible(len(case_ids), fraction, min_gap)
    target = _n_repeats(len(case_ids), fraction)
    present = set(case_ids)
    repeats = {r: c for r, c in previous.items() if c in present}
    repeats = dict(list(repeats.items())[:target])
    candidates = sorted(present - set(repeats.values()))
    random.Random(f"{seed}:repeats").shuffle(candidates)
    for case_id in candidates[: target - len(repeats)]:
        repeats[new_case_id(taken | set(repeats))] = case_id
    return repeats


def create_cohort(images_dir: str | Path, name: str, out_dir: str | Path | None = None,
                  metadata_csv: str | Path | None = None, repeat_fraction: float | None = None,
                  repeat_min_gap: int | None = None, seed: int | None = None, new_ids: bool = False,
                  scales: Sequence[Any] | str | None = None, *, raters: Sequence[str] = (),
                  workers: int = 2, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                  display_max_side: int = DISPLAY_MAX_SIDE, progress: bool = True) -> Cohort:
    """Create (or update) a blinded cohort folder from a folder of images.

    Every file is hashed (sha256); identical files become one case. Each unique readable image gets
    a random case ID (reused by hash when the folder already holds a cohort, unless ``new_ids``) and
    a display PNG. Unreadable files are listed in the key with their error; they never abort.

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
        Cohort seed; default: the seed of an earlier run, else a random one (stored).
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
        Decompression-bomb guard passed to :func:`covsev_tools.images.reader.read_xray`.
    display_max_side : int
        Long side of the display PNGs.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    Cohort
        With ``.report`` (:class:`CreationReport`).

    Raises
    ------
    CohortError
        Bad arguments, missing images folder, no files, or a bad metadata CSV.
    covsev_tools.scales.scale.ScaleDefinitionError
        Unknown scale or bad scale file.
    """
    from covsev_tools.scales.scale import load_scales

    images_dir, name = Path(images_dir), _check_name(name)
    if not images_dir.is_dir():
        raise CohortError(f"{images_dir}: images folder not found")
    out_dir = Path(out_dir) if out_dir is not None else Path("cohorts") / name
    with _creation_lock(out_dir):
        previous = _load_previous(out_dir, new_ids)
        old = _settings_of_earlier_run(previous["info"])
        repeat_fraction = old["fraction"] if repeat_fraction is None else repeat_fraction
        repeat_min_gap = old["min_gap"] if repeat_min_gap is None else repeat_min_gap
        if not 0.0 <= float(repeat_fraction) < 1.0:
            raise CohortError(f"repeat fraction must be in [0, 1), got {repeat_fraction}")
        if int(repeat_min_gap) < 0:
            raise CohortError(f"repeat gap must be >= 0, got {repeat_min_gap}")
        scale_objs = load_scales(old["scales"] if scales is None else scales)
        seed = int(seed) if seed is not None else int(old["seed"])
        metadata_csv = old["metadata_csv"] if metadata_csv is None else metadata_csv
        metadata = _read_metadata(Path(metadata_csv)) if metadata_csv is not None else None

        files = _scan(images_dir, exclude=[out_dir] + ([Path(metadata_csv)] if metadata_csv else []))
        if not files:
            raise CohortError(f"{images_dir}: no files found")
        (out_dir / "cases").mkdir(parents=True, exist_ok=True)

        report = CreationReport(n_files=len(files))
        rows, first = _group_by_content(files, images_dir, report)
        _check_repeats_possible(len(first), float(repeat_fraction), int(repeat_min_gap))  # before the slow part
        cases = _decode_unique(first, previous, out_dir, workers, max_pixels, display_max_side, progress, report)
        _mark_duplicates(rows, first, report)
        if metadata is not None:
            _join_metadata(rows, metadata, report)
        case_ids = sorted(cases)
        repeats = _choose_repeats(case_ids, previous["repeats"], float(repeat_fraction), int(repeat_min_gap),
                                  seed, set(case_ids) | set(previous["ids"].values()))
        _write_display_repeats(out_dir, repeats)
        _remove_stale_images(out_dir, set(case_ids) | set(repeats))
        _count(report, rows, case_ids, repeats, previous["manifest"])

        _write_csv(out_dir / "manifest.csv", MANIFEST_COLUMNS, [cases[c] for c in case_ids])
        meta_columns = list(metadata["columns"]) if metadata is not None else []
        _write_csv(out_dir / "key.csv", list(KEY_COLUMNS) + meta_columns, rows)
        _write_csv(out_dir / "repeats.csv", REPEAT_COLUMNS,
                   [{"repeat_id": r, "case_id": c} for r, c in sorted(repeats.items())])
        settings = {"seed": seed, "fraction": float(repeat_fraction), "min_gap": int(repeat_min_gap),
                    "metadata_csv": metadata_csv, "display_max_side": display_max_side}
        info = _cohort_info(name, images_dir, settings, scale_objs, report, previous["info"])
        write_text_atomic(out_dir / "cohort.json", json.dumps(info, indent=1) + "\n")

        cohort = Cohort.load(out_dir)
        cohort.report = report
        _refresh_orders(cohort, new_ids, raters)
        return cohort


@contextmanager
def _creation_lock(out_dir: Path):
    """Hold ``out_dir/.create.lock`` so two runs never update the same cohort at once.

    A second ``cohort create`` on the same folder fails at once with a clear message instead of
    interleaving its IDs, images and CSVs with the first. A folder this call created is removed
    again if the run fails before writing anything else into it.
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
            if created and [p.name for p in out_dir.iterdir()] == [lock_path.name]:
                shutil.rmtree(out_dir, ignore_errors=True)
            raise


def _write_display_repeats(out_dir: Path, repeats: dict[str, str]) -> None:
    """A repeat is shown from its own file, a byte copy of its original's display PNG."""
    for repeat_id, case_id in repeats.items():
        target = out_dir / "cases" / f"{repeat_id}.png"
        if not target.is_file():
            shutil.copyfile(out_dir / "cases" / f"{case_id}.png", target)


def _count(report: CreationReport, rows: list[dict], case_ids: list[str], repeats: dict,
           previous_manifest: dict) -> None:
    report.n_cases, report.n_repeats = len(case_ids), len(repeats)
    report.n_readable = sum(r["status"] in ("ok", "duplicate") for r in rows)
    report.n_unreadable = sum(r["status"] == "unreadable" for r in rows)
    report.n_duplicates = sum(r["status"] == "duplicate" for r in rows)
    report.n_new_cases = sum(cid not in previous_manifest for cid in case_ids)


def _settings_of_earlier_run(info: dict) -> dict[str, Any]:
    """Settings a re-run keeps when not given again (defaults for a new cohort)."""
    scales = _stored_scales(info, "cohort.json")
    metadata_csv = info.get("metadata_csv")
    return {
        "fraction": float(info.get("repeats", {}).get("fraction", 0.0)),
        "min_gap": int(info.get("repeats", {}).get("min_gap", 10)),
        "scales": scales or list(DEFAULT_SCALES),
        "seed": info.get("seed", secrets.randbits(32)),
        "metadata_csv": metadata_csv if metadata_csv and Path(metadata_csv).is_file() else None,
    }


def _stored_scales(info: dict, source: str | Path) -> list:
    """The scales named in ``cohort.json``: each built from its stored definition, else left as its name."""
    from covsev_tools.scales.scale import scale_from_dict

    definitions = info.get("scale_definitions", {})
    return [scale_from_dict(definitions[n], f"{source}:{n}") if n in definitions else n
            for n in info.get("scales", [])]


def _check_name(name: str) -> str:
    # the name is also the cohort's folder under the labels root, which the store limits to 64
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", name):
        raise CohortError(f"cohort name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return name


def _decode_unique(first: dict[str, dict], previous: dict, out_dir: Path, workers: int,
                   max_pixels: int | None, max_side: int, progress: bool,
                   report: CreationReport) -> dict[str, dict]:
    """Decode each unique file once (skipping ones already done by an earlier run); manifest rows."""
    taken = set(previous["ids"].values()) | set(previous["repeats"])
    cases: dict[str, dict] = {}
    jobs, pending = [], []
    for sha, row in first.items():
        case_id = previous["ids"].get(sha) or new_case_id(taken)
        png = out_dir / "cases" / f"{case_id}.png"
        done = previous["manifest"].get(case_id)
        if done and done.get("sha256") == sha and png.is_file():
            cases[case_id] = dict(done)
            row.update(case_id=case_id, status="ok")
            continue
        jobs.append((row["path"], str(png), max_pixels, max_side))
        pending.append((case_id, sha, row))
    for (case_id, sha, row), result in zip(pending, _run_jobs(jobs, workers, progress)):
        if result["error"]:
            row.update(status="unreadable", error=result["error"])
            report.unreadable.append((row["filename"], result["error"]))
            continue
        row.update(case_id=case_id, status="ok")
        cases[case_id] = {"case_id": case_id, "sha256": sha, **{k: result[k] for k in MANIFEST_COLUMNS[2:]}}
    return cases


def _mark_duplicates(rows: list[dict], first: dict[str, dict], report: CreationReport) -> None:
    """Later files with the same content share the first file's case ID (or its error)."""
    for row in rows:
        original = first.get(row["sha256"]) if row["sha256"] else None
        if original is None or original is row:
            continue
        row["duplicate_of"] = original["filename"]
        if original["status"] == "ok":
            row.update(case_id=original["case_id"], status="duplicate")
            report.duplicates.append((row["filename"], original["filename"]))
        else:
            row.update(status="unreadable", error=original["error"])
            report.unreadable.append((row["filename"], original["error"]))


def _remove_stale_images(out_dir: Path, keep: set[str]) -> None:
    """Drop display PNGs of cases that are no longer in the cohort (only files with our ID pattern)."""
    for png in (out_dir / "cases").glob("*.png"):
        if _CASE_ID_RE.match(png.stem) and png.stem not in keep:
            png.unlink()


def _refresh_orders(cohort: Cohort, new_ids: bool, raters: Sequence[str]) -> None:
    """Bring existing reading orders up to date (new cases appended) and make the requested ones."""
    orders_dir = cohort.dir / "orders"
    existing = sorted(p.stem for p in orders_dir.glob("*.json")) if orders_dir.is_dir() else []
    if new_ids:  # old orders name IDs that no longer exist; start them afresh
        for rater in existing:
            (orders_dir / f"{rater}.json").unlink()
    for rater in dict.fromkeys(list(existing) + list(raters)):
        cohort.reading_order(rater)


def _cohort_info(name: str, images_dir: Path, settings: dict, scales: list, report: CreationReport,
                 old: dict) -> dict:
    """Content of ``cohort.json`` (``created`` kept from an earlier run)."""
    metadata_csv = settings["metadata_csv"]
    return {
        "schema": SCHEMA_VERSION,
        "name": name,
        "created": old.get("created") or _now(),
        "updated": _now(),
        "source_images_dir": str(Path(images_dir).resolve()),
        "metadata_csv": str(Path(metadata_csv).resolve()) if metadata_csv else None,
        "seed": settings["seed"],
        "repeats": {"fraction": settings["fraction"], "min_gap": settings["min_gap"], "n": report.n_repeats},
        "scales": [s.name for s in scales],
        "scale_definitions": {s.name: s.to_dict() for s in scales},
        "display_max_side": settings["display_max_side"],
        "counts": {k: getattr(report, k) for k in ("n_files", "n_readable", "n_unreadable",
                                                   "n_duplicates", "n_cases", "n_repeats")},
    }  # no file names here: the rater app reads this file (they are in key.csv)


# ------------------------------------------------------------------------------------ metadata


def _read_metadata(path: Path) -> dict[str, Any]:
    """Read a metadata CSV: rows by file base name, plus the columns to join (prefixed if clashing)."""
    import pandas as pd

    if not path.is_file():
        raise CohortError(f"{path}: metadata CSV not found")
    frame = None
    for encoding in ("utf-8-sig", "latin-1"):  # exports from spreadsheets are often not UTF-8
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            raise CohortError(f"{path}: cannot read metadata CSV ({type(exc).__name__}: {exc})") from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    lower = {c.lower(): c for c in frame.columns}
    column = next((lower[c] for c in ("filename", "file_name", "file", "image", "imagefile") if c in lower), None)
    if column is None:
        raise CohortError(f"{path}: no 'filename' column to join on (columns: {', '.join(frame.columns)})")
    rename = {c: (f"meta_{c}" if c in KEY_COLUMNS else c) for c in frame.columns if c != column}
    by_name: dict[str, dict[str, str]] = {}
    for record in frame.to_dict("records"):
        base = Path(str(record[column]).replace("\\", "/")).name
        if base and base not in by_name:
            by_name[base] = {rename[c]: v for c, v in record.items() if c != column}
    return {"path": path, "rows": by_name, "columns": list(rename.values())}


def _join_metadata(rows: list[dict], metadata: dict[str, Any], report: CreationReport) -> None:
    """Join by base name (exact, then case-insensitive); record what did not match either way."""
    lookup = metadata["rows"]
    folded = {k.casefold(): k for k in lookup}
    used = set()
    for row in rows:
        base = Path(row["filename"]).name
        key = base if base in lookup else folded.get(base.casefold())
        if key is None:
            report.images_without_metadata.append(row["filename"])
            continue
        used.add(key)
        row.update(lookup[key])
    report.metadata_unmatched_rows = sorted(set(lookup) - used)
