"""The instructor's notebook as the grader needs it: tests, points, hidden blocks.

Everything here is frozen dataclasses of plain values, sent to worker processes
and Dask workers (pickled) along with each submission.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
HIDDEN_PLACEHOLDER = "# (hidden tests: their names and results are listed below)"


@dataclass(frozen=True)
class Segment:
    """A piece of a test cell executed on its own: the visible checks, or a hidden block."""

    code: str
    hidden: bool
    reads: tuple[str, ...] = ()  # the student's names it reads (fetched from their kernel by the judge)


@dataclass(frozen=True)
class TestCell:
    """An autograded test cell of the master notebook."""

    __test__ = False  # not a pytest test class

    grade_id: str
    points: float
    segments: tuple[Segment, ...]
    visible_code: str  # what feedback may show: hidden blocks replaced by a placeholder
    release_code: str = ""  # what the student's notebook holds: hidden blocks removed
    judged_in: str = "judge"  # "judge" (the judge process) or "student_kernel" (marked in the source)
    setup: tuple[int, ...] = ()  # the master's state cells it needs (indices into MasterNotebook.state_cells)

    @property
    def has_hidden(self) -> bool:
        return any(s.hidden for s in self.segments)


@dataclass(frozen=True)
class StateCell:
    """A cell of the master that is neither a solution nor a test: lesson state a test may read."""

    code: str
    reads: tuple[str, ...] = ()  # the student's names it reads


@dataclass(frozen=True)
class MasterNotebook:
    """One notebook of an assignment, as written by the instructor (``source/``)."""

    assignment: str
    name: str  # notebook name without .ipynb
    source_sha256: str
    tests: tuple[TestCell, ...]
    markdown: tuple[str, ...] = field(default=())  # the instructor's markdown (trusted, rendered)
    order: tuple[str, ...] = field(default=())  # grade ids of all nbgrader cells, in notebook order
    state_cells: tuple[StateCell, ...] = field(default=())  # the master's own non-solution, non-test cells

    @property
    def max_score(self) -> float:
        return float(sum(t.points for t in self.tests))

    def test(self, grade_id: str) -> TestCell | None:
        return next((t for t in self.tests if t.grade_id == grade_id), None)

    def judge_share(self) -> float:
        """The share of auto-graded points judged by the judge process (1.0 without tests)."""
        if self.max_score <= 0:
            return 1.0
        return sum(t.points for t in self.tests if t.judged_in == "judge") / self.max_score

    def hidden_lines(self) -> list[str]:
        """Lines of hidden test code worth scrubbing from anything shown to students."""
        lines = set()
        for test in self.tests:
            for seg in test.segments:
                if seg.hidden:
                    lines.update(ln.strip() for ln in seg.code.splitlines() if len(ln.strip()) >= 12)
        return sorted(lines, key=len, reverse=True)


def is_autograder_test(cell: Any) -> bool:
    """An nbgrader autograded test: a graded code cell that is not a solution."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def split_hidden(code: str) -> list[Segment]:
    """Split a test cell at its ``### BEGIN/END HIDDEN TESTS`` markers.

    Returns the non-empty pieces in order. When a piece is not valid Python on
    its own (a hidden block inside an indented block), the whole cell becomes a
    single hidden segment: correct grading matters more than telling visible
    and hidden checks apart.
    """
    segments: list[Segment] = []
    current: list[str] = []
    hidden = False
    for line in code.splitlines():
        marker = line.strip().lstrip("#").strip()
        if marker in (BEGIN_HIDDEN, END_HIDDEN):
            _flush(segments, current, hidden)
            current, hidden = [], marker == BEGIN_HIDDEN
            continue
        current.append(line)
    _flush(segments, current, hidden)
    indented_marker = any(ln[:1].isspace() and ln.strip().lstrip("#").strip() in (BEGIN_HIDDEN, END_HIDDEN)
                          for ln in code.splitlines())
    if len(segments) > 1 and (indented_marker or not all(_compiles(s.code) for s in segments)):
        whole = "\n".join(ln for ln in code.splitlines()
                          if ln.strip().lstrip("#").strip() not in (BEGIN_HIDDEN, END_HIDDEN))
        return [Segment(whole, True)]
    return segments


def _flush(segments: list[Segment], lines: list[str], hidden: bool) -> None:
    code = "\n".join(lines).strip("\n")
    meaningful = [ln for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if meaningful:
        segments.append(Segment(code, hidden))


def _compiles(code: str) -> bool:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        compile(TransformerManager().transform_cell(code), "<test cell>", "exec")
        return True
    except SyntaxError:
        return False


def visible_code(code: str) -> str:
    """The test cell as students may see it: each hidden block becomes one placeholder line."""
    out: list[str] = []
    hidden = False
    for line in code.splitlines():
        marker = line.strip().lstrip("#").strip()
        if marker == BEGIN_HIDDEN:
            hidden = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + HIDDEN_PLACEHOLDER)
            continue
        if marker == END_HIDDEN:
            hidden = False
            continue
        if not hidden:
            out.append(line)
    return "\n".join(out)


def release_code(code: str) -> str:
    """The test cell as released to students: hidden blocks and their markers removed."""
    return "\n".join(ln for ln in visible_code(code).splitlines() if ln.strip() != HIDDEN_PLACEHOLDER)


def same_code(a: str, b: str) -> bool:
    """Equal up to blank lines and trailing spaces (what editors and nbgrader may change)."""
    def norm(text: str) -> list[str]:
        return [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return norm(a) == norm(b)


def read_master(path: Path, assignment: str) -> MasterNotebook:
    """The master notebook at ``path`` (``source/ASSIGNMENT/NAME.ipynb``)."""
    import nbformat  # lazily: workers use this module without reading notebooks

    from .lesson_state import analyse, judged_in_student_kernel, student_reads

    raw = path.read_bytes()
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    analysis = analyse(
        code_cells,
        lambda c: str(c.metadata.nbgrader["grade_id"]) if is_autograder_test(c) else None,
        lambda c: bool(c.get("metadata", {}).get("nbgrader", {}).get("solution")))
    students = analysis.student_names
    tests = []
    for cell in code_cells:
        if is_autograder_test(cell):
            meta = cell.metadata.nbgrader
            grade_id = str(meta["grade_id"])
            segments = tuple(Segment(s.code, s.hidden, tuple(student_reads(s.code, students)))
                             for s in split_hidden(cell.source))
            tests.append(TestCell(grade_id, float(meta.get("points", 0)), segments,
                                  visible_code(cell.source), release_code(cell.source),
                                  "student_kernel" if judged_in_student_kernel(cell.source) else "judge",
                                  analysis.setup_of.get(grade_id, ())))
    markdown = tuple(c.source for c in nb.cells if c.cell_type == "markdown")
    order = tuple(str(c.metadata.nbgrader["grade_id"]) for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id"))
    state = tuple(StateCell(code, tuple(student_reads(code, students))) for code in analysis.state_cells)
    return MasterNotebook(assignment, path.stem, hashlib.sha256(raw).hexdigest(), tuple(tests),
                          markdown, order, state)


def master_cells(path: Path) -> Any:
    """The source notebook itself (solutions and hidden tests), outputs cleared."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb
