"""What the severity network produces: its 18 raw outputs and 1024 pooled features, and their names.

torchxrayvision's ``densenet121-res224-all`` has one raw (pre-sigmoid) output per pathology, in
xrv's order, and a 1024-d feature vector after ReLU and global average pooling. Predictions tables
name the outputs ``xrv:<Pathology>``; mappings name the features ``feat:<i>``.

Examples
--------
>>> OUTPUT_COLUMNS[PATHOLOGIES.index("Lung Opacity")]
'xrv:Lung Opacity'
>>> len(OUTPUT_COLUMNS), N_FEATURES
(18, 1024)
"""
from __future__ import annotations

from covsev_tools.scales import builtin_scales

N_FEATURES = 1024
OUTPUT_PREFIX = "xrv:"
FEATURE_PREFIX = "feat:"
PATHOLOGIES = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema",
    "Fibrosis", "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass",
    "Hernia", "Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum",
)
OUTPUT_COLUMNS = tuple(OUTPUT_PREFIX + p for p in PATHOLOGIES)
#: Column of a predictions table holding each scale's predicted total: the scale's ``total_name``
#: (only the two-lung scales the paper's model predicts; Brixia has no published mapping).
PREDICTION_COLUMNS = {name: builtin_scales()[name].total_name for name in ("extent", "opacity")}


def feature_index(name: str) -> int:
    """Index of a ``feat:<i>`` input name in the 1024 pooled features.

    Examples
    --------
    >>> feature_index("feat:17")
    17
    """
    if not name.startswith(FEATURE_PREFIX):
        raise ValueError(f"{name!r} is not a feature name ({FEATURE_PREFIX}<i>)")
    index = int(name[len(FEATURE_PREFIX):])
    if not 0 <= index < N_FEATURES:
        raise ValueError(f"{name!r}: feature index outside 0-{N_FEATURES - 1}")
    return index
