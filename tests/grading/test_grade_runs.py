"""Grading the same folder twice, and on a Dask cluster: the same single result per submission."""
from __future__ import annotations

import pytest

from autograder.samples import with_cell, write_submission

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE
from .crafted import right_answers
from .test_grade_e2e import read_rows, run_grader

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-runs")]

EXPECTED = {"ann": "5", "ben": "3", "cat": "0"}


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("small") / "submitted"
    right = right_answers()
    write_submission(root, "ann", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right)
    write_submission(root, "ben", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT,
                     with_cell(right, "mse", lambda s: s.replace("np.mean", "np.sum")))
    (root / "cat" / FIXTURE_ASSIGNMENT).mkdir(parents=True)  # no notebook
    return root


def test_grading_twice_gives_one_result_per_submission(small_class, tmp_path):
    out = tmp_path / "out"
    first = run_grader(small_class, out, "--workers", "2", cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr[-3000:]
    csv_once = (out / "grades.csv").read_text()
    second = run_grader(small_class, out, "--workers", "2", cache=tmp_path / "cache")
    assert second.returncode == 0, second.stderr[-3000:]
    assert (out / "grades.csv").read_text() == csv_once
    assert {k: v["score"] for k, v in read_rows(out).items()} == EXPECTED
    assert read_rows(out)["cat"]["status"] == "missing"

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(FIXTURE_ASSIGNMENT)
        assert sorted(s.student.id for s in assignment.submissions) == ["ann", "ben"]
        assert gb.find_submission(FIXTURE_ASSIGNMENT, "ben").score == 3


def test_a_student_regrades_after_fixing_the_notebook(small_class, tmp_path):
    out = tmp_path / "out"
    assert run_grader(small_class, out, cache=tmp_path / "cache").returncode == 0
    fixed = tmp_path / "fixed"
    write_submission(fixed, "ben", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right_answers())
    assert run_grader(fixed, out, cache=tmp_path / "cache").returncode == 0
    rows = read_rows(out)
    assert rows["ben"]["score"] == "5" and rows["ann"]["score"] == "5"  # ann's row is kept


def test_dask_executor_on_a_local_cluster_gives_the_same_grades(small_class, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        proc = run_grader(small_class, tmp_path / "out", "--executor", "dask",
                          "--scheduler", cluster.scheduler_address, cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr[-3000:]
        # The tasks really ran on the cluster's workers.
        with distributed.Client(cluster.scheduler_address) as client:
            prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
        assert f"grade {FIXTURE_ASSIGNMENT}" in prefixes and f"reference {FIXTURE_ASSIGNMENT}" in prefixes
    assert {k: v["score"] for k, v in read_rows(tmp_path / "out").items()} == EXPECTED


def test_a_solution_that_fails_its_own_tests_stops_that_assignment_with_errors(tmp_path):
    import shutil

    import nbformat

    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    source = course / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb"
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "relu":
            cell.source = cell.source.replace("np.maximum(x, 0.0)", "x")
    nbformat.write(nb, source)
    submitted = tmp_path / "submitted"
    write_submission(submitted, "ann", FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, right_answers())
    proc = run_grader(submitted, tmp_path / "out", cache=tmp_path / "cache", course=course)
    assert proc.returncode == 1
    assert "does not pass its own tests" in proc.stderr and "test-relu" in proc.stderr
    row = read_rows(tmp_path / "out")["ann"]
    assert row["status"] == "error" and "grader_error" in row["flags"]
