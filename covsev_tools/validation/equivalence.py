"""Is the model within the radiologists' variability? Readers random (headline) and fixed.

For each scale total, :func:`covsev_tools.agreement.model_equivalence` of the model against the
raters' first readings, with readers random (two-way bootstrap over patients or images and
readers: a statement about radiologists like these) and with readers fixed (cases only: about
these raters), the margin, a sentence a paper can use, and each rater's and the model's mean
disagreement with the readers for the figure.
"""
from __future__ import annotations

import pandas as pd

from covsev_tools.agreement import RatingsMatrix
from covsev_tools.agreement.bootstrap import (DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT,
                                              cluster_codes)
from covsev_tools.agreement.disagreement import disagreement_with_readers
from covsev_tools.agreement.equivalence import DEFAULT_MARGIN_RATIO, model_equivalence
from covsev_tools.agreement.equivalence_text import equivalence_sentence
from covsev_tools.agreement.typeset import format_number
from covsev_tools.validation.inputs import ValidationInputs
from covsev_tools.validation.resample import result_frame

__all__ = ["MODEL_NAME", "disagreement_profiles", "equivalence_matrix", "margin_note",
           "model_equivalence_section"]

#: The model's name among the raters (a rater called "model" keeps their name; see below).
MODEL_NAME = "model"


def equivalence_matrix(inputs: ValidationInputs, scale: str) -> tuple[RatingsMatrix, str]:
    """Cases × (raters + model) first-reading totals of a scale, with the patient codes.

    Cases the model did not score are left out; a missing reading stays missing (each pair uses
    the cases both scored). Patients are numbered as :func:`~covsev_tools.agreement.ratings_matrix`
    numbers them, so a seed gives the resamples of ``covsev equivalence`` on the same table.

    Examples
    --------
    >>> inputs = getfixture("simulated_inputs")  # load_inputs() of a simulated study
    >>> matrix, name = equivalence_matrix(inputs, "extent")
    >>> matrix.raters[-1], name, matrix.scores.shape[1] == len(inputs.raters) + 1
    ('model', 'model', True)
    """
    wide = inputs.totals(scale)
    name = MODEL_NAME
    while name in wide.columns:  # a rater named "model" is still a rater
        name = f"{name} (covsev)"
    prediction = inputs.predictions[scale].rename(name).dropna()
    wide = wide.join(prediction, how="inner").dropna(how="all", subset=list(wide.columns))
    clusters = inputs.clusters(wide.index)
    if clusters is not None:  # numbered as ratings_matrix does: covsev equivalence's resamples
        clusters = cluster_codes(clusters)
    return RatingsMatrix(scores=wide.to_numpy(dtype=float), cases=list(wide.index),
                         raters=[str(c) for c in wide.columns], categories=None,
                         categories_source="none", clusters=clusters,
                         cluster_column=inputs.patient_column if clusters is not None else None,
                         ), name


def model_equivalence_section(inputs: ValidationInputs, *, margin=None, cluster=DEFAULT_CLUSTER,
                              n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                              confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Excess disagreement of the model over the raters for every scale total.

    Parameters
    ----------
    inputs : ValidationInputs
    margin : float, optional
        Non-inferiority margin of the excess MAE for every scale; None: 0.25 × the readers' own
        MAE of each scale (:func:`~covsev_tools.agreement.equivalence.default_margin`).
    cluster : str or None
        Patient column resampled as a whole (default: the inputs'; None: images).
    n_boot, seed, confidence
        Bootstrap resamples, seed and confidence level.

    Returns
    -------
    DataFrame
        ``scale, readers, statistic, estimate, ci_low, ci_high, n, n_readers, margin, p_value,
        noninferior, method``: the rows of :func:`~covsev_tools.agreement.model_equivalence`,
        readers random (the headline, with 3 raters or more) and fixed. ``attrs``:
        ``confidence, n_boot, seed, cluster``, ``sentences`` (scale -> a paper's sentence on the
        headline) and ``note`` (the margin of each scale and why, and the scales or designs left
        out). :func:`equivalence_matrix` and
        :func:`~covsev_tools.agreement.disagreement_with_readers` give the figure's profiles.

    Examples
    --------
    >>> inputs = getfixture("simulated_inputs")  # load_inputs() of a simulated study
    >>> table = model_equivalence_section(inputs, n_boot=50)
    >>> sorted(table["readers"].unique()), table.attrs["sentences"]["extent"][:25]
    (['fixed', 'random'], 'On extent, the mean absol')
    """
    inputs = inputs.resampled_by(cluster)
    rows, sentences, margins, skipped = [], {}, {}, {}
    for scale in inputs.scales:
        matrix, name = equivalence_matrix(inputs, scale)
        n_readers = len(matrix.raters) - 1
        if n_readers < 2 or len(matrix.cases) < 3:
            skipped[scale] = (f"{n_readers} rater(s) and {len(matrix.cases)} cases with a "
                              "prediction: needs 2 raters (3 for readers random) and 3 cases")
            continue
        options = dict(model=name, n_boot=n_boot, seed=seed, confidence=confidence)
        fixed = model_equivalence(matrix, readers="fixed", margin=margin, **options)
        scale_margin = fixed.attrs["margin"] if margin is None else margin
        frames = {"fixed": fixed}
        if n_readers >= 3:
            frames["random"] = model_equivalence(matrix, readers="random", margin=scale_margin,
                                                 **options)
            frames["random"].attrs["margin_rule"] = fixed.attrs["margin_rule"]
        else:
            skipped[scale] = ("2 raters: readers random needs at least 3, so only the "
                              "fixed-reader interval (these two raters) is shown")
        headline = frames.get("random", fixed)
        sentences[scale] = equivalence_sentence(headline, what=scale)
        margins[scale] = scale_margin
        for readers in ("random", "fixed"):
            if readers in frames:
                frame = frames[readers].reset_index()
                rows.append(frame.assign(scale=scale))
    columns = ["scale", "readers", "statistic", "estimate", "ci_low", "ci_high", "n", "n_readers",
               "margin", "p_value", "noninferior", "method"]
    table = result_frame(pd.concat(rows, ignore_index=True)[columns] if rows else None,
                         columns=None if rows else columns, confidence=confidence, n_boot=n_boot,
                         seed=seed, cluster=inputs.bootstrap_cluster)
    notes = [margin_note(margins, given=margin is not None)] if margins else []
    notes += [f"{scale}: {reason}." for scale, reason in skipped.items()]
    table.attrs.update(sentences=sentences, note=" ".join(notes))
    return table


def disagreement_profiles(inputs: ValidationInputs, margins: dict, *, cluster=DEFAULT_CLUSTER,
                          n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                          confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Per scale, each rater's and the model's mean disagreement with the readers (the figure).

    :func:`~covsev_tools.agreement.disagreement_with_readers` of :func:`equivalence_matrix`, with
    the scale's margin (from :func:`model_equivalence_section`'s ``margin`` column) in ``attrs``.

    Examples
    --------
    >>> profiles = disagreement_profiles(getfixture("simulated_inputs"), {"extent": 0.3}, n_boot=20)
    >>> list(profiles), profiles["extent"].attrs["margin"]
    (['extent'], 0.3)
    """
    inputs = inputs.resampled_by(cluster)
    out = {}
    for scale, margin in margins.items():
        matrix, name = equivalence_matrix(inputs, scale)
        out[scale] = disagreement_with_readers(matrix, model=name, n_boot=n_boot, seed=seed,
                                               confidence=confidence)
        out[scale].attrs["margin"] = margin
    return out


def margin_note(margins: dict, *, given: bool) -> str:
    """The margin of each scale and why, in one sentence for the report.

    Examples
    --------
    >>> margin_note({"extent": 0.28, "opacity": 0.25}, given=False)[:62]
    "Margin: 0.25 × the raters' own mean absolute difference of eac"
    """
    if not margins:
        return ""
    values = ", ".join(f"{scale} {format_number(value)}" for scale, value in margins.items())
    if given:
        return f"Margin ({values}): given with --margin, the same for every scale."
    return (f"Margin: {DEFAULT_MARGIN_RATIO:g} × the raters' own mean absolute difference of each "
            f"scale ({values}), i.e. the model may differ from a rater at most "
            f"{1 + DEFAULT_MARGIN_RATIO:g} times as much as raters differ from each other, the "
            "ratio limit of bioequivalence (FDA 2001). It is estimated from these raters; a "
            "margin fixed before the study (--margin) makes the stronger claim.")

