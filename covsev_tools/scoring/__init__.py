"""The rater's pages: the scoring session state, the ipywidgets page, the X-ray viewer, the
training round and the adjudication of discordant cases."""
from covsev_tools.scoring.access import ScoringSetupError, rater_from_env
from covsev_tools.scoring.adjudication import Adjudication, AdjudicationError, discordant_cases, side_by_side
from covsev_tools.scoring.adjudication_view import AdjudicationApp, launch_adjudication
from covsev_tools.scoring.app import ScoringApp, launch
from covsev_tools.scoring.offline import configure_offline_voila, offline_env, serve_page
from covsev_tools.scoring.session import ScoringSession
from covsev_tools.scoring.training import TrainingError, TrainingSet, require_training, training_status
from covsev_tools.scoring.training_build import build_training_set, paper_reference

__all__ = ["Adjudication", "AdjudicationApp", "AdjudicationError", "ScoringApp", "ScoringSession",
           "ScoringSetupError", "TrainingError", "TrainingSet", "build_training_set", "configure_offline_voila",
           "discordant_cases", "launch", "launch_adjudication", "offline_env", "paper_reference",
           "rater_from_env", "require_training", "serve_page", "side_by_side", "training_status"]
