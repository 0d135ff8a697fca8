"""A held-out lesson-08 submission that answers with ready-made implementations, graded
through the kit's grader: it loses exactly those exercises' points, and its feedback says why.

The issue's own example: ``conv2d`` as a call of the course library's ``nn.conv2d``
(through a module alias made in another cell), and ``max_pool2d`` as TensorFlow's
``tf.nn.max_pool2d`` reached with ``getattr`` inside the function. Everything else is
the solution, so every other exercise keeps its points.
"""
from __future__ import annotations

import pytest

from autograder.master import read_master
from autograder.samples import solved_release

from .lesson_class import GROUP, REPO, submission

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUP), pytest.mark.timeout(2400)]

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


@submission(LESSON, "cheat")
def _cheat(release, source):
    nb = solved_release(release, source)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex2_output_size":
            cell.source += ALIAS
        elif gid == "ex3_conv2d":
            cell.source = CONV_CHEAT
        elif gid == "ex4_max_pool2d":
            cell.source = POOL_CHEAT
    return nb


def test_ready_made_convolution_and_pooling_lose_their_points_only(lesson_class):
    row, feedback = lesson_class.row("cheat", LESSON), lesson_class.feedback("cheat", LESSON)
    points = {t.grade_id: t.points for t in read_master(REPO / "source" / LESSON / f"{LESSON}.ipynb", LESSON).tests}
    lost = points["ex3_conv2d_tests"] + points["ex4_max_pool2d_tests"]
    assert row["status"] == "graded", row
    auto_max = float(row["max_score"]) - float(row["manual_max"])
    assert float(row["auto_score"]) == pytest.approx(auto_max - lost), row
    assert "dlbricks" in feedback and "tensorflow" in feedback and "write yourself" in feedback
