"""The links bundled with covsev: Brixia ↔ the paper's extent and opacity, from public images.

65 images of the public COVID-19 image data collection were scored both in Cohen et al. 2020 (the
mean of 3 blinded raters: geographic extent 0-8, opacity 0-6; CC BY-SA) and in the public BrixIA
annotations (a senior and a junior radiologist: Brixia 0-18; CC BY-NC-SA 4.0). The links are
fitted on them, matched on file name, with patients resampled (several patients have follow-up
images). Only derived numbers are bundled (the link tables, parameters, bootstrap replicates and
hashed file names), never a per-image score; the attribution and licences travel in each
file. :func:`build_bundled_links` rebuilds them from ``../shared/data`` (a test checks that the
rebuilt links equal the bundled ones).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from covsev_tools.linking.inputs import LinkInputError
from covsev_tools.linking.link import link_scales
from covsev_tools.linking.storage import save_link

#: Method, resamples and seed of the bundled links (65 cases: mean-sigma, see docs/readme/linking.md).
BUNDLED_METHOD, BUNDLED_N_BOOT, BUNDLED_SEED = "mean-sigma", 2000, 0
#: Source columns of :func:`public_double_scored` and who scored them.
BRIXIA_READERS = {"brixia_senior": "BrixIA senior radiologist (S-Global)",
                  "brixia_junior": "BrixIA junior radiologist (J-Global)",
                  "brixia_mean": "mean of the BrixIA senior and junior radiologists"}
TARGETS = {"extent": "geographic_mean", "opacity": "opacity_mean"}
ATTRIBUTION = (
    "Summary statistics only (no image, no per-image score) derived from two public label sets of the "
    "COVID-19 image data collection, matched on file name: (1) the severity scores of Cohen JP et al., "
    "Predicting COVID-19 Pneumonia Severity on Chest X-ray with Deep Learning, Cureus 12(7):e9448, "
    "2020 (licence CC BY-SA); (2) the public BrixIA annotations of Signoroni A et al., BS-Net: learning "
    "COVID-19 pneumonia severity on a large chest X-ray dataset, Medical Image Analysis 71:102046, 2021 "
    "(licence CC BY-NC-SA 4.0). Cite both; respect the BrixIA annotations' non-commercial term.")


def public_double_scored(data_root) -> pd.DataFrame:
    """The images scored both in Cohen et al. 2020 and in the public BrixIA annotations.

    Columns ``filename, patientid, extent, opacity, brixia_senior, brixia_junior, brixia_mean``
    (``extent`` and ``opacity`` are the published means of 3 raters).

    Examples
    --------
    >>> public_double_scored("/nonexistent")
    Traceback (most recent call last):
    ...
    covsev_tools.linking.inputs.LinkInputError: /nonexistent/cohen2020/covid-severity-scores.csv: cannot read (no such file)
    """
    from covsev_tools.linking.commands import read_table

    root = Path(data_root)
    labels = read_table(root / "cohen2020" / "covid-severity-scores.csv")
    metadata = read_table(root / "cohen2020" / "metadata.csv")[["filename", "patientid"]]
    brixia = read_table(root / "brixia-public" / "public-annotations.csv")
    both = labels.merge(brixia, on="filename").merge(metadata, on="filename", how="left")
    if both.empty:
        raise LinkInputError(f"{root}: no image is in both label sets")
    return pd.DataFrame({
        "filename": both["filename"], "patientid": both["patientid"].astype(str),
        "extent": both["geographic_mean"], "opacity": both["opacity_mean"],
        "brixia_senior": both["S-Global"], "brixia_junior": both["J-Global"],
        "brixia_mean": (both["S-Global"] + both["J-Global"]) / 2})


def build_bundled_links(data_root, folder, *, n_boot: int = BUNDLED_N_BOOT, seed=BUNDLED_SEED) -> list[Path]:
    """Fit and write the bundled links ``brixia-{senior,junior,mean}-to-{extent,opacity}.json``.

    Examples
    --------
    >>> build_bundled_links("/nonexistent", ".")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    covsev_tools.linking.inputs.LinkInputError: /nonexistent/...: cannot read (no such file)
    """
    table = public_double_scored(data_root)
    written = []
    for source, readers in BRIXIA_READERS.items():
        for target in TARGETS:
            link = link_scales(table, source=source, target=target, method=BUNDLED_METHOD,
                               case="filename", cluster="patientid", n_boot=n_boot, seed=seed,
                               raters=f"{readers} (source); mean of the 3 raters of Cohen et al. 2020 (target)",
                               fitted_on=f"{len(table)} public images scored in both Cohen et al. 2020 "
                                         "and the BrixIA public annotations")
            name = f"{source.replace('_', '-')}-to-{target}.json"
            written.append(save_link(link, Path(folder) / name, attribution=ATTRIBUTION, digits=6))
    return written
