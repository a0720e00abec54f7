"""Severity prediction with torchxrayvision's DenseNet-121 (Cohen et al. 2020), offline weights.

The predictor runs ``xrv.models.DenseNet(weights="densenet121-res224-all")`` with
``op_threshs = None`` (raw, pre-sigmoid outputs) and maps the Lung Opacity output ``x`` to the
paper's scores: geographic extent ``0.8705248236656189 x + 3.4137437`` clamped to 0-8 and opacity
``0.5484423041343689 x + 2.5535977`` clamped to 0-6. A re-fitted linear :class:`SeverityMapping`
(see :mod:`covsev_tools.model.refit`) can replace those coefficients.

Weights are never downloaded here: :func:`load_densenet` looks for xrv's file under its standard
name in ``weights_dir`` (``--weights-dir``, ``$COVSEV_WEIGHTS_DIR``, else xrv's own cache
``~/.torchxrayvision/models_data/``) and raises :class:`WeightsNotFoundError` naming the file, its
URL and the folder when it is absent, so nothing can hang on a network that is not there.

Images are decoded and prepared (:mod:`covsev_tools.model.preprocess`) in worker processes
while the main process runs the network in batches under ``torch.inference_mode()``.

References
----------
Cohen JP, Dao L, Roth K, et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep
Learning. Cureus 12(7): e9448, 2020. arXiv:2005.11856.

Examples
--------
>>> from covsev_tools.model.predictor import predict                       # doctest: +SKIP
>>> table = predict(["a.png", "b.dcm"], weights_dir="weights/")  # doctest: +SKIP
>>> table[["filename", "geographic_extent", "opacity", "error"]]  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from covsev_tools.files import write_csv_atomic, write_text_atomic

WEIGHTS_NAME = "densenet121-res224-all"
WEIGHTS_ENV = "COVSEV_WEIGHTS_DIR"
N_FEATURES = 1024
OUTPUT_PREFIX = "xrv:"
FEATURE_PREFIX = "feat:"
PATHOLOGIES = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema",
    "Fibrosis", "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass",
    "Hernia", "Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum",
)
OUTPUT_COLUMNS = tuple(OUTPUT_PREFIX + p for p in PATHOLOGIES)
SCORE_COLUMNS = ("geographic_extent", "opacity")


class WeightsNotFoundError(FileNotFoundError):
    """The xrv weights file is not in the weights folder (message: file, URL, folder)."""


class WeightsLoadError(RuntimeError):
    """The weights file exists but torch/xrv could not load it."""


# ----------------------------------------------------------------------------- weights

def weights_url(name: str = WEIGHTS_NAME) -> str:
    """URL of the xrv weights file (``xrv.models.model_urls[name]["weights_url"]``)."""
    from torchxrayvision.models import model_urls

    return model_urls[name]["weights_url"]


def weights_filename(name: str = WEIGHTS_NAME) -> str:
    """Standard file name xrv looks for in its ``cache_dir``: the basename of the URL."""
    return os.path.basename(weights_url(name))


def default_weights_dir() -> Path:
    """``$COVSEV_WEIGHTS_DIR`` when set, else torchxrayvision's cache folder."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    from torchxrayvision.utils import get_cache_dir

    return Path(get_cache_dir())


def find_weights(weights_dir: str | os.PathLike | None = None, name: str = WEIGHTS_NAME) -> Path:
    """Return the weights file path, or raise :class:`WeightsNotFoundError` with instructions.

    Parameters
    ----------
    weights_dir : path, optional
        Folder holding the file (xrv's ``cache_dir``); default :func:`default_weights_dir`.
    name : str
        xrv weights name.
    """
    folder = Path(weights_dir).expanduser() if weights_dir else default_weights_dir()
    path = folder / weights_filename(name)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"model weights file {weights_filename(name)} not found in {folder}; download "
            f"{weights_url(name)} and put it in {folder} (or pass --weights-dir / set "
            f"{WEIGHTS_ENV} to the folder that holds it)")
    return path


def load_densenet(weights_dir: str | os.PathLike | None = None, device: str = "cpu"):
    """Load xrv's DenseNet-121 ``densenet121-res224-all`` from a local file, raw outputs.

    Uses xrv's own loading (``DenseNet(weights=..., cache_dir=weights_dir)``), after checking that
    the file is there so xrv never starts a download.

    Parameters
    ----------
    weights_dir : path, optional
        Folder holding the weights file under its standard name.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    torchxrayvision.models.DenseNet
        In eval mode with ``op_threshs = None``.
    """
    import torchxrayvision as xrv

    path = find_weights(weights_dir)
    try:
        model = xrv.models.DenseNet(weights=WEIGHTS_NAME, cache_dir=str(path.parent))
    except Exception as exc:  # xrv re-raises whatever torch.load/load_state_dict raised
        raise WeightsLoadError(f"could not load weights file {path}: {exc}") from exc
    model.op_threshs = None
    return model.eval().to(device)


# ----------------------------------------------------------------------------- mapping

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
    """

    features: list
    targets: dict
    target_scale: dict = field(default_factory=dict)
    n_train: int | None = None
    provenance: dict = field(default_factory=dict)
    kind: str = "linear"

    def apply(self, outputs: np.ndarray, features: np.ndarray | None = None) -> dict:
        """Return ``{target: scores}`` for raw outputs (N, 18) and optional features (N, 1024)."""
        X = self.design(outputs, features)
        scores = {}
        for name, spec in self.targets.items():
            raw = X @ np.asarray(spec["coef"], dtype=np.float64) + float(spec["intercept"])
            lo, hi = spec.get("clamp") or (-np.inf, np.inf)
            scores[name] = np.clip(raw, lo, hi)
        return scores

    def design(self, outputs: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Columns of the inputs named in :attr:`features`, as float64 (N, k)."""
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
                cols.append(np.asarray(features)[:, int(name[len(FEATURE_PREFIX):])])
            else:
                raise ValueError(f"unknown mapping input {name!r}")
        if not cols:
            return np.empty((len(outputs), 0))
        return np.column_stack(cols).astype(np.float64)

    @property
    def needs_features(self) -> bool:
        return any(f.startswith(FEATURE_PREFIX) for f in self.features)

    def to_dict(self) -> dict:
        return {"schema": 1, "kind": self.kind, "features": list(self.features),
                "targets": self.targets, "target_scale": self.target_scale,
                "n_train": self.n_train, "provenance": self.provenance}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the mapping as plain JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SeverityMapping":
        """Read a mapping JSON; ``ValueError`` naming the file and the problem when malformed."""
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
            raise ValueError(f"{path}: not a valid severity mapping ({exc})") from exc
        if mapping.kind != "linear":
            raise ValueError(f"{path}: unsupported mapping kind {mapping.kind!r}")
        return mapping


SCALES = {"geographic_extent": "geographic extent total, 0-8 (per lung 0-4)",
          "opacity": "opacity total, 0-6 (per lung 0-3)"}
CLAMPS = {"geographic_extent": (0.0, 8.0), "opacity": (0.0, 6.0)}


def paper_mapping() -> SeverityMapping:
    """The coefficients published with the paper (Lung Opacity raw output, all 94 images)."""
    return SeverityMapping(
        features=[OUTPUT_PREFIX + "Lung Opacity"],
        targets={"geographic_extent": {"coef": [0.8705248236656189], "intercept": 3.4137437,
                                       "clamp": list(CLAMPS["geographic_extent"])},
                 "opacity": {"coef": [0.5484423041343689], "intercept": 2.5535977,
                             "clamp": list(CLAMPS["opacity"])}},
        target_scale=dict(SCALES), n_train=94,
        provenance={"source": "Cohen et al. 2020, Cureus 12(7):e9448; torchxrayvision "
                              "scripts/covid-severity/predict_severity.py"})


# ----------------------------------------------------------------------------- data loading

ITEM_TIMEOUT_S = 300.0  # a decoder that dies or hangs on one file must not stall the whole run
WORKER_NICE = 10


def load_item(index: int, path: str):
    """Read and prepare one image; ``(index, (1, 224, 224) float32 or None, error text)``.

    Never raises: an unreadable file gives ``None`` and the reason, so it becomes an error row.
    """
    try:
        from covsev_tools.images.reader import read_xray
        from covsev_tools.model.preprocess import prepare_image

        xray = read_xray(path)
        return index, prepare_image(xray.array, xray.max_value), ""
    except Exception as exc:  # one bad file must never stop the run
        return index, None, f"{type(exc).__name__}: {exc}"


def _worker_init() -> None:
    # Decoding workers forked after a Predictor turned on reuse_large_allocations would each keep
    # up to its 256 MiB of slack: give them glibc's usual limits back.
    _set_allocator(**GLIBC_STEADY_STATE)
    # Each worker prepares one image at a time; extra BLAS/OpenCV/torch threads would only fight
    # the network's threads for the same cores.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        # Lower priority: the network's threads run first; decoding fills the gaps, and the
        # whole start-up (imports, weights) while the main process uses a single core.
        os.nice(WORKER_NICE)
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(1)


class ImagePrefetcher:
    """Decode and prepare images in worker processes, yielding results in input order.

    Create it *before* importing torch and loading the model: the workers are forked at once
    and start decoding while the main process is still starting up. At most ``window`` images
    are in flight, so memory stays bounded on large folders.

    Parameters
    ----------
    paths : sequence of path
    workers : int
        Worker processes (0: prepare in the calling process, lazily).
    window : int
        Maximum number of images submitted but not yet consumed.

    Examples
    --------
    >>> with ImagePrefetcher(["a.png", "b.png"], workers=2) as images:   # doctest: +SKIP
    ...     for index, array, error in images:
    ...         pass
    """

    def __init__(self, paths: Sequence[str], workers: int = 2, window: int = 256):
        self.paths = [str(p) for p in paths]
        self.workers = max(0, min(int(workers), len(self.paths)))
        self.window = max(1, int(window))
        self._pool = None
        self._pending = deque()
        self._submitted = 0
        if self.workers:
            import multiprocessing as mp

            method = "fork" if "fork" in mp.get_all_start_methods() else None
            self._pool = mp.get_context(method).Pool(self.workers, initializer=_worker_init)
            self._fill()

    def _fill(self) -> None:
        while self._submitted < len(self.paths) and len(self._pending) < self.window:
            i = self._submitted
            self._pending.append((i, self._pool.apply_async(load_item, (i, self.paths[i]))))
            self._submitted += 1

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def busy(self) -> bool:
        """True while the workers still have images to decode."""
        if self._pool is None:
            return False
        return self._submitted < len(self.paths) or not all(r.ready() for _, r in self._pending)

    def __iter__(self):
        if self._pool is None:
            for i, path in enumerate(self.paths):
                yield load_item(i, path)
            return
        while self._pending:
            i, result = self._pending.popleft()
            try:
                item = result.get(timeout=ITEM_TIMEOUT_S)
            except Exception as exc:  # worker killed or timed out on this file
                item = (i, None, f"{type(exc).__name__}: worker failed on this file ({exc})")
            self._fill()
            yield item

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def batched(items, size: int):
    """Group an iterable into lists of at most ``size`` items."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ----------------------------------------------------------------------------- memory

# glibc <malloc.h> parameters
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
LARGE_BLOCKS_FROM_HEAP = 1 << 30  # serve blocks up to 1 GiB from the heap, not from mmap
HEAP_SLACK = 256 << 20            # and keep up to 256 MiB freed at its top for the next batch
# glibc's own limits once its dynamic thresholds have adapted: mmap above 32 MiB, trim above 64 MiB
GLIBC_STEADY_STATE = {"mmap_threshold": 32 << 20, "top_pad": 128 << 10, "trim_threshold": 64 << 20}


def reuse_large_allocations() -> bool:
    """Let the C allocator reuse freed activation buffers instead of unmapping them.

    Each forward pass allocates and frees activations of 10-50 MB (batch of 16). Above glibc's
    mmap threshold (at most 32 MB by default) every such block is a fresh ``mmap`` whose pages
    the kernel zeroes on first touch, about 120,000 page faults per batch: a third of the
    forward's time on a 2-core machine. Serving large blocks from the heap and keeping up to
    256 MiB of free memory at its top removes them (measured: 37 -> 60 images/s, system time
    1.7 s -> 0.01 s over 8 batches). PyTorch's CPU tuning guide reaches the same effect by
    preloading jemalloc or tcmalloc.

    The setting is process-wide (it also applies to numpy and other allocations) and keeps the
    process's memory at its peak plus at most 256 MiB. Where the C library has no ``mallopt``
    (macOS, Windows, musl's is a no-op) nothing changes.

    Returns
    -------
    bool
        True when both settings were accepted.
    """
    # older glibc refuses thresholds above 32 MiB; that still covers most activation blocks
    return (_set_allocator(LARGE_BLOCKS_FROM_HEAP, HEAP_SLACK)
            or _set_allocator(GLIBC_STEADY_STATE["mmap_threshold"], HEAP_SLACK))


def _set_allocator(mmap_threshold: int, top_pad: int, trim_threshold: int | None = None) -> bool:
    """glibc ``mallopt`` of the mmap threshold and the heap's top pad (and trim threshold).

    False where the C library has no ``mallopt`` or refuses a value.
    """
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = [(M_MMAP_THRESHOLD, mmap_threshold), (M_TOP_PAD, top_pad)]
    if trim_threshold is not None:
        settings.append((M_TRIM_THRESHOLD, trim_threshold))
    return all(mallopt(param, value) for param, value in settings)


# ----------------------------------------------------------------------------- prediction

def forward_features(model, x):
    """Pooled features (ReLU then global average pooling) and raw outputs of an xrv DenseNet.

    Same computation as ``model.features2`` and ``model(x)`` with ``op_threshs = None``, in one
    pass and without xrv's per-call resolution/normalisation checks (which print to stdout).

    Returns
    -------
    features : torch.Tensor (N, 1024)
    outputs : torch.Tensor (N, 18)
    """
    import torch.nn.functional as F

    maps = F.relu(model.features(x))
    pooled = F.adaptive_avg_pool2d(maps, (1, 1)).flatten(1)
    return pooled, model.classifier(pooled)


def inference_network(model):
    """The network :class:`Predictor` runs: ``model`` with BatchNorms folded into convolutions.

    In every DenseNet layer ``norm2`` directly follows ``conv1`` (and ``norm0`` follows
    ``conv0``); in eval mode each is an affine map per channel, so torch.fx's ``fuse`` folds it
    into the convolution's weights and bias. That removes 59 of the network's 121 BatchNorm passes:
    about 10-30 % faster on CPU, with the same outputs to float rounding (relative differences
    ~3e-7; tested against the unfused model). The result is in channels-last layout, which
    oneDNN's CPU convolutions prefer. The network is a copy in eval mode: ``model`` itself is not
    modified. A model torch.fx cannot trace is copied unfused, with a warning.

    Parameters
    ----------
    model : torchxrayvision.models.DenseNet
        In eval mode.

    Returns
    -------
    torch.nn.ModuleDict
        With ``features`` (the fused feature extractor) and ``classifier``, as
        :func:`forward_features` expects.
    """
    import copy
    import warnings

    import torch
    from torch.fx.experimental.optimization import fuse

    network = torch.nn.ModuleDict({"features": model.features, "classifier": model.classifier})
    network = copy.deepcopy(network).eval()  # folding needs eval-mode BatchNorm statistics
    try:
        network.features = fuse(network.features, inplace=True)
    except Exception as exc:  # noqa: BLE001  a custom model fx cannot trace: run it unfused
        warnings.warn(f"running the model without BatchNorm folding ({type(exc).__name__}: {exc})",
                      RuntimeWarning, stacklevel=2)
    return network.to(memory_format=torch.channels_last)


@dataclass
class PredictionRun:
    """Raw result of :meth:`Predictor.run`, rows in input order (NaN rows where ``errors`` set)."""

    outputs: np.ndarray
    features: np.ndarray
    errors: list


class Predictor:
    """Batch severity predictor: xrv DenseNet-121, paper (or re-fitted) mapping, parallel decoding.

    Parameters
    ----------
    model : torch.nn.Module, optional
        A loaded xrv DenseNet; default :func:`load_densenet` (``weights_dir``, ``device``).
    weights_dir : path, optional
        Folder with the weights file (see :func:`find_weights`).
    mapping : SeverityMapping, optional
        Default :func:`paper_mapping`.
    batch_size : int
        Images per forward pass.
    workers : int, optional
        Worker processes for decoding/resizing (:class:`ImagePrefetcher`); default 2
        (0 = in the main process).
    device : str
        ``"cpu"`` or ``"cuda"``.
    threads : int, optional
        Torch intra-op threads in the main process; default torch's (one per core). Workers use
        one thread each.
    reuse_memory : bool
        On CPU, let the process reuse freed activation buffers (:func:`reuse_large_allocations`,
        process-wide); about 1.6x faster forward passes on Linux.

    Examples
    --------
    >>> predictor = Predictor(weights_dir="weights/")            # doctest: +SKIP
    >>> table = predictor.predict(["a.png"])                     # doctest: +SKIP
    """

    def __init__(self, model=None, *, weights_dir=None, mapping: SeverityMapping | None = None,
                 batch_size: int = 16, workers: int | None = None, device: str = "cpu",
                 threads: int | None = None, reuse_memory: bool = True):
        import torch

        if reuse_memory and device == "cpu":
            reuse_large_allocations()
        if threads is not None:  # default: torch's own choice (one thread per core)
            torch.set_num_threads(max(1, int(threads)))
        self._threads = torch.get_num_threads()
        self.device = device
        self.model = model if model is not None else load_densenet(weights_dir, device=device)
        self.network = inference_network(self.model)
        self.mapping = mapping or paper_mapping()
        self.batch_size = max(1, int(batch_size))
        self.workers = 2 if workers is None else max(0, int(workers))

    def run(self, paths: Sequence[str], *, names: Sequence[str] | None = None,
            saliency_dir: str | os.PathLike | None = None, progress: bool = True,
            images: ImagePrefetcher | None = None) -> PredictionRun:
        """Predict raw outputs and pooled features for each path.

        Parameters
        ----------
        paths : sequence of path
            Image files (PNG/JPEG/DICOM/... as read by :func:`covsev_tools.images.reader.read_xray`).
        names : sequence of str, optional
            Names for the saliency files (default the file names).
        saliency_dir : path, optional
            Write ``<name>.saliency.png`` per readable image there.
        progress : bool
            Show a tqdm bar on stderr.
        images : ImagePrefetcher, optional
            An already started prefetcher over ``paths`` (started before the model was loaded).
        """
        from tqdm.auto import tqdm

        n = len(paths)
        outputs = np.full((n, len(PATHOLOGIES)), np.nan, dtype=np.float32)
        features = np.full((n, N_FEATURES), np.nan, dtype=np.float32)
        errors = [""] * n
        names = list(names) if names is not None else [Path(p).name for p in paths]
        images = images if images is not None else ImagePrefetcher(paths, self.workers)
        with images, tqdm(total=n, desc="predict", unit="img", disable=not progress or n == 0) as bar:
            try:
                for items in batched(images, self.batch_size):
                    self._share_cores(images)
                    self._predict_batch(items, names, saliency_dir, outputs, features, errors)
                    bar.update(len(items))
            finally:
                self._restore_threads()
        return PredictionRun(outputs, features, errors)

    def _predict_batch(self, items, names, saliency_dir, outputs, features, errors) -> None:
        """Fill the rows of one batch of ``(index, array or None, error)`` items in place."""
        for i, _, err in items:
            errors[i] = err
        good = [i for i, x, _ in items if x is not None]
        if good:
            arrays = [x for _, x, _ in items if x is not None]
            feats, outs = self._forward(arrays, [names[i] for i in good], saliency_dir)
            outputs[good], features[good] = outs, feats

    def _share_cores(self, images: ImagePrefetcher) -> None:
        """Leave the workers their cores while they decode; take them all back afterwards.

        One network thread per core scales poorly on small machines (2 threads ~1.5x one), so
        while decoding is pending it is cheaper overall to run the network on the cores the
        workers do not need.
        """
        import torch

        wanted = max(1, self._threads - images.workers) if images.busy else self._threads
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    def _restore_threads(self) -> None:
        import torch

        if torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads)

    def _forward(self, arrays, names, saliency_dir):
        import torch

        batch = torch.from_numpy(np.stack(arrays)).to(self.device)
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            feats, outs = forward_features(self.network, batch)
        if saliency_dir is not None:
            self._write_saliency(batch, names, saliency_dir)
        return feats.float().cpu().numpy(), outs.float().cpu().numpy()

    def _write_saliency(self, batch, names, saliency_dir) -> None:
        from covsev_tools.model.saliency import saliency_maps, save_overlay

        maps = saliency_maps(self.network, batch, self.mapping)
        images = batch[:, 0].detach().cpu().numpy()
        for name, image, smap in zip(names, images, maps):
            save_overlay(image, smap, Path(saliency_dir) / f"{name}.saliency.png")

    def predict(self, paths: Sequence[str], *, filenames: Sequence[str] | None = None,
                names: Sequence[str] | None = None, saliency_dir=None, progress: bool = True,
                return_features: bool = False, images: ImagePrefetcher | None = None):
        """Predictions table (see :func:`predictions_table`), optionally with the features array.

        ``filenames`` fill the ``filename`` column (default the file names); ``names`` name the
        saliency PNGs (default the file names); other parameters as in :meth:`run`.
        """
        filenames = list(filenames) if filenames is not None else [Path(p).name for p in paths]
        run = self.run(paths, names=names or filenames, saliency_dir=saliency_dir,
                       progress=progress, images=images)
        table = predictions_table(run, filenames, self.mapping)
        return (table, run.features) if return_features else table


def predictions_table(run: PredictionRun, filenames: Sequence[str], mapping: SeverityMapping):
    """The predictions CSV table: filename, scores, ``xrv:<Pathology>`` x 18, error.

    Parameters
    ----------
    run : PredictionRun
    filenames : sequence of str
    mapping : SeverityMapping
        Scores are NaN for error rows and for a score the mapping does not define.
    """
    import pandas as pd

    table = pd.DataFrame({"filename": list(filenames)})
    scores = mapping.apply(run.outputs, run.features if mapping.needs_features else None)
    for name in dict.fromkeys((*SCORE_COLUMNS, *scores)):
        table[name] = scores.get(name, np.full(len(table), np.nan))
    for j, col in enumerate(OUTPUT_COLUMNS):
        table[col] = run.outputs[:, j].astype(np.float64)
    table["error"] = run.errors
    return table


def predict(paths: Sequence[str], *, weights_dir=None, mapping: SeverityMapping | None = None,
            batch_size: int = 16, workers: int | None = None, device: str = "cpu",
            saliency_dir=None, progress: bool = True, return_features: bool = False,
            filenames: Sequence[str] | None = None, names: Sequence[str] | None = None):
    """Predict severity for image files; one row per file, errors as rows (never raised).

    Parameters
    ----------
    paths : sequence of path
    weights_dir, mapping, batch_size, workers, device
        See :class:`Predictor`.
    saliency_dir : path, optional
        Folder for per-image saliency PNGs.
    progress : bool
        tqdm bar on stderr.
    return_features : bool
        Also return the (N, 1024) float32 features (NaN rows for errors).
    filenames, names : sequence of str, optional
        ``filename`` column values and saliency file names (default the file names).

    Returns
    -------
    pandas.DataFrame or (DataFrame, ndarray)

    Examples
    --------
    >>> table = predict(["a.png"], weights_dir="weights/")   # doctest: +SKIP
    """
    workers = 2 if workers is None else workers
    images = ImagePrefetcher(paths, workers)  # workers start decoding while the model loads
    try:
        predictor = Predictor(weights_dir=weights_dir, mapping=mapping, batch_size=batch_size,
                              workers=workers, device=device)
    except BaseException:
        images.close()
        raise
    return predictor.predict(paths, filenames=filenames, names=names, saliency_dir=saliency_dir,
                             progress=progress, return_features=return_features, images=images)


def cohort_inputs(cohort_dir) -> tuple[list[str], list[str], list[str]]:
    """Original image paths, file names and case IDs of a cohort's readable unique cases.

    Reads the coordinator key (``key.csv``); duplicates and unreadable files are left out.
    Raises ``covsev_tools.cohort.cohort.CohortError`` for a folder that is not a cohort.
    """
    from covsev_tools.cohort.cohort import Cohort

    key = Cohort.load(cohort_dir).key()
    cases = key[(key["status"] == "ok") & (key["case_id"] != "")]
    return list(cases["path"]), list(cases["filename"]), list(cases["case_id"])


def predict_cohort(cohort_dir, *, save: bool = True, return_features: bool = False, **kwargs):
    """Predict every case of a cohort; rows keyed by ``case_id`` (``filename`` kept).

    Parameters
    ----------
    cohort_dir : path
        Cohort folder (see :mod:`covsev_tools.cohort.cohort`).
    save : bool
        Also write ``<cohort_dir>/predictions.csv`` for the validation step.
    return_features : bool
        Also return the (N, 1024) features.
    **kwargs
        Passed to :func:`predict` (``weights_dir``, ``mapping``, ``batch_size``, ...).

    Examples
    --------
    >>> table = predict_cohort("cohorts/pilot", weights_dir="weights/")  # doctest: +SKIP
    """
    paths, filenames, case_ids = cohort_inputs(cohort_dir)
    table, features = predict(paths, filenames=filenames, names=case_ids, return_features=True,
                              **kwargs)
    table.insert(0, "case_id", case_ids)
    if save:
        write_csv_atomic(table, Path(cohort_dir) / "predictions.csv")
    return (table, features) if return_features else table
