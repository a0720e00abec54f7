"""Severity prediction for image files: decoding workers, the network in batches, the scores table.

The predictor runs torchxrayvision's DenseNet-121 ``densenet121-res224-all`` (weights from
:mod:`~covsev_tools.model.weights`, never downloaded) with raw, pre-sigmoid outputs and maps them
to the severity scores with a :class:`~covsev_tools.model.mapping.SeverityMapping` (the paper's
by default). Images are decoded and prepared (:mod:`~covsev_tools.model.preprocess`) in worker
processes (:mod:`~covsev_tools.model.prefetch`) while the main process runs the network in batches
under ``torch.inference_mode()``.

References
----------
Cohen JP, Dao L, Roth K, et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep
Learning. Cureus 12(7): e9448, 2020. arXiv:2005.11856.

Examples
--------
>>> table = predict(["a.png", "b.dcm"], weights_dir="weights/")                # doctest: +SKIP
>>> table[["filename", "geographic_extent", "opacity", "error"]]               # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from covsev_tools.errors import CovsevError
from covsev_tools.model.allocator import reuse_large_allocations
from covsev_tools.model.mapping import SeverityMapping, paper_mapping, score_names
from covsev_tools.model.network import forward_features, inference_network
from covsev_tools.model.outputs import N_FEATURES, OUTPUT_COLUMNS, PATHOLOGIES
from covsev_tools.model.prefetch import ImagePrefetcher, batched
from covsev_tools.model.saliency import saliency_maps, save_overlay
from covsev_tools.model.weights import load_densenet

DEFAULT_WORKERS = 2


class DeviceError(CovsevError):
    """The requested torch device is not available."""


@dataclass
class PredictionRun:
    """Raw result of :meth:`Predictor.run`, rows in input order (NaN rows where ``errors`` set).

    Examples
    --------
    >>> import numpy as np
    >>> run = PredictionRun(np.zeros((1, 18)), np.zeros((1, 1024)), [""])
    >>> run.n_readable
    1
    """

    outputs: np.ndarray
    features: np.ndarray
    errors: list

    @property
    def n_readable(self) -> int:
        """Number of images that were read and predicted."""
        return sum(not e for e in self.errors)


def check_device(device: str) -> None:
    """Raise :class:`DeviceError` unless torch can run on ``device``.

    Examples
    --------
    >>> check_device("cpu")
    """
    if device == "cpu":
        return
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device cuda: no CUDA device is available (use cpu)")
    if device not in ("cpu", "cuda"):
        raise DeviceError(f"device {device!r}: use 'cpu' or 'cuda'")


class Predictor:
    """Batch severity predictor: xrv DenseNet-121, paper (or re-fitted) mapping, parallel decoding.

    Parameters
    ----------
    model : torch.nn.Module, optional
        A loaded xrv DenseNet; default :func:`~covsev_tools.model.weights.load_densenet`
        (``weights_dir``, ``device``).
    weights_dir : path, optional
        Folder with the weights file (see :func:`~covsev_tools.model.weights.find_weights`).
    mapping : SeverityMapping, optional
        Default :func:`~covsev_tools.model.mapping.paper_mapping`.
    batch_size : int
        Images per forward pass.
    workers : int, optional
        Worker processes for decoding/resizing (:class:`~covsev_tools.model.prefetch.ImagePrefetcher`);
        default 2 (0 = in the main process).
    device : str
        ``"cpu"`` or ``"cuda"``.
    threads : int, optional
        Torch intra-op threads in the main process; default torch's (one per core). Workers use
        one thread each.
    reuse_memory : bool
        On CPU, let the process reuse freed activation buffers
        (:func:`~covsev_tools.model.allocator.reuse_large_allocations`, process-wide); what it
        saves is measured by ``benchmarks/predict_speed.py`` (``docs/readme/model.md``).

    Examples
    --------
    >>> predictor = Predictor(weights_dir="weights/")            # doctest: +SKIP
    >>> table = predictor.predict(["a.png"])                     # doctest: +SKIP
    """

    def __init__(self, model=None, *, weights_dir=None, mapping: SeverityMapping | None = None,
                 batch_size: int = 16, workers: int | None = None, device: str = "cpu",
                 threads: int | None = None, reuse_memory: bool = True):
        import torch

        check_device(device)
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
        self.workers = DEFAULT_WORKERS if workers is None else max(0, int(workers))

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

        Examples
        --------
        >>> run = Predictor(weights_dir="weights/").run(["a.png"], progress=False)  # doctest: +SKIP
        >>> run.outputs.shape, run.features.shape                                   # doctest: +SKIP
        ((1, 18), (1, 1024))
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

        Examples
        --------
        >>> predictor = Predictor(weights_dir="weights/", workers=0)                 # doctest: +SKIP
        >>> table, features = predictor.predict(["a.png"], return_features=True)   # doctest: +SKIP
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

    Examples
    --------
    >>> import numpy as np
    >>> from covsev_tools.model.mapping import paper_mapping
    >>> outputs = np.full((2, 18), np.nan, np.float32)
    >>> outputs[0] = 0.0
    >>> run = PredictionRun(outputs, np.zeros((2, 1024)), ["", "ImageReadError: truncated"])
    >>> predictions_table(run, ["a.png", "b.png"], paper_mapping())[["filename", "opacity", "error"]]
      filename   opacity                      error
    0    a.png  2.553598
    1    b.png       NaN  ImageReadError: truncated
    """
    import pandas as pd

    table = pd.DataFrame({"filename": list(filenames)})
    scores = mapping.apply(run.outputs, run.features if mapping.needs_features else None)
    for name in dict.fromkeys((*score_names(), *scores)):
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
    workers = DEFAULT_WORKERS if workers is None else workers
    images = ImagePrefetcher(paths, workers)  # workers start decoding while the model loads
    try:
        predictor = Predictor(weights_dir=weights_dir, mapping=mapping, batch_size=batch_size,
                              workers=workers, device=device)
    except BaseException:
        images.close()
        raise
    return predictor.predict(paths, filenames=filenames, names=names, saliency_dir=saliency_dir,
                             progress=progress, return_features=return_features, images=images)
