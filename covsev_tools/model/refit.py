"""Re-fitting severity regressors on a labelled cohort, evaluated with patient-grouped splits.

This reproduces the paper's comparison of inputs to a linear severity regressor: (a) the Lung
Opacity output alone, (b) the four outputs Lung Opacity, Pneumonia, Infiltration and Consolidation,
(c) all 18 outputs and (d) the 1024-d pooled features, each with ordinary least squares and a ridge
regression (standardised inputs, penalty chosen by efficient leave-one-out inside the training
part). Evaluation repeats a patient-grouped K-fold (``GroupKFold(shuffle=True)``) or random
patient-grouped splits (``GroupShuffleSplit``) so that no patient is on both sides, and reports
MAE, RMSE, Pearson r and R^2 with their spread over repeats in a tidy table.

:func:`seed_protocol` is the seed notebook's protocol: OLS on the raw Lung Opacity output over 50
random 50/50 patient-grouped splits (seeds 0-49), PA images only, unclamped predictions.

A model fitted on all rows is exported as a plain-JSON :class:`~covsev_tools.model.mapping.SeverityMapping`
that ``covsev predict --mapping`` applies.

References
----------
Cohen JP et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep Learning. Cureus
12(7):e9448, 2020 (arXiv:2005.11856), section "Results" and the torchxrayvision notebook
``scripts/covid-severity/xray_covid_eval.ipynb``.

The data come from :func:`covsev_tools.model.refit_data.join_refit_data`.

Examples
--------
>>> from covsev_tools.model.refit_data import join_refit_data
>>> data = join_refit_data("predictions.csv", "covid-severity-scores.csv", "metadata.csv")  # doctest: +SKIP
>>> table = compare_regressors(data, targets=["geographic_extent"])                          # doctest: +SKIP
>>> fit_mapping(data, "lung_opacity", "linear").save("mapping.json")                         # doctest: +SKIP
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from covsev_tools.model.mapping import SeverityMapping, describe_target, score_names, score_range
from covsev_tools.model.refit_data import FEATURE_SETS, RefitData, input_names

MODELS = ("linear", "ridge")
METRICS = ("mae", "rmse", "pearson_r", "r2")
RIDGE_ALPHAS = np.logspace(-3, 5, 17)


# ----------------------------------------------------------------------------- models and splits

def make_model(name: str):
    """A scikit-learn regressor: ``"linear"`` (OLS) or ``"ridge"`` (scaled, RidgeCV penalty).

    Examples
    --------
    >>> make_model("ridge")
    Pipeline(steps=[('standardscaler', StandardScaler()), ('ridgecv', RidgeCV(...))])
    """
    from sklearn.linear_model import LinearRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "linear":
        return LinearRegression()
    if name == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


def linear_coefficients(model) -> tuple[np.ndarray, float]:
    """Coefficients and intercept on the raw inputs of a fitted :func:`make_model` regressor.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10.0)[:, None]
    >>> coef, intercept = linear_coefficients(make_model("linear").fit(X, 2 * X[:, 0] + 1))
    >>> coef.round(6).tolist(), round(intercept, 6)
    ([2.0], 1.0)
    """
    if hasattr(model, "steps"):
        scaler, reg = model.steps[0][1], model.steps[-1][1]
        coef = reg.coef_ / scaler.scale_
        return coef, float(reg.intercept_ - np.dot(coef, scaler.mean_))
    return np.asarray(model.coef_, dtype=np.float64), float(model.intercept_)


def grouped_splits(groups, scheme: str = "kfold", n_splits: int = 5, n_repeats: int = 10,
                   test_size: float = 0.5, seed: int = 0):
    """Patient-grouped train/test splits: list of ``(repeat, train_idx, test_idx)``.

    ``"kfold"``: ``n_repeats`` x ``GroupKFold(n_splits, shuffle=True, random_state=seed + r)``;
    ``"shuffle"``: ``n_repeats`` x one ``GroupShuffleSplit(test_size, random_state=seed + r)``.
    No group is ever on both sides of a split.

    Examples
    --------
    >>> groups = [0, 0, 1, 1, 2, 2, 3, 3]
    >>> splits = grouped_splits(groups, "kfold", n_splits=2, n_repeats=1)
    >>> [(r, len(train), len(test)) for r, train, test in splits]
    [(0, 4, 4), (0, 4, 4)]
    """
    from sklearn.model_selection import GroupKFold, GroupShuffleSplit

    groups = np.asarray(groups)
    X = np.zeros((len(groups), 1))
    out = []
    for r in range(n_repeats):
        if scheme == "kfold":
            cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        elif scheme == "shuffle":
            cv = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed + r)
        else:
            raise ValueError(f"unknown scheme {scheme!r}; use 'kfold' or 'shuffle'")
        out += [(r, train, test) for train, test in cv.split(X, groups=groups)]
    return out


def metrics(y_true, y_pred) -> dict:
    """MAE, RMSE, Pearson r and R^2 of predictions.

    Examples
    --------
    >>> {k: round(v, 3) for k, v in metrics([1, 2, 3, 4], [1, 2, 3, 5]).items()}
    {'mae': 0.25, 'rmse': 0.5, 'pearson_r': 0.983, 'r2': 0.8}
    """
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    r = pearsonr(y_true, y_pred)[0] if np.ptp(y_pred) > 0 and np.ptp(y_true) > 0 else np.nan
    return {"mae": mean_absolute_error(y_true, y_pred),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "pearson_r": float(r), "r2": r2_score(y_true, y_pred)}


def evaluate(X, y, groups, model: str = "linear", *, scheme: str = "kfold", n_splits: int = 5,
             n_repeats: int = 10, test_size: float = 0.5, seed: int = 0,
             clamp: tuple | None = None) -> list[dict]:
    """Per-repeat metrics of a regressor under patient-grouped splits.

    With ``"kfold"`` the out-of-fold predictions of one repeat are pooled before scoring; with
    ``"shuffle"`` each split's test half is scored. ``clamp`` clips predictions to the scale.

    Returns
    -------
    list of dict
        ``{"repeat": r, "mae": ..., "rmse": ..., "pearson_r": ..., "r2": ..., "n_test": ...}``

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(0, 1, 20)[:, None]
    >>> rows = evaluate(X, 3 * X[:, 0], np.arange(20) // 2, n_splits=5, n_repeats=2)
    >>> [(row["repeat"], row["n_test"], round(row["mae"], 9)) for row in rows]
    [(0, 20, 0.0), (1, 20, 0.0)]
    """
    y = np.asarray(y, dtype=float)
    pooled: dict[int, tuple[list, list]] = {}
    for r, train, test in grouped_splits(groups, scheme, n_splits, n_repeats, test_size, seed):
        fitted = make_model(model).fit(X[train], y[train])
        pred = fitted.predict(X[test])
        if clamp is not None:
            pred = np.clip(pred, *clamp)
        idx, values = pooled.setdefault(r, ([], []))
        idx.extend(test)
        values.extend(pred)
    rows = []
    for r, (idx, values) in sorted(pooled.items()):
        rows.append({"repeat": r, **metrics(y[idx], values), "n_test": len(idx)})
    return rows


def _labelled(data: RefitData, target: str) -> tuple[RefitData, np.ndarray]:
    """The rows labelled for ``target`` and their labels."""
    y = data.table[target].to_numpy(dtype=float)
    ok = ~np.isnan(y)
    return data.subset(ok), y[ok]


def _summarise(rows: list[dict], info: dict) -> list[dict]:
    out = []
    for metric in METRICS:
        values = np.array([row[metric] for row in rows], dtype=float)
        values = values[~np.isnan(values)]  # r is undefined when a split predicts a constant
        out.append({**info, "metric": metric,
                    "mean": values.mean() if len(values) else np.nan,
                    "sd": values.std(ddof=1) if len(values) > 1 else np.nan,
                    "min": values.min() if len(values) else np.nan,
                    "max": values.max() if len(values) else np.nan, "n_repeats": len(rows)})
    return out


# ----------------------------------------------------------------------------- comparisons

def compare_regressors(data: RefitData, targets: Sequence[str] | None = None,
                       feature_sets: Sequence[str] | None = None, models: Sequence[str] = MODELS, *,
                       scheme: str = "kfold", n_splits: int = 5, n_repeats: int = 10,
                       test_size: float = 0.5, seed: int = 0, clamp: bool = True):
    """Tidy table comparing feature sets and models under the same grouped splits.

    Parameters
    ----------
    data : RefitData
    targets : sequence of str
        Label columns (``geographic_extent``, ``opacity``).
    feature_sets : sequence of str, optional
        Names from :data:`FEATURE_SETS`; default all those available (``features_1024`` only with
        features).
    models : sequence of str
        ``"linear"`` and/or ``"ridge"``.
    scheme, n_splits, n_repeats, test_size, seed
        See :func:`grouped_splits`.
    clamp : bool
        Clip predictions to each target's scale (as :func:`~covsev_tools.model.predictor.predict` does).

    Returns
    -------
    pandas.DataFrame
        Columns ``target, features, model, scheme, n_images, n_patients, metric, mean, sd, min,
        max, n_repeats``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from covsev_tools.model.refit_data import RefitData
    >>> x = np.linspace(-2, 2, 40)
    >>> data = RefitData(pd.DataFrame({"xrv:Lung Opacity": x, "geographic_extent": 0.87 * x + 3.41,
    ...                                "group": np.arange(40) // 2}), None, "patientid")
    >>> table = compare_regressors(data, ["geographic_extent"], ["lung_opacity"], ["linear"], n_repeats=2)
    >>> table[["features", "model", "n_images", "n_patients", "metric", "n_repeats"]].head(2)
           features   model  n_images  n_patients metric  n_repeats
    0  lung_opacity  linear        40          20    mae          2
    1  lung_opacity  linear        40          20   rmse          2
    """
    import pandas as pd

    targets = score_names() if targets is None else targets

    if feature_sets is None:
        feature_sets = [f for f in FEATURE_SETS if f != "features_1024" or data.features is not None]
    rows = []
    for target in targets:
        sub, y = _labelled(data, target)
        for fset in feature_sets:
            X = sub.design(fset)
            for model in models:
                per_repeat = evaluate(X, y, sub.table["group"], model, scheme=scheme,
                                      n_splits=n_splits, n_repeats=n_repeats, test_size=test_size,
                                      seed=seed, clamp=score_range(target) if clamp else None)
                info = {"target": target, "features": fset, "model": model, "scheme": scheme,
                        "n_images": len(y), "n_patients": sub.table["group"].nunique()}
                rows += _summarise(per_repeat, info)
    return pd.DataFrame(rows)


def seed_protocol(data: RefitData, targets: Sequence[str] | None = None,
                  n_seeds: int = 50, views: Sequence[str] | None = ("PA",)):
    """The seed notebook's protocol: OLS on raw Lung Opacity, 50 grouped 50/50 splits (seeds 0-49).

    Only images whose ``view`` is in ``views`` are used (all when the column is absent or
    ``views`` is None); predictions are not clamped, as in the notebook.

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`compare_regressors`, ``scheme`` = ``"seed_notebook"``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from covsev_tools.model.refit_data import RefitData
    >>> x = np.linspace(-2, 2, 40)
    >>> data = RefitData(pd.DataFrame({"xrv:Lung Opacity": x, "geographic_extent": 0.87 * x + 3.41,
    ...                                "group": np.arange(40) // 2}), None, "patientid")
    >>> table = seed_protocol(data, ["geographic_extent"]).set_index("metric")
    >>> int(table.loc["mae", "n_repeats"]), round(table.loc["mae", "mean"], 9)
    (50, 0.0)
    """
    import pandas as pd

    targets = score_names() if targets is None else targets

    if views is not None and "view" in data.table.columns:
        data = data.subset(data.table["view"].isin(list(views)).to_numpy())
    rows = []
    for target in targets:
        sub, y = _labelled(data, target)
        per_seed = evaluate(sub.design("lung_opacity"), y, sub.table["group"], "linear",
                            scheme="shuffle", n_repeats=n_seeds, test_size=0.5, seed=0)
        info = {"target": target, "features": "lung_opacity", "model": "linear",
                "scheme": "seed_notebook", "n_images": len(y),
                "n_patients": sub.table["group"].nunique()}
        rows += _summarise(per_seed, info)
    return pd.DataFrame(rows)


def fit_mapping(data: RefitData, feature_set: str = "lung_opacity", model: str = "linear",
                targets: Sequence[str] | None = None,
                provenance: dict | None = None) -> SeverityMapping:
    """Fit ``model`` on all labelled rows and return it as a linear :class:`SeverityMapping`.

    Each score is clamped to its scale's range (from :mod:`covsev_tools.scales`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from covsev_tools.model.refit_data import RefitData
    >>> x = np.linspace(-2, 2, 40)
    >>> data = RefitData(pd.DataFrame({"xrv:Lung Opacity": x, "geographic_extent": 0.87 * x + 3.41,
    ...                                "group": np.arange(40) // 2}), None, "patientid")
    >>> spec = fit_mapping(data, "lung_opacity", "linear", ["geographic_extent"]).targets["geographic_extent"]
    >>> round(spec["coef"][0], 6), round(spec["intercept"], 6), spec["clamp"]
    (0.87, 3.41, [0.0, 8.0])
    """
    targets = score_names() if targets is None else targets
    names = input_names(feature_set)
    specs, n_train = {}, {}
    for target in targets:
        sub, y = _labelled(data, target)
        coef, intercept = linear_coefficients(make_model(model).fit(sub.design(feature_set), y))
        specs[target] = {"coef": [float(c) for c in coef], "intercept": intercept,
                         "clamp": _clamp(target)}
        n_train[target] = len(y)
    prov = {"method": f"{model} regression on {feature_set}", "library": "scikit-learn",
            "group_col": data.group_col, "n_patients": int(data.table["group"].nunique()),
            **(provenance or {})}
    return SeverityMapping(features=list(names), targets=specs,
                           target_scale={t: describe_target(t) for t in targets},
                           n_train=max(n_train.values()) if n_train else 0, provenance=prov)


def _clamp(target: str) -> list | None:
    lo_hi = score_range(target)
    return None if lo_hi is None else list(lo_hi)
