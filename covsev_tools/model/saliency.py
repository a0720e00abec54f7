"""Gradient saliency of the severity score, as in the paper's ``predict_severity.py``.

The map is the squared gradient of the geographic extent score (clamped, as the seed computed it)
with respect to the 224 x 224 model input, blurred with a Gaussian (sigma 5, truncate 3.5), and
drawn at 50 % opacity (viridis) over the input image. Where the score is clamped (0 or 8) the
gradient, and so the map, is zero: that is the seed's behaviour too.

References
----------
Simonyan K, Vedaldi A, Zisserman A. Deep inside convolutional networks: visualising image
classification models and saliency maps. arXiv:1312.6034, 2013.
Cohen JP et al. Predicting COVID-19 Pneumonia Severity on Chest X-ray With Deep Learning. 2020.

Examples
--------
>>> import numpy as np
>>> overlay(np.zeros((4, 4)), np.eye(4)).shape
(4, 4, 3)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from covsev_tools.model.network import forward_features
from covsev_tools.model.outputs import OUTPUT_COLUMNS, feature_index

BLUR_SIGMA = 5.0
BLUR_TRUNCATE = 3.5


def severity_score(model, x, mapping, target: str = "geographic_extent"):
    """Differentiable clamped score of ``mapping`` (torch), shape (N,).

    Examples
    --------
    >>> import torch
    >>> from covsev_tools.model.mapping import paper_mapping
    >>> model = torch.nn.Module()
    >>> model.features, model.classifier = torch.nn.Identity(), torch.nn.Linear(1, 18)
    >>> _ = torch.nn.init.zeros_(model.classifier.weight), torch.nn.init.zeros_(model.classifier.bias)
    >>> severity_score(model, torch.ones(1, 1, 2, 2), paper_mapping())
    tensor([3.4137], grad_fn=<ClampBackward1>)
    """
    import torch

    feats, outs = forward_features(model, x)
    cols = [outs[:, OUTPUT_COLUMNS.index(f)] if f in OUTPUT_COLUMNS
            else feats[:, feature_index(f)] for f in mapping.features]
    spec = mapping.targets[target] if target in mapping.targets else next(iter(mapping.targets.values()))
    coef = torch.as_tensor(spec["coef"], dtype=outs.dtype, device=outs.device)
    score = torch.stack(cols, dim=1) @ coef + float(spec["intercept"])
    lo, hi = spec.get("clamp") or (-np.inf, np.inf)
    return torch.clamp(score, float(lo), float(hi))


def saliency_maps(model, x, mapping, target: str = "geographic_extent") -> np.ndarray:
    """Blurred squared input gradients of the score, one (H, W) float map per image.

    Parameters
    ----------
    model : xrv DenseNet in eval mode
    x : torch.Tensor (N, 1, H, W)
        Model inputs.
    mapping : covsev_tools.model.mapping.SeverityMapping
    target : str
        Score to explain (the seed used the geographic extent).

    Returns
    -------
    ndarray (N, H, W) float64

    Examples
    --------
    >>> import torch
    >>> from covsev_tools.model.mapping import paper_mapping
    >>> model = torch.nn.Module()
    >>> model.features, model.classifier = torch.nn.Identity(), torch.nn.Linear(1, 18)
    >>> _ = torch.nn.init.constant_(model.classifier.weight, 0.1)
    >>> saliency_maps(model, torch.ones(2, 1, 16, 16), paper_mapping()).shape
    (2, 16, 16)
    """
    import skimage.filters
    import torch

    with torch.inference_mode(False), torch.enable_grad():
        inputs = x.detach().clone().requires_grad_(True)
        # BatchNorm is in eval mode, so each image's score depends on its own input only and the
        # gradient of the batch sum is the per-image gradient.
        score = severity_score(model, inputs, mapping, target).sum()
        grads = torch.autograd.grad(score, inputs)[0][:, 0].cpu().numpy().astype(np.float64)
    return np.stack([skimage.filters.gaussian(g ** 2, sigma=(BLUR_SIGMA, BLUR_SIGMA),
                                              truncate=BLUR_TRUNCATE) for g in grads])


def _unit(a: np.ndarray) -> np.ndarray:
    span = float(a.max() - a.min()) if a.size else 0.0
    return (a - a.min()) / span if span > 0 else np.zeros_like(a, dtype=np.float64)


def overlay(image: np.ndarray, smap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGB uint8 picture: grey image with the viridis saliency map at ``alpha`` on top.

    Examples
    --------
    >>> import numpy as np
    >>> overlay(np.zeros((2, 2)), np.zeros((2, 2)))[0, 0].tolist()   # black, and viridis' 0
    [34, 1, 42]
    """
    from matplotlib import colormaps

    grey = np.repeat(_unit(image)[..., None], 3, axis=2)
    heat = colormaps["viridis"](_unit(smap))[..., :3]
    return np.round(255 * ((1 - alpha) * grey + alpha * heat)).astype(np.uint8)


def save_overlay(image: np.ndarray, smap: np.ndarray, path) -> Path:
    """Write :func:`overlay` as a PNG and return the path.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = save_overlay(np.zeros((8, 8)), np.eye(8), tempfile.mkdtemp() + "/case.saliency.png")
    >>> path.suffix
    '.png'
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(image, smap)).save(path)
    return path
