"""The items of four reporting checklists, paraphrased: GRRAS, CLAIM 2024, TRIPOD+AI, STARD-AI.

Each item is its number, the section of the paper it belongs to, a short paraphrase in covsev's
own words (never the guideline's text: read the published checklist for that), the study fact
that answers it (a key of :data:`covsev_tools.report.checklist_fill.FILLERS`, or None when only
the author can write it) and, for author items, a hint.

Item lists and where the counts come from:

* **GRRAS** (Kottner et al., J Clin Epidemiol 2011;64:96-106, Table 1): 15 items.
* **CLAIM 2024** (Tejani et al., Radiol Artif Intell 2024;6:e240300): 44 items, numbered 1-44.
* **TRIPOD+AI** (Collins et al., BMJ 2024;385:e078378): 27 numbered items; the checklist
  splits 13 of them into lettered sub-items (3a-c, 5a-b, 6a-c, 8a-c, 9a-c, 12a-g, 18a-f, 20a-c,
  23a-b, 27a-c), 52 rows in all. covsev fills the 52 rows, each with its own status. The topic
  of 20a (flow of participants) was not in the item table found and follows TRIPOD 2015's 13a.
* **STARD-AI** (Sounderajah et al., Nat Med 2025): 40 numbered items; five are split into
  sub-items (15a-d, 16a-c, 17a-b, 26a-b, 40a-b), 48 rows in all. The topics of items 24
  (flow of participants) and 38 (funding) were not in the item tables found and are taken from
  STARD 2015, whose structure STARD-AI keeps; check them against the published checklist.

The counts were read from the published item tables (GRRAS Table 1; item-by-item tables of CLAIM
2024, TRIPOD+AI and STARD-AI as listed in public reporting-guideline indexes) and are tested in
``tests/test_checklist.py``.

Examples
--------
>>> {name: len(g.items) for name, g in GUIDELINES.items()}
{'grras': 15, 'claim': 44, 'tripod-ai': 52, 'stard-ai': 48}
>>> GUIDELINES["tripod-ai"].numbered
27
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GUIDELINES", "Guideline", "Item"]


@dataclass(frozen=True)
class Item:
    """One checklist item: number, section, our paraphrase, the study fact that answers it, a hint.

    Examples
    --------
    >>> Item("1", "Title", "Say it is a reliability study", None).fact is None
    True
    """

    number: str
    section: str
    topic: str
    fact: str | None
    hint: str = ""


@dataclass(frozen=True)
class Guideline:
    """A reporting guideline: its key, title, reference and items.

    Examples
    --------
    >>> GUIDELINES["grras"].title
    'GRRAS'
    """

    key: str
    title: str
    reference: str
    numbered: int
    items: tuple

    @property
    def main_numbers(self) -> list[str]:
        """The item numbers without their letters, each once (``12a``, ``12b`` -> ``12``)."""
        return list(dict.fromkeys(item.number.rstrip("abcdefg") for item in self.items))


def _items(rows) -> tuple:
    return tuple(Item(*row) for row in rows)


_T, _A, _I, _M, _R, _D, _O = ("Title/abstract", "Abstract", "Introduction", "Methods", "Results",
                              "Discussion", "Other")

GRRAS = Guideline("grras", "GRRAS", "Kottner J et al. Guidelines for Reporting Reliability and "
                  "Agreement Studies (GRRAS) were proposed. J Clin Epidemiol 2011;64:96-106.", 15,
                  _items([
    ("1", _T, "Say in the title or abstract that inter- or intra-rater agreement was studied",
     None, "Name both: e.g. 'Inter- and intra-rater agreement of chest X-ray severity scores'."),
    ("2", _I, "Describe the measurement (the scoring scale) precisely", "scale"),
    ("3", _I, "Which patients the images should represent", "population"),
    ("4", _I, "Which raters the results should generalise to", "rater_population"),
    ("5", _I, "What is known about the scale's agreement, and why this study", None,
     "Cite earlier agreement figures for the scale (e.g. Cohen et al. 2020) and the gap."),
    ("6", _M, "How the sample size was chosen; planned raters, cases and repeats", "sample_size"),
    ("7", _M, "How cases (and raters) were sampled", "sampling"),
    ("8", _M, "How the rating was done: repeat interval, clinical information, blinding",
     "rating_process"),
    ("9", _M, "Whether readings were independent of each other", "independence"),
    ("10", _M, "The statistical analysis", "statistics"),
    ("11", _R, "Actual numbers of raters, cases and repeat readings", "counts"),
    ("12", _R, "Characteristics of raters (training, experience) and cases", "rater_characteristics"),
    ("13", _R, "Agreement and reliability estimates with their uncertainty", "agreement_estimates"),
    ("14", _D, "Practical relevance of the results", "interpretation"),
    ("15", _O, "Detailed results, e.g. as supplementary files", "detailed_results"),
]))

CLAIM = Guideline("claim", "CLAIM 2024", "Tejani AS et al. Checklist for Artificial Intelligence "
                  "in Medical Imaging (CLAIM): 2024 Update. Radiol Artif Intell 2024;6:e240300.",
                  44, _items([
    ("1", _T, "Say AI is used and name the kind of model", None,
     "e.g. 'deep learning (DenseNet-121)' in the title or abstract."),
    ("2", _A, "Structured abstract: design, methods, results, conclusions", None,
     "The report's headline numbers and key sentences are a starting point."),
    ("3", _I, "Clinical background, intended use and role of the AI", "intended_use"),
    ("4", _I, "Aims and hypotheses", None, "State the question, e.g. is the model within the "
     "raters' own agreement?"),
    ("5", _M, "Prospective or retrospective", "design"),
    ("6", _M, "Goal of the study (e.g. model building, validation, feasibility)", "study_goal"),
    ("7", _M, "Where the data came from", "data_sources"),
    ("8", _M, "Inclusion and exclusion criteria", "eligibility"),
    ("9", _M, "Image pre-processing", "preprocessing"),
    ("10", _M, "How any subset of the data was selected", "sampling"),
    ("11", _M, "De-identification", "deidentification"),
    ("12", _M, "Handling of missing data", "missing"),
    ("13", _M, "Image acquisition protocol", "acquisition"),
    ("14", _M, "How the reference standard was obtained", "reference_standard"),
    ("15", _M, "Why this reference standard", None,
     "Explain why the raters' consensus is the right reference (no other gold standard for "
     "severity)."),
    ("16", _M, "Who made the reference annotations: qualifications and preparation",
     "rater_characteristics"),
    ("17", _M, "How the test set was annotated: tool, instructions", "annotation"),
    ("18", _M, "Inter- and intra-rater variability, and how discrepancies were resolved",
     "variability"),
    ("19", _M, "How data were assigned to partitions", "partitions"),
    ("20", _M, "Level at which partitions are disjoint (patient, image ...)", "disjoint"),
    ("21", _M, "Intended sample size and its basis", "sample_size"),
    ("22", _M, "Full description of the model", "model"),
    ("23", _M, "Software libraries and versions", "software"),
    ("24", _M, "Initialisation of model parameters", None,
     "Not applicable when the published weights are used unchanged: say so."),
    ("25", _M, "Training details and hyperparameters", None,
     "Not applicable when the published weights are used unchanged: say so."),
    ("26", _M, "How the final model was chosen", None,
     "State that the published model was evaluated as is (no model selection)."),
    ("27", _M, "Ensembling, if any", None, "State that no ensemble was used, if so."),
    ("28", _M, "Performance metrics", "statistics"),
    ("29", _M, "Statistical uncertainty and significance", "uncertainty"),
    ("30", _M, "Robustness or sensitivity analyses", "robustness"),
    ("31", _M, "Explainability methods and how they were checked", None,
     "If used, describe gradient saliency (covsev_tools.model.saliency) and how it was checked."),
    ("32", _M, "Evaluation on internal data", "partitions"),
    ("33", _M, "Evaluation on external data", "study_goal"),
    ("34", _R, "Trial or study registration", "registration"),
    ("35", _R, "Numbers of patients and images included and excluded", "counts"),
    ("36", _R, "Demographic and clinical characteristics per partition", "characteristics"),
    ("37", _R, "Performance with its uncertainty", "performance"),
    ("38", _R, "Diagnostic performance estimates with precision", "performance"),
    ("39", _R, "Analysis of failures", None,
     "Look at the cases with the largest model error (predictions.csv vs the reference) and "
     "describe them."),
    ("40", _D, "Limitations: bias, uncertainty, generalisability", "limitations"),
    ("41", _D, "Implications for practice and intended use", "interpretation"),
    ("42", _O, "Where the full protocol or technical details are", "protocol"),
    ("43", _O, "Availability of code, model and data", "availability"),
    ("44", _O, "Funding and role of funders", "funding"),
]))

TRIPOD_AI = Guideline("tripod-ai", "TRIPOD+AI", "Collins GS et al. TRIPOD+AI statement: updated "
                      "guidance for reporting clinical prediction models that use regression or "
                      "machine learning methods. BMJ 2024;385:e078378.", 27, _items([
    ("1", _T, "Say a prediction model is evaluated, for whom, predicting what", None,
     "e.g. 'External validation of a deep-learning severity score on chest X-rays of <population>'."),
    ("2", _A, "Abstract following TRIPOD+AI for Abstracts", None, ""),
    ("3a", _I, "Healthcare context and why evaluate this model; existing models", None,
     "Cite the model's development (Cohen et al. 2020) and other severity scores."),
    ("3b", _I, "Target population, place in the care pathway, intended users", "intended_use"),
    ("3c", _I, "Known health inequalities between groups", None, ""),
    ("4", _I, "Objectives: development, evaluation or both", "study_goal"),
    ("5a", _M, "Data sources and their representativeness", "data_sources"),
    ("5b", _M, "Dates of data collection", "dates"),
    ("6a", _M, "Setting and centres", "setting"),
    ("6b", _M, "Eligibility criteria", "eligibility"),
    ("6c", _M, "Treatments received, if relevant", None,
     "Usually not relevant to a severity score read from one image: say so."),
    ("7", _M, "Data pre-processing and quality checks", "preprocessing"),
    ("8a", _M, "The outcome (the reference score): definition, how and when assessed",
     "reference_standard"),
    ("8b", _M, "Qualifications of those who assessed the outcome", "rater_characteristics"),
    ("8c", _M, "Blinding of outcome assessment", "blinding"),
    ("9a", _M, "Choice of predictors", "predictors"),
    ("9b", _M, "Definition and measurement of predictors", "predictors"),
    ("9c", _M, "Qualifications of predictor assessors, if subjective", None,
     "Not applicable: the model reads the image itself; say so."),
    ("10", _M, "How the study size was reached, and whether it was enough", "sample_size"),
    ("11", _M, "Handling of missing data", "missing"),
    ("12a", _M, "How the data were used and partitioned", "partitions"),
    ("12b", _M, "How predictors were handled (scaling, transforms)", "preprocessing"),
    ("12c", _M, "Model type and building steps, internal validation", "model"),
    ("12d", _M, "Heterogeneity across clusters (sites, hospitals)", "robustness"),
    ("12e", _M, "Performance measures and plots, and why", "statistics"),
    ("12f", _M, "Model updating (e.g. recalibration)", "external"),
    ("12g", _M, "How predictions were computed", "model"),
    ("13", _M, "Class-imbalance methods, if any", None,
     "Not applicable to a continuous score without class weighting: say so."),
    ("14", _M, "Approaches to fairness", "robustness"),
    ("15", _M, "Model output and any thresholds", "model_output"),
    ("16", _M, "Differences between development and evaluation data", None,
     "Compare this cohort with the model's development data (Cohen et al. 2020)."),
    ("17", _O, "Ethics approval and consent", "ethics"),
    ("18a", _O, "Funding and role of funders", "funding"),
    ("18b", _O, "Conflicts of interest", "conflicts"),
    ("18c", _O, "Protocol access", "protocol"),
    ("18d", _O, "Registration", "registration"),
    ("18e", _O, "Data availability", "availability"),
    ("18f", _O, "Code availability", "code"),
    ("19", _O, "Patient and public involvement", None, "Describe it, or state there was none."),
    ("20a", _R, "Flow of participants and images, with exclusions", "flow"),
    ("20b", _R, "Characteristics of the cohort", "characteristics"),
    ("20c", _R, "Comparison with the development data", None,
     "Compare the reference score distribution with the development data's."),
    ("21", _R, "Numbers in each analysis", "counts"),
    ("22", _R, "The full model, so others can use it", "model"),
    ("23a", _R, "Performance with confidence intervals, also in subgroups", "performance"),
    ("23b", _R, "Heterogeneity of performance across clusters", "robustness"),
    ("24", _R, "Results of model updating", "external"),
    ("25", _D, "Overall interpretation, including fairness", "interpretation"),
    ("26", _D, "Limitations and their effect", "limitations"),
    ("27a", _D, "Handling of poor-quality or missing input in use", None,
     "Say how unreadable images should be handled (covsev predict reports them in 'error')."),
    ("27b", _D, "User interaction and expertise needed", None, ""),
    ("27c", _D, "Next steps for research", None, ""),
]))

STARD_AI = Guideline("stard-ai", "STARD-AI", "Sounderajah V et al. The STARD-AI reporting "
                     "guideline for diagnostic accuracy studies using artificial intelligence. "
                     "Nat Med 2025.", 40, _items([
    ("1", _T, "Say it is an AI diagnostic accuracy study, with a measure of accuracy", None,
     "Name the accuracy measure (e.g. MAE and CCC against the raters' reference)."),
    ("2", _A, "Structured abstract", None, ""),
    ("3", _I, "Background, intended use of the AI and its place in the workflow", "intended_use"),
    ("4", _I, "Objectives and hypotheses", None, ""),
    ("5", _M, "Prospective or retrospective", "design"),
    ("6", _M, "Ethics approval", "ethics"),
    ("7", _M, "Eligibility at participant and data level", "eligibility"),
    ("8", _M, "How eligible participants were identified", "sampling"),
    ("9", _M, "Where and when: setting, places, dates", "setting"),
    ("10", _M, "Consecutive, random or convenience series", "sampling"),
    ("11", _M, "Source of the data (routine, collected for the study, open repository)",
     "data_sources"),
    ("12", _M, "Who annotated and how (experience, context)", "rater_characteristics"),
    ("13", _M, "Devices used to acquire the images; software versions", "devices"),
    ("14", _M, "Acquisition protocol and pre-processing", "preprocessing"),
    ("15a", _M, "The AI index test, in enough detail to repeat it", "model"),
    ("15b", _M, "How the index test was developed (training, validation, testing)",
     "model_development"),
    ("15c", _M, "Cut-offs or result categories of the index test", "model_output"),
    ("15d", _M, "Intended end user and the expertise needed", None, ""),
    ("16a", _M, "The reference standard, in enough detail to repeat it", "reference_standard"),
    ("16b", _M, "Why this reference standard", None,
     "Explain why the raters' consensus is the reference (no other gold standard for severity)."),
    ("16c", _M, "Result categories of the reference standard", "scale"),
    ("17a", _M, "What the index test could know of clinical data and the reference",
     "index_blinding"),
    ("17b", _M, "What the reference readers could know of clinical data and the AI result",
     "blinding"),
    ("18", _M, "Methods for estimating and comparing accuracy", "statistics"),
    ("19", _M, "Handling of indeterminate results", "missing"),
    ("20", _M, "Handling of missing data", "missing"),
    ("21", _M, "Analyses of variability in accuracy", "robustness"),
    ("22", _M, "Intended sample size and its basis", "sample_size"),
    ("23", _M, "Error analysis, algorithmic bias and fairness", "robustness"),
    ("24", _R, "Flow of participants (diagram)", "flow"),
    ("25", _R, "Characteristics of the data sets", "characteristics"),
    ("26a", _R, "Distribution of severity", "severity_distribution"),
    ("26b", _R, "Alternative diagnoses in those without the condition", None, ""),
    ("27", _R, "Time between index test and reference standard", "index_timing"),
    ("28", _R, "Whether the data represent the intended-use population", None, ""),
    ("29", _R, "How external data differ from the development data", None,
     "Compare this cohort with the model's development data (Cohen et al. 2020)."),
    ("30", _R, "Index test results against the reference standard", "cross_tabulation"),
    ("31", _R, "Accuracy estimates with their precision", "performance"),
    ("32", _R, "Adverse events of the tests", None,
     "A retrospective reading of existing images has none: say so."),
    ("33", _D, "Limitations: bias, uncertainty, generalisability", "limitations"),
    ("34", _D, "Implications for practice", "interpretation"),
    ("35", _D, "Ethical considerations and fairness", None, ""),
    ("36", _O, "Registration", "registration"),
    ("37", _O, "Protocol access", "protocol"),
    ("38", _O, "Funding and other support", "funding"),
    ("39", _O, "Commercial interests", "conflicts"),
    ("40a", _O, "Availability of data and code", "availability"),
    ("40b", _O, "Whether outputs are stored and auditable", "stored_outputs"),
]))

#: The guidelines by key, in the order the report shows them.
GUIDELINES = {g.key: g for g in (GRRAS, CLAIM, TRIPOD_AI, STARD_AI)}
