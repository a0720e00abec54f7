"""The training round on the hub: the required set comes into the study, retries, status.

``covsev training require COHORT --training SET`` writes the requirement into the cohort folder;
``covsev hub init STUDY --cohort COHORT`` then copies the training set into ``training/<set>/`` of
the study and points the study's copy of the requirement at it (a path relative to the cohort, so
a restored study still finds it). The hub side makes each rater's training order and log (see
:func:`covsev_tools.hub.permissions.prepare_training`); raters create nothing themselves.

Examples
--------
>>> training_state(Study.load("study"), "rad1", "pilot")          # doctest: +SKIP
'failed (attempt 1)'
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from covsev_tools.files import write_text_atomic
from covsev_tools.hub.study import Study, StudyError
from covsev_tools.scoring.training import (REQUIREMENT_FILE, TrainingError, TrainingSet, retry_training,
                                           training_requirement)

__all__ = ["bring_training", "retry", "training_state"]


def bring_training(study: Study, cohort_dir) -> str | None:
    """Copy the training set a study cohort requires into ``training/<set>/``; its name (None if none).

    Re-running refreshes the copy and never touches the raters' orders or logs.

    Examples
    --------
    >>> bring_training(Study.load("/srv/study"), "/srv/study/cohorts/pilot")      # doctest: +SKIP
    'calib'
    """
    requirement = training_requirement(cohort_dir)
    if requirement is None:
        return None
    try:
        training = TrainingSet.load(requirement["training_set"])
    except TrainingError as exc:
        raise StudyError(f"{Path(cohort_dir) / REQUIREMENT_FILE}: the required training set cannot be "
                         f"read ({exc})") from None
    target = study.training_root / training.name
    if training.cohort.dir.resolve() != target.resolve():
        shutil.copytree(training.cohort.dir, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".create.lock", "orders", "*.tmp"))
    relative = os.path.relpath(target, Path(cohort_dir).resolve())
    payload = {"training_set": relative, "max_mae": requirement["max_mae"]}
    write_text_atomic(Path(cohort_dir) / REQUIREMENT_FILE, json.dumps(payload, indent=1) + "\n")
    return training.name


def _requirement(study: Study, rater: str, cohort: str | None = None) -> dict | None:
    cohort = cohort or study.active_cohort(rater)
    return None if cohort is None else training_requirement(study.cohort_dir(cohort))


def training_state(study: Study, rater: str, cohort: str) -> str:
    """``passed``, ``failed``, ``k of n scored``, ``not started`` -- or ``""`` when no training is required.

    The attempt number is added once a rater has retried (``failed (attempt 2)``).

    Examples
    --------
    >>> training_state(Study.load("/srv/study"), "rad1", "pilot")      # doctest: +SKIP
    'passed'
    """
    requirement = _requirement(study, rater, cohort) if cohort else None
    if requirement is None:
        return ""
    training = TrainingSet.load(requirement["training_set"])
    result = training.result(rater, study.labels_dir, requirement["max_mae"])
    attempts = len(training.earlier_attempts(rater, study.labels_dir))
    if result["passed"]:
        state = "passed"
    elif result["completed"]:
        state = "failed"
    elif result["scored"]:
        state = f"{result['scored']} of {result['cases']} scored"
    else:
        state = "not started"
    return f"{state} (attempt {attempts + 1})" if attempts else state


def retry(study_dir, rater: str) -> Path:
    """``covsev training retry STUDY RATER``: a new training round for a rater (the earlier one kept).

    The rater's training log moves to ``labels/_training/<set>/history/<rater>.<attempt>.jsonl``
    (root's, unchangeable), a new empty log is made for them, and their page opens the new round
    at its next load. Needs root, as the new log must belong to the rater.

    Returns
    -------
    Path
        Where the earlier attempt is kept.

    Examples
    --------
    >>> retry("/srv/study", "rad1")          # doctest: +SKIP
    PosixPath('/srv/study/labels/_training/calib/history/rad1.1.jsonl')
    """
    from covsev_tools.hub.permissions import apply_permissions, prepare_training

    if os.geteuid() != 0:
        raise StudyError("covsev training retry needs root (the new log must belong to the rater): "
                         "run it with sudo")
    study = Study.load(study_dir)
    study._rater(rater)
    requirement = _requirement(study, rater)
    if requirement is None:
        raise StudyError(f"{rater}: no active assignment requires a training round")
    from covsev_tools.hub.permissions import append_only

    log = TrainingSet.load(requirement["training_set"]).store(study.labels_dir).path_for(rater)
    if log.is_file() and not log.is_symlink():
        append_only(log, on=False)  # the append-only flag forbids the move; the kept copy is root's
    try:
        kept = retry_training(requirement["training_set"], rater, study.labels_dir)
    except TrainingError as exc:
        raise StudyError(str(exc)) from None
    prepare_training(study, rater, requirement["training_set"])
    apply_permissions(study)
    return kept
