"""What the batch does with hostile layouts and with its own failures (no kernels involved).

The batch of test_batch_order (a fake executor running jobs in-process, a
synthetic execution) is reused: each test plants one problem, the stray
folder, the symlinked notebook, the formula folder name, a grader fault at
one step, and checks that every submission still gets exactly one row with
the status that says who is at fault: ``invalid`` for the student's file,
``error`` (with the grader's traceback in ``OUT/grader.log``) for the grader.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

import autograder.grade as grade_module
from autograder.course import Course
from autograder.grade import grade_submissions, inert_outputs, write_autograded
from autograder.samples import write_submission

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE
from .crafted import right_answers
from .test_batch_order import batch  # noqa: F401  (the fixture)

pytestmark = pytest.mark.xdist_group("grading-batch-order")
NB = f"{FIXTURE_ASSIGNMENT}.ipynb"


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _grade(submitted: Path, options) -> object:
    return grade_submissions(submitted, Course(FIXTURE_COURSE), options, log=lambda message: None)


def test_a_stray_folder_is_a_note_and_everyone_is_graded(batch):
    """Issue 13, case 1: eve's 00_fixture_OLD folder stopped the whole class (MissingEntry, no CSV)."""
    submitted, options = batch
    write_submission(submitted, "eve", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right_answers())
    write_submission(submitted, "eve", f"{FIXTURE_ASSIGNMENT}_OLD", FIXTURE_ASSIGNMENT, right_answers())
    (submitted / "ann" / "empty_OLD").mkdir()
    run = _grade(submitted, options)
    rows = {(r["student_id"], r["assignment"]): r for r in _rows(options.out)}
    assert rows[("eve", FIXTURE_ASSIGNMENT)]["status"] == "graded" and rows[("eve", FIXTURE_ASSIGNMENT)]["score"] == "5"
    assert rows[("ann", FIXTURE_ASSIGNMENT)]["status"] == "graded"
    assert rows[("eve", f"{FIXTURE_ASSIGNMENT}_OLD")]["status"] == "invalid"
    assert "not an assignment" in rows[("eve", f"{FIXTURE_ASSIGNMENT}_OLD")]["detail"]
    assert ("ben", f"{FIXTURE_ASSIGNMENT}_OLD") not in rows and ("ben", "empty_OLD") not in rows
    assert run.ok and any("eve/00_fixture_OLD" in n for n in run.notes)


def test_a_symlinked_notebook_is_invalid_and_never_read(batch, tmp_path):
    """Issue 13, case 6: a link to source/ got full marks and showed the solution in feedback."""
    submitted, options = batch
    solution = FIXTURE_COURSE / "source" / FIXTURE_ASSIGNMENT / NB
    (submitted / "mal" / FIXTURE_ASSIGNMENT).mkdir(parents=True)
    (submitted / "mal" / FIXTURE_ASSIGNMENT / NB).symlink_to(solution)
    (submitted / "lnk").symlink_to(submitted / "ann", target_is_directory=True)  # a linked student folder
    _grade(submitted, options)
    rows = {r["student_id"]: r for r in _rows(options.out)}
    for student in ("mal", "lnk"):
        assert rows[student]["status"] == "invalid" and rows[student]["score"] == "0"
        assert "symbolic link" in rows[student]["detail"]
    page = (options.out / "feedback" / "mal" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.html").read_text()
    assert "BEGIN SOLUTION" not in page and "symbolic link" in page
    assert rows["ann"]["status"] == "graded"


def test_a_special_file_is_invalid_without_blocking(batch):
    import os

    submitted, options = batch
    (submitted / "fifo" / FIXTURE_ASSIGNMENT).mkdir(parents=True)
    os.mkfifo(submitted / "fifo" / FIXTURE_ASSIGNMENT / NB)  # opening it for reading would wait forever
    _grade(submitted, options)
    rows = {r["student_id"]: r for r in _rows(options.out)}
    assert rows["fifo"]["status"] == "invalid" and "not a regular file" in rows["fifo"]["detail"]


def test_student_text_cannot_be_a_spreadsheet_formula(batch):
    """Issue 13, case 7: a folder named =HYPERLINK(...) went into grades.csv as a live formula."""
    submitted, options = batch
    evil = '=HYPERLINK("http:evil.example","x")'
    write_submission(submitted, evil, FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right_answers())
    for _ in range(2):  # a re-run replaces the row instead of adding a second one
        _grade(submitted, options)
    cells = [row["student_id"] for row in _rows(options.out)]
    assert cells.count("'" + evil) == 1 and evil not in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for row in _rows(options.out) for c in row.values())


def test_a_broken_notebook_is_invalid_and_a_grader_fault_in_restoring_is_error(batch, monkeypatch):
    """Issue 14: a grader bug or a locked database was blamed on the student ("download again")."""
    submitted, options = batch
    (submitted / "ann" / FIXTURE_ASSIGNMENT / NB).write_text('{"cells": [')  # the student's broken file
    real_restore = __import__("autograder.steps.restore", fromlist=["x"]).restore_from_master

    def restore(nb, master, db_url):
        if any("# ben's relu" in c.source for c in nb.cells):
            from sqlalchemy.exc import OperationalError

            raise OperationalError("UPDATE grade", {}, Exception("database is locked"))
        return real_restore(nb, master, db_url)

    monkeypatch.setattr("autograder.steps.restore.restore_from_master", restore)
    run = _grade(submitted, options)
    rows = {g.student: g for g in run.grades}
    assert rows["ann"].status == "invalid" and "not valid notebook JSON" in rows["ann"].detail
    assert rows["ben"].status == "error" and "grader_error" in rows["ben"].flags
    assert "database is locked" in rows["ben"].detail and "download the assignment" not in rows["ben"].detail
    log = (options.out / "grader.log").read_text()
    assert "Traceback (most recent call last)" in log and "OperationalError" in log and "def restore" not in log
    assert "in restore" in log  # the frame that raised is named
    assert not run.ok


def test_a_worker_fault_is_error_with_the_workers_traceback(batch, monkeypatch):
    submitted, options = batch

    def execute_fails_for_ben(plan, settings):
        if any("# ben's relu" in seg["code"] for cell in plan for seg in cell["segments"]):
            raise MemoryError("the worker ran out of memory")
        from .test_batch_order import synthetic_execution

        return synthetic_execution(plan, settings)

    monkeypatch.setattr("autograder.worker.execute_plan", execute_fails_for_ben)
    run = _grade(submitted, options)
    rows = {g.student: g for g in run.grades}
    assert rows["ann"].status == "graded"
    assert rows["ben"].status == "error" and "MemoryError" in rows["ben"].detail
    log = (options.out / "grader.log").read_text()
    assert "execute_fails_for_ben" in log and "Traceback" in log


def test_a_gradebook_failure_is_that_rows_error_only(batch, monkeypatch):
    submitted, options = batch
    real_record = grade_module.GradebookWriter.record

    def record(self, grade):
        if grade.student == "ben":
            self.gb.update_or_create_student("ben")
            raise RuntimeError("constraint failed while writing ben")
        return real_record(self, grade)

    monkeypatch.setattr(grade_module.GradebookWriter, "record", record)
    run = _grade(submitted, options)
    rows = {g.student: g for g in run.grades}
    assert rows["ben"].status == "error" and "gradebook could not be written" in rows["ben"].detail
    assert rows["ann"].status == "graded" and rows["cat"].status == "missing"
    assert "constraint failed" in (options.out / "grader.log").read_text()
    assert len(_rows(options.out)) == 3


def test_when_the_grader_stops_part_way_every_submission_still_has_a_row(batch, monkeypatch):
    submitted, options = batch

    def collect_crashes(self):
        raise RuntimeError("the scheduler went away")

    monkeypatch.setattr(grade_module._Batch, "_collect", collect_crashes)
    run = _grade(submitted, options)
    rows = {r["student_id"]: r for r in _rows(options.out)}
    assert set(rows) == {"ann", "ben", "cat"}
    assert rows["ann"]["status"] == rows["ben"]["status"] == "error"
    assert "run the same command again" in rows["ann"]["detail"]
    assert rows["cat"]["status"] == "missing"
    assert any("the scheduler went away" in e for e in run.grader_errors)
    assert "the scheduler went away" in (options.out / "grader.log").read_text()
    # ... and the gradebook has the rows too.
    from nbgrader.api import Gradebook

    with Gradebook(options.gradebook_url) as gb:
        assert sorted(s.id for s in gb.students) == ["ann", "ben", "cat"]


def test_an_interrupted_grader_still_writes_grades_csv(batch, monkeypatch):
    submitted, options = batch

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(grade_module._Batch, "_collect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _grade(submitted, options)
    assert {r["student_id"]: r["status"] for r in _rows(options.out)} == {"ann": "error", "ben": "error",
                                                                          "cat": "missing"}


def test_active_content_never_reaches_the_instructors_notebook(tmp_path):
    """Issue 13, case 7: text/html outputs (with <script>) were kept for formgrader to render."""
    outputs = [{"output_type": "display_data", "metadata": {},
                "data": {"text/html": "<script>steal()</script>", "text/plain": "a table"}},
               {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<img onerror=x>"}},
               {"output_type": "stream", "name": "stdout", "text": "<script>plain text is inert</script>"}]
    kept = inert_outputs(outputs)
    assert kept[0]["data"] == {"text/plain": "a table"}
    assert kept[1]["data"] == {"text/plain": grade_module.REMOVED_HTML}
    assert kept[2] == outputs[2]

    from autograder.discover import Submission
    from autograder.steps.execute import CellResult

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("show()"),
                                         nbformat.v4.new_markdown_cell("<script>steal()</script> *hi*")])
    sub = Submission("s1", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, None)
    write_autograded(nb, {0: CellResult(0, "ok", [], outputs, False, 0.1)}, sub, tmp_path)
    text = (tmp_path / "autograded" / "s1" / FIXTURE_ASSIGNMENT / NB).read_text()
    from nbconvert.filters.markdown import markdown2html

    from autograder.formgrade import original_markdown

    markdown = "".join(json.loads(text)["cells"][1]["source"])
    rendered = markdown2html(markdown)  # what formgrader makes of the student's markdown: text only
    assert "<script" not in rendered and "<img" not in rendered and "<em>" not in rendered
    assert "<img" not in text and "steal()" not in json.dumps(json.loads(text)["cells"][0]["outputs"])
    assert original_markdown(markdown).endswith("*hi*")
