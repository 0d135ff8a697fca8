"""``autograder demo``: release the lessons, grade the sample class, show the results.

The samples live in ``examples/submitted/`` (made by ``examples/make_submissions.py``
from the lessons themselves: right, partly wrong, broken, malicious); they are
regenerated first when the lessons changed since they were made.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .config import CourseConfig, resolve
from .course import Course
from .grade import GradeOptions, grade_submissions
from .release import release
from .sandbox import SandboxUnavailable
from .summary import grade_table, summary_text

FIXTURE_COURSE = Path("tests") / "grading" / "fixtures" / "course"


def _load_examples_module(root: Path) -> ModuleType:
    path = root / "examples" / "make_submissions.py"
    spec = importlib.util.spec_from_file_location("dlbricks_examples_make_submissions", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path} is missing: the demo needs it to build its sample class.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refresh_samples(course: Course) -> list[str]:
    """Regenerate the sample submissions of the lessons whose samples are missing or stale
    (only where the course has ``examples/make_submissions.py``); return those lessons."""
    if not (course.root / "examples" / "make_submissions.py").is_file():
        return []
    examples = _load_examples_module(course.root)
    if Path(examples.SUBMITTED).resolve().parent.parent != course.root.resolve():
        return []  # the script serves another checkout
    lessons = examples.stale_lessons(course)
    if lessons or examples.is_stale(course):
        examples.make(course, lessons)
    return lessons


def run_demo(course: Course, out: Path, settings: CourseConfig | None = None, unsafe: bool = False) -> int:
    """Release, (re)build the samples if stale, grade them into ``out``, print the table.

    ``settings``: the course configuration (default: the course's nbgrader_config.py);
    the demo grades under the same limits as ``autograder grade``.
    """
    settings = settings or resolve(course.root)
    examples = _load_examples_module(course.root)
    grade_course, submitted = course, examples.SUBMITTED
    if not examples.default_lessons(course):
        # A repository without lessons yet: show the grader on the test fixture instead.
        grade_course = Course(course.root / FIXTURE_COURSE)
        submitted = out / "fixture-submitted"
        print(f"No lessons in {course.source_dir}; the demo uses the fixture assignment instead.")
        examples.make(grade_course, examples.default_lessons(grade_course), out=submitted)
    else:
        written = release(course, publishing=settings.publishing)
        print(f"Released {len(course.lessons())} lesson(s) into {course.release_dir} ({len(written)} file(s)).")
        if examples.is_stale(course):
            examples.make(course, examples.default_lessons(course))
            print(f"The lessons changed since the samples were made: regenerated {examples.SUBMITTED}.")
    options = GradeOptions(out=out.resolve(), workers=settings.grading.workers,
                           settings=settings.grading.run_settings(unsafe), executor=settings.grading.executor,
                           scheduler=settings.grading.scheduler or None, config=settings,
                           progress=sys.stderr.isatty())
    try:
        run = grade_submissions(submitted, grade_course, options)
    except SandboxUnavailable as exc:
        print(exc, file=sys.stderr)
        return 3
    print()
    print(grade_table(run.rows))
    print()
    print(summary_text(run, options.out))
    pages = sorted((options.out / "feedback").rglob("*.html"))
    if pages:
        print(f"Open a feedback page, e.g. {pages[0]}")
    if (options.out / "report.html").is_file():
        print(f"Open the class report (pass rates, the most frequent mistakes, flags): {options.out / 'report.html'}")
        print(f"Then grade the written answers: autograder formgrade --out {out}; "
              f"final grades and feedback: autograder export --out {out}")
    return 0 if run.ok else 1
