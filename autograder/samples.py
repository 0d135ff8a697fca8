"""Sample submissions built from a lesson's own notebooks (demo, tests, benchmarks).

A "right" submission is the released notebook with each solution region filled
in from the source, exactly as a student who found the answers would hand it
in (hidden tests stay out: students never see them).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable

import nbformat

SOLUTION_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?",
                            re.S | re.M)


def solution_code(source: str) -> str:
    """A source cell with the solution markers removed (what a student who solved it writes)."""
    return SOLUTION_BLOCK.sub(lambda m: m.group(1), source).rstrip("\n")


def solved_release(release_nb: Any, source_nb: Any) -> Any:
    """The release notebook with every solution cell replaced by the source's solution."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = solution_code(answers[gid]) if cell.cell_type == "code" else \
                solution_code(answers[gid]).strip() or cell.source
    return nb


def solution_cells(nb: Any) -> list[Any]:
    """The solution cells of ``nb`` that students write code in, in order."""
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def load_pair(course_root: Path, assignment: str, notebook: str | None = None) -> tuple[Any, Any]:
    """(release, source) notebooks of ``assignment`` in the course at ``course_root``."""
    name = notebook or assignment
    release = nbformat.read(course_root / "release" / assignment / f"{name}.ipynb", as_version=4)
    source = nbformat.read(course_root / "source" / assignment / f"{name}.ipynb", as_version=4)
    return release, source


def with_cell(nb: Any, grade_id: str, change: Callable[[str], str]) -> Any:
    """A copy of ``nb`` where the cell ``grade_id`` has its source changed by ``change``."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = change(cell.source)
    return out


def write_submission(root: Path, student: str, assignment: str, notebook: str, nb: Any) -> Path:
    """Write ``nb`` as ``root/STUDENT/ASSIGNMENT/NOTEBOOK.ipynb`` (nbgrader's submitted layout)."""
    path = root / student / assignment / f"{notebook}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
