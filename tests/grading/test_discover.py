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
    notes: list[str] = []
    subs = {(s.student, s.assignment): s for s in discover(tmp_path, COURSE, notes=notes)}
    # The unknown folder concerns dan only; every student gets the course's assignment.
    assert set(subs) == {(st, FIXTURE_ASSIGNMENT) for st in ("ann", "ben", "cat", "dan")} | {("dan", "99_unknown")}
    assert subs[("ann", FIXTURE_ASSIGNMENT)].path.name == NB
    assert subs[("ben", FIXTURE_ASSIGNMENT)].renamed_from == "Copy of 00_fixture.ipynb"
    assert subs[("cat", FIXTURE_ASSIGNMENT)].path is None
    assert not subs[("dan", "99_unknown")].known_assignment
    assert notes == ["dan/99_unknown is not an assignment of this course: listed for that student only, not graded."]


def test_a_stray_folder_is_a_note_not_an_assignment_for_everyone(tmp_path):
    """Issue 13, case 1: eve's 00_fixture_OLD folder must not become everyone's assignment."""
    for student in ("ann", "eve"):
        _touch(tmp_path / student / FIXTURE_ASSIGNMENT / NB)
    (tmp_path / "eve" / f"{FIXTURE_ASSIGNMENT}_OLD").mkdir()
    _touch(tmp_path / "grades-export.csv", "")
    notes: list[str] = []
    subs = discover(tmp_path, COURSE, notes=notes)
    assert [(s.student, s.assignment, s.known_assignment) for s in subs] == [
        ("ann", FIXTURE_ASSIGNMENT, True), ("eve", FIXTURE_ASSIGNMENT, True),
        ("eve", f"{FIXTURE_ASSIGNMENT}_OLD", False)]
    assert any("eve/00_fixture_OLD" in n for n in notes) and any("grades-export.csv" in n for n in notes)


def test_an_unknown_assignment_option_is_refused_with_the_known_ones(tmp_path):
    _touch(tmp_path / "ann" / FIXTURE_ASSIGNMENT / NB)
    with pytest.raises(SubmissionLayoutError, match="no assignment named '99_x'.*00_fixture"):
        discover(tmp_path, COURSE, "99_x")


def test_symlinks_and_special_files_are_found_so_that_validation_can_refuse_them(tmp_path):
    import os

    target = tmp_path / "elsewhere.ipynb"
    _touch(target)
    (tmp_path / "subs" / "ann" / FIXTURE_ASSIGNMENT).mkdir(parents=True)
    (tmp_path / "subs" / "ann" / FIXTURE_ASSIGNMENT / NB).symlink_to(target)
    (tmp_path / "subs" / "ben" / FIXTURE_ASSIGNMENT).mkdir(parents=True)
    os.mkfifo(tmp_path / "subs" / "ben" / FIXTURE_ASSIGNMENT / NB)
    subs = {s.student: s for s in discover(tmp_path / "subs", COURSE)}
    assert subs["ann"].path.is_symlink() and subs["ben"].path is not None


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
