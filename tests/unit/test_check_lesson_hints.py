"""Lesson 04's own check cells on the classic backward-pass slips (issue 16).

Each test runs the visible part of a real test cell of ``source/04_graphs_and_backprop``
against a planted wrong answer and reads the hint the student would get: the check package's
hints (tests/unit/test_check_hints.py) only help when the lesson's checks let them speak
(one check on the whole backward tuple, slips named by the test).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dlbricks import check
from dlbricks import graph as G
from dlbricks.gradcheck import numerical_grad, rel_error

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "source" / "04_graphs_and_backprop" / "04_graphs_and_backprop.ipynb"
SOURCES = sorted((ROOT / "source").glob("*/*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _test_cells(path: Path) -> dict[str, str]:
    return {_grade_id(c): "".join(c["source"]) for c in _cells(path)
            if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade")
            and not c["metadata"]["nbgrader"].get("solution")}


CELLS = _cells(LESSON)
TESTS = _test_cells(LESSON)


def _source_defining(name: str) -> str:
    return next("".join(c["source"]) for c in CELLS if c["cell_type"] == "code"
                and re.search(rf"^(class|def) {name}\b", "".join(c["source"]), re.M))


def _visible_without_forbidden(code: str) -> str:
    """The test cell as released (no hidden block), without its check.forbidden calls (they read
    the source of a file, which a class made by exec has not)."""
    visible = code.split("### BEGIN HIDDEN TESTS")[0]
    tree = ast.parse(visible)
    tree.body = [node for node in tree.body if not (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "check.forbidden")]
    return ast.unparse(tree)


def _run(test_id: str, *planted: str) -> str:
    """Run the visible checks of ``test_id`` with the lesson's helpers and the planted code;
    return the failure message."""
    ns = {"np": np, "check": check, "G": G, "numerical_grad": numerical_grad, "rel_error": rel_error}
    for helper in ("Op", "gradcheck_op"):
        exec(_source_defining(helper), ns)  # noqa: S102 - the lesson's own cells
    for code in planted:
        exec(code, ns)  # noqa: S102
    with pytest.raises(AssertionError) as info:
        exec(_visible_without_forbidden(TESTS[test_id]), ns)  # noqa: S102
    return str(info.value)


def _hints(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("Hint:")]


MUL_SWAPPED = """
class Mul(Op):
    def forward(self, a, b):
        return a * b
    def backward(self, g):
        a, b = self.inputs
        return g * a, g * b          # each input's gradient uses its own value
"""
EXP_RIGHT = """
class Exp(Op):
    def forward(self, a):
        return np.exp(a)
    def backward(self, g):
        return (g * self.out,)
"""


def test_swapped_inputs_in_mul_backward_are_named():
    message = _run("ex2_mul_exp_backward_tests", MUL_SWAPPED, EXP_RIGHT)
    assert message.startswith("Mul.backward: (dL/da, dL/db) for (3, 4) inputs: 2 of 2 items wrong")
    assert "Hint: the values at [0] and [1] are swapped" in message
    assert "g * b" not in message and "g * a" not in message


def test_exp_without_the_incoming_gradient_and_no_hint_gives_the_answer():
    mul_right = MUL_SWAPPED.replace("return g * a, g * b", "return g * b, g * a")
    exp_without_g = EXP_RIGHT.replace("(g * self.out,)", "(self.out,)")
    message = _run("ex2_mul_exp_backward_tests", mul_right, exp_without_g)
    assert message.startswith("Exp.backward: dL/da")
    assert _hints(message) == ["Hint: The rule returns the local derivative alone: the chain rule "
                               "multiplies it by the incoming gradient g."]
    assert "self.out" not in TESTS["ex2_mul_exp_backward_tests"]   # no hint holds Exp's answer
    assert "z * (1 - z)" not in TESTS["ex3_sigmoid_backward_tests"]  # nor Sigmoid's


def test_input_for_output_in_sigmoid_backward():
    planted = """
class Sigmoid(Op):
    def forward(self, a):
        return 0.5 * (1.0 + np.tanh(0.5 * a))
    def backward(self, g):
        (a,) = self.inputs
        return (g * a * (1.0 - a),)     # the input where the output belongs
"""
    message = _run("ex3_sigmoid_backward_tests", planted)
    [hint] = _hints(message)
    assert "the input a" in hint and "output z = self.out" in hint


def test_missing_outer_factor_in_the_partials_of_exp():
    planted = """
def partials_exp_graph(a, x, b, y, c):
    return float(x), float(a), float(y), float(b), 1.0    # the section-2 numbers, without dz/dw = z
"""
    message = _run("ex1_partials_exp_graph_tests", planted)
    [hint] = _hints(message)
    assert "divided by the same number 12.18" in hint and "outer derivative" in hint


@pytest.mark.parametrize("path, words", [
    ("s", "only the direct path from a to z is counted"),
    ("a * s * (1.0 - s)", "only the path through the sigmoid is counted"),
])
def test_one_missing_path_in_swish_backward(path, words):
    planted = f"""
class Swish(Op):
    def forward(self, a):
        self.s = 0.5 * (1.0 + np.tanh(0.5 * a))
        return a * self.s
    def backward(self, g):
        (a,) = self.inputs
        s = self.s
        return (g * ({path}),)
"""
    message = _run("ex8_swish_backward_tests", planted)
    hints = _hints(message)
    assert hints[0] == "Hint: a reaches z along two paths (directly, and through the sigmoid): add both"
    assert words in hints[1].lower() and "the paths add up" in hints[1]


def test_matmul_backward_is_checked_as_one_tuple():
    planted = """
class MatMul(Op):
    def forward(self, A, B):
        return A @ B
    def backward(self, g):
        A, B = self.inputs
        return g @ B.T, (A.T @ g) * 2.0      # dL/dA right, dL/dB wrong
"""
    message = _run("ex4_matmul_backward_tests", planted)
    assert "1 of 2 items wrong: [1]; right: [0]." in message


@pytest.mark.parametrize("lesson", ["01_tensors", "02_first_neuron", "03_losses_and_descent", "04_graphs_and_backprop",
                                    "05_symbolic_training", "06_mnist_mlp", "07_keras_apis", "08_cnn"])
def test_every_check_cell_with_hidden_tests_says_what_only_grading_checks(lesson):
    path = ROOT / "source" / lesson / f"{lesson}.ipynb"
    missing = [gid for gid, code in _test_cells(path).items()
               if "BEGIN HIDDEN TESTS" in code and "check.also_at_grading(" not in code.split("### BEGIN HIDDEN TESTS")[0]]
    assert not missing, f"{lesson}: test cells with hidden tests but no check.also_at_grading: {missing}"
    # the success line says that the visible checks passed: a hand-written print would say it twice
    doubled = [gid for gid, code in _test_cells(path).items()
               if re.search(r"print\(.*checks passed", code, re.IGNORECASE)]
    assert not doubled, f"{lesson}: test cells that print their own 'checks passed' line: {doubled}"
