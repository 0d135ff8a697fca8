"""What the instructor reads at the end of a run: the summary, a grade table, a progress bar."""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import format_delay
from .steps.record import AssignmentRow, NotebookGrade


@dataclass
class GradeRun:
    """The outcome of a batch: its rows, the grader's own errors and notes on stray entries."""

    rows: list[AssignmentRow]
    grades: list[NotebookGrade]
    seconds: float
    grader_errors: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.grader_errors and all(r.status != "error" for r in self.rows)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="notebook", desc="grading", file=sys.stderr)


def summary_text(run: GradeRun, out: Path) -> str:
    """The end-of-run summary: counts, scores, flags and where everything is."""
    rows = run.rows
    statuses = Counter(r.status for r in rows)
    flags = Counter(f for r in rows for f in r.flags)
    lines = [f"Graded {len(rows)} submission(s) in {run.seconds:.1f} s: "
             + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))]
    graded = [r for r in rows if r.status == "graded"]
    if graded:
        mean = sum(r.score for r in graded) / len(graded)
        lines.append(f"Mean score of graded submissions: {mean:.2f}")
    if flags:
        lines.append("Flags to look at: " + ", ".join(f"{f} ({n})" for f, n in sorted(flags.items())))
        for r in rows:
            if r.flags:
                lines.append(f"  {r.student_id}/{r.assignment}: {', '.join(r.flags)}")
    in_kernel = sorted({(g.assignment, part.strip()) for g in run.grades
                        for part in (g.detail or "").split(";") if "judged in the student's kernel" in part})
    for assignment, part in in_kernel:
        lines.append(f"{assignment}: {part} (open to tampering there; see docs/threat-model.md)")
    for note in run.notes:
        lines.append(f"Note: {note}")
    late = [r for r in rows if r.late in ("yes", "unknown")]
    if late:
        lines.append(f"Late or of unknown time: {len(late)}")
        for r in late:
            how = (f"late by {format_delay(r.seconds_late)}" if r.late == "yes"
                   else "submission time unknown, so lateness unknown")
            penalty = f", penalty {r.late_penalty:g} point(s)" if r.late_penalty else ""
            lines.append(f"  {r.student_id}/{r.assignment}: {how}{penalty}")
    for err in run.grader_errors:
        lines.append(f"Grader error: {err}")
    if run.grader_errors:
        lines.append(f"Grader log (tracebacks): {out / 'grader.log'}")
    lines.append(f"Grades:   {out / 'grades.csv'}")
    lines.append(f"Report:   {out / 'report.html'} (the class: pass rates, frequent mistakes, flags)")
    lines.append(f"Feedback: {out / 'feedback'}/STUDENT/ASSIGNMENT/NOTEBOOK.html (for the students)")
    lines.append(f"Executed notebooks: {out / 'autograded'} (instructors only: they contain the hidden tests)")
    return "\n".join(lines)


def grade_table(rows: list[AssignmentRow]) -> str:
    """A plain-text table of the rows (the demo prints it)."""
    header = ("student", "assignment", "score", "written answers", "status", "flags")
    body = [(r.student_id, r.assignment, f"{r.score:g} / {r.max_score:g}",
             (f"{r.manual_score:g} / {r.manual_max:g}" + (", to grade" if r.manual_pending else ""))
             if r.manual_max else "", r.status, ",".join(r.flags))
            for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*row) for row in body])
