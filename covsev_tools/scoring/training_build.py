"""Making a training set: a cohort of referenced images plus ``training.json`` (``covsev training build``).

Examples
--------
>>> from covsev_tools.scoring.training_build import build_training_set, paper_reference
>>> build_training_set("/data/cohen2020/images", paper_reference(), "calib")  # doctest: +SKIP
"""
from __future__ import annotations

import json
from pathlib import Path

from covsev_tools.files import write_text_atomic
from covsev_tools.labels.published import PUBLISHED_COLUMNS, load_published_labels
from covsev_tools.scoring.training import TRAINING_FILE, TrainingError, TrainingSet

__all__ = ["build_training_set", "choose_cases", "paper_reference", "reference_entries"]

def paper_reference():
    """The paper's published mean scores as a reference table (``filename, extent_total, opacity_total``).

    Examples
    --------
    >>> table = paper_reference()
    >>> len(table), list(table.columns)
    (94, ['filename', 'extent_total', 'opacity_total'])
    """
    totals = {column: f"{scale}_total" for column, scale in PUBLISHED_COLUMNS.items()}
    return load_published_labels().rename(columns=totals)[["filename", *totals.values()]]


def reference_entries(table, scales) -> dict[str, dict]:
    """Reference scores per file name from a table with ``filename`` and score columns.

    Columns ``<scale>_total`` give a scale's total; ``<scale>_<component>`` give components
    (when every component of the scale has a column, the total is their sum unless given).

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.scales import builtin_scales
    >>> t = pd.DataFrame({"filename": ["a.png"], "extent_right": [1], "extent_left": [2]})
    >>> reference_entries(t, [builtin_scales()["extent"]])
    {'a.png': {'extent': {'total': 3.0, 'scores': {'right': 1.0, 'left': 2.0}}}}
    """
    if "filename" not in table.columns:
        raise TrainingError("reference table: no 'filename' column")
    entries = {}
    for _, row in table.iterrows():
        entry = {}
        for scale in scales:
            scores = {c.key: _number(row.get(f"{scale.name}_{c.key}")) for c in scale.components}
            scores = scores if None not in scores.values() else None
            total = _number(row.get(f"{scale.name}_total"))
            if total is None and scores is not None:
                total = float(sum(scores.values()))
            if total is not None:
                entry[scale.name] = {"total": total, "scores": scores}
        if entry:
            entries[str(row["filename"])] = entry
    if not entries:
        names = ", ".join(f"{s.name}_total" for s in scales)
        raise TrainingError(f"reference table: no scores found (expected columns such as {names})")
    return entries


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: no score


def build_training_set(images_dir, reference, name: str, out_dir=None, *, scales=None,
                       cases=None, seed: int = 0, progress: bool = True) -> "TrainingSet":
    """Make a training set: a cohort of the referenced images plus their reference scores.

    Parameters
    ----------
    images_dir : str or Path
        Folder of the images; each must have a row in ``reference`` (by file name).
    reference : pandas.DataFrame or str or Path
        Reference table (see :func:`reference_entries`), or a CSV file of it.
    name : str
        Name of the training set (also its cohort name).
    out_dir : str or Path, optional
        Folder to write; default ``cohorts/<name>``.
    scales : sequence, optional
        Scales to score (default: the cohort default, extent and opacity).
    cases : int or sequence of str, optional
        A shorter round: that many referenced images drawn at random (reproducibly, with
        ``seed``), or the file names to use. Default: every image of the folder.
    seed : int
        Seed of the random draw when ``cases`` is a number.

    Examples
    --------
    >>> build_training_set("images/", paper_reference(), "calib", "training/calib")  # doctest: +SKIP
    TrainingSet('calib', 94 cases)
    """
    from covsev_tools.cohort import create_cohort

    from covsev_tools.cohort.scan import find_files

    out_dir = Path(out_dir) if out_dir is not None else Path("cohorts") / name
    if (out_dir / "cohort.json").is_file() and not (out_dir / TRAINING_FILE).is_file():
        # making the set there would turn a study into it: its repeats and display images dropped
        raise TrainingError(f"{out_dir}: holds a study cohort, not a training set; "
                            "choose another --name or --out")
    table = reference if hasattr(reference, "columns") else _read_reference(reference)
    if "filename" not in table.columns:
        raise TrainingError("reference table: no 'filename' column")
    files = sorted(p.name for p in find_files(Path(images_dir), exclude=[out_dir]))
    referenced = set(table["filename"].astype(str))
    only = None if cases is None else choose_cases([f for f in files if f in referenced], cases, seed)
    unreferenced = [f for f in (files if only is None else only) if f not in referenced]
    if unreferenced:  # checked before anything is written: no half-made training set
        raise TrainingError(f"{images_dir}: {len(unreferenced)} file(s) have no reference score "
                            f"(first: {unreferenced[0]}); keep only referenced images in the folder")
    cohort = create_cohort(images_dir, name, out_dir, repeat_fraction=0.0, scales=scales, progress=progress,
                           only=only)
    by_file = reference_entries(table, cohort.scales)
    key = cohort.key()
    key = key[key["status"] == "ok"]
    reference_by_case = {row.case_id: by_file.get(row.filename, {}) for row in key.itertuples()}
    payload = {"name": name, "reference": reference_by_case}
    write_text_atomic(Path(cohort.dir) / TRAINING_FILE, json.dumps(payload, indent=1) + "\n")
    return TrainingSet.load(cohort.dir)


def choose_cases(files: list[str], cases, seed: int = 0) -> list[str]:
    """The file names of a shorter training round: ``cases`` of ``files`` drawn with ``seed``, or a list.

    A number draws that many without replacement (the same draw for the same files and seed); a
    list is checked against ``files`` (every name must be one of them).

    Examples
    --------
    >>> choose_cases(["a.png", "b.png", "c.png", "d.png"], 2, seed=1)
    ['b.png', 'c.png']
    >>> choose_cases(["a.png", "b.png"], ["b.png"])
    ['b.png']
    >>> choose_cases(["a.png"], 3)
    Traceback (most recent call last):
    ...
    covsev_tools.scoring.training.TrainingError: --cases 3: only 1 referenced image(s) in the folder
    """
    import numpy as np

    if isinstance(cases, (int, np.integer)) and not isinstance(cases, bool):
        if not 1 <= cases <= len(files):
            raise TrainingError(f"--cases {cases}: only {len(files)} referenced image(s) in the folder"
                                if cases > len(files) else f"--cases {cases}: give at least 1")
        picked = np.random.default_rng(seed).choice(len(files), size=int(cases), replace=False)
        return sorted(files[i] for i in picked)
    names = [str(c) for c in cases]
    missing = [n for n in names if n not in set(files)]
    if missing or not names:
        raise TrainingError(f"training cases: {missing[0] if missing else 'empty list'}"
                            f"{' is not a referenced image of the folder' if missing else ''}")
    return sorted(set(names))


def _read_reference(path):
    import io

    import pandas as pd

    try:  # '#' lines are notes (licence, citation), as in the bundled paper labels
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
        return pd.read_csv(io.StringIO("\n".join(l for l in lines if not l.startswith("#"))))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path}: cannot read the reference scores ({exc})") from None
