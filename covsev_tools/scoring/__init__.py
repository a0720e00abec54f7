"""The rater's scoring page: the session state, the ipywidgets view and the X-ray viewer."""
from covsev_tools.scoring.app import ScoringApp, ScoringSetupError, launch

__all__ = ["ScoringApp", "ScoringSetupError", "launch"]
