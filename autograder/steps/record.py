"""Step 6, in the one parent process: grades.csv and the nbgrader gradebook.

Both are keyed by (student, assignment[, notebook]) and overwritten in place,
so grading the same folder twice leaves one result per submission. The CSV is
replaced atomically; the gradebook is updated in one transaction per notebook.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import format_delay
from ..gradebook_lock import GradebookLock
from ..nbgrader_env import ensure_alembic_on_path
from ..notebook_io import atomic_write_text

# score is the total (auto + manual - late penalty, as nbgrader's gradebook counts it); max_score
# includes the written answers graded by hand (manual_max of it); manual_pending: some are not graded yet.
CSV_COLUMNS = ("student_id", "assignment", "auto_score", "manual_score", "score", "max_score", "manual_max",
               "manual_pending", "status", "flags", "detail", "submitted_at", "late", "time_late", "late_penalty")
STATUS_ORDER = ("graded", "error", "invalid", "missing")


@dataclass
class NotebookGrade:
    """The outcome for one submitted notebook (plain data, written by this step)."""

    student: str
    assignment: str
    notebook: str
    status: str  # graded | invalid | missing | error
    points: dict[str, float] = field(default_factory=dict)  # grade_id -> points earned
    max_score: float = 0.0
    flags: list[str] = field(default_factory=list)
    detail: str = ""
    timestamp: datetime | None = None  # aware UTC, from the intake
    # Set when recorded, from the gradebook (nbgrader's due date and extensions):
    due: datetime | None = None  # this student's due date (naive UTC, as nbgrader keeps it), None: none
    seconds_late: float = 0.0
    late_penalty: float = 0.0  # from nbgrader's late-submission plugin
    judgement: Any = None  # steps.judge.Judgement when graded (the class report reads it)
    seconds: float = 0.0  # wall time of its sandboxed run

    @property
    def score(self) -> float:
        """Points earned, before any late penalty."""
        return float(sum(self.points.values()))

    @property
    def late(self) -> str:
        """``yes`` / ``no``; ``unknown`` when there is a due date but no readable time; empty: no due date."""
        if self.due is None or self.status == "missing":
            return ""
        if self.timestamp is None:
            return "unknown"
        return "yes" if self.seconds_late > 0 else "no"


@dataclass
class AssignmentRow:
    """One student's grade for one assignment.

    ``auto_score`` / ``auto_max``: the tests judged by the grader; ``manual_*``: what a
    person grades in the formgrader (written answers), filled in from the gradebook
    by :func:`autograder.export.add_gradebook_scores`.
    """

    student_id: str
    assignment: str
    auto_score: float
    auto_max: float
    status: str
    flags: list[str]
    detail: str
    submitted_at: datetime | None = None
    late: str = ""  # yes | no | unknown | "" (no due date)
    seconds_late: float = 0.0
    late_penalty: float = 0.0  # subtracted from score (not from auto_score)
    manual_score: float = 0.0
    manual_max: float = 0.0
    manual_pending: bool = False
    total: float | None = None  # the gradebook's total when known (overrides, extra credit, penalty included)

    @property
    def score(self) -> float:
        """The total: auto + manual - late penalty."""
        return self.auto_score + self.manual_score - self.late_penalty if self.total is None else self.total

    @property
    def max_score(self) -> float:
        return self.auto_max + self.manual_max

    def as_csv(self) -> dict[str, str]:
        when = self.submitted_at.astimezone(timezone.utc).isoformat(timespec="seconds") if self.submitted_at else ""
        return {"student_id": spreadsheet_safe(self.student_id), "assignment": spreadsheet_safe(self.assignment),
                "auto_score": _num(self.auto_score), "manual_score": _num(self.manual_score),
                "score": _num(self.score), "max_score": _num(self.max_score), "manual_max": _num(self.manual_max),
                "manual_pending": "yes" if self.manual_pending else "no", "status": self.status,
                "flags": ";".join(self.flags), "detail": spreadsheet_safe(self.detail), "submitted_at": when,
                "late": self.late, "time_late": format_delay(self.seconds_late) if self.late == "yes" else "",
                "late_penalty": _num(self.late_penalty) if self.late_penalty else ""}


def _num(x: float) -> str:
    return f"{x:g}"


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it but never evaluates it: a leading ``'`` before a formula start.

    Student-controlled text (a folder name, an error message) reaches
    ``grades.csv``; ``=HYPERLINK(...)`` there would be a live formula in the
    instructor's spreadsheet. The quote is how spreadsheets mark literal text.
    """
    text = str(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def assignment_rows(grades: list[NotebookGrade]) -> list[AssignmentRow]:
    """One row per (student, assignment): notebooks summed, the most telling status kept.

    ``graded`` when any notebook was graded; otherwise the first of error,
    invalid, missing that applies. Flags are the union, in first-seen order.
    The score is after late penalties; the time is the latest notebook's, and
    the assignment is as late as its latest notebook (``unknown`` wins over ``no``).
    """
    groups: dict[tuple[str, str], list[NotebookGrade]] = {}
    for g in grades:
        groups.setdefault((g.student, g.assignment), []).append(g)
    rows = []
    for (student, assignment), items in sorted(groups.items()):
        statuses = {g.status for g in items}
        status = next(s for s in STATUS_ORDER if s in statuses)
        flags = list(dict.fromkeys(f for g in items for f in g.flags))
        detail = "; ".join(dict.fromkeys(g.detail for g in items if g.detail))
        lates = {g.late for g in items}
        late = next((v for v in ("yes", "unknown", "no") if v in lates), "")
        times = [g.timestamp for g in items if g.timestamp is not None]
        penalty = sum(g.late_penalty for g in items)
        rows.append(AssignmentRow(student, assignment, sum(g.score for g in items),
                                  sum(g.max_score for g in items), status, flags, detail,
                                  max(times) if times else None, late,
                                  max(g.seconds_late for g in items), penalty))
    return rows


def write_grades_csv(path: Path, rows: list[AssignmentRow]) -> list[dict[str, str]]:
    """Merge ``rows`` into the CSV at ``path`` (replacing rows with the same key); return all rows."""
    merged: dict[tuple[str, str], dict[str, str]] = {}
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as fh:
            for old in csv.DictReader(fh):
                if old.get("student_id") is not None and old.get("assignment") is not None:
                    merged[(old["student_id"], old["assignment"])] = {c: old.get(c, "") for c in CSV_COLUMNS}
    for row in rows:
        cells = row.as_csv()  # keyed as written, so that a re-run replaces its own rows
        merged[(cells["student_id"], cells["assignment"])] = cells
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for key in sorted(merged):
        writer.writerow(merged[key])
    atomic_write_text(path, buf.getvalue())
    return [merged[k] for k in sorted(merged)]


class GradebookWriter:
    """Writes notebook grades into nbgrader's gradebook (any SQLAlchemy URL).

    Lateness is nbgrader's own: the assignment's due date (plus the student's
    extension, if the gradebook has one) against the submission's time; the
    penalty comes from ``late_plugin`` (nbgrader's ``LateSubmissionPlugin`` or
    any class configured as ``AssignLatePenalties.plugin_class``), bounded to
    the notebook's score as nbgrader bounds it.
    """

    def __init__(self, db_url: str, late_plugin: Any = None, course_id: str = "default_course") -> None:
        ensure_alembic_on_path()
        import warnings

        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning

        # nbgrader 0.9 with SQLAlchemy 2 warns about its own cascade on every new
        # submission; the rows are written correctly (tests check the gradebook).
        warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.api")

        self.lock = GradebookLock(db_url)  # other graders may write to the same gradebook
        with self.lock.hold():
            self.gb = Gradebook(db_url, course_id)
        self.late_plugin = late_plugin

    def set_due_date(self, assignment: str, due: datetime | None) -> None:
        """Store ``assignment``'s due date (aware) in the gradebook; None leaves the gradebook's own."""
        if due is None:
            return
        naive_utc = due.astimezone(timezone.utc).replace(tzinfo=None)
        with self.lock.hold():
            self.gb.update_or_create_assignment(assignment, duedate=naive_utc)
            self.gb.db.commit()

    def close(self) -> None:
        self.gb.close()
        self.lock.close()

    def __enter__(self) -> "GradebookWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rollback(self) -> None:
        """Forget a failed transaction, so that the next record starts clean."""
        try:
            self.gb.db.rollback()
        except Exception:  # the session is unusable: the next record reports its own error
            pass

    def record(self, grade: NotebookGrade) -> None:
        """Store ``grade``: the submission's auto scores, or no submission when it is missing.

        One transaction under the gradebook lock, so a grader killed half-way
        leaves each notebook either recorded or not, and another grader's
        writes never interleave with it.
        """
        with self.lock.hold():
            self._record(grade)

    def _record(self, grade: NotebookGrade) -> None:
        from nbgrader.api import MissingEntry

        gb = self.gb
        gb.update_or_create_student(grade.student)
        if grade.status == "missing":
            try:
                gb.remove_submission(grade.assignment, grade.student)
            except MissingEntry:
                pass
            return
        kwargs = {"timestamp": grade.timestamp} if grade.timestamp else {}
        submission = gb.update_or_create_submission(grade.assignment, grade.student, **kwargs)
        notebook = gb.find_submission_notebook(grade.notebook, grade.assignment, grade.student)
        manual = manual_cell_names(notebook.notebook)
        for g in notebook.grades:
            if g.cell.name in grade.points:  # the autograded tests; manual grades are left alone
                g.auto_score = float(grade.points[g.cell.name])
                # Judged: no person needs to look, unless the grader itself failed on it
                # or a person already gave points here (nbgrader's own rule).
                g.needs_manual_grade = grade.status == "error" or g.manual_score is not None
            elif g.cell.name in manual and grade.status == "invalid":
                g.needs_manual_grade = False  # an unreadable notebook has no answer to read
        self._apply_late_policy(grade, submission, notebook)
        notebook.flagged = bool(grade.flags) or grade.status != "graded"
        gb.db.commit()

    def _apply_late_policy(self, grade: NotebookGrade, submission: Any, notebook: Any) -> None:
        grade.due = submission.duedate
        grade.seconds_late = float(submission.total_seconds_late) if grade.timestamp else 0.0
        notebook.late_submission_penalty = None
        if grade.seconds_late > 0:
            if "late" not in grade.flags:
                grade.flags.append("late")
            penalty = None
            if self.late_plugin is not None:
                penalty = self.late_plugin.late_submission_penalty(grade.student, grade.score, grade.seconds_late)
            if penalty is not None:
                grade.late_penalty = min(max(float(penalty), 0.0), grade.score)
                notebook.late_submission_penalty = grade.late_penalty


def manual_cell_names(notebook: Any) -> set[str]:
    """Names of the cells of a gradebook ``Notebook`` that a person grades: graded answers
    (a grade cell that is also a solution cell, e.g. a written answer) and tasks."""
    solutions = {c.name for c in notebook.solution_cells}
    return ({c.name for c in notebook.grade_cells if c.name in solutions}
            | {c.name for c in getattr(notebook, "task_cells", [])})
