"""The two documented set-ups (pip via `make`, conda via environment.yml) install the same things."""
from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    reqs = []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            reqs += [r for r in item["pip"] if not r.startswith("-e")]
        elif not item.startswith(("python=", "pip")):
            reqs.append(item)
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert set(_environment()) == set(_pyproject())


def test_torch_pins_are_identical_and_exact():
    pip, conda = _pyproject(), _environment()
    for package, pin in (("torch", "torch==2.14.1"), ("torchvision", "torchvision==0.29.1")):
        assert pip[package] == conda[package] == pin


def test_console_script_points_at_the_cli():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["covsev"] == "covsev_tools.cli:console_main"
