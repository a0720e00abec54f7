"""What de-identification leaves behind, and how fast a pull runs against a real Orthanc.

1. Table E.1-1 coverage: a dataset holding every keyword of the table is de-identified by
   dicognito alone and by covsev's profile (dicognito + the table's remove/empty actions + the
   check); prints how many elements still hold their original value after each.
2. De-identification time per chest X-ray (the SIIM sample, 1024x1024): median of 50; OCR of its
   corners when tesseract is installed: median of 5.
3. A pull of N frontal images from a real Orthanc (needs /usr/sbin/Orthanc and ../shared/data):
   DICOMweb, DIMSE C-GET and C-MOVE, wall time and images per second (median of --repeats pulls).

Not a test: prints figures.
Run: PYTHONPATH=. .venv/bin/python benchmarks/pull_deid.py [--images 40] [--repeats 3]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
warnings.filterwarnings("ignore")


def coverage() -> None:
    import dicognito.anonymizer
    from test_pull_profile import _every_profile_element

    from covsev_tools.pull import deidentify, remaining_identifiers
    from covsev_tools.pull.profile import basic_profile_actions

    original = _every_profile_element()
    n = sum(1 for e in original if e.keyword in basic_profile_actions())
    alone = copy.deepcopy(original)
    dicognito.anonymizer.Anonymizer(seed="x").anonymize(alone)
    ours = copy.deepcopy(original)
    deidentify(ours, bytes(32))
    left_alone = remaining_identifiers(alone, original)
    print(f"Table E.1-1 elements in the test dataset: {n}")
    print(f"  left with an original value or present though the profile removes them: dicognito alone "
          f"{len(left_alone)}, covsev profile {len(remaining_identifiers(ours, original))}")
    print(f"  e.g. {', '.join(sorted(left_alone)[:8])}")


def deid_speed(shared: Path) -> None:
    import pydicom

    from covsev_tools.pull import deidentify

    source = pydicom.dcmread(shared / "dicom" / "siim-pneumothorax-sample.dcm")
    times = []
    for _ in range(50):
        ds = copy.deepcopy(source)
        start = time.perf_counter()
        deidentify(ds, bytes(32))
        times.append(time.perf_counter() - start)
    print(f"de-identification of one CXR header: median {1000 * statistics.median(times):.1f} ms (50 runs)")
    from covsev_tools.pull.burnedin import corners_text, tesseract_available

    if tesseract_available():
        times = []
        for _ in range(5):
            start = time.perf_counter()
            corners_text(source)
            times.append(time.perf_counter() - start)
        print(f"OCR of the four corners (tesseract, one call per corner): median {statistics.median(times):.2f} s "
              "per image (5 runs)")


def pull_speed(shared: Path, n_images: int, repeats: int) -> None:
    import pacs
    import pydicom

    from covsev_tools.pull import pull

    siim = pydicom.dcmread(shared / "dicom" / "siim-pneumothorax-sample.dcm")
    with tempfile.TemporaryDirectory() as folder:
        server = pacs.Orthanc(Path(folder))
        try:
            uids = []
            for i in range(n_images):
                ds = copy.deepcopy(siim)
                study = {"uid": f"1.2.826.0.1.3680043.10.2000.{i}", "date": "20200314", "accession": f"ACC{i:06d}"}
                patient = {"name": f"Person^{i}", "id": f"MRN{i % 7}", "birth": "19600101", "sex": "F",
                           "address": "x"}
                pacs._identify(ds, patient=patient, study=study, series_uid=study["uid"] + ".1",
                               sop_uid=study["uid"] + ".1.1", view="PA", sop_class=pacs.CR_IMAGE, modality="CR")
                server.upload(ds)
                uids.append(study["uid"])
            studies = Path(folder) / "studies.csv"
            studies.write_text("StudyInstanceUID\n" + "\n".join(uids) + "\n")
            ways = {"DICOMweb": dict(url=server.dicomweb, user=pacs.USER, password=pacs.PASSWORD),
                    "DIMSE C-GET": dict(url=server.dimse, calling_aet=pacs.CLIENT_AET, retrieve="get"),
                    "DIMSE C-MOVE": dict(url=server.dimse, calling_aet=pacs.CLIENT_AET, retrieve="move",
                                         store_port=server.store_port)}
            print(f"pull of {n_images} studies x 1 frontal CR (1024x1024) from Orthanc on this machine:")
            for name, options in ways.items():
                times = []
                for r in range(repeats):
                    out = Path(folder) / f"{name.replace(' ', '_')}-{r}"
                    url = options.pop("url")
                    start = time.perf_counter()
                    summary = pull(url, out, studies_csv=studies, progress=False, ocr=False, **options)
                    times.append(time.perf_counter() - start)
                    options["url"] = url
                    assert summary.images_kept == n_images
                median = statistics.median(times)
                print(f"  {name:13s} median {median:.2f} s ({n_images / median:.1f} images/s; {repeats} runs)")
            resume = Path(folder) / "DICOMweb-0"
            url = ways["DICOMweb"].pop("url")
            start = time.perf_counter()
            pull(url, resume, studies_csv=studies, progress=False, ocr=False, **ways["DICOMweb"])
            print(f"  re-run on a complete folder (queries only, nothing fetched): {time.perf_counter() - start:.2f} s")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shared = HERE.parent / "shared" / "data"
    coverage()
    if (shared / "dicom").is_dir():
        deid_speed(shared)
        if pacs_available():
            pull_speed(shared, args.images, args.repeats)
        else:
            print("pull speed: skipped (no /usr/sbin/Orthanc)")
    else:
        print(f"speed: skipped ({shared} not found)")


def pacs_available() -> bool:
    return Path("/usr/sbin/Orthanc").is_file()


if __name__ == "__main__":
    main()
