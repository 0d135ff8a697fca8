"""``autograder new NN_slug``: a lesson notebook that already follows every convention.

The skeleton is a small complete lesson (standardising the columns of a data
matrix) in which only the exercise's solution is left to the author: fill in the
region between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, then replace the
example by the lesson's own material, keeping the shape of each cell (see
``docs/authoring.md``). It carries:

- the Colab badge and the install cell, stamped from ``c.Publishing`` the way
  ``autograder release`` stamps them;
- a locked set-up cell reading quick mode (``QUICK``) and a locked data cell;
- a demo cell guarded by ``check.demo_uses`` and sized by ``QUICK``;
- one auto-graded exercise: a solution cell, a locked test cell with visible
  checks, a forbidden-call declaration and a hidden test;
- a written question graded by hand (nbgrader's manually graded answer).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .config import Publishing
from .course import LESSON_NAME, Course
from .notebook_io import atomic_write_text, dumps, normalise
from .release import INSTALL_CELL, colab_link, colab_url, install_spec

SOLUTION_PLACEHOLDER = 'raise NotImplementedError("author: write the solution here, between the markers")'


class LessonExistsError(FileExistsError):
    """``autograder new`` would overwrite a lesson."""


def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
              points: float | None = None, task: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": task}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _title(name: str) -> str:
    number, _, slug = name.partition("_")
    return f"Lesson {number}: {slug.replace('_', ' ').replace('-', ' ').capitalize()}"


def skeleton(name: str, publishing: Publishing | None = None) -> nbformat.NotebookNode:
    """The skeleton notebook of lesson ``name`` (``NN_slug``)."""
    publishing = publishing or Publishing()
    url = colab_url(publishing, f"release/{name}/{name}.ipynb")
    cells = [
        new_markdown_cell(colab_link(url)),
        new_code_cell(INSTALL_CELL.format(spec=install_spec(publishing))),
        new_code_cell(
            "import numpy as np\n"
            "import matplotlib.pyplot as plt\n"
            "\n"
            "import dlbricks\n"
            "from dlbricks import check\n"
            "\n"
            "QUICK = dlbricks.quick_mode()  # True in CI and grading: long runs shrink\n"
            'print("quick mode:", QUICK)',
            metadata=_nbgrader("setup", locked=True)),
        new_markdown_cell(
            f"# {_title(name)}\n"
            "\n"
            "**Learning goals.** After this lesson you can\n"
            "\n"
            "1. standardise the columns of a data matrix, and say why training needs it;\n"
            "2. tell which axis a column statistic runs over.\n"
            "\n"
            "*(Author: replace this example lesson with your own; keep the shape of each cell. "
            "See docs/authoring.md.)*"),
        new_markdown_cell(
            "## 1. Features on different scales\n"
            "\n"
            "A data matrix `X` has one example per row and one feature per column, shape `(N, D)`. "
            "Gradient descent takes steps of the same size in every direction, so a feature measured "
            "in thousands and one measured in thousandths make a poor pair. Standardising each column "
            "(subtract its mean, divide by its standard deviation) puts every feature on the same "
            "scale."),
        new_code_cell(
            "# The lesson's data (read-only: the tests use it too)\n"
            "rng = np.random.default_rng(0)\n"
            "X_demo = rng.normal(loc=[3.0, -20.0, 500.0], scale=[1.0, 5.0, 100.0], size=(200, 3))",
            metadata=_nbgrader("data", locked=True)),
        new_markdown_cell(
            "## Exercise 1: `standardise` (2 points)\n"
            "\n"
            "Write `standardise(X)` for `X` of shape `(N, D)`: return an array of the same shape whose "
            "columns have mean 0 and standard deviation 1, i.e. `(X - mean) / std` with the mean and "
            "the (population) standard deviation of each column.\n"
            "\n"
            "Passes when: the shape is kept; every column mean is 0 and every column standard deviation "
            "is 1 (to within $10^{-6}$); on other data the result matches the formula. Compute it with "
            "numpy yourself: TensorFlow and Keras (e.g. a `Normalization` layer) are ruled out and "
            "earn nothing."),
        new_code_cell(
            "def standardise(X):\n"
            '    """Columns to mean 0 and standard deviation 1. X: (N, D) -> (N, D)."""\n'
            "    X = np.asarray(X, dtype=float)\n"
            "    ### BEGIN SOLUTION\n"
            f"    {SOLUTION_PLACEHOLDER}\n"
            "    ### END SOLUTION",
            metadata=_nbgrader("ex1_standardise", solution=True)),
        new_code_cell(
            'check.forbidden(standardise, "tensorflow", "keras", label="standardise computes it with numpy")\n'
            "_Z = standardise(X_demo)\n"
            'check.shape(_Z, (200, 3), label="standardise(X_demo) keeps the shape")\n'
            "check.close(_Z.mean(axis=0), np.zeros(3), atol=1e-6, label=\"column means of standardise(X_demo)\",\n"
            '            hint="subtract the mean of each column: X.mean(axis=0), not the mean of the whole array")\n'
            "check.close(_Z.std(axis=0), np.ones(3), atol=1e-6, label=\"column standard deviations\",\n"
            '            hint="divide by X.std(axis=0): one standard deviation per column")\n'
            "### BEGIN HIDDEN TESTS\n"
            "_rng = np.random.default_rng(1)\n"
            "_X = _rng.normal(-5.0, 0.1, size=(7, 4))\n"
            "check.close(standardise(_X), (_X - _X.mean(axis=0)) / _X.std(axis=0),\n"
            '            label="standardise of a (7, 4) batch")\n'
            "### END HIDDEN TESTS",
            metadata=_nbgrader("ex1_standardise_tests", grade=True, locked=True, points=2)),
        new_markdown_cell(
            "The columns before and after. *(Demo cells use the student's functions: "
            "`check.demo_uses` prints a note instead of a traceback until they are written.)*"),
        new_code_cell(
            "n = 2_000 if QUICK else 200_000  # quick mode: CI and grading run a smaller version\n"
            "X_big = np.random.default_rng(2).normal([3.0, -20.0, 500.0], [1.0, 5.0, 100.0], size=(n, 3))\n"
            'with check.demo_uses("standardise"):\n'
            "    Z = standardise(X_big)\n"
            "    fig, axes = plt.subplots(1, 2, figsize=(8, 3))\n"
            '    axes[0].boxplot(X_big); axes[0].set_title("raw"); axes[0].set_xlabel("feature")\n'
            '    axes[1].boxplot(Z); axes[1].set_title("standardised"); axes[1].set_xlabel("feature")\n'
            '    axes[0].set_ylabel("value")\n'
            "    plt.show()"),
        new_markdown_cell(
            "## Question 1 (1 point, graded by hand)\n"
            "\n"
            "What does `standardise` return for a column whose values are all equal, and what would "
            "you do about it?"),
        new_markdown_cell(
            "### BEGIN SOLUTION\n"
            "*Model answer:* its standard deviation is 0, so the column becomes 0/0 = NaN. Such a "
            "column carries no information: drop it, or divide by `max(std, eps)` so that it becomes 0.\n"
            "### END SOLUTION",
            metadata=_nbgrader("q1_constant_column", grade=True, solution=True, points=1)),
    ]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{i:02d}"
    return nb


def create_lesson(course: Course, name: str, publishing: Publishing | None = None) -> Path:
    """Write ``source/NAME/NAME.ipynb``; refuse a bad name or an existing lesson."""
    if not LESSON_NAME.match(name):
        raise ValueError(f"{name!r} is not a lesson name: use two digits, an underscore and a short "
                         f"name, e.g. 09_regularisation")
    folder = course.source_dir / name
    taken = [other for other in course.lessons() if other[:2] == name[:2]]
    if folder.exists():
        raise LessonExistsError(f"{folder} already exists: choose another name or edit that lesson")
    if taken:
        raise LessonExistsError(f"lesson number {name[:2]} is taken by {', '.join(taken)}: choose another number")
    path = folder / f"{name}.ipynb"
    atomic_write_text(path, dumps(normalise(skeleton(name, publishing))))
    return path
