"""The reader study on JupyterHub: study folder, accounts, hub configuration, permissions, status."""
from covsev_tools.hub.server import hub_command, start_hub
from covsev_tools.hub.admin import add_cohort, add_user, assign, finish, init_study, remove_user
from covsev_tools.hub.status import study_status
from covsev_tools.hub.study import Study, StudyError

__all__ = ["Study", "StudyError", "add_cohort", "add_user", "assign", "finish", "hub_command", "init_study",
           "remove_user", "start_hub", "study_status"]
