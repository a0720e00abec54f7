"""What is being entered for the case on screen: one class for the scoring session, the training
round and the adjudicator's consensus.

An :class:`Entry` holds a score (or nothing yet) per component of every scale, which component
is highlighted, the not-assessable flag with its reason, and the comment.  It knows what is still
missing, the live totals, and the ``scales`` block of a label record.  It has no widgets and no
store: the pages draw it (:class:`~covsev_tools.scoring.panels.ScoreRows`), the session and the
adjudication save it.

Examples
--------
>>> from covsev_tools.scales import builtin_scales
>>> entry = Entry([builtin_scales()["opacity"]])
>>> entry.type_digit(2); entry.type_digit(3); entry.totals()
{'opacity': 5}
>>> entry.scales_record()["opacity"]
{'version': '1', 'scores': {'right': 2, 'left': 3}, 'total': 5}
"""
from __future__ import annotations

from dataclasses import dataclass

#: Why a case cannot be scored: the choices the scoring page offers (the N key cycles through them).
NOT_ASSESSABLE_REASONS = (
    "Poor positioning or rotation",
    "Under- or over-exposed",
    "Not a frontal chest X-ray",
    "Lungs obscured or cut off",
    "Other (see comment)",
)


@dataclass(frozen=True)
class Field:
    """One thing to score: a component (lung or zone) of a scale."""

    scale: object
    component: object

    @property
    def key(self) -> tuple[str, str]:
        """``(scale name, component key)``, e.g. ``("extent", "right")``."""
        return (self.scale.name, self.component.key)

    @property
    def label(self) -> str:
        """What the rater reads, e.g. ``"Geographic extent: Right lung"``."""
        return f"{self.scale.title}: {self.component.label}"


def fields_of(scales) -> list[Field]:
    """Every component of every scale, in page order.

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> [f.key for f in fields_of([builtin_scales()["extent"]])]
    [('extent', 'right'), ('extent', 'left')]
    """
    return [Field(s, c) for s in scales for c in s.components]


class Entry:
    """The scores, flag and comment entered for one case, before they are saved.

    Parameters
    ----------
    scales : list of covsev_tools.scales.Scale
        The cohort's scales, in page order.

    Attributes
    ----------
    fields : list of Field
        Every component of every scale, in page order.
    scores : dict
        ``(scale, component) -> int or None``.
    active : int
        Position in :attr:`fields` of the highlighted component (what a digit key scores).
    not_assessable : bool
        The case cannot be scored; :attr:`reason` says why.
    reason : str or None
        Why not assessable (None while assessable).
    comment : str
        Free text (the adjudicator's reason for a consensus).
    dirty : bool
        Something changed since :meth:`load`: leaving the case would lose it.

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> entry = Entry([builtin_scales()["extent"]])
    >>> entry.set_score(("extent", "left"), 3); entry.missing(), entry.dirty
    (['Geographic extent: Right lung'], True)
    >>> entry.load({"scales": {"extent": {"scores": {"right": 1, "left": 4}}}, "comment": "ok"})
    >>> entry.scores, entry.comment, entry.dirty
    ({('extent', 'right'): 1, ('extent', 'left'): 4}, 'ok', False)
    """

    def __init__(self, scales):
        self.scales = list(scales)
        self.fields = fields_of(self.scales)
        self.load(None)

    def load(self, record: dict | None) -> None:
        """Fill the entry from a saved record (``None``: empty), highlight the first component."""
        record = record or {}
        self.scores: dict[tuple[str, str], int | None] = {f.key: None for f in self.fields}
        self.not_assessable = bool(record.get("not_assessable"))
        if not self.not_assessable:  # a not-assessable record has no scores to show
            for name, entry in (record.get("scales") or {}).items():
                for component, value in (entry.get("scores") or {}).items():
                    if (name, component) in self.scores:
                        self.scores[(name, component)] = value
        self.reason = record.get("not_assessable_reason") if self.not_assessable else None
        self.comment = record.get("comment") or ""
        self.active, self.dirty = 0, False

    # ------------------------------------------------------------------ changing it

    @property
    def highlighted(self) -> Field:
        """The component a digit key scores."""
        return self.fields[self.active]

    def set_score(self, key: tuple[str, str], value: int) -> None:
        """Set one component's score and highlight the next component."""
        self.scores[key] = value
        self.active = min([f.key for f in self.fields].index(key) + 1, len(self.fields) - 1)
        self.dirty = True

    def type_digit(self, value: int) -> None:
        """Score the highlighted component with ``value``; ValueError when it is not one of its levels.

        Examples
        --------
        >>> from covsev_tools.scales import builtin_scales
        >>> Entry([builtin_scales()["opacity"]]).type_digit(7)
        Traceback (most recent call last):
        ...
        ValueError: 7 is not a level of Opacity: Right lung (allowed 0–3)
        """
        field = self.highlighted
        if value not in field.scale.values:
            raise ValueError(f"{value} is not a level of {field.label} "
                             f"(allowed {min(field.scale.values)}–{max(field.scale.values)})")
        self.set_score(field.key, value)

    def move_active(self, step: int) -> None:
        """Highlight the previous (-1) or next (+1) component, round the end."""
        self.active = (self.active + step) % len(self.fields)

    def set_not_assessable(self, flag: bool, reason: str | None = None) -> None:
        """Mark the case not assessable (with ``reason``) or assessable again (the scores stay)."""
        self.not_assessable, self.reason = bool(flag), (reason if flag else None)
        self.dirty = True

    def cycle_not_assessable(self, reasons=NOT_ASSESSABLE_REASONS) -> None:
        """The N key: not assessable with the first reason, then the next reason, then clear.

        Examples
        --------
        >>> from covsev_tools.scales import builtin_scales
        >>> entry = Entry([builtin_scales()["opacity"]])
        >>> entry.cycle_not_assessable(("blurred", "rotated")); entry.reason
        'blurred'
        >>> entry.cycle_not_assessable(("blurred", "rotated")); entry.reason
        'rotated'
        >>> entry.cycle_not_assessable(("blurred", "rotated")); entry.not_assessable, entry.reason
        (False, None)
        """
        reasons = list(reasons)
        if not self.not_assessable:
            self.set_not_assessable(True, reasons[0])
            return
        position = reasons.index(self.reason) if self.reason in reasons else -1
        if position + 1 < len(reasons):
            self.set_not_assessable(True, reasons[position + 1])
        else:
            self.set_not_assessable(False)

    def set_comment(self, text: str) -> None:
        """The free-text comment."""
        self.comment, self.dirty = text, True

    # ------------------------------------------------------------------ reading it

    def missing(self) -> list[str]:
        """What still prevents saving (empty when the entry can be saved)."""
        if self.not_assessable:
            return [] if self.reason else ["a reason for 'not assessable'"]
        return [f.label for f in self.fields if self.scores.get(f.key) is None]

    def totals(self) -> dict[str, int | None]:
        """Live total per scale (None while a component is missing or when not assessable)."""
        out = {}
        for scale in self.scales:
            values = [self.scores.get((scale.name, c.key)) for c in scale.components]
            out[scale.name] = None if self.not_assessable or None in values else sum(values)
        return out

    def by_scale(self) -> dict[str, dict[str, int | None]]:
        """The scores as ``{scale: {component: level}}``."""
        nested: dict[str, dict] = {s.name: {} for s in self.scales}
        for (scale, component), value in self.scores.items():
            nested[scale][component] = value
        return nested

    def scales_record(self) -> dict:
        """The ``scales`` block of a label record: version, scores and total per scale (None when not assessable)."""
        blind = self.not_assessable
        out = {}
        for scale in self.scales:
            scores = {c.key: (None if blind else self.scores[(scale.name, c.key)]) for c in scale.components}
            out[scale.name] = {"version": scale.version, "scores": scores,
                               "total": None if blind else scale.total(scores)}
        return out
