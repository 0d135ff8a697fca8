"""Every released lesson through the kit's grader: solved gets full marks, untouched 0,
the last exercise left undone partial credit (judged outside the kernel from the
lessons' own check records)."""
from __future__ import annotations

import copy
import csv
import os
import subprocess
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.samples import load_pair, solution_cells, solved_release, write_submission

from .test_grade_e2e import AUTOGRADER

REPO = Path(__file__).resolve().parents[2]
COURSE = Course(REPO)
LESSONS = [n for n in COURSE.lessons() if (COURSE.release_dir / n / f"{n}.ipynb").is_file()]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-lessons"), pytest.mark.timeout(2400),
              pytest.mark.skipif(not LESSONS, reason="no released lesson yet")]


@pytest.fixture(scope="module")
def lesson_grades(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lessons")
    submitted = tmp / "submitted"
    for lesson in LESSONS:
        release, source = load_pair(REPO, lesson)
        right = solved_release(release, source)
        write_submission(submitted, "solved", lesson, lesson, right)
        write_submission(submitted, "untouched", lesson, lesson, release)
        partial = copy.deepcopy(right)
        last = solution_cells(partial)[-1]
        last.source = next(c.source for c in solution_cells(release)
                           if c.metadata["nbgrader"]["grade_id"] == last.metadata["nbgrader"]["grade_id"])
        write_submission(submitted, "last_undone", lesson, lesson, partial)
    out = tmp / "out"
    proc = subprocess.run([AUTOGRADER, "--course-dir", str(REPO), "grade", str(submitted), "--out", str(out),
                           "--workers", "2", "--timeout", "600"],
                          env=dict(os.environ, AUTOGRADER_CACHE_DIR=str(tmp / "cache")),
                          capture_output=True, text=True, timeout=3600)
    # One lesson whose solution fails must not hide the others: each test reads its own rows.
    assert (out / "grades.csv").exists(), proc.stdout[-3000:] + proc.stderr[-5000:]
    with (out / "grades.csv").open(newline="") as fh:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}
    return rows, proc.stderr


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_scores_through_the_kit(lesson_grades, lesson):
    rows, stderr = lesson_grades
    solved, untouched, partial = (rows[(s, lesson)] for s in ("solved", "untouched", "last_undone"))
    assert solved["status"] == "graded", f"{solved}\n{stderr[-4000:]}"
    # every test passes; the written answers wait for a person (max_score counts them)
    auto_max = float(solved["max_score"]) - float(solved["manual_max"])
    assert auto_max > 0 and float(solved["auto_score"]) == auto_max == float(solved["score"]), solved
    assert solved["manual_pending"] == ("yes" if float(solved["manual_max"]) else "no"), solved
    assert "tampering" not in solved["flags"] and "tampering" not in untouched["flags"]
    assert untouched["status"] == "graded" and float(untouched["score"]) == 0, untouched
    if len(solution_cells(load_pair(REPO, lesson)[0])) > 1:
        assert 0 < float(partial["auto_score"]) < auto_max, partial
    else:  # a lesson of one exercise: leaving it undone leaves nothing
        assert float(partial["auto_score"]) == 0, partial
