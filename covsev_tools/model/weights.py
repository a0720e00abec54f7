"""The model's weights: torchxrayvision's own file, found offline and loaded with xrv's loader.

Weights are never downloaded here: :func:`load_densenet` looks for xrv's file under its standard
name in ``weights_dir`` (``--weights-dir``, ``$COVSEV_WEIGHTS_DIR``, else xrv's own cache
``~/.torchxrayvision/models_data/``) and raises :class:`WeightsNotFoundError` naming the file, its
URL and the folder when it is absent, so nothing can hang on a network that is not there.

Examples
--------
>>> weights_filename().endswith("-best.pt")
True
"""
from __future__ import annotations

import os
from pathlib import Path

from covsev_tools.errors import CovsevError

WEIGHTS_NAME = "densenet121-res224-all"
WEIGHTS_ENV = "COVSEV_WEIGHTS_DIR"


class WeightsNotFoundError(CovsevError, FileNotFoundError):
    """The xrv weights file is not in the weights folder (message: file, URL, folder)."""


class WeightsLoadError(CovsevError, RuntimeError):
    """The weights file exists but torch/xrv could not load it."""


def weights_url(name: str = WEIGHTS_NAME) -> str:
    """URL of the xrv weights file (``xrv.models.model_urls[name]["weights_url"]``).

    Examples
    --------
    >>> weights_url().startswith("https://github.com/mlmed/torchxrayvision/releases/")
    True
    """
    from torchxrayvision.models import model_urls

    return model_urls[name]["weights_url"]


def weights_filename(name: str = WEIGHTS_NAME) -> str:
    """Standard file name xrv looks for in its ``cache_dir``: the basename of the URL.

    Examples
    --------
    >>> weights_url().endswith("/" + weights_filename())
    True
    """
    return os.path.basename(weights_url(name))


def default_weights_dir() -> Path:
    """``$COVSEV_WEIGHTS_DIR`` when set, else torchxrayvision's cache folder.

    Examples
    --------
    >>> import os
    >>> os.environ["COVSEV_WEIGHTS_DIR"] = "/data/weights"
    >>> default_weights_dir()
    PosixPath('/data/weights')
    >>> del os.environ["COVSEV_WEIGHTS_DIR"]
    """
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

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as empty:
    ...     find_weights(empty)
    Traceback (most recent call last):
    ...
    covsev_tools.model.weights.WeightsNotFoundError: model weights file nih-pc-chex-...pt not found in ...
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

    Examples
    --------
    >>> model = load_densenet("~/covsev-weights")   # doctest: +SKIP
    >>> model.op_threshs is None, model.training      # doctest: +SKIP
    (True, False)
    """
    import torchxrayvision as xrv

    path = find_weights(weights_dir)
    try:
        model = xrv.models.DenseNet(weights=WEIGHTS_NAME, cache_dir=str(path.parent))
    except Exception as exc:  # xrv re-raises whatever torch.load/load_state_dict raised
        raise WeightsLoadError(f"could not load weights file {path}: {_one_line(exc)}") from exc
    model.op_threshs = None
    return model.eval().to(device)


def _one_line(exc: BaseException) -> str:
    # torch's unpickling errors span several lines; the command prints one
    return " ".join(str(exc).split())
