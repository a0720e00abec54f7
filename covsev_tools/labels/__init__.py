"""Rater labels: the append-only store, the record schema, the ratings export, blind-safe progress."""
from covsev_tools.labels.check import check_labels
from covsev_tools.labels.export import EXPORT_COLUMNS, ratings_export, write_ratings_csv
from covsev_tools.labels.progress import PROGRESS_COLUMNS, known_raters, rater_progress
from covsev_tools.labels.records import RecordProblem, check_record, record_schema
from covsev_tools.labels.remote import ServiceLabelStore, open_label_store
from covsev_tools.labels.store import LabelStore, StoreError, default_labels_dir
from covsev_tools.labels.tidy import LONG_COLUMNS

__all__ = ["EXPORT_COLUMNS", "LONG_COLUMNS", "PROGRESS_COLUMNS", "LabelStore", "RecordProblem", "ServiceLabelStore",
           "StoreError", "check_labels", "check_record", "default_labels_dir", "known_raters", "open_label_store",
           "rater_progress", "ratings_export", "record_schema", "write_ratings_csv"]
