"""The network the predictor runs: xrv's DenseNet with BatchNorms folded, features and outputs in one pass.

Examples
--------
>>> import torch
>>> model = torch.nn.Module()
>>> model.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
>>> model.classifier = torch.nn.Linear(4, 18)
>>> feats, outs = forward_features(inference_network(model.eval()), torch.zeros(2, 1, 8, 8))
>>> tuple(feats.shape), tuple(outs.shape)
((2, 4), (2, 18))
"""
from __future__ import annotations


def forward_features(model, x):
    """Pooled features (ReLU then global average pooling) and raw outputs of an xrv DenseNet.

    Same computation as ``model.features2`` and ``model(x)`` with ``op_threshs = None``, in one
    pass and without xrv's per-call resolution/normalisation checks (which print to stdout).

    Parameters
    ----------
    model : torch.nn.Module
        With ``features`` (convolutional part) and ``classifier`` (linear head).
    x : torch.Tensor (N, 1, H, W)

    Returns
    -------
    features : torch.Tensor (N, C)
        1024 channels for DenseNet-121.
    outputs : torch.Tensor (N, 18)

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Module()
    >>> model.features, model.classifier = torch.nn.Identity(), torch.nn.Linear(1, 18)
    >>> feats, outs = forward_features(model, -torch.ones(3, 1, 4, 4))
    >>> feats.flatten().tolist()   # ReLU before pooling
    [0.0, 0.0, 0.0]
    """
    import torch.nn.functional as F

    maps = F.relu(model.features(x))
    pooled = F.adaptive_avg_pool2d(maps, (1, 1)).flatten(1)
    return pooled, model.classifier(pooled)


def inference_network(model):
    """``model`` with BatchNorms folded into convolutions, as :class:`~covsev_tools.model.predictor.Predictor` runs it.

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
        Or any module with ``features`` and ``classifier``.

    Returns
    -------
    torch.nn.ModuleDict
        With ``features`` (the fused feature extractor) and ``classifier``, as
        :func:`forward_features` expects.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Module()
    >>> model.features = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    >>> model.classifier = torch.nn.Linear(2, 18)
    >>> network = inference_network(model)
    >>> any(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())
    False
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
