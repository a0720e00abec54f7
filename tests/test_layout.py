"""The package follows the data path: every import, inside functions too, goes down the path, never up.

``python3 ../shared/tools/layout_check.py`` finds import circles among modules; this test checks the
direction of every ``import`` statement of the package (module level, inside functions, under
``TYPE_CHECKING``), which a circle check does not see when the back-import sits in a function.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "covsev_tools"

#: The stages in data-path order: a stage imports only itself and the stages before it.
STAGES = ("scales", "images", "pull", "cohort", "labels", "scoring", "model", "agreement", "linking",
          "validation", "report")
#: Beside the path: what each may import (besides the shared top-level modules).
BESIDE = {
    "datasets": STAGES[:STAGES.index("model") + 1],   # simulation needs the model's mapping, no statistics
    "hub": STAGES,
    "cli": STAGES + ("datasets", "hub"),
}
#: Stages that may use ``datasets`` (the report's demo runs on a simulated study).
USES_DATASETS = ("report",)
TOP_LEVEL = {"errors", "files", "defaults", "lazy", "__init__", "__main__", "_version", "__version__"}


def imports_of(path: Path):
    """``(line, covsev_tools subpackage or module)`` of every import in a file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "covsev_tools" else \
                [f"covsev_tools.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "covsev_tools" and len(parts) > 1:
                yield node.lineno, parts[1]


def allowed(owner: str) -> set[str]:
    if owner in STAGES:
        before = set(STAGES[:STAGES.index(owner) + 1])
        return before | ({"datasets"} if owner in USES_DATASETS else set())
    return set(BESIDE[owner]) | {owner}


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1)


def test_every_subpackage_has_a_place_on_the_data_path():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    unplaced = subpackages - set(STAGES) - set(BESIDE)
    assert not unplaced, f"place {sorted(unplaced)} in STAGES or BESIDE here and in docs/ARCHITECTURE.md"


def test_no_import_goes_back_up_the_data_path():
    wrong = []
    for path in modules():
        owner = path.relative_to(PACKAGE).parts[0]
        for line, target in imports_of(path):
            if target in TOP_LEVEL or target == owner:
                continue
            if target not in allowed(owner):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({owner} imports {target})")
    assert not wrong, "imports back up the data path:\n" + "\n".join(wrong)


@pytest.mark.parametrize("source, owner, found", [
    ("def f():\n    from covsev_tools.report import build\n", "validation", ["report"]),
    ("from covsev_tools import cli\n", "model", ["cli"]),
    ("import covsev_tools.datasets.simulate as s\n", "scoring", ["datasets"]),
    ("from covsev_tools.agreement import icc\n", "validation", []),
])
def test_the_walker_sees_imports_inside_functions_and_every_spelling(tmp_path, source, owner, found):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert [t for _, t in imports_of(path) if t not in allowed(owner)] == found
