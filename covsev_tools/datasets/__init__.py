"""Bundled data (the paper's published labels) and simulated studies around it."""
from covsev_tools.datasets.simulate import SimulatedCohort, SimulationSettings, load_published_labels, published_labels_path, simulate_cohort

__all__ = ["SimulatedCohort", "SimulationSettings", "load_published_labels", "published_labels_path", "simulate_cohort"]
