"""The two documented set-ups (pip via `make`, conda via environment.yml) install the same things."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
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


@pytest.mark.slow
def test_wheel_installs_outside_the_checkout_and_runs_the_demo(tmp_path):
    """The built wheel carries every data file the package reads (scales, templates, static files,
    the bundled published labels): installed in a fresh virtual environment and run from a folder
    outside the checkout, `covsev demo` writes both reports."""
    import subprocess
    import sys
    import sysconfig
    import venv
    import zipfile

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(wheels), str(REPO)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("covsev-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data_file in ("covsev_tools/scales/extent.yaml", "covsev_tools/report/templates/report.html.j2",
                      "covsev_tools/labels/data/covid-severity-scores.csv", "covsev_tools/hub/templates/error.html",
                      "covsev_tools/hub/templates/not_running.html"):
        assert data_file in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # The heavy dependencies (torch, pandas, ...) come from the test environment through a path
    # entry placed after the new environment's own site-packages; covsev itself only from the wheel.
    (Path(site) / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "--quiet", str(wheel)], check=True)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    where = subprocess.run([str(python), "-c", "import covsev_tools; print(covsev_tools.__file__)"],
                           check=True, capture_output=True, text=True, cwd=run_dir).stdout
    assert where.startswith(site)
    covsev = env_dir / "bin" / "covsev"
    result = subprocess.run([str(covsev), "demo", "--out", "demo", "--bootstrap", "50"],
                            capture_output=True, text=True, cwd=run_dir, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (run_dir / "demo" / "report" / "report.html").is_file()
    assert (run_dir / "demo" / "published-report" / "report.html").is_file()


def test_output_piped_into_head_ends_quietly(tmp_path):
    """`covsev ... | head` closes the pipe early: no BrokenPipeError traceback, exit status 0."""
    import subprocess

    # `true` exits before covsev has started, so every write meets a closed pipe
    script = f"{REPO}/.venv/bin/covsev plan icc --expected 0.8 --raters 3 --width 0.2 | true"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.returncode == 0


def _console(tmp_path, body: str, *args: str, before: str = ""):
    """Run ``covsev_tools.cli.console_main`` (the console script) with ``main`` replaced by
    ``body`` (Python, the function's body), as a fresh interpreter would; ``before`` runs first."""
    import subprocess
    import sys
    import textwrap

    script = ("import atexit, importlib, sys\n" + before +
              "cli = importlib.import_module('covsev_tools.cli.main')\n"
              "def main(argv=None):\n" + textwrap.indent(textwrap.dedent(body), "    ") +
              "cli.main = main\n"
              "sys.argv = ['covsev', *sys.argv[1:]]\n"
              "cli.console_main()\n")
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("body, status", [
    ("return 0\n", 0),
    ("return 2\n", 2),
    ("raise SystemExit(None)\n", 0),           # argparse --help / --version
    ("raise SystemExit(2)\n", 2),              # argparse usage error
    ("raise SystemExit('bad thing')\n", 1),    # a message: printed, status 1
    ("raise RuntimeError('boom')\n", 1),       # an escaping exception: traceback, status 1
    ("raise KeyboardInterrupt\n", -2),        # Ctrl-C: killed by SIGINT, as Python leaves
])
def test_console_script_exits_with_the_status_python_would_give(tmp_path, body, status):
    result = _console(tmp_path, body)
    assert result.returncode == status, result.stderr
    if "RuntimeError" in body:
        assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr
    if "bad thing" in body:
        assert result.stderr.strip() == "bad thing"


def test_console_script_runs_exit_handlers_and_flushes_and_freezes_the_heap_for_the_teardown(tmp_path):
    """Exit handlers a command registers (temporary folders, atexit) still run and buffered
    output still arrives; once the exit handlers start, the heap is frozen so that the
    interpreter's last garbage collections skip it (what cost about 1 s after a report)."""
    before = "import gc\natexit.register(lambda: open('frozen.txt', 'w').write(str(gc.get_freeze_count() > 0)))\n"
    body = """
    import gc
    import tempfile
    folder = tempfile.TemporaryDirectory()
    sys.modules["__main__"].folder = folder
    open("folder.txt", "w").write(folder.name)
    open("frozen-during-command.txt", "w").write(str(gc.get_freeze_count() > 0))
    atexit.register(lambda: open("handler-ran.txt", "w").write("yes"))
    sys.stdout.write("buffered, no newline")
    return 0
    """
    result = _console(tmp_path, body, before=before)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "buffered, no newline"
    assert (tmp_path / "handler-ran.txt").read_text() == "yes"
    assert not Path((tmp_path / "folder.txt").read_text()).exists()  # its finaliser ran
    # nothing frozen while the command runs; frozen by the time the earliest handler runs (last)
    assert (tmp_path / "frozen-during-command.txt").read_text() == "False"
    assert (tmp_path / "frozen.txt").read_text() == "True"


def test_console_main_inside_another_program_leaves_its_exit_to_that_program(tmp_path):
    """A handler registered before console_main (pytest, coverage) still runs, and the process
    keeps its own exit status."""
    before = ("atexit.register(lambda: open('earlier-handler.txt', 'w').write('ran'))\n"
              "atexit.register(lambda: sys.stdout.write('exit 3 wins') or None)\n")
    body = "return 0\n"
    script_end = "try:\n    cli.console_main()\nexcept SystemExit:\n    pass\nsys.exit(3)\n"
    import subprocess
    import sys

    result = _console(tmp_path, body, before=before)
    assert result.returncode == 0 and (tmp_path / "earlier-handler.txt").read_text() == "ran"
    program = (before + "import importlib\ncli = importlib.import_module('covsev_tools.cli.main')\n"
               "sys.argv = ['covsev', '--version']\n" + script_end)
    result = subprocess.run([sys.executable, "-c", "import atexit, sys\n" + program],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("covsev ") and result.stdout.endswith("exit 3 wins")


def test_closed_standard_output_ends_without_a_traceback(tmp_path):
    import subprocess

    result = subprocess.run(["bash", "-c", f"{REPO}/.venv/bin/covsev --version >&-"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr
