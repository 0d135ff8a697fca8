"""The ``autograder`` command: ``release``, ``new``, ``validate``, ``grade``, ``report``, ``formgrade``, ``export`` and ``demo``.

Thin argument parsing only; each subcommand calls one function of the package.
Every command reads the course's ``nbgrader_config.py`` (:mod:`autograder.config`);
its flags are made from the configuration's traits and override the file.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import ConfigError, CourseConfig, add_flags, add_nbgrader_flags, resolve_args
from .course import Course, default_course_root


def _course(args: argparse.Namespace) -> Course:
    return Course(Path(args.course_dir).resolve() if args.course_dir else default_course_root())


def _settings(args: argparse.Namespace, course: Course) -> CourseConfig:
    """The course's nbgrader_config.py with this command's flags applied."""
    return resolve_args(course.root, args)


def cmd_release(args: argparse.Namespace) -> int:
    from .lesson_table import readme_problem, update_readme
    from .release import ReleaseError, check, release, unpublished_ref_note

    course = _course(args)
    settings = _settings(args, course)
    note = unpublished_ref_note(course, settings.publishing)
    if note:
        print(note, file=sys.stderr)
    names = args.names or course.lessons()
    unknown = [n for n in names if not (course.source_dir / n).is_dir()]
    if unknown:
        print(f"No such lesson in {course.source_dir}: {', '.join(unknown)}. "
              f"Known lessons: {', '.join(course.lessons()) or 'none'}.", file=sys.stderr)
        return 2
    try:
        if args.check:
            diffs = check(course, names, settings.publishing)
            if diffs:
                print("The committed release differs from what the sources give:", file=sys.stderr)
                for diff in diffs:
                    print(f"  {diff.describe()}", file=sys.stderr)
                print("Regenerate it: run `make release` (or `autograder release`) and commit release/.",
                      file=sys.stderr)
            table = readme_problem(course, settings.publishing)
            if table:
                print(table, file=sys.stderr)
            if diffs or table:
                return 1
            print(f"release/ matches source/ for {len(names)} lesson(s).")
            return _judge_shares(course, names)
        for path in release(course, names, settings.publishing):
            print(f"wrote {os.path.relpath(path)}")
        if update_readme(course, settings.publishing):
            print("updated the lesson table in README.md")
        from .demo import refresh_samples

        for lesson in refresh_samples(course):
            print(f"regenerated the sample submissions of {lesson} in examples/submitted")
        return 0
    except ReleaseError as err:
        print(err, file=sys.stderr)
        return 1


def cmd_new(args: argparse.Namespace) -> int:
    from .skeleton import LessonExistsError, create_lesson

    course = _course(args)
    try:
        path = create_lesson(course, args.name, _settings(args, course).publishing)
    except (ValueError, LessonExistsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {os.path.relpath(path)}\nNext: fill in its solution, then `autograder release {args.name}`, "
          f"`autograder validate {args.name}` and commit source/, release/, README.md and examples/ (docs/authoring.md).")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import run_validate_command

    course = _course(args)
    names = args.names or course.lessons()
    unknown = [n for n in names if not (course.source_dir / n).is_dir()]
    if unknown:
        print(f"No such lesson in {course.source_dir}: {', '.join(unknown)}.", file=sys.stderr)
        return 2
    return run_validate_command(course, names, _settings(args, course), args.unsafe, args.strict)


MIN_JUDGE_SHARE = 0.8  # of each lesson's auto-graded points, judged in the judge process


def _judge_shares(course: Course, names: list[str]) -> int:
    """Print, per lesson, the share of points judged in the judge process; warn below 80 %."""
    from .master import read_master

    low = []
    for name in names:
        for path in course.source_notebooks(name):
            master = read_master(path, name)
            share = master.judge_share()
            in_kernel = [t.grade_id for t in master.tests if t.judged_in != "judge"]
            print(f"{name}: {share:.0%} of {master.max_score:g} auto-graded points judged in the judge process"
                  + (f" (judged in the student's kernel: {', '.join(in_kernel)})" if in_kernel else ""))
            if share < MIN_JUDGE_SHARE:
                low.append(name)
    if low:
        print(f"Warning: below {MIN_JUDGE_SHARE:.0%} in {', '.join(low)}. Tests marked \"# judged in the "
              "student's kernel\" are open to tampering there (see docs/threat-model.md); rewrite them "
              "to pass plain data to the student's functions.", file=sys.stderr)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import run_grade_command

    course = _course(args)
    return run_grade_command(args, course, _settings(args, course))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    course = _course(args)
    return run_demo(course, out=Path(args.out), settings=_settings(args, course), unsafe=args.unsafe)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import load_results, write_report

    out = Path(args.out).resolve()
    if not load_results(out):
        print(f"No grading results in {out}/results: grade first (autograder grade SUBMITTED --out {args.out}).",
              file=sys.stderr)
        return 2
    _, page = write_report(out)
    print(f"Report: {page}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_grades, regenerate_feedback
    from .report import load_results, write_report

    out = Path(args.out).resolve()
    try:
        long_csv, wide_csv, rows = export_grades(out, args.db)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    pending = sum(r.manual_pending for r in rows)
    print(f"Grades:      {long_csv} ({len(rows)} rows; {pending} with written answers still to grade)")
    print(f"For the LMS: {wide_csv} (one row per student, one column per assignment)")
    if not args.no_feedback:
        pages = regenerate_feedback(out, _course(args), args.db)
        print(f"Feedback:    {len(pages)} page(s) rewritten with the manual points and comments in {out / 'feedback'}")
    if load_results(out):
        print(f"Report:      {write_report(out)[1]}")
    return 0


def cmd_formgrade(args: argparse.Namespace) -> int:
    from .formgrade import serve

    return serve(Path(args.out), port=args.port, db_url=args.db)


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
    add_flags(rel, "Publishing")
    rel.set_defaults(func=cmd_release)

    new = sub.add_parser("new", help="create source/NN_slug/NN_slug.ipynb, a lesson skeleton following every convention")
    new.add_argument("name", metavar="NN_slug", help="two digits, an underscore, a short name (e.g. 09_regularisation)")
    new.set_defaults(func=cmd_new)

    val = sub.add_parser("validate", help="check lessons: release in sync, Colab cells, solution full marks and "
                                          "release 0 under the grader, checks stable across runs, warnings")
    val.add_argument("names", nargs="*", metavar="NAME", help="lessons to validate (default: all)")
    val.add_argument("--strict", action="store_true", help="warnings fail too")
    add_flags(val, "Grading")
    val.add_argument("--unsafe", action="store_true", help="run without the sandbox (your own notebooks only)")
    val.set_defaults(func=cmd_validate)

    gr = sub.add_parser("grade", help="grade a folder of submissions STUDENT/ASSIGNMENT/NOTEBOOK.ipynb")
    gr.add_argument("submitted", metavar="SUBMITTED",
                    help="folder of submissions (nbgrader's submitted layout), a flat folder or a .zip")
    gr.add_argument("--out", required=True, metavar="OUT", help="where grades.csv, feedback/ and the gradebook go")
    gr.add_argument("--assignment", metavar="NAME",
                    help="grade only this assignment (needed for a flat folder or archive)")
    add_nbgrader_flags(gr, "db", "course_id")
    add_flags(gr, "Grading", "Deadlines")
    gr.add_argument("--unsafe", action="store_true",
                    help="run student code without a sandbox (only for trusted notebooks)")
    gr.add_argument("--no-progress", action="store_true", help="no progress bar")
    gr.set_defaults(func=cmd_grade)

    rep = sub.add_parser("report", help="rewrite OUT/report.html and OUT/report.json from a grading run's results")
    rep.add_argument("--out", required=True, metavar="OUT", help="the grading output folder")
    rep.set_defaults(func=cmd_report)

    exp = sub.add_parser("export", help="final grades from the gradebook (after manual grading): grades.csv, "
                                        "grades_wide.csv for an LMS, and feedback with the manual points")
    exp.add_argument("--out", required=True, metavar="OUT", help="the grading output folder")
    exp.add_argument("--db", metavar="URL", help="gradebook SQLAlchemy URL (default: sqlite:///OUT/gradebook.db)")
    exp.add_argument("--no-feedback", action="store_true", help="do not rewrite the feedback pages")
    exp.set_defaults(func=cmd_export)

    fg = sub.add_parser("formgrade", help="grade the written answers in nbgrader's formgrader (a local web page)")
    fg.add_argument("--out", required=True, metavar="OUT", help="the grading output folder")
    fg.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    fg.add_argument("--db", metavar="URL", help="gradebook SQLAlchemy URL (default: sqlite:///OUT/gradebook.db)")
    fg.set_defaults(func=cmd_formgrade)

    demo = sub.add_parser("demo", help="release the lessons and grade the sample submissions in examples/")
    demo.add_argument("--out", default="demo-out", metavar="OUT", help="where the demo grades go (default: demo-out)")
    add_flags(demo, "Grading")
    demo.add_argument("--unsafe", action="store_true", help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``autograder`` console script."""
    from .startup import skip_unused_optional_imports

    skip_unused_optional_imports()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
