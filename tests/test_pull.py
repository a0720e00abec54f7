"""covsev pull against a real Orthanc (DICOMweb and DIMSE): de-identification, resume, bad input.

Select with ``pytest -k pull``. Needs Debian's ``orthanc`` and ``orthanc-dicomweb`` (``.ci/run``
installs them) and the shared DICOM files; skips with the reason otherwise.
"""
from __future__ import annotations

import csv
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pacs import (CLIENT_AET, DICOMWEB_PLUGIN, ORTHANC, PASSWORD, PATIENTS, STUDIES, USER, Orthanc, free_port,
                  identifiable_datasets)

from covsev_tools.cli.main import main
from covsev_tools.pull import (PullError, basic_profile_actions, pull, read_link_table, read_provenance,
                               remaining_identifiers)
from covsev_tools.pull.dicomweb import DicomWebSource


@pytest.fixture(scope="module")
def originals(shared_data):
    return identifiable_datasets(shared_data / "dicom")


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, originals):
    if not ORTHANC.is_file() or not DICOMWEB_PLUGIN.is_file():
        pytest.skip(f"Orthanc not installed ({ORTHANC}, {DICOMWEB_PLUGIN}); .ci/run installs Debian's "
                    "orthanc and orthanc-dicomweb")
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        for dataset in originals.values():
            server.upload(dataset)
        yield server
    finally:
        server.stop()


@pytest.fixture
def studies_csv(tmp_path):
    """All five studies: three by UID, two by accession number."""
    path = tmp_path / "studies.csv"
    rows = [("StudyInstanceUID", "AccessionNumber"), (STUDIES["A1"]["uid"], ""), ("", STUDIES["A2"]["accession"]),
            (STUDIES["B1"]["uid"], ""), ("", STUDIES["B2"]["accession"]), (STUDIES["B3"]["uid"], "")]
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


def _one_study(tmp_path, uid):
    path = tmp_path / "one.csv"
    path.write_text(f"StudyInstanceUID\n{uid}\n")
    return path


def _dicomweb(orthanc, **kw):
    return dict(user=USER, password=PASSWORD, progress=False, ocr=False, backoff=0.05, **kw)


@pytest.fixture(scope="module")
def pulled(orthanc, tmp_path_factory):
    """One DICOMweb pull of every study, shared by the read-only checks."""
    out = tmp_path_factory.mktemp("pull") / "site1"
    studies = tmp_path_factory.mktemp("list") / "studies.csv"
    studies.write_text("StudyInstanceUID,AccessionNumber\n" + "\n".join(
        [f"{STUDIES['A1']['uid']},", f",{STUDIES['A2']['accession']}", f"{STUDIES['B1']['uid']},",
         f",{STUDIES['B2']['accession']}", f"{STUDIES['B3']['uid']},",
         f",{STUDIES['A1']['accession']}"]) + "\n")  # A1 twice: by UID and by accession number
    summary = pull(orthanc.dicomweb, out, studies_csv=studies, **_dicomweb(orthanc))
    return out, summary


def _outputs(out: Path) -> dict[str, pydicom.Dataset]:
    return {str(p.relative_to(out / "images")): pydicom.dcmread(p) for p in sorted((out / "images").rglob("*.dcm"))}


def test_pull_dicomweb_keeps_frontal_cr_dx_and_says_why_not(pulled):
    out, summary = pulled
    assert (summary.studies_asked, summary.studies_found, summary.images_kept) == (6, 5, 3)  # A1 fetched once
    assert summary.not_found == []
    assert dict(summary.reasons()) == {"lateral view": 1, "not an image": 2, "not CR/DX": 1,
                                       "DX for processing": 1}
    assert len(_outputs(out)) == 3
    assert "studies: 6 asked, 5 found, 0 not found" in summary.text()
    assert summary.view_unstated == 1 and "view not stated: 1 image(s) kept" in summary.text()


def test_pull_no_identifying_element_of_the_basic_profile_survives(pulled, originals):
    out, _ = pulled
    by_original = {str(ds.SOPInstanceUID): ds for ds in originals.values()}
    links = {row["new_sop_uid"]: row for row in read_link_table(out / "link.csv")}
    identifying = [p[k] for p in PATIENTS.values() for k in ("name", "id", "birth", "address")]
    identifying += [s[k] for s in STUDIES.values() for k in ("uid", "accession")]
    identifying += ["St Elsewhere", "Hospital Road", "XR-ROOM-3", "SN-99812", "House^Gregory", "Grey^Meredith",
                    "Kildare", "Tech^Tina", "STELSEWHERE", "ACME", "Doe", "Roe", "Jane", "20200314", "20200324"]
    for name, ds in _outputs(out).items():
        original = by_original[links[str(ds.SOPInstanceUID)]["original_sop_uid"]]
        assert remaining_identifiers(ds, original) == []
        raw = (out / "images" / name).read_bytes()
        for value in identifying:  # nowhere in the file, header or file meta, at any depth
            assert value.encode() not in raw, (name, value)
        actions = basic_profile_actions()
        for element in original.iterall():
            action = actions.get(element.keyword)
            if action in ("X",):
                assert element.keyword not in ds, element.keyword
            elif action == "Z" and element.keyword not in ("PatientID", "PatientName"):
                assert not ds.get(element.keyword), element.keyword
            elif action in ("U", "D", "C") and element.VR != "SQ" and element.value and element.keyword in ds:
                assert ds[element.keyword].value != element.value, element.keyword
        assert not any(e.tag.is_private for e in ds.iterall())
        # the burned-in image may still show the patient's identity in its pixels
        assert ds.PatientIdentityRemoved == ("NO" if original.get("BurnedInAnnotation") == "YES" else "YES")
        assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
        assert ds.PatientSex == original.PatientSex  # Retain Patient Characteristics
        assert "SourceApplicationEntityTitle" not in ds.file_meta


def test_pull_uids_are_new_and_consistent_and_dates_keep_their_intervals(pulled, originals):
    out, _ = pulled
    rows = read_link_table(out / "link.csv")
    a = [r for r in rows if r["original_patient_id"] == PATIENTS["A"]["id"]]
    b = [r for r in rows if r["original_patient_id"] == PATIENTS["B"]["id"]]
    assert len(a) == 2 and len(b) == 1
    assert len({r["new_patient_id"] for r in a}) == 1 and a[0]["new_patient_id"] != b[0]["new_patient_id"]
    for row in rows:
        for level in ("patient_id", "study_uid", "series_uid", "sop_uid"):
            assert row[f"new_{level}"] and row[f"new_{level}"] != row[f"original_{level}"]
        ds = pydicom.dcmread(out / "images" / row["filename"])
        assert (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID) == \
            (row["new_patient_id"], row["new_study_uid"], row["new_series_uid"], row["new_sop_uid"])
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID != row["original_sop_uid"] + ".1"
    metadata = {r["filename"]: r for r in csv.DictReader(open(out / "metadata.csv"))}
    offsets = sorted(int(metadata[r["filename"]]["offset"]) for r in a)
    assert offsets == [0, 10]  # 14 and 24 March 2020: ten days apart, whatever the shift
    frontal_a = next(r for r in a if r["original_study_date"] == "20200314")
    ds = pydicom.dcmread(out / "images" / frontal_a["filename"])
    assert ds.StudyDate != "20200314" and ds.PatientAge == "059Y"  # born 4 July 1960
    assert metadata[frontal_a["filename"]]["age"] == "59" and metadata[frontal_a["filename"]]["sex"] == "F"
    assert {m["view"] for m in metadata.values()} == {"PA", "AP", ""}


def test_pull_link_table_round_trips_and_folder_is_coordinator_only(pulled, originals):
    out, _ = pulled
    rows = read_link_table(out / "link.csv")
    originals_by_sop = {str(ds.SOPInstanceUID): ds for ds in originals.values()}
    for row in rows:
        original = originals_by_sop[row["original_sop_uid"]]
        assert (row["original_patient_id"], row["original_study_uid"], row["original_series_uid"]) == \
            (original.PatientID, original.StudyInstanceUID, original.SeriesInstanceUID)
        assert row["original_accession"] == original.AccessionNumber
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    review = list(csv.DictReader(open(out / "review.csv")))
    assert [r["reason"] for r in review] == ["BurnedInAnnotation=YES"]
    record = read_provenance(out / "pull.json")
    run = record["runs"][-1]
    assert run["source"].startswith("DICOMweb http://127.0.0.1:") and PASSWORD not in (out / "pull.json").read_text()
    assert run["deidentification"]["libraries"]["dicognito"] and run["summary"]["images_kept"] == 3
    import hashlib

    assert run["request"]["studies_csv_sha256"] == hashlib.sha256(Path(run["request"]["studies_csv"]).read_bytes()).hexdigest()


class _Counting:
    """A source that counts retrievals and can fail after some of them (an interrupted pull)."""

    def __init__(self, source, fail_after=None):
        self.source, self.fail_after, self.retrieved = source, fail_after, []

    def __getattr__(self, name):
        return getattr(self.source, name)

    def retrieve(self, header):
        if self.fail_after is not None and len(self.retrieved) >= self.fail_after:
            raise KeyboardInterrupt
        self.retrieved.append(str(header.SOPInstanceUID))
        return self.source.retrieve(header)


def test_pull_interrupted_resumes_without_fetching_again(orthanc, studies_csv, tmp_path, pulled):
    out = tmp_path / "site"
    first = _Counting(DicomWebSource(orthanc.dicomweb, user=USER, password=PASSWORD), fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        pull(orthanc.dicomweb, out, studies_csv=studies_csv, source=first, **_dicomweb(orthanc))
    kept_first = sorted(p.relative_to(out) for p in (out / "images").rglob("*.dcm"))
    assert len(kept_first) == 2 and len(read_link_table(out / "link.csv")) == 2
    before = {p: (out / p).stat().st_mtime_ns for p in kept_first}
    again = _Counting(DicomWebSource(orthanc.dicomweb, user=USER, password=PASSWORD))
    summary = pull(orthanc.dicomweb, out, studies_csv=studies_csv, source=again, **_dicomweb(orthanc))
    assert len(again.retrieved) == 1 and again.retrieved[0] not in first.retrieved
    assert (summary.images_kept, summary.images_already_there) == (1, 2)
    assert {p: (out / p).stat().st_mtime_ns for p in kept_first} == before
    assert len(read_link_table(out / "link.csv")) == 3
    # a third run fetches nothing at all
    third = _Counting(DicomWebSource(orthanc.dicomweb, user=USER, password=PASSWORD))
    pull(orthanc.dicomweb, out, studies_csv=studies_csv, source=third, **_dicomweb(orthanc))
    assert third.retrieved == [] and len(read_provenance(out / "pull.json")["runs"]) == 2


@pytest.mark.parametrize("how", ["get", "move"])
def test_pull_dimse_gives_the_same_cohort_as_dicomweb(orthanc, studies_csv, tmp_path, pulled, how):
    web_out, _ = pulled
    out = tmp_path / f"dimse-{how}"
    (out / ".pull").mkdir(parents=True)
    (out / ".pull" / "key").write_bytes((web_out / ".pull" / "key").read_bytes())  # same secret: same new UIDs
    summary = pull(orthanc.dimse, out, studies_csv=studies_csv, calling_aet=CLIENT_AET, retrieve=how,
                   store_port=orthanc.store_port if how == "move" else None, progress=False, ocr=False,
                   backoff=0.05)
    assert summary.images_kept == 3 and dict(summary.reasons()) == {
        "lateral view": 1, "not an image": 2, "not CR/DX": 1, "DX for processing": 1}
    strip = lambda rows: sorted((r["new_patient_id"], r["new_study_uid"], r["new_sop_uid"], r["original_sop_uid"])
                                for r in rows)
    assert strip(read_link_table(out / "link.csv")) == strip(read_link_table(web_out / "link.csv"))
    web = _outputs(web_out)
    for name, ds in _outputs(out).items():
        # Orthanc sends DIMSE uncompressed, decoded by DCMTK; pydicom decodes the JPEG of the DICOMweb copy
        # with libjpeg: the two decoders differ by one grey level in a few per cent of pixels
        difference = np.abs(ds.pixel_array.astype(int) - web[name].pixel_array.astype(int))
        assert difference.max() <= 1 and difference.mean() < 0.05
        assert ds.StudyDate == web[name].StudyDate


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_pull_query_instead_of_a_list(orthanc, tmp_path, protocol):
    out = tmp_path / "q"
    query = [f"PatientID={PATIENTS['A']['id']}", "StudyDate=20200301-20200331"]
    if protocol == "dicomweb":
        summary = pull(orthanc.dicomweb, out, query=query, **_dicomweb(orthanc))
    else:
        summary = pull(orthanc.dimse, out, query=query, calling_aet=CLIENT_AET, progress=False, ocr=False)
    assert (summary.studies_asked, summary.images_kept) == (2, 2)
    assert read_provenance(out / "pull.json")["runs"][0]["request"]["query"]["PatientID"] == PATIENTS["A"]["id"]


def test_pull_burned_in_masked_or_excluded(orthanc, tmp_path, originals):
    one = _one_study(tmp_path, STUDIES["A2"]["uid"])
    masked = pull(orthanc.dicomweb, tmp_path / "m", studies_csv=one, mask=True, **_dicomweb(orthanc))
    assert masked.masked == 1
    (ds,) = _outputs(tmp_path / "m").values()
    pixels, source = ds.pixel_array, originals["A2_burned"].pixel_array
    black = (1 << ds.BitsStored) - 1  # MONOCHROME1: the largest value displays black
    assert (pixels[:10, :10] == black).all() and (pixels[-10:, -10:] == black).all()
    assert (pixels[400:600, 400:600] == source[400:600, 400:600]).all()
    assert list(csv.DictReader(open(tmp_path / "m" / "review.csv")))[0]["masked"] == "yes"
    assert ds.PatientIdentityRemoved == "YES"
    with pytest.raises(PullError, match="no frontal CR/DX image among the 1 study asked .*burned-in"):
        pull(orthanc.dicomweb, tmp_path / "x", studies_csv=one, exclude_burned_in=True, **_dicomweb(orthanc))
    assert not (tmp_path / "x").exists()


def _cli(capsys, *args) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("case", ["unreachable", "credentials", "token", "unknown uid", "non-image", "bad row",
                                  "dimse aet", "dimse unreachable", "not dicomweb"])
def test_pull_bad_input_is_one_line_and_nothing_written(orthanc, tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("COVSEV_PACS_PASSWORD", PASSWORD)
    out = tmp_path / "out"
    csv_path = _one_study(tmp_path, STUDIES["A1"]["uid"])
    url, extra = orthanc.dicomweb, ["--user", USER]
    expected = {"unreachable": "server unreachable (connection refused)", "credentials": "credentials refused (HTTP 401)",
                "token": "credentials refused (HTTP 401)",
                "unknown uid": "no frontal CR/DX image among the 1 study asked (1 not found)",
                "non-image": "no frontal CR/DX image among the 1 study asked (1 not an image); nothing written",
                "bad row": "row 2: '1.2.03' is not a DICOM UID",
                "dimse aet": "C-FIND refused", "dimse unreachable": "server unreachable (no DICOM association)",
                "not dicomweb": "no DICOMweb service here (HTTP 404 for a study query)"}[case]
    if case == "unreachable":
        url = f"http://127.0.0.1:{free_port()}/dicom-web"
    elif case == "credentials":
        monkeypatch.setenv("COVSEV_PACS_PASSWORD", "wrong")
    elif case == "token":
        monkeypatch.setenv("COVSEV_PACS_TOKEN", "not-a-valid-token")
        extra = ["--token"]
    elif case == "unknown uid":
        csv_path = _one_study(tmp_path, "1.2.826.0.1.3680043.10.999")
    elif case == "non-image":
        csv_path = _one_study(tmp_path, STUDIES["B2"]["uid"])
    elif case == "bad row":
        csv_path = _one_study(tmp_path, "1.2.03")
    elif case == "dimse aet":
        url, extra = orthanc.dimse, ["--calling-aet", "STRANGER"]
    elif case == "not dicomweb":
        url = orthanc.url + "/not-dicom-web"
    elif case == "dimse unreachable":
        url, extra = f"dimse://ORTHANC@127.0.0.1:{free_port()}", ["--calling-aet", CLIENT_AET]
    status, stdout, stderr = _cli(capsys, "pull", url, "--studies", str(csv_path), "--out", str(out), "--quiet",
                                  "--no-ocr", "--retries", "2", *extra)
    assert status == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("covsev pull: error: "), stderr
    assert expected in stderr
    assert PASSWORD not in stderr
    assert not out.exists()


def test_pull_then_cohort_create_records_provenance(pulled, tmp_path, capsys):
    out, _ = pulled
    cohort_dir = tmp_path / "cohort"
    status, stdout, _ = _cli(capsys, "cohort", "create", str(out / "images"), "--name", "site1", "--out",
                             str(cohort_dir), "--metadata", str(out / "metadata.csv"), "--quiet", "--workers", "1")
    assert status == 0, stdout
    assert stat.S_IMODE((cohort_dir / "provenance.json").stat().st_mode) == 0o600
    status, stdout, _ = _cli(capsys, "cohort", "show", str(cohort_dir))
    assert status == 0 and "Images were retrieved from a PACS by DICOMweb (6 studies asked, 3 frontal CR/DX" in stdout
    from covsev_tools.cohort import Cohort

    key = Cohort.load(cohort_dir).key()
    assert sorted(key["patientid"].astype(str).unique()) == sorted(
        {r["new_patient_id"] for r in read_link_table(out / "link.csv")})


def test_pull_provenance_in_the_report_methods(pulled, tmp_path, simulated_result):
    out, _ = pulled
    from covsev_tools.cohort import create_cohort
    from covsev_tools.report.methods import methods_text

    cohort = create_cohort(out / "images", "site1", out_dir=tmp_path / "c", metadata_csv=out / "metadata.csv",
                           workers=1, progress=False)
    assert methods_text(simulated_result)[0].startswith("Reference score")  # not pulled: no retrieval sentence
    simulated_result.inputs.sources["key"] = str(cohort.dir / "key.csv")
    first = methods_text(simulated_result)[0]
    assert first.startswith("Images were retrieved from a PACS by DICOMweb (6 studies asked, 3 frontal CR/DX images")
    assert "Annex E Basic Application Level Confidentiality Profile" in first and "dicognito" in first


def test_pull_ocr_of_the_corners_lists_the_image(orthanc, tmp_path, monkeypatch):
    """A stand-in ``tesseract`` on PATH (Debian's is not installed here) reads text in one corner only:
    the image is listed for review with the number of words, never the words themselves."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "tesseract"
    fake.write_text('#!/bin/sh\ncase "$1" in *corner0.png) echo "DOE JANE 14/03/2020 L";; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    one = _one_study(tmp_path, STUDIES["A1"]["uid"])
    options = {**_dicomweb(orthanc), "ocr": None}  # None: OCR when tesseract is on PATH
    summary = pull(orthanc.dicomweb, tmp_path / "o", studies_csv=one, **options)
    assert summary.images_kept == 1 and len(summary.burned_in) == 1
    review = list(csv.DictReader(open(tmp_path / "o" / "review.csv")))
    assert [r["reason"] for r in review] == ["OCR found 3 word(s) in the corners"]
    assert b"JANE" not in b"".join(p.read_bytes() for p in (tmp_path / "o").rglob("*") if p.is_file())
    assert read_provenance(tmp_path / "o" / "pull.json")["runs"][0]["deidentification"]["ocr"] is True


def test_pull_retries_a_dropped_connection_with_backoff(orthanc, tmp_path, monkeypatch):
    """The server drops the connection on the first two retrievals: the pull waits (backoff, then
    twice as long) and goes on; with fewer attempts than drops it stops with one line."""
    import requests

    from covsev_tools.pull import retry

    waits = []
    monkeypatch.setattr(retry.time, "sleep", waits.append)
    source = DicomWebSource(orthanc.dicomweb, user=USER, password=PASSWORD, attempts=3, backoff=0.5)
    client = source._open()
    real, drops = client.retrieve_instance, []

    def flaky(*args, **kwargs):
        if len(drops) < 2:
            drops.append(1)
            raise requests.ConnectionError("Connection reset by peer")
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "retrieve_instance", flaky)
    one = _one_study(tmp_path, STUDIES["A1"]["uid"])
    summary = pull(orthanc.dicomweb, tmp_path / "r", studies_csv=one, source=source, **_dicomweb(orthanc))
    assert summary.images_kept == 1 and waits == [0.5, 1.0]
    drops.clear()
    source = DicomWebSource(orthanc.dicomweb, user=USER, password=PASSWORD, attempts=2, backoff=0)
    monkeypatch.setattr(source._open(), "retrieve_instance", flaky)
    with pytest.raises(PullError, match="server unreachable"):
        pull(orthanc.dicomweb, tmp_path / "s", studies_csv=one, source=source, **_dicomweb(orthanc))
    assert not (tmp_path / "s").exists()


def test_pull_two_pulls_into_one_folder_do_not_interleave(orthanc, tmp_path, pulled):
    from covsev_tools.pull import PullFolder

    out, _ = pulled
    before = (out / "link.csv").read_bytes()
    with PullFolder(out).locked():
        with pytest.raises(PullError, match="another 'covsev pull' is writing into this folder"):
            pull(orthanc.dicomweb, out, studies_csv=_one_study(tmp_path, STUDIES["A1"]["uid"]), **_dicomweb(orthanc))
    assert (out / "link.csv").read_bytes() == before


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed (Debian: tesseract-ocr; "
                    ".ci/run installs it)")
def test_pull_real_ocr_finds_a_name_printed_in_a_corner_and_masking_removes_it(orthanc, originals, tmp_path):
    """Real tesseract: a name printed (on a label box, as X-ray systems print) into the top-left
    corner of a frontal CR whose header does not flag it is found, the clean image is not flagged,
    and after --mask-corners tesseract reads nothing in the corners any more."""
    import copy

    from PIL import Image, ImageDraw, ImageFont

    from covsev_tools.pull.burnedin import corners_text

    labelled = copy.deepcopy(originals["A1_frontal"])
    study = "1.2.826.0.1.3680043.10.1001.9"
    labelled.StudyInstanceUID, labelled.SeriesInstanceUID = study, study + ".1"
    labelled.SOPInstanceUID = labelled.file_meta.MediaStorageSOPInstanceUID = study + ".1.1"
    labelled.PatientID = "MRN0099999"  # a patient of its own: the other tests' queries do not see it
    image = Image.fromarray(labelled.pixel_array.copy())
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=36)
    box = draw.textbbox((12, 20), "DOE JANE", font=font)
    draw.rectangle((box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6), fill=0)
    draw.text((12, 20), "DOE JANE", fill=255, font=font)
    labelled.set_pixel_data(np.asarray(image), "MONOCHROME2", 8)
    orthanc.upload(labelled)
    both = tmp_path / "both.csv"
    both.write_text(f"StudyInstanceUID\n{study}\n{STUDIES['A1']['uid']}\n")
    options = {**_dicomweb(orthanc), "ocr": True}
    summary = pull(orthanc.dicomweb, tmp_path / "o", studies_csv=both, **options)
    assert summary.images_kept == 2
    review = list(csv.DictReader(open(tmp_path / "o" / "review.csv")))
    links = {r["filename"]: r for r in read_link_table(tmp_path / "o" / "link.csv")}
    assert [(links[r["filename"]]["original_study_uid"], r["reason"]) for r in review] == [
        (study, "OCR found 2 word(s) in the corners")]
    masked = pull(orthanc.dicomweb, tmp_path / "m", studies_csv=_one_study(tmp_path, study), mask=True, **options)
    assert masked.masked == 1
    (kept,) = _outputs(tmp_path / "m").values()
    assert corners_text(kept) == ""
