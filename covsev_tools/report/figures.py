"""Figures of the validation report, drawn without pyplot (no global state, no display needed).

Each function takes plain tables and returns a :class:`matplotlib.figure.Figure`; :func:`save`
writes it as PNG (for the HTML report) and PDF (for the paper). Using ``Figure`` directly renders
with the Agg canvas whatever the notebook backend is, so the report looks the same everywhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from covsev_tools.agreement.typeset import format_level
from covsev_tools.report.tables import statistic_columns

__all__ = ["agreement_heatmap", "bland_altman", "disagreement_profile", "per_rater_error",
           "prediction_vs_reference", "save", "trajectories"]

MODEL_COLOR = "#d62728"
RATER_COLOR = "#1f77b4"
#: Resolution of the PNG figures (the HTML report embeds them; the PDF is vector).
PNG_DPI = 150


def _figure(n_panels: int, width: float = 4.2, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * max(n_panels, 1), height), layout="constrained")
    axes = fig.subplots(1, max(n_panels, 1), squeeze=False)[0]
    return fig, axes


def save(fig, out_dir: str | Path, name: str) -> dict:
    """Write ``<name>.png`` (:data:`PNG_DPI`) and ``<name>.pdf``; return their paths.

    Examples
    --------
    >>> pairs = {"extent": pd.DataFrame({"reference": [1.0, 3, 5], "prediction": [2.0, 3, 4]})}
    >>> paths = save(bland_altman(pairs, {"extent": {"bias": 0, "loa_low": -2, "loa_high": 2}}),
    ...              getfixture("tmp_path"), "ba")
    >>> sorted(p.name for p in paths.values())
    ['ba.pdf', 'ba.png']
    """
    import matplotlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"png": out / f"{name}.png", "pdf": out / f"{name}.pdf"}
    dpi = fig.get_dpi()
    # savefig puts the engine back with set_layout_engine(None), which reads these settings: a
    # user's `figure.autolayout: True` would lay the PDF out again (over the colour bars)
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        _fix_layout(fig, PNG_DPI)
        fig.savefig(paths["png"], dpi=PNG_DPI)
        fig.savefig(paths["pdf"])
    fig.set_dpi(dpi)  # a figure shown after saving keeps its size
    return paths


def _fix_layout(fig, dpi: float) -> None:
    """Solve the figure's layout once, at the PNG's resolution, and keep it for every file.

    While a figure has a layout engine (even the placeholder ``"none"`` leaves), ``savefig``
    draws it once more before each file; without one it draws each file once. That is 18% less
    CPU per figure for the same PNG pixels, and the layout holds for the PDF (same size in
    inches, sizes in points). Call it with ``figure.autolayout`` and
    ``figure.constrained_layout.use`` off, as :func:`save` does: then None means no engine.
    """
    engine = fig.get_layout_engine()
    if engine is None:
        return
    fig.set_dpi(dpi)
    engine.execute(fig)
    fig.set_layout_engine(None)


#: Above this many points a scatter is drawn as one marker path, rasterised in the PDF.
MANY_POINTS = 2000


def _points(ax, x, y, label=None) -> None:
    """A scatter of cases; thousands of points as one marker path (Agg draws it in one pass
    instead of one path per point) and rasterised in the PDF (else tens of MB of vectors)."""
    if len(x) <= MANY_POINTS:
        ax.scatter(x, y, s=18, alpha=0.7, color=MODEL_COLOR, edgecolor="none", label=label)
        return
    ax.plot(x, y, ls="none", marker="o", ms=4, alpha=0.3, color=MODEL_COLOR, mec="none",
            label=label, rasterized=True)


def prediction_vs_reference(pairs: dict, ranges: dict, calibration: pd.DataFrame | None = None):
    """Prediction against reference per scale, with the line of unity and the calibration fit.

    Parameters
    ----------
    pairs : dict of str to DataFrame
        Per scale, columns ``reference`` and ``prediction``.
    ranges : dict of str to (float, float)
        Axis range of each scale's total.
    calibration : DataFrame, optional
        Rows ``scale, statistic (Slope/Intercept), estimate`` (reference regressed on prediction).

    Examples
    --------
    >>> pairs = {"extent": pd.DataFrame({"reference": [1.0, 3, 5], "prediction": [2.0, 3, 4]})}
    >>> len(prediction_vs_reference(pairs, {"extent": (0, 8)}).axes)
    1
    """
    fig, axes = _figure(len(pairs))
    for ax, (scale, pair) in zip(axes, pairs.items()):
        low, high = ranges[scale]
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--", label="line of unity")
        _points(ax, pair["reference"], pair["prediction"], label=f"cases (n={len(pair)})")
        if calibration is not None and len(calibration):
            fit = calibration[calibration["scale"] == scale].set_index("statistic")["estimate"]
            grid = np.linspace(low, high, 50)
            # calibration regresses reference (x axis) on prediction (y axis)
            if {"Slope", "Intercept"} <= set(fit.index):
                ax.plot(fit["Intercept"] + fit["Slope"] * grid, grid, color="k", lw=1,
                        label="calibration fit")
        ax.set(xlim=(low - 0.3, high + 0.3), ylim=(low - 0.3, high + 0.3), aspect="equal",
               xlabel=f"reference {scale} (total)", ylabel=f"predicted {scale}", title=scale)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def bland_altman(pairs: dict, limits: dict):
    """Bland-Altman plot per scale: difference (prediction − reference) against the mean.

    Parameters
    ----------
    pairs : dict of str to DataFrame
        Per scale, columns ``reference`` and ``prediction``.
    limits : dict of str to dict
        Per scale ``bias``, ``loa_low``, ``loa_high`` (from the agreement module).

    Examples
    --------
    >>> pairs = {"extent": pd.DataFrame({"reference": [1.0, 3, 5], "prediction": [2.0, 3, 4]})}
    >>> len(bland_altman(pairs, {"extent": {"bias": 0, "loa_low": -2, "loa_high": 2}}).axes)
    1
    """
    fig, axes = _figure(len(pairs))
    for ax, (scale, pair) in zip(axes, pairs.items()):
        mean = (pair["prediction"] + pair["reference"]) / 2
        diff = pair["prediction"] - pair["reference"]
        _points(ax, mean, diff)
        lim = limits[scale]
        for key, style, text in (("bias", "-", "bias"), ("loa_low", "--", "−1.96 SD"),
                                 ("loa_high", "--", "+1.96 SD")):
            ax.axhline(lim[key], color="k", ls=style, lw=1)
            ax.annotate(f"{text} {lim[key]:.2f}".replace("-", "−"), (1, lim[key]),
                        xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(xlabel=f"mean of prediction and reference ({scale})",
               ylabel="prediction − reference", title=scale)
    return fig


def agreement_heatmap(matrices: dict, label: str = "MAE"):
    """Pairwise agreement between raters (and the model) per scale, as an annotated heatmap.

    Parameters
    ----------
    matrices : dict of str to DataFrame
        Per scale, a square rater × rater matrix of the statistic.
    label : str
        Name of the statistic (colour bar).

    Examples
    --------
    >>> m = pd.DataFrame([[1.0, 0.8], [0.8, 1.0]], index=["A", "B"], columns=["A", "B"])
    >>> fig = agreement_heatmap({"extent": m}, "weighted κ")
    >>> len(fig.axes), fig.axes[0].images[0].norm.vmin, fig.axes[0].images[0].norm.vmax  # colour scale 0 to 1
    (2, 0.0, 1.0)
    """
    fig, axes = _figure(len(matrices), width=4.6)
    for ax, (scale, matrix) in zip(axes, matrices.items()):
        values = matrix.to_numpy(dtype=float)
        # from 0 (κ: to 1), so that a panel of values 0.74-0.80 does not look like a wide spread
        mae = label.upper() == "MAE"
        top = (np.nanmax(values) if np.isfinite(values).any() else 1.0) if mae else 1.0
        image = ax.imshow(values, cmap="viridis_r" if mae else "viridis", vmin=0.0, vmax=max(top, 1e-9))
        ax.set_xticks(range(len(matrix)), labels=matrix.columns, rotation=45, ha="right")
        ax.set_yticks(range(len(matrix)), labels=matrix.index)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="w" if image.norm(v) > 0.5 else "k")
        ax.set_title(f"{scale}: pairwise {label}")
        fig.colorbar(image, ax=ax, shrink=0.75, label=label)
    return fig


def per_rater_error(loro: pd.DataFrame):
    """Leave-one-rater-out MAE of each rater and of the model against the same consensus.

    Parameters
    ----------
    loro : DataFrame
        :func:`~covsev_tools.validation.model_as_rater`: rows ``scale, rater, statistic,
        estimate, ci_low, ci_high`` (the left-out rater's and the model's MAE are drawn).

    Examples
    --------
    >>> loro = pd.DataFrame({"scale": "extent", "rater": ["A", "A", "B", "B"],
    ...                      "statistic": ["Rater MAE", "Model MAE"] * 2, "estimate": [1.0, 1.1, 0.8, 0.9],
    ...                      "ci_low": [0.8, 0.9, 0.6, 0.7], "ci_high": [1.2, 1.3, 1.0, 1.1], "n": 9})
    >>> len(per_rater_error(loro).axes)
    1
    """
    level = format_level(loro.attrs.get("confidence", 0.95))
    loro = statistic_columns(loro, ["scale", "rater"], {"Rater MAE": "rater_mae", "Model MAE": "model_mae"})
    scales = list(dict.fromkeys(loro["scale"]))
    fig, axes = _figure(len(scales))
    for ax, scale in zip(axes, scales):
        rows = loro[loro["scale"] == scale].reset_index(drop=True)
        x = np.arange(len(rows))
        for who, shift, color in (("rater", -0.12, RATER_COLOR), ("model", 0.12, MODEL_COLOR)):
            est = rows[f"{who}_mae"]
            err = [est - rows[f"{who}_mae_ci_low"], rows[f"{who}_mae_ci_high"] - est]
            ax.errorbar(x + shift, est, yerr=err, fmt="o", color=color, capsize=3,
                        label="left-out rater" if who == "rater" else "model")
        ax.set_xticks(x, labels=rows["rater"])
        ax.set(xlabel="left-out rater (consensus of the others as reference)",
               ylabel=f"MAE ({level}% CI)", title=scale)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, frameon=False)
    return fig


def disagreement_profile(profiles: dict):
    """Each rater's and the model's mean absolute difference with the raters, with their CIs.

    Parameters
    ----------
    profiles : dict of str to DataFrame
        Per scale, the frame of
        :func:`covsev_tools.agreement.disagreement.disagreement_with_readers`
        (index rater; ``estimate, ci_low, ci_high, role``; ``attrs["reader_reader"]`` = D_RR,
        drawn as a dashed line, and ``attrs["margin"]``, optional, drawn above it).

    Examples
    --------
    >>> frame = pd.DataFrame({"estimate": [1.0, 1.2, 1.1], "ci_low": [0.8, 1.0, 0.9],
    ...                       "ci_high": [1.2, 1.4, 1.3], "role": ["reader", "reader", "model"]},
    ...                      index=["A", "B", "model"])
    >>> frame.attrs["reader_reader"] = 1.1
    >>> len(disagreement_profile({"extent": frame}).axes)
    1
    """
    fig, axes = _figure(len(profiles))
    for ax, (scale, frame) in zip(axes, profiles.items()):
        x = np.arange(len(frame))
        colors = [MODEL_COLOR if role == "model" else RATER_COLOR for role in frame["role"]]
        for i, (_, row) in enumerate(frame.iterrows()):
            ax.errorbar(x[i], row["estimate"], yerr=[[row["estimate"] - row["ci_low"]],
                                                     [row["ci_high"] - row["estimate"]]],
                        fmt="o", color=colors[i], capsize=3)
        d_rr = frame.attrs.get("reader_reader", np.nan)
        ax.axhline(d_rr, color="grey", linestyle="--", linewidth=1,
                   label="raters with each other (D_RR)")
        if frame.attrs.get("margin") is not None:
            ax.axhline(d_rr + frame.attrs["margin"], color=MODEL_COLOR, linestyle=":",
                       linewidth=1, label="non-inferiority limit (D_RR + margin)")
        ax.set_xticks(x, labels=[str(name) for name in frame.index])
        level = format_level(frame.attrs.get("confidence", 0.95))
        ax.set(xlabel="rater (blue) and model (red)",
               ylabel=f"mean absolute difference with the raters ({level}% CI)", title=scale)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    return fig


def trajectories(series: dict, max_patients: int = 12):
    """Reference and prediction over time for patients with several images.

    Parameters
    ----------
    series : dict of str to DataFrame
        Per scale, rows ``patientid, offset, reference, prediction``.
    max_patients : int
        Patients drawn (those with the most images first), to keep the plot readable.

    Examples
    --------
    >>> rows = pd.DataFrame({"patientid": ["p", "p"], "offset": [0, 3], "reference": [2.0, 4.0],
    ...                      "prediction": [2.5, 3.5]})
    >>> trajectories({"extent": rows}).axes[0].get_title()
    'extent: 1 patients with follow-up'
    """
    fig, axes = _figure(len(series), width=5.0)
    for ax, (scale, rows) in zip(axes, series.items()):
        counts = rows["patientid"].value_counts()
        chosen = counts[counts >= 2].index[:max_patients]
        colors = _cycle(len(chosen))
        for color, pid in zip(colors, chosen):
            grp = rows[rows["patientid"] == pid].sort_values("offset")
            ax.plot(grp["offset"], grp["reference"], "-o", color=color, ms=4, lw=1.2)
            ax.plot(grp["offset"], grp["prediction"], "--x", color=color, ms=4, lw=1)
        ax.plot([], [], "-o", color="0.3", label="reference")
        ax.plot([], [], "--x", color="0.3", label="prediction")
        ax.set(xlabel="days since first image", ylabel=f"{scale} (total)",
               title=f"{scale}: {len(chosen)} patients with follow-up")
        ax.legend(fontsize=8, frameon=False)
    return fig


def _cycle(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]
