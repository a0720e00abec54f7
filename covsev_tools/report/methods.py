"""What the report says about the study and its methods: headline facts, methods text, versions.

The headline states the numbers a reviewer asks first (cases, patients, raters, cases rated by
every rater) and warns when few cases have every rater; the methods text states how each
statistic treats missing ratings, which unit the bootstrap resampled, and everything needed to
reproduce the numbers (versions, seed, resamples, the command or notebook that ran).
"""
from __future__ import annotations

import platform
from importlib import metadata as importlib_metadata

from covsev_tools.agreement.typeset import format_level
from covsev_tools.validation import ValidationResult

__all__ = ["MIN_COMPLETE_CASES", "VERSIONED", "methods_text", "scale_text", "software_versions",
           "study_facts"]

#: Packages whose versions the report states (torch/torchxrayvision when installed).
VERSIONED = ("covsev", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "matplotlib",
             "jinja2", "pingouin", "torch", "torchxrayvision")

#: Fewer cases than this rated by every rater earns a visible warning in the headline.
MIN_COMPLETE_CASES = 30

_REFERENCE_TEXT = {
    "mean": "the mean of the raters' first readings",
    "median": "the median of the raters' first readings",
    "consensus": "the adjudicator's consensus score (rater name 'consensus', written by covsev "
                 "adjudicate; never counted as a rater), and the mean of the raters' first "
                 "readings for cases that were not adjudicated",
    "published": "the published consensus score (mean of 3 raters, Cohen et al. 2020)",
}


def software_versions() -> dict:
    """Python and the installed version of each package in ``VERSIONED`` ("not installed").

    Examples
    --------
    >>> versions = software_versions()
    >>> versions["python"] == platform.python_version(), "numpy" in versions
    (True, True)
    """
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def scale_text(scale: str) -> str:
    """One line describing a scale for the study section, from its definition in ``scales``.

    Examples
    --------
    >>> scale_text("opacity")[:40]
    'Opacity: Right lung, Left lung each 0–3 '
    """
    from covsev_tools.scales import load_scale

    try:
        s = load_scale(scale)
    except (LookupError, ValueError, OSError):
        return scale
    levels = "; ".join(f"{level.value} {level.text}" for level in s.levels)
    parts = ", ".join(c.label for c in s.components)
    return (f"{s.title}: {parts} each {min(s.values)}–{max(s.values)} ({levels}); total "
            f"{s.min_total}–{s.max_total}.")


def study_facts(result: ValidationResult) -> dict:
    """Cohort size, patients, raters, completeness and inputs for the report's headline.

    ``n_complete`` counts cases with a first-reading total from every rater on every scale;
    ``warning`` is set when fewer than :data:`MIN_COMPLETE_CASES` (or fewer than half of the
    cases) have every rater.

    Examples
    --------
    >>> facts = study_facts(getfixture("simulated_result"))  # validate() of a simulated study
    >>> facts["n_cases"], facts["n_patients"], facts["n_raters"]
    (94, 58, 4)
    """
    inputs = result.inputs
    cases = sorted(set(inputs.reference["case"]))
    predicted = set(cases) & set(inputs.predictions.index) if inputs.has_model else set()
    facts = {"n_cases": len(cases), "n_predicted": len(predicted), "raters": inputs.raters,
             "n_raters": len(inputs.raters), "scales": inputs.scales,
             "reference": _REFERENCE_TEXT[inputs.reference_method], "sources": inputs.sources,
             "n_patients": None, "patient_column": inputs.patient_column, "n_repeats": 0,
             "n_repeat_cases": 0, "n_complete": None, "warning": None,
             "n_adjudicated": None}
    column = inputs.patient_column
    if column is not None and column in inputs.metadata.columns:
        facts["n_patients"] = int(inputs.metadata[column].reindex(cases).nunique())
    if inputs.ratings is not None:
        _rater_facts(facts, inputs, cases)
    if "source" in inputs.reference.columns:
        adjudicated = inputs.reference[inputs.reference["source"] == "consensus"]
        facts["n_adjudicated"] = int(adjudicated["case"].nunique())
    return facts


def _rater_facts(facts: dict, inputs, cases) -> None:
    ratings = inputs.ratings
    rep = ratings[ratings["is_repeat"]]
    facts["n_repeats"] = int(rep[["display_id", "rater"]].drop_duplicates().shape[0])
    facts["n_repeat_cases"] = int(rep["case"].nunique())
    first = ratings[~ratings["is_repeat"] & (ratings["component"] == "total")]
    per_case = first.groupby(["case", "scale"])["rater"].nunique().unstack()
    complete = (per_case.reindex(cases) == len(inputs.raters)).all(axis=1)
    facts["n_complete"] = int(complete.sum())
    few = facts["n_complete"] < MIN_COMPLETE_CASES or facts["n_complete"] < len(cases) / 2
    if len(inputs.raters) >= 2 and few:
        facts["warning"] = (
            f"Only {facts['n_complete']} of {len(cases)} cases were rated by all "
            f"{len(inputs.raters)} raters: statistics that need every rater (ICC, the model as one "
            f"more rater) rest on those cases alone, and their intervals are wide. Aim for at "
            f"least {MIN_COMPLETE_CASES} cases, and at least half, with every rater.")


def methods_text(result: ValidationResult) -> list[str]:
    """The methods paragraph, one sentence per item, with this run's settings.

    Examples
    --------
    >>> from covsev_tools.validation import validate
    >>> result = validate(getfixture("simulated_inputs"), n_boot=10, seed=3)
    >>> [line for line in methods_text(result) if line.startswith("Reproducibility")][0][:61]
    'Reproducibility: produced by covsev_tools.validation.validate'
    """
    s = result.settings
    lines = _retrieval(result) + [
        f"Reference score per case: {_REFERENCE_TEXT[s['reference']]}, per scale total (and per "
        "lung or zone when rated). The model predicts scale totals, so it is compared with the "
        "reference totals.",
        "Model vs reference: MAE, RMSE, Pearson r, Spearman ρ, Lin's concordance correlation "
        f"coefficient (CCC) and Bland-Altman bias with limits of agreement (bias ± "
        f"{s.get('multiplier', 1.96):g} × SD of the differences); point estimates from "
        "covsev_tools.agreement.",
        f"{format_level(s['confidence'])}% CIs: percentile bootstrap ({s['n_boot']} resamples, "
        f"seed {s['seed']}) resampling {_unit_text(s)}; ICC intervals are the exact F intervals "
        "of McGraw & Wong (1996); Gwet's AC2 uses its linearisation standard error (Gwet 2014).",
        "Calibration: ordinary least squares of the reference on the prediction (slope 1 and "
        "intercept 0 mean perfectly calibrated); standard errors cluster-robust by patient when "
        "patient IDs are known.",
        "Inter-rater agreement (the model is not a rater here), per scale total and per lung or "
        "zone, on first readings: ICC in the Shrout & Fleiss (1979) forms; quadratic-weighted "
        "Cohen's κ for every pair of raters; Fleiss' κ; Krippendorff's α (ordinal and interval); "
        "Gwet's AC2 (quadratic weights); percent exact agreement and agreement within ±1 point.",
        "Missing ratings: ICC uses only the cases rated by every rater (listwise deletion); each "
        "pairwise κ uses the cases both raters scored; Fleiss' κ (Gwet's 2014 generalisation), "
        "Krippendorff's α and Gwet's AC2 use every case with at least two ratings (category "
        "shares from all ratings); percent agreement averages, over cases with at least two "
        "ratings, the share of rater pairs of the case that agree. Readings marked not "
        "assessable count as missing.",
        "Model as one more rater: each rater and the model against the consensus of the other "
        "raters (leave-one-rater-out), with a paired bootstrap CI of the difference in MAE "
        "(model − rater, same resamples); ICC(A,1) and ICC(A,k) with and without the model, on "
        "the cases every rater and the model scored.",
        "Is the model within the raters' variability: the mean absolute difference of the model "
        "with each rater (D_MR, averaged over raters) against that of the raters with each other "
        "(D_RR, averaged over pairs), each pair on the cases both scored; excess disagreement "
        "D_MR − D_RR (individual equivalence, Obuchowski et al. 2014), its ratio and Williams' "
        "index (1976). Readers random (the headline): a two-way percentile bootstrap resampling "
        f"{_unit_text(s)} and, independently, raters with replacement, a rater drawn twice not "
        "counted as a pair of raters (Beiden, Wagner & Campbell 2000), so the interval holds for "
        "other raters like these; readers fixed: the same resampling of cases only. Non-inferior "
        "when the upper confidence bound is below the margin ("
        + ("given" if s.get("margin") is not None else "0.25 × D_RR of each scale: D_MR at most "
           "1.25 × D_RR, the bioequivalence ratio limit")
        + "); one-sided p = (1 + #{replicates ≥ margin}) / (1 + resamples).",
        "External validation: the published mapping as is, against an ordinary least squares "
        "refit of the reference on the raw Lung Opacity output scored out of fold (5-fold "
        "cross-validation grouped by patient, 10 repeats, out-of-fold predictions averaged; "
        "covsev_tools.model.refit), with a paired bootstrap CI of the difference in MAE.",
        "Intra-rater reliability: first vs hidden repeat reading of the same case by the same "
        "rater (ICC(A,1), quadratic-weighted κ, MAE).",
        "Subgroups: the same statistics within each level of a metadata column (view, site, sex "
        "by default).",
        "Longitudinal: change between consecutive images of a patient (by days since first "
        "image), prediction vs reference: Pearson r of the changes, MAE of the change, and the "
        "fraction of pairs whose direction agrees among pairs whose reference changed.",
        _reproducibility(s),
    ]
    if result.inputs is not None and not result.inputs.has_model:  # no model: no word on its methods
        model_words = ("Model vs reference", "Calibration", "Model as one more rater", "External validation",
                       "Subgroups", "Longitudinal")
        lines = [line.replace(" The model predicts scale totals, so it is compared with the reference totals.", "")
                 for line in lines if not line.startswith(model_words)]
    return lines


def _retrieval(result: ValidationResult) -> list[str]:
    """How the images were retrieved and de-identified, when the cohort was made from a ``covsev pull``."""
    from pathlib import Path

    from covsev_tools.cohort.folder import PROVENANCE_FILE
    from covsev_tools.pull import provenance_sentence, read_provenance

    key = (getattr(result.inputs, "sources", None) or {}).get("key")
    path = Path(key).parent / PROVENANCE_FILE if key else None
    if path is None or not path.is_file():
        return []
    sentence = provenance_sentence(read_provenance(path))
    return [sentence] if sentence else []


def _unit_text(settings: dict) -> str:
    column = settings.get("cluster_col")
    if column:
        return (f"patients (metadata column '{column}', {settings.get('n_clusters', '?')} "
                "patients) with all their images, since images of one patient are not independent")
    return "images (cases) one by one: no patient column was available"


def _reproducibility(settings: dict) -> str:
    versions = software_versions()
    libraries = ", ".join(f"{name} {version}" for name, version in versions.items()
                          if name not in ("covsev", "python") and version != "not installed")
    made_by = settings.get("command") or "covsev_tools.validation.validate"
    return (f"Reproducibility: produced by {made_by} with covsev {versions['covsev']} on Python "
            f"{versions['python']} ({libraries}); bootstrap seed {settings['seed']}, "
            f"{settings['n_boot']} resamples; the same inputs, command and versions give the "
            "same numbers.")
