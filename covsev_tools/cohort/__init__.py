"""Blinded cohorts: case IDs, display images, the coordinator key, hidden repeats, reading orders."""
from covsev_tools.cohort.cohort import Cohort, CohortError, CreationReport, create_cohort

__all__ = ["Cohort", "CohortError", "CreationReport", "create_cohort"]
