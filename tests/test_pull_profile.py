"""De-identification against every element of DICOM PS3.15 Table E.1-1 (no server needed; ``-k pull``)."""
from __future__ import annotations

import copy

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from covsev_tools.pull import basic_profile_actions, deidentify, pseudonym, remaining_identifiers
from covsev_tools.pull.profile import basic_profile_table

KEY = bytes(range(32))
_VALUES = {"DA": "19800101", "DT": "19800101120000", "TM": "120000", "UI": "1.2.826.0.1.3680043.10.77.{n}",
           "PN": "Person^{n}", "AS": "042Y", "DS": "70.5", "IS": "7", "US": 7, "SS": -7, "UL": 7, "SL": -7,
           "FL": 1.5, "FD": 1.5, "AT": 0x00100010, "CS": "SECRET{n}", "SH": "SECRET{n}", "LO": "SECRET {n}",
           "ST": "SECRET text {n}", "LT": "SECRET long text {n}", "UT": "SECRET unlimited {n}", "AE": "SECRETAE",
           "UC": "SECRET {n}", "UR": "http://secret.example/{n}", "OB": b"SECRETBYTES", "UN": b"SECRETBYTES"}


def _every_profile_element() -> Dataset:
    """A dataset holding every keyword of Table E.1-1 whose VR can hold a simple value (sequences get one item)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for n, row in enumerate(basic_profile_table()):
        keyword = row["keyword"]
        if not keyword or int(row["tag"][:4], 16) in (0x0000, 0x0002, 0xFFFA, 0xFFFC):
            continue
        vr = dictionary_VR(int(row["tag"], 16)).split(" or ")[0]
        if vr == "SQ":
            item = Dataset()
            item.PatientName, item.ReferencedSOPInstanceUID = f"Inner^{n}", f"1.2.826.0.1.3680043.10.88.{n}"
            setattr(ds, keyword, [item])
        elif vr in _VALUES:
            value = _VALUES[vr]
            setattr(ds, keyword, value.format(n=n) if isinstance(value, str) else value)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.PatientID, ds.StudyDate = "MRN-77", "20200314"
    ds.add_new(0x00110010, "LO", "ACME")
    ds.add_new(0x00111001, "LO", "PRIVATE SECRET")
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 8)  # an overlay plane can carry text
    return ds


def test_pull_profile_every_table_element_is_removed_emptied_or_replaced():
    original = _every_profile_element()
    present = [e.keyword for e in original if e.keyword in basic_profile_actions()]
    assert len(present) > 450  # nearly all of Table E.1-1's ~620 rows
    ds = copy.deepcopy(original)
    deidentify(ds, KEY)
    assert remaining_identifiers(ds, original) == []
    actions = basic_profile_actions()
    for keyword in present:
        action, before = actions[keyword], original[keyword]
        after = ds.get(keyword)
        if action == "X":
            assert keyword not in ds, keyword
        elif action == "K":
            assert after == before.value, keyword
        elif action == "Z" and keyword not in ("PatientID", "PatientName"):
            assert after in (None, "", []) or keyword == "PatientName", keyword
        elif action in ("D", "U", "C") and before.VR != "SQ":
            assert after != before.value, keyword
        elif before.VR == "SQ" and after:
            for item in after:
                assert str(item.get("PatientName", "")) != str(before.value[0].PatientName)
                assert item.get("ReferencedSOPInstanceUID") != before.value[0].ReferencedSOPInstanceUID
    assert not any(e.tag.is_private for e in ds.iterall()) and 0x60003000 not in ds
    assert ds.PatientSex == original.PatientSex and ds.PatientAge == original.PatientAge  # option kept
    assert ds.PatientWeight == original.PatientWeight and ds.EthnicGroup == original.EthnicGroup
    assert "Allergies" not in ds  # the option's free text "clean" cannot be done safely: removed


def test_pull_profile_is_consistent_for_a_key_and_differs_between_keys():
    def study(uid_suffix, date):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.PatientID, ds.PatientName = "MRN-1", "Doe^Jane"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.5.{uid_suffix}"
        ds.SeriesInstanceUID, ds.SOPInstanceUID = ds.StudyInstanceUID + ".1", ds.StudyInstanceUID + ".1.1"
        ds.StudyDate, ds.StudyTime = date, "235000"
        return ds

    first, second, again = study(1, "20200314"), study(2, "20200324"), study(1, "20200314")
    links = [deidentify(ds, KEY) for ds in (first, second, again)]
    assert links[0]["new_patient_id"] == links[1]["new_patient_id"] == pseudonym("MRN-1", KEY)
    assert links[0]["new_study_uid"] != links[1]["new_study_uid"]
    assert links[0] == links[2] and first.StudyDate == again.StudyDate  # same key, same answer
    import datetime as dt

    days = lambda d: dt.date(int(d[:4]), int(d[4:6]), int(d[6:]))
    assert (days(second.StudyDate) - days(first.StudyDate)).days == 10
    other = study(1, "20200314")
    assert deidentify(other, bytes(32))["new_study_uid"] != links[0]["new_study_uid"]


@pytest.mark.parametrize("text, message", [
    ("StudyInstanceUID\n1.2.03\n", "row 2: '1.2.03' is not a DICOM UID"),
    ("Patient\nx\n", "needs a StudyInstanceUID or an AccessionNumber column"),
    ("AccessionNumber\nA1;DROP\n", "row 2: accession number 'A1;DROP'"),
    ("StudyInstanceUID\n\n", "no study listed"),
])
def test_pull_study_list_errors_name_file_and_row(tmp_path, text, message):
    from covsev_tools.pull import PullError
    from covsev_tools.pull.studies import read_studies

    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(PullError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_studies(path)
