"""``cohort.json``: the cohort's name, settings, scale definitions and counts; ``secret.json``: its seed.

The scoring app reads ``cohort.json`` on the rater's side, so it holds no file names (they are in
``key.csv``), no path (a rater could open originals that were left readable) and no seed: every
reading order and the choice of repeated cases derive from the seed, so a rater who knew it could
rebuild them and tell which IDs are hidden repeats. The seed and the source paths are kept in the
coordinator-only ``secret.json`` (cohorts made before kept them in ``cohort.json``; they still load).

Examples
--------
>>> info = {"name": "pilot", "seed": 7, "scales": ["extent"], "repeats": {"fraction": 0.1, "min_gap": 5}}
>>> stored_scales(info, "cohort.json")  # no stored definition: left as its name
['extent']
>>> earlier_settings(info)["min_gap"]
5
"""
from __future__ import annotations

import functools
import json
import secrets
from pathlib import Path
from typing import Any

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.folder import DEFAULT_SCALES, SCHEMA_VERSION, utc_now

__all__ = ["COHORT_SCHEMA", "NAME_PATTERN", "cohort_info", "earlier_settings", "read_info", "read_secret",
           "secret_text", "stored_scales"]

#: A cohort name: it is also a folder name under the labels root, which the store limits to 64.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_COUNT = {"type": "integer", "minimum": 0}
#: What ``cohort.json`` must look like (JSON Schema); keys not named here are allowed and ignored.
COHORT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "covsev cohort.json", "type": "object",
    "required": ["name", "scales"],
    "properties": {
        "schema": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "created": {"type": "string"}, "updated": {"type": "string"},
        "source_images_dir": {"type": "string"},
        "metadata_csv": {"type": ["string", "null"]},
        "seed": {"type": "integer"},
        "repeats": {"type": "object", "properties": {
            "fraction": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            "min_gap": _COUNT, "n": _COUNT}},
        "scales": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "scale_definitions": {"type": "object", "additionalProperties": {"type": "object"}},
        "display_max_side": {"type": "integer", "minimum": 1},
        "display_noise": {"type": "integer", "minimum": 1},
        "counts": {"type": "object", "additionalProperties": _COUNT},
    },
}


@functools.lru_cache(maxsize=1)
def _validator():
    import fastjsonschema

    return fastjsonschema.compile(COHORT_SCHEMA)


def _schema_problem(info: Any) -> str | None:
    """The first way ``info`` breaks :data:`COHORT_SCHEMA`, in one line; None when it fits."""
    import fastjsonschema

    try:
        _validator()(info)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = exc.name[5:] if exc.name.startswith("data.") else "top level"
        value = repr(exc.value)
        value = value if len(value) <= 60 else value[:57] + "..."
        return f"{where} = {value} {exc.message[len(exc.name):].strip()}"
    return None


def read_info(path: Path) -> dict[str, Any]:
    """Read ``cohort.json`` and check it against :data:`COHORT_SCHEMA`.

    Raises
    ------
    CohortError
        If the file cannot be read, is not JSON, or does not fit the schema (a tampered or damaged
        file): one line naming the file, the field and what is wrong.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cohort.json"
    >>> _ = path.write_text("{broken")
    >>> read_info(path)
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.errors.CohortError: .../cohort.json: cannot read (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))
    >>> _ = path.write_text('{"name": "../x", "seed": 1, "scales": ["extent"]}')
    >>> read_info(path)
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.errors.CohortError: .../cohort.json: not a valid cohort file (tampered or damaged?): name = '../x' must match pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
    """
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CohortError(f"{path}: cannot read ({exc})") from None
    problem = _schema_problem(info)
    if problem:
        raise CohortError(f"{path}: not a valid cohort file (tampered or damaged?): {problem}")
    return info


def read_secret(directory: Path, info: dict) -> dict[str, Any]:
    """Coordinator-only settings: ``{"seed": int}`` from ``secret.json`` (a cohort of layout 1: ``cohort.json``).

    Raises
    ------
    CohortError
        If ``secret.json`` is not readable from this account, or is damaged.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "secret.json").write_text(secret_text(11))
    >>> read_secret(folder, {"name": "pilot"})
    {'seed': 11}
    >>> read_secret(Path("/nowhere"), {"name": "old", "seed": 5})
    {'seed': 5}
    """
    path = directory / "secret.json"
    if not path.is_file():
        return {"seed": info["seed"]} if "seed" in info else {}
    secret = _read_secret_file(path)
    # the source paths (cohorts made before this kept them in cohort.json)
    return {"seed": secret["seed"], **{k: secret[k] for k in _SECRET_PATHS if isinstance(secret.get(k), str)}}


#: Paths ``secret.json`` keeps for a re-run of ``cohort create`` (never in the raters' ``cohort.json``).
_SECRET_PATHS = ("source_images_dir", "metadata_csv")


def _read_secret_file(path: Path) -> dict[str, Any]:
    try:
        secret = json.loads(path.read_text(encoding="utf-8"))
    except PermissionError:
        raise CohortError(f"{path}: not readable from this account (coordinator only)") from None
    except (OSError, ValueError) as exc:
        raise CohortError(f"{path}: cannot read ({exc})") from None
    if not isinstance(secret, dict) or not isinstance(secret.get("seed"), int) or isinstance(secret["seed"], bool):
        raise CohortError(f"{path}: not a valid cohort file (tampered or damaged?): seed must be an integer")
    return secret


def secret_text(seed: int, source_images_dir: str | Path | None = None, metadata_csv: str | Path | None = None) -> str:
    """Content of ``secret.json``: the seed and where the images and metadata came from.

    Examples
    --------
    >>> secret_text(7)
    '{"seed": 7}\\n'
    >>> secret_text(7, "/data/xray")
    '{"seed": 7, "source_images_dir": "/data/xray"}\\n'
    """
    secret: dict[str, Any] = {"seed": int(seed)}
    if source_images_dir is not None:
        secret["source_images_dir"] = str(Path(source_images_dir).resolve())
    if metadata_csv:
        secret["metadata_csv"] = str(Path(metadata_csv).resolve())
    return json.dumps(secret) + "\n"


def stored_scales(info: dict, source: str | Path) -> list:
    """The scales named in ``cohort.json``: each built from its stored definition, else left as its name.

    Examples
    --------
    >>> from covsev_tools.scales import load_scale
    >>> info = {"scales": ["extent", "opacity"], "scale_definitions": {"extent": load_scale("extent").to_dict()}}
    >>> [getattr(s, "max_total", s) for s in stored_scales(info, "cohort.json")]
    [8, 'opacity']
    """
    from covsev_tools.scales import scale_from_dict

    definitions = info.get("scale_definitions", {})
    return [scale_from_dict(definitions[n], f"{source}:{n}") if n in definitions else n
            for n in info.get("scales", [])]


def earlier_settings(info: dict, secret: dict | None = None) -> dict[str, Any]:
    """Settings a re-run keeps when not given again (defaults for a new cohort, with a random 52-bit seed).

    Examples
    --------
    >>> earlier_settings({"repeats": {"fraction": 0.1, "min_gap": 4}}, {"seed": 3})["seed"]
    3
    >>> earlier_settings({})["fraction"], earlier_settings({})["min_gap"], earlier_settings({})["scales"]
    (0.0, 10, ['extent', 'opacity'])
    """
    secret = secret or {}
    metadata_csv = secret.get("metadata_csv", info.get("metadata_csv"))
    return {
        "fraction": float(info.get("repeats", {}).get("fraction", 0.0)),
        "min_gap": int(info.get("repeats", {}).get("min_gap", 10)),
        "scales": stored_scales(info, "cohort.json") or list(DEFAULT_SCALES),
        "seed": secret.get("seed", info.get("seed", secrets.randbits(52))),
        "metadata_csv": metadata_csv if metadata_csv and Path(metadata_csv).is_file() else None,
    }


def cohort_info(name: str, settings: dict, scales: list, counts: dict[str, int], old: dict) -> dict:
    """Content of ``cohort.json`` (``created`` kept from an earlier run).

    Examples
    --------
    >>> from covsev_tools.scales import load_scale
    >>> settings = {"seed": 1, "fraction": 0.0, "min_gap": 10, "metadata_csv": None, "display_max_side": 2048}
    >>> info = cohort_info("pilot", settings, [load_scale("extent")], {"n_repeats": 0}, {})
    >>> info["name"], info["scales"], info["repeats"]
    ('pilot', ['extent'], {'fraction': 0.0, 'min_gap': 10, 'n': 0})
    """
    return {
        "schema": SCHEMA_VERSION,
        "name": name,
        "created": old.get("created") or utc_now(),
        "updated": utc_now(),
        "repeats": {"fraction": settings["fraction"], "min_gap": settings["min_gap"],
                    "n": counts["n_repeats"]},
        "scales": [s.name for s in scales],
        "scale_definitions": {s.name: s.to_dict() for s in scales},
        "display_max_side": settings["display_max_side"],
        **({"display_noise": settings["display_noise"]} if "display_noise" in settings else {}),
        "counts": counts,
    }
