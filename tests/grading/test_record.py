"""Unit tests: grades.csv rows and the nbgrader gradebook, keyed and idempotent."""
from __future__ import annotations

import csv

from autograder.steps.record import GradebookWriter, NotebookGrade, assignment_rows, write_grades_csv


def _grade(student: str, status: str = "graded", points=None, flags=(), notebook: str = "nb") -> NotebookGrade:
    return NotebookGrade(student=student, assignment="a1", notebook=notebook, status=status,
                         points=dict(points or {"t1": 1.0, "t2": 0.0}), max_score=3.0, flags=list(flags))


def test_rows_sum_notebooks_and_keep_the_most_telling_status():
    rows = assignment_rows([_grade("s", flags=["timeout"]), _grade("s", "missing", {"t3": 0.0}, notebook="nb2"),
                            _grade("t", "invalid", {"t1": 0.0})])
    by = {r.student_id: r for r in rows}
    assert by["s"].status == "graded" and by["s"].score == 1.0 and by["s"].max_score == 6.0
    assert by["s"].flags == ["timeout"] and by["t"].status == "invalid"


def test_csv_merges_by_key_and_is_stable(tmp_path):
    path = tmp_path / "grades.csv"
    write_grades_csv(path, assignment_rows([_grade("s"), _grade("t", flags=["tampering", "timeout"])]))
    first = path.read_text()
    write_grades_csv(path, assignment_rows([_grade("s")]))
    assert path.read_text() == first
    write_grades_csv(path, assignment_rows([_grade("s", points={"t1": 1.0, "t2": 2.0})]))
    rows = list(csv.DictReader(path.open()))
    assert [(r["student_id"], r["score"], r["flags"]) for r in rows] == [("s", "3", ""), ("t", "1", "tampering;timeout")]
    assert list(rows[0]) == ["student_id", "assignment", "auto_score", "manual_score", "score", "max_score",
                             "manual_max", "manual_pending", "status", "flags", "detail", "submitted_at", "late",
                             "time_late", "late_penalty"]


def _gradebook(tmp_path) -> str:
    from nbgrader.api import Gradebook

    url = f"sqlite:///{tmp_path / 'gb.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("a1")
        gb.add_notebook("nb", "a1")
        gb.add_grade_cell("t1", "nb", "a1", max_score=1, cell_type="code")
        gb.add_grade_cell("t2", "nb", "a1", max_score=2, cell_type="code")
    return url


def test_gradebook_gets_one_submission_per_student_whatever_the_reruns(tmp_path):
    from autograder.nbgrader_env import ensure_alembic_on_path
    from nbgrader.api import Gradebook

    ensure_alembic_on_path()
    url = _gradebook(tmp_path)
    with GradebookWriter(url) as writer:
        writer.record(_grade("s", points={"t1": 1.0, "t2": 0.0}))
        writer.record(_grade("s", points={"t1": 1.0, "t2": 2.0}, flags=["timeout"]))
        writer.record(_grade("u", "missing", {"t1": 0.0}))
    with Gradebook(url) as gb:
        assert [s.student.id for s in gb.find_assignment("a1").submissions] == ["s"]
        sub = gb.find_submission_notebook("nb", "a1", "s")
        assert sub.score == 3.0 and sub.flagged
        assert gb.find_student("u").id == "u"
