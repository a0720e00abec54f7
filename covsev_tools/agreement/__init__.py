"""Inter-rater agreement statistics for papers, each equal to its published definition.

Every statistic is one function that takes a tidy long table (one row per case × rater, column
names configurable, missing ratings allowed) and returns a tidy :class:`pandas.DataFrame`: one row
per estimate with ``estimate, ci_low, ci_high, n, method`` and the statistic's own columns; the
confidence level is ``frame.attrs["confidence"]``. Options are keyword-only and named the same
everywhere: ``confidence=``, ``n_boot=``, ``seed=``, ``cluster=`` (the patient column: bootstraps
resample patients with all their images), ``categories=``, ``level=`` (Krippendorff's level of
measurement only).

- :func:`icc` — ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k (Shrout & Fleiss 1979; McGraw & Wong 1996)
- :func:`cohen_kappa`, :func:`fleiss_kappa` — Cohen (un/weighted), Fleiss
- :func:`krippendorff_alpha` — nominal, ordinal, interval, ratio
- :func:`gwet_ac` — AC1, AC2 (linear, quadratic)
- :func:`pearson`, :func:`spearman`, :func:`concordance_ccc`, :func:`bland_altman`
- :func:`model_equivalence` — is a model within the readers' variability (readers random or fixed);
  :func:`disagreement_with_readers` — each reader's and the model's mean disagreement with them
- :func:`pairwise_agreement` (tidy, every rater pair), :func:`agreement_report` (the documented
  JSON-ready dictionary of ``covsev agreement``) and its writers :func:`format_markdown`,
  :func:`format_latex`, :func:`format_csv`, :func:`to_json`
- study planning: :mod:`covsev_tools.agreement.planning`; model-vs-readers designs by simulation:
  :mod:`covsev_tools.agreement.equivalence_planning`.

Methods and the JSON schema: docs/readme/agreement.md.
"""
from covsev_tools.agreement._table import AgreementInputError, RatingsMatrix, parse_categories, ratings_matrix
from covsev_tools.agreement.alpha import krippendorff_alpha
from covsev_tools.agreement.continuous import bland_altman, concordance_ccc, pearson, spearman
from covsev_tools.agreement.disagreement import disagreement_with_readers
from covsev_tools.agreement.equivalence import model_equivalence
from covsev_tools.agreement.formatting import format_csv, format_latex, format_markdown, to_json
from covsev_tools.agreement.gwet import gwet_ac
from covsev_tools.agreement.icc import icc
from covsev_tools.agreement.cohen import cohen_kappa
from covsev_tools.agreement.fleiss import fleiss_kappa
from covsev_tools.agreement.report import agreement_report, pairwise_agreement

__all__ = [
    "AgreementInputError", "RatingsMatrix", "agreement_report", "bland_altman", "cohen_kappa",
    "concordance_ccc", "disagreement_with_readers", "fleiss_kappa", "format_csv", "format_latex",
    "format_markdown", "gwet_ac", "icc", "krippendorff_alpha", "model_equivalence", "pairwise_agreement",
    "parse_categories", "pearson", "ratings_matrix", "spearman", "to_json",
]
