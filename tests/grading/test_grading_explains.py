"""Grading that explains itself (issue 17, item 5), graded end to end on a small course.

- figures are kept: a plot's PNG is in the feedback page, with no Fontconfig noise;
- a function that ran out of time does not get the full time again in every later cell;
- running out of memory is ``memory_limit`` with a sentence naming the limit, not ``kernel_died``;
- the solution's reference is run again when the limits change.
"""
from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.samples import load_pair, solved_release, with_cell, write_submission

from .honest_course import _meta, cli, write_course

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
LESSON = "02_explains"
TIMEOUT = 20


def source_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Lesson 02: grading that explains itself"),
        new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt\nfrom dlbricks import check",
                      metadata=_meta("setup")),
        new_code_cell("### BEGIN SOLUTION\ndef total(xs):\n    return float(np.sum(xs))\n### END SOLUTION",
                      metadata=_meta("total", solution=True)),
        new_code_cell("fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1, 2], [2, 0, 1])\n"
                      "ax.set_xlabel(\"step\"); ax.set_ylabel(\"loss\")\nplt.show()"),
        new_code_cell("print(\"total of 0..4:\", total(np.arange(5)))"),
        new_code_cell("check.close(total([1.0, 2.0]), 3.0, label=\"total([1, 2])\")\n"
                      "### BEGIN HIDDEN TESTS\ncheck.close(total(np.ones(4)), 4.0, label=\"total of four ones\")\n"
                      "### END HIDDEN TESTS", metadata=_meta("total_tests", points=1)),
        new_code_cell("### BEGIN SOLUTION\ndef mean_of(xs):\n    return total(xs) / len(xs)\n### END SOLUTION",
                      metadata=_meta("mean_of", solution=True)),
        new_code_cell("check.close(mean_of([2.0, 4.0]), total([2.0, 4.0]) / 2, label=\"mean_of([2, 4])\")",
                      metadata=_meta("mean_of_tests", points=1)),
    ]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"explains-{i:02d}"
    return nb


def _grade(course: Path, submitted: Path, out: Path, *extra: str):
    proc = cli(course, "grade", str(submitted), "--out", str(out), "--timeout", str(TIMEOUT), "--no-progress", *extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as fh:
        return proc, {r["student_id"]: r for r in csv.DictReader(fh)}


def _page(out: Path, student: str) -> str:
    return (out / "feedback" / student / LESSON / f"{LESSON}.html").read_text()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("explains")
    write_course(root / "course", source_notebook(), LESSON)
    release, source = load_pair(root / "course", LESSON)
    right = solved_release(release, source)
    loops = with_cell(right, "total", lambda _: "def total(xs):\n    s = 0.0\n    while True:  # forgot to advance\n"
                                                "        s += 0.0\n")
    first = tmp_path_factory.mktemp("first")
    write_submission(first / "submitted", "right", LESSON, LESSON, right)
    write_submission(first / "submitted", "loops", LESSON, LESSON, loops)
    proc, rows = _grade(root / "course", first / "submitted", first / "out")
    return root, right, proc, rows, first / "out"


def test_a_plot_is_in_the_feedback_page_and_no_fontconfig_noise(course):
    _, _, _, rows, out = course
    assert float(rows["right"]["auto_score"]) == 2.0 and rows["right"]["flags"] == "", rows["right"]
    page = _page(out, "right")
    figures = re.findall(r'<img alt="figure" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(figures) == 1 and 1000 < len(figures[0]) < 512 * 1024
    import base64

    assert base64.b64decode(figures[0]).startswith(b"\x89PNG")
    assert "Fontconfig" not in page and "fontconfig" not in page.lower()
    graded = nbformat.read(out / "autograded" / "right" / LESSON / f"{LESSON}.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for c in graded.cells if c.cell_type == "code" for o in c.outputs)


def test_a_function_that_ran_out_of_time_is_not_given_the_full_time_again(course):
    _, _, _, rows, out = course
    row = rows["loops"]
    assert row["status"] == "graded" and "timeout" in row["flags"] and float(row["auto_score"]) == 0.0, row
    page = _text(_page(out, "loops"))
    # the demo cell spent the full time; both test cells that call total got 5 s, and say so
    assert page.count("the student's code did not return within 5 s") >= 2, page[-3000:]
    assert f"within {TIMEOUT} s" not in page
    assert "Visible checks passed" not in page and "the test stopped at TimeoutError" in page
    assert "This hidden test did not run" in page
    graded = nbformat.read(out / "autograded" / "loops" / LESSON / f"{LESSON}.ipynb", as_version=4)
    notes = [o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs]
    assert sum(f"total ran out of time in an earlier cell, so this cell gets 5 s instead of {TIMEOUT} s" in n
               for n in notes) == 2  # both test cells; not mean_of's cell, which only defines a caller


def test_memory_is_named_as_such_and_the_reference_runs_again_under_new_limits(course, tmp_path):
    root, right, first_proc, _, _ = course
    assert "for its reference records" in first_proc.stderr
    submitted = tmp_path / "submitted"
    hog = with_cell(right, "mean_of", lambda s: s + "\n_blocks = [np.ones(2**20) for _ in range(2000)]  # 16 GB")
    shared = with_cell(right, "mean_of", lambda s: s + (
        "\nimport mmap\n_m = mmap.mmap(-1, 1024 * 2**20)\nfor _i in range(0, len(_m), 4096):\n    _m[_i] = 1"))
    write_submission(submitted, "right", LESSON, LESSON, right)
    write_submission(submitted, "hog", LESSON, LESSON, hog)
    write_submission(submitted, "shared", LESSON, LESSON, shared)
    proc, rows = _grade(root / "course", submitted, tmp_path / "out", "--memory", "400")
    # other limits: the solution ran again, and the cache keeps both references
    assert "for its reference records" in proc.stderr, proc.stderr[-2000:]
    assert len(list((root / "course").parent.joinpath("cache").glob(f"{LESSON}-*.json"))) == 2
    assert float(rows["right"]["auto_score"]) == 2.0 and rows["right"]["flags"] == "", rows["right"]
    for student in ("hog", "shared"):
        row = rows[student]
        assert row["status"] == "graded" and "memory_limit" in row["flags"].split(";"), row
        assert "kernel_died" not in row["flags"], row
        assert "the grader lets a notebook use 400 MB" in row["detail"], row
        page = _text(_page(tmp_path / "out", student))
        assert "out of memory: the grader lets a notebook use 400 MB" in page and "Use smaller arrays" in page
