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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import nbformat

from .config import CourseConfig
from .course import Course
from .discover import Submission, SubmissionLayoutError, discover, extract_archive
from .executors import Executor
from .master import MasterNotebook, read_master
from .notebook_io import atomic_write_text
from .reference import (SolutionFailsError, load_cached_reference, reference_or_error, reference_plan,
                        store_reference)
from .release import ReleaseError, nbgrader_generate
from .sandbox import RunSettings, SandboxUnavailable, require_sandbox
from .steps.execute import report_from_dict
from .steps.feedback import render_feedback
from .steps.judge import Judgement, Reference, judge, judgement_from_dict
from .steps.plan import execution_plan
from .steps.record import AssignmentRow, GradebookWriter, NotebookGrade, assignment_rows, write_grades_csv
from .steps.validate import InvalidSubmission, load_submission
from .summary import progress_bar, summary_text
from .worker import grade_job, run_plan_job, settings_to_dict

if TYPE_CHECKING:  # nbgrader (behind restore) is imported only once the workers are started
    from .steps.restore import Restoration


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


@dataclass
class GradeRun:
    """The outcome of a batch."""

    rows: list[AssignmentRow]
    grades: list[NotebookGrade]
    seconds: float
    grader_errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.grader_errors and all(r.status != "error" for r in self.rows)


@dataclass
class Assignment:
    """One assignment's masters and reference records, ready for grading."""

    name: str
    masters: dict[str, MasterNotebook]
    references: dict[str, Reference]
    sources: dict[str, Path] = field(default_factory=dict)


def load_assignment(course: Course, name: str) -> Assignment:
    """Read an assignment's masters and its cached reference records (no gradebook, no nbgrader).

    Missing reference records are computed by the executor (see :class:`_Batch`).
    """
    masters, references, sources = {}, {}, {}
    for path in course.source_notebooks(name):
        master = read_master(path, name)
        masters[master.name] = master
        sources[master.name] = path
        cached = load_cached_reference(path, master)
        if cached is not None:
            references[master.name] = cached
    return Assignment(name, masters, references, sources)


def record_assignment(course: Course, name: str, options: GradeOptions) -> None:
    """Record the assignment in the gradebook, nbgrader's own way: what restoring reads."""
    with tempfile.TemporaryDirectory(prefix="autograder-master-") as tmp:
        nbgrader_generate(course.source_dir / name, name, Path(tmp), options.gradebook_url)


def prepare_assignment(course: Course, name: str, options: GradeOptions) -> Assignment:
    """Record the assignment in the gradebook and read its masters and cached references."""
    record_assignment(course, name, options)
    return load_assignment(course, name)


@dataclass
class Pending:
    """A submission between preparation and its result."""

    submission: Submission
    master: MasterNotebook | None
    restoration: Restoration | None = None
    plan: list[dict] | None = None
    grade: NotebookGrade | None = None  # set at once for invalid / missing


def prepare_submission(sub: Submission, assignment: Assignment | None, options: GradeOptions) -> Pending:
    """Validate and restore one submission (parent side); decide invalid / missing at once."""
    master = assignment.masters.get(sub.notebook) if assignment else None
    base = dict(student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                timestamp=sub.timestamp)
    if master is None:
        return Pending(sub, None, grade=NotebookGrade(
            status="invalid", detail=f"there is no assignment named {sub.assignment!r} in source/", **base))
    zero = {t.grade_id: 0.0 for t in master.tests}
    if sub.path is None:
        return Pending(sub, master, grade=NotebookGrade(
            status="missing", points=zero, max_score=master.max_score,
            detail=f"no notebook {sub.notebook}.ipynb was submitted", **base))
    try:
        nb = load_submission(sub.path)
    except InvalidSubmission as exc:
        return Pending(sub, master, grade=NotebookGrade(
            status="invalid", points=zero, max_score=master.max_score, detail=str(exc), **base))
    from .steps.restore import restore_from_master

    try:
        restoration = restore_from_master(nb, master, options.gradebook_url)
    except Exception as exc:  # nbgrader could not make sense of the cells' metadata
        return Pending(sub, master, grade=NotebookGrade(
            status="invalid", points=zero, max_score=master.max_score,
            detail=f"the notebook's cells could not be matched with the assignment ({type(exc).__name__}: "
                   f"{str(exc)[:200]}); download the assignment again and copy your answers into it", **base))
    return Pending(sub, master, restoration, execution_plan(restoration.notebook, master))


def make_job(pending: Pending, reference: Reference | None, options: GradeOptions) -> dict[str, Any]:
    """The worker's job for ``pending``; without ``reference`` the worker only executes it
    (the parent judges it once the reference is known)."""
    return {"key": pending.submission.key, "plan": pending.plan, "master": pending.master.to_dict(),
            "reference": reference, "settings": settings_to_dict(options.settings)}


def finish(pending: Pending, result: dict[str, Any], options: GradeOptions,
           reference: Reference | None = None) -> NotebookGrade:
    """Turn a worker's result into a grade, the feedback page and the executed notebook.

    A result without a judgement (executed before the reference was known) is
    judged here against ``reference``.
    """
    sub, master = pending.submission, pending.master
    base = dict(student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                timestamp=sub.timestamp, max_score=master.max_score)
    flags: list[str] = []
    if pending.restoration.changed:
        flags.append("tests_restored")
    if sub.renamed_from:
        flags.append("renamed")
    if "error" in result:
        return NotebookGrade(status="error", points={t.grade_id: 0.0 for t in master.tests},
                             flags=flags + ["grader_error"], detail=result["error"], **base)
    report = report_from_dict(result["report"])
    if result.get("judgement") is not None:
        judgement = judgement_from_dict(result["judgement"])
    elif reference is not None:
        judgement = judge(report, pending.plan, master, reference)
    else:
        raise ValueError(f"{sub.key} was executed but neither judged nor given a reference")
    flags += [f for f in judgement.flags if f not in flags]
    if not report.started:
        return NotebookGrade(status="error", points={t.grade_id: 0.0 for t in master.tests},
                             flags=flags + ["grader_error"],
                             detail=f"the sandbox could not start a kernel: {report.message[:300]}", **base)
    notes = pending.restoration.notes
    grade = NotebookGrade(status="graded", points={t.grade_id: t.points for t in judgement.tests},
                          flags=flags, detail="; ".join(notes)[:500], **base)
    write_feedback(grade, master, pending.restoration.notebook, report.cells, judgement, options.out)
    write_autograded(pending.restoration.notebook, report.cells, sub, options.out)
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


def write_autograded(restored: Any, cells: dict, sub: Submission, out: Path) -> None:
    """The executed notebook, for the instructor only (it contains the hidden tests)."""
    nb = copy.deepcopy(restored)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            result = cells.get(index)
            cell.outputs = [nbformat.from_dict(o) for o in result.outputs] if result else []
            cell.execution_count = None
    path = out / "autograded" / sub.student / sub.assignment / f"{sub.notebook}.ipynb"
    atomic_write_text(path, nbformat.writes(nb))


def grade_submissions(submitted: Path, course: Course, options: GradeOptions,
                      log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> GradeRun:
    """Grade every submission under ``submitted``; write OUT/grades.csv, feedback and the gradebook."""
    start = time.monotonic()
    require_sandbox(options.settings.unsafe)
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-archive-") as unpacked:
        folder = submitted
        if submitted.is_file() and submitted.suffix.lower() == ".zip":
            folder = extract_archive(submitted, Path(unpacked))
        subs = discover(folder, course, options.assignment)
        if not subs:
            log(f"No submissions found in {submitted} (expected STUDENT/ASSIGNMENT/NOTEBOOK.ipynb).")
        names = sorted({s.assignment for s in subs if s.known_assignment})
        for name in sorted({s.assignment for s in subs if not s.known_assignment}):
            log(f"Warning: submissions for {name!r}, which is not an assignment in {course.source_dir}.")
        return _Batch(subs, options, log).run(course, names, start)


class _Batch:
    """One grading run: start the workers, keep them busy, collect every result.

    The order is chosen so that no worker waits on the parent longer than it
    must: workers are started and missing reference runs submitted first (they
    need only the masters), then the parent loads nbgrader and records the
    assignments, then each submission is sent as soon as it is restored. A
    submission whose reference is not known yet is executed without judging
    (``reference`` None in its job) and judged here when the reference arrives.
    """

    def __init__(self, subs: list[Submission], options: GradeOptions, log: Callable[[str], None]) -> None:
        self.subs, self.options, self.log = subs, options, log
        self.assignments: dict[str, Assignment] = {}
        self.executor: Executor | None = None
        self.running: dict[Any, tuple[str, Any]] = {}  # future -> ("reference", (assignment, notebook, plan)) | ("grade", Pending)
        self.unjudged: dict[tuple[str, str], list[tuple[Pending, dict]]] = {}  # executed, waiting for a reference
        self.failed_refs: dict[tuple[str, str], str] = {}
        self.grades: list[NotebookGrade] = []
        self.errors: list[str] = []
        self.gradebook: GradebookWriter | None = None
        self.bar: Any = None

    def run(self, course: Course, names: list[str], start: float) -> GradeRun:
        self.bar = progress_bar(len(self.subs), self.options.progress)
        try:
            self.assignments = {name: load_assignment(course, name) for name in names}
            if any(s.known_assignment and s.path is not None for s in self.subs):
                self.executor = Executor(self.options)
                self.executor.warm_up()
                self._submit_reference_runs()
            for name in names:
                self.log(f"Preparing {name}: recording it in the gradebook...")
                record_assignment(course, name, self.options)
            with GradebookWriter(self.options.gradebook_url) as self.gradebook:
                for sub in self.subs:
                    self._prepare_and_send(sub)
                self._collect()
        finally:
            if self.executor is not None:
                self.executor.close()
            self.bar.close()
        self.errors += [f"{a}/{n}: {reason}" for (a, n), reason in self.failed_refs.items()]
        rows = assignment_rows(self.grades)
        write_grades_csv(self.options.out / "grades.csv", rows)
        return GradeRun(rows, self.grades, time.monotonic() - start, self.errors)

    def _submit_reference_runs(self) -> None:
        for assignment in self.assignments.values():
            for nb_name, master in assignment.masters.items():
                if nb_name in assignment.references:
                    continue
                self.log(f"Running the solution of {assignment.name}/{nb_name} for its reference records...")
                plan = reference_plan(assignment.sources[nb_name], master)
                job = {"key": f"reference/{assignment.name}/{nb_name}", "plan": plan,
                       "settings": settings_to_dict(self.options.settings)}
                self.running[self.executor.submit(run_plan_job, job)] = ("reference", (assignment.name, nb_name, plan))

    def _done(self, grade: NotebookGrade, pending: Pending) -> None:
        if grade.status in ("invalid", "missing", "error"):
            write_feedback(grade, pending.master, None, None, None, self.options.out)
        self.gradebook.record(grade)
        self.grades.append(grade)
        if grade.status == "error":
            self.errors.append(f"{pending.submission.key}: {grade.detail}")
        self.bar.update(1)

    def _fail(self, pending: Pending, reason: str) -> None:
        sub = pending.submission
        self._done(NotebookGrade(student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                                 status="error", points={t.grade_id: 0.0 for t in pending.master.tests},
                                 max_score=pending.master.max_score, flags=["grader_error"], detail=reason),
                   pending)

    def _prepare_and_send(self, sub: Submission) -> None:
        try:
            pending = prepare_submission(sub, self.assignments.get(sub.assignment), self.options)
        except Exception as exc:  # the parent's own failure on this one file
            pending = Pending(sub, None, grade=NotebookGrade(
                student=sub.student, assignment=sub.assignment, notebook=sub.notebook,
                status="error", flags=["grader_error"], detail=f"{type(exc).__name__}: {exc}"))
        if pending.grade is not None:
            self._done(pending.grade, pending)
            return
        key = (sub.assignment, sub.notebook)
        if key in self.failed_refs:
            self._fail(pending, f"the solution could not be run for reference: {self.failed_refs[key]}"[:500])
            return
        reference = self.assignments[sub.assignment].references.get(sub.notebook)
        job = make_job(pending, reference, self.options)
        self.running[self.executor.submit(grade_job, job)] = ("grade", pending)

    def _collect(self) -> None:
        while self.running:
            for future in self.executor.wait_any(self.running):
                kind, item = self.running.pop(future)
                try:
                    result = self.executor.result(future)
                except Exception as exc:  # a worker process died: the grader's failure
                    result = {"error": f"worker failed: {type(exc).__name__}: {exc}"}
                if kind == "grade":
                    self._graded(item, result)
                else:
                    self._referenced(item, result)

    def _graded(self, pending: Pending, result: dict) -> None:
        sub = pending.submission
        key = (sub.assignment, sub.notebook)
        judged = "error" in result or result.get("judgement") is not None
        reference = self.assignments[sub.assignment].references.get(sub.notebook)
        if not judged and key in self.failed_refs:
            self._fail(pending, f"the solution could not be run for reference: {self.failed_refs[key]}"[:500])
        elif not judged and reference is None:
            self.unjudged.setdefault(key, []).append((pending, result))
        else:
            self._finish(pending, result, reference)

    def _finish(self, pending: Pending, result: dict, reference: Reference | None) -> None:
        try:
            grade = finish(pending, result, self.options, reference)
        except Exception as exc:  # judging or writing this one failed: its row says so
            self._fail(pending, f"{type(exc).__name__}: {exc}"[:500])
            return
        self._done(grade, pending)

    def _referenced(self, item: tuple[str, str, list[dict]], result: dict) -> None:
        name, nb_name, plan = item
        assignment = self.assignments[name]
        try:
            if "error" in result:
                raise SolutionFailsError(result["error"])
            reference = reference_or_error(report_from_dict(result["report"]), plan,
                                           assignment.sources[nb_name])
        except SolutionFailsError as exc:
            self.log(str(exc))
            self.failed_refs[(name, nb_name)] = str(exc).splitlines()[0]
            for pending, _ in self.unjudged.pop((name, nb_name), []):
                self._fail(pending, f"the solution could not be run for reference: {exc}"[:500])
            return
        store_reference(assignment.sources[nb_name], assignment.masters[nb_name], reference)
        assignment.references[nb_name] = reference
        for pending, executed in self.unjudged.pop((name, nb_name), []):
            self._finish(pending, executed, reference)


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
