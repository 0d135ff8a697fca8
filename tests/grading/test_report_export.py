"""Final grades: what a person grades by hand survives re-grading and is counted in every CSV.

The gradebook is built with nbgrader's own API (as ``autograder grade`` records
an assignment), grades are written by the grader's :class:`GradebookWriter`,
and manual points and comments are entered the way nbgrader's formgrader
does (its ``GradeHandler.put``: the score, then ``needs_manual_grade``).
"""
from __future__ import annotations

import csv

import pytest

from autograder.export import export_grades, read_gradebook, wide_csv
from autograder.steps.record import AssignmentRow, GradebookWriter, NotebookGrade


def _gradebook(out) -> str:
    from autograder.nbgrader_env import ensure_alembic_on_path

    ensure_alembic_on_path()
    from nbgrader.api import Gradebook

    url = f"sqlite:///{out / 'gradebook.db'}"
    with Gradebook(url) as gb:
        for assignment in ("a1", "a2"):
            gb.add_assignment(assignment)
            gb.add_notebook("nb", assignment)
            gb.add_grade_cell("t1", "nb", assignment, max_score=1, cell_type="code")
            gb.add_grade_cell("t2", "nb", assignment, max_score=2, cell_type="code")
            # a written answer: a markdown cell that is both a solution and a grade cell
            gb.add_grade_cell("written", "nb", assignment, max_score=3, cell_type="markdown")
            gb.add_solution_cell("written", "nb", assignment)
    return url


def _grade(student: str, status: str = "graded", points=None, assignment: str = "a1", flags=()) -> NotebookGrade:
    return NotebookGrade(student=student, assignment=assignment, notebook="nb", status=status,
                         points=dict(points if points is not None else {"t1": 1.0, "t2": 0.0}), max_score=3.0,
                         flags=list(flags))


def _grade_by_hand(url: str, student: str, points: float | None, comment: str, assignment: str = "a1") -> None:
    """What formgrader's API does when a person saves a score and a comment."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        grade = gb.find_grade("written", "nb", assignment, student)
        grade.manual_score = points
        grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gb.find_comment("written", "nb", assignment, student).manual_comment = comment
        gb.db.commit()


def _needs_manual(url: str, student: str, assignment: str = "a1") -> dict[str, bool]:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        nb = gb.find_submission_notebook("nb", assignment, student)
        return {g.name: g.needs_manual_grade for g in nb.grades}


def _csv(path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="") as fh:
        return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}


def test_judged_tests_need_no_person_but_written_answers_do(tmp_path):
    url = _gradebook(tmp_path)
    with GradebookWriter(url) as writer:
        writer.record(_grade("ann"))
        writer.record(_grade("bob", "error", {"t1": 0.0, "t2": 0.0}, flags=["grader_error"]))
        writer.record(_grade("cy", "invalid", {"t1": 0.0, "t2": 0.0}))
    assert _needs_manual(url, "ann") == {"t1": False, "t2": False, "written": True}
    # the grader failed on bob's notebook: its tests were not judged, a person must look
    assert _needs_manual(url, "bob") == {"t1": True, "t2": True, "written": True}
    # an unreadable notebook has nothing to read by hand
    assert _needs_manual(url, "cy") == {"t1": False, "t2": False, "written": False}


def test_manual_points_and_comments_survive_regrading_and_are_exported(tmp_path):
    url = _gradebook(tmp_path)
    with GradebookWriter(url) as writer:
        writer.record(_grade("ann"))
        writer.record(_grade("ben", points={"t1": 0.0, "t2": 2.0}))
        writer.record(_grade("ann", assignment="a2", points={"t1": 1.0, "t2": 2.0}))
    _grade_by_hand(url, "ann", 2.5, "Clear, but misses the memory argument.")
    with GradebookWriter(url) as writer:  # a re-grade: the tests change, the written answer is kept
        writer.record(_grade("ann", points={"t1": 1.0, "t2": 2.0}))
    subs, maxima, students = read_gradebook(url)
    ann = subs[("ann", "a1")]
    assert (ann.auto_score, ann.manual_score, ann.total, ann.pending) == (3.0, 2.5, 5.5, False)
    assert ann.manual["nb"][0].comment == "Clear, but misses the memory argument."
    assert maxima == {"a1": (3.0, 3.0), "a2": (3.0, 3.0)} and students == ["ann", "ben"]
    assert _needs_manual(url, "ann") == {"t1": False, "t2": False, "written": False}

    long_csv, wide, rows = export_grades(tmp_path)
    table = _csv(long_csv)
    assert list(next(iter(table.values())))[:11] == ["student_id", "assignment", "auto_score", "manual_score",
                                                     "score", "max_score", "manual_max", "manual_pending", "status",
                                                     "flags", "detail"]
    got = {k: (r["auto_score"], r["manual_score"], r["score"], r["max_score"], r["manual_pending"], r["status"])
           for k, r in table.items()}
    assert got == {("ann", "a1"): ("3", "2.5", "5.5", "6", "no", "graded"),
                   ("ann", "a2"): ("3", "0", "3", "6", "yes", "graded"),
                   ("ben", "a1"): ("2", "0", "2", "6", "yes", "graded"),
                   # the gradebook knows ben but he handed nothing in for a2
                   ("ben", "a2"): ("0", "0", "0", "6", "no", "missing")}
    lines = wide.read_text().splitlines()
    assert lines == ["student_id,a1,a2", "Points Possible,6,6", "ann,5.5,3", "ben,2,0"]


def test_an_override_of_a_test_in_the_formgrader_counts(tmp_path):
    from nbgrader.api import Gradebook

    url = _gradebook(tmp_path)
    with GradebookWriter(url) as writer:
        writer.record(_grade("ann", points={"t1": 0.0, "t2": 0.0}))
    with Gradebook(url) as gb:
        grade = gb.find_grade("t2", "nb", "a1", "ann")
        grade.manual_score = 1.0
        gb.db.commit()
    with GradebookWriter(url) as writer:  # re-grading does not undo a person's override
        writer.record(_grade("ann", points={"t1": 0.0, "t2": 0.0}))
    ann = read_gradebook(url)[0][("ann", "a1")]
    assert ann.auto_score == 1.0 and ann.total == 1.0
    assert _needs_manual(url, "ann")["t2"] is True  # nbgrader's rule: a manual score is looked at again


def test_the_wide_csv_neutralises_formulas_in_student_ids():
    rows = [AssignmentRow("=HYPERLINK(\"http://x\")", "a1", 1.0, 3.0, "graded", [], ""),
            AssignmentRow("ann", "a1", 3.0, 3.0, "graded", [], "", manual_score=1.0, manual_max=2.0)]
    lines = wide_csv(rows).splitlines()
    assert lines[1] == "Points Possible,5"
    assert lines[2].startswith("\"'=HYPERLINK") and lines[3] == "ann,4"


def test_export_without_a_gradebook_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="grade the submissions first"):
        export_grades(tmp_path)


def test_a_written_answer_reaches_the_formgrader_as_text_and_feedback_as_written(tmp_path):
    """The formgrader renders the instructor's copy in an authenticated Jupyter page: a written
    answer there is literal text (no HTML, no javascript: link, no outside image)."""
    import nbformat
    from nbconvert.filters.markdown import markdown2html

    from autograder.discover import Submission
    from autograder.formgrade import original_markdown
    from autograder.grade import write_autograded
    from autograder.master import MasterNotebook

    answer = ("GPUs run many multiply-adds at once. <img src=x onerror=alert(1)> "
              "[more](javascript:alert(2)) ![t](https://example.org/t.png) ```code```")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson 1"),
                                         nbformat.v4.new_markdown_cell(answer)])
    master = MasterNotebook("a1", "nb", "0" * 64, (), ("# Lesson 1",))
    write_autograded(nb, {}, Submission("ann", "a1", "nb", None), tmp_path, master)
    written = nbformat.read(tmp_path / "autograded" / "ann" / "a1" / "nb.ipynb", as_version=4)
    assert written.cells[0].source == "# Lesson 1"  # the instructor's own markdown renders as before
    rendered = markdown2html(written.cells[1].source)
    assert "<img" not in rendered and "<a " not in rendered and "onerror=alert(1)" in rendered.replace("&lt;", "<")
    assert original_markdown(written.cells[1].source) == answer


def test_report_and_export_commands_say_what_to_do_on_an_empty_folder(tmp_path, capsys):
    from autograder.cli import main

    assert main(["report", "--out", str(tmp_path)]) == 2
    assert main(["export", "--out", str(tmp_path)]) == 2
    assert main(["formgrade", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("grade first") >= 2 and "grade the submissions first" in err
