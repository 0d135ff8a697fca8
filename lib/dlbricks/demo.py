"""Demonstration cells that run the student's functions before they are all written."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["demo_uses"]

class _DemoGuard:
    """The context manager returned by :func:`demo_uses`."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.missing: str | None = None  # the unwritten function, once one stopped the demo

    def __enter__(self) -> _DemoGuard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> bool:
        if exc_type is None or not issubclass(exc_type, NotImplementedError):
            return False
        missing = _unwritten_function(tb, self.names)
        if missing is None:
            return False  # raised by library code, not by an exercise: show the real error
        self.missing = missing
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close("all")  # no half-drawn figure below the note
        print(_demo_note(self.names, missing))
        return True


def demo_uses(*names: str | Callable[..., Any]) -> _DemoGuard:
    """Run a demo cell that uses the student's functions; until they are written, say so.

    Use it around the code of a demonstration cell (not a test cell) that calls functions
    the student writes in exercises::

        with check.demo_uses("predict_hidden", "accuracy"):
            print("accuracy:", accuracy(predict_hidden(X, W1, b1, w2, b2), y))

    When the code raises ``NotImplementedError`` from an unwritten exercise (a function
    named here, a method of a class named here such as ``"Mul.backward"``, or any other
    function defined in the notebook), the cell prints one line, e.g. "This cell uses your
    predict_hidden and accuracy, and accuracy is not written yet: solve its exercise first,
    then run this cell again.", closes half-drawn matplotlib figures and ends without a
    traceback. Any other error, and a ``NotImplementedError`` raised inside a library, goes
    through unchanged. It checks nothing, so it writes no grading record.

    Parameters
    ----------
    *names : str or callable
        The student's functions the demo uses, as names (``"mse"``, ``"Mul.backward"``) or
        the objects themselves; they appear in the note in this order.

    Returns
    -------
    context manager
        Its ``missing`` attribute is None, or the name of the unwritten function that
        stopped the demo.
    """
    if not names:
        raise ValueError("demo_uses needs the names of the functions the demo uses, "
                         "e.g. check.demo_uses('mse')")
    labels = []
    for name in names:
        label = name if isinstance(name, str) else getattr(name, "__qualname__", None)
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"demo_uses takes function names or functions, got {name!r}")
        labels.append(label.strip())
    return _DemoGuard(tuple(labels))


def _unwritten_function(tb: Any, names: tuple[str, ...]) -> str | None:
    """The qualified name of the exercise function that raised, or None for library code."""
    if tb is None:
        return None
    while tb.tb_next is not None:  # the innermost frame is where the error was raised
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    qualname = getattr(code, "co_qualname", code.co_name)
    if any(qualname == n or qualname.startswith(n + ".") for n in names):
        return qualname
    if tb.tb_frame.f_globals.get("__name__") == "__main__":  # defined in the notebook itself
        return qualname
    return None


def _demo_note(names: tuple[str, ...], missing: str) -> str:
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    if names == (missing,):
        return (f"This cell uses your {missing}, which is not written yet: solve its exercise "
                "first, then run this cell again.")
    return (f"This cell uses your {what}, and {missing} is not written yet: solve its exercise "
            "first, then run this cell again.")
