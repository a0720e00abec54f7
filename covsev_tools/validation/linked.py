"""A cohort scored on another scale: the model against the raters' scores linked to its scale.

A site that scores Brixia (0-18) can validate the extent model through a scale link
(:mod:`covsev_tools.linking`): the raters' mean Brixia score of each case is linked to extent and
becomes the reference of the model's sections (their intervals hold the link fixed). This module
adds the section that carries the link's own error: in every bootstrap resample the cohort's
patients are resampled **and** the link is the one refitted on a resample of its own fitting cases
(the link's kept bootstrap replicate of the same number), so the interval of the model's error
includes the linking error. Next to it: the link's leave-one-out error on its fitting cases and the
raters' disagreement (on the cohort's own scale, and linked). Inter-rater agreement stays on the
cohort's own scale (the inter-rater section).
"""
from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd

from covsev_tools.agreement.bootstrap import DEFAULT_CLUSTER, DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.linking.link import ScaleLink, case_digest
from covsev_tools.model.outputs import PREDICTION_COLUMNS
from covsev_tools.validation.inputs import InputError, ValidationInputs
from covsev_tools.validation.resample import bootstrap_interval, result_frame, shared_resampling

__all__ = ["link_reference", "linked_comparison", "linked_source_scale"]


def linked_source_scale(inputs: ValidationInputs, scale: str | None = None) -> str:
    """The cohort's own scale the links start from: ``scale``, else its one scale the model does not predict.

    Examples
    --------
    >>> ratings = pd.DataFrame({"scale": ["brixia"]})
    >>> linked_source_scale(ValidationInputs(ratings, None, None, None, "case_id", "mean", {}))
    'brixia'
    """
    if inputs.ratings is None:
        raise InputError("--link needs the raters' own scores (a ratings export), not a reference-only table")
    have = list(dict.fromkeys(inputs.ratings["scale"]))
    if scale is not None:
        if scale not in have:
            raise InputError(f"--link-scale '{scale}': the ratings have no such scale (they have: {', '.join(have)})")
        return scale
    others = [s for s in have if s not in PREDICTION_COLUMNS]
    if len(others) != 1:
        raise InputError(f"--link: say which of the ratings' scales ({', '.join(have)}) the link starts "
                         "from with --link-scale")
    return others[0]


def _source_scores(inputs: ValidationInputs, scale: str) -> pd.DataFrame:
    """Wide first-reading totals on the cohort's scale (case × rater), in a stable case order."""
    return inputs.totals(scale).sort_index()


def _raters_reference(inputs: ValidationInputs, wide: pd.DataFrame) -> pd.Series:
    """The raters' median when the report's reference is the median, else their mean."""
    return wide.median(axis=1) if inputs.reference_method == "median" else wide.mean(axis=1)


def link_reference(inputs: ValidationInputs, links: list[ScaleLink], scale: str | None = None) -> ValidationInputs:
    """The inputs with a linked reference on each link's target scale (the raters' mean, linked).

    The raters' median instead when the report's reference is the median. Each rater's first
    reading counts (hidden repeats are left out, as everywhere in the report).

    Examples
    --------
    >>> from covsev_tools.linking import open_link
    >>> ratings = pd.DataFrame({"case": list("aabb"), "rater": list("xyxy"), "scale": "brixia",
    ...                         "component": "total", "score": [4.0, 6.0, 12.0, 10.0],
    ...                         "is_repeat": False})
    >>> ref = pd.DataFrame(columns=["case", "scale", "component", "reference", "n_raters"])
    >>> inputs = ValidationInputs(ratings, ref, pd.DataFrame(), pd.DataFrame(), "case_id", "mean", {})
    >>> linked = link_reference(inputs, [open_link("brixia-mean-to-extent")])
    >>> linked.reference["reference"].round(2).tolist()
    [2.65, 5.6]
    """
    source = linked_source_scale(inputs, scale)
    wide = _source_scores(inputs, source)
    rows = [inputs.reference]
    for link in links:
        if link.target not in PREDICTION_COLUMNS:
            raise InputError(f"link {link.source} → {link.target}: the model predicts "
                             f"{' and '.join(PREDICTION_COLUMNS)}, not '{link.target}'")
        if (inputs.reference["scale"] == link.target).any():
            raise InputError(f"--link to '{link.target}': the cohort already has {link.target} scores; "
                             "a link is for a cohort scored on another scale")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # clamped scores are counted in the linked section's note
            linked = link.apply(_raters_reference(inputs, wide).to_numpy())
        rows.append(pd.DataFrame({"case": wide.index, "scale": link.target, "component": "total",
                                  "reference": linked, "n_raters": wide.notna().sum(axis=1).to_numpy()}))
    reference = pd.concat([r for r in rows if len(r)], ignore_index=True)
    sources = {**inputs.sources, "links": ", ".join(f"{link.method} {link.source} → {link.target}"
                                                    for link in links)}
    return ValidationInputs(inputs.ratings, reference, inputs.predictions, inputs.metadata, inputs.case_key,
                            inputs.reference_method, sources, inputs.cluster_col)


def _weighted_mean(weights, values):
    """Per resample (row of ``weights``): the weighted mean of per-case ``values`` (n,) or (R, n)."""
    if np.ndim(values) == 1:  # the same values in every resample: one matrix-vector product
        return weights @ values / weights.sum(axis=1)
    return np.einsum("rn,rn->r", weights, values) / weights.sum(axis=1)


def _replicate_rows(link: ScaleLink, n_boot: int, seed: int) -> np.ndarray | None:
    """Which kept link replicate each report resample uses (the first n_boot, else drawn again)."""
    if link.n_replicates == 0:
        return None
    if n_boot <= link.n_replicates:
        return np.arange(n_boot)
    return np.random.default_rng([seed, 25]).integers(0, link.n_replicates, n_boot)


def _one_link(inputs, link, source, n_boot, seed, confidence):
    wide = _source_scores(inputs, source)
    predicted = inputs.predictions[link.target].dropna()
    cases = [c for c in wide.index if c in predicted.index]
    if len(cases) < 3:
        raise InputError(f"--link {link.source} → {link.target}: only {len(cases)} case(s) have both "
                         f"{source} scores and a {link.target} prediction")
    wide = wide.loc[cases]
    source_mean = _raters_reference(inputs, wide).to_numpy()
    prediction = predicted.loc[cases].to_numpy()
    low, high = link.source_range
    n_clamped = int(((wide.to_numpy() < low) | (wide.to_numpy() > high)).sum())
    rows = _replicate_rows(link, n_boot, seed)
    scores = wide.to_numpy()
    pairs = list(combinations(range(scores.shape[1]), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = link.apply(source_mean)
        fixed_raters = np.column_stack([link.apply(scores[:, j]) for j in range(scores.shape[1])])

    def pair_terms(values):
        """Per case: mean |difference| over the rater pairs who both scored it (NaN if none)."""
        total, count = np.zeros(values.shape[:-1]), np.zeros(values.shape[:-1])
        for a, b in pairs:
            difference = np.abs(values[..., a] - values[..., b])
            both = np.isfinite(difference)
            total += np.where(both, difference, 0.0)
            count += both
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count

    stats = {name: [] for name in ("mae", "rmse", "bias", "mae_fixed", "rmse_fixed", "bias_fixed",
                                   "raters_linked", "raters_own")}
    done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cases scored by one rater: no pair
        own_terms = pair_terms(scores)
        for chunk in shared_resampling(len(cases), n_boot, seed, inputs.clusters(cases)).chunks():
            w = chunk.rows
            linked = np.tile(fixed, (len(w), 1))
            linked_raters = np.tile(fixed_raters, (len(w), 1, 1))
            boot = np.arange(done, done + len(w)) - 1  # row 0 of the first chunk is the sample
            resampled = boot >= 0
            if rows is not None and resampled.any():
                picked = rows[boot[resampled]]
                linked[resampled] = link.replicate_apply(source_mean, picked)
                linked_raters[resampled] = np.stack(
                    [link.replicate_apply(scores[:, j], picked) for j in range(scores.shape[1])], axis=-1)
            done += len(w)
            error, error_fixed = prediction - linked, prediction - fixed
            stats["mae"].append(_weighted_mean(w, np.abs(error)))
            stats["rmse"].append(np.sqrt(_weighted_mean(w, error ** 2)))
            stats["bias"].append(_weighted_mean(w, error))
            stats["mae_fixed"].append(_weighted_mean(w, np.abs(error_fixed)))
            stats["rmse_fixed"].append(np.sqrt(_weighted_mean(w, error_fixed ** 2)))
            stats["bias_fixed"].append(_weighted_mean(w, error_fixed))
            terms = pair_terms(linked_raters)
            has_pair = np.isfinite(own_terms)
            stats["raters_linked"].append(_weighted_mean(w[:, has_pair], terms[:, has_pair]))
            stats["raters_own"].append(_weighted_mean(w[:, has_pair], own_terms[has_pair]))
    values = {k: np.concatenate(v) for k, v in stats.items()}
    propagated = "bootstrap percentile; cohort and link cases resampled"
    fixed_method = "bootstrap percentile; cohort resampled, link fixed"
    n, n_pairs = len(cases), int(np.isfinite(own_terms).sum())

    def row(statistic, key, count, method, scale=link.target):
        low_ci, high_ci = bootstrap_interval(values[key], confidence) if n_boot else (np.nan, np.nan)
        return {"scale": scale, "statistic": statistic, "estimate": values[key][0], "ci_low": low_ci,
                "ci_high": high_ci, "n": count, "method": method}

    out = [row("Model MAE vs linked reference", "mae", n, propagated),
           row("Model MAE, link held fixed", "mae_fixed", n, fixed_method),
           row("Model RMSE vs linked reference", "rmse", n, propagated),
           row("Model bias (pred − linked ref)", "bias", n, propagated),
           row("Rater vs rater MAE, linked", "raters_linked", n_pairs, propagated),
           row(f"Rater vs rater MAE ({source} scale)", "raters_own", n_pairs,
               "bootstrap percentile; cohort resampled", scale=source),
           {"scale": link.target, "statistic": "Link leave-one-out MAE", "estimate": link.loo_mae,
            "ci_low": np.nan, "ci_high": np.nan, "n": link.provenance.get("n_cases"),
            "method": "on the link's own fitting cases"},
           {"scale": link.target, "statistic": "Link leave-one-out RMSE", "estimate": link.loo_rmse,
            "ci_low": np.nan, "ci_high": np.nan, "n": link.provenance.get("n_cases"),
            "method": "on the link's own fitting cases"}]
    return out, n_clamped, cases


def _overlap(inputs: ValidationInputs, link: ScaleLink, cases) -> int:
    """How many of the cohort's cases the link was fitted on (by hashed file name or case ID)."""
    fitted = set(link.provenance.get("case_sha256") or ())
    if not fitted:
        return 0
    labels = {c: {c} for c in cases}
    if "filename" in inputs.metadata.columns:
        for c, name in inputs.metadata["filename"].reindex(cases).items():
            labels[c].add(str(name))
    return sum(any(case_digest(x) in fitted for x in names) for names in labels.values())


def linked_comparison(inputs: ValidationInputs, links: list[ScaleLink], scale: str | None = None, *,
                      cluster=DEFAULT_CLUSTER, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                      confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """The model against the raters' linked scores, with the link's error carried into the intervals.

    Parameters
    ----------
    inputs : ValidationInputs
        Ratings on the cohort's own scale and the model's predictions.
    links : list of ScaleLink
        One link per predicted scale (target ``extent`` or ``opacity``).
    scale : str, optional
        The cohort's scale the links start from (default: its one scale the model does not predict).
    cluster : str or None
        Patient column of the cohort resampled as a whole (default: the inputs'; None: images).
    n_boot, seed, confidence :
        As everywhere in the report; each resample uses the link's kept replicate of the same number.

    Returns
    -------
    DataFrame
        ``scale, statistic, estimate, ci_low, ci_high, n, method`` rows per link; ``attrs``:
        ``confidence, n_boot, seed, cluster`` and ``note``: what the section did (method and
        source of each link, cases clamped, overlap with the link's fitting cases).

    Examples
    --------
    >>> from covsev_tools.linking import open_link
    >>> ratings = pd.DataFrame({"case": [c for c in "abcdef" for _ in "xy"], "rater": list("xy") * 6,
    ...                         "scale": "brixia", "component": "total", "is_repeat": False,
    ...                         "score": [2.0, 3, 5, 6, 9, 8, 12, 14, 15, 15, 1, 0]})
    >>> preds = pd.DataFrame({"extent": [1.0, 2.5, 4, 6, 7, 0.5]}, index=pd.Index(list("abcdef"), name="case"))
    >>> inputs = ValidationInputs(ratings, None, preds, pd.DataFrame(index=preds.index), "case_id", "mean", {})
    >>> table = linked_comparison(inputs, [open_link("brixia-mean-to-extent")], n_boot=50)
    >>> table.loc[0, "statistic"], round(table.loc[0, "estimate"], 3), table.attrs["note"][:7]
    ('Model MAE vs linked reference', 0.399, 'extent:')
    """
    inputs = inputs.resampled_by(cluster)
    source = linked_source_scale(inputs, scale)
    rows, notes = [], []
    for link in links:
        more, n_clamped, cases = _one_link(inputs, link, source, n_boot, seed, confidence)
        rows += more
        what = "median" if inputs.reference_method == "median" else "mean"
        text = (f"{link.target}: the raters' {what} {source} score linked by the {link.method} link "
                f"{link.source} → {link.target} fitted on {link.provenance.get('n_cases')} cases"
                f" ({link.provenance.get('fitted_on') or 'source not recorded'})")
        if link.n_replicates == 0:
            text += "; the link has no bootstrap replicates, so its error is not in the intervals"
        overlap = _overlap(inputs, link, cases)
        if not link.provenance.get("case_sha256"):
            text += ("; the link does not record its fitting cases (fit it with a case column), so "
                     "whether this cohort shares cases with it is not known")
        elif overlap:
            text += (f"; {overlap} of this cohort's {len(cases)} cases were among the link's fitting "
                     "cases, so the linked comparison is not independent of the link on them")
        if n_clamped:
            text += f"; {n_clamped} rater score(s) outside the link's range were clamped to it"
        notes.append(text + ".")
    note = (" ".join(notes) + " The model sections above compare the model with this linked "
            "reference with the link held fixed; the intervals here also resample the link's cases. "
            f"Inter-rater agreement is on the {source} scale.")
    table = result_frame(rows, confidence=confidence, n_boot=n_boot, seed=seed,
                         cluster=inputs.bootstrap_cluster)
    table.attrs["note"] = note
    return table
