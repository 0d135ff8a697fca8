"""dlbricks.check in IPython: failures without library frames, hints for errors raised inside
the student's own functions, and a success line for every cell whose checks passed."""
from __future__ import annotations

import re

import pytest

from dlbricks import check
from dlbricks.check import notebook

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def shell():
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    start_ipython()  # the test shell, once per process (later calls return None)
    ip = get_ipython()
    notebook.uninstall()  # whatever an earlier test left
    notebook.install()
    ip.run_cell("import numpy as np\nfrom dlbricks import check", store_history=False)
    yield ip
    notebook.uninstall()


def run(shell, capsys, code: str) -> str:
    capsys.readouterr()
    shell.run_cell(code, store_history=True)
    return ANSI.sub("", capsys.readouterr().out)


def test_a_cell_whose_checks_passed_says_so(shell, capsys):
    assert run(shell, capsys, "check.close(1.0, 1.0)\ncheck.equal(2, 2)").strip() == "\u2714 2 checks passed."
    out = run(shell, capsys, "check.also_at_grading('other shapes and large |z|')\ncheck.close(0.5, 0.5)")
    assert out.strip() == "\u2714 1 check passed. At grading, hidden tests also check: other shapes and large |z|."
    assert run(shell, capsys, "x = 1") == ""  # no check, no line


def test_a_failed_check_shows_the_cell_line_and_the_message_only(shell, capsys):
    out = run(shell, capsys, "check.close(np.array([1.0, 2.0]), np.array([1.0, 3.0]), label='f(x)')")
    assert "AssertionError: f(x): values differ" in out
    assert "check.close(np.array" in out                 # the student's line
    assert "dlbricks/check" not in out and "_finish" not in out, out
    assert "checks passed" not in out


def test_a_cell_with_a_failed_check_gets_no_success_line(shell, capsys):
    out = run(shell, capsys, "check.close(1.0, 1.0)\ncheck.close(1.0, 2.0)")
    assert "passed" not in out


def test_a_plain_assertion_keeps_its_traceback(shell, capsys):
    out = run(shell, capsys, "def f():\n    assert False, 'mine'\nf()")
    assert "AssertionError: mine" in out and "in f()" in out


def test_a_shape_error_inside_the_students_function_gets_a_hint(shell, capsys):
    code = ("def predict_hidden(X, W1):\n    return X @ W1\n"
            "check.shape(predict_hidden(np.ones((5, 2)), np.ones((3, 2))), (5, 3))")
    out = run(shell, capsys, code)
    assert "ValueError" in out
    assert "Hint: in your function predict_hidden (line 2) two arrays do not fit together" in out
    assert "X: (5, 2), W1: (3, 2)" in out
    assert "passed" not in out


def test_a_none_inside_the_students_function_gets_a_hint(shell, capsys):
    out = run(shell, capsys, "def f(x):\n    y = None\n    return y * 2\nf(1)")
    assert "Hint: in your function f (line 3) a value is None" in out


def test_an_error_of_library_code_alone_gets_no_hint(shell, capsys):
    out = run(shell, capsys, "np.ones((5, 2)) @ np.ones((3, 2))")
    assert "ValueError" in out and "Hint:" not in out


def test_also_at_grading_needs_a_sentence():
    with pytest.raises(ValueError):
        check.also_at_grading("  ")


HIDDEN_CELL = """check.also_at_grading('other shapes')
check.close(1.0, 1.0, label='visible one')
for _k in range(2):
    check.equal(_k, _k, label='visible in a loop')
### BEGIN HIDDEN TESTS
for _k in range(5):
    check.close(float(_k), float(_k), label='hidden')
check.is_true(True, label='hidden too')
### END HIDDEN TESTS
check.equal(3, 3, label='visible after')"""


def test_the_success_line_counts_only_the_visible_checks(shell, capsys):
    # the instructor's notebook (or a grading run) holds the hidden block: the student's
    # release has 4 checks in this cell, and 4 is what the line must say
    out = run(shell, capsys, HIDDEN_CELL)
    assert out.strip() == "\u2714 4 checks passed. At grading, hidden tests also check: other shapes."


def test_a_hidden_block_run_alone_prints_no_success_line(shell, capsys):
    # the grader runs a hidden block as its own piece, between the markers (sandbox_runner.main.marked)
    from autograder.sandbox_runner.main import marked

    code = marked({"code": "check.close(2.0, 2.0, label='hidden')\ncheck.equal(1, 1)", "hidden": True})
    assert run(shell, capsys, code) == ""
    assert marked({"code": "check.equal(1, 1)", "hidden": False}) == "check.equal(1, 1)"
    assert run(shell, capsys, "check.equal(1, 1)").strip() == "\u2714 1 check passed."


def test_a_failed_hidden_check_still_stops_the_success_line(shell, capsys):
    cell = "check.equal(1, 1)\n### BEGIN HIDDEN TESTS\ncheck.equal(1, 2, label='hidden')\n### END HIDDEN TESTS"
    out = run(shell, capsys, cell)
    assert "passed" not in out and "AssertionError" in out


def test_hidden_lines_are_read_from_nbgraders_markers():
    cell = "a\n### BEGIN HIDDEN TESTS\nb\nc\n    ### END HIDDEN TESTS\nd"
    assert notebook.hidden_lines(cell) == {2, 3, 4, 5}
    assert notebook.hidden_lines("a\nb") == frozenset()
