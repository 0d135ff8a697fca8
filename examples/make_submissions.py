"""Generate the sample submissions that `autograder demo` grades.

    .venv/bin/python examples/make_submissions.py [--lessons 01_tensors ...]

They are built from the lessons' own notebooks (source/ and release/), so they
follow the lessons when those change; examples/manifest.json records the hashes
of the sources used, and `autograder demo` regenerates the samples when a
source no longer matches. Layout: examples/submitted/STUDENT/LESSON/LESSON.ipynb.

Students
--------
ada_right      every exercise solved (the source's solutions): full marks
ben_partial    the last exercise left undone: partial credit
cy_broken      a file cut off in the middle of saving: invalid
eve_malicious  nothing solved, only everything a cheater might try: switching
               the checks off, reading source/ and the gradebook, the network, a
               pile of background processes: zero, flagged tampering
dan_mistakes   everything solved, with the classic mistakes of PLANTED (a stray
               transpose, a sum where a mean was wanted): the class report names them
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from autograder.course import Course  # noqa: E402
from autograder.samples import load_pair, solution_cells, solved_release, write_submission  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent
SUBMITTED = EXAMPLES / "submitted"
MANIFEST = EXAMPLES / "manifest.json"

# The mistakes dan_mistakes makes, per lesson: what the class report must call it -> (the function,
# the student's version of it; {right} is the solution's). They wrap the solution, so that they
# outlive changes to it; tests/grading/test_report_demo.py checks that the report names each.
PLANTED = {
    "01_tensors": {
        "transpose": ("matmul_loops", "def matmul_loops(A, B):\n"
                                      "    return {right}(A, B).T  # a stray transpose"),
        "sum where a mean was wanted": ("batch_mean_per_channel", "def batch_mean_per_channel(images):\n"
                                        "    images = np.asarray(images)\n"
                                        "    return {right}(images) * images[..., 0].size  # summed over N, H, W"),
    },
}


def plant_mistakes(nb, lesson: str) -> list[str]:
    """Plant ``PLANTED[lesson]`` in the solved notebook ``nb``; return the functions not found."""
    missing = []
    for function, code in PLANTED.get(lesson, {}).values():
        cell = next((c for c in solution_cells(nb) if f"def {function}(" in c.source), None)
        if cell is None:
            missing.append(function)
            continue
        right = f"_{function}_solved"
        cell.source += f"\n\n\n{right} = {function}\n\n\n" + code.format(right=right)
    return missing


MALICIOUS = '''
# --- everything below is what a cheater might try; the autograder defeats each ---
import glob, os, socket, subprocess
from dlbricks import check as _check
for _name in ("close", "equal", "shape", "probabilities", "at_least", "at_most", "is_true", "gradient"):
    setattr(_check, _name, lambda *args, **kwargs: None)  # every check now "passes"
_tops = ["/work", "/home", "/srv", "/opt", "/mnt", "/tmp", "/root"]
print("source/ notebooks found:", [p for t in _tops for p in glob.glob(t + "/**/source/*/*.ipynb", recursive=True)])
print("gradebooks found:", [p for t in _tops for p in glob.glob(t + "/**/gradebook.db", recursive=True)])
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
    print("network: reached pypi.org")
except OSError as exc:
    print("network: none", type(exc).__name__)
_background = [subprocess.Popen(["sleep", "600"]) for _ in range(5)]
'''


def sources_digest(course: Course, lessons: list[str]) -> dict[str, str]:
    """sha256 of each lesson's source and release notebooks (what the samples depend on)."""
    digest = {}
    for lesson in lessons:
        h = hashlib.sha256(MALICIOUS.encode())  # a new cheat makes every sample stale too
        for tree in ("source", "release"):
            h.update((course.root / tree / lesson / f"{lesson}.ipynb").read_bytes())
        digest[lesson] = h.hexdigest()
    return digest


def is_stale(course: Course) -> bool:
    """True when the samples were made from other sources than the current ones."""
    if not MANIFEST.is_file():
        return True
    return bool(stale_lessons(course)) or set(_recorded()) != set(default_lessons(course))


def _recorded() -> dict[str, str]:
    return json.loads(MANIFEST.read_text()).get("sources", {}) if MANIFEST.is_file() else {}


def stale_lessons(course: Course) -> list[str]:
    """The released lessons whose samples are missing or were made from other notebooks."""
    recorded = _recorded()
    current = sources_digest(course, default_lessons(course))
    return [lesson for lesson, digest in current.items() if recorded.get(lesson) != digest]


def default_lessons(course: Course) -> list[str]:
    """Every lesson that has both a source and a release notebook."""
    return [n for n in course.lessons() if (course.release_dir / n / f"{n}.ipynb").is_file()]


def make(course: Course, lessons: list[str], out: Path = SUBMITTED) -> list[Path]:
    """Write the sample submissions for ``lessons`` under ``out``; return their paths.

    Only these lessons' samples are replaced: every other lesson's samples and its
    manifest entry stay as they are (lessons that no longer exist are dropped).
    """
    for lesson in lessons:
        for student_dir in out.glob("*/"):
            shutil.rmtree(student_dir / lesson, ignore_errors=True)
    written = []
    for lesson in lessons:
        release, source = load_pair(course.root, lesson)
        right = solved_release(release, source)
        written.append(write_submission(out, "ada_right", lesson, lesson, right))

        partial = copy.deepcopy(right)
        last = solution_cells(partial)[-1]
        last.source = next(c.source for c in solution_cells(release)
                           if c.metadata["nbgrader"]["grade_id"] == last.metadata["nbgrader"]["grade_id"])
        written.append(write_submission(out, "ben_partial", lesson, lesson, partial))

        broken = write_submission(out, "cy_broken", lesson, lesson, right)
        data = broken.read_bytes()
        broken.write_bytes(data[: len(data) // 2])  # what an interrupted save leaves
        written.append(broken)

        mistaken = copy.deepcopy(right)
        for function in plant_mistakes(mistaken, lesson):
            print(f"note: {lesson} defines no {function}() any more: update PLANTED in {Path(__file__).name}",
                  file=sys.stderr)
        written.append(write_submission(out, "dan_mistakes", lesson, lesson, mistaken))

        malicious = copy.deepcopy(release)  # nothing solved: only the cheating
        first = solution_cells(malicious)[0]
        first.source = first.source + "\n" + MALICIOUS
        written.append(write_submission(out, "eve_malicious", lesson, lesson, malicious))
    known = set(default_lessons(course))
    for student_dir in out.glob("*/"):  # samples of lessons that were removed from the course
        for lesson_dir in student_dir.glob("*/"):
            if lesson_dir.name not in known:
                shutil.rmtree(lesson_dir)
    sources = {k: v for k, v in _recorded().items() if k in known}
    sources.update(sources_digest(course, lessons))
    MANIFEST.write_text(json.dumps({"sources": sources}, indent=1, sort_keys=True) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", nargs="*",
                        help="lessons to sample; the others' samples are kept (default: the lessons whose "
                             "samples are missing or stale)")
    parser.add_argument("--all", action="store_true", help="regenerate every released lesson's samples")
    parser.add_argument("--course-dir", default=str(REPO), help="course directory (default: this repository)")
    args = parser.parse_args(argv)
    course = Course(Path(args.course_dir).resolve())
    if not default_lessons(course):
        print(f"No released lessons in {course.root}: run `make release` first.", file=sys.stderr)
        return 1
    lessons = args.lessons or (default_lessons(course) if args.all else stale_lessons(course))
    if not lessons:
        print("Every lesson's samples follow its notebooks: nothing to do (--all regenerates them all).")
        MANIFEST.write_text(json.dumps({"sources": {k: v for k, v in _recorded().items()
                                                    if k in default_lessons(course)}},
                                       indent=1, sort_keys=True) + "\n")
        return 0
    for path in make(course, lessons):
        print(f"wrote {path.relative_to(EXAMPLES.parent) if path.is_relative_to(EXAMPLES.parent) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
