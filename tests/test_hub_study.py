"""The study folder without a running hub: files, modes, accounts, passwords, refusals, config.

Needs root (Unix accounts and groups are made, and removed again by the fixture).
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
import helpers
from helpers import HubStudy

from covsev_tools.hub.labelservice import LABEL_ACCOUNT

pytest.importorskip("jupyterhub")
pytest.importorskip("nativeauthenticator")
pytestmark = [pytest.mark.hub,
              pytest.mark.skipif(os.geteuid() != 0, reason="the hub tests create Unix accounts: run as root")]

COVSEV = [sys.executable, "-m", "covsev_tools.cli"]


@pytest.fixture(scope="module")
def study():
    made = HubStudy()
    try:
        made.init()
        made.add("r1", "rater")
        made.add("r2", "rater")
        made.add("c1", "coordinator")
        yield made
    finally:
        made.cleanup()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def owner_group(path: Path) -> tuple[str, str]:
    import grp
    import pwd

    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


def run_as(user: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``command`` as ``user`` in this module's study (see :func:`helpers.run_as`)."""
    return helpers.run_as(_STUDY_DIR[0], user, command, **kwargs)


def as_user(user: str, code: str) -> subprocess.CompletedProcess:
    return run_as(user, ["python", "-c", code])


_STUDY_DIR: list[Path] = []


@pytest.fixture(autouse=True)
def _remember(study):
    _STUDY_DIR[:] = [study.dir]


def test_init_writes_hub_files_owner_only(study):
    hub = study.dir / "hub"
    assert mode(hub) == 0o700 and owner_group(hub)[0] == "root"
    for name in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "jupyterhub_config.py"):
        assert mode(hub / name) == 0o600, name
    assert len((hub / "jupyterhub_cookie_secret").read_text().strip()) == 64  # 32 random bytes, hex
    assert "configure(c," in (hub / "jupyterhub_config.py").read_text()


def test_study_folder_modes_split_raters_from_coordinators(study):
    raters, coordinators = study.groups
    cohort = study.dir / "cohorts" / "pilot"
    assert owner_group(cohort / "key.csv") == ("root", coordinators) and mode(cohort / "key.csv") == 0o640
    assert owner_group(cohort / "repeats.csv") == ("root", coordinators) and mode(cohort / "repeats.csv") == 0o640
    assert owner_group(cohort / "manifest.csv") == ("root", raters)
    assert all(owner_group(p) == ("root", raters) and mode(p) == 0o640 for p in (cohort / "cases").iterdir())
    labels = study.dir / "labels" / "pilot"
    assert mode(labels) == 0o751  # searchable, not listable, not writable by raters
    r1 = study.name("r1")
    # the rater's log and reading order are the label service's, not the rater's (the page saves through it)
    assert owner_group(labels / f"{r1}.jsonl") == (LABEL_ACCOUNT, coordinators) and mode(labels / f"{r1}.jsonl") == 0o640
    assert owner_group(cohort / "orders" / f"{r1}.json") == (LABEL_ACCOUNT, coordinators)
    assert mode(study.dir / "outputs") & 0o007 == 0
    assert mode(study.dir / "users.json") & 0o007 == 0


def test_the_operating_system_refuses_a_rater_what_is_not_theirs(study):
    r1, r2 = study.name("r1"), study.name("r2")
    cohort = study.dir / "cohorts" / "pilot"
    original = next((study.base / "source" / "pilot_images").iterdir())
    forbidden = [cohort / "key.csv", cohort / "repeats.csv", study.dir / "labels" / "pilot" / f"{r2}.jsonl",
                 cohort / "orders" / f"{r2}.json", study.dir / "hub" / "jupyterhub.sqlite",
                 study.dir / "users.json", original]
    code = ("for p in %r:\n"
            "    try:\n        open(p).read(1); print('READ', p)\n"
            "    except PermissionError:\n        print('denied')\n") % [str(p) for p in forbidden]
    result = as_user(r1, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["denied"] * len(forbidden)
    # no log file is the rater's to write, their own included (their page saves through the label
    # service), nor a new one; and their own reading order is not theirs to write either
    for target in (study.dir / "labels" / "pilot" / f"{r2}.jsonl", study.dir / "labels" / "pilot" / "new.jsonl",
                   study.dir / "labels" / "pilot" / f"{r1}.jsonl", cohort / "orders" / f"{r1}.json"):
        result = as_user(r1, f"open({str(target)!r}, 'a')")
        assert "PermissionError" in result.stderr, target
    log, order = str(study.dir / "labels" / "pilot" / f"{r1}.jsonl"), str(cohort / "orders" / f"{r1}.json")
    attempts = {"rewrite": f"open({log!r}, 'r+').write('x')", "truncate": f"open({log!r}, 'w')",
                "chmod": f"import os; os.chmod({log!r}, 0o600)", "chmod 000": f"import os; os.chmod({log!r}, 0)",
                "truncate call": f"import os; os.truncate({log!r}, 0)", "lock": f"import fcntl; fcntl.flock(open({log!r}), 2)",
                "replace order": f"import os; os.replace('/etc/hostname', {order!r})",
                "chmod order": f"import os; os.chmod({order!r}, 0o666)"}
    outcomes = {what: as_user(r1, code).stderr.strip().splitlines()[-1].split(":")[0] for what, code in attempts.items()}
    assert outcomes == dict.fromkeys(attempts, "PermissionError"), outcomes
    appended = as_user(r1, f"from covsev_tools.labels import LabelStore; "
                           f"LabelStore({str(study.dir / 'labels')!r}, 'pilot').save({{'rater': {r1!r}, 'case_id': 'c1'}}); "
                           f"print('saved')")
    assert "StoreError: could not save" in appended.stderr and "Permission denied" in appended.stderr
    # a coordinator reads the key and every log
    c1 = study.name("c1")
    result = as_user(c1, f"print(len(open({str(cohort / 'key.csv')!r}).read()) > 0, "
                         f"open({str(study.dir / 'labels' / 'pilot' / (r2 + '.jsonl'))!r}).read() == '')")
    assert result.stdout.split() == ["True", "True"], result.stderr


# What a rater's server does before its first page, as the rater's account: jupyterhub-singleuser fixes
# the Jupyter data path (disable_user_config) and only then reads app/config/jupyter_server_config.py;
# Voila then looks for its page template (index.html.j2) along that path.
_RATER_SERVER_TEMPLATE = """
import os
from jupyter_server.serverapp import ServerApp
from jupyterhub.singleuser._disable_user_config import _disable_user_config
from traitlets.config.loader import PyFileConfigLoader
from voila.exporter import VoilaExporter
from voila.paths import _default_root_dirs, _find_template_hierarchy, collect_template_paths

_disable_user_config(ServerApp())
c = PyFileConfigLoader("jupyter_server_config.py", path=os.environ["JUPYTER_CONFIG_DIR"]).load_config()
name = c.VoilaConfiguration.template if "template" in c.VoilaConfiguration else "lab"
exporter = VoilaExporter(template_paths=collect_template_paths(["voila", "nbconvert"], name), template_name=name)
print(name, "/".join(_find_template_hierarchy(["voila", "nbconvert"], name, _default_root_dirs())),
      exporter.template.filename)
"""


def test_rater_server_renders_with_the_offline_template(study):
    from covsev_tools.hub.spawner import _common_environment
    from covsev_tools.hub.study import Study
    from covsev_tools.scoring.offline import voila_template_root

    loaded = Study.load(study.dir)
    env = {**_common_environment(loaded), "JUPYTER_CONFIG_DIR": str(loaded.rater_config_dir)}
    result = run_as(study.name("r1"), ["python", "-c", _RATER_SERVER_TEMPLATE], env=env)
    assert result.returncode == 0, result.stderr
    template = voila_template_root() / "voila" / "templates" / "covsev" / "index.html.j2"
    assert result.stdout.split() == ["covsev", "covsev/lab/base", str(template)]
    # Without the template on the spawner's JUPYTER_PATH (setting it in the config file is too late),
    # the server keeps Voila's own page, and says so, rather than a page that never finishes.
    env["JUPYTER_PATH"] = env["JUPYTER_PATH"].replace(str(voila_template_root()) + os.pathsep, "")
    result = run_as(study.name("r1"), ["python", "-c", _RATER_SERVER_TEMPLATE], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["lab", "lab/base"]
    assert "template 'covsev' not on JUPYTER_PATH" in result.stderr


# As a rater's server and then its scoring page's kernel import covsev: which heavy modules the server
# pulled in, how many covsev modules were loaded, and which of them were compiled from source (no
# valid bytecode beside them: the pyc header's source time and size differ from the file's).
_RATER_IMPORTS = """
import json, os, struct, sys
import covsev_tools.hub.singleuser
heavy = sorted(m for m in ("numpy", "ipywidgets", "anywidget", "covsev_tools.hub.server",
                           "covsev_tools.scoring.app") if m in sys.modules)
from covsev_tools.scoring import launch
ours = {n: m for n, m in sys.modules.items() if n.startswith("covsev_tools") and getattr(m, "__file__", None)}
compiled = []
for name, module in ours.items():
    source = os.stat(module.__file__)
    try:
        with open(module.__cached__, "rb") as cached:
            header = cached.read(16)
    except OSError:
        compiled.append(name)
        continue
    if struct.unpack("<II", header[8:16]) != (int(source.st_mtime) & 0xFFFFFFFF, source.st_size & 0xFFFFFFFF):
        compiled.append(name)
print(json.dumps([heavy, len(ours), compiled]))
"""


def test_rater_servers_and_kernels_read_covsev_from_bytecode_that_init_wrote(study):
    """Raters cannot write covsev's ``__pycache__``: init writes it, else each start compiles covsev."""
    result = as_user(study.name("r1"), _RATER_IMPORTS)
    assert result.returncode == 0, result.stderr
    heavy, count, compiled = json.loads(result.stdout)
    assert heavy == []          # the server's config imports none of the page's modules
    assert count > 20           # the kernel's import loaded the scoring page's modules ...
    assert compiled == []       # ... every one from the bytecode cache


def test_passwords_are_stored_hashed_only(study):
    from covsev_tools.hub.accounts import check_password
    from covsev_tools.hub.study import Study

    loaded = Study.load(study.dir)
    r1 = study.name("r1")
    assert check_password(loaded, r1, study.passwords[r1])
    assert not check_password(loaded, r1, study.passwords[r1] + "x")
    assert study.passwords[r1].encode() not in (study.dir / "hub" / "jupyterhub.sqlite").read_bytes()


def test_add_user_generates_a_password_shown_once(study):
    result = subprocess.run(COVSEV + ["hub", "add-user", str(study.dir), study.name("r3"), "--role", "rater"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    password = result.stdout.split("password (shown once): ")[1].strip()
    assert len(password) == 18 and not set(password) & set("0O1lI5S2Z8B")  # nothing to misread
    assert "alembic" not in result.stdout + result.stderr
    from covsev_tools.hub.accounts import check_password
    from covsev_tools.hub.study import Study

    assert check_password(Study.load(study.dir), study.name("r3"), password)
    import pwd

    entry = pwd.getpwnam(study.name("r3"))
    assert entry.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")


@pytest.mark.parametrize("name, message", [
    ("Rad1", "lower-case"), ("root", "already exists and was not made by covsev"),
    ("daemon", "already exists and was not made by covsev"),
])
def test_add_user_refuses_bad_or_foreign_names(study, name, message):
    result = subprocess.run(COVSEV + ["hub", "add-user", str(study.dir), name, "--role", "rater",
                                      "--password-stdin"], input="a-long-enough-password\n",
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_short_or_common_passwords_are_refused(study):
    for password in ("short", "password123"):
        result = subprocess.run(COVSEV + ["hub", "add-user", str(study.dir), study.name("r4"), "--role", "rater",
                                          "--password-stdin"], input=password + "\n", capture_output=True, text=True)
        assert result.returncode == 2 and "password refused" in result.stderr


def test_start_refuses_the_network_without_tls_and_without_root(study, tmp_path):
    result = subprocess.run(COVSEV + ["hub", "start", str(study.dir), "--ip", "0.0.0.0"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without TLS" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    from covsev_tools.hub import hub_command

    command = hub_command(study.dir, ip="0.0.0.0", insecure=True)
    assert "--ip=0.0.0.0" in command
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x"), key.write_text("x")
    assert f"--ssl-cert={cert}" in hub_command(study.dir, ip="0.0.0.0", ssl_cert=cert, ssl_key=key)
    # without root: one line, and nothing starts
    result = run_as(study.name("c1"), ["python", "-m", "covsev_tools.cli", "hub", "start", str(study.dir)])
    assert result.returncode == 2
    assert "needs root" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_hub_configuration(study):
    from traitlets.config import Config

    from covsev_tools.hub.hubconfig import configure

    c = Config()
    configure(c, study.dir)
    assert c.NativeAuthenticator.enable_signup is False and c.NativeAuthenticator.open_signup is False
    assert c.NativeAuthenticator.allowed_failed_logins == 5
    assert c.JupyterHub.authenticator_class.endswith("StudyAuthenticator")
    assert c.JupyterHub.spawner_class.endswith("StudySpawner")
    assert c.JupyterHub.admin_access is False
    labels, culler, prestart = c.JupyterHub.services
    assert "jupyterhub_idle_culler" in culler["command"] and "--timeout=600" in culler["command"]
    # the label service: its own account, on 127.0.0.1, and the raters' servers told where it is
    assert (labels["name"], labels["user"]) == (LABEL_ACCOUNT, LABEL_ACCOUNT)
    assert labels["url"].startswith("http://127.0.0.1:") and labels["command"][-1] == str(study.dir)
    assert c.StudySpawner.label_service_url == labels["url"] + "/services/covsev-labels/"
    assert set(c.JupyterHub.load_roles[0]["scopes"]) == {"list:users", "read:users:activity", "read:servers",
                                                         "delete:servers"}
    # `hub prestart`: a token only (no process), allowed to start and stop the raters' servers
    assert set(prestart) == {"name", "api_token"} and len(prestart["api_token"]) == 64
    from covsev_tools.hub.study import Study

    loaded = Study.load(study.dir)  # other tests of this module add users too
    raters = loaded.members("rater")
    assert {study.name("r1"), study.name("r2")} <= set(raters) and study.name("c1") not in raters
    assert c.JupyterHub.load_roles[1] == {"name": "covsev-prestart", "services": ["covsev-prestart"],
                                          "scopes": [f"servers!user={name}" for name in raters]}
    # every study user is known to the hub from its start, so prestart can start who never logged in
    assert c.StudyAuthenticator.allowed_users == set(loaded.members()) and study.name("c1") in loaded.members()


def test_assignments_and_status_never_show_scores(study):
    r1 = study.name("r1")
    subprocess.run(COVSEV + ["hub", "finish", str(study.dir), r1, "pilot"], check=True, capture_output=True)
    from covsev_tools.hub.study import Study

    assert Study.load(study.dir).active_cohort(r1) is None
    subprocess.run(COVSEV + ["hub", "assign", str(study.dir), r1, "pilot"], check=True, capture_output=True)
    assert Study.load(study.dir).active_cohort(r1) == "pilot"
    result = subprocess.run(COVSEV + ["hub", "status", str(study.dir)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["user", "role", "cohort", "assignment", "training", "server", "last_activity", "scored", "of",
                              "percent"]
    assert any(r.split()[:5] == [r1, "rater", "pilot", "active", "stopped"] for r in rows)
    bad = subprocess.run(COVSEV + ["hub", "assign", str(study.dir), r1, "nosuch"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no cohort 'nosuch'" in bad.stderr


def test_broken_study_files_name_the_file_and_field(tmp_path):
    from covsev_tools.hub.study import Study, StudyError

    Study.new(tmp_path / "s", name="x")
    users = tmp_path / "s" / "users.json"
    users.write_text('{"users": {"rad1": {"role": "boss", "assignments": []}}}')
    with pytest.raises(StudyError, match=r"users.json: users/rad1/role: 'boss' is not one of"):
        Study.load(tmp_path / "s")
    with pytest.raises(StudyError, match="not a study folder"):
        Study.load(tmp_path)


def test_zero_to_jupyterhub_values_parse():
    values = yaml.safe_load((REPO / "deploy" / "z2jh-values.yaml").read_text())
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "native"
    assert values["hub"]["config"]["NativeAuthenticator"]["enable_signup"] is False
    assert values["singleuser"]["defaultUrl"].startswith("/voila/render/")
    assert values["singleuser"]["cmd"] == ["jupyterhub-singleuser"]
    storage = values["singleuser"]["storage"]
    assert any(v["name"] == "study" for v in storage["extraVolumes"])
    assert values["proxy"]["https"]["enabled"] is True
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] >= 600


def test_init_closes_a_world_readable_source_cohort_and_cohort_json_names_no_path(study):
    """A cohort made before keys were private (0644, folder 0755): hub init closes its key, repeat map
    and seed; the raters' cohort.json of the study copy names no path and no seed."""
    import json

    from covsev_tools.hub import init_study
    from covsev_tools.hub.study import Study

    source = study.source.dir
    os.chmod(source.parent, 0o711)  # every account can reach the source cohort folder
    os.chmod(source, 0o755)
    for name in ("key.csv", "repeats.csv", "secret.json"):
        os.chmod(source / name, 0o644)
    # as an older cohort.json had them
    info = json.loads((source / "cohort.json").read_text())
    info["source_images_dir"] = str(study.base / "source" / "pilot_images")
    (source / "cohort.json").write_text(json.dumps(info))
    again = init_study(study.dir, [source])
    assert {p.name for p in again.protected_sources} == {"key.csv", "repeats.csv", "secret.json", source.name}
    assert {name: mode(source / name) for name in ("key.csv", "repeats.csv", "secret.json")} == dict.fromkeys(
        ("key.csv", "repeats.csv", "secret.json"), 0o600)
    assert mode(source) & 0o007 == 0
    copy = study.dir / "cohorts" / "pilot"
    raters_view = json.loads((copy / "cohort.json").read_text())
    assert "source_images_dir" not in raters_view and "seed" not in raters_view
    assert str(study.base) not in (copy / "cohort.json").read_text()
    secret = json.loads((copy / "secret.json").read_text())
    assert secret["source_images_dir"] == info["source_images_dir"] and isinstance(secret["seed"], int)
    assert owner_group(copy / "secret.json")[1] == study.groups[1] and mode(copy / "secret.json") == 0o640
    assert Study.load(study.dir).settings["cohort_sources"]["pilot"] == str(source.resolve())
    # a second init has nothing left to close
    assert init_study(study.dir, [source]).protected_sources == []
    os.chmod(source.parent, 0o700)


def test_init_states_the_limits_of_every_study_server(study):
    from covsev_tools.hub.study import DEFAULT_LIMITS, Study

    result = subprocess.run(COVSEV + ["hub", "init", str(study.dir), "--memory-limit", "1536"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert ("limits per study server: 1536 MiB of address space per process (raters), "
            f"{DEFAULT_LIMITS['max_processes']} processes and threads per account") in result.stdout
    assert Study.load(study.dir).limit("memory_limit_mb") == 1536
    bad = subprocess.run(COVSEV + ["hub", "init", str(study.dir), "--memory-limit", "12"], capture_output=True, text=True)
    assert bad.returncode == 2 and "memory_limit_mb" in bad.stderr and "Traceback" not in bad.stderr


def test_a_study_the_accounts_cannot_reach_is_refused_at_init_in_one_line():
    """A study folder made under a 0700 folder (e.g. mktemp -d): every spawn would fail with a 500."""
    made = HubStudy(n_cases=2, repeat_fraction=0.0)
    try:
        made.base.chmod(0o700)
        raters, coordinators = made.groups
        result = subprocess.run(COVSEV + ["hub", "init", str(made.dir), "--cohort", str(made.source.dir),
                                          "--rater-group", raters, "--coordinator-group", coordinators],
                                capture_output=True, text=True)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        # one line (the database's first-run notes aside)
        (line,) = [x for x in result.stderr.splitlines() if "alembic" not in x]
        assert "study accounts cannot" in line and "chmod o+x" in line
    finally:
        made.cleanup()


def test_the_spawner_names_what_an_account_cannot_reach(study):
    from covsev_tools.hub.preflight import unreachable_for
    from covsev_tools.hub.study import Study

    loaded = Study.load(study.dir)
    r1 = study.name("r1")
    assert unreachable_for(loaded, r1) is None
    app = study.dir / "app"
    app.chmod(0o700)
    try:
        reason = unreachable_for(loaded, r1)
    finally:
        app.chmod(0o750)
    assert reason.startswith(f"{r1} cannot reach ") and "chmod o+x" in reason


def test_logins_are_throttled_per_account_and_address_and_a_wrong_name_costs_a_hash(study):
    import asyncio
    import time
    from types import SimpleNamespace

    from covsev_tools.hub.accounts import _session
    from covsev_tools.hub.spawner import ADDRESS_FAILED_LOGINS, StudyAuthenticator
    from covsev_tools.hub.study import Study

    auth = StudyAuthenticator(study_dir=str(study.dir), add_new_table=False, allowed_failed_logins=5,
                              seconds_before_next_try=120)
    auth.db = _session(Study.load(study.dir))
    r1 = study.name("r1")

    def attempt(name, password, address):
        handler = SimpleNamespace(request=SimpleNamespace(remote_ip=address))
        return asyncio.run(auth.authenticate(handler, {"username": name, "password": password}))

    try:
        for _ in range(5):  # an outsider guesses from 10.0.0.66
            assert attempt(r1, "wrong-password-123", "10.0.0.66") is None
        assert attempt(r1, study.passwords[r1], "10.0.0.66") is None  # paused there
        assert attempt(r1, study.passwords[r1], "10.0.0.7") == r1      # the rater at their desk is not
        # a wrong user name takes as long as a wrong password (one bcrypt check each)
        timings = {}
        for label, name in (("unknown", "nobody-here"), ("wrong password", study.name("r2"))):
            started = time.perf_counter()
            for _ in range(3):
                attempt(name, "wrong-password-123", f"10.0.1.{len(label)}")
            timings[label] = time.perf_counter() - started
        assert 0.5 < timings["unknown"] / timings["wrong password"] < 2, timings
        # an address that fails on many accounts is paused as a whole
        for i in range(ADDRESS_FAILED_LOGINS):
            attempt(f"guess{i}", "wrong-password-123", "10.0.0.99")
        assert attempt(study.name("r2"), study.passwords[study.name("r2")], "10.0.0.99") is None
        assert attempt(study.name("r2"), study.passwords[study.name("r2")], "10.0.0.8") == study.name("r2")
    finally:
        auth.db.close()


@pytest.mark.parametrize("mounts, warned", [
    ("proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n", True),
    ("proc /proc proc rw,nosuid,nodev,noexec,relatime,hidepid=invisible,gid=0 0 0\n", False),
    ("proc /proc proc rw,relatime,hidepid=2 0 0\n", False),
])
def test_hub_start_warns_when_proc_shows_every_process(study, mounts, warned, capsys, monkeypatch):
    """``hub start`` runs its real checks (root, permissions, the study account's imports), then
    warns about /proc without hidepid in one line, just before it becomes JupyterHub."""
    from covsev_tools.hub import isolation, server
    from covsev_tools.hub.server import free_port

    class BecameTheHub(Exception):
        pass

    def execv(path, argv):
        raise BecameTheHub(argv)

    pytest.importorskip("jupyterhub")
    try:
        server.find_proxy()
    except Exception as exc:
        pytest.skip(f"configurable-http-proxy not installed: {exc}")
    monkeypatch.setattr(server, "proc_hides_pids", lambda: isolation.proc_hides_pids(mounts))
    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.chdir(study.base)  # start_hub changes into hub/ before it execs
    with pytest.raises(BecameTheHub) as became:
        server.start_hub(study.dir, port=free_port())
    assert became.value.args[0][1:3] == ["-m", "jupyterhub"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "hidepid" in line]
    if warned:
        (line,) = warnings
        assert line.startswith("warning: /proc is mounted without hidepid")
        assert "mount -o remount,hidepid=invisible /proc" in line
    else:
        assert warnings == []
    # and what this machine's own /proc says is what proc_hides_pids reads
    real = next(line for line in Path("/proc/mounts").read_text().splitlines() if line.split()[1:3] == ["/proc", "proc"])
    assert isolation.proc_hides_pids() == ("hidepid=" in real and "hidepid=0" not in real and "hidepid=off" not in real)
