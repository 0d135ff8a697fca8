"""Calls an exercise rules out: "write it yourself" means write it yourself.

An exercise that asks for something the kit (or one numpy/TensorFlow call)
already does declares, in its test cell, what the student's function must not
use::

    check.forbidden(sigmoid, "dlbricks.losses.sigmoid", "scipy.special.expit",
                    args=(np.array([-2.0, 0.0, 3.0]),))

A forbidden name is one of

- a dotted name of a module attribute, ``"numpy.sum"`` (``np.`` and ``tf.`` may
  stand for ``numpy.`` and ``tensorflow.``), which also covers everything under
  it (``"dlbricks.losses"`` rules out the whole module);
- ``"@"``, the matrix-product operator (with ``operator.matmul`` and ``__matmul__``);
- ``".name"``, a method of that name on any object (``".sum"`` for ``x.sum()``).

Two findings, one rule: any of them fails the exercise.

``find_uses`` (static) reads notebook cells as text: it starts at the student's
function and follows every name it uses to the cells that define it (helpers in
other cells, module-level aliases such as ``s = np.sum``), through imports inside
the function, ``getattr`` and ``vars(...)[...]`` with constant strings,
``__import__`` and ``importlib.import_module``. Where a name does not match as
text, the object it names is compared with the forbidden object (a re-export such
as ``numpy.core.fromnumeric.sum`` is ``numpy.sum``); only the packages a
declaration names are imported for that. The same function runs in the kernel
(on the cells the student ran) and in the grader's parent process (on the
submitted cells), where the student's code cannot reach it.

``record_calls`` (dynamic) runs the function once with the forbidden objects
replaced by recording stand-ins wherever the student's code can reach them
(the packages' modules and the notebook's own namespace), and reports the ones
called directly from notebook code (a library that uses the same function
internally is not the student's call).
"""
from __future__ import annotations

import ast
import functools
import importlib
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MATMUL = "@"
SHORT_NAMES = {"np": "numpy", "tf": "tensorflow"}
_IMPORTERS = frozenset({"__import__", "importlib.import_module", "builtins.__import__"})
# Reported whatever the declaration: what they call cannot be read from the source.
HIDDEN_CODE = "code run from a string (exec, eval, compile), which no check can read"
HIDDEN_NAME = "a name computed at run time (getattr or an import with a non-constant name)"
_DYNAMIC_CODE = frozenset({"builtins.exec", "builtins.eval", "builtins.compile"})
_CHEAP_ROOTS = frozenset({"numpy", "dlbricks", "scipy", "math", "operator", "builtins"})
_MATMUL_NAMES = frozenset({"operator.matmul", "operator.__matmul__", "numpy.ndarray.__matmul__"})


def canonical(name: str) -> str:
    """The declared name in full: ``"np.sum"`` -> ``"numpy.sum"``; ``"@"`` and ``".sum"`` stay."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a forbidden name is a non-empty string such as 'numpy.sum', '@' or "
                         f"'.sum', got {name!r}")
    name = name.strip()
    if name == MATMUL or name.startswith("."):
        return name
    head, _, rest = name.partition(".")
    head = SHORT_NAMES.get(head, head)
    return f"{head}.{rest}" if rest else head


@dataclass(frozen=True)
class Use:
    """One use of a forbidden name: which name, and where the student's code makes it."""

    name: str      # the forbidden name as declared, in full ("numpy.sum")
    function: str  # the student's function (or helper) whose code makes the use
    cell: int      # 1-based number of the cell (in the list given), 0 when unknown
    line: int      # line in that cell, 0 when unknown
    code: str      # the expression as written

    def __str__(self) -> str:
        where = f" (cell {self.cell}, line {self.line})" if self.cell else ""
        return f"{self.function} uses {self.name}: `{self.code}`{where}"


# --------------------------------------------------------------------------
# Reading the cells
# --------------------------------------------------------------------------
def _python_source(cell: str) -> str:
    """A cell's code as plain Python (IPython magics and shell lines turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # IPython missing: comment out magic and shell lines
        return "\n".join("# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.splitlines())
    try:
        return TransformerManager().transform_cell(cell)
    except Exception:
        return cell


@functools.lru_cache(maxsize=2048)
def _parse_cell(cell: str) -> ast.Module | None:
    """One cell's syntax tree (cached: a kernel checks the same history again and again)."""
    try:
        return ast.parse(cell)  # plain Python: IPython's transformer (slow) is not needed
    except (SyntaxError, ValueError, RecursionError):
        pass
    try:
        return ast.parse(_python_source(cell))
    except (SyntaxError, ValueError, RecursionError):
        return None  # a cell that does not parse defines nothing when it runs either


def _parse(cells: Sequence[str]) -> list[tuple[int, ast.Module]]:
    parsed = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, str) or not cell.strip():
            continue
        tree = _parse_cell(cell)
        if tree is not None:
            parsed.append((number, tree))
    return parsed


def _top_level(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, including those inside if/for/while/try/with blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field_name in ("body", "orelse", "finalbody"):
            yield from _top_level(getattr(stmt, field_name, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            yield from _top_level(handler.body)
        for case in getattr(stmt, "cases", []) or []:
            yield from _top_level(case.body)


@dataclass
class _Binding:
    cell: int
    node: ast.AST          # a def/class/lambda node, or an expression the name is bound to
    dotted: str | None     # for imports: the module or attribute it names


def _import_bindings(stmt: ast.stmt) -> list[tuple[str, str]]:
    pairs = []
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                pairs.append((alias.asname, alias.name))
            else:
                head = alias.name.split(".")[0]
                pairs.append((head, head))
    elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
        for alias in stmt.names:
            if alias.name == "*":
                pairs.append(("*", stmt.module))
            else:
                pairs.append((alias.asname or alias.name, f"{stmt.module}.{alias.name}"))
    return pairs


def _target_names(target: ast.AST, value: ast.AST | None) -> list[tuple[str, ast.AST | None]]:
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and \
            len(value.elts) == len(target.elts) else [value] * len(target.elts)
        out = []
        for t, v in zip(target.elts, values):
            out += _target_names(t, v)
        return out
    if isinstance(target, ast.Starred):
        return _target_names(target.value, value)
    return []


def _bindings_of(stmts: Iterable[ast.stmt], cell: int) -> dict[str, list[_Binding]]:
    found: dict[str, list[_Binding]] = {}
    for stmt in stmts:
        for name, dotted in _import_bindings(stmt):
            found.setdefault(name, []).append(_Binding(cell, stmt, dotted))
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(stmt.name, []).append(_Binding(cell, stmt, None))
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for name, value in _target_names(target, stmt.value):
                    found.setdefault(name, []).append(_Binding(cell, value or stmt.value, None))
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
            for name, value in _target_names(stmt.target, stmt.value):
                found.setdefault(name, []).append(_Binding(cell, value or stmt.value, None))
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            items = [stmt.iter] if isinstance(stmt, (ast.For, ast.AsyncFor)) else \
                [i.context_expr for i in stmt.items]
            targets = [stmt.target] if isinstance(stmt, (ast.For, ast.AsyncFor)) else \
                [i.optional_vars for i in stmt.items if i.optional_vars is not None]
            for target in targets:
                for name, _ in _target_names(target, None):
                    for item in items:
                        found.setdefault(name, []).append(_Binding(cell, item, None))
        for node in ast.walk(stmt) if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                            ast.ClassDef, ast.Lambda)) else ():
            if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                found.setdefault(node.target.id, []).append(_Binding(cell, node.value, None))
    return found


def _module_bindings(parsed: list[tuple[int, ast.Module]]) -> dict[str, list[_Binding]]:
    """name -> its bindings in the last cell that binds it (later cells replace earlier ones,
    as when the notebook runs top to bottom or a cell is edited and run again)."""
    table: dict[str, list[_Binding]] = {}
    for number, module in parsed:
        for name, bindings in _cell_bindings(number, module).items():
            table[name] = bindings
    return table


@functools.lru_cache(maxsize=2048)
def _cell_bindings(number: int, module: ast.Module) -> dict[str, list[_Binding]]:
    """The module-level bindings of one parsed cell (cached with the cell's tree; read only)."""
    return _bindings_of(_top_level(module.body), number)


# --------------------------------------------------------------------------
# Resolving expressions to dotted names
# --------------------------------------------------------------------------
def _constant_string(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_string(node.left), _constant_string(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_constant_string(v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple))):
        sep = _constant_string(node.func.value)
        parts = [_constant_string(e) for e in node.args[0].elts]
        if sep is not None and all(p is not None for p in parts):
            return sep.join(parts)  # type: ignore[arg-type]
    return None


class _Scan:
    """One search for forbidden uses from one function, over a set of parsed cells."""

    def __init__(self, bindings: dict[str, list[_Binding]], forbidden: list[str],
                 matches: Callable[[str, str], bool]) -> None:
        self.bindings = bindings
        self.forbidden = forbidden
        self.matches = matches
        self.uses: list[Use] = []
        self.seen_names: set[str] = set()
        self.resolving: set[int] = set()
        self.queue: list[tuple[str, _Binding]] = []

    # -- dotted names -----------------------------------------------------
    def dotted(self, node: ast.AST, local: dict[str, list[_Binding]]) -> set[str]:
        """The dotted names an expression may stand for (empty when unknown)."""
        if id(node) in self.resolving:
            return set()
        self.resolving.add(id(node))
        try:
            return self._dotted(node, local)
        finally:
            self.resolving.discard(id(node))

    def _dotted(self, node: ast.AST, local: dict[str, list[_Binding]]) -> set[str]:
        if isinstance(node, ast.Name):
            out: set[str] = set()
            for binding in local[node.id] if node.id in local else self.bindings.get(node.id, []):
                if binding.dotted is not None:
                    out.add(binding.dotted)
                elif isinstance(binding.node, ast.expr):
                    out |= self.dotted(binding.node, local if node.id in local else {})
            if not out and node.id not in local and node.id not in self.bindings:
                out.add(f"builtins.{node.id}")
            return out
        if isinstance(node, ast.Attribute):
            return {f"{base}.{node.attr}" for base in self.dotted(node.value, local)}
        if isinstance(node, ast.Subscript):
            key = _constant_string(node.slice)
            if key is None:
                return set()
            value = node.value
            if isinstance(value, ast.Attribute) and value.attr == "__dict__":
                return {f"{b}.{key}" for b in self.dotted(value.value, local)}
            if "sys.modules" in self.dotted(value, local):
                return {key}
            if isinstance(value, ast.Call) and len(value.args) == 1 and \
                    "builtins.vars" in self.dotted(value.func, local):
                return {f"{b}.{key}" for b in self.dotted(value.args[0], local)}
            return set()
        if isinstance(node, ast.Call):
            funcs = self.dotted(node.func, local)
            if "builtins.getattr" in funcs and len(node.args) >= 2:
                key = _constant_string(node.args[1])
                if key is not None:
                    return {f"{b}.{key}" for b in self.dotted(node.args[0], local)}
            if funcs & _IMPORTERS and node.args:
                module = _constant_string(node.args[0])
                if module is not None:
                    return {module}
            return set()
        return set()

    # -- findings ----------------------------------------------------------
    def report(self, name: str, function: str, cell: int, node: ast.AST, code: str | None = None) -> None:
        line = getattr(node, "lineno", 0)
        text = code if code is not None else (ast.unparse(node) if isinstance(node, ast.AST) else str(node))
        use = Use(name, function, cell, line, text[:80])
        if all((u.name, u.function) != (name, function) for u in self.uses):  # one line per helper and name
            self.uses.append(use)

    def check_dotted(self, names: set[str], function: str, cell: int, node: ast.AST) -> None:
        for dotted in names:
            if dotted in _MATMUL_NAMES and MATMUL in self.forbidden:
                self.report(MATMUL, function, cell, node)
            for name in self.forbidden:
                if name != MATMUL and not name.startswith(".") and self.matches(dotted, name):
                    self.report(name, function, cell, node)

    def check_hidden(self, node: ast.Call, local: dict[str, list[_Binding]], function: str, cell: int) -> None:
        """Calls that hide what they reach from a reader: code in a string, a computed name."""
        funcs = self.dotted(node.func, local)
        if funcs & _DYNAMIC_CODE:
            self.report(HIDDEN_CODE, function, cell, node)
        elif funcs & _IMPORTERS and node.args and _constant_string(node.args[0]) is None:
            self.report(HIDDEN_NAME, function, cell, node)
        elif "builtins.getattr" in funcs and len(node.args) >= 2 and _constant_string(node.args[1]) is None:
            roots = {n.split(".")[0] for n in self.forbidden if n != MATMUL and not n.startswith(".")}
            methods = any(n == MATMUL or n.startswith(".") for n in self.forbidden)
            bases = self.dotted(node.args[0], local)
            if methods or any(b.split(".")[0] in roots for b in bases):
                self.report(HIDDEN_NAME, function, cell, node)

    def scan_code(self, root: ast.AST, function: str, cell: int, value: bool = False) -> None:
        """Every use in ``root`` (a def, class, lambda or expression), following names.

        ``value``: ``root`` is the expression a helper name is bound to at module level
        (``W = X @ V``, ``s = np.sum``): what it *computes* is data, not a call the function
        makes, so only what it hands on (aliases, arguments such as ``partial(np.sum)``,
        lambdas) counts.
        """
        local: dict[str, list[_Binding]] = {}
        if isinstance(root, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            inner = [n for n in ast.walk(root) if isinstance(n, ast.stmt) and n is not root]
            local = _bindings_of(inner, cell)
            for node in ast.walk(root):  # parameters and comprehension variables are local
                if isinstance(node, ast.arg):
                    local.setdefault(node.arg, [])
                elif isinstance(node, ast.comprehension):
                    for name, _ in _target_names(node.target, None):
                        local.setdefault(name, [])
        skipped: set[int] = set()
        if value:
            for node in ast.walk(root):
                if isinstance(node, ast.Lambda):
                    self.scan_code(node, function, cell)
                    skipped |= {id(n) for n in ast.walk(node)}
                elif isinstance(node, ast.Call):
                    skipped |= {id(n) for n in ast.walk(node.func)}
        for node in ast.walk(root):
            if id(node) in skipped or value and isinstance(node, (ast.BinOp, ast.AugAssign)):
                continue
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) or \
                    isinstance(node, ast.AugAssign) and isinstance(node.op, ast.MatMult):
                if MATMUL in self.forbidden:
                    self.report(MATMUL, function, cell, node)
            if isinstance(node, ast.Attribute):
                if f".{node.attr}" in self.forbidden:
                    self.report(f".{node.attr}", function, cell, node)
                if node.attr in ("__matmul__", "__rmatmul__", "__imatmul__") and MATMUL in self.forbidden:
                    self.report(MATMUL, function, cell, node)
            if isinstance(node, ast.Call) and len(node.args) >= 2:
                key = _constant_string(node.args[1])
                if key is not None and "builtins.getattr" in self.dotted(node.func, local):
                    if f".{key}" in self.forbidden:
                        self.report(f".{key}", function, cell, node)
                    if key in ("__matmul__", "__rmatmul__") and MATMUL in self.forbidden:
                        self.report(MATMUL, function, cell, node)
            if isinstance(node, ast.Call):
                self.check_hidden(node, local, function, cell)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for _, dotted in _import_bindings(node):
                    self.check_dotted({dotted}, function, cell, node)
            if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)) and \
                    isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
                self.check_dotted(self.dotted(node, local), function, cell, node)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                if node.id in self.forbidden and node.id in self.bindings:  # a notebook helper ruled out
                    self.report(node.id, function, cell, node)
                self.follow(node.id)

    def follow(self, name: str) -> None:
        """Queue the module-level definitions of ``name`` (helpers, aliases) for scanning."""
        if name in self.seen_names:
            return
        self.seen_names.add(name)
        for binding in self.bindings.get(name, []):
            self.queue.append((name, binding))

    def run(self, function: str) -> list[Use]:
        self.follow(function)
        if not self.bindings.get(function):
            return []
        while self.queue:
            name, binding = self.queue.pop(0)
            if binding.dotted is not None:  # the name itself is an import: `from x import f`
                self.check_dotted({binding.dotted}, name, binding.cell, binding.node)
                if binding.dotted in _MATMUL_NAMES and MATMUL in self.forbidden:
                    self.report(MATMUL, name, binding.cell, binding.node)
                continue
            is_code = isinstance(binding.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            self.scan_code(binding.node, name, binding.cell, value=not is_code and name != function)
        return self.uses


# --------------------------------------------------------------------------
# Matching names, by text and by identity
# --------------------------------------------------------------------------
class _Resolver:
    """Dotted name -> object, importing only the packages the declaration names."""

    _MISSING = object()

    def __init__(self, roots: set[str]) -> None:
        self.roots = roots
        self.cache: dict[str, Any] = {}

    def __call__(self, dotted: str) -> Any:
        if dotted in self.cache:
            return self.cache[dotted]
        result = self._MISSING
        parts = dotted.split(".")
        if parts[0] in self.roots:
            for i in range(len(parts), 0, -1):
                module_name = ".".join(parts[:i])
                with warnings.catch_warnings():  # a deprecated alias module still names its objects
                    warnings.simplefilter("ignore")
                    try:
                        obj: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
                    except Exception:
                        continue
                    try:
                        for attr in parts[i:]:
                            obj = getattr(obj, attr)
                        result = obj
                    except Exception:
                        pass
                break
        self.cache[dotted] = result
        return result

    def same(self, dotted: str, forbidden: str) -> bool:
        a, b = self(dotted), self(forbidden)
        return a is not self._MISSING and b is not self._MISSING and a is b and \
            not isinstance(b, (int, float, str, bool, type(None)))


def _matcher(forbidden: list[str], resolve: bool) -> Callable[[str, str], bool]:
    # Objects are compared only for packages that are cheap to import (or imported already):
    # TensorFlow's names match as text, without starting TensorFlow in the grader.
    roots = {n.split(".")[0] for n in forbidden if n != MATMUL and not n.startswith(".") and "." in n}
    roots = {r for r in roots if r in _CHEAP_ROOTS or r in sys.modules}
    resolver = _Resolver(roots) if resolve else None

    def matches(dotted: str, name: str) -> bool:
        if dotted == name or dotted.startswith(name + "."):
            return True
        if resolver is None or dotted.split(".")[0] not in roots:
            return False
        # a re-export or alias module: compare the objects, and their prefixes
        parts = dotted.split(".")
        return any(resolver.same(".".join(parts[:i]), name) for i in range(len(parts), 1, -1))

    return matches


def find_uses(cells: Sequence[str], function: str, forbidden: Sequence[str], *,
              resolve: bool = True) -> list[Use]:
    """The uses of forbidden names reachable from ``function`` in the notebook ``cells``.

    Parameters
    ----------
    cells : list of str
        The notebook's code cells in the order they run (later definitions win).
    function : str
        The name the exercise's function is bound to in the notebook.
    forbidden : list of str
        Declared names (see the module doc); ``np.``/``tf.`` are spelled out.
    resolve : bool
        Also compare objects (imports the declared names' packages) for names that
        do not match as text.

    Returns
    -------
    list of Use, in the order found; empty when the function makes none of them (or is
    not defined in ``cells``).
    """
    names = [canonical(n) for n in forbidden]
    parsed = _parse(cells)
    bindings = _module_bindings(parsed)
    scan = _Scan(bindings, names, _matcher(names, resolve))
    if not bindings.get(function):
        # Not defined in any cell: either it does not exist (its test fails by itself) or a cell
        # made it from a string, which no reader can follow.
        for number, module in parsed:
            for node in ast.walk(module):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                        node.func.id in ("exec", "eval", "compile") and node.func.id not in bindings:
                    return [Use(HIDDEN_CODE, function, number, node.lineno, ast.unparse(node)[:80])]
        return []
    return scan.run(function)


# --------------------------------------------------------------------------
# What actually runs
# --------------------------------------------------------------------------
class _Recorder:
    """Stands in for a forbidden callable: forwards everything, notes calls from notebook code."""

    def __init__(self, original: Any, name: str, notebook_globals: dict, seen: list[str]) -> None:
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_globals", notebook_globals)
        object.__setattr__(self, "_seen", seen)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        if caller.f_globals is self._globals and self._name not in self._seen:
            self._seen.append(self._name)
        return self._original(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._original, attr)

    def __repr__(self) -> str:
        return repr(self._original)


def record_calls(function: Callable[..., Any], forbidden: Sequence[str], args: Sequence[Any] = (),
                 kwargs: dict[str, Any] | None = None) -> tuple[list[str], BaseException | None]:
    """Call ``function(*args, **kwargs)`` once and report the forbidden callables it called.

    Each forbidden dotted name that names a callable is replaced, for the duration of the
    call, wherever notebook code can pick it up: as an attribute of the modules of the
    declared packages and in the function's global namespace. A call counts when it is made
    from code whose globals are the function's (the notebook's cells); ``"@"`` and method
    names are left to :func:`find_uses`.

    Returns
    -------
    (names, error)
        The forbidden names called, in order, and the exception the call raised (or None).
    """
    names = [canonical(n) for n in forbidden]
    notebook_globals = getattr(function, "__globals__", None)
    if notebook_globals is None:
        return [], None
    # only packages already imported: one the function imports while it runs is the static scan's
    resolver = _Resolver({n.split(".")[0] for n in names if n != MATMUL and not n.startswith(".")
                          and n.split(".")[0] in sys.modules})
    targets = {}
    for name in names:
        if name == MATMUL or name.startswith("."):
            continue
        obj = resolver(name)
        if obj is _Resolver._MISSING and "." not in name:  # a helper defined in the notebook
            obj = notebook_globals.get(name, _Resolver._MISSING)
        if obj is not _Resolver._MISSING and callable(obj) and not isinstance(obj, type(sys)):
            targets[id(obj)] = (obj, name)
    seen: list[str] = []
    patched: list[tuple[Any, str, Any]] = []
    stand_ins = {key: _Recorder(obj, name, notebook_globals, seen) for key, (obj, name) in targets.items()}
    roots = tuple(resolver.roots)
    try:
        for module_name, module in list(sys.modules.items()):
            if module is None or not (module_name in roots or module_name.startswith(tuple(r + "." for r in roots))):
                continue
            try:
                items = list(vars(module).items())
            except TypeError:
                continue
            for attr, value in items:
                if id(value) in stand_ins and value is targets[id(value)][0]:
                    try:
                        setattr(module, attr, stand_ins[id(value)])
                        patched.append((module, attr, value))
                    except Exception:
                        pass
        for attr, value in list(notebook_globals.items()):
            if id(value) in stand_ins and value is targets[id(value)][0]:
                notebook_globals[attr] = stand_ins[id(value)]
                patched.append((notebook_globals, attr, value))
        error: BaseException | None = None
        try:
            function(*args, **(kwargs or {}))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            error = exc
    finally:
        for owner, attr, value in reversed(patched):
            if isinstance(owner, dict):
                owner[attr] = value
            else:
                setattr(owner, attr, value)
    return seen, error


# --------------------------------------------------------------------------
# The check used in test cells
# --------------------------------------------------------------------------
def _notebook_cells(function: Callable[..., Any]) -> list[str]:
    """The code the student ran: IPython's input history, or the function's module source."""
    shell = None
    if "IPython" in sys.modules:
        try:
            shell = sys.modules["IPython"].get_ipython()
        except Exception:
            shell = None
    if shell is not None:
        history = list(shell.user_ns.get("_ih") or shell.user_ns.get("In") or [])
        if history and history[0] == "":
            history = history[1:]  # In[0] is empty: cell n is then In[n]
        return [c if isinstance(c, str) else "" for c in history]
    import inspect

    try:
        return [inspect.getsource(sys.modules[function.__module__])]
    except Exception:
        return []


def _bound_name(function: Any, namespace: dict) -> str:
    """The name ``function`` has in the notebook (its own ``__name__`` when that is one of them)."""
    names = [k for k, v in namespace.items() if v is function and not k.startswith("_")]
    own = getattr(function, "__name__", None)
    if own in names or not names:
        return own if isinstance(own, str) else "your function"
    return names[0]


def scan(function: Any, forbidden: Sequence[str], namespace: dict, args: Sequence[Any] | None,
         kwargs: dict[str, Any] | None) -> list[str]:
    """Every use found for ``check.forbidden``: statically in the cells, and while it runs."""
    names = [canonical(n) for n in forbidden]
    name = _bound_name(function, namespace)
    found = [str(u) for u in find_uses(_notebook_cells(function), name, names)]
    resolver = _Resolver({n.split(".")[0] for n in names if n != MATMUL and not n.startswith(".")
                          and n.split(".")[0] in sys.modules})
    for declared in names:
        if declared != MATMUL and not declared.startswith(".") and resolver(declared) is function:
            found.append(f"{name} is {declared} itself")
    if args is not None and callable(function):
        seen, error = record_calls(function, names, args, kwargs)
        if isinstance(error, NotImplementedError):
            raise error
        found += [f"{name} called {n} while it ran on the test input" for n in seen]
    return found
