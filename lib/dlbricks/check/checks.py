"""The public checks used in test cells: capture the value, judge it, record, raise."""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..gradcheck import numerical_grad
from . import notebook
from .codec import UNRECORDABLE_KEY, Unrecordable, decode_value, encode_value, is_graph_tensor
from .describe import numeric, short
from .hints import NONE_HINT
from .judges import (
    PASS, Verdict, judge_close, judge_equal, judge_forbidden, judge_probabilities, judge_shape,
    judge_threshold, judge_true,
)
from .tolerance import (
    DEFAULT_ATOL, DEFAULT_RTOL, GRADIENT_ATOL, GRADIENT_EPS, GRADIENT_RTOL, tolerances,
)

RECORD_ENV = "DLBRICKS_CHECK_RECORD"


def _capture(value: Any) -> tuple[Any, Any]:
    """Encode a student's value and return (encoded, value as the judges see it).

    The judges see exactly what a rejudge will decode from the record, so the
    in-kernel verdict and the verdict outside the kernel cannot drift apart.
    """
    try:
        encoded = encode_value(value)
    except Exception as exc:  # a student's object may fail in any way
        reason = f"{type(exc).__name__}: {exc}"
        return {UNRECORDABLE_KEY: reason}, Unrecordable(reason)
    return encoded, decode_value(encoded)


def _reference(value: Any, what: str) -> Any:
    """The expected value given by the test author, as the judges see it."""
    try:
        return decode_value(encode_value(value))
    except TypeError as exc:
        raise TypeError(f"the expected {what} cannot be used in a check: {exc}") from exc


def _finish(check: str, label: str, encoded: Any, verdict: Verdict,
            params: dict[str, Any], hint: str | None) -> None:
    """Append the record (when asked to) and raise if the check failed."""
    path = os.environ.get(RECORD_ENV)
    if path:
        record = {"check": check, "label": str(label), "actual": encoded,
                  "passed": bool(verdict.passed), "params": params}
        line = json.dumps(record, allow_nan=False, separators=(",", ":"))
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
    notebook.count(bool(verdict.passed))
    if not verdict.passed:
        raise notebook.mark(AssertionError(failure_message(label, verdict.message, hint)))


def failure_message(label: str, message: str, hint: str | None) -> str:
    """The message of a failed check: what differs, the exercise's own hint, then the others.

    The exercise's hint knows the task, so it comes before the hints read from the values.
    """
    lines = message.split("\n")
    if hint:
        at = next((k for k, line in enumerate(lines) if line.startswith("Hint:")), len(lines))
        lines.insert(at, f"Hint: {hint}")
    return f"{label}: " + "\n".join(lines)


def _finite(value: Any, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"the {what} must be a finite number, got {value!r}")
    return number


def _check_label(label: Any) -> str:
    return label if isinstance(label, str) else str(label)


def close(actual: Any, expected: Any, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
          label: str = "value", hint: str | None = None, n_samples: int | None = None,
          slips: Mapping[str, Any] | None = None) -> None:
    """Assert ``|actual - expected| <= atol + rtol*|expected|`` elementwise.

    Parameters
    ----------
    actual : number, array (any shape), or a dict/list of them
        The student's value. Dicts are compared key by key (e.g. gradients
        ``{"W": (D, M), "b": (M,)}``), lists item by item.
    expected : same structure as ``actual``
        The right answer; shapes must agree exactly (one number may be a
        size-1 array).
    rtol, atol : float
        Relative and absolute tolerance of the module's one convention.
    label : str
        What is checked, e.g. ``"predict_no_hidden(X)"``; starts the message.
    hint : str, optional
        Extra advice appended to the failure message.
    n_samples : int, optional
        How many samples N the expected value averages (or sums) over, e.g. 3 for the
        mean squared error of 3 pairs. Only the hints use it: a single number that is
        exactly N times (or 1/N of) the expected one is then called a sum where a mean
        was wanted (or the reverse), which a lone number could not show by itself.
    slips : dict text -> value, optional
        Known wrong answers of this exercise and what each means, e.g. for a sigmoid's
        backward rule ``{"the derivative uses the input a where it needs the output z":
        g * a * (1 - a)}``. When the student's value matches one (same tolerance rule),
        its text is the hint, in place of the hints guessed from the values. Say what went
        wrong, never the answer.
    """
    params = {"rtol": float(rtol), "atol": float(atol)}
    tolerances(params)
    reference = _reference(expected, "value")
    known = _slips(slips)
    encoded, value = _capture(actual)
    params["expected_shape"] = list(np.shape(reference)) if numeric(reference) is not None else None
    _declare_samples(params, n_samples)
    verdict = judge_close(value, reference, params)
    if not verdict.passed and known:
        verdict = _with_slip(verdict, value, known, params)
    _finish("close", _check_label(label), encoded, verdict, params, hint)


def _slips(slips: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """The test's known wrong answers as (text, value as the judges see it)."""
    if slips is None:
        return []
    if not isinstance(slips, Mapping):
        raise TypeError("slips must be a dict: what the mistake is -> the value it produces")
    known = []
    for text, wrong in slips.items():
        if not isinstance(text, str) or not text.strip():
            raise ValueError("each slip needs a sentence saying what went wrong")
        known.append((text.strip(), _reference(wrong, f"value of the slip {text!r}")))
    return known


def _with_slip(verdict: Verdict, value: Any, known: list[tuple[str, Any]],
               params: Mapping[str, Any]) -> Verdict:
    """The failure with the first matching known slip as its hint (replacing guessed hints)."""
    for text, wrong in known:
        if judge_close(value, wrong, params).passed:
            kept = [line for line in verdict.message.split("\n") if not line.startswith("Hint:")]
            sentence = text[0].upper() + text[1:]
            return Verdict(False, "\n".join(kept + [f"Hint: {sentence.rstrip('.')}."]))
    return verdict


def _declare_samples(params: dict[str, Any], n_samples: int | None) -> None:
    """Put a declared sample count into the record's params (it travels to rejudge's hints)."""
    if n_samples is None:
        return
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples must be a whole number of at least 2, got {n_samples!r}")
    params["n_samples"] = int(n_samples)


def equal(actual: Any, expected: Any, *, label: str = "value", hint: str | None = None) -> None:
    """Assert ``actual == expected`` exactly (numbers, arrays, strings, lists, dicts).

    Numbers compare by value (``3 == 3.0``), arrays need the same shape and
    every entry equal (NaN equals NaN at the same place). Use :func:`close`
    for floats that come out of arithmetic.
    """
    params: dict[str, Any] = {"rtol": 0.0, "atol": 0.0}
    reference = _reference(expected, "value")
    encoded, value = _capture(actual)
    _finish("equal", _check_label(label), encoded, judge_equal(value, reference, params), params, hint)


def shape(actual: Any, expected_shape: tuple[int | None, ...], *, label: str = "array",
          hint: str | None = None) -> None:
    """Assert that the array ``actual`` has ``expected_shape`` (None matches any size).

    Parameters
    ----------
    actual : array-like or anything with ``.shape`` (numpy, TensorFlow, dlbricks Tensor)
        Pass the array itself, not its shape (compare shape tuples with :func:`equal`).
    expected_shape : tuple of int or None
        E.g. ``(N, 10)`` or ``(None, 10)``.
    """
    expected = [None if d is None else int(d) for d in expected_shape]
    if any(d is not None and d < 0 for d in expected):
        raise ValueError(f"expected_shape {tuple(expected_shape)} has a negative size; use None "
                         "for 'any size'")
    params = {"expected_shape": expected}
    try:
        measured = None if actual is None else _shape_of(actual)
        encoded = measured
    except Exception as exc:  # a student's object may fail in any way
        reason = f"its shape could not be read ({type(exc).__name__}: {exc})"
        encoded, measured = {UNRECORDABLE_KEY: reason}, Unrecordable(reason)
    _finish("shape", _check_label(label), encoded, judge_shape(measured, None, params), params, hint)


def _shape_of(value: Any) -> list[int | None]:
    if is_graph_tensor(value):
        value = value.value
    dims = getattr(value, "shape", None)
    if dims is None or isinstance(value, (list, tuple)):
        dims = np.shape(value)
    if hasattr(dims, "as_list"):  # tf.TensorShape
        dims = dims.as_list()
    return [None if d is None else int(d) for d in tuple(dims)]


def probabilities(p: Any, axis: int = -1, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  label: str = "probabilities", hint: str | None = None) -> None:
    """Assert that ``p`` holds probability distributions along ``axis``.

    Every entry lies in [0, 1] and the sums along ``axis`` are 1 within the
    module's tolerance rule (e.g. ``p: (N, K)`` softmax output, ``axis=-1``).
    """
    params = {"axis": int(axis), "rtol": float(rtol), "atol": float(atol)}
    tolerances(params)
    encoded, value = _capture(p)
    _finish("probabilities", _check_label(label), encoded, judge_probabilities(value, None, params),
            params, hint)


def at_least(value: Any, threshold: float, *, label: str = "value", hint: str | None = None) -> None:
    """Assert that the single number ``value`` is >= ``threshold`` (e.g. an accuracy)."""
    params = {"threshold": _finite(threshold, "threshold")}
    encoded, captured = _capture(value)
    _finish("at_least", _check_label(label), encoded, judge_threshold(captured, params, True),
            params, hint)


def at_most(value: Any, threshold: float, *, label: str = "value", hint: str | None = None) -> None:
    """Assert that the single number ``value`` is <= ``threshold`` (e.g. a loss)."""
    params = {"threshold": _finite(threshold, "threshold")}
    encoded, captured = _capture(value)
    _finish("at_most", _check_label(label), encoded, judge_threshold(captured, params, False),
            params, hint)


def is_true(condition: Any, label: str = "condition", hint: str | None = None) -> None:
    """Assert that ``condition`` is true; ``hint`` says what to do when it is not.

    ``condition`` must be one truth value (bool, numpy bool or a size-1
    array); for arrays use ``np.all(...)`` or ``np.any(...)`` yourself.
    """
    truth: Any
    if isinstance(condition, (bool, np.bool_)):
        truth = bool(condition)
    elif isinstance(condition, np.ndarray) and condition.size == 1 and condition.dtype.kind == "b":
        truth = bool(condition.reshape(-1)[0])
    elif condition is None:
        truth = None
    else:
        truth = Unrecordable(
            f"is_true needs one True/False, got {type(condition).__name__}; "
            "wrap arrays in np.all(...) or np.any(...)")
    encoded = {UNRECORDABLE_KEY: truth.reason} if isinstance(truth, Unrecordable) else truth
    _finish("is_true", _check_label(label), encoded, judge_true(truth, None, {}), {}, hint)


def returns_value(value: Any, *, label: str = "your function", hint: str | None = None) -> None:
    """Assert that a function returned something (not None): catches a forgotten ``return``."""
    returned = value is not None
    verdict = PASS if returned else Verdict(False, "it returned None.\n" + NONE_HINT)
    _finish("returns_value", _check_label(label), returned, verdict, {}, hint)


def raises(f: Callable[..., Any], *args: Any, exception: type[BaseException] = ValueError,
           label: str = "error handling", hint: str | None = None, **kwargs: Any) -> None:
    """Assert that ``f(*args, **kwargs)`` raises ``exception`` with a message.

    A bad input should stop with an error that says what is wrong, not return a
    wrong answer. ``NotImplementedError`` is let through untouched, so an
    unsolved exercise fails with its own clear error.
    """
    try:
        result = f(*args, **kwargs)
    except NotImplementedError:
        raise
    except exception as err:
        if str(err).strip():
            _finish("raises", _check_label(label), True, PASS, {}, hint)
            return
        verdict = Verdict(False, f"it raised {type(err).__name__} but with an empty message: "
                                 "say what is wrong, e.g. raise ValueError('shapes (2, 3) and (4, 5) do not fit').")
    except Exception as err:  # noqa: BLE001 - the wrong kind of error is the finding
        verdict = Verdict(False, f"expected {exception.__name__}, but it raised "
                                 f"{type(err).__name__}: {err}")
    else:
        verdict = Verdict(False, f"expected {exception.__name__}, but it returned {short(result)}.")
    _finish("raises", _check_label(label), False, verdict, {}, hint)


def gradient(f: Callable[[np.ndarray], Any], x: Any, grad: Any, *, eps: float = GRADIENT_EPS,
             rtol: float = GRADIENT_RTOL, atol: float = GRADIENT_ATOL,
             label: str = "gradient", hint: str | None = None, n_samples: int | None = None,
             slips: Mapping[str, Any] | None = None) -> None:
    """Assert that an analytic gradient matches a centred difference of ``f``.

    Parameters
    ----------
    f : callable
        ``f(x) -> one number`` (e.g. a loss). Called with float64 copies of
        ``x``; it should compute in float64 so the difference is accurate.
    x : array-like, shape (...)
        The point; 2*x.size evaluations of ``f`` are made.
    grad : array-like, same shape as x
        The student's analytic gradient df/dx at ``x``.
    eps : float
        Step of the centred difference (f(x + eps) - f(x - eps)) / (2 eps).
    rtol, atol : float
        The module's tolerance rule, with the numerical gradient as expected.
    n_samples : int, optional
        How many samples the loss ``f`` averages over (for the hints, as in :func:`close`).
    slips : dict text -> value, optional
        Known wrong gradients and what each means, as in :func:`close`, e.g. for an input
        used twice ``{"only the direct path is counted": g * s}``: a gradient that
        matches one gets its text as the hint. Say what went wrong, never the answer.
    """
    params = {"rtol": float(rtol), "atol": float(atol), "eps": float(eps)}
    tolerances(params)
    _declare_samples(params, n_samples)
    known = _slips(slips)
    encoded, value = _capture(grad)
    point = np.array(_reference(x, "point x"), dtype=np.float64)
    try:
        numerical = numerical_grad(lambda v: _scalar(f(v.copy())), point, float(eps))
    except Exception as exc:
        verdict = Verdict(False, f"calling f(x) failed ({type(exc).__name__}: {exc}).")
        try:
            _finish("gradient", _check_label(label), encoded, verdict, params, hint)
        except AssertionError as failure:
            raise failure from exc
    verdict = judge_close(value, numerical, params)
    if not verdict.passed and known:
        verdict = _with_slip(verdict, value, known, params)
    _finish("gradient", _check_label(label), encoded, verdict, params, hint)


def _scalar(value: Any) -> float:
    plain = decode_value(encode_value(value))
    arr = numeric(plain)
    if arr is None or arr.size != 1:
        raise TypeError(f"f(x) must return one number (e.g. the loss), got {short(plain)}")
    return float(arr.reshape(-1)[0])


def forbidden(function: Any, *names: str, args: tuple | list | None = None,
              kwargs: dict[str, Any] | None = None, label: str | None = None,
              hint: str | None = None) -> None:
    """Assert that the student's ``function`` does not use what the exercise rules out.

    Put it first in an exercise's test cell; the exercise's text names the same calls::

        check.forbidden(sigmoid, "dlbricks.losses", "scipy.special.expit", "tf.sigmoid",
                        args=(np.array([-2.0, 0.0, 3.0]),))

    Parameters
    ----------
    function : callable or class
        The student's function (or an ``Op`` class whose methods they complete).
    *names : str
        What it must not use: a dotted module attribute (``"numpy.sum"``, ``"np.sum"``,
        ``"dlbricks.losses"`` for a whole module), ``"@"`` for the matrix-product operator,
        ``".sum"`` for a method of that name, or a bare name of a notebook helper.
    args, kwargs : optional
        Inputs for one call of ``function`` while the forbidden callables are replaced by
        recording stand-ins (what actually runs); without ``args`` only the source is read.
    label : str, optional
        What is checked; defaults to "<name> writes it itself".

    The source read is every cell the student ran (IPython's input history), from the
    function through the helpers and aliases it uses; see :mod:`dlbricks.check.calls`. The
    grader repeats that reading outside the kernel (``autograder.steps.forbidden``). An
    unsolved exercise (``NotImplementedError``) fails with its own error, not with this check.
    """
    from . import calls

    if not names:
        raise ValueError("forbidden needs at least one name to rule out, e.g. "
                         "check.forbidden(sigmoid, 'dlbricks.losses.sigmoid')")
    for name in names:
        calls.canonical(name)  # a bad declaration fails here, with its own message
    namespace = sys._getframe(1).f_globals
    bound = calls._bound_name(function, namespace)
    found = calls.scan(function, names, namespace, args, kwargs)
    encoded, value = _capture(list(dict.fromkeys(found)))
    params = {"names": [calls.canonical(n) for n in names]}
    _finish("forbidden", _check_label(label if label is not None else f"{bound} writes it itself"),
            encoded, judge_forbidden(value, None, params), params, hint)
