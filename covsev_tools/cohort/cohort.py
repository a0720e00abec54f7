"""An existing cohort folder, opened: what the rater side and the coordinator side read from it.

See :mod:`covsev_tools.cohort.folder` for the files. Rater-side attributes (safe for the scoring app, they read
``cohort.json``, ``manifest.csv``, ``cases/`` and the rater's own order): :attr:`Cohort.display_ids`,
:meth:`Cohort.reading_order` (once the order is saved), :meth:`Cohort.display_image_path`,
:attr:`Cohort.scales`. Coordinator-only: :attr:`Cohort.case_ids`, :meth:`Cohort.cases`,
:meth:`Cohort.key`, :meth:`Cohort.repeats`, :meth:`Cohort.resolve`.

Examples
--------
>>> from covsev_tools.cohort import Cohort
>>> cohort = Cohort.load("cohorts/pilot")               # doctest: +SKIP
>>> cohort.reading_order("rater1")[:2]                   # doctest: +SKIP
['c7hk2m9qx', 'cq4w8e2zt']
>>> cohort.resolve("cq4w8e2zt")                          # doctest: +SKIP
'c7hk2m9qx'
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.folder import (KEY_COLUMNS, MANIFEST_COLUMNS, PROVENANCE_FILE, SOURCE_COLUMNS, read_csv,
                                        read_manifest)
from covsev_tools.cohort.info import read_info, read_secret, stored_scales
from covsev_tools.cohort.orders import (build_blocked_order, build_reading_order, check_order_rater,
                                        extend_reading_order, load_order, rater_seed, read_design, save_order)

__all__ = ["Cohort", "KEY_COLUMNS", "MANIFEST_COLUMNS"]


def _scales_of(info: dict, info_path: Path) -> list:
    """The scales stored in ``cohort.json``; a damaged definition is a :class:`CohortError` naming the file."""
    from covsev_tools.scales import ScaleDefinitionError, load_scale

    try:
        return [load_scale(s) for s in stored_scales(info, info_path)]
    except ScaleDefinitionError as exc:
        raise CohortError(f"{info_path}: not a valid cohort file (tampered or damaged?): "
                          f"scale {exc.source.rpartition(':')[2]!r}: {exc.reason}") from None


class Cohort:
    """A cohort folder. Open one with :meth:`Cohort.load`; make one with :func:`~covsev_tools.cohort.create_cohort`.

    Examples
    --------
    >>> import tempfile
    >>> Cohort.load(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.errors.CohortError: ...: not a cohort folder (no cohort.json); make one with `covsev cohort create`
    """

    def __init__(self, directory: Path, info: dict[str, Any], manifest: list[dict[str, str]]):
        self.dir = Path(directory)
        self.info = info
        self.manifest = manifest
        self.report = None  # a CreationReport when made by create_cohort
        self._repeats: dict[str, str] | None = None
        self._scales: list | None = None
        self._known: frozenset[str] | None = None

    @classmethod
    def load(cls, directory: str | Path) -> "Cohort":
        """Open an existing cohort folder.

        Raises
        ------
        CohortError
            If ``cohort.json`` or ``manifest.csv`` is missing or unreadable, or either is damaged
            or tampered with (a manifest ID that is not a case ID, or given twice).

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> Cohort.load(example_cohort().dir).name
        'demo'
        """
        directory = Path(directory)
        info_path = directory / "cohort.json"
        if not info_path.is_file():
            raise CohortError(f"{directory}: not a cohort folder (no cohort.json); "
                              "make one with `covsev cohort create`")
        info = read_info(info_path)
        manifest_path = directory / "manifest.csv"
        if not manifest_path.is_file():
            raise CohortError(f"{manifest_path}: missing")
        cohort = cls(directory, info, read_manifest(manifest_path))
        cohort._scales = _scales_of(info, info_path)  # a bad stored definition stops here, named
        return cohort

    # -- rater side

    @property
    def name(self) -> str:
        """Cohort name."""
        return self.info["name"]

    @property
    def seed(self) -> int:
        """Coordinator-only: the cohort seed (per-rater reading orders derive from it), from ``secret.json``.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> example_cohort(seed=5).seed
        5
        """
        secret = read_secret(self.dir, self.info)
        if "seed" not in secret:
            raise CohortError(f"{self.dir / 'secret.json'}: missing (kept by the coordinator only)")
        return int(secret["seed"])

    @property
    def display_ids(self) -> list[str]:
        """Every ID a rater may be shown, cases and hidden repeats alike (from the manifest, sorted).

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> cohort = example_cohort()
        >>> len(cohort.display_ids), cohort.display_ids == sorted(cohort.case_ids + list(cohort.repeats()))
        (8, True)
        """
        ids = [row["case_id"] for row in self.manifest]
        if self._legacy_manifest:  # layout 1 listed the cases only
            ids = sorted(ids + list(self.repeats()))
        return ids

    @property
    def case_ids(self) -> list[str]:
        """Coordinator-only: IDs of the unique readable images (no repeat IDs), sorted.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> len(example_cohort(n_images=3, repeat_fraction=0).case_ids)
        3
        """
        repeats = self.repeats()
        return [i for i in self.display_ids if i not in repeats]

    @property
    def _legacy_manifest(self) -> bool:
        return bool(self.manifest) and "sha256" in self.manifest[0]

    @property
    def scales(self) -> list:
        """The cohort's scales (:class:`covsev_tools.scales.Scale`), from their stored definitions."""
        if self._scales is None:
            self._scales = _scales_of(self.info, self.dir / "cohort.json")
        return list(self._scales)

    def display_image_path(self, case_id: str) -> Path:
        """Path of ``cases/<case_id>.png`` for a case or repeat ID.

        Raises
        ------
        KeyError
            If the ID is not part of this cohort.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> cohort = example_cohort()
        >>> cohort.display_image_path(cohort.display_ids[0]).is_file()
        True
        """
        if self._known is None:
            self._known = frozenset(self.display_ids)
        if case_id not in self._known:
            raise KeyError(f"{case_id!r} is not a case of cohort {self.name!r}")
        return self.dir / "cases" / f"{case_id}.png"

    def reading_order(self, rater: str, save: bool = True) -> list[str]:
        """The rater's reading order (display IDs; repeats included), stored in ``orders/<rater>.json``.

        The first call for a rater shuffles with a seed derived from the cohort seed and the rater ID
        and saves it; later calls return the saved order. Cases added to the cohort since are
        appended (shuffled) at the end, so a rater's earlier positions never move. With
        ``save=False`` (progress reports) nothing is written; the order is the same, since it
        depends only on the seeds.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> cohort = example_cohort()
        >>> order = cohort.reading_order("ann")
        >>> sorted(order) == cohort.display_ids, (cohort.dir / "orders" / "ann.json").is_file()
        (True, True)
        """
        rater = check_order_rater(rater)
        path = self.dir / "orders" / f"{rater}.json"
        gap = int(self.info.get("repeats", {}).get("min_gap", 10))
        saved = load_order(path)
        if saved is None:
            design = read_design(self.dir)
            if design["design"] == "blocked":  # every rater the same blocks, each in their own order
                order = build_blocked_order(self.case_ids, self.repeats(), self.seed, rater_seed(self.seed, rater),
                                            gap, design["block_size"])
            else:
                order = build_reading_order(self.case_ids, self.repeats(), rater_seed(self.seed, rater), gap)
        else:
            known = set(self.display_ids)
            order = [i for i in saved["items"] if i in known]
            if len(order) == len(known):
                return order
            # coordinator side (needs the repeat map): the seed is the cohort's, never the rater's file's
            seed = rater_seed(self.seed, rater) if saved["seed"] is None else int(saved["seed"])
            order = extend_reading_order(order, self.case_ids, self.repeats(),
                                         f"{seed}:extend:{len(saved['items'])}", gap)
        if save:
            save_order(path, rater, order)
        return order

    # -- coordinator side

    def key(self):
        """Coordinator-only key: one row per source file (``KEY_COLUMNS`` then metadata columns).

        Returns
        -------
        pandas.DataFrame
            ``case_id``, ``sha256``, ``filename``, ``path``, ``duplicate_of``, ``status``
            (``ok``/``duplicate``/``unreadable``), ``error``, ``image_height``, ``image_width``, ``bit_depth``,
            ``source_format`` as strings ("" when empty); metadata columns as pandas parses them.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> example_cohort().key()[["filename", "status"]].head(2)
               filename status
        0  image_00.png     ok
        1  image_01.png     ok
        """
        from covsev_tools.files import read_csv

        frame = read_csv(self._coordinator_file("key.csv"), dtype={c: str for c in KEY_COLUMNS})
        for column in KEY_COLUMNS:  # a key of layout 1 has no source columns
            frame[column] = frame[column].fillna("") if column in frame else ""
        return frame

    def cases(self) -> list[dict[str, str]]:
        """Coordinator-only: one row per case, ``case_id``, ``sha256`` and what reading its file told.

        Returns
        -------
        list of dict
            ``case_id``, ``sha256``, ``image_height``, ``image_width``, ``bit_depth``, ``source_format`` as
            strings, sorted by case ID.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> row = example_cohort().cases()[0]
        >>> row["image_height"], row["image_width"], row["bit_depth"], row["source_format"]
        ('24', '20', '8', 'png')
        """
        if self._legacy_manifest:  # layout 1 named the size "height" and "width"
            rows = [{**r, "image_height": r["height"], "image_width": r["width"]} for r in self.manifest]
        else:
            rows = [r for r in read_csv(self._coordinator_file("key.csv")) if r["status"] == "ok"]
        columns = ("case_id", "sha256") + SOURCE_COLUMNS
        return sorted(({c: row.get(c, "") for c in columns} for row in rows), key=lambda r: r["case_id"])

    def repeats(self) -> dict[str, str]:
        """Coordinator-only map of hidden repeat ID -> original case ID.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> cohort = example_cohort()
        >>> set(cohort.repeats().values()) <= set(cohort.case_ids)
        True
        """
        if self._repeats is None:
            if self.info.get("repeats", {}).get("n") == 0:  # e.g. a training set: usable on the rater side
                self._repeats = {}
            else:
                path = self._coordinator_file("repeats.csv", required=False)
                self._repeats = {row["repeat_id"]: row["case_id"] for row in read_csv(path)}
        return dict(self._repeats)

    def provenance(self) -> dict[str, Any] | None:
        """Coordinator-only: where the images came from (the ``covsev pull`` record), None when not pulled.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> example_cohort().provenance() is None
        True
        """
        from covsev_tools.pull import PullError, read_provenance

        path = self._coordinator_file(PROVENANCE_FILE, required=False)
        if not path.is_file():
            return None
        try:
            return read_provenance(path)
        except PullError as exc:
            raise CohortError(str(exc)) from None

    def _coordinator_file(self, name: str, required: bool = True) -> Path:
        path = self.dir / name
        if required and not path.is_file():
            raise CohortError(f"{path}: missing (kept by the coordinator only)")
        if path.is_file() and not os.access(path, os.R_OK):
            raise CohortError(f"{path}: not readable from this account (coordinator only)")
        return path

    def resolve(self, display_id: str) -> str:
        """Map a display ID (case or repeat ID) to its case ID.

        Raises
        ------
        KeyError
            If the ID is not part of this cohort.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> cohort = example_cohort()
        >>> repeat_id, case_id = next(iter(cohort.repeats().items()))
        >>> cohort.resolve(repeat_id) == case_id == cohort.resolve(case_id)
        True
        """
        repeats = self.repeats()
        if display_id in repeats:
            return repeats[display_id]
        if display_id in set(self.case_ids):
            return display_id
        raise KeyError(f"{display_id!r} is not a case of cohort {self.name!r}")

    def summary(self) -> str:
        """Coordinator-only: one line with the cases, the hidden repeats and their settings, the scales.

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> example_cohort(n_images=4, repeat_fraction=0.5).summary()
        '4 cases, 2 hidden repeats (fraction 0.5, at least 1 cases apart); scales: Geographic extent, Opacity'
        """
        settings = self.info.get("repeats", {})
        return (f"{len(self.case_ids)} cases, {len(self.repeats())} hidden repeats (fraction "
                f"{settings.get('fraction', 0)}, at least {settings.get('min_gap', 10)} cases apart); "
                f"scales: {', '.join(s.title for s in self.scales)}")

    def __repr__(self) -> str:
        return f"Cohort({self.name!r}, {len(self.manifest)} display images, dir={str(self.dir)!r})"
