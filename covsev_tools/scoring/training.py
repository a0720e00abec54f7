"""Training round: raters calibrate on cases with known reference scores before the blinded study.

A *training set* is a cohort folder (made by :func:`covsev_tools.cohort.create_cohort`, no
hidden repeats) plus ``training.json``: the reference scores of each case, per component when
the source has them (e.g. Brixia zones), else per scale total (e.g. the paper's published mean
scores).  Raters score it in the same page; after each case the page shows their scores beside
the reference.  Training records are stored apart from every study, under
``<labels_dir>/_training/<set>/<rater>.jsonl`` (a cohort name can never start with ``_``), so
they never enter a study's statistics.  A study can require a passed training round before its
blinded cases open (:func:`require_training`).

Examples
--------
>>> TrainingSet.load("training/calib").name  # doctest: +SKIP
'calib'

``covsev_tools.scoring.training_build`` makes training sets.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from covsev_tools.errors import CovsevError
from covsev_tools.files import write_text_atomic
from covsev_tools.labels.remote import open_label_store
from covsev_tools.labels.store import LabelStore, default_labels_dir

TRAINING_FILE = "training.json"
REQUIREMENT_FILE = "training_required.json"
TRAINING_LABELS = "_training"
#: Inside a training set's label folder: the logs of earlier attempts (``<rater>.<attempt>.jsonl``).
HISTORY_FOLDER = "history"
DEFAULT_MAX_MAE = 1.5


class TrainingError(CovsevError):
    """A training set or requirement that cannot be built or read."""


_NUMBER = {"type": "number"}
#: What ``training.json`` must look like: per case, per scale, a numeric total and optional scores.
TRAINING_SCHEMA = {
    "type": "object", "required": ["reference"],
    "properties": {"reference": {"type": "object", "additionalProperties": {
        "type": "object", "additionalProperties": {
            "type": "object", "required": ["total"],
            "properties": {"total": _NUMBER, "scores": {"anyOf": [
                {"type": "null"}, {"type": "object", "additionalProperties": _NUMBER}]}}}}}},
}


def _check_training_file(data, path) -> dict:
    """``data`` if it fits :data:`TRAINING_SCHEMA`, else a :class:`TrainingError` naming the file and the field."""
    import fastjsonschema

    try:
        fastjsonschema.compile(TRAINING_SCHEMA)(data)
    except fastjsonschema.JsonSchemaValueException as exc:  # the page would fail on the first feedback
        raise TrainingError(f"{path}: not a valid training file (tampered or damaged?): "
                            f"{exc.name.removeprefix('data.')} {exc.message.removeprefix(exc.name + ' ')}") from None
    return data


@dataclass
class TrainingReference:
    """Reference scores of a training set, keyed by case ID, and the comparisons against them."""

    scales: list
    entries: dict[str, dict]

    def compare(self, case_id: str, record: dict) -> list[dict]:
        """A saved record beside the reference: one row per component with a reference, and totals.

        Examples
        --------
        >>> from covsev_tools.scales import builtin_scales
        >>> ref = TrainingReference([builtin_scales()["opacity"]], {"c1": {"opacity": {"total": 3.0, "scores": None}}})
        >>> rec = {"scales": {"opacity": {"scores": {"right": 1, "left": 1}, "total": 2}}}
        >>> [(r["component"], r["yours"], r["reference"], r["difference"]) for r in ref.compare("c1", rec)]
        [('total', 2, 3.0, -1.0)]
        """
        rows = []
        for scale in self.scales:
            reference = self.entries.get(case_id, {}).get(scale.name)
            if reference is None:
                continue
            mine = record.get("scales", {}).get(scale.name, {})
            pairs = [(c.key, c.label, (mine.get("scores") or {}).get(c.key), (reference["scores"] or {}).get(c.key))
                     for c in scale.components] if reference["scores"] else []
            pairs.append(("total", "Total", mine.get("total"), reference["total"]))
            for key, label, yours, ref in pairs:
                diff = None if yours is None or ref is None else round(yours - ref, 2)
                rows.append({"scale": scale.name, "scale_title": scale.title, "component": key,
                             "label": label, "yours": yours, "reference": ref, "difference": diff})
        return rows

    def summary(self, order: list[str], latest: dict[str, dict], worst: int = 3) -> dict:
        """Mean absolute error against the reference per component, and the cases furthest off.

        Returns
        -------
        dict
            ``mae``: DataFrame (scale, component, mae, n); ``furthest``: list of
            ``(position, sum of absolute total differences, {scale title: yours minus reference})``,
            largest first; ``scored``, ``cases``.

        Examples
        --------
        >>> from covsev_tools.scales import builtin_scales
        >>> ref = TrainingReference([builtin_scales()["opacity"]], {"c1": {"opacity": {"total": 3.0, "scores": None}}})
        >>> rec = {"scales": {"opacity": {"scores": {"right": 1, "left": 1}, "total": 2}}}
        >>> ref.summary(["c1"], {"c1": rec})["mae"].to_dict("records")
        [{'scale': 'opacity', 'component': 'total', 'mae': 1.0, 'n': 1}]
        """
        import pandas as pd

        rows, off = [], []
        for position, case_id in enumerate(order, start=1):
            record = latest.get(case_id)
            if record is None or record.get("not_assessable"):
                continue
            compared = [r for r in self.compare(case_id, record) if r["difference"] is not None]
            rows.extend(compared)
            totals = [r for r in compared if r["component"] == "total"]
            # each scale's difference apart (adding extent and opacity together would hide which is off)
            off.append((position, round(sum(abs(r["difference"]) for r in totals), 2),
                        {r["scale_title"]: r["difference"] for r in totals}))
        frame = pd.DataFrame(rows, columns=["scale", "component", "difference"])
        frame["error"] = pd.to_numeric(frame["difference"]).abs()
        mae = (frame.groupby(["scale", "component"], sort=False)["error"].agg(["mean", "size"])
               .reset_index().rename(columns={"mean": "mae", "size": "n"}))
        mae["mae"] = mae["mae"].astype(float).round(3)
        furthest = sorted(off, key=lambda item: -item[1])[:worst]
        return {"mae": mae, "furthest": [f for f in furthest if f[1] > 0],
                "scored": sum(c in latest for c in order), "cases": len(order)}


class TrainingSet:
    """A training set folder: a cohort plus ``training.json`` with its reference scores.

    Examples
    --------
    >>> TrainingSet.load("training/calib").cohort.name   # doctest: +SKIP
    'calib'
    """

    def __init__(self, cohort, reference: TrainingReference):
        self.cohort, self.reference = cohort, reference

    @classmethod
    def load(cls, directory) -> "TrainingSet":
        """Open a training set folder (raises :class:`TrainingError` when it is not one)."""
        from covsev_tools.cohort import Cohort, CohortError

        path = Path(directory) / TRAINING_FILE
        if not path.is_file():
            raise TrainingError(f"{directory}: not a training set (no {TRAINING_FILE}); "
                                "make one with `covsev training build`")
        try:
            cohort = Cohort.load(directory)
            entries = _check_training_file(json.loads(path.read_text(encoding="utf-8")), path)["reference"]
        except (CohortError, ValueError, KeyError, TypeError) as exc:
            raise TrainingError(f"{path}: cannot read ({exc})") from None
        return cls(cohort, TrainingReference(list(cohort.scales), entries))

    @property
    def name(self) -> str:
        """The training set's name (its cohort name)."""
        return self.cohort.name

    def store(self, labels_dir=None) -> LabelStore:
        """The label store of this training set: ``<labels_dir>/_training/<name>/``, apart from studies."""
        root = Path(labels_dir) if labels_dir is not None else default_labels_dir()
        return LabelStore(root / TRAINING_LABELS, self.name, scales=self.cohort.scales)

    def page_store(self, labels_dir=None):
        """The store a rater's page uses for this round: the files, or on the hub the label service.

        Examples
        --------
        >>> TrainingSet.load("training/calib").page_store("labels").cohort     # doctest: +SKIP
        'calib'
        """
        root = Path(labels_dir) if labels_dir is not None else default_labels_dir()
        return open_label_store(root / TRAINING_LABELS, self.name, scales=self.cohort.scales, training=True)

    def first_readings(self, rater: str, labels_dir=None, store=None) -> dict[str, dict]:
        """Each case's first saved record of ``rater``: the reading made before its reference was shown.

        A later record of the same case (another browser tab, an edited log) could copy the
        reference, so it never counts. ``store``: where to read (a page's, see :meth:`page_store`).
        """
        store = self.store(labels_dir) if store is None else store
        records = sorted(store.records(rater), key=lambda r: r["time_saved"])  # stable: log order
        first: dict[str, dict] = {}
        for record in records:
            first.setdefault(record["case_id"], record)
        return first

    def result(self, rater: str, labels_dir=None, max_mae: float = DEFAULT_MAX_MAE, store=None) -> dict:
        """One rater's training result: completed, MAE per scale total, passed.

        Passed means every case saved and the MAE of every scale's total at most ``max_mae``,
        from the first reading of each case (:meth:`first_readings`). ``store``: a page's store
        (:meth:`page_store`), whose order and records are read instead of the files.
        """
        order = (self.cohort.reading_order(rater, save=False) if store is None
                 else store.reading_order(self.cohort, rater, save=False))
        summary = self.reference.summary(order, self.first_readings(rater, labels_dir, store))
        totals = summary["mae"][summary["mae"]["component"] == "total"]
        mae = {f"mae_{row.scale}": row.mae for row in totals.itertuples()}
        completed = summary["scored"] == summary["cases"]
        passed = completed and bool(mae) and all(v <= max_mae for v in mae.values())
        return {"rater": rater, "scored": summary["scored"], "cases": summary["cases"],
                "completed": completed, **mae, "max_mae": max_mae, "passed": passed}

    def round_summary(self, rater: str, labels_dir=None, max_mae: float = DEFAULT_MAX_MAE, store=None) -> dict:
        """The end screen of ``rater``'s round: :meth:`TrainingReference.summary` of the first
        readings, with the :meth:`result` (threshold met or not) under ``"result"``; ``store`` as there."""
        order = (self.cohort.reading_order(rater, save=False) if store is None
                 else store.reading_order(self.cohort, rater, save=False))
        summary = self.reference.summary(order, self.first_readings(rater, labels_dir, store))
        summary["result"] = self.result(rater, labels_dir, max_mae, store)
        return summary

    def earlier_attempts(self, rater: str, labels_dir=None) -> list[Path]:
        """Logs of ``rater``'s earlier attempts, oldest first (kept by :func:`retry_training`)."""
        folder = self.store(labels_dir).folder / HISTORY_FOLDER
        found = [(int(p.suffixes[-2][1:]), p) for p in folder.glob(f"{rater}.*.jsonl")
                 if p.name.count(".") == 2 and p.suffixes[-2][1:].isdigit()] if folder.is_dir() else []
        return [p for _, p in sorted(found)]

    def __repr__(self) -> str:
        return f"TrainingSet({self.name!r}, {len(self.cohort.case_ids)} cases)"


def training_set_in(directory) -> TrainingSet | None:
    """The training set a folder holds, or None when it is a study cohort (no ``training.json``).

    Examples
    --------
    >>> training_set_in("/nowhere") is None
    True
    """
    return TrainingSet.load(directory) if (Path(directory) / TRAINING_FILE).is_file() else None


def save_training_record(store: LabelStore, record: dict) -> dict:
    """Write one training-round record durably; the one door training records go through.

    On the hub ``store`` is the page's :class:`covsev_tools.labels.remote.ServiceLabelStore`: the
    label service writes the log (``labels/_training/<set>/<rater>.jsonl``, not the rater's).

    Examples
    --------
    >>> import tempfile
    >>> store = LabelStore(tempfile.mkdtemp() + "/_training", "calib")
    >>> save_training_record(store, {"rater": "rad1", "case_id": "c1"})["cohort"]
    'calib'
    """
    return store.save(record)


def retry_training(training_dir, rater: str, labels_dir=None) -> Path:
    """Let ``rater`` take the training round again: their log moves to the history, unchanged.

    The current log becomes ``history/<rater>.<attempt>.jsonl`` in the training set's label folder
    (nothing is deleted, so every attempt stays on record) and the next round starts empty. The
    hub wraps this (``covsev training retry STUDY RATER``) to give the new log to the rater.

    Returns
    -------
    Path
        Where the earlier attempt's log is now.

    Examples
    --------
    >>> retry_training("training/calib", "rad1", "labels")     # doctest: +SKIP
    PosixPath('labels/_training/calib/history/rad1.1.jsonl')
    """
    training = TrainingSet.load(training_dir)
    store = training.store(labels_dir)
    log = store.path_for(rater)
    if not log.is_file() or log.stat().st_size == 0:
        raise TrainingError(f"{rater} has no training record in {store.folder}: nothing to retry")
    history = store.folder / HISTORY_FOLDER
    history.mkdir(exist_ok=True)
    target = history / f"{rater}.{len(training.earlier_attempts(rater, labels_dir)) + 1}.jsonl"
    os.link(log, target)  # never overwrites: an existing attempt file stops here
    os.unlink(log)
    return target


def training_status(training_dir, labels_dir=None, max_mae: float = DEFAULT_MAX_MAE):
    """The coordinator's table: who trained, how far from the reference, who met the threshold.

    Returns
    -------
    pandas.DataFrame
        One row per rater with training records: ``rater, scored, cases, completed,
        mae_<scale>..., max_mae, passed``.

    Examples
    --------
    >>> training_status("training/calib", "labels", max_mae=1.0)   # doctest: +SKIP
    """
    import pandas as pd

    training = TrainingSet.load(training_dir)
    raters = training.store(labels_dir).raters()
    history = training.store(labels_dir).folder / HISTORY_FOLDER
    retried = sorted({p.name.split(".")[0] for p in history.glob("*.jsonl")}) if history.is_dir() else []
    rows = [{**training.result(r, labels_dir, max_mae), "attempt": len(training.earlier_attempts(r, labels_dir)) + 1}
            for r in sorted(set(raters) | set(retried))]
    return pd.DataFrame(rows, columns=None if rows else ["rater", "scored", "cases", "completed", "max_mae",
                                                         "passed", "attempt"])


def require_training(cohort_dir, training_dir, max_mae: float = DEFAULT_MAX_MAE) -> Path:
    """Make a study require a passed training round before its blinded cases open.

    Writes ``training_required.json`` into the cohort folder (the training set's path and the
    threshold).  Returns the file written.

    Examples
    --------
    >>> require_training("cohorts/pilot", "training/calib", max_mae=1.0)   # doctest: +SKIP
    """
    TrainingSet.load(training_dir)  # refuse a folder that is not a training set
    if not (Path(cohort_dir) / "cohort.json").is_file():
        raise TrainingError(f"{cohort_dir}: not a cohort folder (no cohort.json)")
    if not max_mae >= 0:
        raise TrainingError(f"--max-mae must be 0 or more, got {max_mae}")
    payload = {"training_set": str(Path(training_dir).resolve()), "max_mae": float(max_mae)}
    return write_text_atomic(Path(cohort_dir) / REQUIREMENT_FILE, json.dumps(payload, indent=1) + "\n")


def training_passed(requirement: dict, rater: str, labels_dir=None) -> bool:
    """True when ``rater`` met a study's training requirement (see :func:`training_requirement`).

    Examples
    --------
    >>> training_passed({"training_set": "training/calib", "max_mae": 1.5}, "rad1", "labels")  # doctest: +SKIP
    False
    """
    training = TrainingSet.load(requirement["training_set"])  # read as the rater's page reads it (on the hub: the service)
    return training.result(rater, labels_dir, requirement["max_mae"], training.page_store(labels_dir))["passed"]


def training_requirement(cohort_dir) -> dict | None:
    """The study's training requirement (``training_set``, ``max_mae``), or None when there is none.

    Examples
    --------
    >>> training_requirement("/nowhere") is None
    True
    """
    path = Path(cohort_dir) / REQUIREMENT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        # a path relative to the cohort folder (as a study on the hub writes it) survives a move
        where = os.path.normpath(Path(cohort_dir).resolve() / str(data["training_set"]))
        return {"training_set": where, "max_mae": float(data["max_mae"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{path}: unreadable training requirement ({exc})") from None
