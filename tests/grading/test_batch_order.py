"""The batch's bookkeeping when results come back in an awkward order (no kernels involved).

Submissions are sent to the workers while the solution's reference run is
still going; they come back without a judgement and the parent judges them
once the reference arrives. A fake executor runs every job in-process and
hands the reference back last; executions are replaced by synthetic reports
whose check records depend only on the test code (plus, for one student, a
deliberately wrong value), so that what is judged, and where, is known.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import autograder.grade as grade_module
import autograder.worker as worker_module
from autograder.course import Course
from autograder.grade import GradeOptions, grade_submissions
from autograder.samples import write_submission
from autograder.sandbox import RunSettings
from autograder.steps.execute import CellResult, ExecutionReport, SegmentResult

from .conftest import FIXTURE_ASSIGNMENT
from .crafted import right_answers

pytestmark = pytest.mark.xdist_group("grading-batch-order")

WRONG_MARK = "# ben's relu"  # a code line only ben's submission contains


class _Done:
    """A finished future holding a job's result."""

    def __init__(self, kind: str, result: dict) -> None:
        self.kind, self._result = kind, result

    def result(self) -> dict:
        return self._result


class ReferenceLastExecutor:
    """Runs each job at once, in this process; reports the reference runs only after every grade job."""

    instances: list["ReferenceLastExecutor"] = []

    def __init__(self, kind: str = "local", workers: int = 0, scheduler: str | None = None) -> None:
        self.order: list[str] = []  # keys, in the order their results were handed back
        self.judged_in_worker: dict[str, bool] = {}
        self.names: dict[str, str] = {}  # job key -> the name the batch gave its task
        self.closed = False
        ReferenceLastExecutor.instances.append(self)

    def warm_up(self) -> None:
        pass

    def submit(self, function, job: dict, name: str = "") -> _Done:
        self.names[job["key"]] = name
        result = function(job)
        kind = "grade" if function.__name__ == "grade_job" else "reference"
        if kind == "grade":
            self.judged_in_worker[job["key"]] = result.get("judgement") is not None
        return _Done(kind, result)

    def wait_any(self, futures) -> list[_Done]:
        futures = list(futures)
        grades = [f for f in futures if f.kind == "grade"]
        chosen = grades[:1] or futures[:1]
        self.order += [f.result().get("key", "?") for f in chosen]
        return chosen

    @staticmethod
    def result(future: _Done) -> dict:
        return future.result()

    def close(self) -> None:
        self.closed = True


def synthetic_execution(plan: list[dict], settings: RunSettings) -> ExecutionReport:
    """Every planned cell ran; each test segment exported one truth record.

    The record's label is derived from the segment's code (the same for the
    solution and every submission: tests run from the master); its value is
    False only in a notebook that contains WRONG_MARK, for the relu test.
    """
    wrong = any(WRONG_MARK in seg["code"] for cell in plan for seg in cell["segments"] if not seg["test"])
    cells = {}
    for cell in plan:
        segments, status = [], "ok"
        for seg in cell["segments"]:
            records, error = [], None
            if seg["test"]:
                value = not (wrong and "relu" in seg["code"])
                label = hashlib.sha1(seg["code"].encode()).hexdigest()[:12]
                records = [{"check": "is_true", "label": label, "actual": value, "passed": value, "params": {}}]
                if not value:  # the check raised, as in a real kernel: the cell stops here
                    error, status = {"ename": "AssertionError", "evalue": f"{label}: not true"}, "error"
            segments.append(SegmentResult(seg["hidden"], seg["test"], status, error, records))
            if status != "ok":
                break
        cells[cell["index"]] = CellResult(cell["index"], status, segments, [], False, 0.0)
    return ExecutionReport(cells, "completed", True)


@pytest.fixture
def batch(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(grade_module, "Executor", ReferenceLastExecutor)
    monkeypatch.setattr(worker_module, "execute_plan", synthetic_execution)
    ReferenceLastExecutor.instances.clear()
    submitted = tmp_path / "submitted"
    right = right_answers()
    write_submission(submitted, "ann", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right)
    wrong = _with_marked_relu(right)
    write_submission(submitted, "ben", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, wrong)
    (submitted / "cat" / FIXTURE_ASSIGNMENT).mkdir(parents=True)  # nothing handed in
    options = GradeOptions(out=tmp_path / "out", settings=RunSettings(unsafe=True))
    return submitted, options


def _with_marked_relu(nb):
    from autograder.samples import with_cell

    return with_cell(nb, "relu", lambda source: source + "\n" + WRONG_MARK)


def _course() -> Course:
    from .conftest import FIXTURE_COURSE

    return Course(FIXTURE_COURSE)


def test_submissions_run_before_the_reference_are_judged_in_the_parent_when_it_arrives(batch):
    submitted, options = batch
    run = grade_submissions(submitted, _course(), options, log=lambda message: None)
    executor = ReferenceLastExecutor.instances[0]
    assert executor.closed
    # Both notebooks came back before the reference, unjudged; the parent judged them.
    assert executor.order[-1].startswith("reference/")
    assert executor.judged_in_worker == {f"ann/{FIXTURE_ASSIGNMENT}/{FIXTURE_ASSIGNMENT}": False,
                                         f"ben/{FIXTURE_ASSIGNMENT}/{FIXTURE_ASSIGNMENT}": False}
    # each task is named by what it does and its assignment (the Dask dashboard groups by it)
    assert executor.names == {f"{s}/{FIXTURE_ASSIGNMENT}/{FIXTURE_ASSIGNMENT}": f"{kind} {FIXTURE_ASSIGNMENT}"
                              for s, kind in (("ann", "grade"), ("ben", "grade"), ("reference", "reference"))}
    scores = {g.student: (g.status, g.score) for g in run.grades}
    assert scores == {"ann": ("graded", 5.0), "ben": ("graded", 4.0), "cat": ("missing", 0.0)}
    assert run.ok and not run.grader_errors
    ben_page = (options.out / "feedback" / "ben" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.html").read_text()
    assert "Score: 4 / 5" in ben_page


def test_with_the_reference_cached_the_workers_judge(batch):
    submitted, options = batch
    grade_submissions(submitted, _course(), options, log=lambda message: None)
    again = GradeOptions(out=options.out.parent / "again", settings=options.settings)
    run = grade_submissions(submitted, _course(), again, log=lambda message: None)
    executor = ReferenceLastExecutor.instances[-1]
    assert not any(key.startswith("reference/") for key in executor.order)
    assert all(executor.judged_in_worker.values()) and len(executor.judged_in_worker) == 2
    assert {g.student: g.score for g in run.grades} == {"ann": 5.0, "ben": 4.0, "cat": 0.0}


def test_a_failed_reference_fails_the_notebooks_already_executed(batch, monkeypatch):
    submitted, options = batch
    def run_plan_job(job: dict) -> dict:
        return {"key": job["key"], "error": "RuntimeError: the solution's kernel died"}

    monkeypatch.setattr(grade_module, "run_plan_job", run_plan_job)
    logged: list[str] = []
    run = grade_submissions(submitted, _course(), options, log=logged.append)
    rows = {g.student: g for g in run.grades}
    for student in ("ann", "ben"):
        assert rows[student].status == "error" and "grader_error" in rows[student].flags
        assert "could not be run for reference" in rows[student].detail
    assert rows["cat"].status == "missing"
    assert not run.ok and any("the solution's kernel died" in e for e in run.grader_errors)
    assert any("the solution's kernel died" in m for m in logged)
    assert ReferenceLastExecutor.instances[0].closed


def test_one_result_that_cannot_be_finished_does_not_stop_the_batch(batch, monkeypatch):
    submitted, options = batch
    real_grade_from_result = grade_module.grade_from_result

    def failing_for_ben(pending, result, options, reference=None):
        if pending.submission.student == "ben":
            raise OSError("disk full while writing feedback")
        return real_grade_from_result(pending, result, options, reference)

    monkeypatch.setattr(grade_module, "grade_from_result", failing_for_ben)
    run = grade_submissions(submitted, _course(), options, log=lambda message: None)
    rows = {g.student: g for g in run.grades}
    assert rows["ann"].status == "graded" and rows["ann"].score == 5.0
    assert rows["ben"].status == "error" and "disk full" in rows["ben"].detail
    assert Path(options.out / "grades.csv").read_text().count("\n") == 4  # header + 3 rows
