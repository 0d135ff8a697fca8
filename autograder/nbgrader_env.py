"""Small adapters between this package and nbgrader's runtime expectations."""
from __future__ import annotations

import os
import sys


def ensure_alembic_on_path() -> None:
    """Put this interpreter's ``bin`` folder first on PATH.

    nbgrader's Gradebook runs the ``alembic`` executable by name to check the
    database schema; in a virtualenv used without activation it is not on PATH.
    """
    bindir = os.path.dirname(sys.executable)  # not resolved: the venv's bin, not the base Python's
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])
