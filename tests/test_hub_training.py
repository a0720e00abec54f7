"""The training round on the hub without a running hub: access, idempotent init, retry, status.

Each rater's steps run as that rater's Unix account (as their server's kernel would), so the
operating system's answer is what is tested; their page saves through the label service (run here
in the test's process, tokens "tok-<user>"), as on the hub. Needs root (accounts and groups, removed again).
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from helpers import HubStudy, label_service

from covsev_tools.hub.labelservice import LABEL_ACCOUNT, LABEL_SERVICE_ENV

pytest.importorskip("jupyterhub")
pytest.importorskip("nativeauthenticator")
pytestmark = [pytest.mark.hub,
              pytest.mark.skipif(os.geteuid() != 0, reason="the hub tests create Unix accounts: run as root")]

COVSEV = [sys.executable, "-m", "covsev_tools.cli"]

#: Run as a rater: the page as their server opens it (study cohort, hub login), then score the training
#: round through the page's own buttons -- argv: cohort, labels, rater, score (every component).
_RATER_TRAINS = """
import os, sys
cohort, labels, rater, score = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.environ["JUPYTERHUB_USER"] = rater
from covsev_tools.scoring import ScoringApp
app = ScoringApp(cohort, rater=rater, labels_dir=labels)
trainer = getattr(app, "trainer", None)
if trainer is None:
    print("STUDY", app.session.index); raise SystemExit
for _ in range(len(trainer.session.order)):
    for buttons in trainer.rows.buttons.values():
        buttons[score].click()
    trainer.save_and_next(); trainer.save_and_next()
print("TRAINED", trainer.session.done, trainer.training_result["passed"], trainer.status.value.count("not met"))
print(trainer.end_panel.value)
"""


@pytest.fixture(scope="module")
def study():
    made = HubStudy(n_cases=4, repeat_fraction=0.0, training_cases=3, max_mae=1.0)
    try:
        made.init()
        made.add("r1", "rater")
        made.add("r2", "rater")
        made.add("c1", "coordinator")
        with label_service(made.dir) as url:  # as the hub runs it; here tokens are "tok-<user>"
            made.label_service = url
            yield made
    finally:
        made.cleanup()


def run_as(study: HubStudy, user: str, args: list[str]) -> subprocess.CompletedProcess:
    """The study's Python with ``args``, as ``user``, with what the spawner gives the rater's server:
    the label service's address and a token of the user's (see :func:`helpers.run_as`)."""
    return helpers.run_as(study.dir, user, ["python", *args],
                          env={LABEL_SERVICE_ENV: study.label_service, "JUPYTERHUB_API_TOKEN": f"tok-{user}"})


def train(study: HubStudy, suffix: str, score: int) -> subprocess.CompletedProcess:
    return run_as(study, study.name(suffix), ["-c", _RATER_TRAINS, str(study.dir / "cohorts" / "pilot"),
                                              str(study.dir / "labels"), study.name(suffix), str(score)])


def owner_mode(path: Path) -> tuple[str, str, int]:
    import grp
    import pwd

    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name, stat.S_IMODE(info.st_mode)


def access_snapshot(study: HubStudy) -> dict[str, tuple]:
    """Owner, group, mode and content of every file a rater's round and study depend on."""
    paths = [p for p in sorted(study.dir.rglob("*")) if p.is_file() and "hub" not in p.relative_to(study.dir).parts[:1]
             and "app" not in p.relative_to(study.dir).parts[:1]]
    return {str(p.relative_to(study.dir)): (*owner_mode(p), p.read_bytes()) for p in paths}


def test_hub_init_brings_the_training_set_and_the_raters_their_own_files(study):
    raters, coordinators = study.groups
    r1 = study.name("r1")
    requirement = study.dir / "cohorts" / "pilot" / "training_required.json"
    assert json.loads(requirement.read_text())["training_set"] == "../../training/calib"  # relative: survives a move
    assert owner_mode(requirement) == ("root", raters, 0o640)
    training = study.dir / "training" / "calib"
    assert owner_mode(training / "training.json") == ("root", raters, 0o640)
    assert owner_mode(training / "key.csv") == ("root", coordinators, 0o640)  # originals' paths: not for raters
    # the round's order and log are the label service's: the rater's page reads and saves through it
    assert owner_mode(training / "orders" / f"{r1}.json") == (LABEL_ACCOUNT, coordinators, 0o640)
    log = study.dir / "labels" / "_training" / "calib" / f"{r1}.jsonl"
    assert owner_mode(log) == (LABEL_ACCOUNT, coordinators, 0o640) and log.read_bytes() == b""
    assert owner_mode(log.parent) == ("root", coordinators, 0o751)


def test_a_rater_who_fails_sees_the_result_and_what_next_and_is_listed_failed(study):
    from covsev_tools.hub import study_status

    result = train(study, "r2", 3)  # 3+3 against the reference's 1+1: off by 4 per scale
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "TRAINED True False 1"  # the status line says "not met" too
    end = result.stdout
    assert "threshold not met" in end and "thank you" not in end and "can open a new training round" in end
    assert "Geographic extent total +4, Opacity total +4" in end  # each scale's difference apart
    status = study_status(study.dir).set_index("user")
    assert status.loc[study.name("r2"), "training"] == "failed"
    assert status.loc[study.name("r1"), "training"] == "not started"
    # the study stays closed for them, and their page says so again
    again = train(study, "r2", 3)
    assert "STUDY" not in again.stdout and "threshold not met" in again.stdout


def test_a_rater_who_passes_opens_the_study_and_hub_init_again_changes_nothing(study):
    from covsev_tools.hub import init_study, study_status

    result = train(study, "r1", 1)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "TRAINED True True 0"
    assert study_status(study.dir).set_index("user").loc[study.name("r1"), "training"] == "passed"
    opened = train(study, "r1", 1)
    assert opened.stdout.split() == ["STUDY", "0"], opened.stderr
    before = access_snapshot(study)
    raters, coordinators = study.groups
    init_study(study.dir, [study.source.dir], rater_group=raters, coordinator_group=coordinators)  # as the README says
    init_study(study.dir)
    assert access_snapshot(study) == before
    assert train(study, "r1", 1).stdout.split() == ["STUDY", "0"]


def test_retry_keeps_the_first_attempt_and_opens_a_new_round(study):
    from covsev_tools.hub import study_status

    r2 = study.name("r2")
    folder = study.dir / "labels" / "_training" / "calib"
    first = (folder / f"{r2}.jsonl").read_bytes()
    result = subprocess.run(COVSEV + ["training", "retry", str(study.dir), r2], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    kept = folder / "history" / f"{r2}.1.jsonl"
    assert kept.read_bytes() == first and owner_mode(kept)[0] == "root"
    assert owner_mode(folder / "history")[2] == 0o750  # raters cannot even reach it
    assert (folder / f"{r2}.jsonl").read_bytes() == b"" and owner_mode(folder / f"{r2}.jsonl")[0] == LABEL_ACCOUNT
    assert study_status(study.dir).set_index("user").loc[r2, "training"] == "not started (attempt 2)"
    passed = train(study, "r2", 1)
    assert passed.stdout.splitlines()[0] == "TRAINED True True 0", passed.stderr
    table = subprocess.run(COVSEV + ["training", "status", str(study.dir / "training" / "calib")],
                           capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    row = next((line.split() for line in table.stdout.splitlines() if line.strip().startswith(r2)), table.stdout)
    assert row[-2:] == ["True", "2"], table.stdout  # passed, on the second attempt
    # nothing to retry for a rater with no record; a stranger is refused in one line
    empty = subprocess.run(COVSEV + ["training", "retry", str(study.dir), study.name("c1")], capture_output=True,
                           text=True)
    assert empty.returncode == 2 and "not a rater" in empty.stderr


#: Run as a rater who passed training: score the whole study with one level everywhere -- argv as above.
_RATER_SCORES = """
import os, sys
cohort, labels, rater, score = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.environ["JUPYTERHUB_USER"] = rater
from covsev_tools.scoring import ScoringApp
app = ScoringApp(cohort, rater=rater, labels_dir=labels)
while not app.session.at_end:
    for buttons in app.rows.buttons.values():
        buttons[score].click()
    app.save_and_next()
print("DONE", app.session.summary()["scored"])
"""

#: Run as a coordinator: save a consensus of the first discordant case -- argv: cohort, labels, who.
_COORDINATOR_ADJUDICATES = """
import os, sys
os.environ["JUPYTERHUB_USER"] = sys.argv[3]
from covsev_tools.scoring import AdjudicationApp
page = AdjudicationApp(sys.argv[1], None, sys.argv[2])
print(len(page.state.cases))
record = page.state.save({"extent": {"right": 2, "left": 2}, "opacity": {"right": 2, "left": 2}}, reason="agreed")
print(record["rater"], record["adjudicator"])
"""


def test_coordinator_adjudicates_on_the_hub_and_the_consensus_is_saved(study):
    cohort, labels = str(study.dir / "cohorts" / "pilot"), str(study.dir / "labels")
    for suffix, score in (("r1", 0), ("r2", 3)):
        done = run_as(study, study.name(suffix), ["-c", _RATER_SCORES, cohort, labels, study.name(suffix), str(score)])
        assert done.stdout.split() == ["DONE", "4"], done.stderr
    c1 = study.name("c1")
    result = run_as(study, c1, ["-c", _COORDINATOR_ADJUDICATES, cohort, labels, c1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "consensus", c1]
    log = study.dir / "labels" / "pilot" / "consensus.jsonl"
    assert owner_mode(log) == ("root", study.groups[1], 0o660)
    assert [json.loads(line)["adjudicator"] for line in log.read_text().splitlines()] == [c1]
    # a rater can neither read nor write the consensus
    denied = run_as(study, study.name("r1"), ["-c", f"open({str(log)!r}, 'a')"])
    assert "PermissionError" in denied.stderr
    # hub init again keeps it (and its mode)
    from covsev_tools.hub import init_study

    init_study(study.dir)
    assert owner_mode(log) == ("root", study.groups[1], 0o660) and len(log.read_text().splitlines()) == 1


def test_coordinator_has_covsev_a_shell_and_the_notebooks(study):
    import pwd

    c1 = study.name("c1")
    assert pwd.getpwnam(c1).pw_shell in ("/bin/bash", "/bin/sh")
    assert pwd.getpwnam(study.name("r1")).pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
    for name in ("coordinator.ipynb", "adjudication.ipynb"):
        assert owner_mode(study.dir / name) == ("root", study.groups[1], 0o660)
    denied = run_as(study, study.name("r1"), ["-c", f"open({str(study.dir / 'adjudication.ipynb')!r})"])
    assert "PermissionError" in denied.stderr
    # what the coordinator's terminal runs (the spawner's PATH starts with app/bin)
    import pwd as _pwd

    entry = _pwd.getpwnam(c1)
    status = subprocess.run([entry.pw_shell, "-c", "covsev hub status ."], capture_output=True, text=True,
                            cwd=study.dir, user=entry.pw_uid, group=entry.pw_gid,
                            extra_groups=os.getgrouplist(c1, entry.pw_gid),
                            env={"PATH": f"{study.dir / 'app' / 'bin'}:/usr/bin:/bin", "HOME": entry.pw_dir})
    assert status.returncode == 0, status.stderr
    header = status.stdout.splitlines()[0].split()
    assert header[:5] == ["user", "role", "cohort", "assignment", "training"]
    assert any(line.split()[:5] == [study.name("r1"), "rater", "pilot", "active", "passed"]
               for line in status.stdout.splitlines())
    assert status.stdout.splitlines()[-1] == "pilot: 4 of 4 cases read by all 2 raters"
    notebook = json.loads((study.dir / "adjudication.ipynb").read_text())
    assert "launch_adjudication(f'cohorts/{COHORT}'" in "".join(notebook["cells"][1]["source"])
    assert "COHORT = 'pilot'" in "".join(notebook["cells"][1]["source"])
