"""The checks in a notebook: short failures, and a word when a cell's checks all passed.

Imported with ``dlbricks.check`` inside IPython (JupyterLab, Colab, nbclient), it

- shows a failed check as the test cell's line and the message, without the library's
  own frames above the message (other errors keep their full traceback);
- adds a hint to a shape or None error raised inside a function the student wrote
  (a transposed weight matrix in ``X @ W1``, a function that returned None);
- ends a cell whose checks all passed with one line, e.g. "✔ 3 checks passed.", and the
  note given by :func:`also_at_grading` when the exercise has hidden tests. The line counts
  the visible checks only: a check written between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` (the instructor's notebook, a grading run) is not counted, and a
  cell that ran hidden checks alone prints no line, since the student never sees them.

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
_BEGIN_HIDDEN, _END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # nbgrader's markers


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
        state = {"passed": 0, "failed": 0, "note": None, "hidden_lines": frozenset(), "installed": False}
        setattr(shell, _STATE, state)
    return state


def hidden_lines(cell: str) -> frozenset[int]:
    """The line numbers (from 1) of ``cell`` inside its hidden-test blocks, markers included."""
    lines, inside = set(), False
    for number, line in enumerate(cell.splitlines(), start=1):
        marker = line.strip().lstrip("#").strip()
        if marker == _BEGIN_HIDDEN:
            inside = True
        if inside:
            lines.add(number)
        if marker == _END_HIDDEN:
            inside = False
    return frozenset(lines)


def _cell_line(shell: Any) -> int | None:
    """The line of the running cell that called the check (the cell's own frame), or None."""
    namespace = getattr(shell, "user_global_ns", None)
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is namespace:
            return frame.f_lineno
        frame = frame.f_back
    return None


def count(passed: bool) -> None:
    """Count one check of the running cell (called by every check); hidden checks count apart."""
    shell = _shell()
    if shell is None:
        return
    state = _state(shell)
    if not passed:
        state["failed"] += 1
    elif state["hidden_lines"] and _cell_line(shell) in state["hidden_lines"]:
        state["hidden"] = state.get("hidden", 0) + 1
    else:
        state["passed"] += 1


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


def _pre_run_cell(info: Any = None, *_args: Any) -> None:
    shell = _shell()
    if shell is not None:
        state = _state(shell)
        state["passed"] = state["failed"] = state["hidden"] = 0
        state["note"] = None
        raw = getattr(info, "raw_cell", None)
        state["hidden_lines"] = hidden_lines(raw) if isinstance(raw, str) else frozenset()


def _post_run_cell(result: Any = None) -> None:
    shell = _shell()
    if shell is None:
        return
    state = _state(shell)
    ok = result is None or (result.error_before_exec is None and result.error_in_exec is None)
    if ok and state["passed"] and not state["failed"]:
        print(success_line(state["passed"], state["note"]))
    state["passed"] = state["failed"] = state["hidden"] = 0
    state["note"] = None
    state["hidden_lines"] = frozenset()


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
