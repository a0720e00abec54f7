"""The severity model: weights, mapping, network, preprocessing, prefetching, prediction, saliency, refit.

The data path through this stage: :mod:`~covsev_tools.model.weights` (find and load xrv's file,
offline) → :mod:`~covsev_tools.model.network` (the folded DenseNet) with
:mod:`~covsev_tools.model.preprocess` and :mod:`~covsev_tools.model.prefetch` (images to model
inputs, in worker processes) → :mod:`~covsev_tools.model.predictor` (outputs and features) →
:mod:`~covsev_tools.model.mapping` (scores on the scales of :mod:`covsev_tools.scales`);
:mod:`~covsev_tools.model.runs` for folders, files and cohorts on disk;
:mod:`~covsev_tools.model.saliency` for gradient maps; :mod:`~covsev_tools.model.refit_data`,
:mod:`~covsev_tools.model.refit` and :mod:`~covsev_tools.model.refit_run` to re-fit the mapping.
"""
from covsev_tools.model.mapping import MappingError, SeverityMapping, paper_mapping
from covsev_tools.model.predictor import Predictor, predict
from covsev_tools.model.refit import compare_regressors, fit_mapping, seed_protocol
from covsev_tools.model.refit_data import RefitData, RefitInputError, join_refit_data, read_labels
from covsev_tools.model.refit_run import refit_to_files
from covsev_tools.model.runs import NoReadableImagesError, PredictInputError, predict_cohort, predict_to_files
from covsev_tools.model.saliency import saliency_maps, save_overlay
from covsev_tools.model.weights import WeightsLoadError, WeightsNotFoundError, find_weights, load_densenet

__all__ = [
    "MappingError", "NoReadableImagesError", "PredictInputError", "Predictor", "RefitData",
    "RefitInputError", "SeverityMapping", "WeightsLoadError", "WeightsNotFoundError", "compare_regressors",
    "find_weights", "fit_mapping", "join_refit_data", "load_densenet", "paper_mapping", "predict",
    "predict_cohort", "predict_to_files", "read_labels", "refit_to_files", "saliency_maps",
    "save_overlay", "seed_protocol",
]
