"""The rater's pages: the scoring session state, the ipywidgets page, the X-ray viewer, the
training round and the adjudication of discordant cases.

The names below are imported when first used (:mod:`covsev_tools.lazy`): a rater's server needs
``covsev_tools.scoring.offline`` only, and the scoring page not the adjudication's modules.
"""
from covsev_tools.lazy import attach

_WHERE = {"ScoringSetupError": "access", "rater_from_env": "access",
          "Adjudication": "adjudication", "AdjudicationError": "adjudication",
          "discordant_cases": "adjudication", "side_by_side": "adjudication",
          "AdjudicationApp": "adjudication_view", "launch_adjudication": "adjudication_view",
          "ScoringApp": "app", "launch": "app",
          "configure_offline_voila": "offline", "offline_env": "offline", "serve_page": "offline",
          "ScoringSession": "session",
          "TrainingError": "training", "TrainingSet": "training", "require_training": "training",
          "training_status": "training",
          "build_training_set": "training_build", "paper_reference": "training_build"}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = attach(__name__, _WHERE)
