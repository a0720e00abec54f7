"""Decoding and preparing images in worker processes while the main process runs the network.

Examples
--------
>>> [len(batch) for batch in batched(range(5), 2)]
[2, 2, 1]
"""
from __future__ import annotations

import os
import sys
from collections import deque
from typing import Sequence

from covsev_tools.model.allocator import restore_default_allocator

ITEM_TIMEOUT_S = 300.0  # a decoder that dies or hangs on one file must not stall the whole run
WORKER_NICE = 10


def load_item(index: int, path: str):
    """Read and prepare one image; ``(index, (1, 224, 224) float32 or None, error text)``.

    Never raises: an unreadable file gives ``None`` and the reason, so it becomes an error row.

    Examples
    --------
    >>> index, array, error = load_item(3, "no-such-file.png")
    >>> index, array, error.split(":")[0]
    (3, None, 'ImageReadError')
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
    restore_default_allocator()
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
    and decode while the main process starts up.

    Parameters
    ----------
    paths : sequence of path
    workers : int
        Worker processes (0: prepare in the calling process, lazily).
    window : int
        Maximum number of images submitted but not yet consumed.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.full((300, 260), 90, np.uint8)).save(folder / "a.png")
    >>> with ImagePrefetcher([folder / "a.png", folder / "gone.png"], workers=0) as images:
    ...     [(i, None if x is None else x.shape, e[:14]) for i, x, e in images]
    [(0, (1, 224, 224), ''), (1, None, 'ImageReadError')]
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
    """Group an iterable into lists of at most ``size`` items.

    Examples
    --------
    >>> list(batched("abcde", 2))
    [['a', 'b'], ['c', 'd'], ['e']]
    """
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
