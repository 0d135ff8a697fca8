"""Final grades from nbgrader's gradebook: ``grades.csv`` and a wide CSV for an LMS.

The gradebook is the one store of scores: the grader writes the tests' auto
scores there, a person adds the written answers' points (and may override a
test) in nbgrader's formgrader, and every CSV is derived from it:

- ``grades.csv``: one row per student and assignment with the auto score, the
  manual score, the total, the maximum (written answers included), whether
  manual grading is still pending, the grader's status, flags and detail;
- ``grades_wide.csv``: one row per student, one column per assignment (the
  total), plus a ``Points Possible`` row, the shape Canvas and Moodle import.

``autograder export --out OUT`` rewrites both from the gradebook (after manual
grading) and regenerates the feedback pages so they show the manual points
and comments.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .nbgrader_env import ensure_alembic_on_path
from .notebook_io import atomic_write_text
from .steps.record import CSV_COLUMNS, FORMULA_STARTS, AssignmentRow, spreadsheet_safe

WIDE_NAME = "grades_wide.csv"
POINTS_POSSIBLE = "Points Possible"


@dataclass
class ManualGrade:
    """A cell graded by a person (a written answer), as the gradebook has it."""

    name: str
    max_score: float
    score: float | None  # None: not graded yet
    comment: str = ""


@dataclass
class GradebookSubmission:
    """One (student, assignment) as the gradebook counts it."""

    auto_score: float = 0.0
    auto_max: float = 0.0
    manual_score: float = 0.0
    manual_max: float = 0.0
    total: float = 0.0
    pending: bool = False
    submitted: bool = False
    manual: dict[str, list[ManualGrade]] = field(default_factory=dict)  # notebook -> its manual cells


def _open_gradebook(db_url: str):
    ensure_alembic_on_path()
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.api")
    return Gradebook(db_url)


def read_gradebook(db_url: str) -> tuple[dict[tuple[str, str], GradebookSubmission], dict[str, tuple[float, float]],
                                          list[str]]:
    """Every submission's scores, in a few queries (fast for 500 students x 8 assignments).

    Returns
    -------
    submissions : {(student, assignment): GradebookSubmission}
    maxima : {assignment: (auto_max, manual_max)} from the assignment's cells
    students : every student id in the gradebook
    """
    from nbgrader.api import (Assignment, BaseCell, Comment, Grade, GradeCell, Notebook, Student,
                              SubmittedAssignment, SubmittedNotebook)

    gb = _open_gradebook(db_url)
    try:
        db = gb.db
        solution_names = {(nb_id, name) for nb_id, name in
                          db.query(BaseCell.notebook_id, BaseCell.name).filter(BaseCell.type == "SolutionCell")}
        cells = db.query(GradeCell.id, GradeCell.notebook_id, GradeCell.name, GradeCell.max_score,
                         Notebook.name, Assignment.name).select_from(GradeCell) \
            .join(Notebook, Notebook.id == GradeCell.notebook_id) \
            .join(Assignment, Assignment.id == Notebook.assignment_id)
        cell_info: dict[str, tuple[str, str, float, bool, str]] = {}
        maxima: dict[str, tuple[float, float]] = {}
        for cell_id, nb_id, name, max_score, nb_name, assignment in cells:
            manual = (nb_id, name) in solution_names
            cell_info[cell_id] = (assignment, nb_name, float(max_score or 0), manual, name)
            auto_max, manual_max = maxima.get(assignment, (0.0, 0.0))
            maxima[assignment] = (auto_max + (0 if manual else float(max_score or 0)),
                                  manual_max + (float(max_score or 0) if manual else 0))
        for (name,) in db.query(Assignment.name):
            maxima.setdefault(name, (0.0, 0.0))
        # a comment belongs to the answer's solution cell, which has the grade cell's name
        comments = {(nb_id, name): text for nb_id, name, text in
                    db.query(Comment.notebook_id, BaseCell.name, Comment.manual_comment).select_from(Comment)
                    .join(BaseCell, BaseCell.id == Comment.cell_id) if text}
        grades = db.query(Grade.notebook_id, Grade.cell_id, Grade.auto_score, Grade.manual_score, Grade.extra_credit,
                          Grade.needs_manual_grade, SubmittedAssignment.student_id,
                          SubmittedNotebook.late_submission_penalty).select_from(Grade) \
            .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id) \
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
        subs: dict[tuple[str, str], GradebookSubmission] = {}
        penalties: dict[str, float] = {}
        for sn_id, cell_id, auto, manual_score, extra, needs, student, penalty in grades:
            info = cell_info.get(cell_id)
            if info is None:
                continue
            assignment, nb_name, max_score, manual, name = info
            sub = subs.setdefault((student, assignment), GradebookSubmission(submitted=True))
            penalties[sn_id] = float(penalty or 0)
            score = (manual_score if manual_score is not None else auto)
            points = float(score or 0) + float(extra or 0)
            if manual:
                sub.manual_score += points
                sub.manual_max += max_score
                sub.manual.setdefault(nb_name, []).append(ManualGrade(
                    name, max_score, None if score is None else points, comments.get((sn_id, name), "")))
            else:
                sub.auto_score += points
                sub.auto_max += max_score
            sub.total += points
            sub.pending = sub.pending or bool(needs)
        for sn_id, penalty in penalties.items():
            if penalty:
                student, assignment = db.query(SubmittedAssignment.student_id, Assignment.name) \
                    .select_from(SubmittedAssignment).join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id) \
                    .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id) \
                    .filter(SubmittedNotebook.id == sn_id).one()
                subs[(student, assignment)].total -= penalty
        students = [sid for (sid,) in db.query(Student.id).order_by(Student.id)]
        return subs, maxima, students
    finally:
        gb.close()


def add_gradebook_scores(rows: list[AssignmentRow], db_url: str) -> list[AssignmentRow]:
    """Fill in each row's manual score, manual maximum, total and pending flag from the gradebook."""
    subs, maxima, _ = read_gradebook(db_url)
    for row in rows:
        _apply(row, subs.get((row.student_id, row.assignment)), maxima.get(row.assignment))
    return rows


def _apply(row: AssignmentRow, sub: GradebookSubmission | None, maxima: tuple[float, float] | None) -> None:
    if sub is not None and sub.submitted:
        row.auto_score, row.auto_max = sub.auto_score, sub.auto_max
        row.manual_score, row.manual_max, row.total = sub.manual_score, sub.manual_max, sub.total
        # nothing to grade by hand in a notebook that could not be read
        row.manual_pending = sub.pending and row.status != "invalid"
    elif maxima is not None:  # missing: nothing submitted, the full maximum still counts
        row.auto_max, row.manual_max = maxima
        row.manual_score, row.total, row.manual_pending = 0.0, None, False


def _rows_from_csv(path: Path) -> dict[tuple[str, str], AssignmentRow]:
    rows: dict[tuple[str, str], AssignmentRow] = {}
    if not path.is_file():
        return rows
    with path.open(newline="", encoding="utf-8") as fh:
        for old in csv.DictReader(fh):
            if not old.get("student_id") or not old.get("assignment"):
                continue
            student, assignment = _literal(old["student_id"]), _literal(old["assignment"])
            rows[(student, assignment)] = AssignmentRow(
                student, assignment, _float(old.get("auto_score") or old.get("score")),
                0.0, old.get("status") or "graded", [f for f in (old.get("flags") or "").split(";") if f],
                _literal(old.get("detail") or ""))
    return rows


def _rows_from_results(out: Path) -> dict[tuple[str, str], AssignmentRow]:
    """Status, flags and detail per (student, assignment) from the run's records (when the CSV lacks them)."""
    from .report import load_results
    from .steps.record import NotebookGrade, assignment_rows

    grades = [NotebookGrade(r["student"], r["assignment"], r["notebook"], r["status"], dict(r.get("points", {})),
                            float(r.get("max_score", 0.0)), list(r.get("flags", [])), r.get("detail", ""))
              for r in load_results(out)]
    return {(row.student_id, row.assignment): row for row in assignment_rows(grades)}


LATE_COLUMNS = ("submitted_at", "late", "time_late", "late_penalty")


def _late_cells(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The submission time and lateness columns of an existing grades.csv, by (student, assignment)."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as fh:
            for old in csv.DictReader(fh):
                if old.get("student_id") and old.get("assignment"):
                    key = (_literal(old["student_id"]), _literal(old["assignment"]))
                    cells[key] = {c: old.get(c) or "" for c in LATE_COLUMNS}
    return cells


def _literal(text: str) -> str:
    """The text behind a CSV cell that :func:`spreadsheet_safe` quoted."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _float(text: str | None) -> float:
    try:
        value = float(text or 0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def export_grades(out: Path, db_url: str | None = None) -> tuple[Path, Path, list[AssignmentRow]]:
    """Rewrite ``OUT/grades.csv`` and ``OUT/grades_wide.csv`` from the gradebook.

    Status, flags and detail come from the grading runs (the existing
    ``grades.csv``); every score from the gradebook. A student the gradebook
    knows without a submission for an assignment gets a ``missing`` row.
    """
    db_url = db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}"
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        raise FileNotFoundError(f"There is no gradebook at {db_url[len('sqlite:///'):]}: grade the submissions "
                                f"first (autograder grade SUBMITTED --out {out}), or pass --db.")
    subs, maxima, students = read_gradebook(db_url)
    known = _rows_from_results(out)
    known.update(_rows_from_csv(out / "grades.csv"))
    late = _late_cells(out / "grades.csv")
    for student in students:
        for assignment in maxima:
            if (student, assignment) not in known:
                status = "graded" if (student, assignment) in subs else "missing"
                known[(student, assignment)] = AssignmentRow(student, assignment, 0.0, 0.0, status, [], "")
    rows = [known[k] for k in sorted(known)]
    for row in rows:
        _apply(row, subs.get((row.student_id, row.assignment)), maxima.get(row.assignment))
    path = out / "grades.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:  # the gradebook's numbers; the run's times and lateness as they were written
        writer.writerow({**row.as_csv(), **late.get((row.student_id, row.assignment), {})})
    atomic_write_text(path, buf.getvalue())
    wide = out / WIDE_NAME
    atomic_write_text(wide, wide_csv(rows))
    return path, wide, rows


def wide_csv(rows: list[AssignmentRow]) -> str:
    """One row per student, one column per assignment (the total), after a ``Points Possible`` row.

    Text that a spreadsheet would run as a formula (=, +, -, @ first) is
    prefixed with a quote.
    """
    assignments = sorted({r.assignment for r in rows})
    maxima: dict[str, float] = {}
    for r in rows:
        maxima[r.assignment] = max(maxima.get(r.assignment, 0.0), r.max_score)
    table: dict[str, dict[str, str]] = {}
    for r in rows:
        table.setdefault(r.student_id, {})[r.assignment] = _num(r.score)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student_id", *(spreadsheet_safe(a) for a in assignments)])
    writer.writerow([POINTS_POSSIBLE, *(_num(maxima[a]) for a in assignments)])
    for student in sorted(table):
        writer.writerow([spreadsheet_safe(student), *(table[student].get(a, "0") for a in assignments)])
    return buf.getvalue()


def _num(x: float) -> str:
    return f"{x:g}"


def regenerate_feedback(out: Path, course: Any, db_url: str | None = None) -> list[Path]:
    """Rewrite the feedback page of every graded notebook in ``out`` with its manual grades.

    Reads what the grading run kept (``OUT/results`` for the judgement,
    ``OUT/autograded`` for the executed notebook), the master from ``course``
    and the written answers' points and comments from the gradebook; nothing
    is executed again.
    """
    from types import SimpleNamespace

    import nbformat

    from .formgrade import original_markdown
    from .grade import feedback_path
    from .master import read_master
    from .report import load_results
    from .steps.feedback import render_feedback
    from .steps.judge import judgement_from_dict

    db_url = db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}"
    subs, _, _ = read_gradebook(db_url)
    masters: dict[tuple[str, str], Any] = {}
    written = []
    for record in load_results(out):
        if record["status"] != "graded":
            continue
        student, assignment, notebook = record["student"], record["assignment"], record["notebook"]
        key = (assignment, notebook)
        if key not in masters:
            source = course.source_dir / assignment / f"{notebook}.ipynb"
            masters[key] = read_master(source, assignment) if source.is_file() else None
        master = masters[key]
        executed = out / "autograded" / student / assignment / f"{notebook}.ipynb"
        if master is None or not executed.is_file():
            continue
        nb = nbformat.read(executed, as_version=4)
        master_md = set(master.markdown)
        for cell in nb.cells:  # the student's own text, as handed in (the feedback page escapes it)
            if cell.cell_type == "markdown" and cell.source not in master_md:
                cell.source = original_markdown(cell.source)
        cells = {i: SimpleNamespace(outputs=c.get("outputs", [])) for i, c in enumerate(nb.cells)
                 if c.cell_type == "code"}
        judgement = judgement_from_dict({"tests": record["tests"], "flags": record.get("flags", [])})
        sub = subs.get((student, assignment))
        manual = {m.name: (m.score, m.max_score, m.comment) for m in (sub.manual.get(notebook, []) if sub else [])}
        auto = sum(t.points for t in judgement.tests)
        got = sum(p for p, _, _ in manual.values() if p is not None)
        page = render_feedback(student=student, assignment=assignment, notebook=notebook, status="graded",
                               score=auto + got, max_score=judgement.max_score + sum(m for _, m, _ in manual.values()),
                               flags=record.get("flags", []), detail=record.get("detail", ""), master=master,
                               restored=nb, cells=cells, judgement=judgement, manual=manual)
        path = feedback_path(out, student, assignment, notebook)
        atomic_write_text(path, page)
        written.append(path)
    return written


__all__ = ["regenerate_feedback", "CSV_COLUMNS", "ManualGrade", "GradebookSubmission", "read_gradebook", "add_gradebook_scores",
           "export_grades", "wide_csv"]
