"""Bundled data (the paper's published labels) and simulated studies of any size around it."""
from covsev_tools.datasets.simulate import (SimulatedCohort, SimulationSettings, rater_settings, simulate_cohort,
                                            study_truth)
from covsev_tools.labels.published import load_published_labels, published_labels_path

__all__ = ["SimulatedCohort", "SimulationSettings", "load_published_labels", "published_labels_path",
           "rater_settings", "simulate_cohort", "study_truth"]
