"""Every lesson: the solution runs clean, the release is in sync, and the grading
scores are right under plain nbgrader (release as-is: 0; solution: full marks).

Each notebook runs in quick mode (DLBRICKS_QUICK=1) in a fresh kernel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def _nbgrader_scores(lesson: str, tmp_path: Path) -> dict[str, tuple[float, float, dict]]:
    """Autograde the solution and the untouched release with plain nbgrader."""
    course = tmp_path / "course"
    (course / "source" / lesson).mkdir(parents=True)
    shutil.copy(ROOT / "source" / lesson / f"{lesson}.ipynb", course / "source" / lesson)
    students = {"solution": ROOT / "source", "untouched": ROOT / "release"}
    for student, tree in students.items():
        dest = course / "submitted" / student / lesson
        dest.mkdir(parents=True)
        shutil.copy(tree / lesson / f"{lesson}.ipynb", dest)
    db = course / "gradebook.db"
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(
        root=str(course), db=str(db), exchange=str(tmp_path / "exchange")))
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    for cmd in ([nbgrader, "generate_assignment", lesson, "--force"],
                [nbgrader, "autograde", lesson, "--force"]):
        proc = _run(cmd, cwd=course)
        assert proc.returncode == 0, f"{' '.join(cmd[1:])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"

    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in students:
            sub = gb.find_submission_notebook(lesson, lesson, student)
            per_cell = {g.name: g.score for g in sub.grades if g.cell_type == "code"}
            auto_max = sum(g.max_score for g in sub.grades if g.cell_type == "code")
            scores[student] = (sub.code_score, auto_max, per_cell)
    return scores


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_scores_zero_and_solution_full_marks(lesson, tmp_path):
    scores = _nbgrader_scores(lesson, tmp_path)
    solution, auto_max, per_cell = scores["solution"]
    assert auto_max > 0, f"{lesson} has no auto-graded test cells"
    lost = {k: v for k, v in per_cell.items() if v is None or v <= 0}
    assert solution == auto_max, f"{lesson}: the solution scores {solution}/{auto_max}; cells without points: {lost}"
    untouched, _, per_cell = scores["untouched"]
    earned = {k: v for k, v in per_cell.items() if v}
    assert untouched == 0, f"{lesson}: the untouched release earns {untouched} points in {earned}"
