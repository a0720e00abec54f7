"""Model against raters: reference scores, agreement ceiling, external validation, subgroups."""
from covsev_tools.validation.inputs import InputError, ValidationInputs, load_inputs
from covsev_tools.validation.validate import ValidationResult, validate

__all__ = ["InputError", "ValidationInputs", "ValidationResult", "load_inputs", "validate"]
