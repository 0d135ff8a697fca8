"""Limits and privileges of the processes in the sandbox (runner, student kernel, judge)."""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4


def drop_privileges(uid: int | None, workdir: str) -> None:
    """When started as root in the sandbox, become ``uid`` for good.

    The sandbox's own tmpfs folders belong to root; the work folder is handed
    to the unprivileged user first. A real, unshared uid also makes the
    process-count limit (RLIMIT_NPROC) count this submission's processes only.
    """
    if uid is None or os.getuid() != 0:
        return
    os.chown(workdir, uid, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("could not drop privileges")


def make_undumpable() -> None:
    """Keep processes of the same uid (the student's kernel) out of this one.

    A non-dumpable process cannot be ptraced, and its /proc/PID/mem, environ
    and fd/ cannot be opened by other processes of the same user. The flag is
    reset by execve, so every trusted process (runner, judge) sets it itself,
    before it reads any test code. Raises OSError when the setting fails: a
    trusted process must not go on readable by the student.
    """
    _prctl(PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE 0 (keeps the student's processes out of the runner and judge)")


def _prctl(option: int, value: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl {what} failed: {os.strerror(errno)}")


def _set(limit: int, value: int) -> None:
    try:
        resource.setrlimit(limit, (value, value))
    except (ValueError, OSError):
        # Never raise a limit above what we were given.
        soft, hard = resource.getrlimit(limit)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (capped, capped))


def child_limits(limits: dict) -> None:
    """Apply the submission's resource limits; runs in a child (kernel, judge) before exec.

    Memory is limited through RLIMIT_DATA (heap and private mappings), not the
    address space: TensorFlow reserves far more address space than it uses.
    """
    mb = 1024 * 1024
    _set(resource.RLIMIT_DATA, int(limits["memory_mb"]) * mb)
    _set(resource.RLIMIT_NPROC, int(limits["nproc"]))
    # SIGXCPU at the soft limit says why the kernel stopped; SIGKILL follows if it is ignored.
    cpu = int(limits["cpu_seconds"])
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (ValueError, OSError):
        _set(resource.RLIMIT_CPU, cpu)
    _set(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * mb)
    _set(resource.RLIMIT_NOFILE, int(limits["nofile"]))
    _set(resource.RLIMIT_CORE, 0)
    # The child dies with the runner, whatever kills the runner; if that cannot be set, it does not start.
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG SIGKILL (the child dies with the runner)")
    os.setsid()  # its own process group, so that a timeout can kill every child at once


def exit_description(returncode: int | None) -> dict:
    """The runner's account of how a child ended: return code, signal, CPU time of reaped children."""
    if returncode is None:
        return {"returncode": None}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict = {"returncode": returncode, "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2)}
    if returncode < 0:
        try:
            out["signal"] = signal.Signals(-returncode).name
        except ValueError:
            out["signal"] = str(-returncode)
    return out


def kill_process_group(proc: subprocess.Popen, reap_within: float = 5.0) -> None:
    """SIGKILL ``proc`` and everything in its process group, then reap it (waiting at most ``reap_within`` s;
    0: do not wait, the caller reaps it later)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    if reap_within <= 0:
        return
    try:
        proc.wait(reap_within)
    except subprocess.TimeoutExpired:
        pass
