"""A control group per sandbox: memory and process limits that count everything it uses.

``RLIMIT_DATA`` (set on the kernel inside the sandbox) misses shared memory
and the sandbox's RAM-backed folders (``/tmp``, ``/dev/shm``, the work
folder); ``RLIMIT_NPROC`` counts per uid. A memory cgroup charges every page
a process of the group touches, shared memory and tmpfs files included, and
a pids cgroup counts every task (processes and threads) of the group, and
a cpu cgroup (where there is one) holds the whole sandbox to one core, however
many processes it starts (RLIMIT_CPU counts per process). The
sandbox's first process (bubblewrap) joins the group before it starts
anything, so the runner, the judge and the student's kernel are all inside.

cgroup v1 (separate ``memory`` and ``pids`` hierarchies, as here) and v2
(one unified hierarchy, where the grader's own cgroup delegates ``memory``
and ``pids`` to its children) are both used; where neither can be written
(no root, no delegation), :func:`cgroup_support` says why and the sandbox
falls back to the rlimits alone. The startup message says which it is.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_PREFIX = "autograder-sandbox-"
# The runner and judge processes (Python with numpy) and bubblewrap itself, beside the kernel.
MEMORY_HEADROOM_MB = 256
TASKS_HEADROOM = 64
CPU_PERIOD_US = 100_000
CPU_CORES = 1  # per sandbox: parallelism comes from --workers


def _own_path(controller: str) -> str | None:
    """This process's cgroup path in the v1 ``controller`` hierarchy, or in v2 (controller "")."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if (controller == "" and parts[0] == "0" and parts[1] == "") or controller in parts[1].split(","):
            return parts[2]
    return None


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@dataclass(frozen=True)
class CgroupSupport:
    """Where per-sandbox groups are made: v1 folders per controller, or one v2 folder."""

    version: int  # 1, 2, or 0 when none can be used
    parents: dict[str, Path] = field(default_factory=dict)  # controller ("memory", "pids", "cpu") -> parent
    reason: str = ""  # why not, when version is 0

    def describe(self) -> str:
        if self.version == 0:
            return f"cgroup limits: NOT enforced ({self.reason}); memory by RLIMIT_DATA only"
        cpu = f", CPU held to {CPU_CORES} core" if "cpu" in self.parents else ", CPU not held (no cpu cgroup)"
        return (f"cgroup v{self.version} per sandbox: memory (shared memory and temp folders included) "
                f"and tasks counted for the whole sandbox{cpu}")


@lru_cache(maxsize=1)
def cgroup_support() -> CgroupSupport:
    """What this machine lets the grader do (checked once per process)."""
    v1 = {c: CGROUP_ROOT / c for c in ("memory", "pids")}
    if all((root / "tasks").exists() for root in v1.values()):
        parents = {}
        for controller, root in v1.items():
            own = _own_path(controller)
            parent = root / own.lstrip("/") if own else root
            if not _writable_dir(parent):
                return CgroupSupport(0, reason=f"{parent} is not writable (run the grader as root)")
            parents[controller] = parent
        own = _own_path("cpu")
        cpu = CGROUP_ROOT / "cpu" / (own or "/").lstrip("/")
        if (cpu / "cpu.cfs_quota_us").exists() and _writable_dir(cpu):
            parents["cpu"] = cpu
        return CgroupSupport(1, parents)
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        own = _own_path("")
        parent = CGROUP_ROOT / (own or "/").lstrip("/")
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError as exc:
            return CgroupSupport(0, reason=f"cannot read {parent}/cgroup.subtree_control ({exc.strerror})")
        if "cpu" not in enabled:
            try:  # optional: without it the sandbox's CPU is bounded by RLIMIT_CPU per process only
                (parent / "cgroup.subtree_control").write_text("+cpu")
                enabled.append("cpu")
            except OSError:
                pass
        if not {"memory", "pids"} <= set(enabled):
            try:
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
            except OSError as exc:
                return CgroupSupport(0, reason=f"cgroup v2: {parent} does not delegate memory and pids "
                                               f"to its children ({exc.strerror}); run the grader in a "
                                               "delegated cgroup (systemd Delegate=yes)")
        if not _writable_dir(parent):
            return CgroupSupport(0, reason=f"{parent} is not writable")
        return CgroupSupport(2, {"memory": parent, "pids": parent}
                             | ({"cpu": parent} if "cpu" in enabled else {}))
    return CgroupSupport(0, reason="no memory and pids cgroup controllers are mounted")


class SandboxCgroup:
    """The group of one sandbox: made before it starts, emptied and removed after.

    Parameters
    ----------
    name : unique on the machine (the sandbox's uid lock makes it so).
    memory_mb : the submission's memory limit; the group gets MEMORY_HEADROOM_MB more.
    tasks : the submission's process limit; the group gets TASKS_HEADROOM more.
    """

    def __init__(self, support: CgroupSupport, name: str, memory_mb: int, tasks: int) -> None:
        self.support = support
        self.dirs: list[Path] = []
        limit = (int(memory_mb) + MEMORY_HEADROOM_MB) * 2**20
        if support.version == 1:
            memory = self._make(support.parents["memory"] / name)
            _write(memory / "memory.limit_in_bytes", limit)
            if (memory / "memory.memsw.limit_in_bytes").exists():  # no way out through swap
                _write(memory / "memory.memsw.limit_in_bytes", limit)
            pids = self._make(support.parents["pids"] / name)
            _write(pids / "pids.max", int(tasks) + TASKS_HEADROOM)
            self.procs_files = [memory / "cgroup.procs", pids / "cgroup.procs"]
            if "cpu" in support.parents:
                cpu = self._make(support.parents["cpu"] / name)
                _write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
                _write(cpu / "cpu.cfs_quota_us", CPU_CORES * CPU_PERIOD_US)
                self.procs_files.append(cpu / "cgroup.procs")
            self.memory_dir = memory
        else:
            group = self._make(support.parents["memory"] / name)
            _write(group / "memory.max", limit)
            if (group / "memory.swap.max").exists():
                _write(group / "memory.swap.max", 0)
            _write(group / "pids.max", int(tasks) + TASKS_HEADROOM)
            if "cpu" in support.parents:
                (group / "cpu.max").write_text(f"{CPU_CORES * CPU_PERIOD_US} {CPU_PERIOD_US}")
            self.procs_files = [group / "cgroup.procs"]
            self.memory_dir = group
        # Opened now: the child joins by writing its pid between fork and exec, where
        # nothing that may take a lock (an import, an allocation by Python) should run.
        self._fds = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in self.procs_files]

    def _make(self, path: Path) -> Path:
        if path.exists():  # a leftover of a killed grader with the same uid: empty it first
            _empty_and_remove(path)
        path.mkdir()
        self.dirs.append(path)
        return path

    def join_fds(self) -> list[int]:
        return list(self._fds)

    def oom_kills(self) -> int:
        """How many times the kernel killed a process of the group for memory."""
        if self.support.version == 1:
            text = _read(self.memory_dir / "memory.oom_control")
            key = "oom_kill"
        else:
            text = _read(self.memory_dir / "memory.events")
            key = "oom_kill"
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
                return int(parts[1])
        return 0

    def peak_bytes(self) -> int:
        name = "memory.max_usage_in_bytes" if self.support.version == 1 else "memory.peak"
        text = _read(self.memory_dir / name).strip()
        return int(text) if text.isdigit() else 0

    def close(self) -> None:
        """Kill whatever is left in the group, wait until it is empty, remove it."""
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        for path in reversed(self.dirs):
            _empty_and_remove(path)
        self.dirs = []


def join_cgroup(fds: list[int]) -> None:
    """Move the calling process into the group (runs in the child between fork and exec)."""
    pid = str(os.getpid()).encode()
    for fd in fds:
        os.write(fd, pid)


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _empty_and_remove(path: Path, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        pids = [int(p) for p in _read(path / "cgroup.procs").split() if p.isdigit()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
