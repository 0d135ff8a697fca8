"""Held-out submissions that answer an exercise with a ready-made implementation, graded
through the kit's grader: each loses that exercise's points, and its feedback says why.

Lesson 03 (numpy only, no TensorFlow start-up) is solved right except for the cheats:
- ``softmax`` calls the library's softmax through a helper defined in another cell;
- ``fit_linear_regression`` solves the least-squares problem with ``np.linalg`` reached
  through ``getattr`` with a computed name, inside the function;
- a second student hides the cheat from the kernel's own check (replaces
  ``check.forbidden`` with a no-op): the parent reads the submitted source anyway.
"""
from __future__ import annotations

import pytest

from autograder.master import MasterNotebook, read_master
from autograder.samples import solved_release

from .lesson_class import GROUP, REPO, submission

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUP), pytest.mark.timeout(2400)]

LESSON = "03_losses_and_descent"

SOFTMAX_CHEAT = '''def softmax(z):
    """Softmax along the last axis (ready-made, through a helper)."""
    return _library_softmax(np.asarray(z, dtype=np.float64))
'''
HELPER = "from dlbricks import losses as _l\n_library_softmax = lambda z: _l.softmax(z, axis=-1)\n"
FIT_CHEAT = '''def fit_linear_regression(x, y, lr, steps):
    """Least squares in closed form instead of gradient descent."""
    import numpy
    solve = getattr(numpy, "lin" + "alg").lstsq
    A = numpy.column_stack([x, numpy.ones_like(x)])
    (w, b), *_ = solve(A, y, rcond=None)
    return float(w), float(b)
'''
SILENCE = "from dlbricks import check as _c\n_c.forbidden = lambda *args, **kwargs: None\n"


def _cheat(release, source, silence_the_check: bool):
    nb = solved_release(release, source)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex1_mse":
            cell.source += "\n\n" + HELPER + (SILENCE if silence_the_check else "")
        elif gid == "ex2_softmax":
            cell.source = SOFTMAX_CHEAT
        elif gid == "ex7_fit_linear_regression":
            cell.source = FIT_CHEAT
    return nb


submission(LESSON, "cheat")(lambda release, source: _cheat(release, source, False))
submission(LESSON, "cheat_silenced")(lambda release, source: _cheat(release, source, True))


def _points() -> dict[str, float]:
    master: MasterNotebook = read_master(REPO / "source" / LESSON / f"{LESSON}.ipynb", LESSON)
    return {t.grade_id: t.points for t in master.tests}


@pytest.mark.parametrize("student", ["cheat", "cheat_silenced"])
def test_a_ready_made_answer_loses_that_exercise(lesson_class, student):
    row = lesson_class.row(student, LESSON)
    points = _points()
    lost = points["ex2_softmax_tests"] + points["ex7_fit_linear_regression_tests"]
    assert row["status"] == "graded", row
    auto_max = float(row["max_score"]) - float(row["manual_max"])  # max_score counts the written answers too
    assert float(row["auto_score"]) == pytest.approx(auto_max - lost), row
    feedback = lesson_class.feedback(student, LESSON)
    assert "dlbricks.losses" in feedback and "numpy.linalg" in feedback
    assert "write yourself" in feedback
