"""The severity model: weights, network, preprocessing, prediction, saliency and refitting."""
from covsev_tools.model.predictor import Predictor, SeverityMapping, WeightsLoadError, WeightsNotFoundError, load_densenet, paper_mapping, predict, predict_cohort

__all__ = ["Predictor", "SeverityMapping", "WeightsLoadError", "WeightsNotFoundError", "load_densenet", "paper_mapping", "predict", "predict_cohort"]
