"""Which of the master's own cells each test needs, and which names the student defines.

The judge runs a test with lesson state from the master (data sets, constants,
the instructor's helpers), never from the student's namespace. Running every
cell of the master would cost what running the notebook twice costs, so each
test gets only the cells that define a name it reads, and the cells those read
in turn (found from the code, by name; a cell that changes a name in place,
``X[0] = 1`` or ``model.trainable = False``, or calls a method of it that may change it,
``rng.normal()`` or ``model.fit()``, counts as defining it; ``age.mean()`` does not).

The names a solution cell defines (functions, classes, variables) are the
student's: in the judge they are fetched from the student's kernel.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from typing import Any

BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "get_ipython", "display", "In", "Out", "_"}
# Methods that only read their object (numpy arrays, tensors, dicts, strings): calling them does
# not change lesson state, so a cell that calls ``age.mean()`` is not a cell that changes ``age``.
READ_ONLY_METHODS = frozenset({
    "all", "any", "argmax", "argmin", "argsort", "astype", "copy", "count", "cumprod", "cumsum", "dot",
    "endswith", "flatten", "format", "get", "index", "item", "items", "join", "keys", "lower", "max",
    "mean", "min", "nonzero", "numpy", "prod", "ravel", "repeat", "reshape", "round", "split",
    "squeeze", "startswith", "std", "strip", "sum", "swapaxes", "take", "tolist", "transpose", "upper",
    "values", "var",
})
STUDENT_KERNEL_MARKER = re.compile(r"#\s*judged in the student['’]?s kernel", re.IGNORECASE)


@dataclass(frozen=True)
class Names:
    """The global names a piece of code reads, binds (assignment, def, class, import) and changes in place."""

    reads: frozenset[str]
    defines: frozenset[str]  # binds or changes in place
    imports: frozenset[str]
    binds: frozenset[str] = frozenset()  # binds anew (what came before no longer matters)
    receivers: frozenset[str] = frozenset()  # names whose methods it calls (which may change them)


def _python(code: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(code)
    except Exception:  # not IPython syntax either: analysed as it is
        return code


def names_of(code: str) -> Names:
    """Names read and defined anywhere in ``code`` (functions' bodies included: they run later)."""
    try:
        tree = ast.parse(_python(code))
    except SyntaxError:
        return Names(frozenset(), frozenset(), frozenset())
    reads: set[str] = set()
    defines: set[str] = set()
    imports: set[str] = set()
    changed: set[str] = set()
    receivers: set[str] = set()
    first: dict[str, tuple[int, int, bool]] = {}  # name -> (line, column, first seen as a read)

    def seen(name: str, node: ast.AST, load: bool) -> None:
        where = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), load)
        if name not in first or where[:2] < first[name][:2]:
            first[name] = where

    # A comprehension's loop variables are its own (Python 3 scoping), although the element
    # that reads them comes first in the text: `[f(a) for a in xs]` reads xs, not a.
    own: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            outer = {id(n) for n in ast.walk(node.generators[0].iter)}  # evaluated outside: `for x in x`
            own |= {id(n) for n in ast.walk(node)
                    if isinstance(n, ast.Name) and n.id in targets and id(n) not in outer}

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) in own:
            continue
        if isinstance(node, ast.arg):
            seen(node.arg, node, False)  # a parameter: the function's own name, not a global
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            seen(node.name, node, False)
        if isinstance(node, ast.Name):
            load = isinstance(node.ctx, ast.Load)
            (reads if load else defines).add(node.id)
            seen(node.id, node, load)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node in tree.body:
            defines.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    imports.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):
                changed.add(base.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            changed.add(node.target.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.attr not in READ_ONLY_METHODS:
            receivers.add(node.func.value.id)  # model.fit(...), rng.normal(...): may change it
    binds = (defines | imports) - changed
    # A name the code binds before it first reads it is its own (a loop variable, a test's input).
    reads = {n for n in reads if first.get(n, (0, 0, True))[2] or n in changed}
    return Names(frozenset(reads - BUILTIN_NAMES), frozenset(defines | imports | changed), frozenset(imports),
                 frozenset(binds), frozenset(receivers - imports))


def top_level_definitions(code: str) -> set[str]:
    """Names a solution cell defines at its top level: functions, classes, assigned variables."""
    try:
        tree = ast.parse(_python(code))
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                found |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return found


def judged_in_student_kernel(code: str) -> bool:
    """A test whose source says ``# judged in the student's kernel``: it must run beside the student's code."""
    return bool(STUDENT_KERNEL_MARKER.search(code))


@dataclass(frozen=True)
class Analysis:
    """What the judge needs of a master notebook."""

    student_names: frozenset[str]
    state_cells: tuple[str, ...]  # code of the master cells that are neither solutions nor tests, in order
    setup_of: dict[str, tuple[int, ...]]  # grade id -> indices into state_cells that the test needs


def analyse(cells: list[Any], is_test: Any, is_solution: Any) -> Analysis:
    """Find the student's names and each test's state cells in a master notebook's code ``cells``.

    ``cells``: nbformat code cells in notebook order; ``is_test(cell)`` gives the test's
    grade id (or None); ``is_solution(cell)`` says whether the student writes the cell.
    """
    student: set[str] = set()
    imported: set[str] = set()
    for cell in cells:
        names = names_of(cell.source)
        imported |= names.imports
        if is_solution(cell):
            student |= top_level_definitions(cell.source)
    student -= imported  # a module a solution imports is the library's, not the student's
    state: list[tuple[int, str, Names]] = []  # (position, code, names)
    setup_of: dict[str, tuple[int, ...]] = {}
    for position, cell in enumerate(cells):
        grade_id = is_test(cell)
        if grade_id is None:
            if not is_solution(cell) and cell.source.strip():
                state.append((position, cell.source, names_of(cell.source)))
            continue
        needed: set[int] = set()
        wanted = [(name, len(state)) for name in names_of(cell.source).reads - student]
        seen: set[tuple[str, int]] = set()
        while wanted:
            name, before = wanted.pop()
            if (name, before) in seen:
                continue
            seen.add((name, before))
            # The last cell before that binds the name, and every cell after it that changes it in place.
            for k in range(before - 1, -1, -1):
                names = state[k][2]
                if name not in names.defines and (name not in names.receivers or name in imported):
                    continue
                if k not in needed:
                    needed.add(k)
                    wanted += [(n, k) for n in names.reads - student]
                if name in names.binds:
                    break
        setup_of[grade_id] = tuple(sorted(needed))
    return Analysis(frozenset(student), tuple(code for _, code, _ in state), setup_of)


def student_reads(code: str, student_names: frozenset[str] | set[str]) -> list[str]:
    """The student's names that ``code`` reads (to be fetched before it runs), sorted."""
    return sorted(set(names_of(code).reads) & set(student_names))
