"""The checks in a notebook: short failures, and a word when a cell's checks all passed.

Imported with ``dlbricks.check`` inside IPython (JupyterLab, Colab, nbclient), it

- shows a failed check as the test cell's line and the message, without the library's
  own frames above the message (other errors keep their full traceback);
- adds a hint to a shape or None error raised inside a function the student wrote
  (a transposed weight matrix in ``X @ W1``, a function that returned None);
- ends a cell whose checks all passed with one line, e.g. "✔ 3 checks passed.", and the
  note given by :func:`also_at_grading` when the exercise has hidden tests.

Outside IPython (a plain script, the grader's judge) it does nothing. The state lives on
the shell, so a re-imported ``dlbricks.check`` keeps counting in the same place.
"""
from __future__ import annotations

import re
import sys
from typing import Any

_MARK = "_dlbricks_check_failure"      # set on the AssertionError a check raises
_STATE = "_dlbricks_check_state"       # on the shell: counts of the running cell
_PACKAGE = __name__.rpartition(".")[0]  # "dlbricks.check"
_HANDLED = (AssertionError, ValueError, TypeError)  # errors shown by _show_failure


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython must never break a check
        return None


def _state(shell: Any) -> dict:
    state = getattr(shell, _STATE, None)
    if state is None:
        state = {"passed": 0, "failed": 0, "note": None, "installed": False}
        setattr(shell, _STATE, state)
    return state


def count(passed: bool) -> None:
    """Count one check of the running cell (called by every check)."""
    shell = _shell()
    if shell is not None:
        _state(shell)["passed" if passed else "failed"] += 1


def mark(error: AssertionError) -> AssertionError:
    """Mark a check's failure so that the notebook shows it without library frames."""
    setattr(error, _MARK, True)
    return error


def also_at_grading(text: str) -> None:
    """Say what only the grading tests check; the cell's success line ends with it.

    Use it in a visible test cell whose exercise has hidden tests, e.g.
    ``check.also_at_grading("other shapes, and large |z| without overflow")``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("also_at_grading needs a short sentence, e.g. 'other shapes and inputs'")
    shell = _shell()
    if shell is not None:
        _state(shell)["note"] = text.strip().rstrip(".")


def success_line(passed: int, note: str | None) -> str:
    """The line a cell whose checks all passed ends with."""
    line = f"\u2714 {passed} check{'s' if passed != 1 else ''} passed."
    if note:
        line += f" At grading, hidden tests also check: {note}."
    return line


def _pre_run_cell(*_args: Any) -> None:
    shell = _shell()
    if shell is not None:
        state = _state(shell)
        state["passed"] = state["failed"] = 0
        state["note"] = None


def _post_run_cell(result: Any = None) -> None:
    shell = _shell()
    if shell is None:
        return
    state = _state(shell)
    ok = result is None or (result.error_before_exec is None and result.error_in_exec is None)
    if ok and state["passed"] and not state["failed"]:
        print(success_line(state["passed"], state["note"]))
    state["passed"] = state["failed"] = 0
    state["note"] = None


def _without_library_frames(tb: Any) -> Any:
    """The traceback cut before the first frame of ``dlbricks.check`` (the cell's line stays)."""
    first, previous = tb, None
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module == _PACKAGE or module.startswith(_PACKAGE + "."):
            if previous is None:
                return first  # nothing of the student's above: keep everything
            previous.tb_next = None
            return first
        previous, tb = tb, tb.tb_next
    return first


_SHAPE_ERRORS = (
    re.compile(r"matmul: Input operand \d has a mismatch in its core dimension"),
    re.compile(r"shapes \(.*\) and \(.*\) not aligned"),
    re.compile(r"operands could not be broadcast together with shapes"),
)


def _student_frame(tb: Any) -> Any:
    """The innermost frame of a function defined in the notebook (not the cell itself), or None."""
    found = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__") == "__main__" and frame.f_code.co_name != "<module>":
            found = tb
        tb = tb.tb_next
    return found


def error_hint(value: BaseException, tb: Any) -> str | None:
    """A hint for a shape or None error raised inside a function the student wrote."""
    where = _student_frame(tb)
    if where is None:
        return None
    name = where.tb_frame.f_code.co_name
    line = where.tb_lineno
    text = str(value)
    if isinstance(value, ValueError) and any(p.search(text) for p in _SHAPE_ERRORS):
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in where.tb_frame.f_locals.items()
                           if hasattr(v, "shape") and hasattr(v, "ndim") and not k.startswith("_"))[:300]
        return (f"Hint: in your function {name} (line {line}) two arrays do not fit together. "
                "In A @ B the last axis of A must match the first axis of B; a weight matrix W "
                "has shape (inputs, units). Is one operand transposed or in the wrong order?"
                + (f" The arrays there: {shapes}." if shapes else ""))
    if isinstance(value, TypeError) and "NoneType" in text:
        return (f"Hint: in your function {name} (line {line}) a value is None: a function "
                "without a `return` statement returns None. Does every function it uses end "
                "with `return <result>`?")
    return None


def _show_failure(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    if getattr(value, _MARK, False):
        tb = _without_library_frames(tb)
    else:
        try:
            hint = error_hint(value, tb)
        except Exception:  # noqa: BLE001 - a hint must never hide the error itself
            hint = None
        if hint and hint not in getattr(value, "__notes__", ()):
            value.add_note(hint)
        if getattr(value, _MARK, None) is None:
            counted = _shell()
            if counted is not None:
                _state(counted)["failed"] += 1
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    return None


def install() -> None:
    """Register the hooks with the running IPython shell, once (called on import)."""
    shell = _shell()
    if shell is None or not hasattr(shell, "events"):
        return
    state = _state(shell)
    if state["installed"]:
        return
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    if not getattr(shell, "custom_exceptions", ()):  # never replace someone else's handler
        shell.set_custom_exc(_HANDLED, _show_failure)
    state["installed"] = True


def uninstall() -> None:
    """Remove the hooks (of any loaded version of this module) from the running shell."""
    shell = _shell()
    if shell is None or not hasattr(shell, "events"):
        return
    for event in ("pre_run_cell", "post_run_cell"):
        for callback in list(shell.events.callbacks.get(event, [])):
            if getattr(callback, "__module__", None) == __name__:
                shell.events.unregister(event, callback)
    if tuple(getattr(shell, "custom_exceptions", ())) == _HANDLED:
        shell.set_custom_exc((), None)
    if hasattr(shell, _STATE):
        delattr(shell, _STATE)
