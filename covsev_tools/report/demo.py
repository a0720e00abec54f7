"""The offline demo: a simulated reader study around the bundled published labels, and its reports.

The published labels of Cohen et al. 2020 (94 images, mean of 3 raters) are the known truth of a
seeded simulated study of any size (:func:`covsev_tools.datasets.simulate_cohort`); two reports
are written: the simulated multi-rater cohort (every section) and the model against the published
means (reference-only input).  Given the paper's images, the model's own predictions replace the
simulated ones in both (:func:`predictions_on_images`).
"""
from __future__ import annotations

from pathlib import Path

from covsev_tools.datasets import load_published_labels, published_labels_path, simulate_cohort
from covsev_tools.defaults import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT
from covsev_tools.errors import CovsevError
from covsev_tools.files import write_csv_atomic
from covsev_tools.report.build import Report, build_report

__all__ = ["DemoError", "SIMULATED_SOURCE", "build_demo", "predictions_on_images"]

#: How the demo's predictions were made when no images are given.
SIMULATED_SOURCE = ("simulated (no --images given): the published mapping applied to a simulated "
                    "model output with MAE about 1.1 on extent")


class DemoError(CovsevError):
    """The demo's images cannot be used: no such folder, none of the published images, no weights."""


def predictions_on_images(images, filenames, weights_dir=None):
    """The model's predictions on the published images found in ``images`` (a missing one: an error row).

    Parameters
    ----------
    images : path
        Folder with the paper's images (``covsev demo --images``).
    filenames : list of str
        The published images' file names.
    weights_dir : path, optional
        Folder with the torchxrayvision weights (offline; see ``covsev predict``).

    Returns
    -------
    pandas.DataFrame
        :func:`covsev_tools.model.predict`'s table, one row per file name.

    Raises
    ------
    DemoError
        When the folder is missing, holds none of the images, or the weights are not found.

    Examples
    --------
    >>> predictions_on_images(getfixture("tmp_path"), ["covid-1.png"])
    Traceback (most recent call last):
    ...
    covsev_tools.report.demo.DemoError: --images ...: none of the 1 published images is there (e.g. covid-1.png)
    """
    import pandas as pd

    from covsev_tools import model  # torch: only when images are given

    images = Path(images)
    if not images.is_dir():
        raise DemoError(f"--images {images}: no such folder")
    present = [name for name in filenames if (images / name).is_file()]
    if not present:
        raise DemoError(f"--images {images}: none of the {len(filenames)} published images is "
                        f"there (e.g. {filenames[0]})")
    try:
        table = model.predict([str(images / name) for name in present], weights_dir=weights_dir)
    except model.WeightsNotFoundError as exc:
        raise DemoError(str(exc)) from exc
    missing = pd.DataFrame({"filename": [n for n in filenames if n not in set(present)],
                            "error": "image not found in --images"})
    return pd.concat([table, missing], ignore_index=True)


def _with_real_predictions(simulated, real):
    """The simulated cohort's predictions table with the model's real values (same case IDs)."""
    columns = [c for c in real.columns if c != "filename"]
    merged = simulated[["case_id", "filename"]].merge(real, on="filename", how="left")
    merged["error"] = merged["error"].fillna("no prediction")
    return merged[["case_id", "filename", *columns]]


def build_demo(out_dir, *, n_cases: int | None = None, n_raters: int | None = None, seed: int = 0,
               n_boot: int = DEFAULT_N_BOOT, confidence: float = DEFAULT_CONFIDENCE, metadata=None,
               images=None, weights_dir=None) -> tuple[Report, Report]:
    """Simulate a study around the published labels and write both demo reports.

    Parameters
    ----------
    out_dir : path
        ``simulated-cohort/``, ``report/``, ``published/`` and ``published-report/`` go here.
    n_cases, n_raters : int, optional
        Study size (default: the 94 published images, 4 raters).
    seed : int
        Seed of the simulation and of the bootstrap.
    n_boot : int
        Bootstrap resamples.
    confidence : float
        Confidence level of every interval of both reports.
    metadata : path, optional
        Metadata of the published images for the second report (default: the bundled file).
    images : path, optional
        The paper's images: the model runs on them and its predictions replace the simulated ones
        (:func:`predictions_on_images`); both reports say which were used.
    weights_dir : path, optional
        Folder with the torchxrayvision weights (with ``images``).

    Returns
    -------
    (Report, Report)
        The simulated multi-rater report and the report against the published means.

    Examples
    --------
    >>> main, published = build_demo(getfixture("tmp_path"), n_cases=40, n_raters=3, n_boot=0)
    >>> main.result.inputs.raters, len(main.result.inputs.reference["case"].unique())
    (['R1', 'R2', 'R3'], 40)
    """
    out = Path(out_dir)
    labels_path = published_labels_path()
    published = load_published_labels(labels_path)
    predictions, source = None, SIMULATED_SOURCE
    if images is not None:
        real = predictions_on_images(images, list(published["filename"]), weights_dir)
        predictions = lambda simulated: _with_real_predictions(simulated, real)  # noqa: E731
        source = f"torchxrayvision DenseNet-121 on the images in {images} (published mapping)"
    sim = simulate_cohort(published, seed=seed, n_cases=n_cases, n_raters=n_raters)
    if predictions is not None:
        sim.predictions = predictions(sim.predictions)
    raters = len(sim.settings.raters)
    cohort_dir = sim.write(out / "simulated-cohort")
    main = build_report(cohort_dir / "ratings.csv", cohort_dir / "predictions.csv", out / "report",
                        key=cohort_dir / "key.csv", n_boot=n_boot, seed=seed, confidence=confidence,
                        title=f"covsev demo: simulated {raters}-rater cohort",
                        command=_command(n_cases, n_raters, seed, n_boot, confidence),
                        context=f"Demo data. Ratings: simulated, seed {seed}, {raters} raters with "
                                f"their own bias and noise around the published mean scores of "
                                f"Cohen et al. 2020 (known truth), {len(sim.key)} images; "
                                f"patients, views and sites are simulated too. Predictions: {source}.")
    # the published means know only the 94 published images: their predictions, from the default
    # study when a smaller one does not hold them all
    names = set(published["filename"])
    own = sim.predictions[sim.predictions["filename"].isin(names)]
    if len(own) < len(names):
        own = simulate_cohort(published, seed=seed).predictions
        own = predictions(own) if predictions is not None else own
    published_preds = out / "published" / "predictions.csv"
    published_preds.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(own.drop(columns="case_id"), published_preds)
    second = build_report(labels_path, published_preds, out / "published-report",
                          metadata=metadata or _bundled_metadata(), n_boot=n_boot, seed=seed,
                          confidence=confidence, title="covsev demo: model vs the published mean scores",
                          command=_command(n_cases, n_raters, seed, n_boot, confidence),
                          context=f"Reference: the published mean of 3 expert raters per image "
                                  f"(Cohen et al. 2020, CC BY-SA). Predictions: {source}.")
    return main, second


def _command(n_cases, n_raters, seed, n_boot, confidence) -> str:
    size = "".join(f" --{flag} {value}" for flag, value in (("cases", n_cases), ("raters", n_raters))
                   if value is not None)
    level = "" if confidence == DEFAULT_CONFIDENCE else f" --confidence {confidence:g}"
    return f"covsev demo{size} --seed {seed} --bootstrap {n_boot}{level}"


def _bundled_metadata() -> Path | None:
    """The trimmed collection metadata bundled with the labels, if present."""
    try:
        return published_labels_path("metadata.csv")
    except FileNotFoundError:
        return None
