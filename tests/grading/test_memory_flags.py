"""A notebook that ran out of memory is flagged memory_limit, not kernel_died (unit level)."""
from __future__ import annotations

import pytest

from autograder.steps.execute import CellResult, ExecutionReport, SegmentResult, execution_flags


def died(signal: str | None = None, stderr_tail: str = "", error: dict | None = None, cpu: float = 1.0):
    seg = SegmentResult(hidden=False, test=False, status="died", error=error, records=[])
    cell = CellResult(index=0, status="died", segments=[seg], outputs=[], truncated=False, seconds=1.0)
    return ExecutionReport({0: cell}, "kernel_died", True, returncode=-9 if signal else 1, signal=signal,
                           cpu_seconds=cpu, stderr_tail=stderr_tail)


@pytest.mark.parametrize("report", [
    died(stderr_tail="OpenBLAS error: Memory allocation still failed after 10 retries, giving up."),
    died(stderr_tail="terminate called after throwing an instance of 'std::bad_alloc'"),
    died(stderr_tail="Fatal Python error: _PyMem_... Cannot allocate memory"),
    died(signal="SIGKILL"),  # what the memory cgroup does
    died(signal="SIGABRT"),  # a native allocation failure that aborts
])
def test_memory_exhaustion_is_memory_limit_and_not_kernel_died(report):
    flags = execution_flags(report, cpu_limit=1800)
    assert "memory_limit" in flags and "kernel_died" not in flags


def test_a_kernel_that_exits_for_another_reason_is_kernel_died():
    flags = execution_flags(died(stderr_tail="[IPKernelApp] WARNING | Kernel is running over TCP"), cpu_limit=1800)
    assert flags == ["kernel_died"]


def test_cpu_time_used_up_is_still_said_as_such():
    flags = execution_flags(died(signal="SIGKILL", cpu=1800.0), cpu_limit=1800)
    assert flags == ["kernel_died", "cpu_limit"]


def test_a_solution_that_runs_out_of_memory_says_so_and_names_the_limit():
    from pathlib import Path

    from autograder.reference import SolutionFailsError, reference_or_error

    report = died(signal="SIGKILL")
    report.flags = execution_flags(report, cpu_limit=1800)
    plan = [{"index": 0, "grade_id": None}, {"index": 1, "grade_id": "ex1_tests"}]
    with pytest.raises(SolutionFailsError) as caught:
        reference_or_error(report, plan, Path("source/09_x/09_x.ipynb"), memory_mb=150)
    message = str(caught.value)
    assert "the solution ran out of memory (the limit is 150 MB): grade with a larger --memory" in message
    assert "test cell ex1_tests did not run" in message
