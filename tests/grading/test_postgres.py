"""Several graders, one gradebook: PostgreSQL (and SQLite) under concurrent and interrupted runs.

A real PostgreSQL server is started for this module (see ``postgres.py``):
without one the tests are skipped with the reason, and under CI=true they fail.
"""
from __future__ import annotations

import os
import signal
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.samples import with_cell, write_submission

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE
from .crafted import right_answers
from .postgres import PostgresServer, skip_or_fail, unavailable_reason
from .test_grade_e2e import read_rows

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
SECOND = "01_second"


@pytest.fixture(scope="module")
def postgres():
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    server = PostgresServer()
    try:
        server.start()
    except Exception as exc:
        server.stop()
        skip_or_fail(f"PostgreSQL did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_assignments(tmp_path_factory) -> Path:
    """The fixture course with a second assignment (a copy of the first under another name)."""
    root = tmp_path_factory.mktemp("course2") / "course"
    shutil.copytree(FIXTURE_COURSE, root)
    (root / "source" / SECOND).mkdir()
    shutil.copy(root / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb",
                root / "source" / SECOND / f"{SECOND}.ipynb")
    return root


def _class(root: Path, students: dict[str, object]) -> Path:
    for student, nb in students.items():
        for assignment in (FIXTURE_ASSIGNMENT, SECOND):
            if nb is None:
                (root / student / assignment).mkdir(parents=True, exist_ok=True)
            else:
                write_submission(root, student, assignment, assignment, nb)
    return root


EXPECTED = {"ann": "5", "ben": "3", "cat": "0"}


@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> Path:
    right = right_answers()
    wrong_mse = with_cell(right, "mse", lambda s: s.replace("np.mean", "np.sum"))
    return _class(tmp_path_factory.mktemp("class") / "submitted", {"ann": right, "ben": wrong_mse, "cat": None})


def _grade_cmd(course: Path, submitted: Path, out: Path, assignment: str, *extra: str) -> list[str]:
    return [AUTOGRADER, "--course-dir", str(course), "grade", str(submitted), "--out", str(out),
            "--assignment", assignment, "--timeout", "30", "--memory", "1024", "--workers", "1", *extra]


def _env(cache: Path) -> dict:
    return dict(os.environ, AUTOGRADER_CACHE_DIR=str(cache))


def _gradebook_scores(url: str) -> dict[tuple[str, str], list[float]]:
    """Every submission row in the gradebook: (assignment, student) -> the scores found (one each)."""
    from nbgrader.api import Gradebook

    found: dict[tuple[str, str], list[float]] = {}
    with Gradebook(url) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                found.setdefault((assignment.name, sub.student.id), []).append(sub.score)
    return found


def _run_two_at_once(course: Path, submitted: Path, tmp_path: Path, db: list[str]) -> list[subprocess.CompletedProcess]:
    procs = []
    for assignment in (FIXTURE_ASSIGNMENT, SECOND):
        out = tmp_path / f"out-{assignment}"
        procs.append(subprocess.Popen(_grade_cmd(course, submitted, out, assignment, *db), env=_env(tmp_path / "cache"),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def test_two_graders_into_one_postgresql_gradebook_at_once(postgres, two_assignments, small_class, tmp_path):
    url = postgres.create_database("two_graders")
    # One grader finds the database in the course's configuration, the other is given --db.
    (two_assignments / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = {url!r}\nc.CourseDirectory.course_id = 'dl2027'\n")
    try:
        first, second = _run_two_at_once(two_assignments, small_class, tmp_path, [])
    finally:
        (two_assignments / "nbgrader_config.py").unlink()
    for proc in (first, second):
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for assignment in (FIXTURE_ASSIGNMENT, SECOND):
        rows = read_rows(tmp_path / f"out-{assignment}")
        assert {s: r["score"] for s, r in rows.items()} == EXPECTED
    scores = _gradebook_scores(url)
    assert scores == {(a, s): [float(EXPECTED[s])] for a in (FIXTURE_ASSIGNMENT, SECOND) for s in ("ann", "ben")}
    assert not (tmp_path / f"out-{FIXTURE_ASSIGNMENT}" / "gradebook.db").exists(), "the configured database was used"


def test_two_graders_into_one_sqlite_gradebook_at_once(two_assignments, small_class, tmp_path):
    db = tmp_path / "shared.db"
    results = _run_two_at_once(two_assignments, small_class, tmp_path, ["--db", f"sqlite:///{db}"])
    finished = []
    for proc, assignment in zip(results, (FIXTURE_ASSIGNMENT, SECOND)):
        if proc.returncode == 0:
            finished.append(assignment)
        else:  # allowed: stop with a message that says what happened, never a traceback
            assert "Traceback" not in proc.stderr and "gradebook" in (proc.stdout + proc.stderr).lower(), proc.stderr
    assert finished, "at least one grader must finish"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    scores = _gradebook_scores(f"sqlite:///{db}")
    for assignment in finished:
        for student in ("ann", "ben"):
            assert scores[(assignment, student)] == [float(EXPECTED[student])]


def _count_submissions(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url.replace("postgresql://", "postgresql://", 1)) as conn:
            return conn.execute("SELECT count(*) FROM submitted_notebook").fetchone()[0]
    except Exception:  # tables not created yet
        return 0


def test_a_grader_killed_half_way_and_run_again_loses_and_duplicates_nothing(postgres, tmp_path):
    url = postgres.create_database("killed")
    right = right_answers()
    students = [f"s{i:02d}" for i in range(6)]
    submitted = tmp_path / "submitted"
    for student in students:
        write_submission(submitted, student, FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right)
    out = tmp_path / "out"
    cmd = _grade_cmd(FIXTURE_COURSE, submitted, out, FIXTURE_ASSIGNMENT, "--db", url)
    proc = subprocess.Popen(cmd, env=_env(tmp_path / "cache"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while _count_submissions(url) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the grader finished before it could be interrupted: grade more students"
        recorded_before = _count_submissions(url)
        assert 2 <= recorded_before < len(students)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the grader and every worker and sandbox it started
        proc.wait()

    again = subprocess.run(cmd, env=_env(tmp_path / "cache"), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-4000:]
    assert _gradebook_scores(url) == {(FIXTURE_ASSIGNMENT, s): [5.0] for s in students}
    assert _count_submissions(url) == len(students)
    rows = read_rows(out)
    assert sorted(rows) == students and all(r["score"] == "5" for r in rows.values())
    assert (out / "grades.csv").read_text().count("\n") == len(students) + 1


def _record_class(url: str, assignment: str, students: list[str], start) -> None:
    """One grader's writes: every student's grade for ``assignment``, as fast as it can."""
    from autograder.steps.record import GradebookWriter, NotebookGrade

    start.wait(60)
    with GradebookWriter(url) as writer:
        for student in students:
            writer.record(NotebookGrade(student=student, assignment=assignment, notebook="nb", status="graded",
                                        points={"t1": 1.0}, max_score=1.0))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_graders_writing_at_the_same_instant_never_collide(backend, request, tmp_path):
    """Three graders record the same 15 students (new to the gradebook) at the same instant.

    nbgrader creates a student on first sight, by looking then inserting: without
    the gradebook lock two graders insert the same student and one write fails.
    """
    import multiprocessing

    from nbgrader.api import Gradebook

    from autograder.gradebook_lock import prepare_gradebook

    if backend == "postgresql":
        url = request.getfixturevalue("postgres").create_database("instant")
    else:
        url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assignments = [f"a{i}" for i in range(3)]
    prepare_gradebook(url, ("default_course",))
    with Gradebook(url) as gb:
        for name in assignments:
            gb.add_assignment(name)
            gb.add_notebook("nb", name)
            gb.add_grade_cell("t1", "nb", name, max_score=1, cell_type="code")
    students = [f"st{i:02d}" for i in range(15)]
    import autograder.steps.record  # noqa: F401  (imported once here; the forked graders share it)

    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_record_class, args=(url, a, students, start)) for a in assignments]
    for w in workers:
        w.start()
    time.sleep(1)  # every grader is at the start line
    start.set()
    for w in workers:
        w.join(300)
    assert [w.exitcode for w in workers] == [0] * len(workers), "a grader's write failed"
    assert _gradebook_scores(url) == {(a, s): [1.0] for a in assignments for s in students}
