"""The sample class generator of examples/ (what `autograder demo` grades)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course

from .conftest import FIXTURE_ASSIGNMENT

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_submissions():
    spec = importlib.util.spec_from_file_location("make_submissions_under_test", REPO / "examples" / "make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_class_has_the_four_kinds_of_student(make_submissions, fixture_course, tmp_path, monkeypatch):
    monkeypatch.setattr(make_submissions, "MANIFEST", tmp_path / "manifest.json")
    course = Course(fixture_course)
    out = tmp_path / "submitted"
    written = make_submissions.make(course, [FIXTURE_ASSIGNMENT], out=out)
    assert {p.relative_to(out).parts[0] for p in written} == {"ada_right", "ben_partial", "cy_broken",
                                                                "eve_malicious"}
    nb_path = f"{FIXTURE_ASSIGNMENT}/{FIXTURE_ASSIGNMENT}.ipynb"
    right = nbformat.read(out / "ada_right" / nb_path, as_version=4)
    assert "np.maximum(x, 0.0)" in "".join(c.source for c in right.cells)
    partial = "".join(c.source for c in nbformat.read(out / "ben_partial" / nb_path, as_version=4).cells)
    assert "np.maximum(x, 0.0)" in partial and "raise NotImplementedError()" in partial
    with pytest.raises(ValueError):
        json.loads((out / "cy_broken" / nb_path).read_text())
    malicious = "".join(c.source for c in nbformat.read(out / "eve_malicious" / nb_path, as_version=4).cells)
    assert "setattr(_check" in malicious and "np.maximum(x, 0.0)" not in malicious
    assert not make_submissions.is_stale(course)
    (fixture_course / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb").write_text(
        (fixture_course / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb").read_text() + "\n")
    assert make_submissions.is_stale(course)


def test_committed_samples_follow_the_committed_lessons(make_submissions):
    """`autograder demo` would otherwise rewrite examples/ in a fresh clone (and the Docker
    image test grades the committed samples as they are)."""
    assert not make_submissions.is_stale(Course(REPO)), (
        "examples/submitted was made from other lesson notebooks than source/ and release/ hold now: "
        "run `.venv/bin/python examples/make_submissions.py` and commit examples/")
