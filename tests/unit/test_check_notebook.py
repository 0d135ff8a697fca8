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
