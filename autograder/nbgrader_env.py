"""Small adapters between this package and nbgrader's runtime expectations."""
from __future__ import annotations

import functools
import os
import sys


def ensure_alembic_on_path() -> None:
    """Make nbgrader's Gradebook usable from a virtualenv that is not activated, and fast.

    A new gradebook records nbgrader's schema revision, which nbgrader gets by
    running the ``alembic`` executable by name (not on PATH in an unactivated
    virtualenv) in a subprocess that imports everything again (seconds). Put
    the venv's ``bin`` on PATH for any other use, and answer that one question
    in-process from nbgrader's own migration scripts (the same revision).
    """
    bindir = os.path.dirname(sys.executable)  # not resolved: the venv's bin, not the base Python's
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])
    import nbgrader.api

    if not getattr(nbgrader.api.get_alembic_version, "_in_process", False):
        nbgrader.api.get_alembic_version = _alembic_head


@functools.lru_cache(maxsize=1)
def _alembic_head() -> str:
    import nbgrader
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(os.path.join(os.path.dirname(nbgrader.__file__), "alembic"))
    return str(scripts.get_current_head())


_alembic_head._in_process = True  # type: ignore[attr-defined]
