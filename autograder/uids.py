"""User ids for sandboxes: unique across every grading process on the machine.

When the grader runs as root, each sandbox's runner drops to a uid of its
own, so that the per-user process limit of one submission never counts (and
so starves) another's processes, and no two submissions share what the
kernel keeps per user. A uid is handed out only when

- no other sandbox holds it: each uid has a lock file in a machine-wide
  folder, locked with ``flock`` for as long as the sandbox runs (the kernel
  drops the lock when the holder dies, so a killed grader leaks nothing);
- and no process of that uid lives (a leftover of an earlier sandbox that
  escaped its cleanup, or a process of another program): ``/proc`` is read
  after the lock is taken.
"""
from __future__ import annotations

import fcntl
import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SANDBOX_UID_BASE = 61000
SANDBOX_UID_SPAN = 4000
LOCK_DIRS = ("/run/lock/autograder-uids", "/var/lock/autograder-uids", "/tmp/autograder-uids")
LOCK_DIR_ENV = "AUTOGRADER_UID_LOCK_DIR"


class NoFreeUid(RuntimeError):
    """Every sandbox uid is taken (by running sandboxes or by live processes)."""


def lock_dir() -> Path:
    """The machine-wide folder of uid lock files (root-owned, not writable by others)."""
    candidates = [os.environ[LOCK_DIR_ENV]] if os.environ.get(LOCK_DIR_ENV) else list(LOCK_DIRS)
    problems = []
    for candidate in candidates:
        path = Path(candidate)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(path)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
            continue
        # A folder someone else made (or a link) could hand us their lock files.
        if not os.path.islink(path) and info.st_uid == os.getuid() and not info.st_mode & 0o022:
            return path
        problems.append(f"{path}: not owned by this user or writable by others")
    raise NoFreeUid("no usable folder for sandbox uid locks (" + "; ".join(problems) + ")")


def uids_in_use() -> set[int]:
    """Real, effective and saved uids of every process on the machine (as /proc shows them)."""
    found: set[int] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        found.update(int(x) for x in line.split()[1:4])
                        break
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return found


@contextmanager
def sandbox_uid(base: int = SANDBOX_UID_BASE, span: int = SANDBOX_UID_SPAN) -> Iterator[int]:
    """A uid no running sandbox holds and no live process has, held until the block ends.

    Raises :class:`NoFreeUid` when all ``span`` uids are taken.
    """
    folder = lock_dir()
    start = random.randrange(span)  # two graders starting together try different uids first
    live: set[int] | None = None
    for i in range(span):
        uid = base + (start + i) % span
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if live is None:
            live = uids_in_use()
        if uid in live:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # releases the lock
        return
    raise NoFreeUid(f"all {span} sandbox uids ({base}-{base + span - 1}) are in use")
