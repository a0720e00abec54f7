"""``cohort.json``: the cohort's name, seed, settings, scale definitions and counts.

The scoring app reads this file on the rater's side, so it holds no file names (they are in
``key.csv``).

Examples
--------
>>> info = {"name": "pilot", "seed": 7, "scales": ["extent"], "repeats": {"fraction": 0.1, "min_gap": 5}}
>>> stored_scales(info, "cohort.json")  # no stored definition: left as its name
['extent']
>>> earlier_settings(info)["min_gap"]
5
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.folder import DEFAULT_SCALES, SCHEMA_VERSION, utc_now

__all__ = ["cohort_info", "earlier_settings", "read_info", "stored_scales"]


def read_info(path: Path) -> dict[str, Any]:
    """Read ``cohort.json``.

    Raises
    ------
    CohortError
        If the file cannot be read or is not JSON.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cohort.json"
    >>> _ = path.write_text("{broken")
    >>> read_info(path)
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.errors.CohortError: .../cohort.json: cannot read (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CohortError(f"{path}: cannot read ({exc})") from None


def stored_scales(info: dict, source: str | Path) -> list:
    """The scales named in ``cohort.json``: each built from its stored definition, else left as its name."""
    from covsev_tools.scales import scale_from_dict

    definitions = info.get("scale_definitions", {})
    return [scale_from_dict(definitions[n], f"{source}:{n}") if n in definitions else n
            for n in info.get("scales", [])]


def earlier_settings(info: dict) -> dict[str, Any]:
    """Settings a re-run keeps when not given again (defaults for a new cohort)."""
    metadata_csv = info.get("metadata_csv")
    return {
        "fraction": float(info.get("repeats", {}).get("fraction", 0.0)),
        "min_gap": int(info.get("repeats", {}).get("min_gap", 10)),
        "scales": stored_scales(info, "cohort.json") or list(DEFAULT_SCALES),
        "seed": info.get("seed", secrets.randbits(32)),
        "metadata_csv": metadata_csv if metadata_csv and Path(metadata_csv).is_file() else None,
    }


def cohort_info(name: str, images_dir: Path, settings: dict, scales: list, counts: dict[str, int],
                old: dict) -> dict:
    """Content of ``cohort.json`` (``created`` kept from an earlier run).

    Examples
    --------
    >>> from covsev_tools.scales import load_scale
    >>> settings = {"seed": 1, "fraction": 0.0, "min_gap": 10, "metadata_csv": None, "display_max_side": 2048}
    >>> info = cohort_info("pilot", Path("."), settings, [load_scale("extent")], {"n_repeats": 0}, {})
    >>> info["name"], info["scales"], info["repeats"]
    ('pilot', ['extent'], {'fraction': 0.0, 'min_gap': 10, 'n': 0})
    """
    metadata_csv = settings["metadata_csv"]
    return {
        "schema": SCHEMA_VERSION,
        "name": name,
        "created": old.get("created") or utc_now(),
        "updated": utc_now(),
        "source_images_dir": str(Path(images_dir).resolve()),
        "metadata_csv": str(Path(metadata_csv).resolve()) if metadata_csv else None,
        "seed": settings["seed"],
        "repeats": {"fraction": settings["fraction"], "min_gap": settings["min_gap"],
                    "n": counts["n_repeats"]},
        "scales": [s.name for s in scales],
        "scale_definitions": {s.name: s.to_dict() for s in scales},
        "display_max_side": settings["display_max_side"],
        "counts": counts,
    }
