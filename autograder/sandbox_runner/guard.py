"""A tampering detector in the student's kernel: which parts of dlbricks.check were replaced.

It decides nothing: grades come from the judge process (or, for a test judged
in the student's kernel, from the exported records). A replaced check is
reported to the instructor as the ``tampering`` flag.
"""
from __future__ import annotations

import ast
import json

from .kernel import StudentKernel

# Sent to the kernel (silently, without history) before and after every test segment:
# reports which parts of dlbricks.check were replaced from outside the library (a
# monkeypatched check function, a rebound `check` name, a swapped module) and
# puts the real ones back. Its answer comes back in the execute reply.
CHECK_GUARD = r"""
def __autograder_guard():
    import importlib, json, sys, types
    module = sys.modules.get("dlbricks.check")
    if module is None:
        return json.dumps([])
    # dlbricks.check is a package: its submodules (checks, judges, codec, ...) are looked at too.
    parts = [(name, mod) for name, mod in list(sys.modules.items())
             if name.startswith("dlbricks.check.") and isinstance(mod, types.ModuleType)]
    changed = []
    for prefix, scanned in [("", module)] + [(name[len("dlbricks.check."):] + ".", mod) for name, mod in parts]:
        for name, value in list(vars(scanned).items()):
            if name.startswith("__"):
                continue
            owner = getattr(value, "__module__", None)
            if isinstance(value, types.ModuleType):
                if sys.modules.get(value.__name__) is not value:
                    changed.append(prefix + name)
            elif isinstance(value, (types.FunctionType, type)):
                home = sys.modules.get(owner or "")
                if owner is None or owner.startswith(("__main__", "<")) or home is None:
                    changed.append(prefix + name)
                elif isinstance(value, types.FunctionType) and value.__code__.co_filename != getattr(home, "__file__", None):
                    changed.append(prefix + name)
            elif callable(value) and not name.startswith("_"):
                changed.append(prefix + name)  # a partial object or a callable instance where a check was
    package = sys.modules.get("dlbricks")
    if package is not None and package.__dict__.get("check", module) is not module:
        changed.append("dlbricks.check")
        package.check = module
    namespace = get_ipython().user_ns
    if "check" in namespace and namespace["check"] is not module and hasattr(namespace["check"], "close"):
        changed.append("check")
        namespace["check"] = module
    if changed:
        # Import the package afresh (every submodule from its file), then put the fresh
        # names into the module objects the student's namespace may still hold.
        for name, _ in parts:
            sys.modules.pop(name, None)
        sys.modules.pop("dlbricks.check", None)
        fresh = importlib.import_module("dlbricks.check")
        # Names the student added (e.g. a fake _allclose) go, the library's own come back.
        for name, old in parts + [("dlbricks.check", module)]:
            new = fresh if old is module else sys.modules.get(name)
            if new is not None and new is not old:
                for key in [k for k in vars(old) if k not in vars(new)]:
                    delattr(old, key)
                old.__dict__.update(new.__dict__)
        sys.modules["dlbricks.check"] = module
        if package is not None:
            package.check = module
    return json.dumps(changed)
__autograder_guard_result = __autograder_guard()
"""


def guard_checks(kernel: StudentKernel, timeout: float = 30.0) -> list[str] | None:
    """Run CHECK_GUARD; the names found replaced, or None when the guard itself failed.

    A failed guard (the kernel rewrote or refused it) counts as tampering.
    """
    result = kernel.execute(CHECK_GUARD, store_history=False, outputs=None, timeout=timeout, silent=True,
                            user_expressions={"guard": "__autograder_guard_result"})
    try:
        text = result["user_expressions"]["guard"]["data"]["text/plain"]
        names = json.loads(ast.literal_eval(text))
        return [str(n)[:100] for n in names][:50] if isinstance(names, list) else None
    except (KeyError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError):
        return None
