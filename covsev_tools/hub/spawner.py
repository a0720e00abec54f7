"""The hub's two study-aware parts: who may log in, and what server each user gets.

:class:`StudyAuthenticator` is NativeAuthenticator (hashed passwords, throttling after failed
logins) that lets in only the users of the study's ``users.json``. :class:`StudySpawner` is
JupyterHub's LocalProcessSpawner -- each server runs as the user's own Unix account -- that gives a
rater the scoring page of their active assignment and a coordinator JupyterLab on the study folder.

Examples
--------
In the generated ``hub/jupyterhub_config.py`` (see :func:`covsev_tools.hub.hubconfig.configure`)::

    c.JupyterHub.spawner_class = "covsev_tools.hub.spawner.StudySpawner"
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from nativeauthenticator import NativeAuthenticator
from traitlets import Unicode

from covsev_tools.hub.permissions import prepare_rater
from covsev_tools.hub.study import Study
from covsev_tools.scoring.offline import voila_template_root

__all__ = ["NoAssignmentError", "StudyAuthenticator", "StudySpawner", "SCORING_NOTEBOOK"]

#: The notebook Voila renders on a rater's server (in the study's ``app/`` folder).
SCORING_NOTEBOOK = "scoring.ipynb"


class NoAssignmentError(RuntimeError):
    """A rater logged in with no active assignment; the hub shows this message on its spawn page."""


class StudyAuthenticator(NativeAuthenticator):
    """NativeAuthenticator restricted to the users of one study folder."""

    study_dir = Unicode(config=True, help="The study folder whose users.json lists who may log in.")

    def check_allowed(self, username, authentication=None):
        """Only users of the study (read at each login, so removals take effect at once)."""
        return Study.load(self.study_dir).role(username) is not None


class StudySpawner(LocalProcessSpawner):
    """Local processes as the user's Unix account: scoring page for raters, JupyterLab for coordinators."""

    study_dir = Unicode(config=True, help="The study folder.")

    async def start(self):
        """Set the role's folder, landing page and environment, then start the server."""
        study = Study.load(self.study_dir)
        role = study.role(self.user.name)
        if role == "rater":
            self._as_rater(study)
        elif role == "coordinator":
            self._as_coordinator(study)
        else:
            raise NoAssignmentError(f"{self.user.name} is no longer a user of this study.")
        return await super().start()

    def _as_rater(self, study: Study) -> None:
        cohort = study.active_cohort(self.user.name)
        if cohort is None:
            raise NoAssignmentError("You have no case list to score at the moment. Your study "
                                    "coordinator will tell you when one is assigned to you.")
        prepare_rater(study, self.user.name, cohort)
        self.notebook_dir = str(study.app_dir)
        self.default_url = f"/voila/render/{SCORING_NOTEBOOK}"
        self.environment = {
            "COVSEV_COHORT": str(study.cohort_dir(cohort)),
            "COVSEV_LABELS_DIR": str(study.labels_dir),
            # Root-owned config: a rater cannot turn Lab or terminals back on from ~/.jupyter.
            "JUPYTER_CONFIG_DIR": str(study.rater_config_dir),
            **_common_environment(study),
        }

    def _as_coordinator(self, study: Study) -> None:
        self.notebook_dir = str(study.dir)
        self.default_url = "/lab"
        self.environment = {"COVSEV_STUDY": str(study.dir), "COVSEV_LABELS_DIR": str(study.labels_dir),
                            **_common_environment(study)}


def _common_environment(study: Study) -> dict[str, str]:
    """The study's kernel spec (an interpreter the account can run) first; no per-user site-packages.

    Then covsev's offline Voila template, then this environment's data files.
    """
    # This environment's data files (Voila templates, widget JavaScript) after the study's kernel spec:
    # a study runtime in app/runtime has a prefix of its own that holds none of them.
    # The offline template must be on JUPYTER_PATH before the server starts: with disable_user_config,
    # jupyterhub-singleuser freezes the data path before config files run, so a JUPYTER_PATH set in
    # app/config/jupyter_server_config.py never reaches Voila (the page then waits forever).
    data = os.pathsep.join([str(study.app_dir / "jupyter"), str(voila_template_root()),
                            str(Path(sys.prefix) / "share" / "jupyter")])
    return {"JUPYTER_PATH": data, "JUPYTERLAB_DIR": str(Path(sys.prefix) / "share" / "jupyter" / "lab"),
            # which server extensions are installed (Voila, JupyterLab): this environment's etc/jupyter
            "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"), "PYTHONNOUSERSITE": "1"}
