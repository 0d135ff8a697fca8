"""A held-out lesson-08 submission that answers with ready-made implementations, graded
through the kit's grader: it loses exactly those exercises' points, and its feedback says why.

The issue's own example: ``conv2d`` as a call of the course library's ``nn.conv2d``
(through a module alias made in another cell), and ``max_pool2d`` as TensorFlow's
``tf.nn.max_pool2d`` reached with ``getattr`` inside the function. Everything else is
the solution, so every other exercise keeps its points.
"""
from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

from autograder.master import read_master
from autograder.samples import load_pair, solved_release, write_submission

from .test_grade_e2e import AUTOGRADER

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-forbidden-cnn")]

REPO = Path(__file__).resolve().parents[2]
LESSON = "08_cnn"

ALIAS = "\n\nimport dlbricks.nn as _layers   # a helper cell's alias\n"
CONV_CHEAT = '''def conv2d(x, w, strides=1, padding="VALID"):
    """The library's convolution, called through an alias from another cell."""
    return _layers.conv2d(np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64), strides=strides,
                          padding=padding.lower())
'''
POOL_CHEAT = '''def max_pool2d(x, pool_size=2, stride=None):
    """TensorFlow's pooling, reached through getattr inside the function."""
    import tensorflow
    pool = getattr(tensorflow.nn, "max_" + "pool2d")
    return pool(np.asarray(x, dtype=np.float32), pool_size, stride or pool_size, "VALID").numpy()
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forbidden-cnn")
    release, source = load_pair(REPO, LESSON)
    nb = solved_release(release, source)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex2_output_size":
            cell.source += ALIAS
        elif gid == "ex3_conv2d":
            cell.source = CONV_CHEAT
        elif gid == "ex4_max_pool2d":
            cell.source = POOL_CHEAT
    write_submission(tmp / "submitted", "cheat", LESSON, LESSON, nb)
    out = tmp / "out"
    proc = subprocess.run([AUTOGRADER, "--course-dir", str(REPO), "grade", str(tmp / "submitted"), "--out", str(out),
                           "--workers", "1", "--timeout", "900"],
                          env=dict(os.environ, AUTOGRADER_CACHE_DIR=str(tmp / "cache")),
                          capture_output=True, text=True, timeout=3000)
    assert (out / "grades.csv").exists(), proc.stdout[-3000:] + proc.stderr[-5000:]
    with (out / "grades.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    return row, (out / "feedback" / "cheat" / LESSON / f"{LESSON}.html").read_text()


def test_ready_made_convolution_and_pooling_lose_their_points_only(graded):
    row, feedback = graded
    points = {t.grade_id: t.points for t in read_master(REPO / "source" / LESSON / f"{LESSON}.ipynb", LESSON).tests}
    lost = points["ex3_conv2d_tests"] + points["ex4_max_pool2d_tests"]
    assert row["status"] == "graded", row
    auto_max = float(row["max_score"]) - float(row["manual_max"])
    assert float(row["auto_score"]) == pytest.approx(auto_max - lost), row
    assert "dlbricks" in feedback and "tensorflow" in feedback and "write yourself" in feedback
