"""What the console script's exit costs: the time from a command's end to its process's end.

``covsev`` (``cli.console_main``) freezes the heap (``gc.freeze``) once the exit handlers start, so
the interpreter's last garbage collections skip the objects of the ~1,900 modules a report loads.
This runs the same command three ways in fresh processes, taking turns, and prints the median time
between the command's return and the end of its process (the exit alone; the command's own time
on a shared machine drifts by more than the whole exit) and the CPU time of the whole process:

* ``console``  ``cli.console_main()``, as the ``covsev`` console script runs it;
* ``python``   ``sys.exit(main())``: Python's exit untouched;
* ``_exit``    ``os._exit`` right after flushing: no exit handlers and no teardown at all, the
               floor no exit that runs the handlers can reach.

Usage::

    python benchmarks/exit_teardown.py                       # a 100-case report, 5 runs each
    python benchmarks/exit_teardown.py --cases 300 --repeat 7
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Each way runs the command through cli.main and writes the time it returned to $EXIT_STAMP.
STAMPED = ("import importlib, os, sys, time\n"
           "cli = importlib.import_module('covsev_tools.cli.main')  # the module; the package exports main()\n"
           "command = cli.main\n"
           "def stamped(argv=None):\n"
           "    code = command(argv)\n"
           "    open(os.environ['EXIT_STAMP'], 'w').write(repr(time.time()))\n"
           "    return code\n"
           "cli.main = stamped\n"
           "sys.argv = ['covsev', *sys.argv[1:]]\n")
WAYS = {"console": STAMPED + "cli.console_main()\n",
        "python": STAMPED + "sys.exit(cli.main())\n",
        "_exit": STAMPED + "code = cli.main(); sys.stdout.flush(); sys.stderr.flush(); os._exit(code)\n"}


def timed(program: str, command: list[str], stamp: Path) -> tuple[float, float]:
    """(seconds from the command's return to the process's end, CPU seconds of the process)."""
    before = os.times()
    subprocess.run([sys.executable, "-c", program, *command], check=True, capture_output=True,
                   env={**os.environ, "MPLBACKEND": "Agg", "EXIT_STAMP": str(stamp)})
    ended = time.time()
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return ended - float(stamp.read_text()), cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    from covsev_tools.datasets import simulate_cohort

    work = Path(tempfile.mkdtemp(prefix="covsev-exit-"))
    cohort = simulate_cohort(seed=0, n_cases=args.cases, n_raters=3).write(work / "cohort")
    command = ["report", "--cohort", str(cohort), "--out", str(work / "report"), "--bootstrap", "1000"]
    runs = {name: [] for name in WAYS}
    for _ in range(args.repeat):
        for name, program in WAYS.items():
            runs[name].append(timed(program, command, work / "stamp"))
    print(f"covsev report, {args.cases} cases x 3 raters, {args.repeat} runs each: median exit (s, from the "
          f"command's return to the process's end) and CPU of the whole process (s)")
    for name, values in runs.items():
        exits = [e for e, _ in values]
        print(f"  {name:<8} exit {statistics.median(exits):5.2f} (range {min(exits):.2f}-{max(exits):.2f})"
              f"   CPU {statistics.median(c for _, c in values):6.2f}")
    python, console = (statistics.median(e for e, _ in runs[n]) for n in ("python", "console"))
    print(f"  the console script's exit saves {python - console:.2f} s per command against Python's own")
    return 0


if __name__ == "__main__":
    sys.exit(main())
