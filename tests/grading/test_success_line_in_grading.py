"""A test cell run by the grader in the student's kernel: its success line counts the visible
checks only (the student never sees the hidden ones), and a hidden block prints none."""
from __future__ import annotations

import pytest

from autograder.steps.execute import RunSettings, execute_plan


@pytest.mark.slow
def test_a_kernel_judged_test_cell_prints_the_visible_count_only():
    plan = [
        {"index": 0, "grade_id": None, "segments": [
            {"code": "from dlbricks import check", "hidden": False, "test": False}]},
        {"index": 1, "grade_id": "t", "where": "student", "segments": [
            {"code": "check.also_at_grading('other inputs')\ncheck.equal(1, 1)\ncheck.close(2.0, 2.0)",
             "hidden": False, "test": True},
            {"code": "for _k in range(7):\n    check.equal(_k, _k, label='hidden')", "hidden": True, "test": True},
            {"code": "check.is_true(True, label='visible after')", "hidden": False, "test": True}]},
    ]
    report = execute_plan(plan, RunSettings(timeout=60, deadline=120, unsafe=True))
    cell = report.cells[1]
    assert cell.status == "ok", cell
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    assert text.splitlines() == ["\u2714 2 checks passed. At grading, hidden tests also check: other inputs.",
                                 "\u2714 1 check passed."], text
