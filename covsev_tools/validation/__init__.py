"""Model against raters: inputs, reference standard, inter-rater agreement, the model as a rater,
external validation, subgroups and longitudinal change; a cohort scored on another scale through a
scale link (:mod:`covsev_tools.validation.linked`)."""
from covsev_tools.validation.inputs import InputError, ValidationInputs
from covsev_tools.validation.linked import link_reference, linked_comparison
from covsev_tools.validation.study import load_inputs, load_study
from covsev_tools.validation.validate import (ValidationResult, calibration, external_validation,
                                               icc_with_model, inter_rater, intra_rater, longitudinal,
                                               mapping_coefficients, model_as_rater,
                                               model_equivalence_section, model_vs_reference,
                                               subgroups, validate)

#: ``validate`` runs every section; each section is one function on the agreement package's
#: contract (keyword-only ``cluster=, n_boot=, seed=, confidence=``; a tidy DataFrame out).
__all__ = ["InputError", "ValidationInputs", "ValidationResult", "calibration", "external_validation",
           "icc_with_model", "inter_rater", "intra_rater", "link_reference", "linked_comparison",
           "load_inputs", "load_study", "longitudinal", "mapping_coefficients", "model_as_rater",
           "model_equivalence_section", "model_vs_reference", "subgroups", "validate"]
