"""Deadlines: submission times from the intake, late flags, nbgrader's late-penalty plugins.

The times are crafted: file modification times set with os.utime, timestamp.txt
files as `nbgrader collect` writes them (and as a student might forge them),
zip entries with and without the extended-timestamp field.
"""
from __future__ import annotations

import os
import struct
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from nbgrader.plugins import BasePlugin
from traitlets.config import Config

from autograder.config import from_config
from autograder.course import Course
from autograder.discover import discover, extract_archive
from autograder.steps.record import AssignmentRow, GradebookWriter, NotebookGrade, assignment_rows

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE

UTC = timezone.utc
DUE = datetime(2027, 1, 15, 22, 59, tzinfo=UTC)  # 2027-01-15 23:59 Europe/Berlin


class OnePointPerStartedHour(BasePlugin):
    """A course's own late policy, as nbgrader's AssignLatePenalties.plugin_class."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return float(-(-total_seconds_late // 3600))


def _submit(root: Path, student: str, when: datetime | None = None, stamp: str | None = None) -> Path:
    folder = root / student / FIXTURE_ASSIGNMENT
    folder.mkdir(parents=True)
    path = folder / f"{FIXTURE_ASSIGNMENT}.ipynb"
    path.write_text("{}")
    if when is not None:
        os.utime(path, (when.timestamp(), when.timestamp()))
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp)
    return path


def _times(subs) -> dict[str, tuple[datetime | None, str]]:
    return {s.student: (s.timestamp, s.timestamp_problem) for s in subs}


def test_received_time_is_the_files_and_a_students_timestamp_txt_is_ignored(tmp_path):
    sent = datetime(2027, 1, 16, 1, 30, tzinfo=UTC)
    _submit(tmp_path, "mallory", when=sent, stamp="2027-01-01 00:00:00 UTC")  # forged: "on time"
    times = _times(discover(tmp_path, Course(FIXTURE_COURSE)))
    assert times["mallory"] == (sent, "")


def test_nbgrader_collect_time_is_read_and_an_unreadable_one_is_reported(tmp_path):
    _submit(tmp_path, "ann", when=datetime(2030, 1, 1, tzinfo=UTC), stamp="2027-01-15 21:00:00.000000 UTC")
    _submit(tmp_path, "ben", stamp="last tuesday, probably")
    _submit(tmp_path, "cat")  # collect wrote no timestamp.txt
    (tmp_path / "dan" / FIXTURE_ASSIGNMENT).mkdir(parents=True)  # nothing submitted
    times = _times(discover(tmp_path, Course(FIXTURE_COURSE), time_source="nbgrader"))
    assert times["ann"] == (datetime(2027, 1, 15, 21, 0, tzinfo=UTC), "")
    assert times["ben"][0] is None and "timestamp.txt" in times["ben"][1] and "could not be read" in times["ben"][1]
    assert times["cat"][0] is None and "no timestamp.txt" in times["cat"][1]
    assert times["dan"] == (None, ""), "a missing submission has no time and nothing to report"


def _zip_with(path: Path, date_time: tuple, utc_mtime: int | None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for student in ("yan", "zoe"):
            info = zipfile.ZipInfo(f"{student}/{FIXTURE_ASSIGNMENT}/{FIXTURE_ASSIGNMENT}.ipynb", date_time=date_time)
            if utc_mtime is not None:
                info.extra = struct.pack("<HHBI", 0x5455, 5, 1, utc_mtime)
            zf.writestr(info, "{}")


@pytest.mark.parametrize("utc_mtime, expected", [
    (None, datetime(2027, 1, 15, 9, 0, tzinfo=UTC)),  # local 10:00 in the course's zone (UTC+1)
    (int(datetime(2027, 1, 15, 23, 5, tzinfo=UTC).timestamp()), datetime(2027, 1, 15, 23, 5, tzinfo=UTC)),
])
def test_a_zip_entrys_own_time_is_the_received_time(tmp_path, utc_mtime, expected):
    archive = tmp_path / "export.zip"
    _zip_with(archive, (2027, 1, 15, 10, 0, 0), utc_mtime)
    folder = extract_archive(archive, tmp_path / "x", zone="Europe/Berlin")
    assert _times(discover(folder, Course(FIXTURE_COURSE)))["zoe"] == (expected, "")


@pytest.fixture(scope="module")
def gradebook_url(tmp_path_factory) -> str:
    """A gradebook with the fixture assignment recorded (what `autograder grade` does first)."""
    from autograder.grade import GradeOptions, record_assignment

    url = f"sqlite:///{tmp_path_factory.mktemp('gb') / 'gradebook.db'}"
    record_assignment(Course(FIXTURE_COURSE), FIXTURE_ASSIGNMENT, GradeOptions(out=Path("."), db_url=url))
    return url


def _grade(student: str, timestamp: datetime | None, points: float = 5.0) -> NotebookGrade:
    return NotebookGrade(student=student, assignment=FIXTURE_ASSIGNMENT, notebook=FIXTURE_ASSIGNMENT,
                         status="graded", points={"test-relu": 1.0, "test-mse": 2.0, "test-softmax": points - 3.0},
                         max_score=5.0, timestamp=timestamp)


def _record(url: str, plugin_config: dict, grades: list[NotebookGrade]) -> dict[str, AssignmentRow]:
    config = Config(plugin_config)
    config.Deadlines.due_dates = {FIXTURE_ASSIGNMENT: "2027-01-15 23:59 Europe/Berlin"}
    settings = from_config(config)
    with GradebookWriter(url, settings.late_penalty_plugin()) as writer:
        writer.set_due_date(FIXTURE_ASSIGNMENT, settings.deadlines.due_date(FIXTURE_ASSIGNMENT))
        for grade in grades:
            writer.record(grade)
    return {r.student_id: r for r in assignment_rows(grades)}


def test_late_flags_and_a_course_penalty_plugin(gradebook_url):
    grades = [_grade("ontime", DUE - timedelta(minutes=1)), _grade("exact", DUE),
              _grade("late", DUE + timedelta(hours=2, minutes=5)), _grade("unknown", None),
              _grade("weak", DUE + timedelta(hours=30), points=4.0)]
    rows = _record(gradebook_url, {"AssignLatePenalties": {"plugin_class": OnePointPerStartedHour}}, grades)
    assert {s: r.late for s, r in rows.items()} == {
        "ontime": "no", "exact": "no", "late": "yes", "unknown": "unknown", "weak": "yes"}
    assert rows["late"].seconds_late == 2 * 3600 + 300 and rows["late"].late_penalty == 3.0
    assert rows["late"].score == 2.0 and "late" in rows["late"].flags
    assert rows["weak"].late_penalty == 4.0 and rows["weak"].score == 0.0, "a penalty never exceeds the score"
    assert rows["ontime"].score == 5.0 and rows["ontime"].late_penalty == 0.0 and "late" not in rows["ontime"].flags
    csv = rows["late"].as_csv()
    assert (csv["late"], csv["time_late"], csv["late_penalty"], csv["score"]) == ("yes", "2 h 05 min", "3", "2")
    assert csv["submitted_at"] == "2027-01-16T01:04:00+00:00"

    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url) as gb:  # nbgrader's own view agrees: formgrader shows the same
        sub = gb.find_submission(FIXTURE_ASSIGNMENT, "late")
        assert sub.total_seconds_late == 2 * 3600 + 300 and sub.late_submission_penalty == 3.0
        assert sub.score == 5.0, "nbgrader keeps the raw score; its export subtracts the penalty, as grades.csv does"
        assert gb.find_assignment(FIXTURE_ASSIGNMENT).duedate == DUE.replace(tzinfo=None)


def test_no_penalty_by_default_and_nbgraders_zero_method(gradebook_url):
    late = DUE + timedelta(minutes=1)
    rows = _record(gradebook_url, {}, [_grade("late", late)])
    assert rows["late"].late == "yes" and rows["late"].late_penalty == 0.0 and rows["late"].score == 5.0
    rows = _record(gradebook_url, {"LateSubmissionPlugin": {"penalty_method": "zero"}}, [_grade("late", late)])
    assert rows["late"].late_penalty == 5.0 and rows["late"].score == 0.0


def test_an_extension_in_the_gradebook_is_honoured(gradebook_url):
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url) as gb:
        gb.update_or_create_student("extended")
        gb.update_or_create_submission(FIXTURE_ASSIGNMENT, "extended", extension=timedelta(days=2))
    rows = _record(gradebook_url, {"LateSubmissionPlugin": {"penalty_method": "zero"}},
                   [_grade("extended", DUE + timedelta(days=1))])
    assert rows["extended"].late == "no" and rows["extended"].score == 5.0


def test_without_a_due_date_nothing_is_late(tmp_path):
    grade = _grade("x", DUE + timedelta(days=9))
    row = assignment_rows([grade])[0]
    assert row.late == "" and row.as_csv()["time_late"] == "" and row.score == 5.0


LATE_POLICY = '''
from nbgrader.plugins import BasePlugin


class OnePointPerStartedHour(BasePlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return float(-(-total_seconds_late // 3600))
'''

COURSE_CONFIG = '''
import os, sys
sys.path.insert(0, os.path.dirname(__file__))  # the course's own late policy module
c = get_config()
c.Deadlines.due_dates = {"00_fixture": "2027-01-15 23:59 Europe/Berlin"}
c.Deadlines.submission_time = "nbgrader"
c.AssignLatePenalties.plugin_class = "latepolicy.OnePointPerStartedHour"
'''


@pytest.mark.slow
@pytest.mark.xdist_group("grading-runs")
def test_grade_reports_late_submissions_with_the_courses_penalty(fixture_course, tmp_path):
    from autograder.samples import write_submission

    from .crafted import right_answers
    from .test_grade_e2e import read_rows, run_grader

    (fixture_course / "latepolicy.py").write_text(LATE_POLICY)
    (fixture_course / "nbgrader_config.py").write_text(COURSE_CONFIG)
    submitted = tmp_path / "submitted"
    stamps = {"ann": "2027-01-15 21:00:00.000000 UTC", "ben": "2027-01-16 01:04:00.000000 UTC",
              "cat": "not a time"}
    for student, stamp in stamps.items():
        path = write_submission(submitted, student, FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right_answers())
        (path.parent / "timestamp.txt").write_text(stamp)
    out = tmp_path / "out"
    proc = run_grader(submitted, out, "--workers", "2", cache=tmp_path / "cache", course=fixture_course)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = read_rows(out)
    assert {s: (r["score"], r["late"], r["time_late"], r["late_penalty"]) for s, r in rows.items()} == {
        "ann": ("5", "no", "", ""), "ben": ("2", "yes", "2 h 05 min", "3"), "cat": ("5", "unknown", "", "")}
    assert rows["ben"]["submitted_at"] == "2027-01-16T01:04:00+00:00" and "late" in rows["ben"]["flags"]
    assert "timestamp_unreadable" in rows["cat"]["flags"] and "timestamp.txt" in rows["cat"]["detail"]
    assert "ben/00_fixture: late by 2 h 05 min, penalty 3 point(s)" in proc.stdout
    assert "cat/00_fixture: submission time unknown" in proc.stdout
