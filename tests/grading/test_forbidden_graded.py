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

import csv
import os
import subprocess
from pathlib import Path

import pytest

from autograder.master import MasterNotebook, read_master
from autograder.samples import load_pair, solved_release, write_submission

from .test_grade_e2e import AUTOGRADER

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-forbidden")]

REPO = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forbidden")
    submitted = tmp / "submitted"
    release, source = load_pair(REPO, LESSON)
    write_submission(submitted, "cheat", LESSON, LESSON, _cheat(release, source, False))
    write_submission(submitted, "cheat_silenced", LESSON, LESSON, _cheat(release, source, True))
    out = tmp / "out"
    proc = subprocess.run([AUTOGRADER, "--course-dir", str(REPO), "grade", str(submitted), "--out", str(out),
                           "--workers", "2", "--timeout", "600"],
                          env=dict(os.environ, AUTOGRADER_CACHE_DIR=str(tmp / "cache")),
                          capture_output=True, text=True, timeout=1800)
    assert (out / "grades.csv").exists(), proc.stdout[-3000:] + proc.stderr[-5000:]
    with (out / "grades.csv").open(newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    return rows, out


def _points() -> dict[str, float]:
    master: MasterNotebook = read_master(REPO / "source" / LESSON / f"{LESSON}.ipynb", LESSON)
    return {t.grade_id: t.points for t in master.tests}


@pytest.mark.parametrize("student", ["cheat", "cheat_silenced"])
def test_a_ready_made_answer_loses_that_exercise(graded, student):
    rows, out = graded
    row = rows[student]
    points = _points()
    lost = points["ex2_softmax_tests"] + points["ex7_fit_linear_regression_tests"]
    assert row["status"] == "graded", row
    auto_max = float(row["max_score"]) - float(row["manual_max"])  # max_score counts the written answers too
    assert float(row["auto_score"]) == pytest.approx(auto_max - lost), row
    feedback = (out / "feedback" / student / LESSON / f"{LESSON}.html").read_text()
    assert "dlbricks.losses" in feedback and "numpy.linalg" in feedback
    assert "write yourself" in feedback
