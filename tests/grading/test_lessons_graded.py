"""Every released lesson through the kit's grader: solved gets full marks, untouched 0,
the last exercise left undone partial credit (judged outside the kernel from the
lessons' own check records). Graded in the shared run of ``lesson_class``, on a Dask
cluster: every lesson's grading and reference run are shown to have taken that path."""
from __future__ import annotations

import pytest

from autograder.samples import load_pair, solution_cells

from .lesson_class import EXECUTOR, GROUP, LESSONS, REPO, register_standard

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUP), pytest.mark.timeout(2400),
              pytest.mark.skipif(not LESSONS, reason="no released lesson yet")]

register_standard(LESSONS)


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_scores_through_the_kit(lesson_class, lesson):
    solved, untouched, partial = (lesson_class.row(s, lesson) for s in ("solved", "untouched", "last_undone"))
    stderr = lesson_class.stderr
    assert solved["status"] == "graded", f"{solved}\n{stderr[-4000:]}"
    # every test passes; the written answers wait for a person (max_score counts them)
    auto_max = float(solved["max_score"]) - float(solved["manual_max"])
    assert auto_max > 0 and float(solved["auto_score"]) == auto_max == float(solved["score"]), solved
    assert solved["manual_pending"] == ("yes" if float(solved["manual_max"]) else "no"), solved
    assert "tampering" not in solved["flags"] and "tampering" not in untouched["flags"]
    assert untouched["status"] == "graded" and float(untouched["score"]) == 0, untouched
    if len(solution_cells(load_pair(REPO, lesson)[0])) > 1:
        assert 0 < float(partial["auto_score"]) < auto_max, partial
    else:  # a lesson of one exercise: leaving it undone leaves nothing
        assert float(partial["auto_score"]) == 0, partial


@pytest.mark.skipif(EXECUTOR != "dask", reason=f"DLBRICKS_LESSON_CLASS_EXECUTOR={EXECUTOR}: "
                                                "the lessons were graded on the local pool, not on Dask")
@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_was_graded_on_the_dask_cluster(lesson_class, lesson):
    """Each submission and the solution's reference run were tasks of the cluster, named by lesson
    (``grade 03_losses_and_descent-NANOSECONDS-STUDENT/...``, as the dashboard shows them)."""
    tasks, workers = lesson_class.dask_tasks, lesson_class.dask_workers
    assert len(workers) >= 2, workers
    notebook = f"{lesson}/{lesson}"
    for kind, student in (("reference", "reference"), ("grade", "solved"), ("grade", "untouched"),
                          ("grade", "last_undone")):
        ran = [worker for key, worker in tasks.items()
               if key.startswith(f"{kind} {lesson}-") and key.endswith(f"-{student}/{notebook}")]
        assert ran, (f"no {kind} task of {student}/{notebook} finished on the Dask cluster; "
                     f"its tasks: {sorted(tasks)}\n{lesson_class.stderr[-3000:]}")
        assert set(ran) <= workers, (ran, workers)
