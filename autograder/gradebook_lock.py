"""One writer at a time per gradebook, across grader processes and machines.

Several ``autograder grade`` runs may share one gradebook (two teaching
assistants grading two assignments into one PostgreSQL database). nbgrader's
``Gradebook`` creates its tables, its course row and each student on first use
with plain "look, then insert": two runs doing that at once would collide on a
unique key, and one of them would lose a row. Every write of the grader
(creating the schema, recording an assignment, recording a grade) therefore
holds this lock, which is

- on PostgreSQL, a session-level advisory lock (``pg_advisory_lock``) in the
  database itself, so it holds across machines and is released by the server
  when a grader dies;
- on SQLite, an exclusive ``flock`` on ``GRADEBOOK.db.lock`` beside the file
  (released by the kernel when a grader dies); SQLite's own locking then
  never has two writers waiting on each other;
- for any other database, nothing: that database's own transactions only.

Each hold is one short transaction, so a second grader waits milliseconds to
seconds, never for the other's whole run.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Any, Iterator

# "dlbricks" in ASCII: the advisory-lock key every grader of a database agrees on.
ADVISORY_KEY = 0x646C627269636B73


class GradebookLock:
    """Serialises the grader's writes to the gradebook at ``db_url`` (see the module docstring)."""

    def __init__(self, db_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(db_url)
        self.backend = url.get_backend_name()
        self.path: str | None = None
        self.engine: Any = None
        self.connection: Any = None
        if self.backend == "sqlite" and url.database and url.database != ":memory:":
            self.path = f"{url.database}.lock"
        elif self.backend == "postgresql":
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            self.engine = create_engine(db_url, poolclass=NullPool)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the duration of the ``with`` block."""
        if self.path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif self.engine is not None:
            from sqlalchemy import text

            if self.connection is None:
                self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self.connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY})
            try:
                yield
            finally:
                self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        else:
            yield

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.engine is not None:
            self.engine.dispose()


def prepare_gradebook(db_url: str, course_ids: tuple[str, ...]) -> None:
    """Create the gradebook's tables and course rows once, under the lock.

    Later opens (the restore step reads the gradebook for every submission)
    then find everything in place and insert nothing, so they cannot collide
    with another grader's.
    """
    from nbgrader.api import Gradebook

    from .nbgrader_env import ensure_alembic_on_path

    ensure_alembic_on_path()
    lock = GradebookLock(db_url)
    try:
        with lock.hold():
            for course_id in course_ids:
                Gradebook(db_url, course_id).close()
    finally:
        lock.close()
