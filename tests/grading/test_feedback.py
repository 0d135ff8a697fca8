"""Unit tests: the feedback page teaches and never leaks hidden tests."""
from __future__ import annotations

import nbformat

from autograder.master import read_master
from autograder.steps.execute import CellResult
from autograder.steps.feedback import HIDDEN_FAILED, SCRUBBED, render_feedback, scrub
from autograder.steps.judge import CheckResult, Judgement, TestResult

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE

SOURCE = FIXTURE_COURSE / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb"


def test_scrub_removes_hidden_lines_and_colours():
    text = "\x1b[31mError\x1b[0m in: _x = _rng.normal(size=(4, 5)) and more"
    out = scrub(text, ["_x = _rng.normal(size=(4, 5))"])
    assert out == f"Error in: {SCRUBBED} and more"


def _page(outputs: list[dict], markdown_extra: str = "") -> str:
    master = read_master(SOURCE, FIXTURE_ASSIGNMENT)
    nb = nbformat.read(FIXTURE_COURSE / "release" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb", 4)
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown_extra))
    nb.cells.append(nbformat.v4.new_code_cell("print(In)"))
    cells = {len(nb.cells) - 1: CellResult(len(nb.cells) - 1, "ok", [], outputs, False, 0.1)}
    tests = [TestResult("test-relu", 0.0, 1.0, "failed",
                        [CheckResult("relu([-2, 0, 3])", False, True, ""),
                         CheckResult("relu of a random (4, 5) matrix", True, False, "values differ")]),
             TestResult("test-mse", 2.0, 2.0, "passed", []), TestResult("test-softmax", 2.0, 2.0, "passed", [])]
    return render_feedback(student="s1", assignment=FIXTURE_ASSIGNMENT, notebook=FIXTURE_ASSIGNMENT,
                           status="graded", score=4.0, max_score=5.0, flags=["tampering"], detail="",
                           master=master, restored=nb, cells=cells, judgement=Judgement(tests))


def test_feedback_names_hidden_tests_but_not_their_code():
    leak = "_x = _rng.normal(size=(4, 5))\ncheck.close(relu(_x), np.where(_x > 0, _x, 0.0), label=1)"
    page = _page([{"output_type": "stream", "name": "stdout", "text": leak}])
    assert "relu of a random (4, 5) matrix" in page and HIDDEN_FAILED in page
    assert "Visible checks passed, 1 hidden test failed." in page
    assert "np.where(_x > 0" not in page and "_rng.normal" not in page
    assert "4 / 5" in page and "dlbricks.check was found replaced" in page


def test_student_html_is_escaped():
    page = _page([{"output_type": "display_data", "data": {"text/html": "<script>alert(1)</script>",
                                                            "text/plain": "<b>plain</b>"}}],
                 markdown_extra="<img src=x onerror=alert(2)>")
    assert "<script>" not in page and "onerror=alert(2)>" not in page
    assert "&lt;b&gt;plain&lt;/b&gt;" in page


def test_a_failed_hidden_check_shows_its_label_but_not_the_expected_value():
    """Issue 13, case 8: the judge's message for a hidden check tells the expected value."""
    master = read_master(SOURCE, FIXTURE_ASSIGNMENT)
    nb = nbformat.read(FIXTURE_COURSE / "release" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb", 4)
    secret = "expected 0.7310585786300049, got 0.5"
    tests = [TestResult("test-relu", 0.0, 1.0, "failed",
                        [CheckResult("relu([-2, 0, 3])", False, False, "expected [0, 0, 3], got [2, 0, 3]"),
                         CheckResult("sigmoid at one", True, False, secret)],
                        error=f"AssertionError: {secret}")]
    page = render_feedback(student="s1", assignment=FIXTURE_ASSIGNMENT, notebook=FIXTURE_ASSIGNMENT,
                           status="graded", score=0.0, max_score=5.0, flags=[], detail="",
                           master=master, restored=nb, cells={}, judgement=Judgement(tests))
    assert "sigmoid at one" in page and HIDDEN_FAILED in page
    assert "0.7310585786300049" not in page
    assert "expected [0, 0, 3], got [2, 0, 3]" in page  # a visible check still explains itself
