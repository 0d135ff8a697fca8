"""``autograder validate``: is a lesson ready to hand out and to grade?

For each lesson it checks, with the kit's own pieces (nothing is graded twice
by a second grader):

- ``release/NAME`` is what ``autograder release`` makes of ``source/NAME``;
- the released notebook opens in Colab: the badge and the install cell are there
  and point where the course configuration says; the README's lesson table lists it;
- the solution earns full marks and the untouched release earns 0 when a class
  of two (``solution``, ``untouched``) is graded by :func:`autograder.grade.grade_submissions`,
  sandbox and all;
- the solution's checks are the same in two separate runs (a test whose values
  change from run to run can fail a correct student);
- the solution run raises no runtime warning (overflow, division by zero,
  invalid value) and leaves no NaN or infinity in a variable;
- test cells that read names defined in an unlocked cell (a student may change
  it) or read a student's variable (not a function) are named.

Errors make the command fail; warnings are printed and fail it only with
``--strict``.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from .config import CourseConfig
from .lesson_table import readme_problem
from .course import Course
from .master import is_autograder_test, read_master
from .reference import reference_or_error, reference_plan, store_reference, SolutionFailsError
from .release import (COLAB_BADGE_IMAGE, COLAB_URL, _is_badge_cell, _is_install_cell, check as release_check,
                      colab_link, colab_url, install_spec)

ERROR, WARNING = "error", "warning"
NONFINITE_MARK = "@@autograder-validate-nonfinite@@"
# Extra cells of the instrumented solution run get indices no notebook cell has.
PROBE_BASE = 10**6

PREAMBLE = """\
import warnings as __validate_warnings
__validate_warnings.simplefilter("default")  # every warning shown once per place, none hidden
"""
PROBE = """\
def __validate_nonfinite():
    import json, math
    import numpy
    found = []
    for name, value in list(globals().items()):
        if name.startswith("_"):
            continue
        try:
            if isinstance(value, (float, numpy.floating)) and not math.isfinite(value):
                found.append(name)
            elif isinstance(value, numpy.ndarray) and value.dtype.kind in "fc" and value.size \\
                    and not numpy.isfinite(value).all():
                found.append(name)
            elif isinstance(value, (list, tuple)) and 0 < len(value) <= 100000 \\
                    and all(isinstance(v, (float, numpy.floating)) for v in value) \\
                    and not all(math.isfinite(v) for v in value):
                found.append(name)
        except Exception:
            pass
    print("%s" + json.dumps(found))
__validate_nonfinite()
del __validate_nonfinite
""" % NONFINITE_MARK
WARNING_LINE = re.compile(r"^(?:.*?:\d+: )?(\w*Warning): (.*)$", re.M)


@dataclass
class Finding:
    level: str  # error | warning
    text: str


@dataclass
class LessonValidation:
    name: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def error(self, text: str) -> None:
        self.findings.append(Finding(ERROR, text))

    def warn(self, text: str) -> None:
        self.findings.append(Finding(WARNING, text))

    @property
    def errors(self) -> list[str]:
        return [f.text for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[str]:
        return [f.text for f in self.findings if f.level == WARNING]


# --- release and Colab ------------------------------------------------------------------

def check_release(course: Course, name: str, config: CourseConfig, result: LessonValidation) -> None:
    for diff in release_check(course, [name], config.publishing):
        result.error(f"release/{name} is stale ({diff.describe()}): run `autograder release {name}` and commit release/")


def check_colab(course: Course, name: str, config: CourseConfig, result: LessonValidation) -> None:
    """The released notebook's first markdown cell links Colab, its first code cell installs the library."""
    path = course.release_dir / name / f"{name}.ipynb"
    if not path.is_file():
        result.error(f"release/{name}/{name}.ipynb is missing: run `autograder release {name}`")
        return
    nb = nbformat.read(path, as_version=4)
    rel = f"release/{name}/{name}.ipynb"
    url = colab_url(config.publishing, rel)
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is None or not _is_badge_cell(first_md):
        result.error(f"{rel}: the first markdown cell has no 'Open in Colab' link; start the source with "
                     f"{colab_link(url)}")
    elif url not in COLAB_URL.findall(first_md.source):
        result.error(f"{rel}: the Colab badge does not open {url}: run `autograder release {name}`")
    elif COLAB_BADGE_IMAGE.search(first_md.source):
        result.error(f"{rel}: the Colab badge is an image, a broken picture in a Lab without internet: "
                     f"run `autograder release {name}` (it writes the badge as a text link)")
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first_code is None or not _is_install_cell(first_code):
        result.error(f"{rel}: the first code cell is not the install cell (pip install "
                     f"'{install_spec(config.publishing)}' when dlbricks is missing); copy it from "
                     f"`autograder new` or another lesson")


# --- what the tests read ----------------------------------------------------------------

def _bound_names(tree: ast.AST) -> dict[str, str]:
    """Top-level names a cell binds, with how: 'def', 'import' or 'value'."""
    bound: dict[str, str] = {}
    for stmt in getattr(tree, "body", []):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[stmt.name] = "def"
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                bound[(alias.asname or alias.name).split(".")[0]] = "import"
        else:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    bound[node.id] = "value"
    return bound


def _read_names(tree: ast.AST) -> set[str]:
    """Names a test cell reads that it does not bind itself first (top level, roughly)."""
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.comprehension)):
            args = getattr(node, "args", None)
            if isinstance(args, ast.arguments):
                local |= {a.arg for a in args.args + args.kwonlyargs + args.posonlyargs}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - stored - local - set(dir(builtins))


def _parse(code: str) -> ast.AST | None:
    from dlbricks.check.calls import _python_source  # IPython magics and shell lines made Python

    try:
        return ast.parse(_python_source(code))
    except SyntaxError:
        return None


def check_dependencies(source: Path, result: LessonValidation) -> None:
    """Name test cells that read unlocked cells' names or student variables."""
    nb = nbformat.read(source, as_version=4)
    definitions: dict[str, tuple[str, str, dict]] = {}  # name -> (cell, how, nbgrader metadata)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        tree = _parse(cell.source)
        if tree is None:
            continue
        if is_autograder_test(cell):
            label = f"test cell {meta.get('grade_id')}"
            unlocked, student = [], []
            for name in sorted(_read_names(tree)):
                if name not in definitions:
                    continue
                where, how, defmeta = definitions[name]
                if how == "import":
                    continue
                if defmeta.get("solution"):
                    if how == "value":
                        student.append(f"`{name}` (solution cell {defmeta.get('grade_id')})")
                elif not defmeta.get("locked"):
                    unlocked.append(f"`{name}` ({where})")
            if unlocked:
                result.warn(f"{label} reads {', '.join(unlocked)} from unlocked cells: a student who edits "
                            f"them sees checks that disagree with the grade (grading uses your cells). Lock those cells (nbgrader 'Read-only') "
                            f"or define the values in the test cell.")
            if student:
                result.warn(f"{label} reads the student's variables {', '.join(student)}: compute expected "
                            f"values from the test's own data, not from the student's.")
            continue
        for name, how in _bound_names(tree).items():
            definitions[name] = (_cell_name(number, cell.source), how, meta)


# --- running the solution ---------------------------------------------------------------

def instrumented_plan(plan: list[dict]) -> list[dict]:
    """``plan`` with warnings shown and, after every cell, a probe listing non-finite variables."""
    out = [{"index": PROBE_BASE, "grade_id": None,
            "segments": [{"code": PREAMBLE, "hidden": False, "test": False}]}]
    for cell in plan:
        out.append(cell)
        out.append({"index": PROBE_BASE + 1 + cell["index"], "grade_id": None,
                    "segments": [{"code": PROBE, "hidden": False, "test": False}]})
    return out


def _cell_name(number: int, code: str) -> str:
    """How the author finds a cell: its position (1-based, as counted in Jupyter) and first line."""
    first = next((line.strip() for line in code.splitlines() if line.strip()), "")
    return f"cell {number + 1} (`{first[:50]}{'...' if len(first) > 50 else ''}`)"


def _stream_text(outputs: list[dict], name: str) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == name)


def scan_solution_run(report: Any, plan: list[dict], result: LessonValidation, limits: Any = None) -> None:
    """Runtime warnings, non-finite variables and cut outputs of an instrumented solution run."""
    from .sandbox import Limits

    limits = limits or Limits()
    already: set[str] = set()
    for cell in plan:
        index = cell["index"]
        where = _cell_name(index, cell["segments"][0]["code"] if cell["segments"] else "")
        ran = report.cells.get(index)
        if ran is not None and ran.truncated:
            result.warn(f"{where}: its output is cut at grading (the sandbox keeps "
                        f"{limits.cell_output_bytes // 1024} KiB per cell, "
                        f"{limits.total_output_bytes // 2**20} MiB in all): print less or make the figure smaller")
        if ran is not None:
            for category, message in WARNING_LINE.findall(_stream_text(ran.outputs, "stderr")):
                if category in ("RuntimeWarning", "OverflowError") or "overflow" in message or "invalid value" in message:
                    result.warn(f"{where}: {category}: {message.strip()[:200]} "
                                f"(a numeric problem: results may be wrong while every check passes)")
                elif category not in ("DeprecationWarning", "FutureWarning", "PendingDeprecationWarning"):
                    result.warn(f"{where}: {category}: {message.strip()[:200]}")
        probe = report.cells.get(PROBE_BASE + 1 + index)
        if probe is None:
            continue
        for line in _stream_text(probe.outputs, "stdout").splitlines():
            if line.startswith(NONFINITE_MARK):
                try:
                    names = set(json.loads(line[len(NONFINITE_MARK):]))
                except ValueError:
                    continue
                new = sorted(names - already)
                already |= names
                if new:
                    result.warn(f"{where} leaves NaN or infinity in "
                                f"{', '.join(f'`{n}`' for n in new)}")


def compare_runs(first: dict, second: dict, result: LessonValidation) -> None:
    """The check records of two solution runs, test cell by test cell."""
    from dlbricks.check import rejudge_details

    for gid in sorted(set(first) | set(second)):
        a, b = first.get(gid, []), second.get(gid, [])
        rec_a = [r for s in a for r in s["records"]]
        rec_b = [r for s in b for r in s["records"]]
        labels_a = [r.get("label") if isinstance(r, dict) else None for r in rec_a]
        labels_b = [r.get("label") if isinstance(r, dict) else None for r in rec_b]
        if labels_a != labels_b:
            result.error(f"test cell {gid} makes different checks in two runs of the solution "
                         f"({len(rec_a)} vs {len(rec_b)} checks): a check inside a loop or condition over "
                         f"changing values? Make the number and order of checks fixed.")
            continue
        for ra, rb in zip(rec_a, rec_b):
            if ra == rb:
                continue
            passed, message = rejudge_details(rb, ra)
            if not passed:
                result.error(f"test cell {gid}: check '{ra.get('label')}' gives another value in a second run "
                             f"of the solution and would fail it ({message.strip()[:200]}): seed every random "
                             f"generator the test and the solution use (np.random.default_rng(SEED), "
                             f"keras.utils.set_random_seed)")


def run_solution_twice(source: Path, name: str, config: CourseConfig, unsafe: bool,
                       result: LessonValidation) -> dict | None:
    """Run the solution twice in the sandbox (one run instrumented); return the plain run's reference."""
    from .steps.execute import execute_plan
    from .steps.judge import reference_from_report

    master = read_master(source, name)
    plan = reference_plan(source, master)
    settings = config.grading.run_settings(unsafe)
    with ThreadPoolExecutor(max_workers=2) as pool:
        plain = pool.submit(execute_plan, plan, settings)
        probed = pool.submit(execute_plan, instrumented_plan(plan), settings)
        plain_report, probed_report = plain.result(), probed.result()
    scan_solution_run(probed_report, plan, result, settings.limits)  # also when it fails: a warning may say why
    try:
        reference = reference_or_error(plain_report, plan, source, settings.limits.memory_mb)
    except SolutionFailsError as exc:
        result.error(str(exc))
        return None
    second, problems = reference_from_report(probed_report, plan)
    if problems:
        result.error("the solution passes its tests in one run and not in another: "
                     + "; ".join(problems)[:600] + " (seed every random generator)")
    else:
        compare_runs(reference, second, result)
    store_reference(source, master, reference, settings)  # grading below reuses it, as `grade` would
    return reference


# --- grading a class of two -------------------------------------------------------------

def grade_class(course: Course, name: str, config: CourseConfig, unsafe: bool, result: LessonValidation) -> None:
    """Grade the filled-in solution and the untouched release with the kit's grader."""
    from .grade import GradeOptions, grade_submissions
    from .samples import load_pair, solved_release, write_submission

    release_nb, source_nb = load_pair(course.root, name)
    with tempfile.TemporaryDirectory(prefix="autograder-validate-") as tmp:
        submitted, out = Path(tmp) / "submitted", Path(tmp) / "out"
        write_submission(submitted, "solution", name, name, solved_release(release_nb, source_nb))
        write_submission(submitted, "untouched", name, name, release_nb)
        grading = config.grading
        options = GradeOptions(out=out, assignment=name, workers=grading.workers or 2,
                               settings=grading.run_settings(unsafe), config=config)
        log: list[str] = []
        run = grade_submissions(submitted, course, options, log=log.append)
        rows = {r.student_id: r for r in run.rows}
        for problem in run.grader_errors:
            result.error(f"grading failed: {problem}")
        solution, untouched = rows.get("solution"), rows.get("untouched")
        if solution is not None:
            if solution.status != "graded" or solution.auto_score < solution.auto_max or solution.auto_max <= 0:
                failed = _failed_tests(run, "solution")
                result.error(f"the solution scores {solution.auto_score:g}/{solution.auto_max:g} under the grader "
                             f"({solution.status}{'; ' + solution.detail if solution.detail else ''})"
                             + (f"; tests losing points: {failed}" if failed else ""))
            if solution.flags:
                from .steps.feedback import FLAG_TEXT

                said = "; ".join(f"{f}: {FLAG_TEXT.get(f, 'see the feedback page')}" for f in solution.flags)
                result.error(f"the solution is flagged by the grader ({said}): every correct submission "
                             f"would be flagged too. Shrink long outputs and large figures, give the "
                             f"notebook more room (--timeout, --memory-mb) or fix the test")
        if untouched is not None and untouched.auto_score > 0:
            earned = _failed_tests(run, "untouched", earned=True)
            result.error(f"the untouched release scores {untouched.auto_score:g} points ({earned}): a test "
                         f"passes without the student's work; make it call the exercise's function")


def _failed_tests(run: Any, student: str, earned: bool = False) -> str:
    for grade in run.grades:
        if grade.student == student and grade.judgement is not None:
            tests = [t for t in grade.judgement.tests if (t.points > 0) == earned]
            return ", ".join(f"{t.grade_id} ({t.summary()})" if not earned else t.grade_id for t in tests)
    return ""


# --- the command ------------------------------------------------------------------------

def validate_lesson(course: Course, name: str, config: CourseConfig, unsafe: bool = False,
                    log: Callable[[str], None] = lambda m: None) -> LessonValidation:
    """Every check of the module docstring for the lesson ``name``."""
    start = time.monotonic()
    result = LessonValidation(name)
    sources = course.source_notebooks(name)
    source = course.source_dir / name / f"{name}.ipynb"
    if source not in sources:
        result.error(f"source/{name} must hold one notebook named {name}.ipynb")
        return result
    log(f"{name}: release and Colab cells...")
    check_release(course, name, config, result)
    table = readme_problem(course, config.publishing)
    if table and name in table:
        result.error(table)
    if (course.release_dir / name / f"{name}.ipynb").is_file():
        check_colab(course, name, config, result)
    check_dependencies(source, result)
    master = read_master(source, name)
    if not master.tests:
        result.error(f"{name} has no auto-graded test cell (nbgrader 'Autograder tests' with points)")
        result.seconds = time.monotonic() - start
        return result
    log(f"{name}: running the solution twice...")
    reference = run_solution_twice(source, name, config, unsafe, result)
    if reference is not None and (course.release_dir / name / f"{name}.ipynb").is_file():
        log(f"{name}: grading the solution and the untouched release...")
        grade_class(course, name, config, unsafe, result)
    result.seconds = time.monotonic() - start
    return result


def print_validation(result: LessonValidation, file: Any = sys.stdout) -> None:
    verdict = "FAILED" if result.errors else "ok"
    print(f"{result.name}: {verdict} ({len(result.errors)} error(s), {len(result.warnings)} warning(s), "
          f"{result.seconds:.0f} s)", file=file)
    for finding in result.findings:
        print(f"  {finding.level}: {finding.text}", file=file)


def run_validate_command(course: Course, names: list[str], config: CourseConfig, unsafe: bool,
                         strict: bool) -> int:
    from .sandbox import SandboxUnavailable, require_sandbox

    try:
        require_sandbox(unsafe)
    except SandboxUnavailable as exc:
        print(exc, file=sys.stderr)
        return 3
    failed = 0
    for name in names:
        result = validate_lesson(course, name, config, unsafe, log=lambda m: print(m, file=sys.stderr))
        print_validation(result)
        if result.errors or (strict and result.warnings):
            failed += 1
    print(f"{len(names) - failed} of {len(names)} lesson(s) valid"
          + (" (warnings count as errors: --strict)" if strict else "") + ".")
    return 1 if failed else 0
