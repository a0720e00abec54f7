"""Loading scales: the built-in ones by name, a user's from a YAML, TOML or JSON file, checked against the schema.

Examples
--------
>>> load_scale("extent").max_total
8
>>> [s.name for s in load_scales("extent,opacity")]
['extent', 'opacity']
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from covsev_tools.scales.scale import (RESERVED_KEYS, SIDES, Component, Level, Scale, ScaleDefinitionError,
                                       ScoreError)

__all__ = ["BUILTIN_DIR", "SCALE_SUFFIXES", "builtin_scales", "load_scale", "load_scales", "scale_from_dict",
           "validate_scores"]

# The built-in scales ship as package data beside this module.
BUILTIN_DIR = Path(__file__).parent
SCALE_SUFFIXES = (".yaml", ".yml", ".toml", ".json")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_REQUIRED = ("name", "version", "title", "components", "levels")
_OPTIONAL = ("description", "total_name", "aggregation", "reference")


def _read_file(path: Path) -> Any:
    """Parse a YAML/TOML/JSON scale file into plain data."""
    suffix = path.suffix.lower()
    if suffix not in SCALE_SUFFIXES:
        raise ScaleDefinitionError(path, f"unsupported file type {path.suffix!r} (use {', '.join(SCALE_SUFFIXES)})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScaleDefinitionError(path, f"cannot read file ({exc})") from None
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            import tomllib
            return tomllib.loads(text)
        import yaml
        return yaml.safe_load(text)
    except Exception as exc:  # any parser error becomes one typed error naming the file
        raise ScaleDefinitionError(path, f"not valid {suffix[1:].upper()}: {exc}") from None


def _need_str(data: Mapping, field: str, where: str, source: str, *, default: str | None = None) -> str:
    value = data.get(field, default)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and field == "version":
        value = str(value)  # `version: 1` in YAML is an easy mistake; accept it as "1"
    if not isinstance(value, str) or (not value.strip() and default is None):
        raise ScaleDefinitionError(source, f"{where}{field}: must be a non-empty string, got {value!r}")
    return value.strip()


def _parse_components(raw: Any, source: str) -> tuple[Component, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScaleDefinitionError(source, "components: must be a non-empty list")
    components, seen = [], set()
    for i, item in enumerate(raw):
        where = f"components[{i}]."
        if not isinstance(item, Mapping):
            raise ScaleDefinitionError(source, f"components[{i}]: must be a mapping with key, label, side")
        _reject_unknown(item, ("key", "label", "side"), f"components[{i}]", source)
        key = _need_str(item, "key", where, source)
        if not _KEY_RE.match(key) or key in RESERVED_KEYS:
            raise ScaleDefinitionError(
                source, f"{where}key: {key!r} must be letters/digits/_/- and not one of {list(RESERVED_KEYS)}")
        if key in seen:
            raise ScaleDefinitionError(source, f"{where}key: duplicate component key {key!r}")
        seen.add(key)
        side = item.get("side")
        if side not in SIDES:
            raise ScaleDefinitionError(source, f"{where}side: must be 'right', 'left' or null, got {side!r}")
        components.append(Component(key, _need_str(item, "label", where, source, default=key) or key, side))
    return tuple(components)


def _parse_levels(raw: Any, source: str) -> tuple[Level, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ScaleDefinitionError(source, "levels: must be a list of at least two {value, text} entries")
    levels = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ScaleDefinitionError(source, f"levels[{i}]: must be a mapping with value and text")
        _reject_unknown(item, ("value", "text"), f"levels[{i}]", source)
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScaleDefinitionError(source, f"levels[{i}].value: must be an integer, got {value!r}")
        levels.append(Level(value, _need_str(item, "text", f"levels[{i}].", source)))
    values = [lv.value for lv in levels]
    if len(set(values)) != len(values):
        raise ScaleDefinitionError(source, f"levels: duplicate values in {values}")
    return tuple(sorted(levels, key=lambda lv: lv.value))


def _reject_unknown(data: Mapping, allowed: Iterable[str], where: str, source: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ScaleDefinitionError(source, f"{where}: unknown field(s) {unknown} (allowed: {sorted(allowed)})")


def scale_from_dict(data: Any, source: str | Path = "<dict>") -> Scale:
    """Build a :class:`Scale` from plain data (the parsed scale file), validating the schema.

    Parameters
    ----------
    data : mapping
        See the schema in the README ("Adding a scale").
    source : str or Path
        Named in error messages.

    Raises
    ------
    ScaleDefinitionError
        Naming ``source`` and the first problem found.

    Examples
    --------
    >>> two = scale_from_dict({"name": "two", "version": "1", "title": "Two zones",
    ...                        "components": [{"key": "upper"}, {"key": "lower"}],
    ...                        "levels": [{"value": 0, "text": "clear"}, {"value": 1, "text": "opaque"}]})
    >>> two.component_keys, two.max_total
    (('upper', 'lower'), 2)
    """
    source = str(source)
    if not isinstance(data, Mapping):
        raise ScaleDefinitionError(source, f"top level must be a mapping of fields, got {type(data).__name__}")
    _reject_unknown(data, _REQUIRED + _OPTIONAL, "top level", source)
    missing = [f for f in _REQUIRED if f not in data]
    if missing:
        raise ScaleDefinitionError(source, f"missing required field(s) {missing}")
    name = _need_str(data, "name", "", source)
    if not _NAME_RE.match(name):
        raise ScaleDefinitionError(source, f"name: {name!r} must start with a letter and use letters/digits/_/-")
    aggregation = data.get("aggregation", "sum")
    if aggregation != "sum":
        raise ScaleDefinitionError(source, f"aggregation: only 'sum' is supported, got {aggregation!r}")
    return Scale(
        name=name,
        version=_need_str(data, "version", "", source),
        title=_need_str(data, "title", "", source),
        description=_need_str(data, "description", "", source, default=""),
        components=_parse_components(data["components"], source),
        levels=_parse_levels(data["levels"], source),
        total_name=_need_str(data, "total_name", "", source, default="total") or "total",
        reference=_need_str(data, "reference", "", source, default=""),
        source=source,
    )


@functools.lru_cache(maxsize=1)
def _builtin_cached() -> tuple[Scale, ...]:
    return tuple(scale_from_dict(_read_file(p), p) for p in sorted(BUILTIN_DIR.glob("*.yaml")))


def builtin_scales() -> dict[str, Scale]:
    """All built-in scales by name (``extent``, ``opacity``, ``brixia``), parsed once per process.

    Examples
    --------
    >>> sorted(builtin_scales())
    ['brixia', 'extent', 'opacity']
    """
    return {scale.name: scale for scale in _builtin_cached()}


def load_scale(name_or_path: str | Path | Scale) -> Scale:
    """Load a built-in scale by name or a user scale from a YAML, TOML or JSON file.

    Parameters
    ----------
    name_or_path : str, Path or Scale
        ``"extent"``, ``"opacity"``, ``"brixia"``, or a path such as ``"my_scale.toml"``.
        A :class:`Scale` is returned unchanged.

    Returns
    -------
    Scale

    Raises
    ------
    ScaleDefinitionError
        If the name is unknown, or the file cannot be read or breaks the schema.

    Examples
    --------
    >>> load_scale("brixia").max_total
    18
    """
    if isinstance(name_or_path, Scale):
        return name_or_path
    text = str(name_or_path)
    path = Path(text).expanduser()
    looks_like_file = path.suffix.lower() in SCALE_SUFFIXES or "/" in text or "\\" in text
    if not looks_like_file:
        scales = builtin_scales()
        if text not in scales:
            raise ScaleDefinitionError(text, f"unknown scale; built-in scales are {sorted(scales)} "
                                             "(or give a .yaml/.toml/.json file)")
        return scales[text]
    if not path.is_file():
        raise ScaleDefinitionError(path, "scale file not found")
    return scale_from_dict(_read_file(path), path)


def load_scales(names: str | Iterable[str | Path | Scale]) -> list[Scale]:
    """Load several scales; ``names`` may be a comma-separated string such as ``"extent,opacity"``.

    Examples
    --------
    >>> [s.max_total for s in load_scales(["extent", "opacity"])]
    [8, 6]
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    scales = [load_scale(n) for n in names]
    dupes = {s.name for s in scales if sum(t.name == s.name for t in scales) > 1}
    if dupes:
        raise ScaleDefinitionError(", ".join(map(str, names)), f"scale(s) given twice: {sorted(dupes)}")
    return scales


def validate_scores(scales: Iterable[Scale | str], scores: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Validate the scores of one image on a set of scales and return each scale's total.

    Parameters
    ----------
    scales : iterable of Scale or str
        The scales the image must be scored on.
    scores : mapping
        ``{scale_name: {component: value}}``.

    Returns
    -------
    dict of str to int
        ``{scale_name: total}``.

    Raises
    ------
    ScoreError
        If a scale is missing or unknown, or any component is missing or out of range
        (every problem is named).

    Examples
    --------
    >>> validate_scores(["extent", "opacity"],
    ...                 {"extent": {"right": 2, "left": 3}, "opacity": {"right": 1, "left": 2}})
    {'extent': 5, 'opacity': 3}
    """
    scales = [load_scale(s) for s in scales]
    if not isinstance(scores, Mapping):
        raise ScoreError(f"scores must be a mapping of scale name to component scores, got {type(scores).__name__}")
    names = [s.name for s in scales]
    problems = [f"missing scale {n!r}" for n in names if n not in scores]
    problems += [f"unknown scale {n!r} (expected {names})" for n in scores if n not in names]
    totals = {}
    for scale in scales:
        if scale.name in scores:
            try:
                totals[scale.name] = scale.total(scores[scale.name])
            except ScoreError as exc:
                problems.append(str(exc))
    if problems:
        raise ScoreError("; ".join(problems))
    return totals
