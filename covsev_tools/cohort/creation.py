"""What one run of :func:`~covsev_tools.cohort.create.create_cohort` found."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CreationReport"]


@dataclass
class CreationReport:
    """What :func:`~covsev_tools.cohort.create.create_cohort` found; its counts are saved in ``cohort.json``.

    Examples
    --------
    >>> report = CreationReport(n_files=3, n_readable=2, n_unreadable=1, n_cases=2, n_new_cases=2)
    >>> report.summary("pilot", "cohorts/pilot")
    "cohort 'pilot': 2 readable images -> 2 cases (2 new), 0 duplicates, 1 unreadable, 0 hidden repeats; written to cohorts/pilot"
    """

    n_files: int = 0
    n_readable: int = 0
    n_unreadable: int = 0
    n_duplicates: int = 0
    n_cases: int = 0
    n_new_cases: int = 0
    n_repeats: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    metadata_unmatched_rows: list[str] = field(default_factory=list)
    images_without_metadata: list[str] = field(default_factory=list)

    def summary(self, name: str, out_dir: Path | str) -> str:
        """The one-line summary printed by ``covsev cohort create`` (see the class example)."""
        return (f"cohort {name!r}: {self.n_readable} readable images -> {self.n_cases} cases "
                f"({self.n_new_cases} new), {self.n_duplicates} duplicates, {self.n_unreadable} unreadable, "
                f"{self.n_repeats} hidden repeats; written to {out_dir}")

    def count(self, rows: list[dict], case_ids: list[str], repeats: dict, previous_ids) -> None:
        """Fill the counts from the key rows, the cases and repeats, and the IDs of an earlier run.

        Examples
        --------
        >>> report = CreationReport(n_files=3)
        >>> rows = [{"status": "ok"}, {"status": "duplicate"}, {"status": "unreadable"}]
        >>> report.count(rows, ["ca"], {"cr": "ca"}, previous_ids=set())
        >>> report.n_readable, report.n_duplicates, report.n_unreadable, report.n_repeats, report.n_new_cases
        (2, 1, 1, 1, 1)
        """
        self.n_cases, self.n_repeats = len(case_ids), len(repeats)
        self.n_readable = sum(r["status"] in ("ok", "duplicate") for r in rows)
        self.n_unreadable = sum(r["status"] == "unreadable" for r in rows)
        self.n_duplicates = sum(r["status"] == "duplicate" for r in rows)
        self.n_new_cases = sum(cid not in previous_ids for cid in case_ids)
