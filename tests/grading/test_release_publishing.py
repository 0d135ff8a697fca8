"""`autograder release` stamps the course's repository into every released notebook.

A course configured for another repository gets Colab badges and an install
cell pointing there; `release --check` fails, naming the link, when the
committed notebooks point anywhere else; a flag overrides the file.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.cli import main

from .conftest import FIXTURE_ASSIGNMENT

pytestmark = pytest.mark.slow

BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]" \
        "(https://colab.research.google.com/github/someone/else/blob/main/release/00_fixture/00_fixture.ipynb)"
SETUP = ('import importlib.util, subprocess, sys\nif importlib.util.find_spec("dlbricks") is None:\n'
         '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
         '                    "dlbricks @ git+https://github.com/someone/else"], check=True)')


def _released(root: Path) -> str:
    return (root / "release" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb").read_text()


def _configure(root: Path, repository: str, ref: str) -> None:
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.Publishing.repository = {repository!r}\nc.Publishing.branch = 'spring2027'\n"
        f"c.Publishing.library_ref = {ref!r}\n")


def test_release_carries_the_configured_repository_and_check_catches_another(fixture_course, capsys):
    src = fixture_course / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb"
    nb = nbformat.read(src, as_version=4)
    nb.cells[:0] = [nbformat.v4.new_markdown_cell(BADGE), nbformat.v4.new_code_cell(SETUP)]
    nbformat.write(nb, src)
    course = ["--course-dir", str(fixture_course)]

    _configure(fixture_course, "alice/dl-course", "v2027.1")
    assert main(course + ["release"]) == 0
    text = _released(fixture_course)
    assert ("https://colab.research.google.com/github/alice/dl-course/blob/spring2027/"
            "release/00_fixture/00_fixture.ipynb") in text
    assert "dlbricks @ git+https://github.com/alice/dl-course@v2027.1" in text
    assert "someone/else" not in text
    assert main(course + ["release", "--check"]) == 0
    capsys.readouterr()

    # Another repository in the configuration: the committed release no longer matches.
    _configure(fixture_course, "bob/deep-learning", "")
    assert main(course + ["release", "--check"]) == 1
    err = capsys.readouterr().err
    assert "Colab badge opens https://colab.research.google.com/github/alice/dl-course" in err
    assert "colab.research.google.com/github/bob/deep-learning/blob/spring2027/release/00_fixture/00_fixture.ipynb" in err
    assert "'dlbricks @ git+https://github.com/bob/deep-learning@spring2027'" in err, \
        "without library_ref the install cell installs the branch"

    # A flag overrides the file for one run.
    assert main(course + ["release", "--check", "--repository", "alice/dl-course", "--library-ref", "v2027.1"]) == 0


def test_a_library_ref_the_repository_lacks_is_pointed_out(tmp_path):
    import subprocess

    from autograder.config import Publishing
    from autograder.course import Course
    from autograder.release import unpublished_ref_note

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    course = Course(tmp_path)
    assert unpublished_ref_note(course, Publishing(library_ref="v2027.1")) is None, "not a git checkout: nothing to say"
    git("init", "-q")
    (tmp_path / "README.md").write_text("course\n")
    git("add", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "start")
    note = unpublished_ref_note(course, Publishing(library_ref="v2027.1"))
    assert note and "git tag v2027.1" in note
    git("tag", "v2027.1")
    assert unpublished_ref_note(course, Publishing(library_ref="v2027.1")) is None
    assert unpublished_ref_note(course, Publishing()) is None, "no library_ref: the branch is installed"
