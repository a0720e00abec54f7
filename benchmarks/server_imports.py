"""CPU that covsev adds to each rater's server and kernel start, by what they import.

Every rater's login starts a Jupyter server and a kernel as the rater's account; twenty raters
logging in together start forty processes on the study machine, so what each imports counts
twenty times. This runs the imports of a rater's server and of its scoring page's kernel in fresh
processes, taking turns, and prints the median CPU time (user + system) of each way:

* ``stack``           Jupyter Server, Voila and JupyterHub's single-user extension (server), or
                      ipykernel with IPython and ipywidgets (kernel): what covsev cannot change;
* ``covsev``          the stack and covsev as the study runs it (server: ``hub.singleuser``; kernel:
                      ``from covsev_tools.scoring import launch``), with the bytecode ``hub init`` writes;
* ``all names``       as ``covsev``, but importing every public name of ``covsev_tools.hub`` and
                      ``covsev_tools.scoring``, as those packages' ``__init__`` did before they became lazy;
* ``no bytecode``     as ``covsev``, from a copy of covsev without ``__pycache__`` (what a rater's
                      process does when the installation holds no bytecode: it cannot write any).

Usage::

    python benchmarks/server_imports.py            # 7 runs of each way
    python benchmarks/server_imports.py --repeat 15
"""
from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# as the study's jupyterhub-singleuser command starts (see covsev_tools.hub.hubconfig.SINGLEUSER_CODE)
SERVER_STACK = ("import sys; sys.modules['rfc3987_syntax'] = None\n"
                "import jupyter_server.serverapp, jupyterhub.singleuser.extension, voila.server_extension\n")
KERNEL_STACK = "import ipykernel.kernelapp, IPython, ipywidgets\n"
SERVER = SERVER_STACK + "import covsev_tools.hub.singleuser\n"
KERNEL = KERNEL_STACK + "from covsev_tools.scoring import launch\n"


def all_names(*packages: str) -> str:
    """Code importing every public name of ``packages``, as their eager ``__init__`` files did."""
    return "".join(f"import {p} as m; [getattr(m, n) for n in m.__all__]\n" for p in packages)


WAYS = {
    "server": {"stack": SERVER_STACK, "covsev": SERVER,
               "all names": SERVER + all_names("covsev_tools.hub", "covsev_tools.scoring")},
    "kernel": {"stack": KERNEL_STACK, "covsev": KERNEL, "all names": KERNEL + all_names("covsev_tools.scoring")},
}


def cpu_of(code: str, env: dict) -> float:
    """CPU seconds (user + system) of a fresh ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-B", "-c", code], check=True, env=env, cwd="/")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each way (median shown)")
    args = parser.parse_args(argv)

    compileall.compile_dir(str(REPO / "covsev_tools"), quiet=2)  # what hub init does
    bare = Path(tempfile.mkdtemp(prefix="covsev-nobytecode-"))
    shutil.copytree(REPO / "covsev_tools", bare / "covsev_tools",
                    ignore=shutil.ignore_patterns("__pycache__"))
    try:
        base_env = {**os.environ, "PYTHONPATH": str(REPO)}
        envs = {"stack": base_env, "covsev": base_env, "all names": base_env,
                "no bytecode": {**os.environ, "PYTHONPATH": str(bare)}}
        print(f"median CPU of {args.repeat} fresh processes, {os.cpu_count()} CPUs, "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for process, ways in WAYS.items():
            ways = {**ways, "no bytecode": ways["covsev"]}
            times = {way: [] for way in ways}
            for _ in range(args.repeat):  # taking turns, so that drift on a shared machine hits all ways
                for way, code in ways.items():
                    times[way].append(cpu_of(code, envs[way]))
            stack = statistics.median(times["stack"])
            cells = "  ".join(f"{way} {statistics.median(t):.2f} s (+{statistics.median(t) - stack:.2f})"
                              for way, t in times.items())
            print(f"{process:6}  {cells}")
    finally:
        shutil.rmtree(bare, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
