"""``covsev hub status``: accounts, roles, running servers and progress counts -- never a score.

Examples
--------
>>> study_status("study")                                      # doctest: +SKIP
   user         role  cohort  assignment   server  scored  of  percent
0  coord  coordinator                    stopped
1   rad1        rater   pilot     active  running      12  40     30.0
"""
from __future__ import annotations

import os

from covsev_tools.hub.study import Study
from covsev_tools.hub.training import training_state

__all__ = ["STATUS_COLUMNS", "read_by_all", "study_status"]

STATUS_COLUMNS = ("user", "role", "cohort", "assignment", "training", "server", "last_activity", "scored", "of",
                  "percent")


def _servers(study: Study) -> dict[str, tuple[str, str]] | None:
    """``{user: (server state, last activity)}`` from the hub's database; None if not readable (root only)."""
    path = study.hub_dir / "jupyterhub.sqlite"
    if not os.access(path, os.R_OK):
        return None
    from jupyterhub import orm

    session = orm.new_session_factory(f"sqlite:///{path}")()
    try:
        out = {}
        for user in session.query(orm.User):
            running = any(s.server is not None for s in user.orm_spawners.values())
            last = user.last_activity.isoformat(timespec="seconds") if user.last_activity else ""
            out[user.name] = ("running" if running else "stopped", last)
        return out
    finally:
        session.close()


def _progress(study: Study) -> tuple[dict[tuple[str, str], dict], list[str]]:
    """``{(rater, cohort): counts}`` from the label logs (blind-safe: counts only), and the lines left out."""
    from covsev_tools.cohort import Cohort
    from covsev_tools.labels import rater_progress

    out, warnings = {}, []
    for cohort in study.settings["cohorts"]:
        frame = rater_progress(Cohort.load(study.cohort_dir(cohort)), study.labels_dir)
        warnings += frame.attrs.get("warnings", [])
        for row in frame.itertuples():
            out[(row.rater, cohort)] = {"scored": int(row.scored), "of": int(row.of), "percent": float(row.percent)}
    return out, warnings


def study_status(study_dir):
    """One row per account and assignment: role, training, server state, counts scored (blind-safe).

    ``training`` is the rater's required training round (passed, failed, k of n scored, not
    started; empty when the cohort requires none).

    The server column is empty when the hub's database is not readable (run as root to see it).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STATUS_COLUMNS`; ``attrs["warnings"]`` names each line of a label log left out
        of the counts (hostile, torn, invalid) and each log that could not be read.

    Examples
    --------
    >>> study_status("/srv/study")[["user", "scored", "of"]]      # doctest: +SKIP
       user  scored  of
    0  rad1      12  44
    """
    import pandas as pd

    study = Study.load(study_dir)
    servers, (progress, warnings) = _servers(study), _progress(study)
    rows = []
    for name in study.members():
        entry = study.member(name)
        server, last = ("", "") if servers is None else servers.get(name, ("stopped", ""))
        base = {"user": name, "role": entry["role"], "server": server, "last_activity": last}
        for assignment in entry["assignments"] or [{"cohort": "", "status": ""}]:
            counts = progress.get((name, assignment["cohort"]), {"scored": 0, "of": None, "percent": 0.0})
            training = training_state(study, name, assignment["cohort"]) if entry["role"] == "rater" else ""
            rows.append({**base, "cohort": assignment["cohort"], "assignment": assignment["status"],
                         "training": training, **counts})
    frame = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    frame["of"] = frame["of"].astype("Int64")
    frame.attrs["warnings"] = warnings  # lines of a log left out of the counts (file, line, reason)
    frame.attrs["read_by_all"] = read_by_all(study)
    return frame


def read_by_all(study: Study) -> dict[str, dict]:
    """Per cohort: how many of its cases every rater assigned to it has read (counts only).

    Those are the cases the inter-rater statistics that need every rater (ICC) can use; a blocked
    design (``hub assign --block-size``) keeps this number up while raters are part-way.

    Examples
    --------
    >>> read_by_all(Study.load("/srv/study"))              # doctest: +SKIP
    {'pilot': {'cases': 12, 'of': 44, 'raters': 3}}
    """
    from covsev_tools.cohort import Cohort
    from covsev_tools.labels.store import LabelStore

    out = {}
    for cohort in study.settings["cohorts"]:
        raters = [n for n in study.members("rater")
                  if any(a["cohort"] == cohort for a in study.member(n)["assignments"])]
        if len(raters) < 2:
            continue
        loaded = Cohort.load(study.cohort_dir(cohort))
        read = {r: {cid for (_, cid) in LabelStore(study.labels_dir, loaded.name).latest(r)} for r in raters}
        complete = [c for c in loaded.case_ids if all(c in read[r] for r in raters)]
        out[cohort] = {"cases": len(complete), "of": len(loaded.case_ids), "raters": len(raters)}
    return out
