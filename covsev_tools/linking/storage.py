"""A scale link as a JSON file: one schema, written whole, read back checked; the bundled links.

``LINK.json`` holds ``method``, ``source``, ``target``, ``n_cases``, ``loo_mae``, ``loo_rmse``,
``confidence``, ``ci_method`` and ``table`` (a list of ``{"source", "target", "se", "ci_low", "ci_high"}`` for
every integer source score in the fitted range), then what :meth:`ScaleLink.apply` needs
(``parameters``), the bootstrap replicates a report propagates (``replicates``), the
``provenance`` and, for a bundled link, its ``attribution``. Every file read is checked against
:data:`LINK_SCHEMA` (``fastjsonschema``) and then for the facts a schema cannot state (table and
replicates of matching sizes, the parameters of the method).
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from covsev_tools.files import write_text_atomic
from covsev_tools.linking.inputs import LinkInputError
from covsev_tools.linking.link import ScaleLink
from covsev_tools.linking.methods import METHODS

SCHEMA_VERSION = 1
_NUMBER = {"type": "number"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_NUMBERS = {"type": "array", "items": _NUMBER}

#: The JSON Schema of a link file.
LINK_SCHEMA = {
    "type": "object",
    "required": ["schema", "method", "source", "target", "n_cases", "loo_mae", "loo_rmse",
                 "confidence", "table", "parameters", "provenance"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "method": {"enum": list(METHODS)},
        "source": _NAME, "target": _NAME,
        "n_cases": {"type": "integer", "minimum": 1},
        "loo_mae": _NUMBER_OR_NULL, "loo_rmse": _NUMBER_OR_NULL,
        "confidence": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "ci_method": {"type": ["string", "null"]},
        "table": {"type": "array", "minItems": 1, "maxItems": 10_000, "items": {
            "type": "object", "required": ["source", "target", "se", "ci_low", "ci_high"],
            "additionalProperties": False,
            "properties": {"source": _NUMBER, "target": _NUMBER, "se": _NUMBER_OR_NULL,
                           "ci_low": _NUMBER_OR_NULL, "ci_high": _NUMBER_OR_NULL}}},
        "parameters": {"type": "object", "additionalProperties": False, "required": ["source_range"],
                       "properties": {
                           "source_range": {**_NUMBERS, "minItems": 2, "maxItems": 2},
                           "slope": _NUMBER, "intercept": _NUMBER,
                           "source_grid": {"type": "array", "minItems": 3, "maxItems": 3,
                                           "items": [_NUMBER, {"type": "number", "exclusiveMinimum": 0},
                                                     {"type": "integer", "minimum": 1}]},
                           "target_grid": {"type": "array", "minItems": 3, "maxItems": 3,
                                           "items": [_NUMBER, {"type": "number", "exclusiveMinimum": 0},
                                                     {"type": "integer", "minimum": 1}]},
                           "source_freq": _NUMBERS, "target_freq": _NUMBERS}},
        # null: a resample in which the link is undefined (e.g. one score in every drawn case)
        "replicates": {"type": "object", "additionalProperties": False, "properties": {
            "slope": {"type": "array", "items": _NUMBER_OR_NULL},
            "intercept": {"type": "array", "items": _NUMBER_OR_NULL},
            "table": {"type": "array", "items": {"type": "array", "items": _NUMBER_OR_NULL}}}},
        "provenance": {"type": "object"},
        "attribution": {"type": "string"},
    },
}


@functools.lru_cache(maxsize=1)
def _validator():
    import fastjsonschema

    return fastjsonschema.compile(LINK_SCHEMA)


def _number(value, digits: int | None = None):
    value = float(value)
    if not np.isfinite(value):
        return None
    return round(value, digits) if digits else value


def link_to_dict(link: ScaleLink, *, attribution: str | None = None, digits: int | None = None) -> dict:
    """The JSON-ready dictionary of a link (``digits``: round the replicates to keep files small).

    Examples
    --------
    >>> from covsev_tools.linking.link import demo_table, link_scales
    >>> data = link_to_dict(link_scales(demo_table(), source="brixia", target="extent", n_boot=5))
    >>> data["table"][0]["source"], len(data["replicates"]["slope"])
    (0.0, 5)
    """
    table = [{"source": float(point), "target": _number(row["estimate"]), "se": _number(row["se"]),
              "ci_low": _number(row["ci_low"]), "ci_high": _number(row["ci_high"])}
             for point, row in link.table.iterrows()]
    replicates = {key: [[_number(v, digits) for v in row] if isinstance(row, list) else _number(row, digits)
                        for row in values] for key, values in link.replicates.items()}
    out = {"schema": SCHEMA_VERSION, "method": link.method, "source": link.source, "target": link.target,
           "n_cases": int(link.provenance["n_cases"]), "loo_mae": _number(link.loo_mae),
           "loo_rmse": _number(link.loo_rmse), "confidence": float(link.table.attrs["confidence"]),
           "ci_method": link.table["method"].iloc[0],
           "table": table, "parameters": link.parameters, "replicates": replicates,
           "provenance": link.provenance}
    if attribution:
        out["attribution"] = attribution
    return out


def save_link(link: ScaleLink, path, *, attribution: str | None = None, digits: int | None = None) -> Path:
    """Write ``link`` to ``path`` as JSON, whole or not at all.

    Examples
    --------
    >>> import tempfile
    >>> from covsev_tools.linking.link import demo_table, link_scales
    >>> path = Path(tempfile.mkdtemp()) / "link.json"
    >>> link = link_scales(demo_table(), source="brixia", target="extent", n_boot=10)
    >>> load_link(save_link(link, path)).apply([9.0]).round(6) == link.apply([9.0]).round(6)
    array([ True])
    """
    text = json.dumps(link_to_dict(link, attribution=attribution, digits=digits), indent=1,
                      allow_nan=False)
    return write_text_atomic(path, text + "\n")


def _check_facts(data: dict) -> str | None:
    """What the schema cannot say; None when the file is consistent."""
    p, method = data["parameters"], data["method"]
    if method == "equipercentile":
        for side in ("source", "target"):
            if f"{side}_grid" not in p or f"{side}_freq" not in p:
                return f"parameters: an equipercentile link needs {side}_grid and {side}_freq"
            freq = np.asarray(p[f"{side}_freq"], dtype=float)
            if len(freq) != p[f"{side}_grid"][2]:
                return f"parameters: {side}_freq has {len(freq)} values for a grid of {p[f'{side}_grid'][2]}"
            if (freq < 0).any() or abs(freq.sum() - 1) > 1e-6:
                return f"parameters: {side}_freq must be relative frequencies (≥ 0, summing to 1)"
    elif "slope" not in p or "intercept" not in p:
        return f"parameters: a {method} link needs slope and intercept"
    low, high = p["source_range"]
    if low > high:
        return f"parameters: source_range {low:g} to {high:g} is not a range"
    points = [row["source"] for row in data["table"]]
    if any(b <= a for a, b in zip(points, points[1:])):
        return "table: source scores must increase"
    replicates = data.get("replicates") or {}
    sizes = {key: len(values) for key, values in replicates.items()}
    if len(set(sizes.values())) > 1:
        return f"replicates: lists of different lengths {sizes}"
    if any(len(row) != len(points) for row in replicates.get("table", [])):
        return f"replicates: every table replicate needs {len(points)} values"
    if method == "equipercentile" and replicates and "table" not in replicates:
        return "replicates: an equipercentile link keeps table replicates"
    return None


def link_from_dict(data, where: str = "link") -> ScaleLink:
    """A :class:`ScaleLink` from a dictionary checked against :data:`LINK_SCHEMA`.

    Examples
    --------
    >>> link_from_dict({"schema": 1})
    Traceback (most recent call last):
    ...
    covsev_tools.linking.inputs.LinkInputError: link: not a scale link (data must contain ['method', ...] properties)
    """
    import fastjsonschema

    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaException as exc:
        message = str(exc.message).replace("data.", "").replace("\n", " ")
        if "must contain" in message and "properties" in message:
            message = "data must contain ['method', ...] properties"
        raise LinkInputError(f"{where}: not a scale link ({message})") from None
    problem = _check_facts(data)
    if problem:
        raise LinkInputError(f"{where}: {problem}")
    table = pd.DataFrame(data["table"]).set_index("source").rename(columns={"target": "estimate"})
    table = table.astype(float)
    table["n"] = data["n_cases"]
    table["method"] = data.get("ci_method")
    table = table[["estimate", "ci_low", "ci_high", "n", "method", "se"]]
    table.attrs["confidence"] = data["confidence"]
    provenance = {**data["provenance"], "n_cases": data["n_cases"]}
    if "attribution" in data:
        provenance["attribution"] = data["attribution"]
    nan = (lambda v: np.nan if v is None else v)
    return ScaleLink(data["method"], data["source"], data["target"], table, data["parameters"],
                     nan(data["loo_mae"]), nan(data["loo_rmse"]), provenance, data.get("replicates") or {})


def load_link(path) -> ScaleLink:
    """Read a link file written by :func:`save_link` (or ``covsev link fit``), checked.

    Raises
    ------
    LinkInputError
        Unreadable file, not JSON, or not a scale link (names the file and the field).

    Examples
    --------
    >>> load_link("no-such-link.json")
    Traceback (most recent call last):
    ...
    covsev_tools.linking.inputs.LinkInputError: no-such-link.json: cannot read (no such file)
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LinkInputError(f"{path}: cannot read (no such file)") from None
    except (OSError, ValueError) as exc:
        raise LinkInputError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    return link_from_dict(data, str(path))


def bundled_links() -> list[str]:
    """Names of the links bundled with covsev (fitted on the public double-scored images).

    Examples
    --------
    >>> "brixia-mean-to-extent" in bundled_links()
    True
    """
    folder = resources.files("covsev_tools.linking") / "data"
    return sorted(item.name[:-5] for item in folder.iterdir() if item.name.endswith(".json"))


def open_link(spec) -> ScaleLink:
    """A link from a file path or a bundled link's name.

    Examples
    --------
    >>> open_link("brixia-mean-to-extent").method
    'mean-sigma'
    """
    spec = str(spec)
    if not spec.endswith(".json") and spec in bundled_links():
        text = (resources.files("covsev_tools.linking") / "data" / f"{spec}.json").read_text(encoding="utf-8")
        return link_from_dict(json.loads(text), f"bundled link {spec}")
    if not Path(spec).exists() and not spec.endswith(".json"):
        raise LinkInputError(f"no link file or bundled link '{spec}'; bundled: {', '.join(bundled_links())}")
    return load_link(spec)
