"""The Python a study account runs: its servers and kernels start as the rater's own Unix account.

That account must be able to run the interpreter. When this environment's Python lives where
other accounts cannot reach it (pyenv under ``/root``, a home folder), ``hub init`` makes a small
virtual environment in ``app/runtime`` from a system Python of the same version, whose
``site-packages`` points at this environment's packages: the same covsev, Voila and JupyterHub,
run by an interpreter every account can execute.

Examples
--------
>>> import pathlib, tempfile
>>> private = pathlib.Path(tempfile.mkdtemp())        # mkdtemp makes a 0700 folder
>>> _ = (private / "python").write_text(""); (private / "python").chmod(0o755)
>>> usable_by_everyone(private / "python"), usable_by_everyone("/bin/sh")
(False, True)
"""
from __future__ import annotations

import compileall
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from covsev_tools.files import write_text_atomic
from covsev_tools.hub.study import Study, StudyError

__all__ = ["compile_bytecode", "rater_python", "prepare_runtime", "usable_by_everyone"]


def usable_by_everyone(path: str | os.PathLike) -> bool:
    """True if an unprivileged account can execute ``path`` (every folder above it searchable).

    Examples
    --------
    >>> usable_by_everyone("/bin/sh")
    True
    """
    real = Path(os.path.realpath(path))
    try:
        if not stat.S_IMODE(real.stat().st_mode) & stat.S_IXOTH:
            return False
        return all(stat.S_IMODE(p.stat().st_mode) & stat.S_IXOTH for p in real.parents)
    except OSError:
        return False


def _runtime_dir(study: Study) -> Path:
    return study.app_dir / "runtime"


def rater_python(study: Study) -> str:
    """The interpreter of study accounts' servers: ``app/runtime`` if made, else this one.

    Examples
    --------
    >>> rater_python(Study.load("study"))        # doctest: +SKIP
    '/srv/study/app/runtime/bin/python'
    """
    runtime = _runtime_dir(study) / "bin" / "python"
    return str(runtime) if runtime.exists() else sys.executable


def _system_python() -> str:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for folder in ("/usr/bin", "/usr/local/bin", "/opt/python/bin"):
        candidate = Path(folder) / version
        if candidate.exists() and usable_by_everyone(candidate):
            return str(candidate)
    raise StudyError(f"{sys.executable} cannot be run by other accounts and no {version} was found in "
                     "/usr/bin or /usr/local/bin: install covsev with a Python every account can run")


def prepare_runtime(study: Study) -> str:
    """Make ``app/runtime`` if study accounts cannot run this Python; write the kernel spec; the path.

    Examples
    --------
    >>> prepare_runtime(Study.load("study"))     # doctest: +SKIP
    '/srv/study/app/runtime/bin/python'
    """
    if not usable_by_everyone(sys.executable):
        runtime = _runtime_dir(study)
        if not (runtime / "bin" / "python").exists():
            subprocess.run([_system_python(), "-m", "venv", "--without-pip", str(runtime)], check=True)
        purelib = Path(sysconfig.get_paths(vars={"base": str(runtime)})["purelib"])
        # addsitedir (not a bare path) so this environment's own .pth files (editable covsev) apply.
        write_text_atomic(purelib / "zz_covsev_environment.pth",
                          f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    python = rater_python(study)
    spec = {"argv": [python, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (covsev study)", "language": "python"}
    kernel_dir = study.app_dir / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(kernel_dir / "kernel.json", json.dumps(spec, indent=1) + "\n")
    return python


def compile_bytecode(package: str = "covsev_tools") -> Path | None:
    """Write the bytecode cache of ``package`` (covsev itself), which study accounts cannot write.

    Every rater's server and kernel imports covsev as the rater's account, which may not write
    ``__pycache__`` in the installation. Without a cache there -- an editable install, or an
    environment with ``PYTHONDONTWRITEBYTECODE`` set -- each of them compiles the covsev modules it
    imports at every start: about 0.05 s of CPU per kernel (``benchmarks/server_imports.py``), which
    twenty raters logging in together pay twenty times. pip writes the cache of the other packages
    when it installs them. Stale files are harmless: Python checks each one against its source's
    time and size and ignores it if they differ. Only an installation this account owns is written
    (root's ``__pycache__`` folders in a coordinator's checkout would be in their way). The
    package's folder, or None when the cache could not be written in full (then the processes
    only start a little slower).

    Examples
    --------
    >>> folder = compile_bytecode()                      # doctest: +SKIP
    >>> sorted(p.name for p in (folder / "__pycache__").iterdir())[:1]  # doctest: +SKIP
    ['__init__.cpython-311.pyc']
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    if folder.stat().st_uid != os.geteuid():
        return None
    # the files take the process's umask; 0o022 so that every account can read them
    previous = os.umask(0o022)
    try:
        ok = compileall.compile_dir(str(folder), quiet=2, workers=1)
    except OSError:
        ok = False
    finally:
        os.umask(previous)
    return folder if ok else None


def remove_runtime(study: Study) -> None:
    """Delete ``app/runtime`` (``hub init`` makes it again when needed).

    Examples
    --------
    >>> remove_runtime(Study.load("study"))      # doctest: +SKIP
    """
    shutil.rmtree(_runtime_dir(study), ignore_errors=True)
