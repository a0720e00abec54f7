"""What keeps one study account's processes away from another's: private kernel sockets, limits, clean stops.

A rater can run code in their page's kernel, so everything a kernel exposes must be closed to the
other accounts of the machine, not only to the page:

- **Kernel sockets.** Jupyter kernels listen on TCP 127.0.0.1 by default, and a kernel's ``iopub``
  socket publishes everything the kernel prints to anyone who connects -- another rater's scores,
  or the coordinator printing ``key.csv``. Every study server is therefore started with
  ``--KernelManager.transport=ipc`` and ``JUPYTER_RUNTIME_DIR`` in :func:`runtime_dir`, a
  per-account folder of mode 0700 under :data:`RUNTIME_ROOT`: the kernel's sockets are files in that
  folder, which no other account can even reach. The path is short on purpose: a Unix socket path
  has at most 107 bytes (``/run/covsev/1001/kernel-<uuid>-ipc-3`` has about 60).
- **Limits.** :func:`limit_resources` sets, in the server's process before it becomes the rater,
  the address-space and process-count limits the study's settings give (``hub init
  --memory-limit/--max-processes``); every kernel and child inherits them. Where the kernel's
  memory controller can be used (cgroup v1 or v2, as root), :func:`memory_cgroup` also puts a
  rater's server with all its kernels in a group of its own whose *total* memory is that limit:
  ``RLIMIT_AS`` bounds each process, not their sum, so two kernels could otherwise take twice it.
- **Clean stops.** :func:`end_account_processes` ends every process of the account when its server
  stops (logout, idle culler, ``hub finish``, ``hub remove-user``), so nothing a rater started
  outlives the session.
- **/proc.** Without ``hidepid`` every account can read every process's command line and
  ``/proc/<pid>/`` of others; :func:`proc_hides_pids` lets ``hub start`` warn.

Examples
--------
>>> runtime_dir(1001)
PosixPath('/run/covsev/1001')
>>> KERNEL_TRANSPORT_ARGS
['--KernelManager.transport=ipc']
"""
from __future__ import annotations

import os
import resource  # here, not in limit_resources: that runs in a forked child
import signal
import stat
import time
from pathlib import Path

__all__ = ["CGROUP_ROOTS", "KERNEL_TRANSPORT_ARGS", "RUNTIME_ROOT", "SOCKET_PATH_LIMIT", "account_cgroup",
           "account_processes", "end_account_processes", "join_cgroup", "limit_resources", "memory_cgroup",
           "prepare_runtime_dir", "proc_hides_pids", "remove_cgroup", "runtime_dir"]

#: Root of the per-account runtime folders (a tmpfs on most systems; short, for socket paths).
RUNTIME_ROOT = Path("/run/covsev")
#: Longest path a Unix socket can have on Linux (``sun_path`` holds 108 bytes with the final NUL).
SOCKET_PATH_LIMIT = 107
#: Command-line options of every study server: its kernels talk over Unix sockets, not TCP.
KERNEL_TRANSPORT_ARGS = ["--KernelManager.transport=ipc"]
# kernel-<36-character uuid>-ipc-<port>: what jupyter_client puts after the runtime folder.
_SOCKET_NAME_LENGTH = len("/kernel-") + 36 + len("-ipc-") + 5


def runtime_dir(uid: int, root: Path = RUNTIME_ROOT) -> Path:
    """The runtime folder of the account ``uid`` (connection files and kernel sockets).

    Examples
    --------
    >>> runtime_dir(0, Path("/tmp/x"))
    PosixPath('/tmp/x/0')
    """
    return Path(root) / str(int(uid))


def prepare_runtime_dir(uid: int, gid: int, root: Path = RUNTIME_ROOT) -> Path:
    """Make ``root/<uid>`` anew, empty: owned by the account, mode 0700; ``root`` root-owned 0711. Root only.

    Whatever was at the account's path (an earlier server's connection files, a symlink, a file) is
    removed first, so a rater can never point another account's sockets somewhere they can reach
    and a new server never sees a dead kernel's files. Called when no process of the account runs.

    Raises
    ------
    covsev_tools.hub.study.StudyError
        If the path would be too long for a Unix socket.

    Examples
    --------
    >>> prepare_runtime_dir(1001, 1001)          # doctest: +SKIP
    PosixPath('/run/covsev/1001')
    """
    import shutil

    from covsev_tools.hub.study import StudyError

    folder = runtime_dir(uid, root)
    if len(str(folder)) + _SOCKET_NAME_LENGTH > SOCKET_PATH_LIMIT:
        raise StudyError(f"{folder}: too long for kernel sockets (at most "
                         f"{SOCKET_PATH_LIMIT - _SOCKET_NAME_LENGTH} characters); choose a shorter runtime root")
    root = Path(root)
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    os.chmod(root, 0o711)  # accounts reach their own folder, list nobody's
    try:
        info = os.lstat(folder)
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(folder)  # a new server starts with no connection file of an earlier one
        else:
            folder.unlink()
    except FileNotFoundError:
        pass
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chown(folder, uid, gid)
    os.chmod(folder, 0o700)
    return folder


def limit_resources(memory_bytes: int | None, max_processes: int | None) -> None:
    """Lower this process's address-space and process-count limits (inherited by its children).

    Called in the server's process before it switches to the rater's account. ``RLIMIT_AS`` bounds
    each process (the server and each kernel) rather than their sum; a kernel that asks for more
    gets ``MemoryError`` and carries on. ``RLIMIT_NPROC`` counts the account's processes and
    threads together.

    Examples
    --------
    >>> limit_resources(None, None)              # no limit asked: nothing changes
    """
    for which, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_NPROC, max_processes)):
        if value:
            resource.setrlimit(which, (int(value), int(value)))


#: Where the memory controller may be mounted: cgroup v1's memory hierarchy, then the v2 root.
CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup"))
#: A server's group is ``<root>/covsev/<uid>``.
CGROUP_PARENT = "covsev"


def memory_cgroup(uid: int, memory_bytes: int, roots=CGROUP_ROOTS) -> Path | None:
    """Make (or reset) account ``uid``'s memory group with a total of ``memory_bytes``; None if none can be.

    cgroup v1 (``memory.limit_in_bytes``, and ``memory.memsw.limit_in_bytes`` where swap is
    accounted, so the limit cannot be escaped into swap) or v2 (``memory.max``, ``memory.swap.max``
    0). When the group's processes together need more, the kernel's OOM killer ends one of them --
    the largest, i.e. the kernel that allocated -- and no other account is touched. Needs root and
    a writable controller; in a container without one this returns None and the per-process
    ``RLIMIT_AS`` is the only memory limit.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())                     # a v1 memory hierarchy, as files
    >>> _ = (root / "memory.limit_in_bytes").write_text("9223372036854771712")
    >>> group = memory_cgroup(1001, 2**30, roots=[root])
    >>> group.relative_to(root).as_posix(), (group / "memory.limit_in_bytes").read_text()
    ('covsev/1001', '1073741824')
    >>> memory_cgroup(1001, 2**30, roots=[Path(tempfile.mkdtemp())]) is None   # no controller
    True
    """
    for root in roots:
        if (root / "memory.limit_in_bytes").is_file():
            # v1 keeps memsw >= memory at every step: swap's limit around the memory's, so that
            # raising and lowering an old group's limits both succeed
            limits = [("memory.memsw.limit_in_bytes", str(int(memory_bytes))),
                      ("memory.limit_in_bytes", str(int(memory_bytes))),
                      ("memory.memsw.limit_in_bytes", str(int(memory_bytes)))]
            enable = []
        elif "memory" in _read_text(root / "cgroup.controllers").split():
            limits = [("memory.max", str(int(memory_bytes))), ("memory.swap.max", "0")]
            enable = [root, root / CGROUP_PARENT]  # v2: a controller reaches a group only when its parent enables it
        else:
            continue
        group = root / CGROUP_PARENT / str(int(uid))
        try:
            group.mkdir(parents=True, exist_ok=True)
            for folder in enable:
                (folder / "cgroup.subtree_control").write_text("+memory")
            for name, value in limits:
                if "swap" in name or "memsw" in name:
                    _write_if_present(group / name, value)  # only where swap is accounted
                else:
                    (group / name).write_text(value)
        except OSError:
            continue
        return group
    return None


def account_cgroup(uid: int, roots=None) -> Path | None:
    """Account ``uid``'s memory group if one exists (made by an earlier hub process), else None.

    The spawner keeps the group it made in memory only; after a hub restart it finds the group of a
    server started before the restart here, so that stopping that server still removes it.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "memory.limit_in_bytes").write_text("9223372036854771712")
    >>> made = memory_cgroup(1001, 2**30, roots=[root])
    >>> account_cgroup(1001, roots=[root]) == made, account_cgroup(1002, roots=[root])
    (True, None)
    """
    for root in CGROUP_ROOTS if roots is None else roots:
        group = Path(root) / CGROUP_PARENT / str(int(uid))
        if group.is_dir():
            return group
    return None


def join_cgroup(group: Path | None) -> None:
    """Move this process (and so every child it will start) into ``group``; nothing for None.

    Called in the server's process before it becomes the rater: a rater cannot move out of a group
    whose files are root's.
    """
    if group is not None:
        (group / "cgroup.procs").write_text(str(os.getpid()))


def remove_cgroup(group: Path | None) -> bool:
    """Remove an account's group once its processes are gone; False if it could not be (still in use).

    Examples
    --------
    >>> remove_cgroup(None)
    False
    """
    if group is None:
        return False
    try:
        group.rmdir()
    except OSError:
        return False
    return True


def _write_if_present(path: Path, value: str) -> None:
    try:
        if path.exists():
            path.write_text(value)
    except OSError:
        pass  # v1's first memsw write fails when it would go below the old memory limit; the second holds


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def account_processes(uid: int) -> list[int]:
    """PIDs of the processes whose real or effective user is ``uid`` (from ``/proc``).

    Examples
    --------
    >>> os.getpid() in account_processes(os.getuid())
    True
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("Uid:"):
                    real, effective = (int(v) for v in line.split()[1:3])
                    if uid in (real, effective):
                        pids.append(int(entry.name))
                    break
        except (OSError, ValueError):
            continue  # gone meanwhile
    return pids


def end_account_processes(uid: int, grace: float = 2.0, rounds: int = 20) -> int:
    """End every process of account ``uid``: SIGTERM, then SIGKILL after ``grace`` seconds; how many.

    Repeats until none is left (a process may fork while the others end). Never for root.

    Examples
    --------
    >>> end_account_processes(0)
    Traceback (most recent call last):
    ...
    ValueError: refusing to end the processes of root
    """
    if uid == 0:
        raise ValueError("refusing to end the processes of root")
    seen: set[int] = set()
    for number in range(rounds):
        pids = account_processes(uid)
        if not pids:
            return len(seen)
        seen.update(pids)
        sig = signal.SIGTERM if number == 0 else signal.SIGKILL
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + (grace if number == 0 else 0.5)
        while time.monotonic() < deadline and account_processes(uid):
            time.sleep(0.05)
    return len(seen)


def proc_hides_pids(mounts: str | None = None) -> bool:
    """True if ``/proc`` is mounted with ``hidepid=1`` or more (``invisible``/``noaccess``).

    Examples
    --------
    >>> proc_hides_pids("proc /proc proc rw,nosuid,nodev,noexec,relatime,hidepid=invisible 0 0\\n")
    True
    >>> proc_hides_pids("proc /proc proc rw,relatime 0 0\\n")
    False
    """
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return False
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "/proc" and parts[2] == "proc":
            options = dict(o.split("=", 1) if "=" in o else (o, "") for o in parts[3].split(","))
            return options.get("hidepid", "0") not in ("0", "off")
    return False
