"""Unit tests: reading the master's tests, splitting hidden blocks, the execution plan."""
from __future__ import annotations

import pickle

import nbformat

from autograder.master import (HIDDEN_PLACEHOLDER, read_master, release_code, same_code, split_hidden,
                               visible_code)
from autograder.samples import load_pair, solution_code, solved_release
from autograder.steps.plan import execution_plan

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE

CELL = """check.close(f(1), 2, label="visible")
### BEGIN HIDDEN TESTS
check.close(f(3), 6, label="hidden one")
### END HIDDEN TESTS
check.is_true(True, label="visible again")"""


def _master():
    return read_master(FIXTURE_COURSE / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb",
                       FIXTURE_ASSIGNMENT)


def test_split_hidden_keeps_order_and_marks_hidden_blocks():
    segs = split_hidden(CELL)
    assert [s.hidden for s in segs] == [False, True, False]
    assert "hidden one" in segs[1].code and "hidden one" not in segs[0].code + segs[2].code


def test_hidden_block_inside_indentation_falls_back_to_one_hidden_segment():
    code = "for n in range(2):\n    check.is_true(n >= 0, label='a')\n    ### BEGIN HIDDEN TESTS\n" \
           "    check.is_true(n < 5, label='b')\n    ### END HIDDEN TESTS"
    segs = split_hidden(code)
    assert len(segs) == 1 and segs[0].hidden and "label='b'" in segs[0].code


def test_visible_and_release_code_drop_hidden_lines():
    assert "hidden one" not in visible_code(CELL) and HIDDEN_PLACEHOLDER in visible_code(CELL)
    assert "hidden one" not in release_code(CELL) and HIDDEN_PLACEHOLDER not in release_code(CELL)
    assert same_code(release_code(CELL), 'check.close(f(1), 2, label="visible")\n\n'
                     'check.is_true(True, label="visible again")   ')
    assert not same_code(release_code(CELL), "check.close(1, 1)")


def test_read_master_finds_tests_points_and_order():
    master = _master()
    assert [(t.grade_id, t.points) for t in master.tests] == [
        ("test-relu", 1.0), ("test-mse", 2.0), ("test-softmax", 2.0)]
    assert master.max_score == 5.0
    assert master.order.index("relu") < master.order.index("test-relu") < master.order.index("mse")
    assert all(t.has_hidden for t in master.tests)
    assert any("np.where(_x > 0, _x, 0.0)" in line for line in master.hidden_lines())
    assert pickle.loads(pickle.dumps(master)) == master  # what crosses to the workers


def test_solution_code_removes_markers_only():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
    assert solution_code(src) == "def f(x):\n    return 2 * x"


def test_plan_runs_master_test_code_not_the_submitted_copy():
    release, source = load_pair(FIXTURE_COURSE, FIXTURE_ASSIGNMENT)
    nb = solved_release(release, source)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test-relu":
            cell.source = "pass  # edited"
    nb.cells.append(nbformat.v4.new_code_cell("   "))  # empty cells are not run
    plan = execution_plan(nb, _master())
    by_gid = {p["grade_id"]: p for p in plan if p["grade_id"]}
    assert set(by_gid) == {"test-relu", "test-mse", "test-softmax"}
    relu = by_gid["test-relu"]["segments"]
    assert [s["hidden"] for s in relu] == [False, True] and all(s["test"] for s in relu)
    assert "edited" not in relu[0]["code"]
    assert all(p["segments"] for p in plan)
    assert all(nb.cells[p["index"]].cell_type == "code" for p in plan)
