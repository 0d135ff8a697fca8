"""Authoring a lesson: the skeleton of `autograder new`, validate's reading of test cells,
and the README's lesson table kept in step with source/."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.cli import main
from autograder.config import Publishing, resolve
from autograder.course import Course
from autograder.lesson_table import BEGIN, END, readme_problem, update_readme
from autograder.master import read_master
from autograder.release import INSTALL_CELL, colab_url, install_spec
from autograder.skeleton import LessonExistsError, create_lesson
from autograder.validate import LessonValidation, check_dependencies

ROOT = Path(__file__).resolve().parents[2]


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_new_lesson_follows_the_conventions(tmp_path):
    publishing = Publishing(repository="uni-x/dl-course", branch="ws2027")
    path = create_lesson(Course(tmp_path), "09_regularisation", publishing)
    assert path == tmp_path / "source" / "09_regularisation" / "09_regularisation.ipynb"
    nb = nbformat.read(path, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    assert colab_url(publishing, "release/09_regularisation/09_regularisation.ipynb") in first_md.source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == INSTALL_CELL.format(spec=install_spec(publishing))
    assert "dlbricks.quick_mode()" in code[1].source and _meta(code[1]).get("locked")
    solutions = [c for c in code if _meta(c).get("solution")]
    tests = [c for c in code if _meta(c).get("grade") and not _meta(c).get("solution")]
    assert len(solutions) == 1 and "### BEGIN SOLUTION" in solutions[0].source
    assert len(tests) == 1 and _meta(tests[0])["locked"] and _meta(tests[0])["points"] > 0
    assert "### BEGIN HIDDEN TESTS" in tests[0].source and "check.forbidden(" in tests[0].source
    written = [c for c in nb.cells if c.cell_type == "markdown" and _meta(c).get("grade")]
    assert len(written) == 1 and _meta(written[0])["solution"] and _meta(written[0])["points"] > 0
    assert any("check.demo_uses(" in c.source and "QUICK" in c.source for c in code)
    data = [c for c in code if "X_demo =" in c.source]
    assert data and all(_meta(c).get("locked") for c in data), "the data the tests read is locked"
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    master = read_master(path, "09_regularisation")
    assert [t.grade_id for t in master.tests] == [_meta(tests[0])["grade_id"]]
    # the skeleton itself reads no unlocked cell and no student variable
    result = LessonValidation("09_regularisation")
    check_dependencies(path, result)
    assert result.findings == []


def test_new_refuses_bad_names_and_existing_lessons(tmp_path, capsys):
    course = Course(tmp_path)
    create_lesson(course, "03_losses")
    with pytest.raises(LessonExistsError, match="already exists"):
        create_lesson(course, "03_losses")
    with pytest.raises(LessonExistsError, match="number 03 is taken by 03_losses"):
        create_lesson(course, "03_other")
    assert main(["--course-dir", str(tmp_path), "new", "regularisation"]) == 2
    assert "two digits" in capsys.readouterr().err


def _lesson(tmp_path: Path, cells: list) -> Path:
    path = tmp_path / "lesson.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def _nbg(grade_id: str, **kw) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False,
                         "locked": False, **kw}}


def test_validate_names_tests_that_read_unlocked_cells_or_student_variables(tmp_path):
    path = _lesson(tmp_path, [
        new_code_cell("import numpy as np\nfrom dlbricks import check"),          # unlocked imports: fine
        new_code_cell("X = np.arange(40.0)"),                                       # unlocked data
        new_code_cell("Y = np.ones(3)", metadata=_nbg("data", locked=True)),      # locked data
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\nw = 3.0",
                      metadata=_nbg("ex", solution=True)),
        new_code_cell("check.close(f(X), 2 * X)\ncheck.close(f(Y), 2 * Y)\ncheck.close(f(1.0), w)",
                      metadata=_nbg("ex_tests", grade=True, locked=True, points=1)),
    ])
    result = LessonValidation("lesson")
    check_dependencies(path, result)
    text = "\n".join(result.warnings)
    assert len(result.warnings) == 2, text
    assert "test cell ex_tests reads `X` (cell 2 (`X = np.arange(40.0)`))" in text and "Lock" in text
    assert "`w` (solution cell ex)" in text
    assert "`Y`" not in text and "`f`" not in text and "`np`" not in text


def test_a_test_that_defines_its_own_data_is_not_reported(tmp_path):
    path = _lesson(tmp_path, [
        new_code_cell("import numpy as np\nfrom dlbricks import check\nX = np.ones(2)"),
        new_code_cell("def f(x):\n    return x", metadata=_nbg("ex", solution=True)),
        new_code_cell("X = np.zeros(3)\ncheck.close(f(X), X)\n[check.is_true(v == 0) for v in X]",
                      metadata=_nbg("ex_tests", grade=True, locked=True, points=1)),
    ])
    result = LessonValidation("lesson")
    check_dependencies(path, result)
    assert result.findings == []


README = f"""# A course

{BEGIN}
| lesson | what you do | open |
| --- | --- | --- |
| 01 Tensors | our own words | [notebook](release/01_tensors/01_tensors.ipynb) [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/old/repo/blob/main/release/01_tensors/01_tensors.ipynb) |
| 05 Gone | removed | [notebook](release/05_gone/05_gone.ipynb) |
{END}

More text.
"""


def test_release_regenerates_the_readme_table_keeping_the_words(tmp_path):
    course = Course(tmp_path)
    publishing = Publishing(repository="uni-x/dl-course")
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "source" / "01_tensors").mkdir(parents=True)
    nbformat.write(new_notebook(), tmp_path / "source" / "01_tensors" / "01_tensors.ipynb")
    create_lesson(course, "09_regularisation", publishing)

    problem = readme_problem(course, publishing)
    assert "no row for 09_regularisation" in problem and "05_gone" in problem
    assert "run `autograder release`" in problem

    assert update_readme(course, publishing)
    text = (tmp_path / "README.md").read_text()
    assert "| 01 Tensors | our own words |" in text
    assert "github/uni-x/dl-course/blob/main/release/01_tensors/01_tensors.ipynb" in text
    assert "05_gone" not in text and text.endswith("More text.\n")
    row = next(line for line in text.splitlines() if "09_regularisation" in line)
    assert row.startswith("| 09 Regularisation | standardise the columns of a data matrix")
    assert colab_url(publishing, "release/09_regularisation/09_regularisation.ipynb") in row
    assert readme_problem(course, publishing) is None
    assert not update_readme(course, publishing)


def test_the_kits_readme_lists_every_lesson():
    assert readme_problem(Course(ROOT), resolve(ROOT).publishing) is None


def test_authoring_guide_is_linked_from_the_readme():
    assert (ROOT / "docs" / "authoring.md").is_file()
    assert "(docs/authoring.md)" in (ROOT / "README.md").read_text()


def test_validate_names_a_lesson_missing_from_the_readme_table(tmp_path, monkeypatch):
    import autograder.validate as validate
    from autograder.config import from_config
    from autograder.validate import validate_lesson

    monkeypatch.setattr(validate, "run_solution_twice", lambda *a, **k: None)  # no sandbox run here
    course = Course(tmp_path)
    (tmp_path / "README.md").write_text(f"# c\n{BEGIN}\n{END}\n")
    create_lesson(course, "09_regularisation")
    result = validate_lesson(course, "09_regularisation", from_config())
    text = "\n".join(result.errors)
    assert "no row for 09_regularisation" in text and "run `autograder release`" in text
    assert "release/09_regularisation is stale" in text


def test_the_solution_runs_warnings_nonfinite_values_and_cut_outputs_are_named():
    from autograder.steps.execute import CellResult, ExecutionReport
    from autograder.validate import NONFINITE_MARK, PROBE_BASE, instrumented_plan, scan_solution_run

    plan = [{"index": 3, "grade_id": None, "segments": [{"code": "w = np.exp(1000.0)", "hidden": False, "test": False}]},
            {"index": 5, "grade_id": None, "segments": [{"code": "v = w", "hidden": False, "test": False}]}]
    probed = instrumented_plan(plan)
    assert [c["index"] for c in probed] == [PROBE_BASE, 3, PROBE_BASE + 4, 5, PROBE_BASE + 6]

    def cell(index, stdout="", stderr="", truncated=False):
        outputs = [{"output_type": "stream", "name": n, "text": t} for n, t in (("stdout", stdout), ("stderr", stderr)) if t]
        return CellResult(index, "ok", [], outputs, truncated, 0.1)

    report = ExecutionReport({
        3: cell(3, stderr="<ipython-input>:1: RuntimeWarning: overflow encountered in exp\n"),
        PROBE_BASE + 4: cell(PROBE_BASE + 4, stdout=NONFINITE_MARK + '["w"]\n'),
        5: cell(5, stdout="x" * 10, truncated=True),
        PROBE_BASE + 6: cell(PROBE_BASE + 6, stdout=NONFINITE_MARK + '["v", "w"]\n'),
    }, "completed", True)
    result = LessonValidation("lesson")
    scan_solution_run(report, plan, result)
    text = "\n".join(result.warnings)
    assert "cell 4 (`w = np.exp(1000.0)`): RuntimeWarning: overflow encountered in exp" in text
    assert "cell 4 (`w = np.exp(1000.0)`) leaves NaN or infinity in `w`" in text
    assert "cell 6 (`v = w`) leaves NaN or infinity in `v`" in text and "`v`, `w`" not in text
    assert "cell 6 (`v = w`): its output is cut at grading" in text
    assert len(result.warnings) == 4 and not result.errors
