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


def null(reason: str, **extra) -> dict:
    """A statistic that cannot be computed: ``{"value": None, "reason": ...}``."""
    return {"value": None, "reason": reason, **extra}


def stat(value, ci=None, reason: str = "undefined (zero variance or 0/0)", **extra) -> dict:
    """``{"value", "ci95", **extra}`` or a null with ``reason`` when the value is not finite."""
    value = finite(value)
    if value is None:
        return null(reason)
    out = {"value": value}
    if ci is not None:
        low, high = (finite(v) for v in ci)
        out["ci95"] = [low, high] if low is not None and high is not None else None
    for key, item in extra.items():
        out[key] = clean(item)
    return out


def clean(obj):
    """Recursively convert numpy scalars/arrays to Python and NaN/inf to None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [clean(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite(obj)
    return obj
