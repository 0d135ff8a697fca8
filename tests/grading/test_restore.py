"""Unit tests: tests, points and metadata are restored from the master (nbgrader's preprocessors)."""
from __future__ import annotations

import copy

import nbformat
import pytest

from autograder.master import read_master
from autograder.release import nbgrader_generate
from autograder.samples import load_pair, solved_release
from autograder.steps.restore import restore_from_master

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE


@pytest.fixture(scope="module")
def master_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("restore")
    url = f"sqlite:///{tmp / 'gradebook.db'}"
    nbgrader_generate(FIXTURE_COURSE / "source" / FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, tmp / "course", url)
    master = read_master(FIXTURE_COURSE / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb",
                         FIXTURE_ASSIGNMENT)
    release, source = load_pair(FIXTURE_COURSE, FIXTURE_ASSIGNMENT)
    return url, master, solved_release(release, source)


def _ids(nb) -> list:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def test_an_untouched_submission_needs_nothing(master_db):
    url, master, right = master_db
    restored = restore_from_master(right, master, url)
    assert restored.notes == []
    assert "BEGIN HIDDEN TESTS" in _cell(restored.notebook, "test-relu").source  # the master's version


def test_edited_test_and_inflated_points_are_restored(master_db):
    url, master, right = master_db
    nb = copy.deepcopy(right)
    _cell(nb, "test-mse").source = "pass"
    _cell(nb, "test-relu").metadata.nbgrader["points"] = 100
    restored = restore_from_master(nb, master, url)
    assert "np.sum" not in _cell(restored.notebook, "test-mse").source
    assert "mse([1, 2, 3], [1, 2, 5])" in _cell(restored.notebook, "test-mse").source
    assert _cell(restored.notebook, "test-relu").metadata.nbgrader["points"] == 1.0
    assert any("test-mse had been edited" in n for n in restored.notes)
    assert any("points" in n for n in restored.notes)


def test_deleted_test_goes_back_to_its_place(master_db):
    url, master, right = master_db
    nb = copy.deepcopy(right)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test-mse"]
    restored = restore_from_master(nb, master, url)
    ids = _ids(restored.notebook)
    assert ids.index("mse") + 1 == ids.index("test-mse") < ids.index("softmax")
    assert any("test-mse was missing" in n for n in restored.notes)


def test_duplicates_and_retyped_cells(master_db):
    url, master, right = master_db
    nb = copy.deepcopy(right)
    dup = copy.deepcopy(_cell(nb, "test-relu"))
    dup.id = "copy"
    nb.cells.insert(0, dup)
    mse = _cell(nb, "test-mse")
    nb.cells[nb.cells.index(mse)] = nbformat.v4.new_markdown_cell(mse.source, metadata=mse.metadata, id=mse.id)
    restored = restore_from_master(nb, master, url)
    assert _ids(restored.notebook).count("test-relu") == 1
    assert _cell(restored.notebook, "test-mse").cell_type == "code"
    assert "nbgrader" not in restored.notebook.cells[0].metadata  # the earlier copy is ordinary code
    assert any("appeared 2 times" in n for n in restored.notes)
