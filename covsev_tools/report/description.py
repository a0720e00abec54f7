"""The study description: facts covsev cannot know (rater experience, setting, ethics...), recorded once.

A reporting checklist asks for facts no file of the study holds: how many years each rater has
read chest X-rays, where and when the images were taken, the inclusion criteria, the ethics
approval. The coordinator records them once in ``study.yaml`` beside the study (the cohort
folder), by hand or with ``covsev study describe STUDY --set raters.anna.experience_years=12``;
the checklists (:mod:`covsev_tools.report.checklist_fill`) then use them. The file is checked
against :data:`DESCRIPTION_SCHEMA` whenever it is read: a misspelled field or a wrong type is
refused with the file's line, never silently ignored.

Examples
--------
>>> import tempfile, pathlib
>>> study = pathlib.Path(tempfile.mkdtemp())
>>> _ = describe_study(study, ["raters.anna.experience_years=12", "setting=Two teaching hospitals"])
>>> read_description(study)["raters"]["anna"]
{'experience_years': 12}
"""
from __future__ import annotations

import functools
from pathlib import Path

from covsev_tools.errors import CovsevError
from covsev_tools.files import write_text_atomic

__all__ = ["DESCRIPTION_FILE", "DESCRIPTION_SCHEMA", "DescriptionError", "TEXT_FIELDS",
           "describe_study", "parse_description", "read_description"]

#: The description's file name, in the study (cohort) folder.
DESCRIPTION_FILE = "study.yaml"

_TEXT = {"type": "string", "minLength": 1}
#: Free-text facts of the study and what each is for (the checklist items that use it).
TEXT_FIELDS = {
    "design": "prospective or retrospective, and how the study was planned",
    "setting": "institution(s), centres, country, level of care",
    "dates": "when the images were acquired (first and last date)",
    "data_source": "where the images came from (PACS export, public collection, ...)",
    "population": "the patients the images represent",
    "eligibility": "inclusion and exclusion criteria",
    "sampling": "how cases were chosen (consecutive, random, convenience)",
    "acquisition": "image acquisition: devices, projections, protocol",
    "deidentification": "how the source images were de-identified",
    "intended_use": "intended use and users of the model and the score",
    "adjudication_rule": "when and how discordant readings were adjudicated",
    "ethics": "ethics approval (committee, number) and consent or its waiver",
    "funding": "funding and the role of the funders",
    "conflicts": "conflicts of interest",
    "registration": "registry and number, or 'not registered'",
    "protocol": "where the protocol can be read",
    "data_availability": "whether and where the data can be had",
    "code_availability": "whether and where the analysis code can be had",
    "limitations": "limitations the author wants listed",
}
_RATER = {"type": "object", "additionalProperties": False, "properties": {
    "role": _TEXT, "specialty": _TEXT, "institution": _TEXT,
    "experience_years": {"type": "number", "minimum": 0, "maximum": 70}}}
_SAMPLE_SIZE = {"type": "object", "additionalProperties": False, "properties": {
    "rationale": _TEXT, "planned_cases": {"type": "integer", "minimum": 1},
    "planned_raters": {"type": "integer", "minimum": 1},
    "planned_repeats": {"type": "integer", "minimum": 0}}}
#: What ``study.yaml`` may hold (JSON Schema); any other field is refused.
DESCRIPTION_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "covsev study.yaml",
    "type": "object", "additionalProperties": False,
    "properties": {**{name: _TEXT for name in TEXT_FIELDS}, "sample_size": _SAMPLE_SIZE,
                   "raters": {"type": "object", "additionalProperties": False,
                              "patternProperties": {r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$": _RATER}}},
}


class DescriptionError(CovsevError):
    """A study description that cannot be read, or a ``--set`` that would break it."""


@functools.lru_cache(maxsize=1)
def _validator():
    import fastjsonschema

    return fastjsonschema.compile(DESCRIPTION_SCHEMA)


def read_description(study_dir) -> dict:
    """The study's recorded description (``study.yaml``), checked; ``{}`` when there is none.

    Raises
    ------
    DescriptionError
        When the file is not YAML, or breaks :data:`DESCRIPTION_SCHEMA`: one line naming the
        file, the line and the field.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> study = pathlib.Path(tempfile.mkdtemp())
    >>> read_description(study)
    {}
    >>> _ = (study / "study.yaml").write_text("setting: Lyon\\nraters:\\n  anna:\\n    experience_years: many\\n")
    >>> read_description(study)
    Traceback (most recent call last):
    ...
    covsev_tools.report.description.DescriptionError: .../study.yaml, line 4: raters.anna.experience_years = 'many' must be number
    """
    path = Path(study_dir) / DESCRIPTION_FILE
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DescriptionError(f"{path}: cannot read ({exc})") from None
    return parse_description(text, path)


def parse_description(text: str, where="study.yaml") -> dict:
    """Parse and check the text of a description; errors name ``where`` and the line.

    Examples
    --------
    >>> parse_description("setting: Lyon\\n")
    {'setting': 'Lyon'}
    >>> parse_description("setting: Lyon\\nsetings: Paris\\n")
    Traceback (most recent call last):
    ...
    covsev_tools.report.description.DescriptionError: study.yaml, line 2: unknown field 'setings' (known: design, setting, dates, ...)
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DescriptionError(f"{where}{line}: not valid YAML ({problem})") from None
    data = {} if data is None else data
    _check_unknown_fields(root, where)
    _check_schema(data, root, where)
    return data


def _check_unknown_fields(root, where) -> None:
    """A misspelled field is refused with its line (the schema alone would not say where)."""
    import yaml

    if not isinstance(root, yaml.MappingNode):
        return
    known = [*TEXT_FIELDS, "sample_size", "raters"]
    for key, value in root.value:
        name = key.value
        if name not in known:
            raise DescriptionError(f"{where}, line {key.start_mark.line + 1}: unknown field "
                                   f"{name!r} (known: {', '.join(known[:3])}, ...)")
        if name == "sample_size" and isinstance(value, yaml.MappingNode):
            _unknown_in(value, _SAMPLE_SIZE, name, where)
        if name == "raters" and isinstance(value, yaml.MappingNode):
            for rater_key, rater in value.value:
                if isinstance(rater, yaml.MappingNode):
                    _unknown_in(rater, _RATER, f"raters.{rater_key.value}", where)


def _unknown_in(node, schema: dict, prefix: str, where) -> None:
    known = list(schema["properties"])
    for key, _ in node.value:
        if key.value not in known:
            raise DescriptionError(f"{where}, line {key.start_mark.line + 1}: unknown field "
                                   f"{prefix}.{key.value} (known: {', '.join(known)})")


def _check_schema(data, root, where) -> None:
    import fastjsonschema

    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = exc.name[5:] if exc.name.startswith("data.") else "top level"
        line = _line_of(root, field.split(".")) if field != "top level" else None
        value = repr(exc.value)
        value = value if len(value) <= 60 else value[:57] + "..."
        at = f", line {line}" if line else ""
        raise DescriptionError(f"{where}{at}: {field} = {value} "
                               f"{exc.message[len(exc.name):].strip()}") from None


def _line_of(root, parts: list[str]) -> int | None:
    """The 1-based line of the node at ``parts`` (rater names may hold dots: tried whole first)."""
    import yaml

    node, i = root, 0
    while i < len(parts) and isinstance(node, yaml.MappingNode):
        for j in range(len(parts), i, -1):  # the longest key first: 'raters.dr.x.role'
            key = ".".join(parts[i:j])
            found = next((v for k, v in node.value if k.value == key), None)
            if found is not None:
                node, i = found, j
                break
        else:
            return None
    return node.start_mark.line + 1 if node is not None else None


def describe_study(study_dir, assignments: list[str]) -> Path:
    """Record facts in the study's ``study.yaml``: each assignment ``field.sub=value``.

    ``raters.NAME.FIELD=VALUE`` records a rater's role, specialty, institution or
    experience_years; ``sample_size.rationale=...`` and the other text fields likewise.
    Values are read as YAML scalars (``12`` is a number). The whole file is checked before it
    is written (atomically); comments in a hand-written file are not kept.

    Raises
    ------
    DescriptionError
        An assignment without ``=``, an unknown field or a wrong value, naming the assignment.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> study = pathlib.Path(tempfile.mkdtemp())
    >>> describe_study(study, ["raters.anna.experience_years=twelve"])
    Traceback (most recent call last):
    ...
    covsev_tools.report.description.DescriptionError: --set raters.anna.experience_years=twelve: raters.anna.experience_years = 'twelve' must be number
    """
    import yaml

    study = Path(study_dir)
    if not study.is_dir():
        raise DescriptionError(f"{study}: no such study folder")
    data = read_description(study)
    for assignment in assignments:
        field, sep, raw = assignment.partition("=")
        if not sep or not field.strip():
            raise DescriptionError(f"--set {assignment}: expected FIELD=VALUE, e.g. "
                                   "raters.anna.experience_years=12")
        candidate = _assigned(data, field.strip(), _scalar(raw.strip()), assignment)
        try:
            parse_description(yaml.safe_dump(candidate, sort_keys=False, allow_unicode=True))
        except DescriptionError as exc:
            reason = str(exc).split(": ", 1)[1]
            raise DescriptionError(f"--set {assignment}: {reason}") from None
        data = candidate
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return write_text_atomic(study / DESCRIPTION_FILE, text)


def _scalar(raw: str):
    """``12`` -> 12, ``12.5`` -> 12.5; anything else stays text (``yes`` is not True here)."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _assigned(data: dict, field: str, value, assignment: str) -> dict:
    import copy

    out = copy.deepcopy(data)
    parts = field.split(".")
    if parts[0] == "raters" and len(parts) >= 3:  # a rater name may itself hold dots
        parts = ["raters", ".".join(parts[1:-1]), parts[-1]]
    node = out
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise DescriptionError(f"--set {assignment}: {part} is not a group of fields")
        node = child
    node[parts[-1]] = value
    return out
