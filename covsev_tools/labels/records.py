"""What a label record is: one JSON Schema, one validator, and why a line of a log is left out.

Every record read from a rater's log, and every record before it is saved, goes through
:func:`check_record`: the JSON Schema of :func:`record_schema` (types, structure, no unknown keys,
every score a level of its scale), then the checks a schema cannot express (a total is the sum
of its components; a scored record has every score; the record's ``rater`` is the log it sits in
and its ``cohort`` the store's). :func:`read_log` applies it to a whole log and also leaves out a
repeated ``record_id``; a line that does not fit becomes a :class:`RecordProblem` naming the file,
the line and the reason, never an exception.

The schema is compiled once per set of scales with ``fastjsonschema`` (about 10 µs per record,
against about 200 µs for ``jsonschema``; the tests check that both libraries agree).

Examples
--------
>>> from covsev_tools.scales import load_scale
>>> record = {"record_id": "r1", "case_id": "c1", "rater": "rad1", "time_saved": "2026-01-05T10:02:40.118Z",
...           "scales": {"extent": {"version": "1", "scores": {"right": 2, "left": 9}, "total": 11}}}
>>> check_record(record, scales=[load_scale("extent")])
'scales.extent.scores.left = 9 must be one of [0, 1, 2, 3, 4] (or null when not assessable)'
"""
from __future__ import annotations

import functools
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

__all__ = ["CLOCK_TOLERANCE", "MAX_LINE_BYTES", "RECORD_FIELDS", "REQUIRED_FIELDS", "SCHEMA_VERSION", "LogEntry", "RecordProblem", "check_record",
           "iter_log", "read_log", "record_schema"]

SCHEMA_VERSION = 1
#: Fields a record may have; any other key makes it invalid.
RECORD_FIELDS = (
    "schema", "record_id", "cohort", "case_id", "rater", "session_id", "position", "scales",
    "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved", "seconds_on_case",
    "training", "adjudicator",
)
REQUIRED_FIELDS = ("record_id", "case_id", "rater", "scales", "time_saved")
#: A line longer than this is left out unread (and never written): a record is about 1 KB with room
#: for a long comment, and a rater's process could append gigabytes to make every coordinator tool
#: slow or run out of memory. (Any line that fails to parse, e.g. 100,000 nested brackets that
#: overflow the parser's recursion, is left out too.)
MAX_LINE_BYTES = 1024 * 1024
#: How far ahead of this machine's clock a ``time_saved`` may be (clocks of two machines differ a
#: little); a later one would win "latest" over every real re-score, so it is refused and left out.
CLOCK_TOLERANCE = timedelta(minutes=5)
# Same alphabet as rater IDs (and cohort display IDs): safe in file names, CSV cells and HTML.
_ID = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"
_TEXT_OR_NULL = {"type": ["string", "null"]}


@dataclass(frozen=True)
class RecordProblem:
    """A line of a rater's log that is left out: not JSON (e.g. cut by a crash) or not a valid record.

    Examples
    --------
    >>> str(RecordProblem(Path("labels/pilot/rad1.jsonl"), 7, "scores = [1, 2] must be object"))
    'labels/pilot/rad1.jsonl:7: ignored invalid record (scores = [1, 2] must be object)'
    """

    path: Path
    line_number: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_number}: ignored invalid record ({self.reason})"


class LogEntry(NamedTuple):
    """A valid record with where it sits in its log and its own save time (decides "latest")."""

    line_number: int
    saved_at: datetime
    record: dict


def _scale_schema(values: list[int] | None, components: Iterable[str] | None) -> dict:
    """Schema of one scale's entry; ``None`` = a scale the reader was not told about (structure only)."""
    score: dict[str, Any] = {"type": ["integer", "null"]}
    if values is not None:
        score["enum"] = [*values, None]
    scores: dict[str, Any] = {"type": "object", "minProperties": 1}
    if components is None:
        scores.update(propertyNames={"pattern": r"^(?!total$)[A-Za-z0-9][A-Za-z0-9_-]*$"}, additionalProperties=score)
    else:
        keys = list(components)
        scores.update(properties={k: score for k in keys}, required=keys, additionalProperties=False)
    return {"type": "object", "required": ["version", "scores", "total"], "additionalProperties": False,
            "properties": {"version": {"type": "string"}, "scores": scores, "total": {"type": ["integer", "null"]}}}


def record_schema(scales=None) -> dict:
    """The JSON Schema (draft 7) of a label record.

    Parameters
    ----------
    scales : iterable of covsev_tools.scales.Scale, optional
        The cohort's scales: only these may appear, with their own components and levels. Default:
        the built-in scales are checked fully and any other scale name for structure only (integer
        or null scores), so pass the cohort's scales wherever the cohort is known.

    Returns
    -------
    dict

    Examples
    --------
    >>> from covsev_tools.scales import load_scale
    >>> schema = record_schema([load_scale("opacity")])
    >>> schema["properties"]["scales"]["properties"]["opacity"]["properties"]["scores"]["required"]
    ['right', 'left']
    >>> schema["additionalProperties"]
    False
    """
    from covsev_tools.scales import builtin_scales

    known = list(scales) if scales is not None else list(builtin_scales().values())
    entries = {s.name: _scale_schema(list(s.values), s.component_keys) for s in known}
    scales_schema = {"type": "object", "properties": entries,
                     "additionalProperties": False if scales is not None else _scale_schema(None, None)}
    properties = {
        "schema": {"const": SCHEMA_VERSION},
        "record_id": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,128}$"},
        "cohort": {"type": "string"},
        "case_id": {"type": "string", "pattern": _ID},
        "rater": {"type": "string"},
        "session_id": _TEXT_OR_NULL,
        "position": {"type": ["integer", "null"], "minimum": 1},
        "scales": scales_schema,
        "not_assessable": {"type": "boolean"},
        "not_assessable_reason": _TEXT_OR_NULL,
        "comment": _TEXT_OR_NULL,
        "time_shown": {"type": ["string", "null"], "pattern": _TIME},
        "time_saved": {"type": "string", "pattern": _TIME},
        "seconds_on_case": {"type": ["number", "null"], "minimum": 0},
        "training": {"type": "boolean"},  # a training-round save (kept apart from the study's)
        "adjudicator": {"type": "string", "pattern": _ID},  # who saved a 'consensus' record (reason: comment)
    }
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "covsev label record",
            "type": "object", "required": list(REQUIRED_FIELDS), "properties": properties,
            "additionalProperties": False}


@functools.lru_cache(maxsize=32)
def _validator(scales: tuple | None):
    import fastjsonschema

    return fastjsonschema.compile(record_schema(scales))


def _explain(exc) -> str:
    """A schema failure as one line: the field, its value and what was expected."""
    where = exc.name[5:] if exc.name.startswith("data.") else ""
    prefix = f"{where}: " if where else ""
    if exc.rule == "required":
        missing = [f for f in exc.rule_definition if not isinstance(exc.value, dict) or f not in exc.value]
        return f"{prefix}missing fields {missing}"
    if exc.rule == "additionalProperties":
        unknown = sorted(set(exc.value) - set(exc.definition.get("properties", {})))
        what = {"": "key", "scales": "scale"}.get(where, "component" if where.endswith(".scores") else "key")
        return f"{prefix}unknown {what}(s) {unknown}"
    if exc.rule == "type" and not where:
        return (f"not a record: missing fields {list(REQUIRED_FIELDS)} "
                f"(a JSON {type(exc.value).__name__}, not an object)")
    tail = exc.message[len(exc.name):].strip()
    if exc.rule == "enum":  # the scale's levels, without the null only a not-assessable record may use
        tail = f"must be one of {[v for v in exc.rule_definition if v is not None]} (or null when not assessable)"
    value = repr(exc.value)
    value = value if len(value) <= 60 else value[:57] + "..."
    return f"{where or 'record'} = {value} {tail}"


def _scores_add_up(record: dict) -> str | None:
    """What no schema can say: totals are sums; a record that is not 'not assessable' has every score."""
    blind = record.get("not_assessable", False)
    for name, entry in record["scales"].items():
        scores, total = entry["scores"], entry["total"]
        if not blind and (total is None or None in scores.values()):
            return f"scales.{name}: a score or the total is null but the record is not 'not assessable'"
        if total is not None and (None in scores.values() or total != sum(scores.values())):
            return f"scales.{name}.total = {total!r} is not the sum of its scores {scores}"
    return None


def check_record(record: Any, *, scales=None, rater: str | None = None, cohort: str | None = None) -> str | None:
    """Why ``record`` is not a valid label record, or ``None`` when it is.

    Parameters
    ----------
    record : any
        A parsed JSON value.
    scales : iterable of Scale, optional
        The cohort's scales (see :func:`record_schema`).
    rater, cohort : str, optional
        The rater whose log the record is in and the store's cohort: the record's own ``rater`` must
        equal it, and its ``cohort`` (when present) too.

    Returns
    -------
    str or None
        The first problem found, in words.

    Examples
    --------
    >>> record = {"record_id": "r1", "case_id": "c1", "rater": "ann", "scales": {},
    ...           "time_saved": "2026-01-05T10:02:40Z"}
    >>> check_record(record, rater="ann") is None
    True
    >>> check_record(record, rater="zed")
    "rater 'ann' is not the rater of this log ('zed')"
    >>> check_record({**record, "not_assessable": "false"})
    "not_assessable = 'false' must be boolean"
    """
    return _check(record, _validator(tuple(scales) if scales is not None else None), rater, cohort,
                  datetime.now(timezone.utc))


def _check(record: Any, validate, rater: str | None, cohort: str | None, now: datetime) -> str | None:
    import fastjsonschema

    try:
        validate(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return _explain(exc)
    seconds = record.get("seconds_on_case")
    if isinstance(seconds, float) and not math.isfinite(seconds):  # 1e999 parses as infinity
        return f"seconds_on_case = {seconds!r} is not a finite number"
    if rater is not None and record["rater"] != rater:
        return f"rater {record['rater']!r} is not the rater of this log ({rater!r})"
    if cohort is not None and record.get("cohort", cohort) != cohort:
        return f"cohort {record['cohort']!r} is not this store's cohort ({cohort!r})"
    try:
        saved_at = _saved_at(record)
    except ValueError as exc:
        return f"time_saved = {record['time_saved']!r} is not a date and time ({exc})"
    if saved_at > now + CLOCK_TOLERANCE:
        return (f"time_saved = {record['time_saved']!r} is in the future (this machine's clock: "
                f"{now.isoformat(timespec='seconds')})")
    return _scores_add_up(record)


def _no_constant(name: str):
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON; Python's reader would take them."""
    raise ValueError(f"{name} is not a JSON number")


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """One log line as a JSON value, or why not: never raises (a hostile line may nest 60,000 deep)."""
    if len(raw) > MAX_LINE_BYTES:
        return None, f"line of {len(raw):,} bytes, over the limit of {MAX_LINE_BYTES:,}: not read"
    try:
        return json.loads(raw, parse_constant=_no_constant), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = getattr(exc, "msg", None) or getattr(exc, "reason", None) or str(exc)
        return None, f"not valid JSON: {reason}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"cannot be read ({type(exc).__name__}: {str(exc)[:80]})"


def _saved_at(record: dict) -> datetime:
    """The record's save time as an aware datetime (a time without zone is not allowed by the schema)."""
    return datetime.fromisoformat(record["time_saved"].replace("Z", "+00:00"))


def read_log(path: Path, data: bytes, *, rater: str, cohort: str | None = None,
             scales=None) -> tuple[list[LogEntry], list[RecordProblem]]:
    """Split one rater's log into valid records and the lines left out.

    A line is left out when it is not JSON (e.g. cut by a crash), fails :func:`check_record`, or
    repeats the ``record_id`` of an earlier line of the log (a re-score has a new ``record_id``: it is
    history, not a duplicate).

    Parameters
    ----------
    path : Path
        The log (named in problems).
    data : bytes
        Its content.
    rater : str
        The rater the log belongs to (its file name).
    cohort : str, optional
        The store's cohort.
    scales : iterable of Scale, optional
        The cohort's scales.

    Returns
    -------
    entries, problems : list of LogEntry, list of RecordProblem

    Examples
    --------
    >>> line = b'{"record_id": "r1", "case_id": "c1", "rater": "ann", "scales": {}, "time_saved": "2026-01-05T10:00:00Z"}'
    >>> entries, problems = read_log(Path("ann.jsonl"), line + b"\\n" + line + b"\\n{cut", rater="ann")
    >>> [e.line_number for e in entries], [(p.line_number, p.reason[:22]) for p in problems]
    ([1], [(2, "repeats record_id 'r1'"), (3, 'not valid JSON: Expect')])
    """
    problems: list[RecordProblem] = []
    entries = list(iter_log(path, data, rater=rater, cohort=cohort, scales=scales, problems=problems))
    return entries, problems


def iter_log(path: Path, data: bytes, *, rater: str, cohort: str | None = None, scales=None,
             problems: list) -> Iterator[LogEntry]:
    """:func:`read_log` one record at a time (lines left out are appended to ``problems``).

    Examples
    --------
    >>> problems = []
    >>> list(iter_log(Path("ann.jsonl"), b"[1]", rater="ann", problems=problems)), problems[0].line_number
    ([], 1)
    """
    validate = _validator(tuple(scales) if scales is not None else None)
    seen: dict[str, int] = {}
    now = datetime.now(timezone.utc)
    for number, raw in enumerate(io.BytesIO(data), start=1):  # line by line: no list of all lines
        raw = raw[:-1] if raw.endswith(b"\n") else raw
        if not raw.strip():
            continue
        record, reason = _parse(raw)
        if reason is not None:
            problems.append(RecordProblem(path, number, reason))
            continue
        try:
            reason = _check(record, validate, rater, cohort, now)
        except Exception as exc:  # noqa: BLE001 -- whatever a line holds, the tools go on and name it
            reason = f"cannot be checked ({type(exc).__name__}: {str(exc)[:80]})"
        if reason is None and record["record_id"] in seen:
            reason = f"repeats record_id {record['record_id']!r} of line {seen[record['record_id']]}"
        if reason is not None:
            problems.append(RecordProblem(path, number, reason))
            continue
        seen[record["record_id"]] = number
        yield LogEntry(number, _saved_at(record), record)
