"""Unit tests: judging test cells outside the kernel from check records."""
from __future__ import annotations

from dlbricks.check import encode_value

from autograder.steps.execute import CellResult, SegmentResult
from autograder.steps.judge import judge_test, reference_from_report

import numpy as np


def rec(label: str, actual, passed: bool = True, check: str = "close") -> dict:
    return {"check": check, "label": label, "actual": encode_value(actual), "passed": passed,
            "params": {"rtol": 1e-5, "atol": 1e-8, "expected_shape": list(np.shape(actual))}}


REFERENCE = [
    {"hidden": False, "records": [rec("visible", np.array([1.0, 2.0]))]},
    {"hidden": True, "records": [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))]},
]


def cell(status: str, *segments: tuple[str, list, dict | None]) -> CellResult:
    segs = [SegmentResult(hidden=i > 0, test=True, status=s, error=e, records=r)
            for i, (s, r, e) in enumerate(segments)]
    return CellResult(index=4, status=status, segments=segs, outputs=[], truncated=False, seconds=0.1)


def test_matching_records_and_clean_run_earn_the_points():
    c = cell("ok", ("ok", [rec("visible", np.array([1.0, 2.0]))], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    t = judge_test("t", 2.0, REFERENCE, c)
    assert (t.status, t.points, t.tampering) == ("passed", 2.0, False)
    assert t.summary() == "All checks passed, including 2 hidden tests."


def test_visible_pass_hidden_fail_is_said_as_such():
    err = {"ename": "AssertionError", "evalue": "hidden a: values differ"}
    c = cell("error", ("ok", [rec("visible", np.array([1.0, 2.0]))], None),
             ("error", [rec("hidden a", 4.0, passed=False)], err))
    t = judge_test("t", 2.0, REFERENCE, c)
    assert (t.status, t.points, t.tampering) == ("failed", 0.0, False)
    assert t.summary() == "Visible checks passed, 1 hidden test failed; the test stopped, so 1 hidden test did not run."
    assert [c.passed for c in t.checks] == [True, False, False]
    assert [c.ran for c in t.checks] == [True, True, False]
    assert t.checks[2].message.startswith("not reached")
    assert "AssertionError" in t.error


def test_kernel_says_pass_but_values_differ_is_named_not_tampering():
    # The check was not replaced (the guard found nothing): the test computed its expected
    # value from the student's own variables, so the kernel passed values the solution did not.
    c = cell("ok", ("ok", [rec("visible", np.array([9.0, 9.0]), passed=True)], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    t = judge_test("t", 2.0, REFERENCE, c)
    assert (t.status, t.points, t.tampering) == ("failed", 0.0, False)
    assert "1 of your values differs from the solution's" in t.differs
    assert "differs from the solution's" in t.summary() and "review" in t.summary()
    assert t.checks[0].message.startswith("your value differs from the solution's")


def test_a_replaced_check_is_tampering():
    c = cell("ok", ("ok", [rec("visible", np.array([9.0, 9.0]), passed=True)], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    c.segments[0].guard_before = ["close"]  # the guard found dlbricks.check.close replaced
    t = judge_test("t", 2.0, REFERENCE, c)
    assert (t.status, t.points, t.tampering, t.differs) == ("failed", 0.0, True, "")
    assert "replaced" in t.summary()


def test_missing_records_with_a_clean_run_is_fewer_checks_not_tampering():
    c = cell("ok", ("ok", [], None), ("ok", [], None))
    t = judge_test("t", 2.0, REFERENCE, c)
    assert not t.tampering and t.points == 0.0
    assert "fewer checks than the solution (0 of 3" in t.differs


def test_a_loop_over_more_returned_values_is_judged_check_by_check():
    ref = [{"hidden": False, "records": [rec("each rate", 0.5, check="at_least")] * 3}]
    for r in ref[0]["records"]:
        r["params"] = {"threshold": 1e-6}
    more = [dict(rec("each rate", v, check="at_least"), params={"threshold": 1e-6}) for v in (1.0, 0.3, 0.1, 0.03)]
    t = judge_test("t", 1.0, ref, cell("ok", ("ok", more, None)))
    assert (t.status, t.points, t.tampering) == ("passed", 1.0, False)
    more[2]["actual"] = encode_value(-0.1)  # one of them below the solution's threshold
    t = judge_test("t", 1.0, ref, cell("ok", ("ok", more, None)))
    assert (t.status, t.points, t.tampering) == ("failed", 0.0, False)


def test_extra_or_garbled_records_do_not_pass():
    c = cell("ok", ("ok", [rec("visible", np.array([1.0, 2.0])), rec("visible", np.array([1.0, 2.0]))], None),
             ("ok", [{"garbled": True}, rec("hidden b", np.array([0.5]))], None))
    t = judge_test("t", 2.0, REFERENCE, c)
    assert t.points == 0.0 and not t.tampering
    assert "did not make" in t.differs and "fewer checks" in t.differs


def test_student_claimed_params_and_passed_are_ignored():
    forged = rec("visible", np.array([1.5, 2.5]), passed=True)
    forged["params"] = {"rtol": 10.0, "atol": 10.0}
    c = cell("ok", ("ok", [forged], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    assert judge_test("t", 2.0, REFERENCE, c).points == 0.0


def test_cell_that_never_ran_earns_nothing_and_is_not_tampering():
    t = judge_test("t", 2.0, REFERENCE, None)
    assert (t.status, t.points, t.tampering) == ("not_run", 0.0, False)


def test_without_reference_records_the_kernel_decides():
    assert judge_test("t", 1.0, [{"hidden": False, "records": []}],
                      cell("ok", ("ok", [], None))).points == 1.0
    assert judge_test("t", 1.0, [{"hidden": False, "records": []}],
                      cell("error", ("error", [], {"ename": "AssertionError", "evalue": ""}))).points == 0.0


def test_reference_from_report_reports_a_failing_solution():
    from autograder.steps.execute import ExecutionReport

    good = cell("ok", ("ok", [rec("visible", 1.0)], None))
    bad = cell("error", ("error", [rec("x", 2.0, passed=False)], {"ename": "AssertionError", "evalue": "no"}))
    bad.index = 7
    report = ExecutionReport({4: good, 7: bad}, "completed", True)
    plan = [{"index": 4, "grade_id": "a", "segments": []}, {"index": 7, "grade_id": "b", "segments": []},
            {"index": 9, "grade_id": None, "segments": []}]
    reference, problems = reference_from_report(report, plan)
    assert set(reference) == {"a", "b"}
    assert any("test cell b fails on the solution" in p for p in problems)


def test_a_check_library_replaced_during_the_test_voids_it():
    c = cell("ok", ("ok", [rec("visible", np.array([1.0, 2.0]))], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    c.segments[1].guard_after = ["close"]
    t = judge_test("t", 2.0, REFERENCE, c)
    assert (t.points, t.tampering) == (0.0, True)
    assert all("replaced" in ch.message for ch in t.checks)


def test_a_patch_undone_before_the_test_is_flagged_but_the_honest_result_counts():
    c = cell("ok", ("ok", [rec("visible", np.array([1.0, 2.0]))], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    c.segments[0].guard_before = ["close", "check"]
    t = judge_test("t", 2.0, REFERENCE, c)
    assert (t.points, t.tampering) == (2.0, True)


def test_a_guard_that_did_not_answer_is_tampering():
    c = cell("ok", ("ok", [rec("visible", np.array([1.0, 2.0]))], None),
             ("ok", [rec("hidden a", 3.0), rec("hidden b", np.array([0.5]))], None))
    c.segments[0].guard_before = None
    assert judge_test("t", 2.0, REFERENCE, c).points == 0.0


# ---------------------------------------------------------------------------
# What the judge runs: the master's state cells a test needs, the student's names it fetches
# ---------------------------------------------------------------------------
import nbformat  # noqa: E402

from autograder.lesson_state import analyse, judged_in_student_kernel, names_of  # noqa: E402


def _cells(*specs):
    cells = []
    for kind, code in specs:
        meta = {"nbgrader": {"solution": kind == "solution", "grade": kind.startswith("test"),
                             "grade_id": kind if kind.startswith("test") else None}}
        cells.append(nbformat.v4.new_code_cell(code, metadata=meta))
    return cells


def analysed(*specs):
    cells = _cells(*specs)
    return analyse(cells, lambda c: c.metadata["nbgrader"]["grade_id"],
                   lambda c: c.metadata["nbgrader"]["solution"])


def test_each_test_gets_the_cells_that_define_what_it_reads_and_no_others():
    a = analysed(("state", "import numpy as np\nfrom dlbricks import check"),   # 0
                 ("state", "X = np.ones((3, 2))\nrng = np.random.default_rng(0)"),  # 1
                 ("state", "fig = plot(X)  # a figure nobody tests"),                # 2
                 ("solution", "def relu(x):\n    return np.maximum(x, 0)\nW = 3"),
                 ("state", "X[0, 0] = -1.0"),                                          # 3: changes X in place
                 ("test-a", "check.close(relu(X), np.maximum(X, 0))"),
                 ("state", "X = np.zeros(2)"),                                         # 4: binds X anew
                 ("test-b", "for _x in [X]:\n    check.close(relu(_x), _x * W)"))
    assert a.student_names == {"relu", "W"}
    assert a.setup_of["test-a"] == (0, 1, 3)
    assert a.setup_of["test-b"] == (0, 4)  # the last binding of X; what came before no longer matters


def test_a_cell_that_only_reads_an_array_through_its_methods_does_not_change_it():
    # Lesson 03: a demo that standardises `age` with age.mean() and trains with the student's
    # function 300 times must not run in the judge before every test that reads `age`.
    a = analysed(("state", "import numpy as np\nfrom dlbricks import check"),           # 0
                 ("state", "age = np.arange(5.0)\nrng = np.random.default_rng(0)"),     # 1
                 ("state", "s = (age - age.mean()) / age.std()\nfor _ in range(300):\n    step(s)"),  # 2
                 ("state", "noise = rng.normal(size=3)"),                               # 3: draws: changes rng
                 ("state", "age.sort()"),                                               # 4: sorts in place
                 ("solution", "def step(x):\n    return x"),
                 ("test-a", "check.close(age, step(age))\ncheck.close(rng.normal(), 0.0)"))
    assert a.setup_of["test-a"] == (0, 1, 3, 4)


def test_a_name_the_code_binds_before_reading_is_its_own():
    names = names_of("_x = 2\nprint(_x, relu(_x))\ndef f(a):\n    return a + g\nfor i in range(3):\n    i")
    assert "_x" not in names.reads and "a" not in names.reads and "i" not in names.reads
    assert {"relu", "g"} <= names.reads and "print" not in names.reads


def test_a_module_imported_by_a_solution_is_not_the_students():
    a = analysed(("solution", "import tensorflow as tf\ndef f(x):\n    return tf.constant(x)"),
                 ("test-a", "check.equal(f(1), 1)"))
    assert a.student_names == {"f"}


def test_the_student_kernel_marker():
    assert judged_in_student_kernel("# judged in the student's kernel: traces f with tf.function\ncheck.equal(1, 1)")
    assert not judged_in_student_kernel("check.equal(judged, 1)")


# ---------------------------------------------------------------------------
# End to end through the sandbox: a test in the judge, the student's function in their kernel
# ---------------------------------------------------------------------------
import pytest  # noqa: E402

from autograder.sandbox import RunSettings, sandbox_problem  # noqa: E402
from autograder.steps.execute import execute_plan  # noqa: E402

LOOPS = ("def total(x):\n    x = np.asarray(x)\n    if x.dtype.kind not in 'biuf':\n"
         "        raise ValueError('numbers please')\n    s = 0.0\n    for v in x:\n        s += v\n    return s")
NP_SUM = "def total(x):\n    return np.sum(np.asarray(x, dtype=float))"
IMPORTS = "import numpy as np\nfrom dlbricks import check"


def _plan(solution: str) -> list[dict]:
    return [
        {"index": 0, "where": "student", "segments": [{"code": IMPORTS, "hidden": False, "test": False}]},
        {"index": 1, "where": "student", "segments": [{"code": solution, "hidden": False, "test": False}]},
        {"index": 2, "grade_id": "t", "where": "judge", "setup": [{"code": IMPORTS, "reads": []}],
         "segments": [
             {"code": "check.forbidden(total, 'np.sum', args=(np.ones(3),))\n"
                      "check.close(total(np.ones(3)), 3.0, label='total of three ones')",
              "hidden": False, "test": True, "reads": ["total"]},
             {"code": "check.raises(total, 'x', label='total of a string raises')\nprint('from the judge')",
              "hidden": True, "test": True, "reads": ["total"]}]},
    ]


@pytest.mark.slow
@pytest.mark.skipif(sandbox_problem() is not None, reason="bubblewrap is not usable here")
def test_the_judge_calls_the_students_function_across_the_sandboxed_channel():
    honest = execute_plan(_plan(LOOPS), RunSettings(timeout=60))
    cell = honest.cells[2]
    assert cell.status == "ok" and all(s.judge for s in cell.segments)
    assert [(r["check"], r["passed"]) for s in cell.segments for r in s.records] == [
        ("forbidden", True), ("close", True), ("raises", True)]  # ValueError crossed as itself
    assert {"output_type": "stream", "name": "stdout", "text": "from the judge\n"} in cell.outputs
    # check.forbidden in the judge: the student's kernel reads its own cells and records the calls.
    ready_made = execute_plan(_plan(NP_SUM), RunSettings(timeout=60)).cells[2]
    first = ready_made.segments[0]
    assert first.status == "error" and first.records[0]["check"] == "forbidden"
    assert first.records[0]["passed"] is False and "numpy.sum" in first.error["evalue"]


def test_release_check_prints_each_lessons_share_judged_in_the_judge(capsys):
    from pathlib import Path

    from autograder.cli import _judge_shares
    from autograder.course import Course

    repo = Path(__file__).resolve().parents[2]
    course = Course(repo)
    assert _judge_shares(course, course.lessons()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == course.lessons()
    for line in lines:
        share = int(line.split(": ")[1].split("%")[0])
        marked = "judged in the student's kernel:" in line
        assert (share == 100) != marked, line  # below 100 % exactly when tests are marked, and named


def test_a_comprehensions_loop_variable_is_not_a_lesson_name():
    # Lesson 01's test reads `a` only as a comprehension variable: the demo cell that defines a
    # global `a` (and imports TensorFlow's work) must not run in the judge for it.
    assert names_of("_ref = np.array([[np.sum((a - b) ** 2) for b in _B] for a in _A])").reads == {"np", "_A", "_B"}
    assert names_of("y = [x + 1 for x in x]").reads == {"x"}  # the first iterable is read outside
    assert names_of("y = [a for a in range(3)]\nz = a").reads == {"a"}


DESCEND = ("def descend(grad_fn, x0, lr, steps):\n    x = float(x0)\n    for _ in range(steps):\n"
           "        x = x - lr * grad_fn(x)\n    return x")
# A student who forges calls back: other keys, garbage, an object the channel cannot carry.
FORGER = ("def descend(grad_fn, x0, lr, steps):\n    k = get_ipython().kernel\n"
          "    forged = [k.raw_input('{\"$call\": 1, \"args\": [], \"kwargs\": {\"$d\": []}}'), k.raw_input('garbage')]\n"
          "    assert all('raised' in f for f in forged), forged\n"
          "    try:\n        grad_fn(object())\n    except TypeError:\n        pass\n"
          "    else:\n        raise AssertionError('an object crossed')\n"
          "    return 99.0")


@pytest.mark.slow
@pytest.mark.skipif(sandbox_problem() is not None, reason="bubblewrap is not usable here")
def test_the_students_code_calls_a_function_of_the_test_back_through_the_channel():
    def plan(solution):
        return [
            {"index": 0, "where": "student", "segments": [{"code": IMPORTS, "hidden": False, "test": False}]},
            {"index": 1, "where": "student", "segments": [{"code": solution, "hidden": False, "test": False}]},
            {"index": 2, "grade_id": "t", "where": "judge", "setup": [{"code": IMPORTS, "reads": []}],
             "segments": [{"code": "_calls = []\n_grad = lambda x: _calls.append(x) or 2 * x - 6.0\n"
                                   "check.close(descend(_grad, 0.0, 0.1, 5), 3.0 - 3.0 * 0.8 ** 5, label='x_5')\n"
                                   "check.equal(len(_calls), 5, label='calls of the gradient')",
                           "hidden": False, "test": True, "reads": ["descend"]}]},
        ]
    honest = execute_plan(plan(DESCEND), RunSettings(timeout=60)).cells[2]
    assert honest.status == "ok", honest.segments[0].error
    assert [(r["label"], r["passed"]) for r in honest.segments[0].records] == [
        ("x_5", True), ("calls of the gradient", True)]
    forger = execute_plan(plan(FORGER), RunSettings(timeout=60)).cells[2]
    assert forger.segments[0].status == "error" and forger.segments[0].records, forger.segments[0].error
    assert forger.segments[0].records[0]["passed"] is False
    assert forger.segments[0].records[0]["label"] == "x_5"  # the forgeries ran, found nothing, and 99 is wrong
