"""Hidden repeats: which cases are shown a second time, under an ID of their own.

Examples
--------
>>> n_repeats(95, 0.1), n_repeats(95, 0.0)
(10, 0)
"""
from __future__ import annotations

import math
import random
from pathlib import Path

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.ids import new_case_id

__all__ = ["check_repeats_possible", "choose_repeats", "n_repeats"]


def n_repeats(n_cases: int, fraction: float) -> int:
    """Number of hidden repeats for ``fraction`` of ``n_cases`` (rounded half up).

    Examples
    --------
    >>> n_repeats(5, 0.1), n_repeats(15, 0.1)
    (1, 2)
    """
    return math.floor(fraction * n_cases + 0.5) if fraction > 0 else 0


def check_repeats_possible(n_cases: int, fraction: float, min_gap: int) -> None:
    """Each repeat needs ``min_gap`` items after its original, so at most ``n_cases - min_gap`` repeats.

    Examples
    --------
    >>> check_repeats_possible(20, 0.1, 10)
    >>> check_repeats_possible(5, 0.5, 10)
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.errors.CohortError: cannot show 3 repeats at least 10 cases after their originals among 5 cases; lower --repeat-fraction or --repeat-gap
    """
    target = n_repeats(n_cases, fraction)
    if target and target > n_cases - min_gap:
        raise CohortError(f"cannot show {target} repeats at least {min_gap} cases after their originals "
                          f"among {n_cases} cases; lower --repeat-fraction or --repeat-gap")


def choose_repeats(case_ids: list[str], previous: dict[str, str], fraction: float, min_gap: int,
                   seed: int, taken: set[str]) -> dict[str, str]:
    """Hidden repeats (repeat ID -> case ID): earlier ones whose case still exists, new ones up to the fraction.

    Examples
    --------
    >>> cases = [f"c{i}" for i in range(20)]
    >>> repeats = choose_repeats(cases, {}, 0.1, 2, seed=1, taken=set(cases))
    >>> len(repeats), set(repeats.values()) <= set(cases)
    (2, True)
    >>> choose_repeats(cases, repeats, 0.1, 2, seed=1, taken=set(cases)) == repeats
    True
    """
    check_repeats_possible(len(case_ids), fraction, min_gap)
    target = n_repeats(len(case_ids), fraction)
    present = set(case_ids)
    repeats = {r: c for r, c in previous.items() if c in present}
    repeats = dict(list(repeats.items())[:target])
    candidates = sorted(present - set(repeats.values()))
    random.Random(f"{seed}:repeats").shuffle(candidates)
    for case_id in candidates[: target - len(repeats)]:
        repeats[new_case_id(taken | set(repeats))] = case_id
    return repeats
