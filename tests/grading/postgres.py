"""A throw-away PostgreSQL server for the tests: initdb in a temporary folder, pg_ctl on a free port.

Debian's ``postgresql`` package provides the binaries (``make setup`` installs
it where it can). initdb refuses to run as root, so as root the server runs as
the ``postgres`` user (or ``nobody``) in a folder that user owns. The server is
stopped by its own PID at the end, never by name.

When PostgreSQL or the Python driver is missing the tests are skipped with the
reason printed (``-ra``), except under ``CI=true``, where they fail: CI is
meant to have PostgreSQL, and a silent skip would hide its absence.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def pg_binary(name: str) -> str | None:
    """``name`` from PATH, else from Debian's versioned folder (newest version)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def unavailable_reason() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    missing = [n for n in ("initdb", "pg_ctl") if pg_binary(n) is None]
    if missing:
        return (f"PostgreSQL is not installed ({', '.join(missing)} not found): "
                "apt-get install postgresql, or run `make setup` as root")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver psycopg is missing: pip install -e '.[grade]'"
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the PostgreSQL tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server: ``url(db)`` for a database in it, ``create_database(name)``, ``stop()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dlbricks-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged user
            name = "postgres" if _has_user("postgres") else "nobody"
            self.user = pwd.getpwnam(name)
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.pid: int | None = None

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", HOME=str(self.root))
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, cwd=self.root,
                              env=env, **kwargs)
        if proc.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                               f"\n{proc.stderr[-2000:]}\n{log}")
        return proc

    def start(self) -> "PostgresServer":
        self._run(pg_binary("initdb"), "-D", str(self.data), "-U", "grader", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return self

    def url(self, database: str) -> str:
        return f"postgresql://grader@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="grader", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server by its PID (fast shutdown, then SIGKILL), and remove its folder."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
                for _ in range(100):
                    if not _alive(self.pid):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (an exited server that no init has reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
