"""One graded class over every released lesson, shared by the tests that grade the real lessons.

Grading a lesson through the kit costs a kernel and a judge per submission plus the
solution's reference run; lessons 06-08 take about a minute each even in quick mode.
So the submissions of several test modules are graded in ONE run of the real command
(one reference run per lesson, one worker pool), and each module reads its own rows:

- ``test_lessons_graded``: per lesson ``solved``, ``untouched`` and ``last_undone``
  (:func:`register_standard`);
- ``test_forbidden_graded``: lesson 03's ``cheat`` and ``cheat_silenced``;
- ``test_forbidden_graded_cnn``: lesson 08's ``cheat``.

Modules register their submissions when they are imported (at collection), so the run
grades what the collected modules need: running one module alone grades only its own.
Every module that uses the fixture carries the ``grading-lessons`` xdist group, so the
run happens once, on one worker (see tests/xdist_groups.py).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.samples import load_pair, solution_cells, solved_release, write_submission

REPO = Path(__file__).resolve().parents[2]
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
GROUP = "grading-lessons"
COURSE = Course(REPO)
LESSONS = [n for n in COURSE.lessons() if (COURSE.release_dir / n / f"{n}.ipynb").is_file()]

# (lesson, student) -> make(release, source) -> the submitted notebook
SUBMISSIONS: dict[tuple[str, str], Callable] = {}


def submission(lesson: str, student: str):
    """Register a submission of ``lesson`` by ``student`` (decorates ``make(release, source)``)."""
    def register(make: Callable) -> Callable:
        SUBMISSIONS[(lesson, student)] = make
        return make
    return register


def _last_undone(release, source):
    partial = solved_release(release, source)
    last = solution_cells(partial)[-1]
    last.source = next(c.source for c in solution_cells(release)
                       if c.metadata["nbgrader"]["grade_id"] == last.metadata["nbgrader"]["grade_id"])
    return partial


def register_standard(lessons: list[str]) -> None:
    """Per lesson: ``solved`` (the solution), ``untouched`` (the release), ``last_undone``."""
    for lesson in lessons:
        submission(lesson, "solved")(solved_release)
        submission(lesson, "untouched")(lambda release, source: release)
        submission(lesson, "last_undone")(_last_undone)


@dataclass
class GradedClass:
    rows: dict[tuple[str, str], dict[str, str]]   # (student, lesson) -> grades.csv row
    out: Path
    stderr: str

    def row(self, student: str, lesson: str) -> dict[str, str]:
        assert (student, lesson) in self.rows, f"no grades.csv row for {student}/{lesson}:\n{self.stderr[-4000:]}"
        return self.rows[(student, lesson)]

    def feedback(self, student: str, lesson: str) -> str:
        return (self.out / "feedback" / student / lesson / f"{lesson}.html").read_text()


@pytest.fixture(scope="session")
def lesson_class(tmp_path_factory) -> GradedClass:
    # every collected module has registered its submissions by now (collection is over)
    assert SUBMISSIONS, "no module registered a submission"
    tmp = tmp_path_factory.mktemp("lesson-class")
    submitted = tmp / "submitted"
    for (lesson, student), make in sorted(SUBMISSIONS.items()):
        release, source = load_pair(REPO, lesson)
        write_submission(submitted, student, lesson, lesson, make(release, source))
    out = tmp / "out"
    proc = subprocess.run([AUTOGRADER, "--course-dir", str(REPO), "grade", str(submitted), "--out", str(out),
                           "--workers", "2", "--timeout", "900"],
                          env=dict(os.environ, AUTOGRADER_CACHE_DIR=str(tmp / "cache")),
                          capture_output=True, text=True, timeout=3600)
    # One lesson whose solution fails must not hide the others: each test reads its own rows.
    assert (out / "grades.csv").exists(), proc.stdout[-3000:] + proc.stderr[-5000:]
    with (out / "grades.csv").open(newline="") as fh:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}
    return GradedClass(rows, out, proc.stderr)
