"""The validation report: tables, figures and the self-contained HTML page."""
from covsev_tools.report.build import Report, build_report, write_report

__all__ = ["Report", "build_report", "write_report"]
