"""The rating scales: the Scale type and the built-in scales (package data ``*.yaml``)."""
from covsev_tools.scales.loading import builtin_scales, load_scale, load_scales, scale_from_dict, validate_scores
from covsev_tools.scales.scale import Component, Level, Scale, ScaleDefinitionError, ScoreError

__all__ = ["Component", "Level", "Scale", "ScaleDefinitionError", "ScoreError", "builtin_scales", "load_scale",
           "load_scales", "scale_from_dict", "validate_scores"]
