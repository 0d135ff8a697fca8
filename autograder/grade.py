"""``autograder grade``: the whole batch, from a folder of submissions to grades.

The parent process validates and restores every submission (cheap, trusted,
needs the gradebook), fans the sandboxed execution and judging out to a local
process pool or a Dask cluster (:func:`autograder.worker.grade_job`), and
writes every result itself: feedback pages, executed notebooks for the
instructor, the gradebook and ``grades.csv``. One bad submission never stops
the batch: it gets its row with a status and flags.

Nothing waits that need not: the workers start, and the solution's reference
run begins, before the parent has loaded nbgrader and recorded the assignment;
submissions are executed while the reference is still running, and those are
judged here, in the parent, as soon as it is known.
"""
from __future__ import annotations

import copy
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import nbformat

from .config import CourseConfig, from_config
from .course import Course
from .discover import Submission, SubmissionLayoutError, discover, extract_archive
from .executors import Executor, lost_worker
from .formgrade import literal_markdown
from .export import add_gradebook_scores
from .gradebook_lock import GradebookLock, prepare_gradebook
from .master import MasterNotebook, read_master
from .notebook_io import atomic_write_text
from .reference import (SolutionFailsError, load_cached_reference, reference_or_error, reference_plan,
                        store_reference)
from .release import ReleaseError, nbgrader_generate
from .report import save_result, write_report
from .sandbox import RunSettings, SandboxUnavailable, enforced_limits, require_sandbox
from .steps.feedback import memory_note, render_feedback
from .steps.judge import Judgement, Reference, judge
from .steps.plan import execution_plan
from .steps.record import AssignmentRow, GradebookWriter, NotebookGrade, assignment_rows, write_grades_csv
from .steps.validate import InvalidSubmission, load_submission
from .summary import GradeRun, progress_bar, summary_text
from .worker import grade_job, run_plan_job

if TYPE_CHECKING:  # nbgrader (behind restore) is imported only once the workers are started
    from .steps.restore import Restoration


MAX_ATTEMPTS = 3  # a job whose worker died is sent again, up to this many times in all


@dataclass
class GradeOptions:
    """Everything ``autograder grade`` was asked to do."""

    out: Path
    assignment: str | None = None
    workers: int = 0  # 0: number of cores
    settings: RunSettings = field(default_factory=RunSettings)
    executor: str = "local"  # local | dask
    scheduler: str | None = None
    db_url: str | None = None
    progress: bool = False
    config: CourseConfig | None = None  # the course's settings (due dates, late policy); None: defaults

    @property
    def gradebook_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.out / 'gradebook.db').resolve()}"

    @property
    def course_config(self) -> CourseConfig:
        if self.config is None:
            self.config = from_config()
        return self.config


@dataclass
class Assignment:
    """One assignment's masters and reference records, ready for grading."""

    name: str
    masters: dict[str, MasterNotebook]
    references: dict[str, Reference]
    sources: dict[str, Path] = field(default_factory=dict)


def load_assignment(course: Course, name: str, settings: RunSettings) -> Assignment:
    """Read an assignment's masters and its reference records cached for ``settings``
    (no gradebook, no nbgrader).

    Missing reference records are computed by the executor (see :class:`_Batch`).
    """
    masters, references, sources = {}, {}, {}
    for path in course.source_notebooks(name):
        master = read_master(path, name)
        masters[master.name] = master
        sources[master.name] = path
        cached = load_cached_reference(path, master, settings)
        if cached is not None:
            references[master.name] = cached
    return Assignment(name, masters, references, sources)


def record_assignment(course: Course, name: str, options: GradeOptions) -> None:
    """Record the assignment in the gradebook, nbgrader's own way: what restoring reads."""
    lock = GradebookLock(options.gradebook_url)
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-master-") as tmp, lock.hold():
            nbgrader_generate(course.source_dir / name, name, Path(tmp), options.gradebook_url,
                              options.course_config.course_id)
    finally:
        lock.close()


@dataclass
class Pending:
    """A submission between preparation and its result."""

    submission: Submission
    master: MasterNotebook | None
    restoration: Restoration | None = None
    plan: list[dict] | None = None
    grade: NotebookGrade | None = None  # set at once for invalid / missing


def _zero(master: MasterNotebook | None) -> dict[str, float]:
    return {t.grade_id: 0.0 for t in master.tests} if master else {}


def prepare_submission(sub: Submission, assignment: Assignment | None, options: GradeOptions,
                       root: Path | None = None) -> Pending:
    """Validate and restore one submission (parent side); decide invalid / missing at once.

    What the student's file causes (unreadable, a link, not a notebook, cells
    nbgrader cannot match) is ``invalid`` with the reason; anything else raised
    here is the grader's own fault and propagates (the batch records it as
    ``error`` with the traceback in the grader's log). ``root`` is the
    submissions folder the file must lie under.
    """
    master = assignment.masters.get(sub.notebook) if assignment else None
    base = dict(student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                timestamp=sub.timestamp)
    if master is None:
        return Pending(sub, None, grade=NotebookGrade(
            status="invalid", detail=f"{sub.assignment!r} is not an assignment of this course: "
                                     "hand the notebook in under the assignment's own folder name", **base))
    if sub.path is None:
        return Pending(sub, master, grade=NotebookGrade(
            status="missing", points=_zero(master), max_score=master.max_score,
            detail=f"no notebook {sub.notebook}.ipynb was submitted", **base))
    try:
        nb = load_submission(sub.path, root=root)
    except InvalidSubmission as exc:
        return Pending(sub, master, grade=NotebookGrade(
            status="invalid", points=_zero(master), max_score=master.max_score, detail=str(exc), **base))
    from nbgrader.nbgraderformat import ValidationError
    from nbgrader.nbgraderformat.common import SchemaMismatchError

    from .steps.restore import restore_from_master

    try:
        restoration = restore_from_master(nb, master, options.gradebook_url)
    except (ValidationError, SchemaMismatchError) as exc:  # the cells' nbgrader metadata, not the grader
        return Pending(sub, master, grade=NotebookGrade(
            status="invalid", points=_zero(master), max_score=master.max_score,
            detail=f"the notebook's cells could not be matched with the assignment ({type(exc).__name__}: "
                   f"{str(exc)[:200]}); download the assignment again and copy your answers into it", **base))
    return Pending(sub, master, restoration, execution_plan(restoration.notebook, master))


def make_job(pending: Pending, reference: Reference | None, options: GradeOptions) -> dict[str, Any]:
    """The worker's job for ``pending``; without ``reference`` the worker only executes it
    (the parent judges it once the reference is known)."""
    return {"key": pending.submission.key, "plan": pending.plan, "master": pending.master,
            "reference": reference, "settings": options.settings}


class GraderFault(RuntimeError):
    """The grader (not the submission) failed on one notebook; ``trace`` is its traceback."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


def grade_from_result(pending: Pending, result: dict[str, Any], options: GradeOptions,
                      reference: Reference | None = None) -> NotebookGrade:
    """Turn a worker's result into a grade, the feedback page and the executed notebook.

    A result without a judgement (executed before the reference was known) is
    judged here against ``reference``. Raises :class:`GraderFault` when the
    worker reported its own failure.
    """
    sub, master = pending.submission, pending.master
    if "error" in result:
        raise GraderFault(f"worker failed: {result['error']}", str(result.get("traceback", "")))
    base = dict(student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                timestamp=sub.timestamp, max_score=master.max_score)
    flags: list[str] = []
    if pending.restoration.changed:
        flags.append("tests_restored")
    if sub.renamed_from:
        flags.append("renamed")
    report = result["report"]
    if result.get("judgement") is not None:
        judgement = result["judgement"]
    elif reference is not None:
        judgement = judge(report, pending.plan, master, reference)
    else:
        raise ValueError(f"{sub.key} was executed but neither judged nor given a reference")
    if not report.started:
        raise GraderFault(f"the sandbox could not start a kernel: {report.message[:300]}")
    flags += [f for f in judgement.flags if f not in flags]
    notes = list(pending.restoration.notes)
    if "memory_limit" in flags:  # first: the detail is cut at 500 characters
        notes.insert(0, memory_note(options.settings.limits.memory_mb))
    in_kernel = [t.grade_id for t in judgement.tests if t.judged_in == "student_kernel"]
    if in_kernel:
        notes.append(f"judged in the student's kernel: {', '.join(in_kernel)}")
    grade = NotebookGrade(status="graded", points={t.grade_id: t.points for t in judgement.tests},
                          flags=flags, detail="; ".join(notes)[:500], judgement=judgement,
                          seconds=float(result.get("seconds") or report.wall_seconds or 0.0), **base)
    write_feedback(grade, master, pending.restoration.notebook, report.cells, judgement, options.out)
    write_autograded(pending.restoration.notebook, report.cells, sub, options.out, master, judgement)
    return grade


def write_feedback(grade: NotebookGrade, master: MasterNotebook | None, restored: Any, cells: Any,
                   judgement: Judgement | None, out: Path) -> None:
    if master is None:
        return
    page = render_feedback(student=grade.student, assignment=grade.assignment, notebook=grade.notebook,
                           status=grade.status, score=grade.score, max_score=grade.max_score,
                           flags=grade.flags, detail=grade.detail, master=master, restored=restored,
                           cells=cells, judgement=judgement)
    atomic_write_text(feedback_path(out, grade.student, grade.assignment, grade.notebook), page)


def feedback_path(out: Path, student: str, assignment: str, notebook: str) -> Path:
    return out / "feedback" / student / assignment / f"{notebook}.html"


# Output types an instructor's tool (nbgrader's formgrader, JupyterLab) would render as
# active content in its own origin; a student's notebook must not put any there.
ACTIVE_MIME = ("text/html", "image/svg+xml", "application/javascript", "text/javascript",
               "text/markdown", "text/latex")
REMOVED_HTML = "[HTML output removed by the autograder: it came from the submission]"


def inert_outputs(outputs: list[dict]) -> list[dict]:
    """``outputs`` without active content: HTML, SVG, JavaScript and markdown bundles are dropped.

    A bundle left with nothing else gets a plain-text note, so that the
    instructor sees that something was shown there.
    """
    kept = []
    for output in outputs:
        data = output.get("data")
        if isinstance(data, dict) and any(m in data for m in ACTIVE_MIME):
            data = {k: v for k, v in data.items() if k not in ACTIVE_MIME}
            output = {**output, "data": data or {"text/plain": REMOVED_HTML}, "metadata": {}}
        kept.append(output)
    return kept


def write_autograded(restored: Any, cells: dict, sub: Submission, out: Path,
                     master: MasterNotebook | None = None, judgement: Judgement | None = None) -> None:
    """The executed notebook, for the instructor only (it contains the hidden tests).

    Each test cell's metadata says where it was judged (``dlbricks.judged_in``),
    and a test judged in the student's kernel says so in its first output.

    Outputs keep no active content (see :func:`inert_outputs`), and the
    student's markdown cells become literal text (:func:`~autograder.formgrade.literal_markdown`):
    formgrader renders both in the instructor's Jupyter origin.
    """
    nb = copy.deepcopy(restored)
    master_md = set(master.markdown) if master is not None else set()
    where = {t.grade_id: t.judged_in for t in judgement.tests} if judgement else {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            result = cells.get(index)
            cell.outputs = [nbformat.from_dict(o) for o in inert_outputs(result.outputs)] if result else []
            cell.execution_count = None
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in where:
                cell.metadata["dlbricks"] = {"judged_in": where[grade_id]}
                if where[grade_id] == "student_kernel":
                    cell.outputs.insert(0, nbformat.v4.new_output(
                        "stream", name="stderr", text="[autograder] judged in the student's kernel\n"))
        elif cell.cell_type == "markdown" and cell.source not in master_md:
            # the student's own text (a written answer is an nbgrader cell too) is shown as text,
            # never rendered: no HTML, javascript: link or outside image reaches the formgrader
            cell.source = literal_markdown(cell.source)
            cell.pop("attachments", None)
    path = out / "autograded" / sub.student / sub.assignment / f"{sub.notebook}.ipynb"
    atomic_write_text(path, nbformat.writes(nb))


def grade_submissions(submitted: Path, course: Course, options: GradeOptions,
                      log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> GradeRun:
    """Grade every submission under ``submitted``; write OUT/grades.csv, feedback and the gradebook.

    Stray entries (a folder that is no assignment, a loose file) are notes of
    the run. Whatever fails part-way, ``grades.csv`` is written with a row for
    every submission found (``error`` where no grade came back) and every
    grader fault's traceback goes to ``OUT/grader.log``.
    """
    start = time.monotonic()
    require_sandbox(options.settings.unsafe)
    for line in enforced_limits(options.settings):  # what this machine lets the sandbox enforce
        log(f"Sandbox: {line}")
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-archive-") as unpacked:
        folder = submitted
        deadlines = options.course_config.deadlines
        if submitted.is_file() and submitted.suffix.lower() == ".zip":
            folder = extract_archive(submitted, Path(unpacked), deadlines.timezone)
        notes: list[str] = []
        subs = discover(folder, course, options.assignment, notes, deadlines.submission_time)
        if not subs:
            log(f"No submissions found in {submitted} (expected STUDENT/ASSIGNMENT/NOTEBOOK.ipynb).")
        for note in notes:
            log(f"Note: {note}")
        names = sorted({s.assignment for s in subs if s.known_assignment})
        return _Batch(subs, options, log, folder, notes).run(course, names, start)


class _Batch:
    """One grading run: start the workers, keep them busy, collect every result.

    The order is chosen so that no worker waits on the parent longer than it
    must: workers are started and missing reference runs submitted first (they
    need only the masters), then the parent loads nbgrader and records the
    assignments, then each submission is sent as soon as it is restored. A
    submission whose reference is not known yet is executed without judging
    (``reference`` None in its job) and judged here when the reference arrives.

    Every submission ends in :meth:`_record` exactly once: its grade goes to the
    gradebook (isolated: a failure there is that row's ``error``), the list
    behind ``grades.csv``, and the progress bar.
    """

    def __init__(self, subs: list[Submission], options: GradeOptions, log: Callable[[str], None],
                 root: Path | None = None, notes: list[str] | None = None) -> None:
        self.subs, self.options, self.log, self.root = subs, options, log, root
        self.notes = list(notes or [])
        self.assignments: dict[str, Assignment] = {}
        self.executor: Executor | None = None
        self.running: dict[Any, tuple[str, Any]] = {}  # future -> ("reference", (assignment, notebook, plan)) | ("grade", Pending)
        self.unjudged: dict[tuple[str, str], list[tuple[Pending, dict]]] = {}  # executed, waiting for a reference
        self.failed_refs: dict[tuple[str, str], str] = {}
        self.unrecordable: dict[str, str] = {}  # assignment -> why it is not in the gradebook
        self.grades: list[NotebookGrade] = []
        self.recorded: set[str] = set()
        self.errors: list[str] = []
        self.gradebook: GradebookWriter | None = None
        self.bar: Any = None

    def run(self, course: Course, names: list[str], start: float) -> GradeRun:
        self.bar = progress_bar(len(self.subs), self.options.progress)
        try:
            self._run(course, names)
        except Exception as exc:  # the grader itself failed: every submission still gets its row
            self.errors.append(f"the grader stopped: {type(exc).__name__}: {exc}")
            self._grader_fault(self.errors[-1], traceback.format_exc())
        finally:
            try:
                self._record_unfinished()
            finally:
                if self.executor is not None:
                    self.executor.close()
                if self.gradebook is not None:
                    self.gradebook.close()
                self.bar.close()
                self.errors += [f"{a}/{n}: {reason}" for (a, n), reason in self.failed_refs.items()]
                rows = self._final_rows()
                write_grades_csv(self.options.out / "grades.csv", rows)
        try:  # the report is a view of the run: failing to draw it loses no grade
            write_report(self.options.out)
        except Exception as exc:
            self._grader_fault(f"the class report could not be written: {exc}", traceback.format_exc())
        return GradeRun(rows, self.grades, time.monotonic() - start, self.errors, self.notes)

    def _final_rows(self) -> list[AssignmentRow]:
        """The run's rows with the written answers' points and maxima from the gradebook."""
        rows = assignment_rows(self.grades)
        try:
            return add_gradebook_scores(rows, self.options.gradebook_url)
        except Exception as exc:  # the auto scores are still right: write them
            self._grader_fault(f"the manual scores could not be read from the gradebook: {exc}",
                               traceback.format_exc())
            return rows

    def _run(self, course: Course, names: list[str]) -> None:
        self.assignments = {name: load_assignment(course, name, self.options.settings) for name in names}
        if any(s.known_assignment and s.path is not None for s in self.subs):
            self.executor = Executor(self.options.executor, self.options.workers, self.options.scheduler)
            self.executor.warm_up()
            self._submit_reference_runs()
        if names:  # the schema and course rows, once, before any other write or read
            prepare_gradebook(self.options.gradebook_url, (self.options.course_config.course_id, "default_course"))
        for name in names:
            self.log(f"Preparing {name}: recording it in the gradebook...")
            try:
                record_assignment(course, name, self.options)
            except Exception as exc:  # this assignment's rows say why; the others go on
                self.unrecordable[name] = f"{type(exc).__name__}: {exc}"
                self._grader_fault(f"{name} could not be recorded in the gradebook: {exc}",
                                   traceback.format_exc())
        config = self.options.course_config
        self.gradebook = GradebookWriter(self.options.gradebook_url, config.late_penalty_plugin(), config.course_id)
        for name in names:
            if name not in self.unrecordable:
                self.gradebook.set_due_date(name, config.deadlines.due_date(name))
        for sub in self.subs:
            self._prepare_and_send(sub)
        self._collect()

    def _grader_fault(self, message: str, trace: str) -> None:
        """Log a fault of the grader itself: one line to the instructor, the traceback to OUT/grader.log."""
        self.log(f"Grader error: {message} (traceback in {self.options.out / 'grader.log'})")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.options.out / "grader.log", "a", encoding="utf-8") as fh:
            fh.write(f"[{stamp}] {message}\n{trace.rstrip()}\n\n")

    def _submit_reference_runs(self) -> None:
        for assignment in self.assignments.values():
            for nb_name, master in assignment.masters.items():
                if nb_name in assignment.references:
                    continue
                self.log(f"Running the solution of {assignment.name}/{nb_name} for its reference records...")
                plan = reference_plan(assignment.sources[nb_name], master)
                job = {"key": f"reference/{assignment.name}/{nb_name}", "plan": plan,
                       "settings": self.options.settings}
                self._send("reference", (assignment.name, nb_name, plan), run_plan_job, job)

    def _record(self, grade: NotebookGrade, pending: Pending) -> None:
        """The one place a submission's grade ends: gradebook, grades.csv list, feedback when not graded."""
        key = pending.submission.key
        if key in self.recorded:
            return
        self.recorded.add(key)
        problem = pending.submission.timestamp_problem
        if problem and grade.status != "missing":  # reported, never dropped: lateness is unknown
            grade.flags.append("timestamp_unreadable")
            grade.detail = "; ".join(d for d in (grade.detail, f"submission time unknown: {problem}") if d)
        if grade.status in ("invalid", "missing", "error"):
            try:
                write_feedback(grade, pending.master, None, None, None, self.options.out)
            except Exception as exc:
                self._grader_fault(f"{key}: the feedback page could not be written: {exc}",
                                   traceback.format_exc())
        if pending.submission.known_assignment and grade.assignment not in self.unrecordable:
            try:
                self.gradebook.record(grade)
            except Exception as exc:  # this row only: the next one gets a clean session
                self.gradebook.rollback()
                self._grader_fault(f"{key}: the gradebook could not be written: {exc}", traceback.format_exc())
                grade.status, grade.detail = "error", f"the gradebook could not be written: {exc}"[:500]
                grade.flags = list(dict.fromkeys(grade.flags + ["grader_error"]))
        try:
            save_result(self.options.out, grade)
        except Exception as exc:  # only the class report misses it
            self._grader_fault(f"{key}: its result record could not be written: {exc}", traceback.format_exc())
        self.grades.append(grade)
        if grade.status == "error":
            self.errors.append(f"{key}: {grade.detail}")
        self.bar.update(1)

    def _record_error(self, pending: Pending, reason: str, trace: str = "") -> None:
        """Record ``pending`` as the grader's failure (status ``error``), the traceback in the log."""
        sub = pending.submission
        if trace:
            self._grader_fault(f"{sub.key}: {reason}", trace)
        self._record(NotebookGrade(student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                                   status="error", points=_zero(pending.master),
                                   max_score=pending.master.max_score if pending.master else 0.0,
                                   flags=["grader_error"], detail=reason[:500], timestamp=sub.timestamp),
                     pending)

    def _record_unfinished(self) -> None:
        """Every submission without a grade yet: an ``error`` row saying the grader did not finish it."""
        for sub in self.subs:
            if sub.key in self.recorded:
                continue
            pending = Pending(sub, self.assignments[sub.assignment].masters.get(sub.notebook)
                              if sub.assignment in self.assignments else None)
            if self.gradebook is None:
                self.unrecordable.setdefault(sub.assignment, "the gradebook was not opened")
            self._record_error(pending, "the grader stopped before this notebook was graded; run the "
                                        "same command again to grade it")

    def _prepare_and_send(self, sub: Submission) -> None:
        if sub.assignment in self.unrecordable:
            pending = Pending(sub, self.assignments[sub.assignment].masters.get(sub.notebook))
            self._record_error(pending, f"the assignment could not be recorded in the gradebook: "
                                        f"{self.unrecordable[sub.assignment]}")
            return
        try:
            pending = prepare_submission(sub, self.assignments.get(sub.assignment), self.options, self.root)
        except Exception as exc:  # the parent's own failure on this one file
            master = self.assignments[sub.assignment].masters.get(sub.notebook) if sub.assignment in self.assignments else None
            self._record_error(Pending(sub, master), f"the grader failed to prepare this notebook: "
                                                    f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        if pending.grade is not None:
            self._record(pending.grade, pending)
            return
        key = (sub.assignment, sub.notebook)
        if key in self.failed_refs:
            self._record_error(pending, f"the solution could not be run for reference: {self.failed_refs[key]}")
            return
        reference = self.assignments[sub.assignment].references.get(sub.notebook)
        job = make_job(pending, reference, self.options)
        self._send("grade", pending, grade_job, job)

    def _send(self, kind: str, item: Any, function: Callable[[dict], dict], job: dict, attempt: int = 1) -> None:
        assignment = item.submission.assignment if kind == "grade" else item[0]
        future = self.executor.submit(function, job, name=f"{kind} {assignment}")
        self.running[future] = (kind, item, function, job, attempt)

    def _collect(self) -> None:
        while self.running:
            for future in self.executor.wait_any(self.running):
                kind, item, function, job, attempt = self.running.pop(future)
                try:
                    result = self.executor.result(future)
                except Exception as exc:  # a worker process died: the grader's failure
                    if lost_worker(exc) and attempt < MAX_ATTEMPTS:
                        # Every job the pool held fails with the one worker that died: send them again.
                        self.log(f"A worker was lost ({type(exc).__name__}); sending {job['key']} again.")
                        self._send(kind, item, function, job, attempt + 1)
                        continue
                    result = {"error": f"{type(exc).__name__}: {exc}"
                                       + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                              "traceback": traceback.format_exc()}
                if kind == "grade":
                    self._on_submission_result(item, result)
                else:
                    self._on_reference_result(item, result)

    def _on_submission_result(self, pending: Pending, result: dict) -> None:
        sub = pending.submission
        key = (sub.assignment, sub.notebook)
        judged = "error" in result or result.get("judgement") is not None
        reference = self.assignments[sub.assignment].references.get(sub.notebook)
        if not judged and key in self.failed_refs:
            self._record_error(pending, f"the solution could not be run for reference: {self.failed_refs[key]}")
        elif not judged and reference is None:
            self.unjudged.setdefault(key, []).append((pending, result))
        else:
            self._judge_and_record(pending, result, reference)

    def _judge_and_record(self, pending: Pending, result: dict, reference: Reference | None) -> None:
        try:
            grade = grade_from_result(pending, result, self.options, reference)
        except GraderFault as exc:
            self._record_error(pending, str(exc), exc.trace or traceback.format_exc())
            return
        except Exception as exc:  # judging or writing this one failed: its row says so
            self._record_error(pending, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        self._record(grade, pending)

    def _on_reference_result(self, item: tuple[str, str, list[dict]], result: dict) -> None:
        name, nb_name, plan = item
        assignment = self.assignments[name]
        try:
            if "error" in result:
                if result.get("traceback"):
                    self._grader_fault(f"reference run of {name}/{nb_name}: {result['error']}", result["traceback"])
                raise SolutionFailsError(result["error"])
            reference = reference_or_error(result["report"], plan, assignment.sources[nb_name],
                                           self.options.settings.limits.memory_mb)
        except SolutionFailsError as exc:
            self.log(str(exc))
            self.failed_refs[(name, nb_name)] = str(exc).splitlines()[0]
            for pending, _ in self.unjudged.pop((name, nb_name), []):
                self._record_error(pending, f"the solution could not be run for reference: {exc}")
            return
        store_reference(assignment.sources[nb_name], assignment.masters[nb_name], reference,
                        self.options.settings)
        assignment.references[nb_name] = reference
        for pending, executed in self.unjudged.pop((name, nb_name), []):
            self._judge_and_record(pending, executed, reference)


def options_from_args(args: Any, config: CourseConfig) -> GradeOptions:
    """What to do, from the resolved course configuration (flags already applied) and the
    options that belong to one run only (SUBMITTED, --out, --assignment, --unsafe)."""
    grading = config.grading
    return GradeOptions(out=Path(args.out).resolve(), assignment=args.assignment,
                        workers=grading.workers, settings=grading.run_settings(bool(args.unsafe)),
                        executor=grading.executor, scheduler=grading.scheduler or None,
                        db_url=config.db_url, config=config,
                        progress=sys.stderr.isatty() and not getattr(args, "no_progress", False))


def run_grade_command(args: Any, course: Course, config: CourseConfig) -> int:
    """``autograder grade``: returns the exit code (0 when every submission has its row)."""
    options = options_from_args(args, config)
    if options.settings.unsafe:
        print("Warning: --unsafe: student code runs WITHOUT a sandbox, with your rights.", file=sys.stderr)
    try:
        run = grade_submissions(Path(args.submitted), course, options)
    except SandboxUnavailable as exc:
        print(exc, file=sys.stderr)
        return 3
    except (SubmissionLayoutError, SolutionFailsError, ReleaseError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(summary_text(run, options.out))
    return 0 if run.ok else 1
