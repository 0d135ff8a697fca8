"""The sandbox: run :mod:`autograder.sandbox_runner` under bubblewrap.

What the submission sees
------------------------
- a read-only system: ``/usr`` (and the merged-/usr links), a few files of
  ``/etc`` that programs need to start (no secrets: no shadow, no keys), the
  Python installation and the virtualenv, and the ``dlbricks`` package;
- a private, size-limited writable work folder (``/home/student``) and ``/tmp``;
- its own pid, network (loopback only), IPC and UTS namespaces: no network,
  no other process to see or signal, and when the sandbox ends every process
  in it is killed by the kernel;
- an explicit, clean environment (nothing of the grader's environment);
- an unprivileged uid (when the grader runs as root, the runner drops to a uid
  of its own, so the process-count limit counts only this submission).

It does not see ``source/``, the gradebook, other submissions, the grader's
home or its environment variables.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

RUNNER = Path(__file__).with_name("sandbox_runner.py")
RUNNER_IN_SANDBOX = "/opt/autograder/runner.py"
WORKDIR = "/home/student"
# /etc files programs need to start; nothing secret.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "hosts", "passwd", "group", "mime.types")
# Uids handed to sandboxes when the grader runs as root: one per worker process.
SANDBOX_UID_BASE = 61000
SANDBOX_UID_SPAN = 4000


class SandboxUnavailable(RuntimeError):
    """No sandbox mechanism works on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission (see the runner for how each is applied)."""

    memory_mb: int = 3072
    nproc: int = 256
    cpu_seconds: int = 1800
    fsize_mb: int = 64
    nofile: int = 1024
    tmp_mb: int = 512
    home_mb: int = 256
    cell_output_bytes: int = 64 * 1024
    total_output_bytes: int = 2 * 1024 * 1024


@dataclass(frozen=True)
class RunSettings:
    """Time limits and the sandbox choice for one execution."""

    timeout: float = 120.0  # per cell
    deadline: float = 900.0  # whole notebook
    startup_timeout: float = 120.0
    unsafe: bool = False
    limits: Limits = field(default_factory=Limits)


def clean_kernel_env() -> dict[str, str]:
    """The whole environment of the student's kernel: nothing inherited from the grader."""
    venv_bin = os.path.dirname(sys.executable)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": WORKDIR,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "DLBRICKS_QUICK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": f"{WORKDIR}/.ipython",
        "JUPYTER_RUNTIME_DIR": f"{WORKDIR}/.kernel",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        # One thread per submission: parallelism comes from --workers. Two BLAS
        # threads per kernel on a busy machine spin against each other (5-10x slower).
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }


def python_paths() -> list[str]:
    """Folders the interpreter and its installed packages need, read-only in the sandbox.

    sys.prefix (the virtualenv), sys.base_prefix (the Python it was made from),
    the real location of the interpreter, the site-packages folders and the
    folders that editable installs point into (the dlbricks package).
    """
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    for sp in site.getsitepackages():
        paths.add(os.path.realpath(sp))
    import dlbricks  # the course library, wherever it is installed (editable: lib/)

    paths.add(os.path.dirname(os.path.realpath(dlbricks.__path__[0])))
    # Keep only outermost folders, so that nothing is mounted twice.
    ordered = sorted(p for p in paths if os.path.isdir(p))
    outer: list[str] = []
    for p in ordered:
        if not any(p == o or p.startswith(o.rstrip("/") + "/") for o in outer):
            outer.append(p)
    return outer


_uid_lock = threading.Lock()
_uid_slots_in_use: set[int] = set()
UID_SLOTS = 8  # concurrent sandboxes per grading process (Dask workers run tasks in threads)


@contextmanager
def sandbox_uid() -> Iterator[int]:
    """A uid for the runner to drop to when the grader is root, unique among running sandboxes.

    Distinct uids keep the per-user process limit of one submission from
    counting (and so starving) another's processes.
    """
    with _uid_lock:
        slot = next(i for i in range(UID_SLOTS + 1) if i not in _uid_slots_in_use or i == UID_SLOTS)
        _uid_slots_in_use.add(slot)
    try:
        per_process = SANDBOX_UID_SPAN // (UID_SLOTS + 1)
        yield SANDBOX_UID_BASE + (os.getpid() % per_process) * (UID_SLOTS + 1) + slot
    finally:
        with _uid_lock:
            _uid_slots_in_use.discard(slot)


@lru_cache(maxsize=1)
def bwrap_options() -> frozenset[str]:
    """The options this bubblewrap knows (older releases lack --size and --disable-userns)."""
    try:
        text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(word for word in text.split() if word.startswith("--"))


def _tmpfs(path: str, perms: str, megabytes: int) -> list[str]:
    # Without --size (bubblewrap < 0.8) the tmpfs is bounded only by the kernel's default (half the RAM).
    size = ["--size", str(megabytes * 2**20)] if "--size" in bwrap_options() else []
    return ["--perms", perms, *size, "--tmpfs", path]


def bwrap_command(settings: RunSettings) -> list[str]:
    """The bubblewrap command line that starts the runner inside the sandbox."""
    lim = settings.limits
    cmd = ["bwrap", "--die-with-parent", "--new-session",
           "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.getuid() != 0:
        # Unprivileged bubblewrap needs a user namespace; nested ones are refused.
        cmd += ["--unshare-user"]
        if "--disable-userns" in bwrap_options():
            cmd.append("--disable-userns")
    else:
        # As root, bubblewrap would keep every capability: keep only what the runner
        # needs to hand its work folder to the sandbox uid and become that uid.
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_CHOWN"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{top}"
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    mounts: list[tuple[str, str, str]] = [("--ro-bind", "/usr", "/usr")]
    mounts += [("--ro-bind-try", f"/etc/{name}", f"/etc/{name}") for name in ETC_FILES]
    mounts.append(("--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"))
    mounts += [("--ro-bind", p, p) for p in python_paths() if p != "/usr" and not p.startswith("/usr/")]
    mounts.append(("--ro-bind", str(RUNNER), RUNNER_IN_SANDBOX))
    # The private /tmp comes first: the Python install or the course may live under
    # /tmp (a CI checkout), and binds made after the tmpfs stay visible inside it.
    cmd += ["--proc", "/proc", "--dev", "/dev",
            *_tmpfs("/dev/shm", "1777", lim.tmp_mb), *_tmpfs("/tmp", "1777", lim.tmp_mb)]
    # bubblewrap would create the folders above mount points with mode 0700, which
    # the unprivileged uid cannot cross: create them first, world-readable.
    for parent in _parents([dest for _, _, dest in mounts] + [WORKDIR]):
        cmd += ["--perms", "0755", "--dir", parent]
    for option, src, dest in mounts:
        cmd += [option, src, dest]
    cmd += [*_tmpfs(WORKDIR, "0700", lim.home_mb), "--chdir", WORKDIR, "--clearenv"]
    for key, value in clean_kernel_env().items():
        cmd += ["--setenv", key, value]
    cmd += ["--", sys.executable, "-I", RUNNER_IN_SANDBOX]
    return cmd


def _parents(paths: list[str]) -> list[str]:
    """Every proper parent folder of ``paths`` (not "/"), shallowest first."""
    found: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path.rstrip("/"))
        while parent not in ("", "/"):
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted(found, key=lambda p: (p.count("/"), p))


@lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here, or None when it works (checked once per process)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (the `bwrap` command) is not installed"
    probe = bwrap_command(RunSettings())
    probe = probe[: probe.index("--")] + ["--", sys.executable, "-I", "-c",
                                           "import os, socket; print(os.getpid())"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start ({exc})"
    if done.returncode != 0:
        return f"bubblewrap failed: {done.stderr.strip()[:500]}"
    return None


def require_sandbox(unsafe: bool) -> None:
    """Raise :class:`SandboxUnavailable` unless a sandbox works or ``unsafe`` was asked for."""
    if unsafe:
        return
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(
            f"Cannot sandbox student code: {problem}. Install bubblewrap "
            "(`apt-get install bubblewrap`) and allow user namespaces, or, only for notebooks "
            "you trust, pass --unsafe to run them with your own rights.")


def runner_command(settings: RunSettings, scratch: Path) -> tuple[list[str], dict[str, str], str]:
    """(argv, env, workdir) that start the runner, sandboxed unless ``settings.unsafe``."""
    if not settings.unsafe:
        return bwrap_command(settings), {}, WORKDIR
    # Unsafe: same runner and limits, but with the grader's rights and file system.
    work = scratch / "home"
    work.mkdir(parents=True, exist_ok=True)
    env = clean_kernel_env()
    env.update({"HOME": str(work), "IPYTHONDIR": str(work / ".ipython"),
                "JUPYTER_RUNTIME_DIR": str(work / ".kernel"), "MPLCONFIGDIR": str(scratch / "mpl")})
    return [sys.executable, "-I", str(RUNNER)], env, str(work)


@dataclass
class RunOutcome:
    """What came back from one sandboxed execution (untrusted data, already parsed)."""

    events: list[dict]
    end: dict | None
    stderr: str
    wall_seconds: float
    killed: bool  # the parent had to kill the sandbox at the hard wall limit


def run_cells(cells: list[dict], settings: RunSettings) -> RunOutcome:
    """Execute ``cells`` (the runner's request format) in a fresh sandbox.

    Parameters
    ----------
    cells : [{"index": int, "segments": [{"code": str, "hidden": bool, "test": bool}]}]
    settings : time limits, resource limits and whether to sandbox.

    Returns the runner's events; never raises for anything the notebook does.
    """
    import tempfile

    lim = settings.limits
    with tempfile.TemporaryDirectory(prefix="autograder-run-") as scratch, sandbox_uid() as uid:
        argv, env, workdir = runner_command(settings, Path(scratch))
        request = {
            "cells": cells, "timeout": settings.timeout, "deadline": settings.deadline,
            "startup_timeout": settings.startup_timeout,
            "limits": {k: v for k, v in asdict(lim).items()
                       if k in ("memory_mb", "nproc", "cpu_seconds", "fsize_mb", "nofile")},
            "output": {"cell_bytes": lim.cell_output_bytes, "total_bytes": lim.total_output_bytes},
            "drop_uid": uid if (os.getuid() == 0 and not settings.unsafe) else None,
            "workdir": workdir, "kernel_env": clean_kernel_env() if not settings.unsafe else env,
            "record_env": "DLBRICKS_CHECK_RECORD",
        }
        if settings.unsafe:
            request["kernel_env"].update(env)
        return _communicate(argv, env if settings.unsafe else {}, json.dumps(request).encode(),
                            settings.deadline + settings.startup_timeout + 30.0, lim)


def _communicate(argv: list[str], env: dict[str, str], request: bytes, wall_limit: float,
                 limits: Limits) -> RunOutcome:
    """Start the runner, feed it the request, read its event lines until it ends or the wall limit."""
    start = time.monotonic()
    info_read, info_write = (os.pipe() if argv[0] == "bwrap" else (-1, -1))
    if info_write >= 0:
        # bubblewrap tells the pid of the sandbox's init on this fd: killing that init is what
        # makes the kernel kill everything left in the sandbox's pid namespace.
        argv = [argv[0], "--info-fd", str(info_write), *argv[1:]]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True,
                                pass_fds=(info_write,) if info_write >= 0 else ())
    finally:
        if info_write >= 0:
            os.close(info_write)
    sandbox_init = _SandboxInit(info_read) if info_read >= 0 else None
    events: list[dict] = []
    stderr_chunks: list[bytes] = []
    killed = threading.Event()

    def feed() -> None:
        try:
            proc.stdin.write(request)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def read_stderr() -> None:
        kept = 0
        for chunk in iter(lambda: proc.stderr.read(8192), b""):
            if kept < 64 * 1024:
                stderr_chunks.append(chunk)
                kept += len(chunk)

    def watchdog() -> None:
        if _wait(proc, wall_limit):
            return
        killed.set()
        _kill_group(proc)

    threads = [threading.Thread(target=f, daemon=True) for f in (feed, read_stderr, watchdog)]
    for t in threads:
        t.start()
    # Event lines can be large (outputs, records) but are bounded by the runner's budgets.
    max_line = 8 * limits.total_output_bytes + 64 * 1024 * 1024
    for line in iter(lambda: proc.stdout.readline(max_line), b""):
        try:
            event = json.loads(line)
        except ValueError:
            continue  # not a protocol line: ignore
        if isinstance(event, dict):
            events.append(event)
    proc.wait()
    # Nothing may outlive its grading. bubblewrap returns as soon as the runner exits, while
    # its init lingers as long as processes the notebook left behind (orphans it reaps).
    _kill_group(proc)
    if sandbox_init is not None:
        sandbox_init.kill_and_wait()
    end = next((e for e in reversed(events) if e.get("event") == "end"), None)
    return RunOutcome(events=events, end=end,
                      stderr=b"".join(stderr_chunks).decode("utf-8", "replace"),
                      wall_seconds=time.monotonic() - start, killed=killed.is_set())


class _SandboxInit:
    """The sandbox's init process, known by a pidfd (no pid-reuse race), read from bubblewrap's info fd."""

    def __init__(self, info_fd: int) -> None:
        self.pidfd: int | None = None
        self._reader = threading.Thread(target=self._read, args=(info_fd,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        data = b""
        try:
            with os.fdopen(fd, "rb", buffering=0) as stream:
                decoder = json.JSONDecoder()
                while True:
                    chunk = stream.read(4096)
                    if not chunk:
                        return
                    data += chunk
                    try:
                        info, _ = decoder.raw_decode(data.decode("utf-8", "replace").strip())
                    except ValueError:
                        continue
                    pid = info.get("child-pid") if isinstance(info, dict) else None
                    if isinstance(pid, int) and pid > 1:
                        self.pidfd = os.pidfd_open(pid)
                    return
        except (OSError, ValueError):
            return

    def kill_and_wait(self, timeout: float = 60.0) -> None:
        """SIGKILL the init and wait until it is gone: the kernel reaps the whole namespace first."""
        import select
        import signal

        self._reader.join(timeout=5)
        if self.pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            select.select([self.pidfd], [], [], timeout)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        finally:
            os.close(self.pidfd)
            self.pidfd = None


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
