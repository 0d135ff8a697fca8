"""A class of lesson-01 submissions built from the sample students, graded once by ``autograder grade``.

Every student is the sample class of ``examples/submitted`` mixed exercise by
exercise: each solution cell of lesson 01 is taken from ada_right (right),
from the release (left undone, as ben_partial does: NotImplementedError),
from dan_mistakes (his stray transpose, his sum where a mean was wanted) or
is one of a few more classic mistakes written here (a transposed result, a
mean where a sum was wanted, a forgotten bias, swapped output sizes, the
naive reshape). Some students hand in eve_malicious's notebook (tampering)
or cy_broken's cut-off file (invalid). The five samples themselves are in
the class too, under their own names.

Weaker students make more mistakes, so every test tells students apart.
What each student did (``Student.variants``) is the ground truth the tests
count against; the grades and the report come from a real grading run.
"""
from __future__ import annotations

import copy
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "examples" / "submitted"
LESSON = "01_tensors"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
SAMPLE_NAMES = ("ada_right", "ben_partial", "cy_broken", "dan_mistakes", "eve_malicious")
# With the five samples: 208 submissions, 201 of them gradable (the seed gives 7 cut-off files).
# DLBRICKS_CLASS_SIZE=N grades a smaller class (every other check still runs on it; the one that
# asks for 200 graded submissions is skipped, saying so).
FULL_CLASS_SIZE = 203
CLASS_SIZE = int(os.environ.get("DLBRICKS_CLASS_SIZE") or FULL_CLASS_SIZE)
# Seconds a test that uses the class may take, grading included (whichever test runs first grades it):
# a lesson-01 notebook takes 20-65 s of one core on a busy machine.
CLASS_TIMEOUT = 2 * 3600

# Mistakes of lesson 01 beyond the samples' own: solution cell -> variant -> code. Like
# examples/make_submissions.py's PLANTED they wrap the solution ({right}), so they follow it
# when the lesson changes (validation errors are still raised by the solution first).
MUTATIONS: dict[str, dict[str, str]] = {
    "ex1_matmul_shape": {
        "swapped": "def matmul_shape(shape_a, shape_b):\n"
                   "    n, m = {right}(shape_a, shape_b)\n"
                   "    return (m, n)  # the output sizes swapped",
    },
    "ex3_reduce_sum": {
        "mean_not_sum": "def reduce_sum(a, axis=None, keepdims=False):\n"
                        "    a = np.asarray(a)\n"
                        "    total = {right}(a, axis, keepdims)\n"
                        "    return total / (a.size if axis is None else a.shape[axis])  # a mean, not a sum",
    },
    "ex4_from_channels_first_rows": {
        "naive_reshape": "def from_channels_first_rows(flat, height, width, channels):\n"
                         "    {right}(flat, height, width, channels)  # its shape checks\n"
                         "    flat = np.asarray(flat)\n"
                         "    return flat.reshape(len(flat), height, width, channels)  # regroups the numbers",
    },
    "ex5_add_bias": {
        "no_bias": "def add_bias(X, b):\n"
                   "    return {right}(X, b) - np.asarray(b)  # the bias forgotten",
    },
    "ex7_squared_distances": {
        "transposed": "def squared_distances(X, Y):\n"
                      "    return {right}(X, Y).T  # (M, N) instead of (N, M)",
    },
}
# What the report must call each mistake (a phrase of the check's hint or of the stop reason).
# None: the check says only that the values differ (no hint names it).
MISTAKE_WORDS = {"transposed": "transpose", "mean_not_sum": "mean where a sum was", "no_bias": "missing bias",
                 "naive_reshape": "reshape to (N, C, H, W) first", "swapped": None, "undone": "NotImplementedError"}
EVE_SHARE, CY_SHARE = 0.03, 0.03


@dataclass
class Student:
    name: str
    kind: str  # "mix" (exercises mixed from the samples), or a sample's name for its whole notebook
    variants: dict[str, str] = field(default_factory=dict)  # solution cell -> right, undone, dan, a mutation


@dataclass
class GradedClass:
    """A graded class: where it was graded and what each student did."""

    lesson: str
    submitted: Path
    out: Path
    students: dict[str, Student]
    seconds: float  # wall time of the grading run
    stdout: str

    def record(self, student: str) -> dict:
        return json.loads((self.out / "results" / student / self.lesson / f"{self.lesson}.json").read_text())


def _read(student: str, lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(SAMPLES / student / lesson / f"{lesson}.ipynb", as_version=4)


def _solution_sources(nb: nbformat.NotebookNode) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def exercise_variants(lesson: str = LESSON) -> dict[str, dict[str, str]]:
    """Solution cell -> variant -> the cell's source, from the sample notebooks and MUTATIONS."""
    right = _solution_sources(_read("ada_right", lesson))
    release = _solution_sources(nbformat.read(REPO / "release" / lesson / f"{lesson}.ipynb", as_version=4))
    dan = _solution_sources(_read("dan_mistakes", lesson))
    out: dict[str, dict[str, str]] = {}
    for gid, code in right.items():
        variants = {"right": code, "undone": release[gid]}
        if dan[gid] != code:
            variants["dan"] = dan[gid]
        for name, mistake in MUTATIONS.get(gid, {}).items():
            function = mistake.split("def ", 1)[1].split("(", 1)[0]
            solved = f"_{function}_solved"
            variants[name] = code + f"\n\n\n{solved} = {function}\n\n\n" + mistake.format(right=solved)
        out[gid] = variants
    return out


def plan_class(n_students: int, seed: int = 12, lesson: str = LESSON) -> dict[str, Student]:
    """Who does what: the five samples, then ``n_students`` more (seeded, reproducible)."""
    variants = exercise_variants(lesson)
    rnd = random.Random(seed)
    students = {name: Student(name, name) for name in SAMPLE_NAMES}
    for i in range(n_students):
        name = f"s{i:03d}"
        roll = rnd.random()
        if roll < EVE_SHARE:
            students[name] = Student(name, "eve_malicious")
            continue
        if roll < EVE_SHARE + CY_SHARE:
            students[name] = Student(name, "cy_broken")
            continue
        ability = rnd.uniform(0.3, 1.0)
        picked = {}
        for gid, options in variants.items():
            wrong = [v for v in options if v != "right"]
            picked[gid] = "right" if rnd.random() < ability else rnd.choice(wrong)
        students[name] = Student(name, "mix", picked)
    return students


def write_class(students: dict[str, Student], submitted: Path, lesson: str = LESSON) -> None:
    """Write every student's notebook in nbgrader's submitted/STUDENT/LESSON/LESSON.ipynb layout."""
    variants = exercise_variants(lesson)
    base = _read("ada_right", lesson)
    for s in students.values():
        target = submitted / s.name / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if s.kind != "mix":  # a sample's whole file, byte for byte (cy_broken's is cut off)
            shutil.copyfile(SAMPLES / s.kind / lesson / f"{lesson}.ipynb", target)
            continue
        nb = copy.deepcopy(base)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and gid in s.variants:
                cell.source = variants[gid][s.variants[gid]]
        nbformat.write(nb, target)


def grade_class(n_students: int, base: Path, seed: int = 12, lesson: str = LESSON,
                workers: int | None = None) -> GradedClass:
    """Build the class in ``base/submitted`` and grade it into ``base/out`` with ``autograder grade``."""
    students = plan_class(n_students, seed, lesson)
    submitted, out = base / "submitted", base / "out"
    write_class(students, submitted, lesson)
    cmd = [AUTOGRADER, "--course-dir", str(REPO), "grade", str(submitted), "--assignment", lesson,
           "--out", str(out), "--no-progress"]
    if workers:
        cmd += ["--workers", str(workers)]
    env = dict(os.environ, DLBRICKS_QUICK="1", TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CLASS_TIMEOUT)
    seconds = time.monotonic() - start
    assert proc.returncode == 0 and (out / "report.json").is_file(), proc.stdout[-3000:] + proc.stderr[-4000:]
    return GradedClass(lesson, submitted, out, students, seconds, proc.stdout)


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> GradedClass:
    """The session's one graded class (lesson 01, CLASS_SIZE students and the five samples).

    Grading it is expensive (208 submissions: 1233 s in a clean clone's make test, beside the
    rest of the suite on 2 cores; 1708 s alone at load 6-7; 3277 s before the judge stopped
    importing TensorFlow for lesson 01's set-up): every test that needs a graded lesson-01 run shares it,
    and marks itself ``xdist_group("graded-class")`` so that one worker grades it once. A test
    that changes a run (a re-grade, grades entered by hand) works on a copy (``copy_out``).
    """
    graded = grade_class(CLASS_SIZE, tmp_path_factory.mktemp("graded-class"))
    print(f"\ngraded class: {len(graded.students)} submissions of {graded.lesson} graded in {graded.seconds:.0f} s")
    return graded


def copy_out(graded: GradedClass, target: Path) -> Path:
    """A private copy of the class's output folder (gradebook, results, feedback, autograded)."""
    shutil.copytree(graded.out, target, ignore=shutil.ignore_patterns("*.lock"))
    return target
