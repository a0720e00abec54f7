"""``covsev labels check``: every line of every label log that the tools leave out, and why.

The folder given may be a study folder (with ``labels/`` and the cohort folders beside it), a
labels folder (``<labels_dir>/<cohort>/<rater>.jsonl``) or one cohort's labels folder. Records
are checked against their cohort's own scales when the cohort folder is found in the study folder
(a folder with ``cohort.json``), else against the built-in scales.

Examples
--------
>>> import tempfile
>>> from covsev_tools.labels.store import LabelStore
>>> root = tempfile.mkdtemp()
>>> _ = LabelStore(root, "pilot").save({"rater": "rad1", "case_id": "c1"})
>>> with open(f"{root}/pilot/rad1.jsonl", "a") as log:
...     _ = log.write('{"record_id": "x", "case_id": "c2", "rater": "rad1", "scales": []}\\n')
>>> result = check_labels(root)
>>> result.valid, [p.reason for p in result.problems]
(1, ["missing fields ['time_saved']"])
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from covsev_tools.cohort.ids import RATER_ID_PATTERN
from covsev_tools.labels.records import RecordProblem
from covsev_tools.labels.store import LabelStore

__all__ = ["LabelCheck", "check_labels"]


@dataclass
class LabelCheck:
    """What :func:`check_labels` found: logs read, valid records, and every line left out."""

    logs: int = 0
    valid: int = 0
    problems: list[RecordProblem] = field(default_factory=list)


def _cohort_folders(root: Path) -> list[tuple[Path, str]]:
    """``(labels folder of one cohort, cohort name)`` for every cohort with logs under ``root``."""
    if any(root.glob("*.jsonl")):
        return [(root, root.name)]
    labels = root / "labels" if (root / "labels").is_dir() else root
    return [(sub, sub.name) for sub in sorted(labels.iterdir()) if sub.is_dir() and any(sub.glob("*.jsonl"))]


def _study_scales(root: Path) -> dict[str, tuple]:
    """Scales of each cohort folder found in (or at) ``root``, by cohort name."""
    from covsev_tools.cohort import Cohort

    scales = {}
    for info in [root / "cohort.json", *sorted(root.glob("*/cohort.json"))]:
        try:
            name = json.loads(info.read_text(encoding="utf-8"))["name"]
            scales[name] = tuple(Cohort.load(info.parent).scales)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a readable cohort: its labels are still checked, on the built-in scales
    return scales


def check_labels(folder: str | Path) -> LabelCheck:
    """Read every label log under ``folder`` and list what the tools would leave out.

    Parameters
    ----------
    folder : str or Path
        A study folder, a labels folder or one cohort's labels folder.

    Returns
    -------
    LabelCheck
        ``problems`` name file, line and reason; a log whose file name is not a rater ID is a
        problem at line 0 (the tools never read it).

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> check_labels(tempfile.mkdtemp()).logs
    0
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    scales = _study_scales(root)
    result = LabelCheck()
    for cohort_dir, name in _cohort_folders(root):
        if not RATER_ID_PATTERN.match(name):
            result.problems.append(RecordProblem(cohort_dir, 0, "folder name is not a cohort name: never read"))
            continue
        store = LabelStore(cohort_dir.parent, name, scales=scales.get(name))
        result.problems += [RecordProblem(p, 0, "file name is not a rater ID: never read")
                            for p in sorted(cohort_dir.glob("*.jsonl")) if not RATER_ID_PATTERN.match(p.stem)]
        result.logs += len(store.raters())
        result.valid += len(store.entries())
        result.problems += store.warnings
    return result
