"""The rater's pages: the scoring session state, the ipywidgets page, the X-ray viewer, the
training round and the adjudication of discordant cases."""
from covsev_tools.scoring.app import ScoringApp, launch
from covsev_tools.scoring.access import ScoringSetupError, rater_from_env
from covsev_tools.scoring.session import ScoringSession
from covsev_tools.scoring.training import (
    TrainingError, TrainingSet, build_training_set, paper_reference, require_training, training_status)

__all__ = ["ScoringApp", "ScoringSession", "ScoringSetupError", "TrainingError", "TrainingSet",
           "build_training_set", "launch", "paper_reference", "rater_from_env", "require_training",
           "training_status"]
