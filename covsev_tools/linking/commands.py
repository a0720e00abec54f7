"""What ``covsev link fit``, ``apply`` and ``show`` do, with files (the CLI only parses arguments).

A table is read with ``comment="#"`` lines allowed (the published label files start with ``##``)
and a UTF-8 byte-order mark stripped (the BrixIA annotations have one); an unreadable table is a
:class:`LinkInputError` naming it.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from covsev_tools.files import read_csv, write_csv_atomic
from covsev_tools.linking.inputs import LinkInputError
from covsev_tools.linking.link import ScaleLink, link_scales
from covsev_tools.linking.storage import open_link, save_link


def read_table(path) -> pd.DataFrame:
    """A CSV table with its rows named by their line in the file (for messages).

    Examples
    --------
    >>> read_table("missing.csv")
    Traceback (most recent call last):
    ...
    covsev_tools.linking.inputs.LinkInputError: missing.csv: cannot read (no such file)
    """
    path = Path(path)
    if not path.is_file():
        raise LinkInputError(f"{path}: cannot read (no such file)")
    try:
        table = read_csv(path, comment="#", encoding="utf-8-sig", skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise LinkInputError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if table.empty:
        raise LinkInputError(f"{path}: no rows")
    table.index = pd.RangeIndex(2, len(table) + 2, name=f"{path.name} line")
    return table


def fit_to_file(table_path, out, *, source: str, target: str, method: str = "mean-sigma",
                presmooth=None, case=None, cluster=None, n_boot: int = 2000, seed=0,
                confidence: float = 0.95, raters: str | None = None) -> ScaleLink:
    """Fit a link on a CSV of double-scored cases and write it to ``out`` (JSON).

    Examples
    --------
    >>> import tempfile
    >>> from covsev_tools.linking.link import demo_table
    >>> folder = Path(tempfile.mkdtemp())
    >>> demo_table().to_csv(folder / "both.csv", index=False)
    >>> fit_to_file(folder / "both.csv", folder / "link.json", source="brixia", target="extent",
    ...             n_boot=20).provenance["fitted_on"]
    'both.csv'
    """
    table = read_table(table_path)
    link = link_scales(table, source=source, target=target, method=method, presmooth=presmooth,
                       case=case, cluster=cluster, n_boot=n_boot, seed=seed, confidence=confidence,
                       raters=raters, fitted_on=Path(table_path).name)
    save_link(link, out)
    return link


def apply_to_file(link_spec, table_path, out, *, column: str) -> tuple[pd.DataFrame, list[str]]:
    """Add ``<target>_linked`` and ``<target>_linked_se`` to a table; returns it and the warnings.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"case": ["a", "b"], "brixia": [4, 30]}).to_csv(folder / "t.csv", index=False)
    >>> table, notes = apply_to_file("brixia-mean-to-extent", folder / "t.csv", folder / "o.csv",
    ...                              column="brixia")
    >>> list(table.columns), notes
    (['case', 'brixia', 'extent_linked', 'extent_linked_se'], ['1 brixia_mean score(s) outside the fitted range 0-17.5 were clamped to it'])
    """
    link = open_link(link_spec)
    table = read_table(table_path)
    if column not in table.columns:
        raise LinkInputError(f"{table_path}: no column '{column}' (--column); the table has columns: "
                             f"{', '.join(map(str, table.columns))}")
    from covsev_tools.agreement._table import AgreementInputError, _numeric_scores

    try:
        scores = _numeric_scores(table, column, table.index.name)
    except AgreementInputError as exc:
        raise LinkInputError(f"{table_path}: {exc}") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linked = link.apply(scores.to_numpy())
    out_table = table.copy()
    out_table[f"{link.target}_linked"] = linked
    out_table[f"{link.target}_linked_se"] = link.standard_error(scores.to_numpy())
    out_table.loc[scores.isna().to_numpy(), f"{link.target}_linked_se"] = float("nan")
    write_csv_atomic(out_table.reset_index(drop=True), out)
    return out_table.reset_index(drop=True), [str(w.message) for w in caught]


def show_text(link_spec) -> str:
    """The link's summary, provenance and table as text for a terminal.

    Examples
    --------
    >>> print(show_text("brixia-mean-to-extent").splitlines()[0])  # doctest: +ELLIPSIS
    mean-sigma link brixia_mean → extent, fitted on 65 cases ...
    """
    link = open_link(link_spec)
    lines = [link.summary()]
    for key in ("raters", "fitted_on", "attribution"):
        if link.provenance.get(key):
            lines.append(f"{key}: {link.provenance[key]}")
    level = round(100 * link.table.attrs["confidence"])
    lines.append(f"{link.source:>12} {link.target:>10} {'SE':>7}   {level}% CI")
    for point, row in link.table.iterrows():
        ci = "" if pd.isna(row["ci_low"]) else f"{row['ci_low']:.2f} to {row['ci_high']:.2f}"
        lines.append(f"{point:>12g} {row['estimate']:>10.2f} {row['se']:>7.3f}   {ci}")
    return "\n".join(lines)
