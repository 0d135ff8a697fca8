"""Honest mistakes are never called tampering (issue 17, item 4).

Each student of :mod:`tests.grading.honest_course` makes one mistake an honest
student makes (or none, in a way the solution did not foresee). Each gets the
grade the judging rules give, a reason named for what happened, and no
``tampering`` flag: that flag needs evidence (a replaced ``dlbricks.check``).
"""
from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest

from .honest_course import LESSON, cli, honest_class, write_course

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("honest")
    course = write_course(tmp / "course")
    submitted = tmp / "submitted"
    cases = honest_class(course, submitted)
    out = tmp / "out"
    proc = cli(course, "grade", str(submitted), "--out", str(out), "--timeout", "20", "--no-progress")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    return cases, rows, out


def _feedback(out: Path, student: str) -> str:
    page = (out / "feedback" / student / LESSON / f"{LESSON}.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_every_honest_student_gets_a_grade_and_no_tampering_flag(graded):
    cases, rows, _ = graded
    assert sorted(rows) == sorted(c.student for c in cases)
    for case in cases:
        row = rows[case.student]
        assert row["status"] == "graded", (case.student, row)
        assert "tampering" not in row["flags"], (case.student, case.note, row["flags"])
        assert float(row["auto_score"]) == sum(case.points.values()), (case.student, case.note, row)


@pytest.mark.parametrize("student", ["own_rate", "stops_early", "visible_fails", "fewer_rates"])
def test_each_lost_test_names_what_happened(graded, student):
    cases, _, out = graded
    case = next(c for c in cases if c.student == student)
    page = _feedback(out, student)
    assert "tamper" not in page.lower()
    for grade_id, words in (case.reasons or {}).items():
        assert words in page, (student, grade_id, words, page[:4000])
