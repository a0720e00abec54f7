"""The paper's published scores (Cohen et al. 2020): the bundled file, and its columns in covsev's names.

The 94 images' labels are the mean of 3 blinded raters per image; the file names the scales its
own way (``geographic_mean``, ``opacity_mean``). :data:`PUBLISHED_COLUMNS` is the one place that
maps them to covsev's scale names; the training round, the re-fit, the simulator and the report
all read the file through :func:`load_published_labels`.

References
----------
Cohen JP, Dao L, Roth K, et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep
Learning. Cureus 12(7):e9448, 2020. arXiv:2005.11856. Labels CC BY-SA.

Examples
--------
>>> labels = load_published_labels()
>>> labels.shape, PUBLISHED_COLUMNS["geographic_mean"]
((94, 3), 'extent')
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from covsev_tools import files
from covsev_tools.errors import CovsevError

__all__ = ["PUBLISHED_COLUMNS", "PublishedLabelsError", "load_published_labels", "published_labels_path"]

#: Column of the published labels file → covsev's scale name (each column is that scale's total).
PUBLISHED_COLUMNS = {"geographic_mean": "extent", "opacity_mean": "opacity"}


class PublishedLabelsError(CovsevError):
    """A copy of the published labels that cannot be read (the message names the file)."""


def published_labels_path(name: str = "covid-severity-scores.csv") -> Path:
    """Path of a bundled file of the paper's published labels (package data).

    Parameters
    ----------
    name : str
        ``covid-severity-scores.csv`` (the scores) or ``metadata.csv`` (the collection's metadata
        rows of the 94 images).

    Raises
    ------
    FileNotFoundError
        When the file was removed from the installed package (``metadata.csv`` may be deleted to
        drop its NonCommercial license).

    Examples
    --------
    >>> published_labels_path().name
    'covid-severity-scores.csv'
    """
    path = Path(str(resources.files("covsev_tools.labels") / "data" / name))
    if not path.is_file():
        raise FileNotFoundError(f"bundled published label file {name} not found at {path}")
    return path


def load_published_labels(path: str | Path | None = None):
    """The published labels: ``filename, geographic_mean, opacity_mean`` (94 images).

    Parameters
    ----------
    path : path, optional
        Another copy of ``covid-severity-scores.csv`` (its leading ``#`` lines are skipped);
        by default the bundled one.

    Returns
    -------
    pandas.DataFrame
        As the file names them; rename with :data:`PUBLISHED_COLUMNS` for covsev's scale names.

    Examples
    --------
    >>> load_published_labels().columns.tolist()
    ['filename', 'geographic_mean', 'opacity_mean']
    """
    import pandas as pd

    path = Path(path) if path else published_labels_path()
    if not path.is_file():
        raise PublishedLabelsError(f"published labels file not found: {path}")
    try:
        table = files.read_csv(path, skiprows=files.leading_comment_lines(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PublishedLabelsError(f"{path}: cannot read published labels CSV ({exc})") from exc
    missing = [c for c in ("filename", *PUBLISHED_COLUMNS) if c not in table.columns]
    if missing:
        raise PublishedLabelsError(f"{path}: not the published labels: no column {', '.join(missing)}")
    return table
