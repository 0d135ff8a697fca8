"""Step 6, in the one parent process: grades.csv and the nbgrader gradebook.

Both are keyed by (student, assignment[, notebook]) and overwritten in place,
so grading the same folder twice leaves one result per submission. The CSV is
replaced atomically; the gradebook is updated in one transaction per notebook.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..nbgrader_env import ensure_alembic_on_path
from ..notebook_io import atomic_write_text

CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "flags", "detail")
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
    timestamp: datetime | None = None

    @property
    def score(self) -> float:
        return float(sum(self.points.values()))


@dataclass
class AssignmentRow:
    student_id: str
    assignment: str
    score: float
    max_score: float
    status: str
    flags: list[str]
    detail: str

    def as_csv(self) -> dict[str, str]:
        return {"student_id": spreadsheet_safe(self.student_id), "assignment": spreadsheet_safe(self.assignment),
                "score": _num(self.score), "max_score": _num(self.max_score), "status": self.status,
                "flags": ";".join(self.flags), "detail": spreadsheet_safe(self.detail)}


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
        rows.append(AssignmentRow(student, assignment, sum(g.score for g in items),
                                  sum(g.max_score for g in items), status, flags, detail))
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
    """Writes notebook grades into nbgrader's gradebook (any SQLAlchemy URL)."""

    def __init__(self, db_url: str) -> None:
        ensure_alembic_on_path()
        import warnings

        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning

        # nbgrader 0.9 with SQLAlchemy 2 warns about its own cascade on every new
        # submission; the rows are written correctly (tests check the gradebook).
        warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.api")

        self.gb = Gradebook(db_url)

    def close(self) -> None:
        self.gb.close()

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
        """Store ``grade``: the submission's auto scores, or no submission when it is missing."""
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
        gb.update_or_create_submission(grade.assignment, grade.student, **kwargs)
        notebook = gb.find_submission_notebook(grade.notebook, grade.assignment, grade.student)
        for g in notebook.grades:
            if g.cell.name in grade.points:  # the autograded tests; manual grades are left alone
                g.auto_score = float(grade.points[g.cell.name])
        notebook.flagged = bool(grade.flags) or grade.status != "graded"
        gb.db.commit()
