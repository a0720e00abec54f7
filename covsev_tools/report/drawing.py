"""Which figures a validation result supports, and drawing them on several cores.

Matplotlib spends ~0.3 s laying out and rendering each two-panel figure and does it while holding
the GIL, so the six report figures took longer than the whole validation of a 100-case study.
Each figure is independent: :func:`draw_figures` draws them in forked worker processes while the
caller writes the tables, and falls back to drawing in this process off Linux (forking is safe
there only) or with ``workers=1``. :func:`figure_workers` starts the workers early, so that they
import matplotlib while the statistics are computed.
"""
from __future__ import annotations

import base64
import multiprocessing
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from covsev_tools.agreement.typeset import format_level
from covsev_tools.report import figures
from covsev_tools.validation import ValidationResult
from covsev_tools.validation.inputs import scale_range
from covsev_tools.validation.validate import paired_scores

__all__ = ["EarlyFigures", "FigureSpec", "draw_figures", "figure_specs", "figure_workers"]


@dataclass(frozen=True)
class FigureSpec:
    """One report figure: file name, caption, and the drawing function with its arguments.

    ``draw`` is a module-level function of :mod:`covsev_tools.report.figures` and ``args`` plain
    tables, so a spec can be sent to a worker process.
    """

    name: str
    caption: str
    draw: object
    args: tuple


def figure_specs(result: ValidationResult) -> list[FigureSpec]:
    """The figures ``result`` has data for, in report order (also of a validation still running:
    a figure is listed once the sections it shows are done).

    Examples
    --------
    >>> specs = figure_specs(getfixture("simulated_result"))  # validate() of a simulated study
    >>> [(spec.name, spec.draw.__name__) for spec in specs][:2]
    [('prediction_vs_reference', 'prediction_vs_reference'), ('bland_altman', 'bland_altman')]
    """
    extras = result.extras
    level = format_level(result.settings.get("confidence", 0.95))
    specs = _model_figures(result) if "calibration" in result.tables else []
    if extras.get("kappa_matrices"):
        specs.append(FigureSpec("inter_rater_kappa", "Quadratic-weighted Cohen's κ between every "
                                "pair of raters on the scale totals (higher is closer; 1 on the "
                                "diagonal; colours from 0 to 1).", figures.agreement_heatmap,
                                (extras["kappa_matrices"], "weighted κ")))
    if extras.get("pairwise"):
        specs.append(FigureSpec("agreement_heatmap", "Mean absolute difference between every pair "
                                "of raters and the model (lower is closer; colours from 0).",
                                figures.agreement_heatmap, (extras["pairwise"], "MAE")))
    if len(result.tables.get("model_as_rater", [])):
        specs.append(FigureSpec("per_rater_error", "Each rater (blue) and the model (red) against "
                                f"the consensus of the other raters: MAE with {level}% bootstrap CI.",
                                figures.per_rater_error, (result.tables["model_as_rater"],)))
    if extras.get("equivalence_profiles"):
        specs.append(FigureSpec("equivalence_profile", "Each rater's (blue) and the model's (red) "
                                f"mean absolute difference with the raters, with {level}% bootstrap CIs "
                                "(cases resampled, raters fixed); dashed: the raters' mean "
                                "difference with each other; dotted: that plus the margin, the "
                                "model's non-inferiority limit.", figures.disagreement_profile,
                                (extras["equivalence_profiles"],)))
    series = {s: v for s, v in extras.get("longitudinal_series", {}).items() if len(v)}
    if series and len(result.tables.get("longitudinal", [])):
        specs.append(FigureSpec("longitudinal", "Trajectories of patients with several images: "
                                "reference (solid) and prediction (dashed).",
                                figures.trajectories, (series,)))
    return specs


def _model_figures(result: ValidationResult) -> list[FigureSpec]:
    inputs = result.inputs
    pairs = {s: paired_scores(inputs, s) for s in inputs.scales}
    ranges = {s: scale_range(s) for s in inputs.scales}
    mvr = result.tables["model_vs_reference"].set_index(["scale", "statistic"])["estimate"]
    limits = {s: {"bias": mvr[(s, "Bias (pred − ref)")], "loa_low": mvr[(s, "Lower LoA")],
                  "loa_high": mvr[(s, "Upper LoA")]} for s in inputs.scales}
    return [FigureSpec("prediction_vs_reference", "Prediction against reference with the line of "
                       "unity (dashed) and the calibration fit (solid).",
                       figures.prediction_vs_reference,
                       (pairs, ranges, result.tables["calibration"])),
            FigureSpec("bland_altman", "Bland-Altman plot: prediction − reference against their "
                       "mean, with the bias and the 95% limits of agreement.",
                       figures.bland_altman, (pairs, limits))]


class EarlyFigures:
    """Hands each figure to the workers as soon as the validation has its numbers.

    Pass it as ``validate(..., on_section=early)``: the workers draw the model figures while the
    inter-rater statistics are computed, and so on; :func:`draw_figures` then waits only for the
    last ones. ``started`` maps figure names to their pending results.
    """

    def __init__(self, pool, out_dir: str | Path):
        self.pool, self.out_dir, self.started = pool, Path(out_dir), {}

    def __call__(self, _section: str, result: ValidationResult) -> None:
        for spec in figure_specs(result):
            if spec.name not in self.started:
                self.started[spec.name] = self.pool.submit(draw_one, spec, self.out_dir)


def draw_one(spec: FigureSpec, out_dir: Path) -> dict:
    """Draw and save one figure (PNG and PDF); return its paths."""
    return figures.save(spec.draw(*spec.args), out_dir, spec.name)


def _warm_up() -> None:
    """Import matplotlib's PNG and PDF backends and write one line of text with each: the font
    is then loaded before the report's figures arrive.

    Drawing a whole figure here instead cost 0.7 s of CPU per worker and made the figures after
    it no faster than this 0.1 s does; on two cores that CPU is taken from the statistics.
    """
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.text(0.5, 0.5, "0.87 (0.81–0.91) κ")
    fig.savefig(io.BytesIO(), format="png", dpi=30)
    fig.savefig(io.BytesIO(), format="pdf")


class _Here:
    """The executor interface, drawing at once in this process."""

    def submit(self, function, *args) -> Future:
        future = Future()
        future.set_result(function(*args))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def figure_workers(workers: int = 2):
    """An executor of ``workers`` forked processes that import matplotlib at once, or one that
    draws in this process (``workers <= 1``, or not on Linux).

    Start it before the validation: the workers import matplotlib (half a second) while this
    process computes the statistics. Use it as a context manager.
    """
    # fork only on Linux: macOS system libraries are not fork-safe once loaded (Python itself
    # defaults to spawn there), and Windows has no fork
    if workers <= 1 or not sys.platform.startswith("linux"):
        return _Here()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_warm_up)
    pool.submit(int)  # the first job starts every worker
    return pool


def draw_figures(specs: list[FigureSpec], out_dir: str | Path, workers=2, *,
                 meanwhile=None, started: dict | None = None) -> list[dict]:
    """Draw every figure in ``specs``; return name, caption, paths and the PNG as base64 (for
    the self-contained HTML), in the order of ``specs``.

    ``workers`` is a number of processes, or an executor from :func:`figure_workers` that the
    caller started earlier (and shuts down). ``meanwhile``, if given, is called with no
    arguments in this process while the workers draw (the report writes its tables then).
    ``started`` holds the figures already handed to ``workers`` by :class:`EarlyFigures`.

    Examples
    --------
    >>> import pandas as pd
    >>> pairs = {"extent": pd.DataFrame({"reference": [1.0, 3, 5], "prediction": [2.0, 3, 4]})}
    >>> limits = {"extent": {"bias": 0.0, "loa_low": -2.0, "loa_high": 2.0}}
    >>> spec = FigureSpec("ba", "Bland-Altman", figures.bland_altman, (pairs, limits))
    >>> [f["paths"]["pdf"].name for f in draw_figures([spec], getfixture("tmp_path"))]
    ['ba.pdf']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    own = isinstance(workers, int)
    pool = figure_workers(min(workers, len(specs))) if own else workers
    try:
        started = started or {}
        pending = [started.get(spec.name) or pool.submit(draw_one, spec, out) for spec in specs]
        if meanwhile is not None:
            meanwhile()
        paths = [job.result() for job in pending]
    finally:
        if own:
            pool.shutdown(wait=True)
    return [{"name": spec.name, "caption": spec.caption, "paths": where,
             "png_base64": base64.b64encode(where["png"].read_bytes()).decode("ascii")}
            for spec, where in zip(specs, paths)]
