"""Issue 13: a class graded while its machinery is killed still ends with exactly one row each.

One class of CLASS_SIZE submissions of the fixture lesson (right answers, one
wrong answer in every fifth) is graded by the real command, and while it runs:

1. a worker process of the local pool is killed (SIGKILL): every job the pool
   held is sent again to a fresh pool;
2. the grader itself is killed (SIGKILL) part-way, and the same command is run
   again, this time on a Dask local cluster;
3. during that second run a Dask worker process is killed: Dask reschedules
   its task.

In the end grades.csv and the gradebook have one row per submission, every
submission graded with the score its answers deserve, nothing lost or doubled.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.samples import with_cell, write_submission

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE
from .crafted import right_answers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-fault-injection")]
# The kills come after 5 and 15 graded submissions (and 5 more on Dask): 40 leaves jobs queued and
# in flight at every kill, which is all the test needs (100 cost 2.5x the time and showed nothing more).
CLASS_SIZE = 40


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _is_spawned_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmdline


def _pool_workers(grader: int) -> list[int]:
    return [p for p in _children(grader) if _is_spawned_worker(p)]


def _dask_workers(grader: int) -> list[int]:
    """Worker processes of a local Dask cluster: the nannies live in the grader and spawn them."""
    return _pool_workers(grader)


def _graded_count(out: Path, since: float) -> int:
    folder = out / "feedback"
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.glob("*/*/*.html") if p.stat().st_mtime >= since)


def _start(submitted: Path, out: Path, env: dict, *extra: str) -> subprocess.Popen:
    cmd = [str(Path(sys.executable).parent / "autograder"), "--course-dir", str(FIXTURE_COURSE), "grade",
           str(submitted), "--out", str(out), "--workers", "2", "--timeout", "60", "--no-progress", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, condition, what: str, timeout: float = 900) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the grader ended before {what}: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_killed_workers_and_a_killed_grader_lose_and_double_nothing(tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    right = right_answers()
    wrong = with_cell(right, "relu", lambda source: source + "\nrelu = lambda x: x  # forgot the max")
    expected = {}
    for i in range(CLASS_SIZE):
        student = f"s{i:03d}"
        write_submission(submitted, student, FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, wrong if i % 5 == 0 else right)
        expected[student] = "4" if i % 5 == 0 else "5"
    env = dict(os.environ, AUTOGRADER_CACHE_DIR=str(tmp_path / "cache"), DLBRICKS_QUICK="1",
               TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")

    # Run 1, local pool: a worker killed after 5 submissions, the grader after 15.
    start = time.time()
    grader = _start(submitted, out, env)
    _wait_for(grader, lambda: _graded_count(out, start) >= 5, "5 graded")
    workers = _pool_workers(grader.pid)
    assert workers, "no pool worker found"
    os.kill(workers[0], signal.SIGKILL)
    _wait_for(grader, lambda: _graded_count(out, start) >= 15, "15 graded after the worker was killed")
    survivors = _pool_workers(grader.pid)
    grader.send_signal(signal.SIGKILL)
    grader.wait(60)
    end = time.monotonic() + 30  # the killed grader's workers end too (they would wait on it forever)
    while any(Path(f"/proc/{pid}").exists() for pid in survivors) and time.monotonic() < end:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in survivors), "orphaned pool workers"
    first_stderr = grader.stderr.read()
    assert "worker was lost" in first_stderr, first_stderr[-3000:]

    # Run 2, the same command on a Dask cluster: one Dask worker killed after 5 submissions.
    start = time.time()
    grader = _start(submitted, out, env, "--executor", "dask")
    _wait_for(grader, lambda: _graded_count(out, start) >= 5, "5 graded on Dask")
    _wait_for(grader, lambda: _dask_workers(grader.pid), "a Dask worker process", timeout=60)
    dask_workers = _dask_workers(grader.pid)
    os.kill(dask_workers[0], signal.SIGKILL)
    stdout, stderr = grader.communicate(timeout=1800)
    assert grader.returncode == 0, stdout[-3000:] + stderr[-3000:]

    with (out / "grades.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == CLASS_SIZE and len({r["student_id"] for r in rows}) == CLASS_SIZE
    assert {r["student_id"]: r["score"] for r in rows} == expected
    assert all(r["status"] == "graded" for r in rows)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        submissions = gb.assignment_submissions(FIXTURE_ASSIGNMENT)
        assert len(submissions) == CLASS_SIZE
        assert {s.student.id: f"{s.score:g}" for s in submissions} == expected
