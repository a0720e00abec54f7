"""Severity scales as data.

A scale is a small YAML, TOML or JSON file: its components (the lung or zone a rater scores), the
allowed integer levels with the text a rater reads for each, and how components add up to a total.
The built-in scales live in ``covsev_tools/scales/*.yaml``:

- ``extent``  geographic extent, right and left lung 0-4, total 0-8 (Cohen et al. 2020);
- ``opacity`` opacity, right and left lung 0-3, total 0-6 (Cohen et al. 2020);
- ``brixia``  Brixia score, zones A-F 0-3, total 0-18 (Borghesi & Maroldi 2020).

References
----------
Cohen JP et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep Learning.
Cureus 12(7):e9448, 2020.

Examples
--------
>>> from covsev_tools.scales import load_scale
>>> extent = load_scale("extent")
>>> extent.total({"right": 2, "left": 3})
5
>>> extent.max_total
8
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Component", "Level", "RESERVED_KEYS", "SIDES", "Scale", "ScaleDefinitionError", "ScoreError"]

SIDES = ("right", "left", None)
#: Component key reserved for the total in tidy tables (see ARCHITECTURE, ratings export).
RESERVED_KEYS = ("total",)


class ScaleDefinitionError(ValueError):
    """A scale file is missing, unreadable or does not follow the scale schema.

    Parameters
    ----------
    source : str or Path
        The file (or built-in name) that was being loaded.
    reason : str
        What is wrong, e.g. ``"levels[2].value: must be an integer, got 'two'"``.
    """

    def __init__(self, source: str | Path, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class ScoreError(ValueError):
    """A set of scores does not fit its scale (missing, unknown or out-of-range component)."""


@dataclass(frozen=True)
class Component:
    """One scored part of the image (a lung or a lung zone).

    Attributes
    ----------
    key : str
        Key used in score dicts and tidy tables, e.g. ``"right"`` or ``"A"``.
    label : str
        What the rater reads, e.g. ``"Right lung"``.
    side : {"right", "left", None}
        Patient side, so an app can lay components out as on the film.
    """

    key: str
    label: str
    side: str | None = None


@dataclass(frozen=True)
class Level:
    """An allowed score value and the text a rater reads for it."""

    value: int
    text: str


@dataclass(frozen=True)
class Scale:
    """A severity scale: components scored on shared integer levels, totalled by sum.

    Attributes
    ----------
    name, version, title, description : str
        Identity and help text; ``version`` is stored with every rating.
    components : tuple of Component
    levels : tuple of Level
        Sorted by value.
    total_name : str
        Name of the total, e.g. ``"geographic_extent"``.
    reference : str
        Citation of the scale.
    source : str
        File the scale was loaded from (or ``"<builtin>"``).

    Examples
    --------
    >>> from covsev_tools.scales import load_scale
    >>> s = load_scale("opacity")
    >>> s.validate({"right": 1, "left": 0})
    {'right': 1, 'left': 0}
    >>> s.min_total, s.max_total
    (0, 6)
    """

    name: str
    version: str
    title: str
    description: str
    components: tuple[Component, ...]
    levels: tuple[Level, ...]
    total_name: str
    reference: str = ""
    source: str = field(default="", compare=False)  # where it came from; not part of its identity

    @property
    def component_keys(self) -> tuple[str, ...]:
        """Component keys in scoring order."""
        return tuple(c.key for c in self.components)

    @property
    def values(self) -> tuple[int, ...]:
        """Allowed values of every component, ascending."""
        return tuple(level.value for level in self.levels)

    @property
    def min_total(self) -> int:
        """Smallest possible total."""
        return len(self.components) * min(self.values)

    @property
    def max_total(self) -> int:
        """Largest possible total."""
        return len(self.components) * max(self.values)

    def level_text(self, value: int) -> str:
        """Text a rater reads for ``value``; raises ``ScoreError`` if it is not a level.

        Examples
        --------
        >>> from covsev_tools.scales import load_scale
        >>> load_scale("opacity").level_text(0)
        'No opacity'
        """
        for level in self.levels:
            if level.value == value:
                return level.text
        raise ScoreError(f"scale {self.name!r}: {value!r} is not one of {list(self.values)}")

    def validate(self, scores: Mapping[str, Any]) -> dict[str, int]:
        """Check a complete set of component scores.

        Parameters
        ----------
        scores : mapping of str to int
            One value per component, e.g. ``{"right": 2, "left": 3}``. Integral numbers
            (``2``, ``2.0``, ``numpy.int64(2)``) are accepted; booleans and text are not.

        Returns
        -------
        dict of str to int
            The scores as plain ``int``, in component order.

        Raises
        ------
        ScoreError
            Naming the scale and every missing, unknown or out-of-range component.
        """
        if not isinstance(scores, Mapping):
            raise ScoreError(f"scale {self.name!r}: scores must be a mapping, got {type(scores).__name__}")
        problems = [f"missing component {k!r}" for k in self.component_keys if k not in scores]
        problems += [f"unknown component {k!r}" for k in scores if k not in self.component_keys]
        clean: dict[str, int] = {}
        for key in self.component_keys:
            if key in scores:
                value, problem = self._check_value(key, scores[key])
                if problem:
                    problems.append(problem)
                else:
                    clean[key] = value
        if problems:
            raise ScoreError(f"scale {self.name!r}: " + "; ".join(problems))
        return clean

    def _check_value(self, key: str, value: Any) -> tuple[int, str]:
        ok_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not ok_number or not math.isfinite(value) or value != int(value):
            return 0, f"component {key!r}: {value!r} is not an integer score"
        if int(value) not in self.values:
            return 0, (f"component {key!r}: {int(value)} is out of range "
                       f"(allowed {_describe_values(self.values)})")
        return int(value), ""

    def total(self, scores: Mapping[str, Any]) -> int:
        """Validate ``scores`` and return their total (the sum of the components).

        Examples
        --------
        >>> from covsev_tools.scales import load_scale
        >>> load_scale("extent").total({"right": 4, "left": 1})
        5
        """
        return sum(self.validate(scores).values())

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, the same schema as a scale file (round-trips through ``scale_from_dict``).

        Examples
        --------
        >>> from covsev_tools.scales import load_scale, scale_from_dict
        >>> scale_from_dict(load_scale("brixia").to_dict()) == load_scale("brixia")
        True
        """
        return {
            "name": self.name, "version": self.version, "title": self.title,
            "description": self.description, "total_name": self.total_name,
            "aggregation": "sum", "reference": self.reference,
            "components": [{"key": c.key, "label": c.label, "side": c.side} for c in self.components],
            "levels": [{"value": lv.value, "text": lv.text} for lv in self.levels],
        }


def _describe_values(values: tuple[int, ...]) -> str:
    contiguous = list(values) == list(range(values[0], values[-1] + 1))
    return f"{values[0]}-{values[-1]}" if contiguous else ", ".join(map(str, values))
