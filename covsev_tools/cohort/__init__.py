"""Blinded cohorts: case IDs, display images, the coordinator key, hidden repeats, reading orders."""
from covsev_tools.cohort.cohort import KEY_COLUMNS, Cohort, CohortError, CreationReport, create_cohort
from covsev_tools.cohort.ids import RaterIdError, validate_rater_id

__all__ = ["KEY_COLUMNS", "Cohort", "CohortError", "CreationReport", "RaterIdError", "create_cohort",
           "validate_rater_id"]
