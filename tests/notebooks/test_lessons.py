"""Every lesson: the solution runs clean, the release is in sync, and the grading
scores are right under plain nbgrader (release as-is: 0; solution: full marks).

Each notebook runs in quick mode (DLBRICKS_QUICK=1) in a fresh kernel, and the
solution runs once: under nbval, where every cell (each test cell with its hidden
tests) must run without an error. Under nbgrader a test cell earns its points
exactly when it runs without an error, so that run also shows the solution's
full marks once the generated gradebook gives every test cell its points; only
the untouched release is autograded by nbgrader itself.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# DLBRICKS_COURSE_DIR: run these tests on another course directory (a lesson being authored).
ROOT = Path(os.environ.get("DLBRICKS_COURSE_DIR") or Path(__file__).resolve().parents[2]).resolve()
LESSONS = sorted(p.name for p in (ROOT / "source").iterdir()
                 if p.is_dir() and (p / f"{p.name}.ipynb").exists())

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` and Jupyter tools by name: the venv's bin must come first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(DLBRICKS_QUICK="1", TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
               MPLBACKEND="Agg", PYTHONWARNINGS="ignore::DeprecationWarning")
    env.pop("DLBRICKS_CHECK_RECORD", None)
    return env


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def test_every_lesson_has_its_release():
    assert LESSONS, "no lesson found under source/NN_slug/NN_slug.ipynb"
    for name in LESSONS:
        assert (ROOT / "release" / name / f"{name}.ipynb").exists(), f"release/{name} is missing: run make release"


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_notebook_runs_clean_under_nbval(lesson, tmp_path):
    # nbval in lax mode: every cell must run without error (outputs are not committed).
    nb = tmp_path / f"{lesson}.ipynb"
    shutil.copy(ROOT / "source" / lesson / f"{lesson}.ipynb", nb)
    proc = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                 "--nbval-lax", "--nbval-cell-timeout=600", "-o", "addopts=", "-o", "testpaths=", str(nb)],
                cwd=tmp_path)
    assert proc.returncode == 0, f"nbval failed for {lesson}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_matches_source(lesson):
    proc = _run([str(Path(sys.executable).with_name("autograder")), "release", "--check", lesson], cwd=ROOT)
    assert proc.returncode == 0, f"release/{lesson} is out of date:\n{proc.stdout}\n{proc.stderr}"


NBGRADER_CONFIG = textwrap.dedent("""
    c = get_config()
    c.CourseDirectory.root = {root!r}
    c.CourseDirectory.db_url = "sqlite:///" + {db!r}
    c.ExecutePreprocessor.timeout = 600
    c.Execute.timeout = 600
    c.Exchange.root = {exchange!r}
""")


def _nbgrader_course(lesson: str, tmp_path: Path) -> tuple[Path, Path]:
    """A plain nbgrader course with the lesson's source and the untouched release as a submission."""
    course = tmp_path / "course"
    (course / "source" / lesson).mkdir(parents=True)
    shutil.copy(ROOT / "source" / lesson / f"{lesson}.ipynb", course / "source" / lesson)
    dest = course / "submitted" / "untouched" / lesson
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "release" / lesson / f"{lesson}.ipynb", dest)
    db = course / "gradebook.db"
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(
        root=str(course), db=str(db), exchange=str(tmp_path / "exchange")))
    return course, db


def _nbgrader(course: Path, *args: str) -> None:
    cmd = [str(Path(sys.executable).with_name("nbgrader")), *args]
    proc = _run(cmd, cwd=course)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_test_cell_of_the_solution_carries_points(lesson, tmp_path):
    # With the nbval run above (every test cell of the solution passes), this is
    # "the solution earns full marks under nbgrader" without executing it again.
    course, db = _nbgrader_course(lesson, tmp_path)
    _nbgrader(course, "generate_assignment", lesson, "--force")

    from nbgrader.api import Gradebook

    source = nbformat_read(ROOT / "source" / lesson / f"{lesson}.ipynb")
    tests = {c.metadata["nbgrader"]["grade_id"] for c in source.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    assert tests, f"{lesson} has no auto-graded test cells"
    allowed_to_fail = [c.metadata["nbgrader"]["grade_id"] for c in source.cells
                       if c.metadata.get("nbgrader", {}).get("grade")
                       and ("raises-exception" in c.metadata.get("tags", []) or "NBVAL_RAISES_EXCEPTION" in c.source
                            or "NBVAL_SKIP" in c.source or "nbval-skip" in c.metadata.get("tags", []))]
    assert not allowed_to_fail, f"{lesson}: nbval would not require these test cells to pass: {allowed_to_fail}"
    with Gradebook(f"sqlite:///{db}") as gb:
        cells = {c.name: c.max_score for c in gb.find_notebook(lesson, lesson).grade_cells
                 if c.cell_type == "code"}
    assert set(cells) == tests, f"{lesson}: nbgrader's gradebook has test cells {sorted(cells)}, the source {sorted(tests)}"
    assert all(points > 0 for points in cells.values()), f"{lesson}: test cells without points: {cells}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_untouched_release_scores_zero_under_nbgrader(lesson, tmp_path):
    course, db = _nbgrader_course(lesson, tmp_path)
    _nbgrader(course, "generate_assignment", lesson, "--force")
    _nbgrader(course, "autograde", lesson, "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        sub = gb.find_submission_notebook(lesson, lesson, "untouched")
        earned = {g.name: g.score for g in sub.grades if g.cell_type == "code" and g.score}
        untouched = sub.code_score
    assert untouched == 0, f"{lesson}: the untouched release earns {untouched} points in {earned}"


def nbformat_read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)
