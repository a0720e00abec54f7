"""The reader study on JupyterHub: study folder, accounts, hub configuration, permissions, status.

The names below are imported when first used (:mod:`covsev_tools.lazy`): a rater's server imports
``covsev_tools.hub.singleuser`` alone, not the hub's configuration and administration.
"""
from covsev_tools.lazy import attach

_WHERE = {"hub_command": "server", "start_hub": "server", "add_cohort": "admin", "add_user": "admin",
          "assign": "admin", "finish": "admin", "init_study": "admin", "remove_user": "admin",
          "study_status": "status", "prestart_servers": "prestart", "Study": "study", "StudyError": "study"}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = attach(__name__, _WHERE)
