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
from typing import Any, Iterator

from .sandbox_runner.limits import kill_process_group

RUNNER_DIR = Path(__file__).with_name("sandbox_runner")  # a package that runs on its own (see there)
RUNNER = RUNNER_DIR / "__main__.py"
RUNNER_DIR_IN_SANDBOX = "/opt/autograder/sandbox_runner"
RUNNER_IN_SANDBOX = f"{RUNNER_DIR_IN_SANDBOX}/__main__.py"
WORKDIR = "/home/student"
# /etc files programs need to start; nothing secret. fonts/: fontconfig's configuration
# (matplotlib runs fc-list; without it every figure prints "Fontconfig error" to the page).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "hosts", "passwd", "group", "mime.types", "fonts")
# The system's font caches, read-only: fontconfig reads them instead of scanning every font.
FONT_CACHE = "/var/cache/fontconfig"
# Figures are kept: the inline backend sends each as a PNG (size-capped by the runner's output budget).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# Files of the sandbox's /proc that tell about other users and the kernel, not this sandbox.
MASKED_PROC_FILES = ("keys", "key-users", "timer_list", "sched_debug", "kcore", "kallsyms")
# Bounds on what the parent reads from a sandbox: one protocol line, its nesting and its
# number of JSON values, and the values of the whole run (each value costs ~100 bytes parsed).
MAX_EVENT_BYTES = 16 * 2**20
MAX_EVENT_DEPTH = 64
MAX_EVENT_VALUES = 500_000
MAX_RUN_VALUES = 2_000_000


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
    cell_output_bytes: int = 256 * 1024  # a widget with its static picture (lesson 02: ~120 KB) fits
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
        "MPLBACKEND": INLINE_BACKEND,
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "XDG_CACHE_HOME": "/tmp/.cache",  # fontconfig's own cache of fonts it had to scan
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
    mounts.append(("--ro-bind-try", FONT_CACHE, FONT_CACHE))
    mounts.append(("--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"))
    mounts += [("--ro-bind", p, p) for p in python_paths() if p != "/usr" and not p.startswith("/usr/")]
    mounts.append(("--ro-bind", str(RUNNER_DIR), RUNNER_DIR_IN_SANDBOX))
    # The private /tmp comes first: the Python install or the course may live under
    # /tmp (a CI checkout), and binds made after the tmpfs stay visible inside it.
    cmd += ["--proc", "/proc", "--dev", "/dev",
            *_tmpfs("/dev/shm", "1777", lim.tmp_mb), *_tmpfs("/tmp", "1777", lim.tmp_mb)]
    for name in MASKED_PROC_FILES:  # /proc/keys lists other users' key names
        if os.path.exists(f"/proc/{name}"):  # the sandbox's /proc has the same files as ours
            cmd += ["--ro-bind", "/dev/null", f"/proc/{name}"]
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
                "JUPYTER_RUNTIME_DIR": str(work / ".kernel"), "MPLCONFIGDIR": str(scratch / "mpl"),
                "XDG_CACHE_HOME": str(scratch / "cache")})
    return [sys.executable, "-I", str(RUNNER)], env, str(work)


class SandboxError(RuntimeError):
    """Talking to a sandbox failed; the sandbox and all its processes were killed first."""


@dataclass
class RunOutcome:
    """What came back from one sandboxed execution (untrusted data, already parsed)."""

    events: list[dict]
    end: dict | None
    stderr: str
    wall_seconds: float
    killed: bool  # the parent had to kill the sandbox at the hard wall limit
    problems: list[str] = field(default_factory=list)  # protocol lines refused, cleanup trouble
    oom_kills: int = 0  # processes the sandbox's memory cgroup killed
    memory_peak_mb: float = 0.0  # the sandbox's peak memory (cgroup), 0 when not measured


def run_cells(cells: list[dict], settings: RunSettings) -> RunOutcome:
    """Execute ``cells`` (the runner's request format) in a fresh sandbox.

    Parameters
    ----------
    cells : [{"index": int, "segments": [{"code": str, "hidden": bool, "test": bool}]}]
    settings : time limits, resource limits and whether to sandbox.

    Returns the runner's events; never raises for anything the notebook does.
    Raises :class:`SandboxError` when the grader could not talk to the sandbox
    (after killing it and everything in it).
    """
    import tempfile

    from .uids import sandbox_uid

    lim = settings.limits
    as_root = os.getuid() == 0 and not settings.unsafe
    with tempfile.TemporaryDirectory(prefix="autograder-run-") as scratch, \
            (sandbox_uid() if as_root else _no_uid()) as uid:
        argv, env, workdir = runner_command(settings, Path(scratch))
        request = {
            "cells": cells, "timeout": settings.timeout, "deadline": settings.deadline,
            "startup_timeout": settings.startup_timeout,
            "limits": {k: v for k, v in asdict(lim).items()
                       if k in ("memory_mb", "nproc", "cpu_seconds", "fsize_mb", "nofile")},
            "output": {"cell_bytes": lim.cell_output_bytes, "total_bytes": lim.total_output_bytes},
            "drop_uid": uid,
            "workdir": workdir, "kernel_env": clean_kernel_env() if not settings.unsafe else env,
            "record_env": "DLBRICKS_CHECK_RECORD",
        }
        if settings.unsafe:
            request["kernel_env"].update(env)
        return _communicate(argv, env if settings.unsafe else {}, json.dumps(request).encode(),
                            settings.deadline + settings.startup_timeout + 30.0, lim,
                            f"uid{uid}" if uid is not None else f"pid{os.getpid()}-{time.monotonic_ns()}")


@contextmanager
def _no_uid() -> Iterator[None]:
    yield None


def enforced_limits(settings: RunSettings) -> list[str]:
    """One line per protection, saying whether and how it is enforced on this machine."""
    from .cgroups import cgroup_support
    from .seccomp import describe

    lim = settings.limits
    if settings.unsafe:
        return ["--unsafe: NO sandbox; per-process rlimits only (memory by RLIMIT_DATA)"]
    lines = [cgroup_support().describe() + f": {lim.memory_mb} MB, {lim.nproc} tasks",
             f"per process: RLIMIT_DATA {lim.memory_mb} MB, RLIMIT_CPU {lim.cpu_seconds} s, "
             f"RLIMIT_FSIZE {lim.fsize_mb} MB, RLIMIT_NOFILE {lim.nofile}",
             f"disk: RAM-backed /tmp and /dev/shm of {lim.tmp_mb} MB each, work folder {lim.home_mb} MB"
             + ("" if "--size" in bwrap_options() else " (NOT enforced: this bubblewrap has no --size)"),
             describe(),
             "keyring: " + ("a fresh session keyring per sandbox" if keyring_supported()
                            else "keyctl unavailable here (the seccomp filter refuses it inside the sandbox)"),
             "user: " + ("a uid of its own per sandbox, unique on this machine" if os.getuid() == 0
                         else "the grader's uid in a user namespace (run as root for one uid per sandbox)")]
    return lines


# ---------------------------------------------------------------------------
# Set-up of bubblewrap's process, between fork and exec
# ---------------------------------------------------------------------------
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219}
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING, KEY_SPEC_SESSION_KEYRING = 0, 1, -3


@lru_cache(maxsize=1)
def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


@lru_cache(maxsize=1)
def keyring_supported() -> bool:
    """Whether keyctl works for the grader (a container's seccomp profile may refuse it)."""
    import platform

    nr = KEYCTL_SYSCALL.get(platform.machine())
    if nr is None:
        return False
    return _libc().syscall(nr, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) >= 0


def _child_setup(cgroup_fds: list[int], limits: Limits) -> None:
    """In bubblewrap's process before exec: join the sandbox's cgroup, take a fresh session
    keyring, and put the runner under the same per-process limits as the kernel.

    Everything here is a plain system call on values prepared before the fork.
    """
    import resource

    from .cgroups import join_cgroup

    join_cgroup(cgroup_fds)
    if keyring_supported():
        import platform

        if _libc().syscall(KEYCTL_SYSCALL[platform.machine()], KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
            raise OSError("could not join a new session keyring")
    mb = 2**20
    for limit, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, limits.fsize_mb * mb),
                         (resource.RLIMIT_CPU, limits.cpu_seconds)):
        hard = resource.getrlimit(limit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


# ---------------------------------------------------------------------------
# Reading the sandbox's protocol lines, bounded
# ---------------------------------------------------------------------------
class EventRefused(ValueError):
    """A protocol line over the bounds (bytes, nesting, values)."""


_JSON_STRING = __import__("re").compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def parse_event(line: bytes, max_depth: int = MAX_EVENT_DEPTH, max_values: int = MAX_EVENT_VALUES) -> Any:
    """Decode one JSON line after checking, without decoding, its nesting depth and value count.

    ``json.loads`` would recurse to any depth (a RecursionError at about a
    thousand) and build every value of a flood of small ones; both are
    measured first on the line's skeleton (strings blanked out), in C speed.
    Returns the decoded value; raises :class:`EventRefused` or ``ValueError``.
    """
    import numpy as np

    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', line), np.uint8)
    opens = (skeleton == ord("[")) | (skeleton == ord("{"))
    closes = (skeleton == ord("]")) | (skeleton == ord("}"))
    if skeleton.size:
        depth = int(np.cumsum(opens.astype(np.int64) - closes.astype(np.int64)).max())
        if depth > max_depth:
            raise EventRefused(f"nested {depth} deep (at most {max_depth})")
    values = int(opens.sum()) + int(np.count_nonzero(skeleton == ord(","))) + 1
    if values > max_values:
        raise EventRefused(f"{values} values (at most {max_values})")
    return json.loads(line)


class EventReader:
    """Splits the runner's stdout into protocol lines and decodes them within the bounds.

    A line over MAX_EVENT_BYTES is skipped as it streams by (never held whole);
    a refused line is noted in ``problems``; past ``max_total_bytes`` or
    MAX_RUN_VALUES the reader stops (the caller kills the sandbox).
    """

    def __init__(self, max_total_bytes: int, max_line_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_total, self.max_line = max_total_bytes, max_line_bytes
        self.events: list[dict] = []
        self.problems: list[str] = []
        self.total = 0
        self.values = 0
        self._pending = bytearray()
        self._skipping = False
        self.stopped = False

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self.max_total:
            self._stop(f"the sandbox wrote more than {self.max_total >> 20} MB of protocol lines")
            return
        start = 0
        while not self.stopped:
            newline = chunk.find(b"\n", start)
            piece = chunk[start:] if newline < 0 else chunk[start:newline]
            if not self._skipping:
                if len(self._pending) + len(piece) > self.max_line:
                    self._skipping = True
                    self._pending = bytearray()
                    self.problems.append(f"a protocol line over {self.max_line >> 20} MB was dropped")
                else:
                    self._pending += piece
            if newline < 0:
                return
            if not self._skipping:
                self._line(bytes(self._pending))
            self._pending, self._skipping = bytearray(), False
            start = newline + 1

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = parse_event(line)
        except EventRefused as exc:
            self.problems.append(f"a protocol line was refused: {exc}")
            return
        except (ValueError, RecursionError):
            return  # not a protocol line
        if not isinstance(event, dict):
            return
        self.values += _count_values(event)
        if self.values > MAX_RUN_VALUES:
            self._stop(f"the sandbox sent more than {MAX_RUN_VALUES} values")
            return
        self.events.append(event)

    def _stop(self, reason: str) -> None:
        if not self.stopped:
            self.problems.append(reason)
        self.stopped = True


def _count_values(value: Any) -> int:
    stack, n = [value], 0
    while stack:
        item = stack.pop()
        n += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return n


def _communicate(argv: list[str], env: dict[str, str], request: bytes, wall_limit: float,
                 limits: Limits, name: str) -> RunOutcome:
    """Start the runner, feed it the request, read its event lines until it ends or the wall limit.

    Whatever happens while talking to it, the sandbox and every process in it
    are killed before this returns or raises (try/finally); a failure of the
    grader's side is raised as :class:`SandboxError` with the reason.
    """
    from .cgroups import SandboxCgroup, cgroup_support
    from .seccomp import seccomp_program

    start = time.monotonic()
    sandboxed = argv[0] == "bwrap"
    cgroup = None
    support = cgroup_support()
    if sandboxed and support.version:
        cgroup = SandboxCgroup(support, f"autograder-sandbox-{name}", limits.memory_mb, limits.nproc)
    opened: list[int] = []
    extra: list[str] = []
    info_read = -1
    try:
        if sandboxed:
            # bubblewrap tells the pid of the sandbox's init on this fd: killing that init is what
            # makes the kernel kill everything left in the sandbox's pid namespace.
            info_read, info_write = os.pipe()
            opened += [info_write]
            extra += ["--info-fd", str(info_write)]
            program = seccomp_program()
            if program is not None:
                seccomp_read, seccomp_write = os.pipe()
                opened += [seccomp_read]
                os.write(seccomp_write, program)
                os.close(seccomp_write)
                extra += ["--seccomp", str(seccomp_read)]
        argv = [argv[0], *extra, *argv[1:]]
        fds = cgroup.join_fds() if cgroup else []
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True,
                                pass_fds=tuple(opened),
                                preexec_fn=(lambda: _child_setup(fds, limits)) if sandboxed else None)
    except BaseException:
        if info_read >= 0:
            os.close(info_read)
        if cgroup is not None:
            cgroup.close()
        raise
    finally:
        for fd in opened:
            os.close(fd)
    sandbox_init = _SandboxInit(info_read) if info_read >= 0 else None
    reader = EventReader(max_total_bytes=64 * 2**20 + 8 * limits.total_output_bytes)
    stderr_chunks: list[bytes] = []
    killed = threading.Event()
    finished = threading.Event()

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
        if _wait(proc, wall_limit) or finished.is_set():
            return
        killed.set()
        kill_process_group(proc, reap_within=0)

    threads = [threading.Thread(target=f, daemon=True) for f in (feed, read_stderr, watchdog)]
    problems: list[str] = []
    oom_kills, peak = 0, 0
    try:
        for t in threads:
            t.start()
        stdout = proc.stdout.fileno()
        while not reader.stopped:
            chunk = os.read(stdout, 1 << 20)
            if not chunk:
                break
            reader.feed(chunk)
    except Exception as exc:
        problems.append(f"reading the sandbox failed: {type(exc).__name__}: {exc}")
    finally:
        # Nothing may outlive its grading. bubblewrap returns as soon as the runner exits, while
        # its init lingers as long as processes the notebook left behind (orphans it reaps).
        finished.set()
        kill_process_group(proc, reap_within=0)
        if sandbox_init is not None:
            problems += sandbox_init.kill_and_wait()
        _wait(proc, 30)
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if cgroup is not None:
            oom_kills, peak = cgroup.oom_kills(), cgroup.peak_bytes()
            cgroup.close()
    if problems and any(p.startswith("reading the sandbox failed") for p in problems):
        raise SandboxError("; ".join(problems))
    if sandbox_init is not None and sandbox_init.pidfd_missing and cgroup is None:
        raise SandboxError("the sandbox's init process was not known, so processes left in the sandbox "
                           f"could not be killed: {'; '.join(problems) or 'no pid from bubblewrap'}")
    events = reader.events
    end = next((e for e in reversed(events) if e.get("event") == "end"), None)
    return RunOutcome(events=events, end=end,
                      stderr=b"".join(stderr_chunks).decode("utf-8", "replace"),
                      wall_seconds=time.monotonic() - start, killed=killed.is_set(),
                      problems=reader.problems + problems, oom_kills=oom_kills,
                      memory_peak_mb=round(peak / 2**20, 1))


class _SandboxInit:
    """The sandbox's init process, known by a pidfd (no pid-reuse race), read from bubblewrap's info fd."""

    def __init__(self, info_fd: int) -> None:
        self.pidfd: int | None = None
        self.problem = ""
        self._reader = threading.Thread(target=self._read, args=(info_fd,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        data = b""
        try:
            with os.fdopen(fd, "rb", buffering=0) as stream:
                decoder = json.JSONDecoder()
                while len(data) < 64 * 1024:
                    chunk = stream.read(4096)
                    if not chunk:
                        self.problem = "bubblewrap closed its info fd without telling the sandbox's pid"
                        return
                    data += chunk
                    try:
                        info, _ = decoder.raw_decode(data.decode("utf-8", "replace").strip())
                    except ValueError:
                        continue
                    pid = info.get("child-pid") if isinstance(info, dict) else None
                    if isinstance(pid, int) and pid > 1:
                        self.pidfd = os.pidfd_open(pid)
                    else:
                        self.problem = f"bubblewrap's info has no usable child-pid: {str(info)[:200]}"
                    return
                self.problem = "bubblewrap's info fd sent more than 64 kB"
        except (OSError, ValueError) as exc:
            self.problem = f"reading bubblewrap's info fd failed: {type(exc).__name__}: {exc}"

    @property
    def pidfd_missing(self) -> bool:
        return self.pidfd is None and bool(self.problem)

    def kill_and_wait(self, timeout: float = 60.0) -> list[str]:
        """SIGKILL the init and wait until it is gone: the kernel reaps the whole namespace first.

        Returns what went wrong (empty when the init was killed and reaped).
        """
        import select
        import signal

        self._reader.join(timeout=5)
        if self.pidfd is None:
            return [self.problem] if self.problem else []
        problems = []
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            if not select.select([self.pidfd], [], [], timeout)[0]:
                problems.append(f"the sandbox's init did not end within {timeout:g} s of SIGKILL")
        except ProcessLookupError:
            pass  # already gone
        except OSError as exc:
            problems.append(f"killing the sandbox's init failed: {exc}")
        finally:
            os.close(self.pidfd)
            self.pidfd = None
        return problems


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False
