"""The sandbox: what it binds, what it refuses, and its time and memory limits."""
from __future__ import annotations

import os
import sys

import pytest

from autograder import sandbox
from autograder.cli import main
from autograder.sandbox import Limits, RunSettings, bwrap_command, clean_kernel_env
from autograder.steps.execute import execute_plan

from .conftest import FIXTURE_COURSE, processes_matching


def _seg(code: str) -> list[dict]:
    return [{"code": code, "hidden": False, "test": False}]


def test_bwrap_command_isolates_and_binds_only_what_python_needs():
    cmd = bwrap_command(RunSettings())
    joined = " ".join(cmd)
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--clearenv", "--new-session"):
        assert flag in cmd
    binds = {cmd[i + 2] for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind", "--ro-bind-try")}
    assert sys.prefix in binds
    assert not any(b.endswith("/source") or b == str(FIXTURE_COURSE) for b in binds)
    assert "--bind " not in joined  # nothing of the host is writable
    assert os.path.expanduser("~") not in binds and "/" not in binds


def test_kernel_environment_is_explicit():
    env = clean_kernel_env()
    assert env["DLBRICKS_QUICK"] == "1" and env["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert env["MPLBACKEND"] == sandbox.INLINE_BACKEND and env["HOME"] == sandbox.WORKDIR  # figures kept
    assert not set(env) & {"PYTHONPATH", "VIRTUAL_ENV", "AWS_SECRET_ACCESS_KEY", "USER"}


def test_grading_refuses_to_run_without_a_sandbox(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "bubblewrap (the `bwrap` command) is not installed")
    (tmp_path / "sub" / "ann").mkdir(parents=True)
    code = main(["--course-dir", str(FIXTURE_COURSE), "grade", str(tmp_path / "sub"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 3 and "--unsafe" in err and "bubblewrap" in err
    assert not (tmp_path / "o" / "grades.csv").exists()


@pytest.mark.slow
def test_a_cell_past_its_timeout_is_interrupted_and_the_notebook_goes_on():
    plan = [{"index": i, "grade_id": None, "segments": _seg(code)} for i, code in enumerate([
        "import time\nwhile True:\n    time.sleep(0.05)",
        "x = 1"])]
    report = execute_plan(plan, RunSettings(timeout=3, deadline=120))
    assert report.cells[0].status == "timeout" and report.cells[1].status == "ok"
    assert "timeout" in report.flags


@pytest.mark.slow
def test_the_notebook_deadline_stops_the_run_and_nothing_after_it_runs():
    # The per-cell timeout is longer than the deadline, so only the deadline can stop cell 1
    # (or cell 0, on a machine so slow that the kernel's start-up ate the whole deadline).
    plan = [{"index": i, "grade_id": None, "segments": _seg(code)} for i, code in enumerate([
        "x = 1",
        "import time\ntime.sleep(60)",
        "y = 2"])]
    report = execute_plan(plan, RunSettings(timeout=60, deadline=10))
    statuses = [report.cells[i].status for i in sorted(report.cells)]
    assert statuses[-1] == "deadline" and all(s == "ok" for s in statuses[:-1])
    assert 2 not in report.cells
    assert "timeout" in report.flags and report.end_status == "deadline"


@pytest.mark.slow
def test_memory_limit_counts_heap_not_address_space():
    plan = [{"index": 0, "grade_id": None, "segments": _seg(
        "import numpy as np\nbig = np.ones(400 * 2**20 // 8)  # 400 MB: more than the limit")},
            {"index": 1, "grade_id": None, "segments": _seg(
        "import mmap\nm = mmap.mmap(-1, 2 * 2**30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ)\n"
        "print('reserved address space is fine')")}]
    report = execute_plan(plan, RunSettings(timeout=20, deadline=60, limits=Limits(memory_mb=300)))
    assert report.cells[0].status == "error" and "memory_limit" in report.flags
    assert report.cells[1].status == "ok"


@pytest.mark.slow
def test_unsafe_mode_runs_the_same_runner_without_bubblewrap():
    plan = [{"index": 0, "grade_id": None, "segments": _seg("import os\nprint(os.environ['DLBRICKS_QUICK'])")}]
    report = execute_plan(plan, RunSettings(timeout=20, deadline=60, unsafe=True))
    assert report.cells[0].status == "ok" and report.cells[0].outputs[0]["text"].strip() == "1"


@pytest.mark.slow
def test_file_size_and_cpu_time_limits():
    plan = [{"index": 0, "grade_id": None, "segments": _seg(
        "with open('/tmp/big.bin', 'wb') as fh:\n    fh.write(b'0' * (40 * 2**20))")},
            {"index": 1, "grade_id": None, "segments": _seg("x = 0\nwhile True:\n    x += 1")}]
    report = execute_plan(plan, RunSettings(timeout=60, deadline=90,
                                            limits=Limits(fsize_mb=8, cpu_seconds=4)))
    first = report.cells[0]
    assert first.status == "error" and "File too large" in first.segments[0].error["evalue"]
    assert report.cells[1].status == "died" and {"kernel_died", "cpu_limit"} <= set(report.flags)


@pytest.mark.slow
def test_nothing_the_notebook_started_is_alive_when_the_run_returns():
    # Orphans, a new session and a double fork: all must be gone the moment execute_plan returns,
    # not some time later (the next submission may reuse the sandbox uid).
    plan = [{"index": 0, "grade_id": None, "segments": _seg(
        "import os, subprocess\n"
        "kids = [subprocess.Popen(['sleep', '981']) for _ in range(5)]\n"
        "os.system('setsid sleep 982 > /dev/null 2>&1 &')\n"
        "if os.fork() == 0:\n"
        "    if os.fork() == 0:\n"
        "        os.execvp('sleep', ['sleep', '983'])\n"
        "    os._exit(0)\n"
        "print('started')")}]
    report = execute_plan(plan, RunSettings(timeout=30, deadline=60))
    assert report.cells[0].status == "ok"
    for marker in ("sleep 981", "sleep 982", "sleep 983"):
        assert processes_matching(marker) == [], marker
