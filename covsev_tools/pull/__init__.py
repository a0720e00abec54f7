"""Pulling a cohort's chest X-rays from a PACS (DICOMweb or DIMSE), de-identified on the way in.

The stage before ``cohort``: ``covsev pull`` fills a coordinator-only folder with de-identified
frontal CR/DX images, their metadata, a link table and a provenance record; ``covsev cohort create``
blinds its ``images/`` folder.

Examples
--------
>>> from covsev_tools.pull import pull
>>> summary = pull("https://pacs.example.org/dicom-web", "site1", studies_csv="studies.csv")  # doctest: +SKIP
>>> basic_profile_actions()["PatientName"]
'Z'
"""
from covsev_tools.pull.errors import PullError
from covsev_tools.pull.folder import LINK_COLUMNS, METADATA_COLUMNS, PullFolder, read_link_table, read_provenance
from covsev_tools.pull.profile import (PROFILE_DESCRIPTION, basic_profile_actions, deidentify, pseudonym,
                                       remaining_identifiers)
from covsev_tools.pull.provenance import find_pull_record, provenance_sentence
from covsev_tools.pull.run import open_source, pull
from covsev_tools.pull.summary import PullSummary

__all__ = ["LINK_COLUMNS", "METADATA_COLUMNS", "PROFILE_DESCRIPTION", "PullError", "PullFolder", "PullSummary",
           "basic_profile_actions", "deidentify", "find_pull_record", "open_source", "provenance_sentence", "pull",
           "pseudonym", "read_link_table", "read_provenance", "remaining_identifiers"]
