"""Unit tests: the parent finds forbidden calls in the submitted source and takes the points."""
from __future__ import annotations

from autograder.master import MasterNotebook, Segment, TestCell
from autograder.steps.forbidden import LABEL, declarations, declarations_in, enforce, student_cells
from autograder.steps.judge import CheckResult, TestResult

TEST_CODE = '''check.forbidden(sigmoid, "dlbricks.losses", "scipy.special.expit", args=(np.zeros(3),),
                label="sigmoid is written with numpy")
check.close(sigmoid(0.0), 0.5, label="sigmoid(0)")'''


def master() -> MasterNotebook:
    tests = (TestCell("ex1_sigmoid_tests", 2.0, (Segment(TEST_CODE, False), Segment("check.close(1, 1)", True)), ""),
             TestCell("ex2_other_tests", 1.0, (Segment("check.close(other(), 1)", False),), ""))
    return MasterNotebook("00_x", "00_x", "sha", tests)


def plan(*student_code: str) -> list[dict]:
    cells = [{"index": i, "grade_id": None, "segments": [{"code": c, "hidden": False, "test": False}]}
             for i, c in enumerate(student_code)]
    cells.append({"index": 99, "grade_id": "ex1_sigmoid_tests",
                  "segments": [{"code": "from dlbricks.losses import sigmoid  # test code is not the student's",
                                "hidden": False, "test": True}]})
    return cells


def passed(gid: str, points: float) -> TestResult:
    return TestResult(gid, points, points, "passed", [CheckResult("sigmoid(0)", False, True, "")])


def test_declarations_are_read_from_the_master_test_code():
    (decl,) = declarations_in(TEST_CODE)
    assert decl.function == "sigmoid" and decl.names == ("dlbricks.losses", "scipy.special.expit")
    assert decl.label == "sigmoid is written with numpy"
    assert list(declarations(master())) == ["ex1_sigmoid_tests"]
    assert declarations_in("check.forbidden(f)") == [] and declarations_in("def broken(:") == []


def test_only_the_students_own_cells_are_read():
    assert student_cells(plan("import numpy as np", "x = 1")) == ["import numpy as np", "x = 1"]


def test_a_ready_made_answer_loses_that_exercise_only():
    tests = [passed("ex1_sigmoid_tests", 2.0), passed("ex2_other_tests", 1.0)]
    out = enforce(tests, plan("import numpy as np", "from dlbricks.losses import sigmoid as s",
                              "def sigmoid(z):\n    return s(z)"), master())
    sig, other = out
    assert (sig.points, sig.status) == (0.0, "failed") and (other.points, other.status) == (1.0, "passed")
    assert sig.checks[0].label == LABEL and not sig.checks[0].passed and not sig.checks[0].hidden
    assert "dlbricks.losses" in sig.checks[0].message and "write yourself" in sig.checks[0].message
    assert sig.visible_failed == 1 and "1 visible check failed" in sig.summary()


def test_own_code_keeps_its_points():
    tests = [passed("ex1_sigmoid_tests", 2.0), passed("ex2_other_tests", 1.0)]
    own = "import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))"
    assert enforce(tests, plan(own), master()) == tests


def test_a_test_that_did_not_run_stays_as_it_was():
    t = TestResult("ex1_sigmoid_tests", 0.0, 2.0, "not_run", [])
    out = enforce([t], plan("from dlbricks.losses import sigmoid"), master())
    assert out == [t]
