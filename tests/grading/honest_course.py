"""A small course whose tests are written the way instructors write them, and the honest
mistakes students make on it (issue 17): none of them is tampering.

Lesson ``01_honest`` has six auto-graded exercises of one point each:

- ``rates``: the test loops over the returned values (``for lr in rates(): check.at_least``);
- ``step``: the expected value is computed from a student variable (``rate``);
- ``column_means``: the test reads ``X`` from an unlocked data cell (``X = make_set(40)``);
- ``safe_log``: a visible check, then hidden checks (a test that can stop early);
- ``rates_k`` and ``step_k``: the first two again, judged in the student's kernel
  (the lessons that still need it, 05 and 07, write such tests).

:func:`write_course` writes the source and releases it; :func:`honest_class` writes
the submissions with, for each, what grading must give.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.samples import load_pair, solved_release, with_cell, write_submission

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
LESSON = "01_honest"


def _meta(grade_id: str, *, solution: bool = False, points: float | None = None) -> dict:
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _exercise(name: str, solution: str, test: str) -> list:
    return [new_markdown_cell(f"## Exercise `{name}` (1 point)"),
            new_code_cell(f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION", metadata=_meta(name, solution=True)),
            new_code_cell(test, metadata=_meta(f"{name}_tests", points=1))]


def source_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Lesson 01: honest mistakes"),
        new_code_cell("import numpy as np\nfrom dlbricks import check\n\n"
                      "def make_set(n):\n    return np.random.default_rng(0).normal(size=(n, 2))",
                      metadata=_meta("setup")),
        new_code_cell("X = make_set(40)  # data: try other sizes"),  # unlocked, as the shipped lessons have them
        *_exercise("rates", "def rates():\n    return [0.5, 0.1, 0.01]",
                   "for lr in rates():\n    check.at_least(lr, 1e-6, label=\"each learning rate\")\n"
                   "    check.at_most(lr, 1.0, label=\"each learning rate\")"),
        *_exercise("step", "rate = 0.5\n\ndef step(w, g):\n    return w - rate * g",
                   "check.close(step(1.0, 2.0), 1.0 - rate * 2.0, label=\"step(1.0, 2.0)\")"),
        *_exercise("column_means", "def column_means(A):\n    return A.mean(axis=0)",
                   "check.shape(column_means(X), (2,), label=\"column_means(X)\")\n"
                   "check.close(column_means(X), X.mean(axis=0), label=\"column_means(X)\")"),
        *_exercise("safe_log", "def safe_log(x):\n    return np.log(np.maximum(x, 1e-12))",
                   "check.close(safe_log(1.0), 0.0, label=\"safe_log(1.0)\")\n"
                   "### BEGIN HIDDEN TESTS\n"
                   "check.close(safe_log(np.array([0.0, 1.0])), [np.log(1e-12), 0.0], label=\"safe_log of an array\")\n"
                   "check.close(safe_log(np.e), 1.0, label=\"safe_log(e)\")\n"
                   "### END HIDDEN TESTS"),
        *_exercise("rates_k", "def rates_k():\n    return [0.5, 0.1, 0.01]",
                   "# judged in the student's kernel\n"
                   "for lr in rates_k():\n    check.at_least(lr, 1e-6, label=\"each learning rate\")"),
        *_exercise("step_k", "rate_k = 0.5\n\ndef step_k(w, g):\n    return w - rate_k * g",
                   "# judged in the student's kernel\n"
                   "check.close(step_k(1.0, 2.0), 1.0 - rate_k * 2.0, label=\"step_k(1.0, 2.0)\")"),
    ]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"honest-{i:02d}"
    return nb


def cli(course: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
               AUTOGRADER_CACHE_DIR=str(course.parent / "cache"))
    return subprocess.run([AUTOGRADER, "--course-dir", str(course), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=course)


def write_course(root: Path, notebook: nbformat.NotebookNode | None = None, lesson: str = LESSON) -> Path:
    """A course at ``root`` with the lesson's source written and released."""
    (root / "source" / lesson).mkdir(parents=True)
    (root / "README.md").write_text("# Honest course\n\n<!-- lessons:begin -->\n<!-- lessons:end -->\n")
    nbformat.write(notebook or source_notebook(), root / "source" / lesson / f"{lesson}.ipynb")
    done = cli(root, "release", lesson)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@dataclass
class Honest:
    """One student's submission and what grading must give it."""

    student: str
    points: dict[str, float]  # grade_id -> points
    note: str
    reasons: dict[str, str] | None = None  # grade_id -> words the feedback gives for that test


def _cell(nb, grade_id: str, source: str):
    return with_cell(nb, grade_id, lambda _: source)


def _data(nb, source: str):
    out = nbformat.from_dict(nb)
    for cell in out.cells:
        if cell.cell_type == "code" and "make_set(40)" in cell.source and "def " not in cell.source:
            cell.source = source
    return out


FULL = {"rates_tests": 1.0, "step_tests": 1.0, "column_means_tests": 1.0, "safe_log_tests": 1.0,
        "rates_k_tests": 1.0, "step_k_tests": 1.0}


def honest_class(course: Path, submitted: Path) -> list[Honest]:
    release, source = load_pair(course, LESSON)
    right = solved_release(release, source)
    cases = [
        (Honest("right", dict(FULL), "the solution"), right),
        (Honest("more_rates", dict(FULL), "returns five learning rates where the solution returns three"),
         _cell(_cell(right, "rates", "def rates():\n    return [1.0, 0.3, 0.1, 0.03, 0.01]"),
               "rates_k", "def rates_k():\n    return [1.0, 0.3, 0.1, 0.03, 0.01]")),
        (Honest("own_rate", dict(FULL, step_k_tests=0.0),
                "its own rate: the judge computes the expected value from it; in the kernel the "
                "values differ from the solution's",
                {"step_k_tests": "1 of your values differs from the solution"}),
         _cell(_cell(right, "step", "rate = 0.1\n\ndef step(w, g):\n    return w - rate * g"),
               "step_k", "rate_k = 0.1\n\ndef step_k(w, g):\n    return w - rate_k * g")),
        (Honest("data_60", dict(FULL), "changed the unlocked data cell to make_set(60)"),
         _data(right, "X = make_set(60)  # data: try other sizes")),
        (Honest("stops_early", dict(FULL, safe_log_tests=0.0),
                "safe_log refuses arrays: the hidden test stops at its ValueError",
                {"safe_log_tests": "ValueError"}),
         _cell(right, "safe_log", "def safe_log(x):\n    if np.ndim(x):\n        raise ValueError('scalars only')\n"
                                  "    return np.log(max(x, 1e-12))")),
        (Honest("visible_fails", dict(FULL, safe_log_tests=0.0),
                "safe_log(1.0) is wrong: the hidden tests never run",
                {"safe_log_tests": "not run"}),
         _cell(right, "safe_log", "def safe_log(x):\n    return np.log(np.maximum(x, 1e-12)) + 1.0")),
        (Honest("fewer_rates", dict(FULL, rates_k_tests=0.0),
                "returns a single rate: in the kernel the test makes fewer checks than the solution's",
                {"rates_k_tests": "fewer checks"}),
         _cell(_cell(right, "rates", "def rates():\n    return [0.1]"),
               "rates_k", "def rates_k():\n    return [0.1]")),
    ]
    for case, nb in cases:
        write_submission(submitted, case.student, LESSON, LESSON, nb)
    return [case for case, _ in cases]
