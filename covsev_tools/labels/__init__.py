"""The label store: per-rater append-only logs, the ratings export, blind-safe progress."""
from covsev_tools.labels.store import LabelStore, RaterIdError, StoreError, default_labels_dir, ratings_export, validate_rater_id, write_ratings_csv
from covsev_tools.labels.progress import known_raters, rater_progress

__all__ = ["LabelStore", "RaterIdError", "StoreError", "default_labels_dir", "known_raters", "rater_progress", "ratings_export", "validate_rater_id", "write_ratings_csv"]
