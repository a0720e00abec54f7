"""A simulated multi-rater cohort around known true scores, to exercise every report section.

The published labels of Cohen et al. 2020 are the mean of 3 raters per image; the individual
ratings were not released. The simulator takes those means as the *known truth* and draws what a
new study would record: integer per-lung scores from several raters with their own bias and noise,
hidden repeat readings, patient/visit metadata, and model predictions with the published linear
mapping's error. Everything is seeded, so a report on simulated data is reproducible.

Rater model (per lung, per scale): ``score = clip(round(truth_lung + bias_rater + u_case,rater +
e_reading), 0, max_lung)``, where ``u`` (persistent per rater and image) makes readings of the
same image by the same rater agree more than readings by two raters, as in real reader studies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from covsev_tools.files import write_csv_atomic
from covsev_tools.labels.published import PUBLISHED_COLUMNS, load_published_labels, published_labels_path
from covsev_tools.model.mapping import PUBLISHED_MAPPING
from covsev_tools.model.outputs import PATHOLOGIES, PREDICTION_COLUMNS
from covsev_tools.scales import builtin_scales

__all__ = ["LUNG_MAX", "SimulatedCohort", "SimulationSettings", "rater_settings", "simulate_cohort",
           "study_truth"]

#: Per-lung maximum of each two-lung scale the model predicts (from the scale definitions).
LUNG_MAX = {scale: max(builtin_scales()[scale].values) for scale in PREDICTION_COLUMNS}

#: Metadata columns the simulator writes (and the ratings export carries).
METADATA_COLUMNS = ("patientid", "offset", "sex", "age", "view", "site")


@dataclass
class SimulationSettings:
    """Knobs of the simulation; the defaults give a realistic 4-rater study.

    Attributes
    ----------
    raters : tuple of str
        Rater names.
    rater_bias : tuple of float
        Per-lung bias of each rater on the extent scale (opacity gets 3/4 of it).
    case_sd, reading_sd : float
        Per-lung SD of the rater-by-image effect and of the reading-to-reading noise.
    repeat_fraction : float
        Fraction of cases every rater reads a second time, hidden.
    model_sd : float
        SD of the model's error on the raw "Lung Opacity" scale (1.75 gives extent MAE ~1.1).
    model_ap_shift : float
        Extra raw-output error on AP views (portable films look worse), so subgroups differ.
    failed_predictions : int
        Cases whose prediction fails (empty scores, ``error`` set), as happens with bad files.
    not_assessable : float
        Fraction of readings marked not assessable (empty score).

    Examples
    --------
    >>> SimulationSettings().raters
    ('R1', 'R2', 'R3', 'R4')
    """

    raters: tuple = ("R1", "R2", "R3", "R4")
    rater_bias: tuple = (-0.3, 0.0, 0.15, 0.4)
    case_sd: float = 0.55
    reading_sd: float = 0.3
    repeat_fraction: float = 0.15
    model_sd: float = 1.75
    model_ap_shift: float = 0.6
    failed_predictions: int = 1
    not_assessable: float = 0.005
    extra: dict = field(default_factory=dict)


@dataclass
class SimulatedCohort:
    """A simulated study: the files a real cohort would produce, plus the truth.

    Attributes
    ----------
    ratings : DataFrame
        Ratings export format (``covsev labels export``).
    predictions : DataFrame
        Predictions CSV format (``covsev predict``).
    key : DataFrame
        Coordinator key: ``case_id, filename`` and the metadata columns.
    truth : DataFrame
        Known truth: ``case_id, filename`` and per scale the total and per-lung latent scores.
    repeats : DataFrame
        ``repeat_id, case_id`` of the hidden repeats.
    settings : SimulationSettings
    seed : int

    Examples
    --------
    >>> sorted(p.name for p in simulate_cohort(seed=0).write(getfixture("tmp_path")).iterdir())[:3]
    ['cohort.json', 'key.csv', 'predictions.csv']
    """

    ratings: pd.DataFrame
    predictions: pd.DataFrame
    key: pd.DataFrame
    truth: pd.DataFrame
    repeats: pd.DataFrame
    settings: SimulationSettings
    seed: int

    def write(self, out_dir: str | Path, name: str = "simulated") -> Path:
        """Write the cohort folder (``cohort.json``, ``key.csv``, ``repeats.csv``, ``ratings.csv``,
        ``predictions.csv``, ``truth.csv``) and return its path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        info = {"name": name, "simulated": True, "seed": self.seed,
                "scales": list(LUNG_MAX), "raters": list(self.settings.raters),
                "counts": {"cases": int(len(self.key)), "repeats": int(len(self.repeats))},
                "note": "Simulated ratings around the published means of Cohen et al. 2020"}
        (out / "cohort.json").write_text(json.dumps(info, indent=2) + "\n")
        for table, fname in ((self.key, "key.csv"), (self.repeats, "repeats.csv"),
                             (self.ratings, "ratings.csv"), (self.predictions, "predictions.csv"),
                             (self.truth, "truth.csv")):
            write_csv_atomic(table, out / fname)
        return out


def study_truth(n_cases: int, truth: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """``n_cases`` images around the published labels: their true scores, drawn in turn.

    Every published image is used once before any is used again (in a seeded order); a copy gets
    its own file name (``<name>_2.jpeg``), so a study of any size keeps the paper's case mix.

    Examples
    --------
    >>> big = study_truth(200, seed=1)
    >>> len(big), big["filename"].is_unique, big["geographic_mean"].between(0, 8).all()
    (200, True, True)
    """
    truth = load_published_labels() if truth is None else truth
    if n_cases < 1:
        raise ValueError(f"n_cases must be at least 1, not {n_cases}")
    rng = np.random.default_rng([seed, n_cases])  # apart from the study's own draws
    rounds = -(-n_cases // len(truth))
    order = np.concatenate([rng.permutation(len(truth)) for _ in range(rounds)])[:n_cases]
    out = truth.iloc[order].reset_index(drop=True)
    copy = np.arange(n_cases) // len(truth)
    names = out["filename"].astype(str)
    parts = names.str.rpartition(".")
    renamed = parts[0] + "_" + (copy + 1).astype(str) + parts[1] + parts[2]
    out["filename"] = np.where(copy == 0, names, renamed)
    return out


def rater_settings(n_raters: int, settings: SimulationSettings | None = None) -> SimulationSettings:
    """Settings with ``n_raters`` raters ``R1..RK``, biases spread evenly over the default range.

    Examples
    --------
    >>> rater_settings(3).raters, rater_settings(3).rater_bias
    (('R1', 'R2', 'R3'), (-0.3, 0.05, 0.4))
    """
    settings = settings or SimulationSettings()
    if n_raters < 1:
        raise ValueError(f"n_raters must be at least 1, not {n_raters}")
    if n_raters == len(settings.raters):
        return settings
    low, high = min(settings.rater_bias), max(settings.rater_bias)
    bias = tuple(round(float(b), 4) for b in np.linspace(low, high, n_raters)) if n_raters > 1 else (0.0,)
    return replace(settings, raters=tuple(f"R{i + 1}" for i in range(n_raters)), rater_bias=bias)


def simulate_cohort(truth: pd.DataFrame | None = None, settings: SimulationSettings | None = None,
                    seed: int = 0, *, n_cases: int | None = None,
                    n_raters: int | None = None) -> SimulatedCohort:
    """Simulate a multi-rater study around known true totals.

    Parameters
    ----------
    truth : DataFrame, optional
        ``filename, geographic_mean, opacity_mean`` (the published labels, the default).
    settings : SimulationSettings, optional
    seed : int
        Seed of every random draw; the same seed gives identical tables.
    n_cases : int, optional
        Study size: images drawn in turn from ``truth`` (see :func:`study_truth`); default: each
        image of ``truth`` once.
    n_raters : int, optional
        Number of raters (see :func:`rater_settings`); default: those of ``settings``.

    Returns
    -------
    SimulatedCohort

    Examples
    --------
    >>> sim = simulate_cohort(seed=1)
    >>> sorted(sim.ratings["rater"].unique())
    ['R1', 'R2', 'R3', 'R4']
    """
    settings = rater_settings(n_raters, settings) if n_raters else (settings or SimulationSettings())
    truth = load_published_labels() if truth is None else truth
    if n_cases is not None and n_cases != len(truth):
        truth = study_truth(n_cases, truth, seed)
    rng = np.random.default_rng(seed)
    key = _simulate_key(truth, rng)
    lungs = _split_lungs(truth, key["case_id"], rng)
    repeats = _choose_repeats(key["case_id"], settings.repeat_fraction, rng)
    ratings = _simulate_ratings(lungs, key, repeats, settings, rng)
    predictions = _simulate_predictions(lungs, key, settings, rng)
    return SimulatedCohort(ratings, predictions, key, lungs, repeats, settings, seed)


def _simulate_key(truth: pd.DataFrame, rng) -> pd.DataFrame:
    """Case IDs, patients with follow-up visits, view, sex, age, site."""
    n = len(truth)
    case_id = [f"c{v:06x}" for v in rng.choice(16 ** 6, size=n, replace=False)]
    visits = _patient_visits(n, rng)
    patients = pd.Series(visits).value_counts().sort_index()
    sex = dict(zip(patients.index, rng.choice(["M", "F"], size=len(patients), p=[0.6, 0.4])))
    age = dict(zip(patients.index, np.clip(rng.normal(58, 15, len(patients)).round(), 18, 95)))
    site = dict(zip(patients.index, rng.choice(["A", "B", "C"], size=len(patients), p=[.5, .3, .2])))
    offset = np.zeros(n, dtype=int)
    # visits are sorted by patient: each patient's images are one slice (linear in the study size;
    # one draw per patient keeps the generator's sequence, so a seed gives the same study as ever)
    start = 0
    for size in patients.to_numpy():
        offset[start:start + size] = np.concatenate([[0], np.cumsum(rng.integers(1, 8, size - 1))])
        start += size
    return pd.DataFrame({
        "case_id": case_id, "filename": truth["filename"].to_numpy(),
        "patientid": [f"P{p:03d}" for p in visits], "offset": offset,
        "sex": [sex[p] for p in visits], "age": [age[p] for p in visits],
        "view": rng.choice(["PA", "AP"], size=n, p=[0.7, 0.3]), "site": [site[p] for p in visits]})


def _patient_visits(n: int, rng) -> np.ndarray:
    """Patient number per image: about 70% of patients have one image, the rest 2-4."""
    sizes, total = [], 0
    while total < n:  # one draw per patient, a running total: linear in n
        sizes.append(int(rng.choice([1, 2, 3, 4], p=[0.7, 0.18, 0.08, 0.04])))
        total += sizes[-1]
    sizes[-1] -= total - n
    return np.repeat(np.arange(1, len(sizes) + 1), sizes)


def _split_lungs(truth: pd.DataFrame, case_id, rng) -> pd.DataFrame:
    """Split each true total into right and left lungs (same asymmetry for both scales)."""
    share = rng.beta(5, 5, size=len(truth))
    out = {"case_id": list(case_id), "filename": truth["filename"].to_numpy()}
    for column, scale in PUBLISHED_COLUMNS.items():
        total = truth[column].to_numpy(dtype=float)
        right = np.minimum(total * share, LUNG_MAX[scale])
        left = np.minimum(total - right, LUNG_MAX[scale])
        right = total - left  # what the left lung could not hold goes back to the right
        out.update({scale: total, f"{scale}_right": right, f"{scale}_left": left})
    return pd.DataFrame(out)


def _choose_repeats(case_ids: pd.Series, fraction: float, rng) -> pd.DataFrame:
    """Cases read twice, each with its own hidden display ID."""
    n = int(round(fraction * len(case_ids)))
    chosen = rng.choice(case_ids.to_numpy(), size=n, replace=False)
    ids = [f"r{v:06x}" for v in rng.choice(16 ** 6, size=n, replace=False)]
    return pd.DataFrame({"repeat_id": ids, "case_id": chosen})


def _simulate_ratings(lungs, key, repeats, settings, rng) -> pd.DataFrame:
    """Rows of the ratings export for every rater, first readings and hidden repeats."""
    frames = []
    for rater, bias in zip(settings.raters, settings.rater_bias):
        persistent = rng.normal(0, settings.case_sd, size=(len(lungs), 4))
        first = _read(lungs, bias, persistent, settings.reading_sd, rng)
        frames.append(_export_rows(first, lungs["case_id"], lungs["case_id"], False, rater))
        pos = lungs["case_id"].reset_index(drop=True).pipe(
            lambda s: pd.Series(s.index, index=s)).loc[repeats["case_id"]].to_numpy()
        again = _read(lungs.iloc[pos], bias, persistent[pos], settings.reading_sd, rng)
        frames.append(_export_rows(again, repeats["case_id"], repeats["repeat_id"], True, rater))
    ratings = pd.concat(frames, ignore_index=True)
    ratings = _mark_not_assessable(ratings, settings.not_assessable, rng)
    meta = key.set_index("case_id")
    ratings = ratings.join(meta, on="case_id")
    ratings.insert(0, "cohort", "simulated")
    return ratings


def _read(lungs, bias, persistent, reading_sd, rng) -> dict:
    """One reading by one rater: integer per-lung scores of both scales."""
    scores = {}
    for j, (scale, lung) in enumerate((s, l) for s in LUNG_MAX for l in ("right", "left")):
        scale_bias = bias if scale == "extent" else 0.75 * bias
        latent = lungs[f"{scale}_{lung}"].to_numpy() + scale_bias + persistent[:, j]
        latent = latent + rng.normal(0, reading_sd, size=len(latent))
        scores[(scale, lung)] = np.clip(np.rint(latent), 0, LUNG_MAX[scale]).astype(int)
    return scores


def _export_rows(scores: dict, case_ids, display_ids, is_repeat: bool, rater: str) -> pd.DataFrame:
    """Long export rows (right, left, total) for one reading session of one rater."""
    frames = []
    case_ids, display_ids = np.asarray(case_ids), np.asarray(display_ids)
    for scale in LUNG_MAX:
        parts = {"right": scores[(scale, "right")], "left": scores[(scale, "left")]}
        parts["total"] = parts["right"] + parts["left"]
        for component, values in parts.items():
            frames.append(pd.DataFrame({
                "case_id": case_ids, "display_id": display_ids, "is_repeat": is_repeat,
                "rater": rater, "scale": scale, "scale_version": "1", "component": component,
                "score": values.astype(float), "not_assessable": False,
                "not_assessable_reason": "", "comment": "", "session_id": f"{rater}-s1"}))
    return pd.concat(frames, ignore_index=True)


def _mark_not_assessable(ratings: pd.DataFrame, fraction: float, rng) -> pd.DataFrame:
    """Blank every component of a few readings, as a rater would for an unreadable film."""
    readings = ratings[["display_id", "rater"]].drop_duplicates()
    n = int(round(fraction * len(readings)))
    chosen = readings.sample(n=n, random_state=int(rng.integers(2 ** 31))) if n else readings.iloc[:0]
    hit = ratings.set_index(["display_id", "rater"]).index.isin(chosen.set_index(
        ["display_id", "rater"]).index)
    ratings.loc[hit, "score"] = np.nan
    ratings.loc[hit, "not_assessable"] = True
    ratings.loc[hit, "not_assessable_reason"] = "image quality"
    return ratings


def _simulate_predictions(lungs, key, settings, rng) -> pd.DataFrame:
    """Predictions CSV: raw xrv outputs and the published mapping of "Lung Opacity"."""
    slope, intercept = PUBLISHED_MAPPING["extent"]
    n = len(lungs)
    shift = np.where(key["view"].to_numpy() == "AP", settings.model_ap_shift, 0.0)
    raw = (lungs["extent"].to_numpy() - intercept) / slope + shift + rng.normal(0, settings.model_sd, n)
    out = pd.DataFrame({"case_id": lungs["case_id"], "filename": lungs["filename"]})
    for scale, column in PREDICTION_COLUMNS.items():
        a, b = PUBLISHED_MAPPING[scale]
        out[column] = np.clip(a * raw + b, 0, 2 * LUNG_MAX[scale])
    for name in PATHOLOGIES:
        out[f"xrv:{name}"] = raw if name == "Lung Opacity" else 0.4 * raw + rng.normal(-1, 1, n)
    out["error"] = ""
    failed = rng.choice(n, size=settings.failed_predictions, replace=False)
    out.loc[failed, [c for c in out.columns if c not in ("case_id", "filename", "error")]] = np.nan
    out.loc[failed, "error"] = "ImageReadError: simulated unreadable file"
    return out
