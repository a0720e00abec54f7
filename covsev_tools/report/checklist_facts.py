"""What the checklists know of a study: the validation result, the cohort folder, the records' times,
the training round and the coordinator's description, gathered once.

Nothing here computes a statistic: the numbers are the report's own (:func:`study_facts`, the
result's tables and settings). The few facts the report does not show are read from the study's
files: the spacing between first and repeat readings from the label records' save times (the
ratings export's ``time_saved``), readings marked not assessable, the cohort's settings
(``cohort.json``: hidden-repeat gap, simulated or not), the training requirement and each rater's
training result (:func:`covsev_tools.scoring.training.training_status`), and the weights file of
the model (its sha256).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from covsev_tools.report.description import read_description
from covsev_tools.report.methods import methods_text, software_versions, study_facts
from covsev_tools.validation import ValidationResult

__all__ = ["ChecklistFacts", "gather_facts", "repeat_spacing"]


@dataclass
class ChecklistFacts:
    """Everything the checklist fillers read, for one study.

    Attributes
    ----------
    result : ValidationResult
    study : dict
        :func:`~covsev_tools.report.methods.study_facts` (the report's headline numbers).
    settings : dict
        The validation settings (resamples, seed, resampled unit, confidence).
    description : dict
        The coordinator's ``study.yaml`` (:mod:`covsev_tools.report.description`).
    cohort : dict or None
        ``cohort.json`` of the study folder; None when the study is not a cohort folder.
    training : dict or None
        ``training_set, max_mae`` and ``status`` (DataFrame) when the study required training.
    spacing : dict or None
        :func:`repeat_spacing` of the records' times.
    readings : dict
        ``not_assessable``: readings marked not assessable (None when unknown).
    weights : dict or None
        ``name, path, sha256`` of the model's weights file found on this machine.
    versions : dict
    study_dir : Path or None
    methods : list of str
        The report's methods sentences (:func:`~covsev_tools.report.methods.methods_text`).
    hub : bool
        The cohort lives in a ``covsev hub`` study folder (``<study>/cohorts/<name>``), where each
        rater read under a Unix account of their own.

    Examples
    --------
    >>> facts = gather_facts(getfixture("simulated_result"))
    >>> facts.study["n_raters"], facts.cohort is None
    (4, True)
    """

    result: ValidationResult
    study: dict
    settings: dict
    description: dict = field(default_factory=dict)
    cohort: dict | None = None
    training: dict | None = None
    spacing: dict | None = None
    readings: dict = field(default_factory=dict)
    weights: dict | None = None
    versions: dict = field(default_factory=dict)
    study_dir: Path | None = None
    hub: bool = False
    methods: list = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """True when the cohort folder says its ratings are simulated (the demo)."""
        return bool(self.cohort and self.cohort.get("simulated"))

    @property
    def real_cohort(self) -> bool:
        """A cohort made by ``covsev cohort create`` and rated through covsev's pages."""
        return self.cohort is not None and not self.simulated


def gather_facts(result: ValidationResult, study_dir=None, labels_dir=None) -> ChecklistFacts:
    """Collect the facts of a validated study for its checklists.

    Parameters
    ----------
    result : ValidationResult
    study_dir : path, optional
        The study (cohort) folder: ``cohort.json``, ``study.yaml``, ``training_required.json``.
    labels_dir : path, optional
        Label store root, for the training round's records.

    Raises
    ------
    DescriptionError
        When the study's ``study.yaml`` is malformed (naming its line).

    Examples
    --------
    >>> facts = gather_facts(getfixture("simulated_result"), getfixture("simulated_cohort"))
    >>> facts.simulated, facts.spacing
    (True, None)
    """
    study_dir = Path(study_dir) if study_dir is not None else None
    # the methods text and the versions once: each reads every package's metadata (10 ms apiece)
    facts = ChecklistFacts(result, study_facts(result), result.settings,
                           versions=software_versions(), study_dir=study_dir,
                           methods=methods_text(result))
    ratings_path = result.inputs.sources.get("ratings")
    if result.inputs.ratings is not None and ratings_path:
        export = _read_export(ratings_path)
        facts.spacing = repeat_spacing(export)
        if "not_assessable" in export.columns and "display_id" in export.columns:
            flagged = export[export["not_assessable"].astype(str).str.lower().isin(("true", "1"))]
            facts.readings["not_assessable"] = int(
                flagged[["display_id", "rater"]].drop_duplicates().shape[0])
    if study_dir is not None:
        facts.description = read_description(study_dir)
        facts.cohort = _cohort_info(study_dir)
        facts.training = _training(study_dir, labels_dir)
        # the hub's layout (covsev_tools.hub.study), read from disk: the report stage does not
        # import the hub
        facts.hub = (study_dir.parent.name == "cohorts"
                     and (study_dir.parent.parent / "study.json").is_file()
                     and (study_dir.parent.parent / "users.json").is_file())
    if "xrv:Lung Opacity" in result.inputs.predictions.columns:
        facts.weights = _weights()
    return facts


def _read_export(path) -> pd.DataFrame:
    wanted = {"case_id", "display_id", "is_repeat", "rater", "time_saved", "not_assessable"}
    try:
        return pd.read_csv(path, usecols=lambda c: c in wanted, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return pd.DataFrame()


def repeat_spacing(export: pd.DataFrame) -> dict | None:
    """Days between each rater's first reading of a case and the hidden repeat, from save times.

    Returns ``n_pairs, median_days, min_days, max_days``, or None when the export has no repeat
    readings or no ``time_saved``.

    Examples
    --------
    >>> export = pd.DataFrame({"case_id": ["a", "a", "b", "b"], "rater": "r1",
    ...     "is_repeat": ["false", "true", "false", "true"],
    ...     "time_saved": ["2026-01-01T10:00:00Z", "2026-01-03T10:00:00Z",
    ...                    "2026-01-01T11:00:00Z", "2026-01-01T23:00:00Z"]})
    >>> repeat_spacing(export)
    {'n_pairs': 2, 'median_days': 1.25, 'min_days': 0.5, 'max_days': 2.0}
    """
    needed = {"case_id", "rater", "is_repeat", "time_saved"}
    if export.empty or not needed <= set(export.columns):
        return None
    times = pd.to_datetime(export["time_saved"], utc=True, errors="coerce", format="ISO8601")
    frame = export.assign(time=times, repeat=export["is_repeat"].astype(str).str.lower()
                          .isin(("true", "1"))).dropna(subset=["time"])
    firsts = frame[~frame["repeat"]].groupby(["rater", "case_id"])["time"].min()
    repeats = frame[frame["repeat"]].groupby(["rater", "case_id"])["time"].min()
    gaps = (repeats - firsts.reindex(repeats.index)).dropna().dt.total_seconds() / 86400
    if not len(gaps):
        return None
    return {"n_pairs": int(len(gaps)), "median_days": round(float(gaps.median()), 2),
            "min_days": round(float(gaps.min()), 2), "max_days": round(float(gaps.max()), 2)}


def _cohort_info(study_dir: Path) -> dict | None:
    from covsev_tools.cohort.errors import CohortError
    from covsev_tools.cohort.info import read_info

    path = study_dir / "cohort.json"
    if not path.is_file():
        return None
    try:
        return read_info(path)
    except CohortError:
        return None  # the report already read this study; a damaged cohort.json says nothing here


def _training(study_dir: Path, labels_dir) -> dict | None:
    # the file training_requirement() reads (scoring.training.REQUIREMENT_FILE): importing the
    # scoring stage loads ipywidgets (0.7 s), so only a study that requires training pays for it
    if not (study_dir / "training_required.json").is_file():
        return None
    from covsev_tools.scoring.training import TrainingError, training_requirement, training_status

    try:
        requirement = training_requirement(study_dir)
    except TrainingError:
        return None
    if requirement is None:
        return None
    try:
        status = training_status(requirement["training_set"], labels_dir, requirement["max_mae"])
    except (TrainingError, OSError, ValueError):
        status = None
    return {**requirement, "status": status}


#: The file name of xrv's "all" DenseNet weights (``covsev_tools.model.weights.weights_filename()``,
#: equal by test): asking torchxrayvision for it imports torch, 16 s on a cold start of a report.
WEIGHTS_FILE = ("nih-pc-chex-mimic_ch-google-openi-kaggle-densenet121-d121-tw-lr001-rot45-tr15-"
                "sc15-seed0-best.pt")


def _weights() -> dict | None:
    import os

    from covsev_tools.model.weights import WEIGHTS_ENV, WEIGHTS_NAME

    # $COVSEV_WEIGHTS_DIR, else xrv's own cache folder (torchxrayvision.utils.get_cache_dir)
    folder = os.environ.get(WEIGHTS_ENV) or Path.home() / ".torchxrayvision" / "models_data"
    path = Path(folder).expanduser() / WEIGHTS_FILE
    if not path.is_file():  # not on this machine: the hash is unknown, not an error
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"name": WEIGHTS_NAME, "path": str(path), "sha256": digest.hexdigest()}
