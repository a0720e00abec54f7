"""What the console script's quick exit saves: one command with and without the interpreter's teardown.

``covsev`` (``cli.console_main``) leaves through ``os._exit`` once every exit handler has run,
skipping the finalisation of the ~1,900 modules a report loads. This runs the same command both
ways in fresh processes, the two taking turns, and prints wall and CPU time side by side:

* ``quick``   the console script, ``.venv/bin/covsev ...``;
* ``full``    ``python -c "import sys; from covsev_tools.cli import main; sys.exit(main())"``,
              the same command with Python's own exit.

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

ROOT = Path(__file__).resolve().parents[1]
FULL_EXIT = "import sys; from covsev_tools.cli import main; sys.argv[0] = 'covsev'; sys.exit(main())"


def timed(argv: list[str]) -> tuple[float, float]:
    before = os.times()
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    from covsev_tools.datasets import simulate_cohort

    work = Path(tempfile.mkdtemp(prefix="covsev-exit-"))
    cohort = simulate_cohort(seed=0, n_cases=args.cases, n_raters=3).write(work / "cohort")
    command = ["report", "--cohort", str(cohort), "--out", str(work / "report"), "--bootstrap", "1000"]
    ways = {"quick": [str(Path(sys.executable).parent / "covsev"), *command],
            "full": [sys.executable, "-c", FULL_EXIT, *command]}
    runs = {name: [] for name in ways}
    for _ in range(args.repeat):
        for name, way in ways.items():
            runs[name].append(timed(way))
    print(f"covsev report, {args.cases} cases x 3 raters, {args.repeat} runs each (median wall / CPU s)")
    for name, values in runs.items():
        print(f"  {name:<6} {statistics.median(w for w, _ in values):6.2f} / "
              f"{statistics.median(c for _, c in values):6.2f}   "
              f"(wall {min(w for w, _ in values):.2f}-{max(w for w, _ in values):.2f})")
    saved = statistics.median(w for w, _ in runs["full"]) - statistics.median(w for w, _ in runs["quick"])
    print(f"  quick exit saves {saved:.2f} s per command "
          f"({saved / statistics.median(w for w, _ in runs['full']):.0%} of the full exit's wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
