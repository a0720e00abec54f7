"""The validation report: tables, figures, the self-contained HTML page and the reporting checklists."""
from covsev_tools.report.build import Report, build_report, write_report
from covsev_tools.report.checklists import fill_checklists, write_checklists
from covsev_tools.report.description import describe_study, read_description

__all__ = ["Report", "build_report", "describe_study", "fill_checklists", "read_description",
           "write_checklists", "write_report"]
