"""Scales as data: built-ins, user scale files (YAML/TOML/JSON), score validation (incl. hypothesis)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from covsev_tools.scales import (
    Scale,
    ScaleDefinitionError,
    ScoreError,
    builtin_scales,
    load_scale,
    load_scales,
    scale_from_dict,
    validate_scores,
)

BUILTINS = builtin_scales()


# ---------------------------------------------------------------------------------- built-ins


def test_builtin_scales_match_cohen_2020_and_brixia():
    extent, opacity, brixia = BUILTINS["extent"], BUILTINS["opacity"], BUILTINS["brixia"]
    assert extent.component_keys == ("right", "left") and extent.values == (0, 1, 2, 3, 4)
    assert (extent.min_total, extent.max_total, extent.total_name) == (0, 8, "geographic_extent")
    assert [lv.text for lv in extent.levels][1:] == ["< 25% involvement", "25-50% involvement",
                                                     "50-75% involvement", "> 75% involvement"]
    assert opacity.component_keys == ("right", "left") and opacity.values == (0, 1, 2, 3)
    assert [lv.text for lv in opacity.levels] == ["No opacity", "Ground glass opacity", "Consolidation",
                                                  "White-out"]
    assert opacity.max_total == 6
    assert brixia.component_keys == tuple("ABCDEF") and brixia.max_total == 18
    assert [c.side for c in brixia.components] == ["right"] * 3 + ["left"] * 3
    for scale in BUILTINS.values():
        assert "doi" in scale.reference.lower() and scale.version == "1"


def test_load_scale_by_name_and_unknown_name():
    assert load_scale("opacity") == BUILTINS["opacity"]
    with pytest.raises(ScaleDefinitionError, match=r"severity: unknown scale; built-in scales are \['brixia'"):
        load_scale("severity")


def test_validate_scores_totals_and_accepts_integral_numbers():
    totals = validate_scores(["extent", "opacity"], {"extent": {"right": 2, "left": np.int64(3)},
                                                    "opacity": {"right": 1.0, "left": 2}})
    assert totals == {"extent": 5, "opacity": 3}
    assert BUILTINS["brixia"].total(dict(zip("ABCDEF", [3, 2, 1, 0, 1, 2]))) == 9


@pytest.mark.parametrize("scores, message", [
    ({"right": 2}, "missing component 'left'"),
    ({"right": 2, "left": 5}, r"component 'left': 5 is out of range \(allowed 0-4\)"),
    ({"right": -1, "left": 0}, "component 'right': -1 is out of range"),
    ({"right": 2, "left": 1, "middle": 0}, "unknown component 'middle'"),
    ({"right": 2.5, "left": 1}, "component 'right': 2.5 is not an integer"),
    ({"right": True, "left": 1}, "component 'right': True is not an integer"),
    ({"right": "2", "left": 1}, "component 'right': '2' is not an integer"),
    ({"right": None, "left": 1}, "component 'right': None is not an integer"),
])
def test_invalid_scores_name_the_component(scores, message):
    with pytest.raises(ScoreError, match=r"scale 'extent': .*" + message):
        BUILTINS["extent"].validate(scores)


def test_validate_scores_names_missing_and_unknown_scales():
    with pytest.raises(ScoreError, match="missing scale 'opacity'.*unknown scale 'brixia'"):
        validate_scores(["extent", "opacity"], {"extent": {"right": 0, "left": 0}, "brixia": {}})
    with pytest.raises(ScoreError, match="scale 'opacity': missing component 'left'"):
        validate_scores(["extent", "opacity"], {"extent": {"right": 0, "left": 0}, "opacity": {"right": 1}})


def test_load_scales_from_comma_string_rejects_duplicates():
    assert [s.name for s in load_scales("extent, opacity")] == ["extent", "opacity"]
    with pytest.raises(ScaleDefinitionError, match="given twice"):
        load_scales("extent,extent")


# ---------------------------------------------------------------------------- user scale files

RALE = {
    "name": "rale", "version": "2", "title": "RALE (per lung consolidation)",
    "description": "Extent of consolidation per lung.", "total_name": "rale", "aggregation": "sum",
    "reference": "Warren MA et al. Thorax 73(9):840-846, 2018. doi:10.1136/thoraxjnl-2017-211280",
    "components": [{"key": "right", "label": "Right lung", "side": "right"},
                   {"key": "left", "label": "Left lung", "side": "left"}],
    "levels": [{"value": v, "text": t} for v, t in enumerate(["none", "<25%", "25-50%", "50-75%", ">75%"])],
}

RALE_TOML = '''
name = "rale"
version = "2"
title = "RALE (per lung consolidation)"
description = "Extent of consolidation per lung."
total_name = "rale"
aggregation = "sum"
reference = "Warren MA et al. Thorax 73(9):840-846, 2018. doi:10.1136/thoraxjnl-2017-211280"
components = [
  {key = "right", label = "Right lung", side = "right"},
  {key = "left", label = "Left lung", side = "left"},
]
levels = [
  {value = 0, text = "none"}, {value = 1, text = "<25%"}, {value = 2, text = "25-50%"},
  {value = 3, text = "50-75%"}, {value = 4, text = ">75%"},
]
'''


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json", ".toml"])
def test_a_user_scale_is_one_small_file_in_any_format(tmp_path, suffix):
    path = tmp_path / f"rale{suffix}"
    text = {".json": json.dumps(RALE), ".toml": RALE_TOML}.get(suffix, yaml.safe_dump(RALE))
    path.write_text(text, encoding="utf-8")
    scale = load_scale(path)
    assert scale.name == "rale" and scale.max_total == 8 and scale.source == str(path)
    assert scale.to_dict() == RALE
    assert load_scale(str(path)) == scale
    assert scale.total({"right": 4, "left": 1}) == 5


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("levels"), r"missing required field\(s\) \['levels'\]"),
    (lambda d: d.update(levels=[{"value": 0, "text": "none"}]), "levels: must be a list of at least two"),
    (lambda d: d["levels"][2].update(value="two"), r"levels\[2\]\.value: must be an integer, got 'two'"),
    (lambda d: d["levels"][3].update(value=1), "levels: duplicate values"),
    (lambda d: d["levels"][1].pop("text"), r"levels\[1\]\.text: must be a non-empty string"),
    (lambda d: d["components"][1].update(key="right"), "duplicate component key 'right'"),
    (lambda d: d["components"][0].update(side="middle"), r"components\[0\]\.side: must be 'right', 'left' or null"),
    (lambda d: d["components"][0].update(key="total"), "components\\[0\\]\\.key: 'total' must be"),
    (lambda d: d.update(components=[]), "components: must be a non-empty list"),
    (lambda d: d.update(aggregation="mean"), "aggregation: only 'sum' is supported"),
    (lambda d: d.update(colour="red"), r"top level: unknown field\(s\) \['colour'\]"),
    (lambda d: d.update(name="1st scale"), "name: '1st scale' must start with a letter"),
])
def test_bad_scale_files_say_which_file_and_what_is_wrong(tmp_path, change, message):
    data = json.loads(json.dumps(RALE))
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ScaleDefinitionError, match=message) as info:
        load_scale(path)
    assert info.value.source == str(path) and str(info.value).startswith(str(path))


@pytest.mark.parametrize("name, text, message", [
    ("broken.yaml", "name: [unclosed", "not valid YAML"),
    ("broken.json", "{", "not valid JSON"),
    ("broken.toml", "name = ", "not valid TOML"),
    ("list.yaml", "- a\n- b\n", "top level must be a mapping"),
    ("scale.txt", "name: x", "unsupported file type '.txt'"),
])
def test_unparseable_scale_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScaleDefinitionError, match=message):
        load_scale(path)


def test_missing_scale_file(tmp_path):
    with pytest.raises(ScaleDefinitionError, match="scale file not found"):
        load_scale(tmp_path / "nope.yaml")


# ------------------------------------------------------------------------- property tests

scales_st = st.sampled_from(sorted(BUILTINS.values(), key=lambda s: s.name))


@st.composite
def scale_and_valid_scores(draw):
    scale = draw(scales_st)
    scores = {c: draw(st.sampled_from(scale.values)) for c in scale.component_keys}
    return scale, scores


@settings(deadline=None)  # the machine is shared; timing is not what this tests
@given(scale_and_valid_scores())
def test_any_valid_score_dict_round_trips_and_totals_in_range(case):
    scale, scores = case
    assert scale.validate(scores) == scores
    assert scale.validate(json.loads(json.dumps(scores))) == scores
    total = scale.total(scores)
    assert scale.min_total <= total <= scale.max_total and total == sum(scores.values())


@st.composite
def scale_and_invalid_scores(draw):
    scale, scores = draw(scale_and_valid_scores())
    key = draw(st.sampled_from(scale.component_keys))
    kind = draw(st.sampled_from(["missing", "out_of_range", "not_int", "unknown"]))
    if kind == "missing":
        del scores[key]
    elif kind == "out_of_range":
        scores[key] = draw(st.integers().filter(lambda v: v not in scale.values))
    elif kind == "not_int":
        not_integral = st.floats().filter(lambda f: not (math.isfinite(f) and f == int(f)))
        scores[key] = draw(st.one_of(not_integral, st.text(), st.booleans(), st.none()))
    else:
        key = draw(st.text(min_size=1).filter(lambda k: k not in scale.component_keys))
        scores[key] = 0
    return scale, scores, key


@settings(deadline=None)
@given(scale_and_invalid_scores())
def test_invalid_score_dicts_are_always_rejected_naming_the_component(case):
    scale, scores, key = case
    with pytest.raises(ScoreError) as info:
        scale.validate(scores)
    assert repr(key) in str(info.value)


level_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda t: t.strip() == t)


@st.composite
def scale_definitions(draw):
    keys = draw(st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=6,
                         unique=True).filter(lambda ks: "total" not in ks))
    values = draw(st.lists(st.integers(-5, 20), min_size=2, max_size=8, unique=True))
    return {
        "name": draw(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)), "version": "1", "title": "T",
        "description": "", "total_name": "total", "aggregation": "sum", "reference": "",
        "components": [{"key": k, "label": k, "side": draw(st.sampled_from(["right", "left", None]))} for k in keys],
        "levels": [{"value": v, "text": draw(level_texts)} for v in sorted(values)],
    }


@settings(max_examples=50, deadline=None)
@given(scale_definitions())
def test_any_valid_definition_round_trips_through_a_file(tmp_path_factory, definition):
    path = tmp_path_factory.mktemp("scale") / "s.json"
    path.write_text(json.dumps(definition), encoding="utf-8")
    scale = load_scale(path)
    assert isinstance(scale, Scale) and scale.to_dict() == definition
    assert scale_from_dict(scale.to_dict()) == scale_from_dict(definition)
    low = {c: min(scale.values) for c in scale.component_keys}
    high = {c: max(scale.values) for c in scale.component_keys}
    assert (scale.total(low), scale.total(high)) == (scale.min_total, scale.max_total)
