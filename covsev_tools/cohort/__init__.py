"""Blinded cohorts: case IDs, display images, the coordinator key, hidden repeats, reading orders.

Examples
--------
>>> from covsev_tools.cohort import Cohort, create_cohort, example_cohort
>>> cohort = create_cohort("images/", "pilot", repeat_fraction=0.1, seed=7)  # doctest: +SKIP
>>> Cohort.load("cohorts/pilot").reading_order("rater1")[:2]                   # doctest: +SKIP
['c7hk2m9qx', 'cq4w8e2zt']
>>> len(example_cohort().reading_order("rater1"))  # 6 cases and 2 hidden repeats
8
"""
from covsev_tools.cohort.cohort import Cohort
from covsev_tools.cohort.create import CreationReport, create_cohort, example_cohort
from covsev_tools.cohort.errors import CohortError, NoReadableImageError
from covsev_tools.cohort.folder import KEY_COLUMNS, MANIFEST_COLUMNS
from covsev_tools.cohort.ids import RaterIdError, validate_rater_id
from covsev_tools.cohort.orders import build_reading_order, extend_reading_order, rater_seed
from covsev_tools.cohort.repeat_audit import audit_repeats

__all__ = ["Cohort", "CohortError", "CreationReport", "KEY_COLUMNS", "MANIFEST_COLUMNS", "NoReadableImageError",
           "RaterIdError", "audit_repeats", "build_reading_order", "create_cohort", "example_cohort", "extend_reading_order",
           "rater_seed", "validate_rater_id"]
