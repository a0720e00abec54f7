"""Model against raters: inputs, reference standard, inter-rater agreement, the model as a rater,
external validation, subgroups and longitudinal change."""
from covsev_tools.validation.inputs import InputError, ValidationInputs
from covsev_tools.validation.study import load_inputs, load_study
from covsev_tools.validation.validate import ValidationResult, validate

__all__ = ["InputError", "ValidationInputs", "ValidationResult", "load_inputs", "load_study",
           "validate"]
