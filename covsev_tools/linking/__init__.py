"""Linking severity scales: Brixia, RALE or any scale to the paper's extent and opacity.

:func:`link_scales` fits a link on cases scored on both scales (mean-sigma, linear regression or
equipercentile with optional log-linear presmoothing; Kolen & Brennan 2014) and returns a
:class:`ScaleLink`: the linked value at every source score with its bootstrap SE and interval,
the leave-one-out error, the provenance, :meth:`ScaleLink.apply`. :func:`save_link` and
:func:`load_link` write and read it as JSON checked against one schema; :func:`bundled_link`
opens the links fitted on the public images scored on both the paper's scales and Brixia.

Methods and the JSON schema: docs/readme/linking.md.
"""
from covsev_tools.linking.inputs import MIN_CASES, LinkInputError
from covsev_tools.linking.link import ScaleLink, link_scales
from covsev_tools.linking.storage import bundled_links, load_link, open_link, save_link

__all__ = ["MIN_CASES", "LinkInputError", "ScaleLink", "bundled_links", "link_scales", "load_link",
           "open_link", "save_link"]
