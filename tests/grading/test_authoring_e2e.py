"""An instructor adds a lesson: `autograder new`, fill in the solution, `release`,
`validate`, the kit's lesson tests (tests/notebooks) on it, and grade a small class; and `validate` catches a lesson that would
treat honest students badly (a random test, an unlocked data cell, an overflow)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.samples import load_pair, solution_cells, solved_release, with_cell, write_submission
from autograder.skeleton import SOLUTION_PLACEHOLDER

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
REPO = Path(__file__).resolve().parents[2]
LESSON = "09_standardise"
ANSWER = "return (X - X.mean(axis=0)) / X.std(axis=0)"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _cli(course: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
               AUTOGRADER_CACHE_DIR=str(course.parent / "cache"))
    return subprocess.run([AUTOGRADER, "--course-dir", str(course), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=course)


def _edit_source(course: Path, name: str, change) -> None:
    path = course / "source" / name / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def _fill_solution(nb) -> None:
    cell = solution_cells(nb)[0]
    assert SOLUTION_PLACEHOLDER in cell.source
    cell.source = cell.source.replace(SOLUTION_PLACEHOLDER, ANSWER)


def _new_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    (course / "README.md").write_text("# My course\n\n<!-- lessons:begin -->\n<!-- lessons:end -->\n")
    proc = _cli(course, "new", LESSON)
    assert proc.returncode == 0, proc.stderr
    return course


def test_new_lesson_validates_once_solved_and_grades_a_class(tmp_path):
    course = _new_course(tmp_path)
    first = _cli(course, "release", LESSON)
    assert first.returncode == 0 and "updated the lesson table in README.md" in first.stdout, first.stdout
    unsolved = _cli(course, "validate", LESSON)
    assert unsolved.returncode == 1 and "NotImplementedError" in unsolved.stdout, unsolved.stdout

    _edit_source(course, LESSON, _fill_solution)
    released = _cli(course, "release", LESSON)
    assert released.returncode == 0, released.stderr
    assert f"release/{LESSON}/{LESSON}.ipynb" in (course / "README.md").read_text()
    assert _cli(course, "release", "--check").returncode == 0

    valid = _cli(course, "validate", LESSON, "--strict")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert f"{LESSON}: ok (0 error(s), 0 warning(s)" in valid.stdout

    # the kit's own lesson tests (what `make test` runs on every lesson) pass on it
    lesson_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=",
         str(REPO / "tests" / "notebooks" / "test_lessons.py")],
        env=dict(os.environ, DLBRICKS_COURSE_DIR=str(course), TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True, text=True, timeout=900, cwd=REPO)
    assert lesson_tests.returncode == 0, lesson_tests.stdout[-4000:]
    assert "5 passed" in lesson_tests.stdout, lesson_tests.stdout[-2000:]

    release, source = load_pair(course, LESSON)
    submitted = tmp_path / "submitted"
    right = solved_release(release, source)
    write_submission(submitted, "ada", LESSON, LESSON, right)
    write_submission(submitted, "ben", LESSON, LESSON, release)  # nothing done
    gid = solution_cells(right)[0].metadata["nbgrader"]["grade_id"]
    wrong = with_cell(right, gid, lambda s: s.replace(ANSWER, "return X - X.mean()"))  # whole-array mean
    write_submission(submitted, "cy", LESSON, LESSON, wrong)
    graded = _cli(course, "grade", str(submitted), "--out", str(tmp_path / "out"), "--no-progress")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with open(tmp_path / "out" / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"ada", "ben", "cy"}
    assert float(rows["ada"]["auto_score"]) == 2.0, rows["ada"]  # the exercise's 2 points
    assert float(rows["ben"]["auto_score"]) == 0.0 and float(rows["cy"]["auto_score"]) == 0.0
    assert not any("tampering" in r.get("flags", "") for r in rows.values()), rows


def test_validate_reports_what_would_treat_honest_students_badly(tmp_path):
    course = _new_course(tmp_path)

    def fragile(nb) -> None:
        _fill_solution(nb)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") == "data":
                del cell.metadata["nbgrader"]  # the data the tests read, left unlocked
            if meta.get("grade_id") == "ex1_standardise_tests":  # an unseeded generator in a test
                cell.source = cell.source.replace("### BEGIN HIDDEN TESTS", (
                    "_Xr = np.random.default_rng().normal(size=(5, 2))\n"
                    "check.close(standardise(_Xr), (_Xr - _Xr.mean(0)) / _Xr.std(0), label=\"random batch\")\n"
                    "### BEGIN HIDDEN TESTS"))
        nb.cells.insert(6, nbformat.v4.new_code_cell("scale = np.float64(1e308) * 10  # overflows"))

    _edit_source(course, LESSON, fragile)
    assert _cli(course, "release", LESSON).returncode == 0
    proc = _cli(course, "validate", LESSON)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "check 'random batch' gives another value in a second run" in out and "seed" in out, out
    assert "reads `X_demo` (cell" in out and "from unlocked cells" in out, out
    assert "RuntimeWarning: overflow" in out and "NaN or infinity in `scale`" in out, out
