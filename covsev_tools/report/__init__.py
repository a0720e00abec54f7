"""The validation report: tables, figures and the self-contained HTML page."""
from covsev_tools.report.build import build_report, report_figures, report_tables, write_report

__all__ = ["build_report", "report_figures", "report_tables", "write_report"]
