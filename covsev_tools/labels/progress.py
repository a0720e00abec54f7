"""Coordinator's view of a running study, safe while it is blind.

:func:`rater_progress` reads the label files but keeps only *how far* each rater is and *how long*
they take -- never a score, a comment or a flag -- so it can be watched (and shown on a shared
screen) while the study is blind.

Examples
--------
>>> from covsev_tools.cohort.cohort import Cohort
>>> rater_progress(Cohort.load("cohorts/pilot"))          # doctest: +SKIP
  rater  scored  of  remaining  percent  next_position  median_seconds ...
"""
from __future__ import annotations

import statistics
from pathlib import Path

from covsev_tools.cohort.ids import RESERVED_RATERS
from covsev_tools.labels.store import LabelStore

__all__ = ["PROGRESS_COLUMNS", "known_raters", "rater_progress"]

#: Columns of :func:`rater_progress`; nothing here reveals a score.
PROGRESS_COLUMNS = (
    "rater", "scored", "of", "remaining", "percent", "next_position", "median_seconds",
    "hours_spent", "saves", "sessions", "last_saved",
)


def known_raters(cohort, store: LabelStore) -> list[str]:
    """Raters with a reading order in the cohort or a label file, sorted.

    The adjudicator's ``consensus`` log is the reference standard, not a rater's reading: it is left
    out (``covsev adjudicate`` reports its own progress).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> known_raters(SimpleNamespace(dir=Path("/nonexistent")), LabelStore("/nonexistent", "pilot"))
    []
    """
    orders = cohort.dir / "orders"
    with_order = [p.stem for p in orders.glob("*.json")] if orders.is_dir() else []
    return sorted((set(with_order) | set(store.raters())) - set(RESERVED_RATERS))


def _one_rater(cohort, store: LabelStore, rater: str) -> dict:
    order = cohort.reading_order(rater, save=False)  # a status report never writes
    done, seconds, sessions, saves, last = set(), [], set(), 0, None
    for _, entry in store.iter_entries(rater):  # one record at a time: keep counts, not records
        record = entry.record
        done.add(record["case_id"])
        seconds.append(float(record.get("seconds_on_case") or 0))
        sessions.add(record.get("session_id"))
        saves += 1
        if last is None or entry.saved_at >= last[0]:
            last = (entry.saved_at, record["time_saved"])
    scored = sum(cid in done for cid in order)
    next_position = next((i + 1 for i, cid in enumerate(order) if cid not in done), None)
    return {
        "rater": rater, "scored": scored, "of": len(order), "remaining": len(order) - scored,
        "percent": round(100 * scored / len(order), 1) if order else 0.0,
        "next_position": next_position,
        "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
        "hours_spent": round(sum(seconds) / 3600, 2),
        "saves": saves, "sessions": len(sessions), "last_saved": last[1] if last else None,
    }


def rater_progress(cohort, labels_dir: str | Path | None = None):
    """Per-rater progress: counts and time per case only (blind-safe).

    Parameters
    ----------
    cohort : covsev_tools.cohort.cohort.Cohort
    labels_dir : str or Path, optional
        Root of the label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PROGRESS_COLUMNS`; only valid records count, and ``attrs["warnings"]`` names
        every line left out (file, line, reason).

    Examples
    --------
    >>> from covsev_tools.cohort import Cohort
    >>> rater_progress(Cohort.load("studies/site2/cohort"), "studies/site2/labels")  # doctest: +SKIP
    """
    import pandas as pd

    store = LabelStore(labels_dir, cohort.name, scales=cohort.scales)
    rows, warnings = [], []
    for rater in known_raters(cohort, store):
        rows.append(_one_rater(cohort, store, rater))
        warnings.extend(str(w) for w in store.warnings)
    frame = pd.DataFrame(rows, columns=list(PROGRESS_COLUMNS))
    frame["next_position"] = frame["next_position"].astype("Int64")  # empty once a rater is done
    frame.attrs["warnings"] = warnings
    return frame
