"""Small helpers building the JSON-ready result dictionaries (no NaN ever leaves this package)."""
from __future__ import annotations

import math

import numpy as np


def finite(value) -> float | None:
    """A Python float, or None for NaN/inf/None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def undefined_result(reason: str, **extra) -> dict:
    """A statistic that cannot be computed: ``{"value": None, "reason": ...}``."""
    return {"value": None, "reason": reason, **extra}


def result_entry(value, ci=None, reason: str = "undefined (zero variance or 0/0)", **extra) -> dict:
    """``{"value", "ci95", **extra}`` (the documented JSON entry of ``covsev agreement``), or an
    :func:`undefined_result` with ``reason`` when the value is not finite."""
    value = finite(value)
    if value is None:
        return undefined_result(reason)
    out = {"value": value}
    if ci is not None:
        low, high = (finite(v) for v in ci)
        out["ci95"] = [low, high] if low is not None and high is not None else None
    for key, item in extra.items():
        out[key] = json_safe(item)
    return out


def json_safe(obj):
    """Recursively convert numpy scalars/arrays to Python and NaN/inf to None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite(obj)
    return obj


def tidy_entry(entry: dict) -> dict:
    """One entry of a result dictionary as tidy columns: ``estimate, ci_low, ci_high, n, method``.

    NaN for a missing value or bound; ``method`` is the interval's method, else the reason the
    statistic is undefined.

    Examples
    --------
    >>> tidy_entry({"value": 0.5, "ci95": [0.1, 0.8], "n": 10, "ci_method": "bootstrap percentile"})
    {'estimate': 0.5, 'ci_low': 0.1, 'ci_high': 0.8, 'n': 10, 'method': 'bootstrap percentile'}
    """
    ci = entry.get("ci95") or (None, None)
    as_float = lambda v: math.nan if v is None else float(v)  # noqa: E731
    return {"estimate": as_float(entry.get("value")), "ci_low": as_float(ci[0]),
            "ci_high": as_float(ci[1]), "n": entry.get("n"),
            "method": entry.get("ci_method") or entry.get("reason") or ""}


#: Leading columns of every tidy result, in this order.
FRAME_COLUMNS = ["estimate", "ci_low", "ci_high", "n", "method"]


def to_frame(entries: dict, confidence: float, **columns):
    """Tidy result table: one row per estimate, indexed by ``statistic``.

    ``entries`` maps a row name to a result dict of this package (``{"value", "ci95", "n",
    "ci_method", ...}`` or a null with ``reason``); ``columns`` are constant columns added to every
    row (e.g. the raters of a pair). The confidence level is in ``attrs["confidence"]``; the
    interval columns are ``ci_low`` and ``ci_high`` whatever the level.
    """
    import pandas as pd

    rows = []
    for entry in entries.values():
        ci = entry.get("ci95") or (None, None)
        row = {"estimate": entry.get("value"), "ci_low": ci[0], "ci_high": ci[1],
               "n": entry.get("n"), "method": entry.get("ci_method"), **columns}
        row.update({k: v for k, v in entry.items() if k not in ("value", "ci95", "n", "ci_method")})
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index(list(entries), name="statistic"))
    for name in ("estimate", "ci_low", "ci_high"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    if frame["n"].notna().all():
        frame["n"] = frame["n"].astype(int)
    frame.attrs["confidence"] = confidence
    return frame
