"""The README's lesson table, kept in step with ``source/`` by ``autograder release``.

The table sits between two markers in ``README.md``::

    <!-- lessons:begin -->
    | lesson | what you do | open |
    ...
    <!-- lessons:end -->

Regenerating keeps each existing row's words (instructors edit them by hand),
points its Colab badge at the configured repository, adds a row for every lesson
``source/`` has and the table lacks, and drops rows of lessons that are gone.
A new row takes its title from the notebook's first ``# Lesson NN: Title``
heading and its description from the first learning goal; edit it as you like.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .config import Publishing
from .course import Course
from .release import COLAB_URL, colab_url

BEGIN, END = "<!-- lessons:begin -->", "<!-- lessons:end -->"
HEADER = "| lesson | what you do | open |\n| --- | --- | --- |"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
ROW_LESSON = re.compile(r"\(release/([^/)]+)/[^)]+\.ipynb\)")
HEADING = re.compile(r"^#\s+(?:Lesson\s+)?(\d+)\s*[:.]?\s*(.+)$", re.M)
FIRST_GOAL = re.compile(r"^\s*1\.\s+(.+)$", re.M)


def _markdown(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def new_row(course: Course, name: str, publishing: Publishing) -> str:
    """A table row for lesson ``name`` made from its source notebook."""
    number, _, slug = name.partition("_")
    title, summary = f"{number} {slug.replace('_', ' ').capitalize()}", ""
    path = course.source_dir / name / f"{name}.ipynb"
    if path.is_file():
        texts = _markdown(nbformat.read(path, as_version=4))
        heading = next((m for t in texts for m in [HEADING.search(t)] if m), None)
        if heading:
            title = f"{number} {heading.group(2).strip()}"
        goal = next((m for t in texts for m in [FIRST_GOAL.search(t)] if m), None)
        if goal:
            summary = goal.group(1).strip().rstrip(";.")
    rel = f"release/{name}/{name}.ipynb"
    return (f"| {title} | {summary.replace('|', '/')} | [notebook]({rel}) "
            f"[![Open In Colab]({BADGE})]({colab_url(publishing, rel)}) |")


def table(course: Course, publishing: Publishing, current: str = "") -> str:
    """The table for every lesson of ``course``, keeping the words of ``current``'s rows."""
    rows: dict[str, str] = {}
    for line in current.splitlines():
        found = ROW_LESSON.search(line)
        if line.startswith("|") and found:
            rows[found.group(1)] = line
    lines = [HEADER]
    for name in course.lessons():
        row = rows.get(name) or new_row(course, name, publishing)
        lines.append(COLAB_URL.sub(colab_url(publishing, f"release/{name}/{name}.ipynb"), row))
    return "\n".join(lines)


def _split(text: str) -> tuple[str, str, str] | None:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[:start + len(BEGIN)], text[start + len(BEGIN):end], text[end:]


def updated_readme(course: Course, publishing: Publishing, readme: Path | None = None) -> tuple[str, str] | None:
    """(current text, text with the table regenerated), or None when the README has no markers."""
    readme = readme or course.root / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    parts = _split(text)
    if parts is None:
        return None
    head, body, tail = parts
    return text, f"{head}\n{table(course, publishing, body)}\n{tail}"


def update_readme(course: Course, publishing: Publishing) -> bool:
    """Rewrite the README's lesson table; True when it changed."""
    texts = updated_readme(course, publishing)
    if texts is None or texts[0] == texts[1]:
        return False
    (course.root / "README.md").write_text(texts[1], encoding="utf-8")
    return True


def readme_problem(course: Course, publishing: Publishing) -> str | None:
    """Why the README's lesson table is not what ``source/`` gives, or None."""
    texts = updated_readme(course, publishing)
    if texts is None or texts[0] == texts[1]:
        return None
    have = set(ROW_LESSON.findall(texts[0].split(BEGIN, 1)[1].split(END, 1)[0]))
    want = set(course.lessons())
    parts = []
    if want - have:
        parts.append("no row for " + ", ".join(sorted(want - have)))
    if have - want:
        parts.append("rows for lessons not in source/: " + ", ".join(sorted(have - want)))
    if not parts:
        parts.append("a Colab badge or the order differs from the configuration")
    return (f"README.md's lesson table is out of date ({'; '.join(parts)}): run `autograder release` "
            f"(it regenerates the table between {BEGIN} and {END}) and commit README.md")
