"""The sample class generator of examples/ (what `autograder demo` grades)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
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


def test_sample_class_has_the_five_kinds_of_student(make_submissions, fixture_course, tmp_path, monkeypatch):
    monkeypatch.setattr(make_submissions, "MANIFEST", tmp_path / "manifest.json")
    course = Course(fixture_course)
    out = tmp_path / "submitted"
    written = make_submissions.make(course, [FIXTURE_ASSIGNMENT], out=out)
    assert {p.relative_to(out).parts[0] for p in written} == {"ada_right", "ben_partial", "cy_broken",
                                                                "eve_malicious", "dan_mistakes"}
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


def test_one_lesson_is_regenerated_without_touching_the_others(make_submissions, fixture_course, tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(make_submissions, "MANIFEST", tmp_path / "manifest.json")
    for tree in ("source", "release"):  # a second lesson: the fixture under another name
        src = fixture_course / tree / FIXTURE_ASSIGNMENT
        dst = fixture_course / tree / "01_other"
        dst.mkdir()
        (dst / "01_other.ipynb").write_bytes((src / f"{FIXTURE_ASSIGNMENT}.ipynb").read_bytes())
    course = Course(fixture_course)
    out = tmp_path / "submitted"
    make_submissions.make(course, [FIXTURE_ASSIGNMENT, "01_other"], out=out)
    kept = out / "ada_right" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb"
    kept.write_text(kept.read_text() + " ")  # a mark that regenerating 01_other must leave alone
    before = json.loads((tmp_path / "manifest.json").read_text())["sources"][FIXTURE_ASSIGNMENT]

    other = fixture_course / "source" / "01_other" / "01_other.ipynb"
    other.write_text(other.read_text() + "\n")
    assert make_submissions.stale_lessons(course) == ["01_other"]
    make_submissions.make(course, make_submissions.stale_lessons(course), out=out)
    assert kept.read_text().endswith(" "), "the other lesson's samples were rewritten"
    sources = json.loads((tmp_path / "manifest.json").read_text())["sources"]
    assert sources[FIXTURE_ASSIGNMENT] == before and set(sources) == {FIXTURE_ASSIGNMENT, "01_other"}
    assert not make_submissions.is_stale(course)


def test_new_sample_files_are_not_swallowed_by_the_ignore_rules():
    # submitted/ is runtime state of a course folder and ignored, except the committed samples.
    probe = REPO / "examples" / "submitted" / "new_student" / "09_new" / "09_new.ipynb"
    proc = subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=REPO, capture_output=True, text=True)
    if proc.returncode == 128:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    assert proc.returncode == 1, "examples/submitted/ is ignored by .gitignore: new sample files would not be committed"
