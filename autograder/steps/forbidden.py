"""Step 5b, in the trusted parent: forbidden calls, found in the submitted source.

An exercise may declare in its test cell what the student's function must not use
(``check.forbidden(sigmoid, "dlbricks.losses.sigmoid", ...)``, see
``dlbricks.check.forbidden``). Inside the student's kernel that check reads the
cells the student ran and records the calls made while the function runs; both can
be faked by a kernel the student controls. So the parent repeats the static part
here, on the submitted cells and with the declaration taken from the master's test
code, where the student's code cannot reach: a test whose function uses a forbidden
name earns no points, and its feedback names the use.

Contract with the judging step (whichever process runs the tests): call
``enforce(tests, plan, master)`` on the judged tests of one submission; it returns
them with every test that breaks its declaration failed (0 points, one extra visible
check result saying why). It reads only ``plan`` (the submission's non-test cells, in
order), the master's test code, and ``TestResult``'s fields; it never runs student code.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dlbricks.check.calls import find_uses

from ..master import MasterNotebook

if TYPE_CHECKING:  # judge imports this module: its classes are looked up when enforce runs
    from .judge import TestResult

LABEL = "forbidden calls"


@dataclass(frozen=True)
class Declaration:
    """One ``check.forbidden(function, *names)`` call of a master test cell."""

    function: str
    names: tuple[str, ...]
    label: str


def _is_forbidden_call(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "forbidden":
        return isinstance(func.value, ast.Name) and func.value.id == "check" or \
            isinstance(func.value, ast.Attribute) and func.value.attr == "check"
    return isinstance(func, ast.Name) and func.id == "forbidden"


def declarations_in(code: str) -> list[Declaration]:
    """The forbidden-call declarations in one piece of (trusted) test code."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not _is_forbidden_call(node) or not node.args:
            continue
        target = node.args[0]
        names = tuple(a.value for a in node.args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str))
        if not isinstance(target, ast.Name) or not names:
            continue
        label = next((k.value.value for k in node.keywords if k.arg == "label"
                      and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)), "")
        found.append(Declaration(target.id, names, label or f"{target.id} writes it itself"))
    return found


def declarations(master: MasterNotebook) -> dict[str, list[Declaration]]:
    """grade_id -> the declarations of that test cell (visible and hidden segments)."""
    out: dict[str, list[Declaration]] = {}
    for test in master.tests:
        decls = [d for seg in test.segments for d in declarations_in(seg.code)]
        if decls:
            out[test.grade_id] = decls
    return out


def student_cells(plan: list[dict]) -> list[str]:
    """The submission's own code cells, in the order they run (test cells left out)."""
    return [seg["code"] for cell in plan for seg in cell.get("segments", []) if not seg.get("test")]


def violations(cells: list[str], decls: list[Declaration]) -> list[str]:
    """One sentence per forbidden use found in ``cells`` for these declarations."""
    found = []
    for decl in decls:
        try:
            uses = find_uses(cells, decl.function, list(decl.names))
        except Exception as exc:  # a source that breaks the analysis must not break grading
            found.append(f"the source of {decl.function} could not be analysed ({type(exc).__name__}); "
                         "it earns no points for this exercise")
            continue
        for use in uses:
            found.append(f"{use}, which this exercise asks you to write yourself")
    return found


def enforce(tests: list[TestResult], plan: list[dict], master: MasterNotebook) -> list[TestResult]:
    """``tests`` with each test that breaks its forbidden-call declaration failed."""
    from .judge import CheckResult

    decls = declarations(master)
    if not decls:
        return tests
    cells = student_cells(plan)
    out = []
    for test in tests:
        found = violations(cells, decls[test.grade_id]) if test.grade_id in decls else []
        if not found or test.status == "not_run":
            out.append(test)
            continue
        check = CheckResult(LABEL, False, False, "; ".join(found))
        out.append(replace(test, points=0.0, status="failed", checks=[check] + list(test.checks)))
    return out
