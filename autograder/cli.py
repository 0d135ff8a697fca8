"""The ``autograder`` command: ``release``, ``grade`` and ``demo``.

Thin argument parsing only; each subcommand calls one function of the package.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .course import Course, default_course_root


def _course(args: argparse.Namespace) -> Course:
    return Course(Path(args.course_dir).resolve() if args.course_dir else default_course_root())


def cmd_release(args: argparse.Namespace) -> int:
    from .release import ReleaseError, check, release

    course = _course(args)
    names = args.names or course.lessons()
    unknown = [n for n in names if not (course.source_dir / n).is_dir()]
    if unknown:
        print(f"No such lesson in {course.source_dir}: {', '.join(unknown)}. "
              f"Known lessons: {', '.join(course.lessons()) or 'none'}.", file=sys.stderr)
        return 2
    try:
        if args.check:
            diffs = check(course, names)
            if diffs:
                print("The committed release differs from what the sources give:", file=sys.stderr)
                for diff in diffs:
                    print(f"  {diff.describe()}", file=sys.stderr)
                print("Regenerate it: run `make release` (or `autograder release`) and commit release/.",
                      file=sys.stderr)
                return 1
            print(f"release/ matches source/ for {len(names)} lesson(s).")
            return 0
        for path in release(course, names):
            print(f"wrote {os.path.relpath(path)}")
        return 0
    except ReleaseError as err:
        print(err, file=sys.stderr)
        return 1


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import run_grade_command

    return run_grade_command(args, _course(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(_course(args), out=Path(args.out), workers=args.workers, unsafe=args.unsafe)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Release lesson notebooks and grade student submissions safely.",
    )
    parser.add_argument("--course-dir", metavar="DIR",
                        help="course directory holding source/ and release/ "
                             "(default: the current directory if it has source/, else this repository)")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    rel.add_argument("names", nargs="*", metavar="NAME", help="lessons to release (default: all)")
    rel.add_argument("--check", action="store_true",
                     help="do not write; exit 1 when the committed release differs from the sources")
    rel.set_defaults(func=cmd_release)

    gr = sub.add_parser("grade", help="grade a folder of submissions STUDENT/ASSIGNMENT/NOTEBOOK.ipynb")
    gr.add_argument("submitted", metavar="SUBMITTED",
                    help="folder of submissions (nbgrader's submitted layout), a flat folder or a .zip")
    gr.add_argument("--out", required=True, metavar="OUT", help="where grades.csv, feedback/ and the gradebook go")
    gr.add_argument("--assignment", metavar="NAME",
                    help="grade only this assignment (needed for a flat folder or archive)")
    gr.add_argument("--workers", type=int, default=None, metavar="N",
                    help="submissions graded at once (default: number of cores)")
    gr.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                    help="per-cell time limit (default: 120; the whole notebook gets a deadline too)")
    gr.add_argument("--deadline", type=float, default=None, metavar="SECONDS",
                    help="whole-notebook time limit (default: 8 x timeout, at most 1200)")
    gr.add_argument("--memory", type=int, default=None, metavar="MB",
                    help="memory limit per submission in MB (default: 3072)")
    gr.add_argument("--executor", choices=("local", "dask"), default="local",
                    help="local process pool (default) or a Dask distributed cluster")
    gr.add_argument("--scheduler", metavar="ADDRESS",
                    help="Dask scheduler address, e.g. tcp://host:8786 (default with --executor dask: "
                         "a local cluster of --workers processes)")
    gr.add_argument("--db", metavar="URL",
                    help="gradebook SQLAlchemy URL (default: sqlite:///OUT/gradebook.db)")
    gr.add_argument("--unsafe", action="store_true",
                    help="run student code without a sandbox (only for trusted notebooks)")
    gr.add_argument("--no-progress", action="store_true", help="no progress bar")
    gr.set_defaults(func=cmd_grade)

    demo = sub.add_parser("demo", help="release the lessons and grade the sample submissions in examples/")
    demo.add_argument("--out", default="demo-out", metavar="OUT", help="where the demo grades go (default: demo-out)")
    demo.add_argument("--workers", type=int, default=None, metavar="N")
    demo.add_argument("--unsafe", action="store_true", help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``autograder`` console script."""
    from .startup import skip_unused_optional_imports

    skip_unused_optional_imports()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
