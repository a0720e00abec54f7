"""``covsev pull``: frontal chest X-rays from a PACS (DICOMweb or DIMSE), de-identified, into a coordinator folder."""
from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from covsev_tools.errors import printable

PASSWORD_ENV = "COVSEV_PACS_PASSWORD"
TOKEN_ENV = "COVSEV_PACS_TOKEN"


def register(subparsers) -> None:
    """Add ``covsev pull`` to the top-level parser."""
    p = subparsers.add_parser(
        "pull", help="retrieve and de-identify chest X-rays from a PACS (DICOMweb or DIMSE)",
        description="Retrieve the frontal CR/DX chest X-rays of a list of studies (or of a query) from a "
                    "DICOMweb server or a DIMSE PACS, de-identified on the way in (DICOM PS3.15 Annex E basic "
                    "profile, keeping date intervals, sex and age), into a coordinator-only folder (0700) "
                    "with a link table and a provenance record. Run it again to resume: images already "
                    "there are not fetched again.")
    p.add_argument("url", metavar="URL", help="http(s)://host/dicom-web, or dimse://AET@host:port")
    p.add_argument("--studies", metavar="CSV", help="CSV with a StudyInstanceUID or AccessionNumber column")
    p.add_argument("--query", action="append", metavar="KEY=VALUE",
                   help="instead of --studies: PatientID, StudyDate (YYYYMMDD-YYYYMMDD), Modality, "
                        "AccessionNumber or StudyDescription (repeatable)")
    p.add_argument("--out", required=True, metavar="FOLDER", help="the pull folder (made 0700, or resumed)")
    p.add_argument("--user", help=f"DICOMweb basic-auth user (password from ${PASSWORD_ENV}, else asked)")
    p.add_argument("--token", action="store_true", help=f"DICOMweb bearer token from ${TOKEN_ENV}")
    p.add_argument("--calling-aet", default="COVSEV", help="DIMSE: this side's AE title (default COVSEV)")
    p.add_argument("--retrieve", choices=("get", "move"), default="get", help="DIMSE: C-GET (default) or C-MOVE")
    p.add_argument("--store-port", type=int, metavar="PORT",
                   help="DIMSE C-MOVE: port of the storage SCP the pull runs (the PACS sends images there)")
    burned = p.add_mutually_exclusive_group()
    burned.add_argument("--mask-corners", action="store_true",
                        help="black out the corners of images that may carry burned-in text")
    burned.add_argument("--exclude-burned-in", action="store_true",
                        help="leave out images that may carry burned-in text")
    p.add_argument("--no-ocr", action="store_true", help="do not read the corners with tesseract")
    p.add_argument("--retries", type=int, default=4, metavar="N", help="attempts per request (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_pull)


def _pull(args) -> int:
    from covsev_tools.errors import CovsevError
    from covsev_tools.pull import pull

    password = token = None
    if args.user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            import getpass

            password = getpass.getpass(f"password for {args.user}: ")
    if args.token:
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise CovsevError(f"--token: set ${TOKEN_ENV} to the bearer token")
    if args.retries < 1:
        raise CovsevError(f"--retries {args.retries}: give 1 or more")
    summary = pull(args.url, args.out, studies_csv=args.studies, query=args.query, user=args.user,
                   password=password, token=token, calling_aet=args.calling_aet, retrieve=args.retrieve,
                   store_port=args.store_port, mask=args.mask_corners, exclude_burned_in=args.exclude_burned_in,
                   ocr=False if args.no_ocr else None, attempts=args.retries, progress=not args.quiet)
    for line in summary.text().splitlines():
        print(printable(line))
    if (args.user or args.token) and args.url.startswith("http://") and \
            urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        print(printable(f"note: {args.url} is plain HTTP: the password or token crossed the network unencrypted; "
                        "use https:// where the PACS offers it"), file=sys.stderr)
    print(printable(f"next: covsev cohort create {args.out}/images --name NAME --metadata {args.out}/metadata.csv"))
    return 0
