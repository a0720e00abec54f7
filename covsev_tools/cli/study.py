"""``covsev study``: record once the study facts a reporting checklist needs and covsev cannot know."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study", help="the study's description for the reporting checklists (study.yaml)",
        description="Facts about a study that covsev cannot know (rater experience, setting, "
                    "ethics, inclusion criteria...), recorded once in study.yaml in the study "
                    "(cohort) folder and used by the checklists of `covsev report`.")
    actions = parser.add_subparsers(dest="study_action", metavar="ACTION", required=True)
    describe = actions.add_parser(
        "describe", help="show or record study facts (--set FIELD=VALUE)",
        description="Show the study's description, or record facts with --set (repeatable), "
                    "e.g. --set raters.anna.experience_years=12 --set setting='Two hospitals'. "
                    "`covsev study fields` lists every field.")
    describe.add_argument("study", type=Path, metavar="STUDY", help="the study (cohort) folder")
    describe.add_argument("--set", dest="assignments", action="append", default=[],
                          metavar="FIELD=VALUE",
                          help="record a fact, e.g. raters.anna.experience_years=12 (repeatable)")
    describe.set_defaults(handler=run_describe)
    fields = actions.add_parser("fields", help="list the fields a study description can hold")
    fields.set_defaults(handler=run_fields)


def run_describe(args: argparse.Namespace) -> int:
    import yaml

    from covsev_tools.errors import printable
    from covsev_tools.report.description import DESCRIPTION_FILE, describe_study, read_description

    if args.assignments:
        path = describe_study(args.study, args.assignments)
        print(f"recorded {len(args.assignments)} fact(s) in {printable(str(path))}")
        return 0
    data = read_description(args.study)
    if not data:
        print(f"{printable(str(args.study / DESCRIPTION_FILE))}: nothing recorded yet "
              "(covsev study describe STUDY --set FIELD=VALUE)")
        return 0
    for line in yaml.safe_dump(data, sort_keys=False, allow_unicode=True).splitlines():
        print(printable(line))  # line by line: printable() keeps each message on one line
    return 0


def run_fields(args: argparse.Namespace) -> int:
    from covsev_tools.report.description import TEXT_FIELDS

    print("raters.NAME.role, raters.NAME.specialty, raters.NAME.institution: text")
    print("raters.NAME.experience_years: number of years (0-70)")
    print("sample_size.rationale: text; sample_size.planned_cases, planned_raters, "
          "planned_repeats: whole numbers")
    for name, what in TEXT_FIELDS.items():
        print(f"{name}: {what}")
    return 0
