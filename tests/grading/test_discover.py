"""Unit tests: finding submissions in nbgrader's layout, flat LMS folders and archives."""
from __future__ import annotations

import zipfile

import pytest

from autograder.course import Course
from autograder.discover import SubmissionLayoutError, discover, extract_archive

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE

COURSE = Course(FIXTURE_COURSE)
NB = f"{FIXTURE_ASSIGNMENT}.ipynb"


def _touch(path, text="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nbgrader_layout_with_missing_renamed_and_unknown(tmp_path):
    _touch(tmp_path / "ann" / FIXTURE_ASSIGNMENT / NB)
    _touch(tmp_path / "ben" / FIXTURE_ASSIGNMENT / "Copy of 00_fixture.ipynb")
    (tmp_path / "cat").mkdir()
    _touch(tmp_path / "dan" / "99_unknown" / "99_unknown.ipynb")
    _touch(tmp_path / "ann" / FIXTURE_ASSIGNMENT / "numpy.py", "")
    subs = {(s.student, s.assignment): s for s in discover(tmp_path, COURSE)}
    assert set(subs) == {(st, a) for st in ("ann", "ben", "cat", "dan") for a in (FIXTURE_ASSIGNMENT, "99_unknown")}
    assert subs[("ann", FIXTURE_ASSIGNMENT)].path.name == NB
    assert subs[("ben", FIXTURE_ASSIGNMENT)].renamed_from == "Copy of 00_fixture.ipynb"
    assert subs[("cat", FIXTURE_ASSIGNMENT)].path is None
    assert not subs[("dan", "99_unknown")].known_assignment


def test_assignment_option_limits_and_still_gives_missing_rows(tmp_path):
    _touch(tmp_path / "ann" / FIXTURE_ASSIGNMENT / NB)
    (tmp_path / "ben").mkdir()
    subs = discover(tmp_path, COURSE, FIXTURE_ASSIGNMENT)
    assert [(s.student, s.path is None) for s in subs] == [("ann", False), ("ben", True)]


def test_flat_folder_needs_the_assignment_and_names_students(tmp_path):
    _touch(tmp_path / "smith_jane_00_fixture.ipynb")
    _touch(tmp_path / "lee-joe.ipynb")
    with pytest.raises(SubmissionLayoutError, match="--assignment"):
        discover(tmp_path, COURSE)
    subs = discover(tmp_path, COURSE, FIXTURE_ASSIGNMENT)
    assert sorted(s.student for s in subs) == ["lee-joe", "smith_jane"]


def test_archive_extraction_refuses_paths_outside(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/ann/00_fixture/00_fixture.ipynb", "{}")
        zf.writestr("../../escaped.txt", "nope")
    root = extract_archive(archive, tmp_path / "x")
    assert root.name == "class" and (root / "ann" / FIXTURE_ASSIGNMENT / NB).exists()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
