"""Adjudication of discordant cases: find them, show all raters' scores, save a consensus.

After the blinded pass, a case is *discordant* when two raters' latest scores of any component
differ by at least ``component_threshold`` levels, when their totals differ by more than
``total_threshold``, or when some raters found it assessable and others not.  A named
adjudicator sees every rater's scores side by side (adjudication is not blind, by design), the
image, and saves a consensus score with a free-text reason.  The consensus is an ordinary record
in the cohort's label store under the rater name ``consensus`` (its reason in ``comment``, the
adjudicator in ``adjudicator``): the same durable append, the same audit history (a changed
consensus is a new line; the latest wins) and the same ratings export.

Hidden repeats do not take part: each case is judged on its first (original) reading.

Examples
--------
>>> from covsev_tools.scoring.adjudication import discordant_cases
>>> discordant_cases(Cohort.load("cohorts/pilot"), "labels")   # doctest: +SKIP
"""
from __future__ import annotations

import time
import uuid

from covsev_tools.cohort.ids import CONSENSUS_RATER
from covsev_tools.errors import CovsevError
from covsev_tools.labels import LabelStore, StoreError, ratings_export
from covsev_tools.labels.store import utc_now
from covsev_tools.scoring.access import ScoringSetupError, check_rater
from covsev_tools.scoring.entry import Entry

DEFAULT_COMPONENT_THRESHOLD = 2
DEFAULT_TOTAL_THRESHOLD = 2
#: The not-assessable reason of a consensus (the adjudicator's own words go in its comment).
ADJUDICATED_NOT_ASSESSABLE = "Adjudicated not assessable"
DISCORDANT_COLUMNS = ("position", "case_id", "filename", "raters", "reasons", "max_component_difference",
                      "max_total_difference", "adjudicated")


class AdjudicationError(CovsevError):
    """Adjudication cannot go on: bad thresholds, unknown case, missing reason or scores."""


def readings(cohort, labels_dir=None):
    """The raters' latest readings of the original cases (no repeats, no consensus), long format.

    Examples
    --------
    >>> readings(cohort, "labels").columns[:4].tolist()   # doctest: +SKIP
    ['case_id', 'rater', 'scale', 'component']
    """
    frame = ratings_export(cohort, labels_dir)
    frame = frame[~frame["is_repeat"].astype(bool) & (frame["rater"] != CONSENSUS_RATER)]
    return frame[["case_id", "rater", "scale", "component", "score", "not_assessable", "comment",
                  "filename"]].reset_index(drop=True)


def _check_thresholds(component_threshold, total_threshold) -> None:
    if not component_threshold >= 1:
        raise AdjudicationError(f"the component threshold must be at least 1 level, got {component_threshold}")
    if not total_threshold >= 0:
        raise AdjudicationError(f"the total threshold must be 0 or more, got {total_threshold}")


def discordant_cases(cohort, labels_dir=None, *, component_threshold: int = DEFAULT_COMPONENT_THRESHOLD,
                     total_threshold: float = DEFAULT_TOTAL_THRESHOLD):
    """Cases whose raters disagree enough to need adjudication.

    Parameters
    ----------
    cohort : covsev_tools.cohort.Cohort
        The study cohort (coordinator side: its key is read).
    labels_dir : str or Path, optional
        Root of the label files.
    component_threshold : int
        Discordant when any component's scores differ by at least this many levels.
    total_threshold : float
        Discordant when a scale's totals differ by more than this.

    Returns
    -------
    pandas.DataFrame
        :data:`DISCORDANT_COLUMNS`, one row per discordant case (``position`` numbers them from 1);
        ``reasons`` says which scores differ; ``adjudicated`` is True once a consensus is saved.

    Examples
    --------
    >>> discordant_cases(cohort, "labels", component_threshold=2, total_threshold=2)  # doctest: +SKIP
    """
    import pandas as pd

    _check_thresholds(component_threshold, total_threshold)
    frame = readings(cohort, labels_dir)
    store = LabelStore(labels_dir, cohort.name, scales=cohort.scales)
    done = set(store.latest(CONSENSUS_RATER)) if len(frame) else set()
    rows = []
    for case_id, case in frame.groupby("case_id", sort=True):
        if case["rater"].nunique() < 2:
            continue
        reasons, worst_component, worst_total = _disagreements(case, component_threshold, total_threshold)
        if reasons:
            rows.append({"case_id": case_id, "filename": case["filename"].iloc[0],
                         "raters": case["rater"].nunique(), "reasons": "; ".join(reasons),
                         "max_component_difference": worst_component, "max_total_difference": worst_total,
                         "adjudicated": (CONSENSUS_RATER, case_id) in done})
    out = pd.DataFrame(rows, columns=[c for c in DISCORDANT_COLUMNS if c != "position"])
    out.insert(0, "position", range(1, len(out) + 1))
    return out


def _disagreements(case, component_threshold, total_threshold):
    """Reasons a case is discordant, and its largest component and total differences."""
    reasons = []
    assessable = case.groupby("rater")["not_assessable"].first()
    if assessable.nunique() > 1:
        reasons.append("not assessable for " + ", ".join(sorted(assessable[assessable].index)) + " only")
    scored = case[~case["not_assessable"].astype(bool)].dropna(subset=["score"])
    worst_component, worst_total = 0, 0
    for (scale, component), scores in scored.groupby(["scale", "component"], sort=False):
        spread = int(scores["score"].max() - scores["score"].min())
        if component == "total":
            worst_total = max(worst_total, spread)
            if spread > total_threshold:
                reasons.append(f"{scale} total {int(scores['score'].min())}-{int(scores['score'].max())}")
        else:
            worst_component = max(worst_component, spread)
            if spread >= component_threshold:
                reasons.append(f"{scale} {component} {int(scores['score'].min())}-{int(scores['score'].max())}")
    return reasons, worst_component, worst_total


def side_by_side(cohort, case_id: str, labels_dir=None):
    """Every rater's latest reading of one case: one row per rater, one column per score.

    Examples
    --------
    >>> side_by_side(cohort, "c2m4k8p3q", "labels")   # doctest: +SKIP
    """
    frame = readings(cohort, labels_dir)
    case = frame[frame["case_id"] == case_id]
    wide = case.pivot_table(index="rater", columns=["scale", "component"], values="score", aggfunc="first",
                            dropna=False)
    page_order = [(s.name, key) for s in cohort.scales for key in (*s.component_keys, "total")]
    wide = wide[[c for c in page_order if c in wide.columns]]  # right before left, as on the page
    wide.columns = [f"{scale} {component}" for scale, component in wide.columns]
    extra = case.groupby("rater")[["not_assessable", "comment"]].first()
    return wide.join(extra, how="outer")


def save_consensus(store: LabelStore, record: dict) -> dict:
    """Write one consensus record durably; the one door consensus records go through.

    On the hub the log (``labels/<cohort>/consensus.jsonl``) is made by the hub side for the
    coordinators to append to; a hub-side record writer can take this function over.

    Examples
    --------
    >>> import tempfile
    >>> store = LabelStore(tempfile.mkdtemp(), "demo")
    >>> save_consensus(store, {"rater": "consensus", "case_id": "c1", "comment": "agreed"})["rater"]
    'consensus'
    """
    return store.save(record)


class Adjudication:
    """The state of one adjudicator's pass over the discordant cases (no widgets).

    Parameters
    ----------
    cohort : covsev_tools.cohort.Cohort
        The study cohort.
    adjudicator : str
        Who adjudicates (on JupyterHub: the login); recorded in every consensus record.
    labels_dir : str or Path, optional
        Root of the label files.
    component_threshold, total_threshold :
        See :func:`discordant_cases`.

    Attributes
    ----------
    cases : pandas.DataFrame
        The discordant cases (:func:`discordant_cases`); ``index`` is the one on screen.
    entry : covsev_tools.scoring.entry.Entry
        The consensus being entered for the case on screen (its ``comment`` is the reason);
        :meth:`save_entry` saves it.

    Examples
    --------
    One case read by two raters, three levels apart on the right lung:

    >>> import tempfile, numpy as np; from pathlib import Path; from PIL import Image
    >>> from covsev_tools.cohort import create_cohort
    >>> from covsev_tools.scoring.session import ScoringSession
    >>> tmp = Path(tempfile.mkdtemp()); (tmp / "img").mkdir()
    >>> Image.fromarray(np.zeros((8, 8), "uint8")).save(tmp / "img" / "a.png")
    >>> cohort = create_cohort(tmp / "img", "demo", tmp / "demo", seed=1, progress=False, workers=1)
    >>> for rater, right in (("rad1", 1), ("rad2", 4)):
    ...     session = ScoringSession(cohort, LabelStore(tmp / "labels", "demo"), rater)
    ...     _ = [session.type_digit(level) for level in (right, 1, 1, 1)]; _ = session.advance()
    >>> adj = Adjudication(cohort, "senior1", tmp / "labels")
    >>> adj.cases[["position", "raters", "reasons"]].to_dict("records")
    [{'position': 1, 'raters': 2, 'reasons': 'extent right 1-4; extent total 2-5'}]
    >>> record = adj.save({"extent": {"right": 3, "left": 1}, "opacity": {"right": 1, "left": 1}},
    ...                   reason="right lower zone consolidated")
    >>> record["rater"], record["adjudicator"], record["scales"]["extent"]["total"]
    ('consensus', 'senior1', 4)
    """

    def __init__(self, cohort, adjudicator: str, labels_dir=None, *,
                 component_threshold: int = DEFAULT_COMPONENT_THRESHOLD,
                 total_threshold: float = DEFAULT_TOTAL_THRESHOLD):
        try:
            self.adjudicator = check_rater(adjudicator)
        except ScoringSetupError as exc:
            raise AdjudicationError(str(exc)) from None
        self.cohort, self.labels_dir = cohort, labels_dir
        self.scales = list(cohort.scales)
        self.store = LabelStore(labels_dir, cohort.name, scales=self.scales)
        self.cases = discordant_cases(cohort, labels_dir, component_threshold=component_threshold,
                                      total_threshold=total_threshold)
        self.session_id = uuid.uuid4().hex
        self.entry = Entry(self.scales)  # the consensus being entered; its comment is the reason
        self.index = 0
        self.go_to(0)

    @property
    def case_id(self) -> str | None:
        """The case on screen (None when there is no discordant case)."""
        return self.cases["case_id"].iloc[self.index] if len(self.cases) else None

    def go_to(self, index: int) -> None:
        """Show the discordant case at ``index`` (0-based, clipped to the list)."""
        self.index = max(0, min(index, len(self.cases) - 1))
        self._clock, self._shown_at = time.monotonic(), utc_now()
        self.entry.load(self.consensus() if self.case_id else None)

    def save_entry(self) -> dict:
        """Save :attr:`entry` as the consensus of the case on screen, its comment as the reason (:meth:`save`)."""
        entry = self.entry
        return self.save(entry.by_scale(), entry.comment, not_assessable=entry.not_assessable,
                         not_assessable_reason=ADJUDICATED_NOT_ASSESSABLE if entry.not_assessable else None)

    def readings(self):
        """All raters' scores of the case on screen, side by side."""
        return side_by_side(self.cohort, self.case_id, self.labels_dir)

    def consensus(self) -> dict | None:
        """The latest consensus record of the case on screen, if any."""
        return self.store.latest(CONSENSUS_RATER).get((CONSENSUS_RATER, self.case_id))

    def image_path(self):
        """Display PNG of the case on screen."""
        return self.cohort.display_image_path(self.case_id)

    def save(self, scores: dict, reason: str, *, not_assessable: bool = False,
             not_assessable_reason: str | None = None) -> dict:
        """Save the consensus of the case on screen (durably, under rater ``consensus``).

        Parameters
        ----------
        scores : dict
            ``{scale: {component: level}}`` for every scale (ignored when not assessable).
        reason : str
            Why this is the consensus (required, free text).
        """
        if self.case_id is None:
            raise AdjudicationError("no discordant case to adjudicate")
        if not reason or not reason.strip():
            raise AdjudicationError("a consensus needs a reason (free text)")
        try:
            scales = self._scales_entry(scores, not_assessable)
        except ValueError as exc:  # a level the scale does not have
            raise AdjudicationError(f"consensus not saved: {exc}") from None
        record = {"case_id": self.case_id, "rater": CONSENSUS_RATER, "adjudicator": self.adjudicator,
                  "session_id": self.session_id, "position": self.index + 1, "scales": scales,
                  "not_assessable": bool(not_assessable),
                  "not_assessable_reason": not_assessable_reason if not_assessable else None,
                  "comment": reason.strip(), "time_shown": self._shown_at,
                  "seconds_on_case": round(time.monotonic() - self._clock, 3)}
        try:
            saved = save_consensus(self.store, record)
        except (StoreError, ValueError) as exc:
            raise AdjudicationError(f"consensus NOT saved: {exc}") from None
        self.cases.loc[self.index, "adjudicated"] = True
        return saved

    def _scales_entry(self, scores: dict, blind: bool) -> dict:
        """The record's ``scales`` block from ``{scale: {component: level}}``, every level checked."""
        entry = Entry(self.scales)
        entry.not_assessable = blind
        for scale in self.scales:
            given = scores.get(scale.name) or {}
            missing = [c.label for c in scale.components if given.get(c.key) is None]
            if missing and not blind:
                raise AdjudicationError(f"consensus not saved: still to score {scale.title}: {', '.join(missing)}")
            for c in scale.components:
                entry.scores[(scale.name, c.key)] = None if blind else _level(scale, c, given[c.key])
        return entry.scales_record()


def _level(scale, component, value) -> int:
    """A consensus level as given: an integer, never rounded (2.7, True or "3" are refused)."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise AdjudicationError(f"consensus not saved: {scale.title}: {component.label} = {value!r} "
                                "is not a whole level of the scale")
    return int(value)
