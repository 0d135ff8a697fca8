"""The "Open in Colab" badge of a released lesson is a text link: readable in a Lab without
internet (an image badge is a broken picture there), a working link on GitHub and in Colab.
`autograder release` writes it, `autograder validate` insists on it; both agree."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nbformat

from autograder.config import Publishing
from autograder.course import Course
from autograder.release import COLAB_BADGE_IMAGE, COLAB_URL, colab_url, stamp
from autograder.skeleton import skeleton
from autograder.validate import LessonValidation, check_colab

ROOT = Path(__file__).resolve().parents[2]
NAME = "09_example"
REL = f"release/{NAME}/{NAME}.ipynb"
IMAGE_BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
               "(https://colab.research.google.com/github/someone/else/blob/main/" + REL + ")")


def _notebook(first_markdown: str) -> nbformat.NotebookNode:
    nb = skeleton(NAME, Publishing())
    nb.cells[0] = nbformat.v4.new_markdown_cell(first_markdown)
    return nb


def _validate(tmp_path: Path, nb: nbformat.NotebookNode, publishing: Publishing) -> list[str]:
    path = tmp_path / "release" / NAME / f"{NAME}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    result = LessonValidation(NAME)
    check_colab(Course(tmp_path), NAME, SimpleNamespace(publishing=publishing), result)
    return result.errors


def test_release_turns_an_image_badge_into_a_text_link_to_the_configured_repository():
    publishing = Publishing(repository="alice/dl-course", branch="spring2027")
    nb = stamp(_notebook(IMAGE_BADGE), REL, publishing)
    text = nb.cells[0].source
    assert "![" not in text and "colab-badge.svg" not in text and not COLAB_BADGE_IMAGE.search(text)
    assert text.startswith(f"**[Open in Colab]({colab_url(publishing, REL)})**")
    assert stamp(nb, REL, publishing).cells[0].source == text  # stamping again changes nothing


def test_validate_accepts_the_link_and_refuses_an_image_badge(tmp_path):
    publishing = Publishing()
    assert _validate(tmp_path, stamp(_notebook(IMAGE_BADGE), REL, publishing), publishing) == []
    image = _notebook(IMAGE_BADGE.replace("someone/else", publishing.repository))
    [error] = _validate(tmp_path, image, publishing)
    assert "broken picture" in error and f"autograder release {NAME}" in error


def test_new_lessons_and_every_committed_lesson_use_the_link():
    assert not COLAB_BADGE_IMAGE.search(skeleton(NAME, Publishing()).cells[0].source)
    for folder in ("source", "release"):
        for path in sorted((ROOT / folder).glob("*/*.ipynb")):
            first = "".join(json.loads(path.read_text())["cells"][0]["source"])
            assert COLAB_URL.search(first) and not COLAB_BADGE_IMAGE.search(first), path
