"""Load on the study server: N raters log in through JupyterHub and score at the same time.

Makes a throw-away study (generated 1024-pixel images, or ``--images DIR``), N rater accounts and
a hub on 127.0.0.1 (``covsev hub start``). Each rater, in its own thread, logs in through the hub's
form, has its server spawned, opens the scoring page and then scores ``--cases`` cases through the
Jupyter widget protocol on the page's kernel websocket (the clicks the page's JavaScript sends),
pausing about ``--think`` seconds between cases (uniformly 0.5-1.5 times it, and a random start
within the first ``--think`` seconds, so that saves arrive at random moments as they do when people
read at their own pace; ``--lockstep`` makes all N save in the same instant). Save-to-next is the
time from the Save click to the page showing the next case. Afterwards every confirmed save is looked up in the label logs.

Prints p50/p95/max save-to-next per rater and overall, memory per rater server (its processes'
PSS, server + kernel), the time from the login form to the first case's image by step (login,
spawn, page, first image) with the pages that never finished, the CPU seconds each rater's server
and kernel and the hub used until then, the machine's load average before and after (other work
on the machine counts), and ``lost: N``. Needs root (accounts), nodejs + configurable-http-proxy.
Not a test. Goals on a 2-core machine: 20 raters, p95 < 300 ms, lost 0; first image <= 5 s for one
rater alone, <= 20 s for 20 at once.

Run: .venv/bin/python benchmarks/hub_load.py [--raters 20] [--cases 10] [--think 1.0] [--lockstep] [--prestart]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the rater-as-a-program client the hub tests use too

LOAD_BEFORE = ""
HUB_CPU: dict[str, float] = {}
PRESTART: dict[str, float] = {}

#: Longest wait for all raters to be logged in with their page open.
SETUP_SECONDS = 600

#: The steps from the login form to the first case's image, as a browser takes them.
PHASES = ("login", "spawn", "page", "first image")

SCORES = [("extent", "right", 2), ("extent", "left", 3), ("opacity", "right", 1), ("opacity", "left", 2)]


def make_images(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` 1024x1024 greyscale PNGs: smooth chest-like gradients plus noise (~0.5 MB each)."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1024, 0:1024] / 1024.0
    for i in range(n):
        base = 120 + 80 * np.sin(3 * x + i) * np.cos(2 * y) + rng.normal(0, 12, (1024, 1024))
        Image.fromarray(np.clip(base, 0, 255).astype("uint8")).save(folder / f"img{i:03d}.png")
    return folder


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def pss_mib(pid: int) -> float:
    """Proportional set size of a process (shared pages split between sharers), MiB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def account_cpu(name: str) -> dict[str, float]:
    """CPU seconds of the account's server and kernel processes so far."""
    import pwd

    out = {"server": 0.0, "kernel": 0.0}
    for pid in processes_of(pwd.getpwnam(name).pw_uid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        kind = "kernel" if b"ipykernel" in cmdline else "server" if b"jupyterhub.singleuser" in cmdline else None
        if kind:
            out[kind] += cpu_seconds(pid)
    return out


def group_cpu(pid: int) -> float:
    """CPU seconds of the hub's process group (hub, proxy, culler) so far."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pid:
                    total += cpu_seconds(int(entry.name))
            except OSError:
                pass
    return total


class Rater(threading.Thread):
    """One rater: log in, open the page, wait for the start signal, score, record timings."""

    def __init__(self, url: str, name: str, password: str, cases: int, think: float, start: threading.Barrier,
                 lockstep: bool = False, seed: int = 0):
        super().__init__(daemon=True)
        from hub_client import RaterClient

        self.client = RaterClient(url, name, password)
        self.cases, self.think, self.start_barrier = cases, think, start
        self.lockstep, self.rng = lockstep, np.random.default_rng(seed)
        self.timings: list[float] = []
        self.confirmed: list[int] = []
        self.ready_seconds = None
        self.phases: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.error: str | None = None

    def run(self) -> None:
        client = self.client
        try:
            # what open_session does, step by step, each step timed
            steps = [("login", client.login), ("spawn", lambda: client.start_server(timeout=SETUP_SECONDS / 2)),
                     ("page", lambda: client.open_scoring_page(timeout=SETUP_SECONDS / 2)),
                     ("first image", lambda: client.request_states(timeout=SETUP_SECONDS / 2))]
            started = mark = time.monotonic()
            for step, call in steps:
                call()
                self.phases[step], mark = time.monotonic() - mark, time.monotonic()
            self.ready_seconds = time.monotonic() - started
            self.cpu = account_cpu(client.name)
        except Exception as exc:  # reported, and the others carry on
            self.error = f"setup: {exc}"
            self._wait_for_the_others()
            return
        try:
            self._wait_for_the_others()
            time.sleep(self._pause(0.0, 1.0))
            for _ in range(self.cases):
                self._one_case()
                time.sleep(self._pause(0.5, 1.5))
        except Exception as exc:
            self.error = f"scoring: {exc}"
        finally:
            client.close()

    def _wait_for_the_others(self) -> None:
        """Start scoring together; a rater whose page never came (reported as an error) does not
        hold the others back for longer than SETUP_SECONDS."""
        try:
            self.start_barrier.wait(timeout=SETUP_SECONDS)
        except threading.BrokenBarrierError:
            pass

    def _pause(self, low: float, high: float) -> float:
        """Thinking time: ``--think`` exactly in lockstep, else drawn between low and high times it.

        Raters read at their own pace, so their saves arrive at random moments; in lockstep all
        of them save in the same instant (the worst case, kept for comparison).
        """
        if self.lockstep:
            return self.think if low else 0.0
        return float(self.rng.uniform(low, high)) * self.think

    def _one_case(self) -> None:
        position, seconds = self.client.score_case(SCORES)
        self.confirmed.append(position)
        self.timings.append(seconds)


def setup(args, work: Path, prefix: str) -> tuple[dict[str, str], Path]:
    from covsev_tools.cohort import create_cohort
    from covsev_tools.hub import add_user, assign, init_study

    images = Path(args.images) if args.images else make_images(work / "originals", args.cases + 2)
    (work / "originals").mkdir(exist_ok=True)
    os.chmod(work / "originals", 0o700)
    cohort = create_cohort(images, "load", out_dir=work / "cohort", seed=1, progress=False, workers=2)
    study = work / "study"
    init_study(study, [cohort.dir], name="load", rater_group=f"{prefix}-raters",
               coordinator_group=f"{prefix}-coord", idle_timeout=3600)
    passwords = {}
    for i in range(args.raters):
        name = f"{prefix}r{i:02d}"
        passwords[name] = secrets.token_urlsafe(12)
        add_user(study, name, "rater", password=passwords[name])
        assign(study, name, "load")
    return passwords, study


def start_hub(study: Path, work: Path) -> tuple[subprocess.Popen, str]:
    import requests

    from covsev_tools.hub.server import free_port

    port = free_port()
    log = (work / "hub.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "covsev_tools.cli", "hub", "start", str(study), "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # the proxy answers 404 until the hub (after its services) has added its routes
        try:
            if requests.get(f"{url}/hub/login", timeout=5).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise SystemExit("hub did not start; see " + str(work / "hub.log"))


def cleanup(proc, prefix: str, work: Path, keep: bool) -> None:
    import grp
    import pwd

    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    users = [p for p in pwd.getpwall() if p.pw_name.startswith(prefix)]
    for user in users:
        for pid in processes_of(user.pw_uid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for user in users:
        subprocess.run(["userdel", "--remove", "--force", user.pw_name], capture_output=True)
    for group in [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix)]:
        subprocess.run(["groupdel", group], capture_output=True)
    if not keep:
        from covsev_tools.hub.permissions import release_append_only

        release_append_only(work)  # the label logs are append-only (chattr +a)
        shutil.rmtree(work, ignore_errors=True)


def lost_saves(study: Path, raters: list[Rater]) -> int:
    lost = 0
    for rater in raters:
        path = study / "labels" / "load" / f"{rater.client.name}.jsonl"
        saved = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        positions = {r["position"] for r in saved if r.get("rater") == rater.client.name}
        lost += sum(p not in positions for p in rater.confirmed)
    return lost


def report(raters: list[Rater], memory: dict[str, float], lost: int, wall: float, args) -> None:
    everyone = [t for r in raters for t in r.timings]
    pacing = "in lockstep" if args.lockstep else "at random moments"
    print(f"hub_load: {args.raters} raters x {args.cases} cases, think {args.think:g} s, saves {pacing}, "
          f"{os.cpu_count()} CPUs, {wall:.0f} s wall, load average before {LOAD_BEFORE}, after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'rater':<12}{'saves':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'ready s':>9}{'PSS MiB':>9}")
    for r in raters:
        t = [1000 * x for x in r.timings]
        print(f"{r.client.name:<12}{len(t):>6}{percentile(t, 50):>9.0f}{percentile(t, 95):>9.0f}"
              f"{max(t, default=float('nan')):>9.0f}{(r.ready_seconds or float('nan')):>9.1f}"
              f"{memory.get(r.client.name, 0):>9.0f}" + (f"  ERROR {r.error}" if r.error else ""))
    ms = [1000 * x for x in everyone]
    print(f"all: saves {len(ms)}, save-to-next p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
          f"max {max(ms, default=float('nan')):.0f} ms")
    mem = list(memory.values())
    if mem:
        print(f"memory per rater server (server + kernels, PSS): median {statistics.median(mem):.0f} MiB, "
              f"max {max(mem):.0f} MiB, total {sum(mem):.0f} MiB")
    print("login to first image, by step (s):  " + "  ".join(
        f"{step} p50 {percentile(v, 50):.1f} p95 {percentile(v, 95):.1f} max {max(v):.1f}"
        for step in PHASES if (v := [r.phases[step] for r in raters if step in r.phases])))
    ready = [r.ready_seconds for r in raters if r.ready_seconds is not None]
    for kind in ("server", "kernel"):
        v = [r.cpu[kind] for r in raters if r.cpu]
        print(f"CPU to the first image, {kind} per rater: median {percentile(v, 50):.2f} s, total {sum(v):.0f} s")
    print(f"CPU of the hub (hub, proxy, culler) until every page was up: {HUB_CPU.get('logins', 0):.0f} s")
    # the simulated browsers run on the same two cores; real raters' browsers run on their own machines
    print(f"CPU of this benchmark's {len(raters)} simulated browsers until then: {HUB_CPU.get('clients', 0):.0f} s")
    if PRESTART:
        print(f"servers started before the logins (covsev hub prestart): {PRESTART['seconds']:.1f} s")
    print(f"time to first image: p50 {percentile(ready, 50):.1f} s, p95 {percentile(ready, 95):.1f} s, "
          f"max {max(ready, default=float('nan')):.1f} s; pages that never finished: {len(raters) - len(ready)}")
    print(f"errors: {sum(r.error is not None for r in raters)}")
    print(f"lost: {lost}")


def barrier_or_errors(raters: list[Rater]) -> None:
    """Until every rater has its first image or has failed."""
    while any(r.ready_seconds is None and r.error is None for r in raters):
        time.sleep(0.2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--cases", type=int, default=10, help="cases each rater scores (default 10)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between a save and the next scores (drawn between 0.5 and "
                             "1.5 times it; default 1.0)")
    parser.add_argument("--lockstep", action="store_true",
                        help="every rater thinks exactly --think and all start together: saves arrive "
                             "in bursts of N (the worst case)")
    parser.add_argument("--images", help="folder of images for the cohort (default: generated)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (hub log, labels)")
    parser.add_argument("--prestart", action="store_true",
                        help="start the raters' servers with `covsev hub prestart` before they log in")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("hub_load needs root (it makes Unix accounts)")
    global LOAD_BEFORE
    LOAD_BEFORE = " ".join(f"{x:.2f}" for x in os.getloadavg())  # other work on the machine counts
    prefix = "cvb" + secrets.token_hex(2)
    work = Path(tempfile.mkdtemp(prefix="covsev-hubload-", dir="/tmp"))
    os.chmod(work, 0o711)
    proc = None
    try:
        passwords, study = setup(args, work, prefix)
        proc, url = start_hub(study, work)
        if args.prestart:
            began = time.monotonic()
            subprocess.run([sys.executable, "-m", "covsev_tools.cli", "hub", "prestart", str(study)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            PRESTART["seconds"] = time.monotonic() - began
            time.sleep(10)  # the servers' start settles (load average) before the logins
        barrier = threading.Barrier(args.raters)
        raters = [Rater(url, name, pw, args.cases, args.think, barrier, args.lockstep, seed)
                  for seed, (name, pw) in enumerate(passwords.items())]
        began = time.monotonic()
        hub_cpu, own_cpu = group_cpu(proc.pid), time.process_time()
        for rater in raters:
            rater.start()
            time.sleep(0.2)  # logins arrive over a few seconds, as at the start of a session
        watcher = threading.Thread(target=lambda: (barrier_or_errors(raters), HUB_CPU.update(
            logins=group_cpu(proc.pid) - hub_cpu, clients=time.process_time() - own_cpu)), daemon=True)
        watcher.start()
        for rater in raters:
            rater.join()
        wall = time.monotonic() - began
        import pwd

        memory = {r.client.name: sum(pss_mib(p) for p in processes_of(pwd.getpwnam(r.client.name).pw_uid))
                  for r in raters}
        report(raters, memory, lost_saves(study, raters), wall, args)
    finally:
        cleanup(proc, prefix, work, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
