"""One graded class over every released lesson, shared by the tests that grade the real lessons.

Grading a lesson through the kit costs a kernel and a judge per submission plus the
solution's reference run; lessons 06-08 take about a minute each even in quick mode.
So the submissions of several test modules are graded in ONE run of the real command
(one reference run per lesson, one worker pool), and each module reads its own rows:

- ``test_lessons_graded``: per lesson ``solved``, ``untouched`` and ``last_undone``
  (:func:`register_standard`);
- ``test_forbidden_graded``: lesson 03's ``cheat`` and ``cheat_silenced``;
- ``test_forbidden_graded_cnn``: lesson 08's ``cheat``.

Modules register their submissions when they are imported (at collection), so the run
grades what the collected modules need: running one module alone grades only its own.
Every module that uses the fixture carries the ``grading-lessons`` xdist group, so the
run happens once, on one worker (see tests/xdist_groups.py).

The run grades on Dask: the fixture starts a ``distributed.LocalCluster`` (two worker
processes of one thread; Dask's nanny gives them OMP/OpenBLAS/MKL threads = 1) and runs
``autograder grade --executor dask --scheduler ADDRESS``, with a scheduler plugin that
records every task finished on a worker, so a test can show that each lesson's grading
and its solution's reference run took the Dask path. ``DLBRICKS_LESSON_CLASS_EXECUTOR=local``
grades the same class on the local process pool instead (the Dask-path test is then
skipped, saying so): every lesson on the pool costs a second run of the whole class.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.samples import load_pair, solution_cells, solved_release, write_submission

REPO = Path(__file__).resolve().parents[2]
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
GROUP = "grading-lessons"
COURSE = Course(REPO)
LESSONS = [n for n in COURSE.lessons() if (COURSE.release_dir / n / f"{n}.ipynb").is_file()]
EXECUTOR = os.environ.get("DLBRICKS_LESSON_CLASS_EXECUTOR", "").strip() or "dask"
if EXECUTOR not in ("dask", "local"):
    raise ValueError(f"DLBRICKS_LESSON_CLASS_EXECUTOR={EXECUTOR!r}: use 'dask' (the default) or 'local'")

# (lesson, student) -> make(release, source) -> the submitted notebook
SUBMISSIONS: dict[tuple[str, str], Callable] = {}


def submission(lesson: str, student: str):
    """Register a submission of ``lesson`` by ``student`` (decorates ``make(release, source)``)."""
    def register(make: Callable) -> Callable:
        SUBMISSIONS[(lesson, student)] = make
        return make
    return register


def _last_undone(release, source):
    partial = solved_release(release, source)
    last = solution_cells(partial)[-1]
    last.source = next(c.source for c in solution_cells(release)
                       if c.metadata["nbgrader"]["grade_id"] == last.metadata["nbgrader"]["grade_id"])
    return partial


def register_standard(lessons: list[str]) -> None:
    """Per lesson: ``solved`` (the solution), ``untouched`` (the release), ``last_undone``."""
    for lesson in lessons:
        submission(lesson, "solved")(solved_release)
        submission(lesson, "untouched")(lambda release, source: release)
        submission(lesson, "last_undone")(_last_undone)


@dataclass
class GradedClass:
    rows: dict[tuple[str, str], dict[str, str]]   # (student, lesson) -> grades.csv row
    out: Path
    stderr: str
    executor: str  # "dask" or "local"
    # On Dask: the key of every task that finished on a worker -> that worker's address
    dask_tasks: dict[str, str]
    dask_workers: set[str]

    def row(self, student: str, lesson: str) -> dict[str, str]:
        assert (student, lesson) in self.rows, f"no grades.csv row for {student}/{lesson}:\n{self.stderr[-4000:]}"
        return self.rows[(student, lesson)]

    def feedback(self, student: str, lesson: str) -> str:
        return (self.out / "feedback" / student / lesson / f"{lesson}.html").read_text()


def _finished_tasks_plugin(scheduler):
    """A Dask scheduler plugin recording which worker held each task's result when it finished."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class FinishedTasks(SchedulerPlugin):
        name = "lesson-class-finished-tasks"

        def __init__(self) -> None:
            self.finished: dict[str, str] = {}
            self.workers: set[str] = set(scheduler.workers)  # and every worker that joins later

        def add_worker(self, scheduler, worker: str) -> None:
            self.workers.add(worker)

        def transition(self, key, start, finish, *args, **kwargs) -> None:
            if finish == "memory":
                ts = scheduler.tasks.get(key)
                self.finished[str(key)] = next(iter(ts.who_has)).address if ts is not None and ts.who_has else ""

    return FinishedTasks()


def _grade(submitted: Path, out: Path, cache: Path, *executor: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOGRADER, "--course-dir", str(REPO), "grade", str(submitted), "--out", str(out),
                           "--workers", "2", "--timeout", "900", *executor],
                          env=dict(os.environ, AUTOGRADER_CACHE_DIR=str(cache)),
                          capture_output=True, text=True, timeout=3600)


@pytest.fixture(scope="session")
def lesson_class(tmp_path_factory) -> GradedClass:
    # every collected module has registered its submissions by now (collection is over)
    assert SUBMISSIONS, "no module registered a submission"
    tmp = tmp_path_factory.mktemp("lesson-class")
    submitted = tmp / "submitted"
    for (lesson, student), make in sorted(SUBMISSIONS.items()):
        release, source = load_pair(REPO, lesson)
        write_submission(submitted, student, lesson, lesson, make(release, source))
    out = tmp / "out"
    tasks: dict[str, str] = {}
    workers: set[str] = set()
    if EXECUTOR == "dask":
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            plugin = _finished_tasks_plugin(cluster.scheduler)
            cluster.scheduler.add_plugin(plugin)
            proc = _grade(submitted, out, tmp / "cache", "--executor", "dask",
                          "--scheduler", cluster.scheduler_address)
            tasks, workers = dict(plugin.finished), set(plugin.workers)
    else:
        proc = _grade(submitted, out, tmp / "cache")
    # One lesson whose solution fails must not hide the others: each test reads its own rows.
    assert (out / "grades.csv").exists(), proc.stdout[-3000:] + proc.stderr[-5000:]
    with (out / "grades.csv").open(newline="") as fh:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}
    return GradedClass(rows, out, proc.stderr, EXECUTOR, tasks, workers)
