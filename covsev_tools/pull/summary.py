"""What one pull did: studies asked and found, images kept, skipped (and why), flagged for review.

Examples
--------
>>> s = PullSummary(studies_asked=3, studies_found=2, images_kept=2)
>>> s.skip("A1 1.2.3", "lateral view (LL)"); s.not_found.append("AccessionNumber X9")
>>> print(s.text())
studies: 3 asked, 2 found, 1 not found
images: 2 kept (0 already there from an earlier run), 1 skipped
  skipped, lateral view: 1
not found: AccessionNumber X9
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field

__all__ = ["PullSummary"]


@dataclass
class PullSummary:
    """Counts and lists of one pull (also stored in ``pull.json``)."""

    studies_asked: int = 0
    studies_found: int = 0
    images_kept: int = 0
    images_already_there: int = 0
    not_found: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    burned_in: list = field(default_factory=list)
    masked: int = 0
    excluded_burned_in: int = 0
    view_unstated: int = 0

    def skip(self, what: str, reason: str) -> None:
        """Record one instance not kept and the reason."""
        self.skipped.append({"instance": what, "reason": reason})

    def reasons(self) -> Counter:
        """Skipped instances by kind of reason (the reason without its detail in brackets).

        Examples
        --------
        >>> s = PullSummary(); s.skip("a", "not CR/DX (CT)"); s.skip("b", "not CR/DX (MR)")
        >>> dict(s.reasons())
        {'not CR/DX': 2}
        """
        return Counter(re.sub(r"\s*\(.*\)$", "", item["reason"]) for item in self.skipped)

    def as_dict(self) -> dict:
        """JSON-ready counts for the provenance record: no original UID (those are in ``link.csv`` only).

        Examples
        --------
        >>> s = PullSummary(images_kept=1); s.skip("1.2.3", "lateral view (LL)")
        >>> s.as_dict()["skipped"], s.as_dict()["skipped_by_reason"]
        (1, {'lateral view (LL)': 1})
        """
        out = asdict(self)
        out["skipped"] = len(self.skipped)
        out["skipped_by_reason"] = dict(Counter(item["reason"] for item in self.skipped))
        out["burned_in"] = len(self.burned_in)
        return out

    def text(self) -> str:
        """The summary a coordinator reads at the end of ``covsev pull`` (no identifying value)."""
        lines = [f"studies: {self.studies_asked} asked, {self.studies_found} found, {len(self.not_found)} not found",
                 f"images: {self.images_kept} kept ({self.images_already_there} already there from an earlier run), "
                 f"{len(self.skipped)} skipped"]
        lines += [f"  skipped, {reason}: {n}" for reason, n in sorted(self.reasons().items())]
        if self.view_unstated:
            lines.append(f"view not stated: {self.view_unstated} image(s) kept (view empty in metadata.csv): check "
                         "that they are frontal")
        if self.burned_in:
            what = "masked" if self.masked else ("excluded" if self.excluded_burned_in else "kept as they are")
            lines.append(f"burned-in text possible: {len(self.burned_in)} image(s), {what}; listed in review.csv "
                         "-- check them by eye before the study")
        if self.not_found:
            lines.append("not found: " + "; ".join(self.not_found[:10])
                         + (f"; ... (+{len(self.not_found) - 10} more)" if len(self.not_found) > 10 else ""))
        return "\n".join(lines)
