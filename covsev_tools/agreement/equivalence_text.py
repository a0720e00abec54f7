"""A :func:`~covsev_tools.agreement.model_equivalence` result as JSON and as a paper's sentence."""
from __future__ import annotations

from covsev_tools.agreement._result import json_safe
from covsev_tools.agreement.equivalence import DEFAULT_MARGIN_RATIO, STATISTICS
from covsev_tools.agreement.typeset import format_number

__all__ = ["equivalence_dict", "equivalence_sentence", "format_p", "margin_reason"]

_METRIC_WORDS = {"mae": "mean absolute difference", "msd": "mean squared difference"}


def equivalence_dict(frame) -> dict:
    """The documented JSON object of ``covsev equivalence`` (strict JSON: no NaN).

    Keys ``model, n_cases, n_readers, metric, readers, margin, margin_rule, confidence, method,
    cluster_column, n_boot_valid``
    and, for each statistic, ``{"estimate", "ci_low", "ci_high"}`` (``excess_disagreement`` also
    ``p_value`` and ``noninferior``).

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import model_equivalence
    >>> t = pd.DataFrame({"case": [1] * 4 + [2] * 4 + [3] * 4,
    ...                   "rater": ["ai", "r1", "r2", "r3"] * 3,
    ...                   "score": [2, 2, 3, 1, 5, 4, 6, 5, 0, 1, 0, 0]})
    >>> out = equivalence_dict(model_equivalence(t, model="ai", margin=0.5, n_boot=0))
    >>> out["n_readers"], round(out["excess_disagreement"]["estimate"], 3)
    (3, -0.556)
    """
    excess = frame.loc["excess_disagreement"]
    out = {"model": frame.attrs.get("model"), "n_cases": int(excess["n"]),
           "n_readers": int(excess["n_readers"]), "metric": excess["metric"],
           "readers": excess["readers"], "margin": frame.attrs.get("margin"),
           "margin_rule": frame.attrs.get("margin_rule"),
           "confidence": frame.attrs.get("confidence"), "method": excess["method"],
           "cluster_column": frame.attrs.get("cluster_column"),
           "n_boot_valid": int(excess["n_boot_valid"])}
    for name in STATISTICS:
        row = frame.loc[name]
        out[name] = {"estimate": row["estimate"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"]}
    noninferior = excess["noninferior"]
    if noninferior is not None and noninferior == noninferior:  # NaN: no interval
        noninferior = bool(noninferior)
    else:
        noninferior = None
    out["excess_disagreement"].update(p_value=excess["p_value"], noninferior=noninferior)
    return json_safe(out)


def margin_reason(frame) -> str:
    """Why the margin is what it is, for the report and the command's text output.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(index=["excess_disagreement"])
    >>> frame.attrs.update(margin=0.3, margin_rule="given", metric="mae")
    >>> margin_reason(frame)
    'margin 0.30 (given)'
    """
    margin = format_number(frame.attrs.get("margin"))
    if frame.attrs.get("margin_rule") == "given":
        return f"margin {margin} (given)"
    return (f"margin {margin} = {DEFAULT_MARGIN_RATIO:g} × the readers' own disagreement: the "
            f"model may disagree with a reader at most {1 + DEFAULT_MARGIN_RATIO:.0%} as much "
            "as readers disagree with each other, the 1.25 ratio limit of bioequivalence "
            "(FDA 2001); set a margin before the study when you can")


def format_p(p) -> str:
    """A p-value as papers print it: three decimals, "< 0.001" below that.

    Examples
    --------
    >>> format_p(0.0004), format_p(0.0312)
    ('< 0.001', '0.031')
    """
    if p is None or p != p:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _ci(row, confidence) -> str:
    return (f"{format_number(row['estimate'])} ({confidence:.0%} CI "
            f"{format_number(row['ci_low'])} to {format_number(row['ci_high'])})")


def equivalence_sentence(frame, *, what: str = "the score") -> str:
    """One sentence a paper can use as written.

    Examples
    --------
    >>> import pandas as pd
    >>> from covsev_tools.agreement import model_equivalence
    >>> t = pd.DataFrame({"case": [1] * 4 + [2] * 4 + [3] * 4,
    ...                   "rater": ["ai", "r1", "r2", "r3"] * 3,
    ...                   "score": [2, 2, 3, 1, 5, 4, 6, 5, 0, 1, 0, 0]})
    >>> equivalence_sentence(model_equivalence(t, model="ai", margin=0.5, n_boot=0))[:60]
    'On the score, the mean absolute difference between the model'
    """
    confidence = frame.attrs.get("confidence", 0.95)
    excess = frame.loc["excess_disagreement"]
    readers = excess["readers"]
    n_readers, n_cases = int(excess["n_readers"]), int(excess["n"])
    text = (f"On {what}, the {_METRIC_WORDS[excess['metric']]} between the model and "
            f"{n_readers} readers was {_ci(frame.loc['model_reader'], confidence)}, and between "
            f"readers {_ci(frame.loc['reader_reader'], confidence)} ({n_cases} cases); the "
            f"model's excess disagreement was {_ci(excess, confidence)} against a "
            f"non-inferiority margin of {format_number(excess['margin'])}")
    scope = ("with readers and cases both resampled, so the statement extends to other readers "
             "like these" if readers == "random" else
             "with these readers held fixed, so the statement is about these readers only")
    if excess["noninferior"] is True or excess["noninferior"] == 1:
        verdict = (f"the upper confidence bound is below the margin (one-sided p = "
                   f"{format_p(excess['p_value'])}): the model is non-inferior to a reader")
    elif excess["ci_high"] == excess["ci_high"]:
        verdict = ("the upper confidence bound is not below the margin: non-inferiority to a "
                   "reader is not shown")
    else:
        verdict = "no interval was computed"
    return f"{text}; {verdict}, {scope}."
