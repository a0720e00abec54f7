"""From the network's outputs to severity scores: a linear map clamped to each score's scale.

The paper's map (Cohen et al. 2020) uses the raw Lung Opacity output ``x``: geographic extent
``0.8705248236656189 x + 3.4137437`` and opacity ``0.5484423041343689 x + 2.5535977``, each clamped
to its scale's range. The scales (their totals' names and ranges) come from
:mod:`covsev_tools.scales`; a re-fitted :class:`SeverityMapping` (see
:mod:`covsev_tools.model.refit`) can replace the coefficients.

References
----------
Cohen JP, Dao L, Roth K, et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep
Learning. Cureus 12(7): e9448, 2020. arXiv:2005.11856.

Examples
--------
>>> import numpy as np
>>> outputs = np.zeros((1, 18))
>>> paper_mapping().apply(outputs)
{'geographic_extent': array([3.4137437]), 'opacity': array([2.5535977])}
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from covsev_tools.errors import CovsevError
from covsev_tools.files import write_text_atomic
from covsev_tools.model.outputs import FEATURE_PREFIX, OUTPUT_COLUMNS, OUTPUT_PREFIX, feature_index
from covsev_tools.scales import Scale, load_scale

#: The scales the paper's model predicts; each total is one score of a predictions table.
PAPER_SCALES = ("extent", "opacity")


class MappingError(CovsevError, ValueError):
    """A mapping file is unreadable or malformed (message names the file and the problem)."""


def target_scales() -> dict[str, Scale]:
    """The scales of the model's scores, by score name (the scale's total name).

    Examples
    --------
    >>> {name: scale.max_total for name, scale in target_scales().items()}
    {'geographic_extent': 8, 'opacity': 6}
    """
    scales = (load_scale(name) for name in PAPER_SCALES)
    return {scale.total_name: scale for scale in scales}


def score_names() -> tuple[str, ...]:
    """Names of the score columns of a predictions table, in order.

    Examples
    --------
    >>> score_names()
    ('geographic_extent', 'opacity')
    """
    return tuple(target_scales())


def score_range(target: str) -> tuple[float, float] | None:
    """``(lowest, highest)`` total of the score's scale, or None for a score with no known scale.

    Examples
    --------
    >>> score_range("opacity")
    (0.0, 6.0)
    >>> score_range("brixia_global") is None
    True
    """
    scale = target_scales().get(target)
    return None if scale is None else (float(scale.min_total), float(scale.max_total))


def describe_target(target: str) -> str:
    """One-line description of a score's scale, stored with a mapping.

    Examples
    --------
    >>> describe_target("geographic_extent")
    'Geographic extent total, 0-8 (sum of Right lung, Left lung, each 0-4)'
    """
    scale = target_scales().get(target)
    if scale is None:
        return target
    parts = ", ".join(c.label for c in scale.components)
    return (f"{scale.title} total, {scale.min_total}-{scale.max_total} "
            f"(sum of {parts}, each {min(scale.values)}-{max(scale.values)})")


@dataclass
class SeverityMapping:
    """Linear map from model outputs/features to severity scores, clamped to each scale.

    Parameters
    ----------
    features : list of str
        Input names: ``"xrv:<Pathology>"`` raw outputs or ``"feat:<i>"`` pooled features.
    targets : dict
        ``{score_name: {"coef": [...], "intercept": float, "clamp": [lo, hi]}}``.
    target_scale : dict
        Human description of each target's scale.
    n_train : int or None
        Number of training images.
    provenance : dict
        Where the coefficients come from (paper, or refit settings and data).

    Examples
    --------
    >>> import numpy as np
    >>> m = SeverityMapping(["xrv:Pneumonia"], {"opacity": {"coef": [2.0], "intercept": 1.0,
    ...                                                     "clamp": [0, 6]}})
    >>> m.apply(np.full((2, 18), 4.0))["opacity"]
    array([6., 6.])
    """

    features: list
    targets: dict
    target_scale: dict = field(default_factory=dict)
    n_train: int | None = None
    provenance: dict = field(default_factory=dict)
    kind: str = "linear"

    def apply(self, outputs: np.ndarray, features: np.ndarray | None = None) -> dict:
        """Return ``{target: scores}`` for raw outputs (N, 18) and optional features (N, 1024).

        Examples
        --------
        >>> outputs = np.zeros((2, 18))
        >>> outputs[:, OUTPUT_COLUMNS.index("xrv:Lung Opacity")] = [-10, 10]
        >>> paper_mapping().apply(outputs)["geographic_extent"]
        array([0., 8.])
        """
        X = self.design(outputs, features)
        scores = {}
        for name, spec in self.targets.items():
            raw = X @ np.asarray(spec["coef"], dtype=np.float64) + float(spec["intercept"])
            lo, hi = spec.get("clamp") or (-np.inf, np.inf)
            scores[name] = np.clip(raw, lo, hi)
        return scores

    def design(self, outputs: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Columns of the inputs named in :attr:`features`, as float64 (N, k).

        Examples
        --------
        >>> m = SeverityMapping(["xrv:Edema", "feat:2"], {})
        >>> m.design(np.ones((1, 18)), np.arange(1024.0)[None]).tolist()
        [[1.0, 2.0]]
        """
        # Select the columns first and convert once: converting the whole (N, 1024) array per
        # column made a features mapping quadratic in the number of inputs.
        outputs = np.asarray(outputs)
        cols = []
        for name in self.features:
            if name.startswith(OUTPUT_PREFIX):
                cols.append(outputs[:, OUTPUT_COLUMNS.index(name)])
            elif name.startswith(FEATURE_PREFIX):
                if features is None:
                    raise ValueError(f"mapping input {name} needs the 1024-d features")
                cols.append(np.asarray(features)[:, feature_index(name)])
            else:
                raise ValueError(f"unknown mapping input {name!r}")
        if not cols:
            return np.empty((len(outputs), 0))
        return np.column_stack(cols).astype(np.float64)

    @property
    def needs_features(self) -> bool:
        """True when an input is one of the 1024 pooled features."""
        return any(f.startswith(FEATURE_PREFIX) for f in self.features)

    def to_dict(self) -> dict:
        """Plain-data form, as saved (``schema`` 1)."""
        return {"schema": 1, "kind": self.kind, "features": list(self.features),
                "targets": self.targets, "target_scale": self.target_scale,
                "n_train": self.n_train, "provenance": self.provenance}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the mapping as plain JSON (atomically).

        Examples
        --------
        >>> import tempfile
        >>> path = paper_mapping().save(tempfile.mkdtemp() + "/paper.json")
        >>> SeverityMapping.load(path) == paper_mapping()
        True
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SeverityMapping":
        """Read a mapping JSON; :class:`MappingError` naming the file and the problem when malformed.

        Examples
        --------
        >>> SeverityMapping.load("missing.json")
        Traceback (most recent call last):
        ...
        covsev_tools.model.mapping.MappingError: missing.json: not a valid severity mapping (...)
        """
        try:
            data = json.loads(Path(path).read_text())
            mapping = cls(features=list(data["features"]), targets=dict(data["targets"]),
                          target_scale=data.get("target_scale", {}), n_train=data.get("n_train"),
                          provenance=data.get("provenance", {}), kind=data.get("kind", "linear"))
            for name, spec in mapping.targets.items():
                if len(spec["coef"]) != len(mapping.features):
                    raise ValueError(f"target {name}: {len(spec['coef'])} coefficients for "
                                     f"{len(mapping.features)} features")
                float(spec["intercept"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MappingError(f"{path}: not a valid severity mapping ({exc})") from exc
        if mapping.kind != "linear":
            raise MappingError(f"{path}: unsupported mapping kind {mapping.kind!r}")
        return mapping


#: The paper's map per scale, ``(slope, intercept)`` on the raw "Lung Opacity" output.
PUBLISHED_MAPPING = {"extent": (0.8705248236656189, 3.4137437), "opacity": (0.5484423041343689, 2.5535977)}


def paper_mapping() -> SeverityMapping:
    """The coefficients published with the paper (Lung Opacity raw output, all 94 images).

    Examples
    --------
    >>> m = paper_mapping()
    >>> m.features, m.targets["geographic_extent"]["clamp"]
    (['xrv:Lung Opacity'], [0.0, 8.0])
    """
    published = {load_scale(scale).total_name: line for scale, line in PUBLISHED_MAPPING.items()}
    targets = {name: {"coef": [coef], "intercept": intercept, "clamp": list(score_range(name))}
               for name, (coef, intercept) in published.items()}
    return SeverityMapping(
        features=[OUTPUT_PREFIX + "Lung Opacity"], targets=targets,
        target_scale={name: describe_target(name) for name in targets}, n_train=94,
        provenance={"source": "Cohen et al. 2020, Cureus 12(7):e9448; torchxrayvision "
                              "scripts/covid-severity/predict_severity.py"})
