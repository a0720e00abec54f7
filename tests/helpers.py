"""Helpers shared by the tests: generated cohorts and images, an offline checkpoint, the seed method,
and the long (case, rater, score) table the agreement tests feed in.

Kept out of the package on purpose: ``seed_reference`` is the paper's ``predict_severity.py``
pipeline, the yardstick the package is checked against.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd

LUNG_OPACITY = 16  # index in xrv's 18 pathologies

#: Debian's Chromium, driven by Playwright (Playwright cannot download browsers offline); the flags
#: keep it from reaching out to Google's services on a closed network.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def proxy_missing() -> bool:
    """True when configurable-http-proxy is not installed (the hub tests then skip)."""
    from covsev_tools.hub.hubconfig import find_proxy

    try:
        find_proxy()
    except Exception:
        return True
    return False


def hub_marks(timeout: int, browser: bool = False) -> list:
    """The ``pytestmark`` of a module that runs a real hub (root, the proxy, and Chromium if asked)."""
    import os

    import pytest

    marks = [pytest.mark.hub, pytest.mark.timeout(timeout),
             pytest.mark.skipif(os.geteuid() != 0, reason="the hub tests create Unix accounts: run as root"),
             pytest.mark.skipif(proxy_missing(), reason="configurable-http-proxy not installed (make install "
                                                        "needs npm)")]
    if browser:
        marks.append(pytest.mark.skipif(not CHROMIUM.exists(),
                                        reason="Debian Chromium not installed at /usr/bin/chromium"))
    return marks


def make_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Save a seeded random xrv DenseNet the way xrv's weights files are stored (a whole module).

    The classifier is rescaled so that raw outputs on chest X-rays are of order 1 (about
    -3..3); with the bare random init they are in the hundreds and every severity score would be
    clamped to 0 or 8, which would make score parity trivially true.
    """
    import torch
    import torchxrayvision as xrv

    from covsev_tools.model.weights import weights_filename

    torch.manual_seed(seed)
    model = xrv.models.DenseNet(weights=None)
    with torch.no_grad():
        model.classifier.weight.mul_(0.02)
        model.classifier.bias.fill_(-9.0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / weights_filename()
    torch.save(model, path)
    return path


def write_images(folder: Path, seed: int = 0) -> dict[str, Path]:
    """A few chest-X-ray-like images: 8-bit grey/RGB PNG and JPEG, 16-bit PNG, small, corrupt."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:600, 0:500]
    base = 128 + 90 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    grey = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    out = {}
    out["grey.png"] = folder / "grey.png"
    Image.fromarray(grey).save(out["grey.png"])
    out["rgb.jpg"] = folder / "rgb.jpg"
    Image.fromarray(np.dstack([grey, grey[::-1], grey[:, ::-1]])).save(out["rgb.jpg"], quality=95)
    wide = (grey.astype(np.uint16) * 257 + rng.integers(0, 257, grey.shape)).astype(np.uint16)
    out["wide16.png"] = folder / "wide16.png"
    Image.fromarray(wide).save(out["wide16.png"])
    out["small.png"] = folder / "small.png"
    Image.fromarray(grey[:150, :180]).save(out["small.png"])
    out["broken.png"] = folder / "broken.png"
    out["broken.png"].write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return out


def seed_reference(path, model) -> dict:
    """The seed ``predict_severity.py`` method for an 8-bit image: scores, outputs and features.

    skimage.io.imread, ``xrv.datasets.normalize(img, 255)``, first channel of a colour image,
    ``XRayCenterCrop`` + ``XRayResizer(224)``, raw outputs (``op_threshs = None``), the published
    linear maps clamped to 0-8 / 0-6; features are ``model.features2``.
    """
    import skimage.io
    import torch
    import torchvision
    import torchxrayvision as xrv

    img = skimage.io.imread(str(path))
    img = xrv.datasets.normalize(img, 255)
    if img.ndim > 2:
        img = img[:, :, 0]
    img = img[None, :, :]
    transform = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(),
                                                xrv.datasets.XRayResizer(224)])
    x = torch.from_numpy(transform(img)).unsqueeze(0)
    model.op_threshs = None
    with torch.no_grad():
        outputs = model(x)[0]
        features = model.features2(x)[0]
    lung_opacity = outputs[model.pathologies.index("Lung Opacity")]
    extent = torch.clamp(lung_opacity * 0.8705248236656189 + 3.4137437, 0, 8)
    opacity = torch.clamp(lung_opacity * 0.5484423041343689 + 2.5535977, 0, 6)
    return {"geographic_extent": float(extent), "opacity": float(opacity),
            "outputs": outputs.numpy().astype(np.float64),
            "features": features.numpy().astype(np.float64)}


def long_table(wide: np.ndarray) -> pd.DataFrame:
    """A cases × raters matrix as the tidy long table the agreement functions take."""
    n, k = wide.shape
    return pd.DataFrame({"case": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n),
                         "score": wide.ravel()})


def result_row(frame: pd.DataFrame, name=None) -> dict:
    """One row of a tidy agreement result as ``{"value", "ci95", **other columns}``.

    ``value`` is the estimate (None when undefined), ``ci95`` the ``[ci_low, ci_high]`` pair or
    None; empty cells are left out. Lets the published-value checks read one estimate at a time.
    """
    row = frame.iloc[0] if name is None else frame.loc[name]
    out = {key: value for key, value in row.items()
           if value is not None and not (isinstance(value, float) and np.isnan(value))}
    out["value"] = out.pop("estimate", None)
    low, high = out.pop("ci_low", None), out.pop("ci_high", None)
    if low is not None and high is not None:
        out["ci95"] = [low, high]
    if "n" in out:
        out["n"] = int(out["n"])
    return out


def result_rows(frame: pd.DataFrame) -> dict:
    """Every row of a tidy agreement result as :func:`result_row` dicts, by statistic."""
    return {name: result_row(frame, name) for name in frame.index}


def bland_altman_fields(frame: pd.DataFrame) -> dict:
    """A tidy Bland-Altman result as ``bias, sd, loa_low, loa_high, *_ci95, n`` (the JSON fields)."""
    rows = result_rows(frame)
    if rows["bias"]["value"] is None:
        return {"bias": None, "reason": rows["bias"]["reason"]}
    out = {"sd": rows["bias"]["sd"], "n": rows["bias"]["n"],
           "multiplier": rows["bias"]["multiplier"], "loa_ci_method": rows["loa_low"]["method"]}
    for key in ("bias", "loa_low", "loa_high"):
        out[key] = rows[key]["value"]
        out[f"{key}_ci95"] = rows[key]["ci95"]
    return out


def make_cohort(root: Path, n: int = 5, name: str = "tiny", scales=("extent", "opacity"),
                repeat_fraction: float = 0.0, seed: int = 3):
    """A cohort made from ``n`` generated PNGs whose file names are easy to spot in a page."""
    from PIL import Image

    from covsev_tools.cohort import create_cohort

    images = root / f"{name}_images"
    images.mkdir(parents=True)
    for i in range(n):
        pixels = (np.random.default_rng(i).random((48, 40)) * 255).astype("uint8")
        Image.fromarray(pixels).save(images / f"SECRETPATIENT{i:03d}_scan.png")
    return create_cohort(images, name, out_dir=root / name, seed=seed, scales=scales,
                         repeat_fraction=repeat_fraction, repeat_min_gap=1, progress=False, workers=1)


def make_training_set(root: Path, n: int, name: str = "calib"):
    """A training set of ``n`` generated images, each with reference extent 1+1 and opacity 1+1."""
    import pandas as pd
    from PIL import Image

    from covsev_tools.scoring.training_build import build_training_set

    images = root / f"{name}_images"
    images.mkdir(parents=True)
    for i in range(n):
        pixels = (np.random.default_rng(50 + i).random((48, 40)) * 255).astype("uint8")
        Image.fromarray(pixels).save(images / f"train{i}.png")
    reference = pd.DataFrame({"filename": [f"train{i}.png" for i in range(n)], "extent_right": 1,
                              "extent_left": 1, "opacity_right": 1, "opacity_left": 1})
    return build_training_set(images, reference, name, root / name, progress=False)


def block_outside(context) -> list[str]:
    """Abort every request that does not go to this machine; returns the list of those attempted."""
    from urllib.parse import urlparse

    attempted: list[str] = []

    def local(url: str) -> bool:
        parsed = urlparse(url)
        return parsed.scheme in ("blob", "data", "about") or parsed.hostname in ("127.0.0.1", "localhost")

    def handle(route):
        if local(route.request.url):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    context.route("**/*", handle)
    context.on("request", lambda request: None if local(request.url) else attempted.append(request.url))
    return attempted


class HubStudy:
    """A study folder for the hub tests, with Unix accounts and groups named ``<prefix>...`` that
    :meth:`cleanup` removes again (processes of those accounts first, by their own PIDs)."""

    def __init__(self, n_cases: int = 6, repeat_fraction: float = 0.34, training_cases: int = 0,
                 max_mae: float = 1.5):
        import secrets
        import tempfile

        self.prefix = "cvh" + secrets.token_hex(2)
        self.base = Path(tempfile.mkdtemp(prefix="covsev-hub-", dir="/tmp"))
        self.base.chmod(0o711)  # study accounts search their way into the study folder
        self.source = make_cohort(self.base / "source", n=n_cases, name="pilot",
                                  repeat_fraction=repeat_fraction)
        self.training = None
        if training_cases:  # a required training round: every case's reference is extent 1+1, opacity 1+1
            self.training = make_training_set(self.base / "source", training_cases)
            from covsev_tools.scoring.training import require_training

            require_training(self.source.dir, self.training.cohort.dir, max_mae=max_mae)
        # The original images: root's alone, as a study's should be (hub init warns otherwise).
        (self.base / "source").chmod(0o700)
        self.dir = self.base / "study"
        self.passwords: dict[str, str] = {}

    def name(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    @property
    def groups(self) -> tuple[str, str]:
        return f"{self.prefix}-raters", f"{self.prefix}-coord"

    def init(self, idle_timeout: int = 600):
        from covsev_tools.hub import init_study

        raters, coordinators = self.groups
        return init_study(self.dir, [self.source.dir], name="hubtest", rater_group=raters,
                          coordinator_group=coordinators, idle_timeout=idle_timeout)

    def add(self, suffix: str, role: str, cohort: str | None = "pilot") -> str:
        from covsev_tools.hub import add_user, assign

        name = self.name(suffix)
        self.passwords[name] = f"pw-{name}-{suffix}-long-enough"
        add_user(self.dir, name, role, password=self.passwords[name])
        if role == "rater" and cohort:
            assign(self.dir, name, cohort)
        return name

    def uids(self) -> list[int]:
        import pwd

        return [p.pw_uid for p in pwd.getpwall() if p.pw_name.startswith(self.prefix)]

    def processes(self) -> list[int]:
        """PIDs of processes running as this study's test accounts."""
        uids, pids = set(self.uids()), []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid in uids:
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def cleanup(self) -> None:
        import grp
        import os
        import pwd
        import shutil
        import signal
        import subprocess

        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for user in [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(self.prefix)]:
            subprocess.run(["userdel", "--remove", "--force", user], capture_output=True)
        for group in [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(self.prefix)]:
            subprocess.run(["groupdel", group], capture_output=True)
        from covsev_tools.hub.permissions import release_append_only

        release_append_only(self.base)  # label logs are append-only: even root cannot delete them before
        shutil.rmtree(self.base, ignore_errors=True)


def run_as(study_dir, user: str, command: list[str], **kwargs):
    """Run ``command`` as the Unix account ``user`` with its groups, as the spawner starts its server.

    ``"python"`` in ``command`` is the study's interpreter (``app/runtime`` when made); the
    environment is a bare one (``env=`` adds to it); output is captured as text.
    """
    import os
    import pwd
    import subprocess

    from covsev_tools.hub.runtime import rater_python
    from covsev_tools.hub.study import Study

    entry = pwd.getpwnam(user)
    python = rater_python(Study.load(study_dir))
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "HOME": entry.pw_dir, **kwargs.pop("env", {})}
    kwargs.setdefault("cwd", "/")
    return subprocess.run([python if c == "python" else c for c in command], capture_output=True, text=True,
                          env=env, user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=os.getgrouplist(user, entry.pw_gid), **kwargs)


# ------------------------------------------------------------------------------------ a live hub

#: The four scores every hub test clicks for a case.
HUB_SCORES = [("extent", "right", 2), ("extent", "left", 3), ("opacity", "right", 1), ("opacity", "left", 2)]


def wait_for_hub(url: str, proc, log: Path, timeout: float = 180) -> None:
    """Until the hub's login page answers; the end of its log if it exits or does not come up."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/hub/login", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"hub not up after {timeout} s:\n{log.read_text()[-3000:]}")


def start_hub(study: HubStudy, log_name: str):
    """``covsev hub start`` on a free loopback port, in a process group of its own; (proc, url)."""
    import subprocess
    import sys

    from covsev_tools.hub.server import free_port

    port = free_port()
    log = study.base / log_name
    proc = subprocess.Popen([sys.executable, "-m", "covsev_tools.cli", "hub", "start", str(study.dir),
                             "--port", str(port)], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_hub(url, proc, log)
    except BaseException:  # a hub that never got ready, or a run stopped with Ctrl-C: it must not outlive the test
        stop_hub(proc)
        raise
    return proc, url


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            pass
    return out


def stop_hub(proc, sig=None) -> None:
    """Stop the hub (and the proxy and services in its process group) that a test started.

    A hub killed with SIGKILL cannot stop its managed services (the idle culler and the label
    service run in sessions of their own), so they are killed by PID too; rater servers are left running, as after a crash.
    """
    import os
    import signal
    import subprocess

    sig = signal.SIGTERM if sig is None else sig
    if proc.poll() is None:
        services = [p for p in _children(proc.pid) if sig == signal.SIGKILL
                    and any(name in Path(f"/proc/{p}/cmdline").read_bytes()
                            for name in (b"jupyterhub_idle_culler", b"covsev_tools.hub.labelservice"))]
        os.killpg(proc.pid, sig)
        for pid in services:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def running_hub(study: HubStudy, users, idle_timeout: int = 600):
    """``hub init``, the ``users`` (``(suffix, role[, cohort])`` each), ``hub start``; the study, for a fixture.

    On the way out the hub stops and the study's accounts, processes and files are removed,
    whatever failed on the way in.

    Examples
    --------
    >>> @pytest.fixture(scope="module")                                       # doctest: +SKIP
    ... def hub():
    ...     yield from running_hub(HubStudy(n_cases=4), [("r1", "rater"), ("c1", "coordinator")])
    """
    try:
        study.init(idle_timeout=idle_timeout)
        for user in users:
            study.add(*user)
        study.proc, study.url = start_hub(study, "hub.log")
        yield study
    finally:
        if getattr(study, "proc", None) is not None:
            stop_hub(study.proc)
        study.cleanup()


def rater_client(hub: HubStudy, suffix: str):
    """A :class:`hub_client.RaterClient` of the study account ``<prefix><suffix>``."""
    from hub_client import RaterClient

    name = hub.name(suffix)
    return RaterClient(hub.url, name, hub.passwords[name])


def hub_records(hub: HubStudy, name: str, cohort: str = "pilot") -> list[dict]:
    """The label records of ``name`` in the study's log of ``cohort``."""
    import json

    path = hub.dir / "labels" / cohort / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score_and_save(client) -> tuple[int, float]:
    """Click the four scores and Save through the widget protocol; (saved position, seconds save->next)."""
    return client.score_case(HUB_SCORES)


# ------------------------------------------------------------------------------ a label service alone


class TokenNames:
    """A stand-in for the hub's token check (``HubAuth.user_for_token``): ``"tok-<name>"`` is ``name``'s."""

    async def user_for_token(self, token, sync=True):
        if token.startswith("tok-") and len(token) > 4:
            return {"kind": "user", "name": token[4:]}
        return None


@contextlib.contextmanager
def label_service(study_dir, hub_auth=None):
    """The label service of ``study_dir`` on a free 127.0.0.1 port, in a thread of this process; its URL.

    Without a hub: tokens are checked by ``hub_auth`` (default :class:`TokenNames`).
    """
    import asyncio
    import threading

    from tornado.httpserver import HTTPServer

    from covsev_tools.hub.labelservice import MAX_BODY_BYTES, make_app, service_url
    from covsev_tools.hub.server import free_port

    port, ready, box = free_port(), threading.Event(), {}

    def run():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = HTTPServer(make_app(study_dir, hub_auth or TokenNames()), max_body_size=MAX_BODY_BYTES)
        server.listen(port, "127.0.0.1")
        box["loop"] = loop
        ready.set()
        loop.run_forever()
        server.stop()
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield service_url(port)
    finally:
        box["loop"].call_soon_threadsafe(box["loop"].stop)
        thread.join(10)
