"""A real Orthanc PACS for the pull tests, and the identifiable test DICOMs loaded into it.

Orthanc (Debian packages ``orthanc`` and ``orthanc-dicomweb``) runs with its own JSON configuration
in a temporary folder: HTTP (REST and DICOMweb) and DICOM on free ports, HTTP for this machine only
(``RemoteAccessAllowed: false``, basic auth), and DICOM services (find, get, move, store) only for
the registered test modality from 127.0.0.1 (Orthanc 1.10 cannot bind DICOM to one address). It
runs in its own process group and is stopped by the group.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "coordinator", "s3cret-pw"
CLIENT_AET, STORE_AET = "COVSEVTEST", "COVSEVSTORE"
SHARED_DICOM = ("siim-pneumothorax-sample.dcm", "Fake_MONOHR1.dcm")

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """One Orthanc process: ``url`` (REST), ``dicomweb`` (DICOMweb root), ``dicom_port``, ``store_port``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.http_port, self.dicom_port, self.store_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb = f"{self.url}/dicom-web"
        self.dimse = f"dimse://ORTHANC@127.0.0.1:{self.dicom_port}"
        config = {
            "Name": "covsev-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
            "Plugins": [str(DICOMWEB_PLUGIN)], "HttpPort": self.http_port, "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC", "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD}, "DicomCheckCalledAet": True, "DicomCheckModalityHost": True,
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": False, "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False, "DicomAlwaysAllowMove": False,
            "DicomModalities": {"covsev": [CLIENT_AET, "127.0.0.1", self.store_port],
                                "covsevstore": [STORE_AET, "127.0.0.1", self.store_port]},
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "StorageAccessOnFind": "Always", "HttpTimeout": 30, "StableAge": 1,
        }
        (folder / "orthanc.json").write_text(json.dumps(config, indent=1))
        self.log = open(folder / "orthanc.log", "wb")
        self.process = subprocess.Popen([str(ORTHANC), str(folder / "orthanc.json")], stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait()

    def _wait(self, seconds: float = 60) -> None:
        import requests

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/system", auth=(USER, PASSWORD), timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError("Orthanc did not start within a minute")

    def upload(self, dataset) -> None:
        import io

        import requests

        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        response = requests.post(f"{self.url}/instances", data=buffer.getvalue(), auth=(USER, PASSWORD), timeout=30)
        response.raise_for_status()

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def _identify(ds, *, patient: dict, study: dict, series_uid: str, sop_uid: str, view: str | None,
              sop_class: str | None = None, modality: str | None = None) -> None:
    """Put a patient's identity (and much else the basic profile lists) into ``ds``."""
    from pydicom.dataset import Dataset

    ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient["name"], patient["id"], patient["birth"]
    ds.PatientSex, ds.PatientAddress = patient["sex"], patient["address"]
    ds.OtherPatientIDs, ds.PatientTelephoneNumbers = patient["id"] + "-OLD", "+44 20 7946 0000"
    ds.PatientAge = ""
    ds.EthnicGroup, ds.PatientWeight = "WHITE", "71"
    ds.AdditionalPatientHistory = f"{patient['name']} smoker, see letter"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = study["uid"], study["date"], "101500"
    ds.AccessionNumber, ds.StudyID, ds.StudyDescription = study["accession"], study["accession"][-4:], \
        f"CHEST {patient['name']}"
    ds.SeriesDate, ds.AcquisitionDate, ds.ContentDate = (study["date"],) * 3
    ds.SeriesTime, ds.AcquisitionTime, ds.ContentTime = "101600", "101601", "101602"
    ds.AcquisitionDateTime = study["date"] + "101501"
    ds.InstitutionName, ds.InstitutionAddress = "St Elsewhere Hospital", "1 Hospital Road, Springfield"
    ds.StationName, ds.DeviceSerialNumber, ds.OperatorsName = "XR-ROOM-3", "SN-99812", "Tech^Tina"
    ds.ReferringPhysicianName, ds.PerformingPhysicianName = "House^Gregory", "Grey^Meredith"
    ds.RequestingPhysician = "Kildare^James"
    ds.ImageComments = f"ID {patient['id']} portable"
    ds.SeriesInstanceUID, ds.SOPInstanceUID = series_uid, sop_uid
    ds.FrameOfReferenceUID = series_uid + ".9"
    ds.IrradiationEventUID = sop_uid + ".7"
    if sop_class:
        ds.SOPClassUID = sop_class
    if modality:
        ds.Modality = modality
    if view is not None:
        ds.ViewPosition = view
    ds.BodyPartExamined = "CHEST"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, sop_uid + ".1"
    ds.ReferencedImageSequence = [ref]
    ds.add_new(0x00091010, "LO", "PRIVATE " + patient["name"])  # private creator range element
    ds.add_new(0x00090010, "LO", "ACME 1.1")
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.SourceApplicationEntityTitle = "STELSEWHERE"


PATIENTS = {
    "A": {"name": "Doe^Jane", "id": "MRN0012345", "birth": "19600704", "sex": "F",
          "address": "12 Elm Street, Springfield"},
    "B": {"name": "Roe^Richard", "id": "MRN0067890", "birth": "19450101", "sex": "M",
          "address": "7 Oak Lane, Shelbyville"},
}
STUDIES = {
    "A1": {"uid": "1.2.826.0.1.3680043.10.1001.1", "date": "20200314", "accession": "ACC20200314A"},
    "A2": {"uid": "1.2.826.0.1.3680043.10.1001.2", "date": "20200324", "accession": "ACC20200324A"},
    "B1": {"uid": "1.2.826.0.1.3680043.10.1002.1", "date": "20200401", "accession": "ACC20200401B"},
    "B2": {"uid": "1.2.826.0.1.3680043.10.1002.2", "date": "20200405", "accession": "ACC20200405B"},
    "B3": {"uid": "1.2.826.0.1.3680043.10.1002.3", "date": "20200406", "accession": "ACC20200406B"},
}


def identifiable_datasets(shared_dicom: Path) -> dict[str, object]:
    """The identifiable test instances, by role. Built in memory from the shared DICOMs and pydicom's
    test files; nothing is committed.

    A1: frontal PA CR (kept) + lateral LL (skipped) + a presentation state (not an image);
    A2: frontal AP DX, BurnedInAnnotation=YES, MONOCHROME1 (kept, listed for review);
    B1: a CT (skipped: not CR/DX) and a frontal CR with no ViewPosition (kept, view unknown);
    B2: a Basic Text SR only (nothing to keep);
    B3: a DX For Processing image only.
    """
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    siim = pydicom.dcmread(shared_dicom / SHARED_DICOM[0])
    mono1 = pydicom.dcmread(shared_dicom / SHARED_DICOM[1])
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    out = {}
    a_frontal = copy.deepcopy(siim)
    _identify(a_frontal, patient=PATIENTS["A"], study=STUDIES["A1"], series_uid=STUDIES["A1"]["uid"] + ".1",
              sop_uid=STUDIES["A1"]["uid"] + ".1.1", view="PA", sop_class=CR_IMAGE, modality="CR")
    out["A1_frontal"] = a_frontal
    lateral = copy.deepcopy(siim)
    _identify(lateral, patient=PATIENTS["A"], study=STUDIES["A1"], series_uid=STUDIES["A1"]["uid"] + ".2",
              sop_uid=STUDIES["A1"]["uid"] + ".2.1", view="LL", sop_class=CR_IMAGE, modality="CR")
    out["A1_lateral"] = lateral
    pr = Dataset()
    pr.file_meta = FileMetaDataset()
    pr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy Presentation State
    _identify(pr, patient=PATIENTS["A"], study=STUDIES["A1"], series_uid=STUDIES["A1"]["uid"] + ".3",
              sop_uid=STUDIES["A1"]["uid"] + ".3.1", view=None, modality="PR")
    pr.ContentLabel, pr.InstanceNumber = "PS1", 1
    out["A1_state"] = pr
    burned = copy.deepcopy(mono1)
    _identify(burned, patient=PATIENTS["A"], study=STUDIES["A2"], series_uid=STUDIES["A2"]["uid"] + ".1",
              sop_uid=STUDIES["A2"]["uid"] + ".1.1", view="AP", sop_class=DX_PRESENTATION, modality="DX")
    burned.BurnedInAnnotation = "YES"
    out["A2_burned"] = burned
    ct_ds = copy.deepcopy(ct)
    _identify(ct_ds, patient=PATIENTS["B"], study=STUDIES["B1"], series_uid=STUDIES["B1"]["uid"] + ".1",
              sop_uid=STUDIES["B1"]["uid"] + ".1.1", view=None)
    out["B1_ct"] = ct_ds
    noview = copy.deepcopy(siim)
    _identify(noview, patient=PATIENTS["B"], study=STUDIES["B1"], series_uid=STUDIES["B1"]["uid"] + ".2",
              sop_uid=STUDIES["B1"]["uid"] + ".2.1", view=None, sop_class=CR_IMAGE, modality="CR")
    del noview.ViewPosition
    out["B1_frontal"] = noview
    sr = Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.SOPClassUID = BASIC_TEXT_SR
    _identify(sr, patient=PATIENTS["B"], study=STUDIES["B2"], series_uid=STUDIES["B2"]["uid"] + ".1",
              sop_uid=STUDIES["B2"]["uid"] + ".1.1", view=None, modality="SR")
    out["B2_report"] = sr
    raw = copy.deepcopy(siim)
    _identify(raw, patient=PATIENTS["B"], study=STUDIES["B3"], series_uid=STUDIES["B3"]["uid"] + ".1",
              sop_uid=STUDIES["B3"]["uid"] + ".1.1", view="PA", sop_class="1.2.840.10008.5.1.4.1.1.1.1.1",
              modality="DX")
    out["B3_processing"] = raw
    return out
