"""A rater server's memory total: the cgroup that holds the server with all its kernels.

The per-process address-space limit bounds each process, not their sum; the group bounds the sum.
The file-level tests run anywhere; the kernel's own OOM killer is tried where this process may use
a memory controller (root, cgroup v1 or v2), and skipped with that reason elsewhere.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from covsev_tools.hub.isolation import CGROUP_ROOTS, join_cgroup, memory_cgroup, remove_cgroup

MiB = 2**20


def test_v2_enables_the_controller_down_to_the_group_and_forbids_swap(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    group = memory_cgroup(1234, 512 * MiB, roots=[tmp_path / "absent", tmp_path])
    assert group == tmp_path / "covsev" / "1234"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory"
    assert (tmp_path / "covsev" / "cgroup.subtree_control").read_text() == "+memory"
    assert (group / "memory.max").read_text() == str(512 * MiB)
    assert not (group / "memory.swap.max").exists()  # written only where the kernel made it (swap accounted)


def test_v1_sets_the_swap_limit_where_swap_is_accounted(tmp_path):
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712")
    (tmp_path / "covsev" / "7").mkdir(parents=True)
    (tmp_path / "covsev" / "7" / "memory.memsw.limit_in_bytes").write_text("0")
    group = memory_cgroup(7, 300 * MiB, roots=[tmp_path])
    assert (group / "memory.limit_in_bytes").read_text() == str(300 * MiB)
    assert (group / "memory.memsw.limit_in_bytes").read_text() == str(300 * MiB)


def test_no_controller_no_group_and_the_caller_keeps_the_rlimit(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    assert memory_cgroup(7, 300 * MiB, roots=[tmp_path]) is None
    join_cgroup(None)  # nothing to join: no error
    assert remove_cgroup(None) is False


def _usable_group(name: int, limit: int):
    if os.geteuid() != 0:
        pytest.skip("a memory cgroup needs root")
    group = memory_cgroup(name, limit)
    if group is None or not str(group).startswith(tuple(str(r) for r in CGROUP_ROOTS)):
        pytest.skip("no writable cgroup memory controller on this machine (a container without one)")
    return group


# allocate and touch argv[1] MiB, and hold it for argv[2] seconds (so that two holders overlap)
ALLOCATE = ("import numpy as np, sys, time; x = np.ones(int(sys.argv[1]) * 2**20, dtype=np.uint8); "
            "time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0); print(int(x[-1]))")
# one parent, two children: each alone fits the group, both together do not
TWO = ("import subprocess, sys; code = sys.argv[1]; "
       "kids = [subprocess.Popen([sys.executable, '-c', code, '90', '3']) for _ in range(2)]; "
       "print(sorted(k.wait() for k in kids))")


def test_the_kernel_ends_what_exceeds_the_group_total_and_nothing_else():
    group = _usable_group(2_000_000_000 + os.getpid() % 100_000, 150 * MiB)
    try:
        def run(*args):
            return subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True, timeout=120,
                                  preexec_fn=lambda: join_cgroup(group))

        small = run(ALLOCATE, "40")
        assert small.returncode == 0 and small.stdout.strip() == "1", small.stderr
        big = run(ALLOCATE, "400")
        assert big.returncode == -signal.SIGKILL, (big.returncode, big.stderr[-300:])
        pair = run(TWO, ALLOCATE)
        # 2 × 90 MiB of children plus their parent do not fit 150 MiB: the OOM killer ends one child
        # (or the parent, the group's third process); never both children finish
        # (the surviving child prints its "1" first; the parent's last line is the children's exit codes)
        assert pair.returncode == -signal.SIGKILL or pair.stdout.split()[-2:] == [f"[{-signal.SIGKILL},", "0]"], \
            (pair.returncode, pair.stdout, pair.stderr[-300:])
        outside = subprocess.run([sys.executable, "-c", ALLOCATE, "400"], capture_output=True, text=True, timeout=120)
        assert outside.returncode == 0  # the same allocation outside the group: nothing limits it
    finally:
        assert remove_cgroup(group), f"{group} still has processes"
        assert not Path(group).exists()


def test_a_server_started_before_a_hub_restart_still_has_its_group_removed(tmp_path, monkeypatch):
    """The spawner keeps the group it made in memory; a restarted hub finds it by the account's uid."""
    import asyncio
    import pwd
    from types import SimpleNamespace

    from covsev_tools.hub import isolation, spawner as spawner_module

    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712")
    account = pwd.getpwnam("nobody")
    group = memory_cgroup(account.pw_uid, 300 * MiB, roots=[tmp_path])
    monkeypatch.setattr(isolation, "CGROUP_ROOTS", (tmp_path / "absent", tmp_path))
    ended = []
    monkeypatch.setattr(spawner_module, "end_account_processes", ended.append)  # nobody's processes stay
    # after a restart JupyterHub makes a new spawner from the saved state: no group in memory
    restarted = spawner_module.StudySpawner(user=SimpleNamespace(name="nobody", url="/user/nobody/"))
    restarted.load_state({"pid": 0})
    assert not hasattr(restarted, "_cgroup")
    # a fake v1 tree keeps its control files, which a real cgroupfs removes with the group
    for control in group.iterdir():
        control.unlink()
    asyncio.run(restarted.stop())
    assert ended == [account.pw_uid]
    assert not group.exists()
    assert isolation.account_cgroup(account.pw_uid) is None
