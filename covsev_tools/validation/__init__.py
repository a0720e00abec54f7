"""Model against raters: inputs, reference standard, inter-rater agreement, the model as a rater,
external validation, subgroups and longitudinal change; a cohort scored on another scale through a
scale link (:mod:`covsev_tools.validation.linked`)."""
from covsev_tools.validation.inputs import InputError, ValidationInputs
from covsev_tools.validation.linked import link_reference, linked_comparison
from covsev_tools.validation.study import load_inputs, load_study
from covsev_tools.validation.validate import ValidationResult, validate

__all__ = ["InputError", "ValidationInputs", "ValidationResult", "link_reference", "linked_comparison",
           "load_inputs", "load_study", "validate"]
