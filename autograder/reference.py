"""Reference records: what the instructor's solution exports for every check.

The source notebook runs through the very same sandboxed runner as the
submissions; the records of each test cell become the reference that
``dlbricks.check.rejudge`` compares students' values with. The result is cached
by a hash of everything it depends on (the source notebook, the runner, the
installed ``dlbricks`` code, the Python and numpy versions, and the limits it
ran under: a solution that passes with 3 GB may not with 150 MB, so a run with
other limits runs the solution again).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

from .master import MasterNotebook, master_cells
from .notebook_io import atomic_write_text
from .sandbox import RunSettings
from .sandbox_runner import source_files as runner_files
from .steps.execute import ExecutionReport
from .steps.judge import Reference, reference_from_report
from .steps.plan import execution_plan

CACHE_ENV = "AUTOGRADER_CACHE_DIR"


class SolutionFailsError(RuntimeError):
    """The instructor's solution does not pass its own tests in the sandbox."""


def cache_dir() -> Path:
    """Where reference records are kept between runs."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlbricks-autograder"


def _library_digest() -> str:
    import dlbricks
    import numpy

    h = hashlib.sha256()
    root = Path(dlbricks.__path__[0])
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    for path in runner_files():
        h.update(path.read_bytes())
    h.update(f"{platform.python_version()} numpy {numpy.__version__}".encode())
    return h.hexdigest()


def limits_key(settings: RunSettings) -> str:
    """The settings a solution run depends on, as text: every limit and time-out, and the sandbox choice."""
    fields = asdict(settings)
    fields.pop("startup_timeout", None)  # how long a kernel may take to start changes no result
    return json.dumps(fields, sort_keys=True)


def reference_key(source: Path, settings: RunSettings) -> str:
    h = hashlib.sha256(source.read_bytes())
    h.update(_library_digest().encode())
    h.update(limits_key(settings).encode())
    return h.hexdigest()[:32]


def cache_path(source: Path, master: MasterNotebook, settings: RunSettings) -> Path:
    return cache_dir() / f"{master.assignment}-{master.name}-{reference_key(source, settings)}.json"


def load_cached_reference(source: Path, master: MasterNotebook, settings: RunSettings) -> Reference | None:
    """The cached reference for ``source`` run under ``settings``, or None when it must be computed."""
    path = cache_path(source, master, settings)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a damaged cache entry is recomputed


def store_reference(source: Path, master: MasterNotebook, reference: Reference, settings: RunSettings) -> None:
    atomic_write_text(cache_path(source, master, settings), json.dumps(reference, sort_keys=True))


def reference_plan(source: Path, master: MasterNotebook) -> list[dict]:
    """The execution plan of the instructor's notebook itself (solutions and hidden tests)."""
    return execution_plan(master_cells(source), master)


def reference_or_error(report: ExecutionReport, plan: list[dict], source: Path,
                       memory_mb: int | None = None) -> Reference:
    """The reference records of an executed solution; :class:`SolutionFailsError` when it fails.

    ``memory_mb``: the memory limit it ran under, named when it ran out.
    """
    if not report.started:
        raise SolutionFailsError(f"the sandbox could not start a kernel for {source}: {report.message}")
    reference, problems = reference_from_report(report, plan)
    if problems and "memory_limit" in report.flags:
        limit = f" (the limit is {memory_mb} MB)" if memory_mb else ""
        problems.insert(0, f"the solution ran out of memory{limit}: grade with a larger --memory")
    if problems:
        raise SolutionFailsError(
            f"The solution notebook {source} does not pass its own tests in the sandbox:\n  - "
            + "\n  - ".join(problems)
            + "\nFix the source notebook, or give it more room (--timeout, --memory).")
    return reference
