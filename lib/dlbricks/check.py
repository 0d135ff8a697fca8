"""Assertions for exercise test cells, with messages a student can act on.

Every check raises ``AssertionError`` when it fails. The message says what was
checked (the ``label``), the expected and actual shape and a few values, the
largest error, and a hint when the mistake looks familiar: a transposed
result, a missing bias, a sum where a mean was wanted, a flipped sign, a
factor of 2, probabilities that do not sum to 1, NaN or inf (which kind, where,
and what that pattern points to), integer division, a wrong dtype, or a
function that returned ``None``. Checks print nothing: the message travels in
the exception only. (``demo_uses``, for demonstration cells rather than tests,
prints one note when an exercise it needs is not written yet.)

When hints speak
----------------
A hint names a cause only when the values are evidence for it, since a wrong
hint sends a student after the wrong bug. In particular, one number is always
some multiple c of another, so for a single number (or an array whose nonzero
entries are all equal) the multiple alone proves nothing: "sum where a mean
was wanted", "factor of 2" and "opposite sign" are said only when

- the result is that multiple of the expected one over two or more different
  values (an array), or
- the expected number is not a simple one (a fraction p/q with q <= 1000 or a
  number with at most 4 significant digits, as hand-picked inputs give, and
  every integer), so an exact ratio of -1, 2 or N cannot be a coincidence, or
- the test declared the sample count, ``close(..., n_samples=N)``, and the
  ratio is exactly N (a sum where a mean was wanted) or 1/N (the reverse).

Otherwise the message shows the expected and the actual value and no hint.

Tolerance convention (the only one in the kit)
----------------------------------------------
An actual number ``a`` matches an expected number ``e`` when ::

    |a - e| <= atol + rtol * |e|        defaults: rtol = 1e-5, atol = 1e-8

elementwise (the expected value is the reference, as in ``numpy.isclose``).
Shapes must agree exactly, except that one number may be given as any array
holding a single element. NaN matches only a NaN at the same place; +inf
matches only +inf. ``equal`` is the same rule with ``rtol = atol = 0``.
``gradient`` uses the same rule with looser defaults (rtol = 1e-4,
atol = 1e-6) because a centred difference is itself approximate.

The grading record
------------------
The autograder does not trust the student's kernel, so each check also
exports what it compared. When the environment variable
``DLBRICKS_CHECK_RECORD`` names a file, every call appends one JSON line to
it, before returning or raising::

    {"check": "close", "label": "...", "actual": <encode_value(actual)>,
     "passed": true, "params": {"rtol": 1e-05, "atol": 1e-08, ...}}

``encode_value`` turns values into plain JSON (arrays become
``{"__ndarray__": true, "dtype", "shape", "data"}``, NaN/inf become the
strings "nan", "inf", "-inf"; no pickle), ``decode_value`` inverts it, and
``rejudge(student_record, reference_record)`` re-decides a student's record
against the record that the instructor's solution produced for the same
check, with the very judge functions that the checks use in the kernel.
It reads only the student's ``actual``: never their ``passed`` or ``params``.
"""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .gradcheck import numerical_grad

__all__ = [
    "close", "equal", "shape", "probabilities", "at_least", "at_most", "is_true", "raises",
    "returns_value", "gradient", "demo_uses", "encode_value", "decode_value", "rejudge",
    "rejudge_details", "TooLarge", "Unrecordable", "DEFAULT_RTOL", "DEFAULT_ATOL",
    "RECORD_ENV", "MAX_RECORD_ELEMENTS",
]

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-8
GRADIENT_RTOL = 1e-4
GRADIENT_ATOL = 1e-6
GRADIENT_EPS = 1e-6
RECORD_ENV = "DLBRICKS_CHECK_RECORD"
# A record holds at most this many numbers; bigger values are summarised and fail.
MAX_RECORD_ELEMENTS = 2_000_000

_ARRAY_KEY = "__ndarray__"
_TOO_LARGE_KEY = "__too_large__"
_UNRECORDABLE_KEY = "__unrecordable__"
_RESERVED_KEYS = frozenset({_ARRAY_KEY, _TOO_LARGE_KEY, _UNRECORDABLE_KEY})
_MAX_DEPTH = 64
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_DTYPE_NAMES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
     "uint64", "float16", "float32", "float64", "str"}
)


# --------------------------------------------------------------------------
# Encoding values as plain JSON
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TooLarge:
    """Stands for a value with more than ``MAX_RECORD_ELEMENTS`` numbers.

    Only its shape, dtype and a summary were recorded, so it can never pass.
    """

    elements: int
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        where = f"shape {self.shape}, dtype {self.dtype}" if self.shape is not None else "a list"
        return (f"a value with {self.elements:,} entries ({where}) is too large to record "
                f"(the limit is {MAX_RECORD_ELEMENTS:,} numbers); a check should compare a "
                "smaller slice or a summary statistic such as the mean")


@dataclass(frozen=True)
class Unrecordable:
    """Stands for a value that could not be turned into plain data."""

    reason: str

    def describe(self) -> str:
        return f"the value could not be recorded: {self.reason}"


class _Budget:
    """How many numbers a single record may still take."""

    def __init__(self, limit: int) -> None:
        self.left = limit


def encode_value(value: Any, *, max_elements: int | None = None) -> Any:
    """Turn ``value`` into plain JSON data (no pickle).

    Parameters
    ----------
    value : Any
        None, bool, int, float, str, numpy scalars and arrays (bool, int,
        float, str), lists/tuples/dicts of those, TensorFlow tensors or any
        object with ``.numpy()``, and ``dlbricks.graph.Tensor`` (its ``.value``).
    max_elements : int, optional
        Arrays or lists beyond this many numbers (counted over the whole
        value) are replaced by a summary marked ``"__too_large__"``;
        default ``MAX_RECORD_ELEMENTS``.

    Returns
    -------
    Any
        JSON-compatible data; arrays as ``{"__ndarray__": true, "dtype",
        "shape", "data"}`` with NaN/inf as the strings "nan", "inf", "-inf".

    Raises
    ------
    TypeError
        For complex numbers, bytes, dates and objects that are not data.
    """
    limit = MAX_RECORD_ELEMENTS if max_elements is None else int(max_elements)
    return _encode(value, _Budget(limit), 0)


def _encode(value: Any, budget: _Budget, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise TypeError(f"the value is nested more than {_MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, str)):
        budget.left -= 1
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(np.asarray(value), budget, depth)
    if isinstance(value, int):
        budget.left -= 1
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            budget.left -= 1
            return value
        return _encode_array(np.asarray(value, dtype=np.float64), budget, depth)
    if isinstance(value, complex):
        raise TypeError(_COMPLEX_MESSAGE)
    if isinstance(value, (bytes, bytearray)):
        raise TypeError("bytes cannot be checked: decode them to a str first")
    if _is_graph_tensor(value):
        return _encode(value.value, budget, depth + 1)
    numpy_method = getattr(value, "numpy", None)
    if callable(numpy_method) and not isinstance(value, type):
        converted = numpy_method()  # TensorFlow tensors/variables, eager values
        if converted is value:
            raise TypeError(f"{type(value).__name__}.numpy() returned the object itself")
        return _encode(converted, budget, depth + 1)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = key if isinstance(key, str) else str(key)
            if name in _RESERVED_KEYS:
                raise TypeError(f"a dict key may not be {name!r} (reserved by the record format)")
            out[name] = _encode(item, budget, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset, range)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            items = _sorted_or_fail(items)
        if len(items) > budget.left:
            return _too_large_list(items)
        return [_encode(item, budget, depth + 1) for item in items]
    if hasattr(value, "__array__"):
        return _encode_array(np.asarray(value), budget, depth)
    if _is_plain_number(value):
        return _encode(float(value), budget, depth + 1)
    raise TypeError(
        f"a value of type {type(value).__name__} cannot be checked: return a number, "
        "a numpy array, a list, a dict or a string"
    )


_COMPLEX_MESSAGE = (
    "complex numbers cannot be checked: the exercise expects real numbers "
    "(take .real or np.abs if the imaginary part is meant to be zero)"
)


def _is_graph_tensor(value: Any) -> bool:
    cls = type(value)
    return cls.__module__ == "dlbricks.graph" and hasattr(value, "value") and hasattr(value, "op")


def _is_plain_number(value: Any) -> bool:
    # fractions.Fraction, decimal.Decimal and similar: anything float() understands exactly enough.
    import numbers

    return isinstance(value, numbers.Real)


def _sorted_or_fail(items: list) -> list:
    try:
        return sorted(items)
    except TypeError as exc:
        raise TypeError("a set whose elements cannot be sorted cannot be recorded") from exc


def _too_large_list(items: list) -> dict:
    return {_TOO_LARGE_KEY: {"elements": len(items), "shape": None, "dtype": None, "summary": {}}}


def _encode_array(arr: np.ndarray, budget: _Budget, depth: int) -> Any:
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(_COMPLEX_MESSAGE)
    if kind == "O":
        return _encode(arr.tolist(), budget, depth + 1)
    if kind not in "biufU":
        raise TypeError(f"arrays of dtype {arr.dtype} cannot be checked: use numbers or strings")
    if arr.size > budget.left:
        return {_TOO_LARGE_KEY: {"elements": int(arr.size), "shape": list(arr.shape),
                                 "dtype": _dtype_name(arr.dtype), "summary": _summary(arr)}}
    budget.left -= arr.size
    if kind == "f":
        flat = arr.astype(np.float64).ravel()
        data = flat.tolist()
        if not np.isfinite(flat).all():
            data = [x if math.isfinite(x) else _nonfinite_name(x) for x in data]
    else:
        data = arr.ravel().tolist()
    return {_ARRAY_KEY: True, "dtype": _dtype_name(arr.dtype), "shape": list(arr.shape), "data": data}


def _dtype_name(dtype: np.dtype) -> str:
    return "str" if dtype.kind == "U" else dtype.name


def _nonfinite_name(x: float) -> str:
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


def _summary(arr: np.ndarray) -> dict[str, Any]:
    """min/max/mean of an oversized array, computed without copying it."""
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        return {}
    with np.errstate(all="ignore"):
        stats: dict[str, Any] = {"min": float(np.min(arr)), "max": float(np.max(arr)),
                                 "mean": float(np.mean(arr))}
        if arr.dtype.kind == "f":
            stats["nan_count"] = int(np.count_nonzero(np.isnan(arr)))
    return {k: (_nonfinite_name(v) if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in stats.items()}


def decode_value(data: Any) -> Any:
    """Invert :func:`encode_value`.

    Arrays come back as ``np.ndarray`` of the recorded dtype, lists as lists
    (tuples were recorded as lists), dicts as dicts, oversized values as
    :class:`TooLarge` and unrecordable ones as :class:`Unrecordable`.

    Raises
    ------
    ValueError
        When ``data`` is not something :func:`encode_value` could have written.
    """
    return _decode(data, 0)


def _decode(data: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError("the record is nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [_decode(item, depth + 1) for item in data]
    if isinstance(data, dict):
        if _ARRAY_KEY in data:
            return _decode_array(data)
        if _TOO_LARGE_KEY in data:
            info = data[_TOO_LARGE_KEY]
            if not isinstance(info, dict):
                raise ValueError("a garbled too-large marker")
            shape = info.get("shape")
            return TooLarge(elements=int(info.get("elements", 0)),
                            shape=tuple(shape) if isinstance(shape, list) else None,
                            dtype=info.get("dtype") if isinstance(info.get("dtype"), str) else None,
                            summary=dict(info.get("summary") or {}))
        if _UNRECORDABLE_KEY in data:
            return Unrecordable(str(data[_UNRECORDABLE_KEY]))
        return {str(k): _decode(v, depth + 1) for k, v in data.items()}
    raise ValueError(f"unexpected {type(data).__name__} in a record")


def _decode_array(data: dict) -> np.ndarray:
    if data.get(_ARRAY_KEY) is not True:
        raise ValueError("a garbled array marker")
    dtype_name, shape, flat = data.get("dtype"), data.get("shape"), data.get("data")
    if dtype_name not in _DTYPE_NAMES:
        raise ValueError(f"unsupported dtype {dtype_name!r} in a record")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError("a garbled array shape in a record")
    if not isinstance(flat, list) or len(flat) != math.prod(shape):
        raise ValueError("the array data does not match its shape")
    if dtype_name == "str":
        if not all(isinstance(x, str) for x in flat):
            raise ValueError("a str array holds something else")
        return np.array(flat, dtype=str).reshape(shape)
    dtype = np.dtype(dtype_name)
    if dtype.kind == "f":
        values = []
        for x in flat:
            if isinstance(x, str):
                if x not in _NONFINITE:
                    raise ValueError(f"unexpected string {x!r} in a float array")
                values.append(_NONFINITE[x])
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                values.append(x)
            else:
                raise ValueError("a float array holds something else")
        return np.array(values, dtype=np.float64).astype(dtype).reshape(shape)
    if dtype.kind == "b":
        if not all(isinstance(x, bool) for x in flat):
            raise ValueError("a bool array holds something else")
        return np.array(flat, dtype=bool).reshape(shape)
    if not all(type(x) is int for x in flat):
        raise ValueError("an integer array holds something else")
    try:
        return np.array(flat, dtype=dtype).reshape(shape)
    except OverflowError as exc:
        raise ValueError(f"integers out of range for {dtype_name}") from exc


def _capture(value: Any) -> tuple[Any, Any]:
    """Encode a student's value and return (encoded, value as the judges see it).

    The judges see exactly what a rejudge will decode from the record, so the
    in-kernel verdict and the verdict outside the kernel cannot drift apart.
    """
    try:
        encoded = encode_value(value)
    except Exception as exc:  # a student's object may fail in any way
        reason = f"{type(exc).__name__}: {exc}"
        return {_UNRECORDABLE_KEY: reason}, Unrecordable(reason)
    return encoded, decode_value(encoded)


def _reference(value: Any, what: str) -> Any:
    """The expected value given by the test author, as the judges see it."""
    try:
        return decode_value(encode_value(value))
    except TypeError as exc:
        raise TypeError(f"the expected {what} cannot be used in a check: {exc}") from exc


# --------------------------------------------------------------------------
# Judges: one function per check, shared by the kernel and by rejudge
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The outcome of one judge: ``passed`` and, when not, why (without label)."""

    passed: bool
    message: str = ""


_PASS = Verdict(True)


def _numeric(value: Any) -> np.ndarray | None:
    """The value as a numeric array (bool/int/float), or None when it is not numbers."""
    if isinstance(value, (TooLarge, Unrecordable)) or value is None or isinstance(value, (str, dict)):
        return None
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind in "biuf" else None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return arr if arr.dtype.kind in "biuf" else None


def _special_failure(actual: Any) -> Verdict | None:
    """Values that fail every check: missing, oversized or unrecordable."""
    if isinstance(actual, (TooLarge, Unrecordable)):
        return Verdict(False, actual.describe() + ".")
    return None


_NONE_HINT = (
    "Hint: the value is None. A function without a `return` statement returns None: "
    "check that your function ends with `return <result>` (and that no early `return` "
    "or a `print` took its place)."
)


def _judge_close(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """|actual - expected| <= atol + rtol*|expected| elementwise; recursive over dicts/lists."""
    rtol, atol = _tolerances(params)
    return _close_tree(actual, expected, rtol, atol, path="", n_samples=_n_samples(params))


def _n_samples(params: Mapping[str, Any]) -> int | None:
    """The sample count a test declared (params["n_samples"]), or None; it only shapes hints."""
    n = params.get("n_samples")
    return n if type(n) is int and n >= 2 else None


def _judge_equal(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """Exact equality: the tolerance rule with rtol = atol = 0."""
    return _close_tree(actual, expected, 0.0, 0.0, path="")


def _tolerances(params: Mapping[str, Any]) -> tuple[float, float]:
    rtol, atol = float(params["rtol"]), float(params["atol"])
    if not (0 <= rtol < math.inf and 0 <= atol < math.inf):  # also rejects NaN
        raise ValueError("tolerances must be finite non-negative numbers")
    return rtol, atol


def _close_tree(actual: Any, expected: Any, rtol: float, atol: float, path: str,
                n_samples: int | None = None) -> Verdict:
    special = _special_failure(actual)
    if special:
        return _at(path, special)
    if isinstance(expected, (TooLarge, Unrecordable)):
        return _at(path, Verdict(False, "the reference value was not recorded: "
                                 + expected.describe() + "."))
    if expected is None:
        if actual is None:
            return _PASS
        return _at(path, Verdict(False, f"expected None, got {_short(actual)}."))
    if actual is None:
        return _at(path, Verdict(False, f"expected {_describe_value(expected)}, got None.\n"
                                 + _NONE_HINT))
    if isinstance(expected, dict):
        return _close_dict(actual, expected, rtol, atol, path, n_samples)
    expected_arr = _numeric(expected)
    if expected_arr is not None:
        actual_arr = _numeric(actual)
        if actual_arr is None:
            return _at(path, Verdict(False, f"expected numbers ({_describe_value(expected)}), "
                                     f"got {_short(actual)}." + _type_hint(actual)))
        return _at(path, _compare_arrays(actual_arr, expected_arr, rtol, atol, n_samples))
    if isinstance(expected, list):
        return _close_list(actual, expected, rtol, atol, path, n_samples)
    if isinstance(expected, np.ndarray) or isinstance(expected, str):
        return _at(path, _compare_text(actual, expected))
    return _at(path, Verdict(False, f"cannot compare with {_short(expected)}."))


def _close_dict(actual: Any, expected: dict, rtol: float, atol: float, path: str,
                n_samples: int | None = None) -> Verdict:
    if not isinstance(actual, dict):
        return _at(path, Verdict(False, f"expected a dict with keys {sorted(expected)}, "
                                 f"got {_short(actual)}."))
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if extra:
            parts.append(f"unexpected keys {extra}")
        return _at(path, Verdict(False, f"the dict has {' and '.join(parts)}; expected keys "
                                 f"{sorted(expected)}."))
    for key in expected:
        verdict = _close_tree(actual[key], expected[key], rtol, atol, f"{path}[{key!r}]", n_samples)
        if not verdict.passed:
            return verdict
    return _PASS


def _close_list(actual: Any, expected: list, rtol: float, atol: float, path: str,
                n_samples: int | None = None) -> Verdict:
    if not isinstance(actual, list):
        return _at(path, Verdict(False, f"expected a list/tuple of {len(expected)} items, "
                                 f"got {_short(actual)}."))
    if len(actual) != len(expected):
        return _at(path, Verdict(False, f"expected {len(expected)} items, got {len(actual)}."))
    for i, (a, e) in enumerate(zip(actual, expected)):
        verdict = _close_tree(a, e, rtol, atol, f"{path}[{i}]", n_samples)
        if not verdict.passed:
            return verdict
    return _PASS


def _compare_text(actual: Any, expected: Any) -> Verdict:
    expected_arr = np.asarray(expected)
    actual_arr = np.asarray(actual) if isinstance(actual, (str, np.ndarray, list)) else None
    if actual_arr is None or actual_arr.dtype.kind != "U":
        return Verdict(False, f"expected text {_short(expected)}, got {_short(actual)}.")
    if actual_arr.shape != expected_arr.shape:
        return Verdict(False, f"expected shape {expected_arr.shape}, got {actual_arr.shape}.")
    if np.array_equal(actual_arr, expected_arr):
        return _PASS
    message = f"expected {_short(expected)}, got {_short(actual)}."
    if np.array_equal(np.char.lower(actual_arr), np.char.lower(expected_arr)):
        message += "\nHint: they differ only in upper/lower case."
    elif np.array_equal(np.char.strip(actual_arr), np.char.strip(expected_arr)):
        message += "\nHint: they differ only in surrounding spaces."
    return Verdict(False, message)


def _at(path: str, verdict: Verdict) -> Verdict:
    if verdict.passed or not path:
        return verdict
    return Verdict(False, f"at {path}: {verdict.message}")


def _mismatch(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Boolean mask of entries breaking |a - e| <= atol + rtol*|e| (the one convention)."""
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        if rtol == 0 and atol == 0:
            return np.asarray(actual != expected)  # exact, without float rounding of big ints
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        both_finite = np.isfinite(a) & np.isfinite(e)
        within = np.abs(a - e) <= atol + rtol * np.abs(e)
        same_special = (a == e) | (np.isnan(a) & np.isnan(e))
    return ~np.where(both_finite, within, same_special)


def _allclose(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    return actual.shape == expected.shape and not _mismatch(actual, expected, rtol, atol).any()


def _compare_arrays(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                    n_samples: int | None = None) -> Verdict:
    if expected.ndim == 0 and actual.size == 1:
        actual = actual.reshape(())  # one number may come as [x] or [[x]]
    if actual.shape != expected.shape:
        lines = [f"expected shape {expected.shape}, got shape {actual.shape}.",
                 f"  expected: {_describe_array(expected)}",
                 f"  actual:   {_describe_array(actual)}"]
        lines += _shape_hints(actual, expected, rtol, atol)
        return Verdict(False, "\n".join(lines))
    bad = _mismatch(actual, expected, rtol, atol)
    if not bad.any():
        return _PASS
    if rtol == 0 and atol == 0:
        rule = "exact equality"
    else:
        rule = f"|actual - expected| <= {atol:g} + {rtol:g}*|expected|"
    lines = ["values differ from the expected ones.",
             f"  expected: {_describe_array(expected)}",
             f"  actual:   {_describe_array(actual)}",
             f"  {int(bad.sum())} of {bad.size} entries break {rule}; {_error_summary(actual, expected, bad)}"]
    lines += _value_hints(actual, expected, rtol, atol, n_samples)
    return Verdict(False, "\n".join(lines))


def _error_summary(actual: np.ndarray, expected: np.ndarray, bad: np.ndarray) -> str:
    """Largest absolute and relative error among the entries that break the rule."""
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        finite = np.isfinite(a) & np.isfinite(e)
        diff = np.where(bad & finite, np.abs(a - e), np.nan)
        if np.isnan(diff).all():
            return "the differing entries are NaN or infinite."
        text = f"max abs error {np.nanmax(diff):.3g}"
        if diff.ndim:
            index = np.unravel_index(np.nanargmax(diff), diff.shape)
            text += f" at index {tuple(int(i) for i in index)}"
        nonzero = np.abs(e) > 0
        rel = np.where(nonzero, diff / np.where(nonzero, np.abs(e), 1.0), np.nan)
        if not np.isnan(rel).all():
            text += f", max rel error {np.nanmax(rel):.3g}"
    return text + "."


# --------------------------------------------------------------------------
# Hints: recognise the usual mistakes
# --------------------------------------------------------------------------
# NaN and inf: say what the values show (which kind, where) and only then the
# cause that this evidence points to; a cause is named only when it fits.
_NAN_SOURCES = ("NaN comes from 0/0, inf/inf, inf - inf, 0 * inf or the log or square root of "
                "a negative number, and everything computed from a NaN is NaN too.")
_SOFTMAX_FIX = "Subtract the row maximum before np.exp (z - z.max(axis=-1, keepdims=True))."
# np.exp overflows above about 88.7 in float32 (709.8 in float64): expected values this
# large mean the computation passes through numbers whose exp no longer fits.
_EXP_RISK = 80.0


def _where(mask: np.ndarray) -> str:
    """Where ``mask`` is True, in a few words: "every entry", "1 entry, at index (0, 2)", ..."""
    n = int(mask.sum())
    if mask.ndim == 0:
        return ""
    if mask.all():
        return "every entry" if mask.size > 1 else "1 entry"
    first = tuple(int(i) for i in np.argwhere(mask)[0])
    index = first[0] if len(first) == 1 else first
    if mask.ndim >= 2:
        hit = mask.any(axis=-1)
        if mask[hit].all():  # every row with a bad entry is bad throughout
            row = tuple(int(i) for i in np.argwhere(hit)[0])
            row_name = row[0] if len(row) == 1 else row
            k = int(hit.sum())
            return f"all of row {row_name}" if k == 1 else f"all of {k} rows, first row {row_name}"
    return f"1 entry, at index {index}" if n == 1 else f"{n} entries, first at index {index}"


def _nonfinite_facts(masks: list[tuple[np.ndarray, str]]) -> str:
    parts = []
    for mask, name in masks:
        if mask.any():
            where = _where(mask)
            parts.append(f"{name} ({where})" if where else name)
    return " and ".join(parts)


def _softmax_nan_cause(a: np.ndarray, nan: np.ndarray) -> str:
    """NaN in what should be rows of probabilities: which of the two softmax failures it shows."""
    rows, bad = a.reshape(-1, a.shape[-1]), nan.reshape(-1, a.shape[-1])
    hit = bad.any(axis=1)
    others_zero = bool(np.all(np.where(bad[hit], 0.0, rows[hit]) == 0.0))
    if bad[hit].all():
        return ("Whole rows are NaN, as when every np.exp of a row underflows to 0 (very negative "
                f"logits) and 0/0 is NaN, or when the input row already held a NaN. {_SOFTMAX_FIX}")
    if others_zero:
        return ("Each NaN row is otherwise 0, the pattern of np.exp overflowing: exp of the largest "
                f"logit is inf, inf/inf is NaN and every other entry becomes x/inf = 0. {_SOFTMAX_FIX}")
    return (f"{_NAN_SOURCES} In a softmax that is np.exp overflowing (inf/inf) or a whole row "
            f"underflowing to 0 (0/0). {_SOFTMAX_FIX}")


def _nan_cause(a: np.ndarray, e: np.ndarray | None, nan: np.ndarray, probabilities: bool) -> str:
    if probabilities and a.ndim >= 1:
        return _softmax_nan_cause(a, nan)
    if nan.all() and nan.size > 1:
        return (_NAN_SOURCES + " Every entry is NaN, so look early: a NaN input or parameter "
                "(after a diverging update, try a smaller learning rate) or a sum or mean that all "
                "entries share.")
    if e is not None and e.ndim and np.all(e[nan] == 0):
        return (_NAN_SOURCES + " Here the expected value is 0 wherever you have NaN, which fits "
                "0/0 or 0 * log(0) = 0 * (-inf), as in y * np.log(p) with p = 0 (pick the "
                "entries you need, p[np.arange(N), y], instead of multiplying by zeros).")
    return _NAN_SOURCES


def _inf_cause(e: np.ndarray | None, pinf: np.ndarray | None) -> str:
    text = ("inf comes from an overflow (np.exp above about 88 in float32 or 709 in float64, or "
            "values that keep growing, as in diverging training) or from dividing by 0 "
            "(-np.log(0) is inf too).")
    if e is not None and pinf is not None and e.shape == pinf.shape and pinf.any():
        biggest = float(np.max(np.abs(e[pinf])))
        if math.isfinite(biggest) and biggest >= _EXP_RISK:
            text += (f" The expected values there are large (up to {biggest:.4g}), so np.exp of "
                     "them overflows: stay in the log domain (log-sum-exp: "
                     "m + log(sum(exp(z - m))) with m = max(z)).")
    return text


_NEG_INF_CAUSE = ("-inf is what np.log(0) gives (or a negative number divided by 0): if you take "
                  "the log of probabilities, one of them is exactly 0; compute log-probabilities "
                  "directly (z - logsumexp(z)) or clip p away from 0.")


def _nonfinite_hint(actual: np.ndarray, expected: np.ndarray | None,
                    probabilities: bool = False) -> str | None:
    """Describe the NaN/inf entries of ``actual`` that ``expected`` does not have, and their likely cause.

    ``probabilities``: the values should be rows of probabilities (a softmax output).
    """
    if actual.dtype.kind != "f":
        return None
    a = actual.astype(np.float64)
    e = None if expected is None else expected.astype(np.float64)
    if e is not None and e.shape != a.shape:
        e = None
    with np.errstate(invalid="ignore"):
        nan = np.isnan(a) if e is None else np.isnan(a) & ~np.isnan(e)
        pinf = np.isposinf(a) if e is None else np.isposinf(a) & ~np.isposinf(e)
        ninf = np.isneginf(a) if e is None else np.isneginf(a) & ~np.isneginf(e)
    if not (nan.any() or pinf.any() or ninf.any()):
        return None
    if e is not None and not probabilities and e.ndim >= 1:
        # Softmax rows: a batch of rows summing to 1, or one row of positive probabilities.
        probabilities = _rows_are_distributions(e) and (e.ndim >= 2 or bool((e > 0).all()))
    causes = []
    if nan.any():
        causes.append(_nan_cause(a, e, nan, probabilities))
    if pinf.any():
        causes.append(_inf_cause(e, pinf))
    if ninf.any():
        causes.append(_NEG_INF_CAUSE)
    facts = _nonfinite_facts([(nan, "NaN"), (pinf, "inf"), (ninf, "-inf")])
    return f"Hint: your result has {facts}. " + " ".join(causes)


def _scalar_nonfinite_hint(value: float) -> str:
    """For one number (a loss, an accuracy) that is NaN or inf: there is no pattern to read."""
    if math.isnan(value):
        return ("Hint: " + _NAN_SOURCES + " If this is a loss after training, the updates "
                "probably diverged: try a smaller learning rate.")
    if value > 0:
        return ("Hint: " + _inf_cause(None, None)
                + " If this is a loss after training, try a smaller learning rate.")
    return "Hint: " + _NEG_INF_CAUSE


def _entries(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"


def _dtype_hint(actual: np.ndarray, expected: np.ndarray) -> str | None:
    a_kind, e_kind = actual.dtype.kind, expected.dtype.kind
    if a_kind in "iu" and e_kind == "f":
        return ("Hint: your result has integer dtype ({}) but the expected values have "
                "fractions, so they were cut off. Look for integer division `//`, an array "
                "created from whole numbers (np.array([1, 2]), np.zeros_like of an int array) "
                "and then filled with floats, or an .astype(int).").format(actual.dtype)
    if a_kind == "b" and e_kind in "iuf":
        return ("Hint: your result is True/False but numbers were expected: did you compare "
                "(e.g. p > 0.5) where the values themselves were wanted? Use .astype(float) "
                "or return the numbers.")
    if a_kind == "f" and e_kind in "biu":
        return ("Hint: integers (class labels or counts) were expected but you returned "
                f"floats of dtype {actual.dtype}: use np.argmax(..., axis=1) for class labels "
                "or .astype(int) after rounding.")
    if a_kind == "f" and e_kind == "f" and actual.dtype.itemsize < expected.dtype.itemsize:
        return (f"Hint: your result has dtype {actual.dtype} (fewer digits than "
                f"{expected.dtype}); compute in float64 if the differences are tiny rounding errors.")
    return None


def _truncation_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if expected.dtype.kind != "f" or actual.dtype.kind == "b" or not np.isfinite(expected).all():
        return None
    if np.allclose(expected, np.round(expected)):
        return None
    # Integer division truncates (or floors): a single number that is merely the nearest
    # whole one (1.0 for 0.97) is more likely a different mistake.
    roundings = (np.trunc, np.floor) if expected.size == 1 else (np.trunc, np.floor, np.round)
    for rounding in roundings:
        if _allclose(actual, rounding(expected), rtol, atol):
            return ("Hint: your values are the expected ones with the fractional part cut off: "
                    "integer division `//` or an integer dtype lost it; use `/` and float arrays.")
    return None


def _near(x: float, target: float) -> bool:
    return abs(x - target) <= 1e-6 * max(1.0, abs(target))


def _scale_factor(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> float | None:
    """c when actual == c*expected (within tolerance) for one constant c != 1, else None."""
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return None
    denom = float(np.sum(e * e))
    if denom == 0.0:
        return None
    c = float(np.sum(a * e)) / denom
    if c == 0.0 or not math.isfinite(c):
        return None
    loose_rtol, loose_atol = max(rtol, 1e-7), max(atol, 1e-12)
    if not _allclose(a, c * e, loose_rtol, loose_atol * max(1.0, abs(c))):
        return None
    return c


def _is_simple(x: float, dtype: np.dtype) -> bool:
    """True for a number that hand-picked inputs produce: a fraction p/q with q <= 1000 (4/3, 0.125)
    or one with at most 4 significant digits (2.5e-4). Ratios between such numbers are often
    whole by coincidence. Integers and values below float64 precision always count as simple:
    their few digits cannot rule a coincidence out.
    """
    if dtype.kind != "f" or dtype.itemsize < 8 or x == 0.0:
        return True
    tol = 1e-12 * max(1.0, abs(x))
    if abs(x - float(f"{x:.4g}")) <= tol:
        return True
    from fractions import Fraction

    return abs(x - float(Fraction(x).limit_denominator(1000))) <= tol


def _is_evident(expected: np.ndarray) -> bool:
    """Whether a relation such as ``actual == c * expected`` can be more than a coincidence.

    One number always equals c times another, so a single value (or an array whose nonzero
    entries all hold the same value) is evidence only when it is not a simple number. A
    relation that holds over two or more different nonzero values is a pattern.
    """
    e = expected.astype(np.float64).reshape(-1)
    values = np.unique(e[e != 0.0])
    if values.size >= 2:
        return True
    return values.size == 1 and not _is_simple(float(values[0]), expected.dtype)


def _sum_mean_hint(k: int, whose: str) -> str:
    return (f"Hint: {whose} {k} times the expected value: did you sum where a mean was wanted "
            f"(over {k} samples), or forget to divide by the batch size N?")


def _mean_sum_hint(k: int, whose: str) -> str:
    return (f"Hint: {whose} 1/{k} of the expected value: did you take a mean where a sum was "
            f"wanted, or divide by N ({k}) twice?")


def _factor_hint(c: float, whose: str, n_samples: int | None) -> str | None:
    """The hint for ``actual == c * expected`` once the scale is known to be real."""
    if _near(c, -1.0):
        return ("Hint: your result has the opposite sign of the expected one: check the sign "
                "of the error (y_pred - y vs y - y_pred), of a derivative, or of the update "
                "(w = w - lr * grad moves downhill).")
    if _near(c, 2.0) or _near(c, 0.5):
        which = "twice" if _near(c, 2.0) else "half"
        return (f"Hint: your result is {which} the expected value: a factor of 2 is off. "
                "The derivative of x**2 is 2*x, and a loss written as (1/2)*sum(...) loses "
                "that 2; check which convention the exercise uses.")
    if _near(c, -2.0) or _near(c, -0.5):
        return ("Hint: the result has the wrong sign and is off by a factor of 2: check the "
                "sign of the error term and the 2 from differentiating a square.")
    rounded = round(c)
    if rounded >= 3 and _near(c, rounded):
        if n_samples is not None and rounded != n_samples:  # not the declared count
            return f"Hint: {whose} {rounded} times the expected value."
        return _sum_mean_hint(rounded, whose)
    if c > 0 and round(1 / c) >= 3 and _near(1 / c, round(1 / c)):
        n = round(1 / c)
        if n_samples is not None and n != n_samples:
            return f"Hint: {whose} 1/{n} of the expected value."
        return _mean_sum_hint(n, whose)
    if c < 0:
        return (f"Hint: your result is {c:.4g} times the expected one: the sign is flipped "
                "and the scale is off.")
    return None


def _scaled_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                 n_samples: int | None = None) -> str | None:
    """A result that is a constant multiple of the expected one, when that is evidence.

    The multiple is named only when it cannot be a coincidence: the result is proportional
    over several different values, or the single expected value is not a simple number (see
    :func:`_is_simple`), or it is exactly the sample count ``n_samples`` that the test
    declared (a sum where a mean was wanted, or the reverse).
    """
    c = _scale_factor(actual, expected, rtol, atol)
    if c is None:
        return None
    single = expected.ndim == 0 or expected.size == 1
    whose = "your number is" if single else "every entry is"
    if n_samples is not None:
        if _near(c, n_samples):
            return _sum_mean_hint(n_samples, whose)
        if _near(c * n_samples, 1.0):
            return _mean_sum_hint(n_samples, whose)
    if not _is_evident(expected):
        return None
    return _factor_hint(c, whose, n_samples)


def _offset_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    """A constant offset or the same row vector added to every row: a bias problem.

    Only when the expected entries (rows) differ: a constant result minus constant expected
    values is "off by a constant" whatever the mistake was.
    """
    if actual.ndim == 0 or actual.size < 2 or np.all(expected == expected.reshape(-1)[0]):
        return None
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return None
    diff = a - e
    scale = max(float(np.max(np.abs(e))), 1.0)
    loose = max(atol, 1e-9 * scale) + rtol * scale
    first = diff.reshape(-1)[0]
    if np.all(np.abs(diff - first) <= loose):
        if _near(first, round(first)) and round(first) in (-1, 1) and expected.dtype.kind in "biu":
            return ("Hint: every entry is off by exactly {:+d}: an off-by-one error (class "
                    "labels and indices start at 0).".format(int(round(first))))
        return (f"Hint: every entry is off by the same constant ({first:+.4g}): a missing "
                "bias b (or a bias added twice), or a constant left out of the formula.")
    if a.ndim >= 2 and a.shape[0] > 1 and not np.all(e == e[:1]):
        row = diff[:1]
        if np.all(np.abs(diff - row) <= loose):
            return ("Hint: the difference is the same row vector for every row: a missing "
                    "bias (add b of shape ({},) to every row: X @ W + b), or a bias added "
                    "twice.".format(a.shape[-1]))
    return None


def _rows_are_distributions(p: np.ndarray, axis: int = -1) -> bool:
    if p.ndim == 0 or p.dtype.kind not in "biuf" or not np.isfinite(p).all():
        return False
    return bool((p >= -1e-9).all() and np.allclose(p.sum(axis=axis), 1.0, rtol=1e-5, atol=1e-6))


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = z - z.max(axis=axis, keepdims=True)
    ez = np.exp(shifted)
    return ez / ez.sum(axis=axis, keepdims=True)


def _activation_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    """The student returned z where sigmoid(z) or softmax(z) was wanted."""
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return None
    if e.ndim >= 1 and _rows_are_distributions(e) and not _rows_are_distributions(a):
        uniform = np.all(np.ptp(e, axis=-1) <= 1e-12)  # softmax of any constant row is uniform
        if not uniform and _allclose(_softmax(a), e, max(rtol, 1e-6), max(atol, 1e-9)):
            return ("Hint: softmax of your result gives the expected probabilities: you "
                    "returned the logits z; apply softmax (exp, then divide by the row sum).")
        if a.ndim >= 2 and _rows_are_distributions(a, axis=0):
            return ("Hint: your columns sum to 1 instead of your rows: the softmax normalised "
                    "over the wrong axis (use axis=-1 with keepdims=True).")
        sums = a.sum(axis=-1)
        if e.ndim >= 2:
            return ("Hint: the expected rows are probabilities that sum to 1, yours sum to "
                    f"{_short_array(sums)}: divide by the sum over the last axis.")
        # One vector summing to 1 may be anything (weights, a split): only values that
        # are the expected ones times a constant show a missing normalisation.
        if (a >= 0).all() and sums > 0 and _allclose(a / sums, e, max(rtol, 1e-6), max(atol, 1e-9)):
            return ("Hint: the expected values are probabilities that sum to 1; yours are "
                    f"proportional to them but sum to {_short_array(sums)}: divide by their sum.")
    if ((e > 0) & (e < 1)).all() and _is_evident(expected):
        with np.errstate(over="ignore"):
            sig = 1.0 / (1.0 + np.exp(-a))
        if not ((a > 0) & (a < 1)).all() and _allclose(sig, e, max(rtol, 1e-6), max(atol, 1e-9)):
            return ("Hint: sigmoid of your result gives the expected values: apply the "
                    "activation, sigmoid(z) = 1 / (1 + exp(-z)).")
    return None


def _transpose_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if expected.ndim != 2:
        return None
    if actual.shape == expected.shape[::-1] and _allclose(actual.T, expected, rtol, atol):
        if expected.shape[0] == expected.shape[1] and _allclose(expected.T, expected, rtol, atol):
            return None
        return ("Hint: your result is the transpose of the expected one: check the order of "
                "a matrix product (X @ W, not W @ X; W has shape (inputs, units)) or a stray .T.")
    return None


def _value_hints(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                 n_samples: int | None = None) -> list[str]:
    """Hints for a same-shape mismatch, most specific first; at most two."""
    hints: list[str] = []
    nonfinite = _nonfinite_hint(actual, expected)
    if nonfinite:
        return [nonfinite]
    finders = (_transpose_hint, _truncation_hint, _activation_hint,
               lambda a, e, r, t: _scaled_hint(a, e, r, t, n_samples), _offset_hint)
    for finder in finders:
        found = finder(actual, expected, rtol, atol)
        if found:
            hints.append(found)
            break
    dtype = _dtype_hint(actual, expected)
    if dtype and not any("dtype" in h for h in hints):
        hints.append(dtype)
    return hints[:2]


def _shape_hints(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> list[str]:
    a_shape, e_shape = actual.shape, expected.shape
    if expected.ndim == 2 and a_shape == e_shape[::-1]:
        if _allclose(actual.T, expected, rtol, atol):
            return ["Hint: your result is the transpose of the expected one: check the order "
                    "of a matrix product (X @ W, not W @ X) or a stray .T."]
        return ["Hint: your shape is the expected one reversed: a transposed operand? For a "
                "layer, W has shape (inputs, units) and the product is X @ W."]
    n = e_shape[0] if expected.ndim >= 1 else None
    if (expected.ndim == 1 or (expected.ndim == 2 and e_shape[1] == 1)) and a_shape == (n, n) and n and n > 1:
        return [f"Hint: a ({n}, {n}) matrix came back where {e_shape} was expected: this is "
                "broadcasting of a column (N, 1) against a row (N,), e.g. y_pred - y with "
                "y_pred of shape (N, 1). Make both the same shape first (y_pred.ravel() or "
                "y.reshape(-1, 1))."]
    if actual.size == expected.size:
        if np.squeeze(actual).shape == np.squeeze(expected).shape:
            return ["Hint: the shapes differ only by an axis of length 1: use keepdims=True, "
                    "reshape, or np.squeeze so that the shapes match."]
        if _allclose(actual.reshape(e_shape), expected, rtol, atol):
            return ["Hint: the values are right but arranged in the wrong shape: reshape "
                    f"to {e_shape}."]
        return ["Hint: the number of entries is right but the shape is not: check reshape "
                "and transpose."]
    if expected.ndim == 0 and actual.size > 1:
        hint = ("Hint: an array came back where one number was expected: did you forget to "
                "reduce it (np.mean or np.sum)?")
        if actual.dtype.kind in "biuf" and np.isfinite(actual).all():
            if _allclose(np.asarray(actual.mean()), expected, rtol, atol):
                hint += " The mean of your array is the expected value."
            elif _allclose(np.asarray(actual.sum()), expected, rtol, atol):
                hint += " The sum of your array is the expected value."
        return [hint]
    if actual.ndim == 0 or (actual.size == 1 and expected.size > 1):
        return ["Hint: one number came back where an array was expected: did you sum or "
                "average over all axes? Pass axis=... to reduce only the axis you mean."]
    if actual.ndim == expected.ndim:
        return ["Hint: check the axis of a sum/mean/softmax and the shapes of the "
                "matrices in a product."]
    return []


def _type_hint(actual: Any) -> str:
    if isinstance(actual, str):
        return "\nHint: you returned text; return the number itself (not a formatted string)."
    if isinstance(actual, dict):
        return "\nHint: you returned a dict; return the array itself."
    if isinstance(actual, list):
        return ("\nHint: the list could not be turned into one array of numbers (items of "
                "different lengths or types?).")
    return ""


# --------------------------------------------------------------------------
# Describing values in messages
# --------------------------------------------------------------------------
def _short_array(arr: np.ndarray) -> str:
    with np.printoptions(precision=6, threshold=8, edgeitems=3, suppress=False):
        text = np.array2string(np.asarray(arr), max_line_width=72, separator=", ")
    return text.replace("\n", "\n              ")


def _describe_array(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return f"{_short_array(arr)} (one number, dtype {arr.dtype})"
    return f"shape {arr.shape}, dtype {arr.dtype}: {_short_array(arr)}"


def _describe_value(value: Any) -> str:
    arr = _numeric(value)
    if arr is not None:
        return _describe_array(arr)
    return _short(value)


def _short(value: Any) -> str:
    if isinstance(value, (TooLarge, Unrecordable)):
        return value.describe()
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return _describe_array(value) if value.dtype.kind in "biuf" else repr(value.tolist())[:120]
    text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(value).__name__} {text}"


# --------------------------------------------------------------------------
# The other judges
# --------------------------------------------------------------------------
def _judge_shape(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """``actual`` is the recorded shape (list of ints); None in the expected shape is a wildcard."""
    expected_shape = params["expected_shape"]
    if not isinstance(expected_shape, list) or not all(
        d is None or (type(d) is int and d >= 0) for d in expected_shape
    ):
        raise ValueError("expected_shape must be a list of sizes or None")
    special = _special_failure(actual)
    if special:
        return special
    want = "(" + ", ".join("any" if d is None else str(d) for d in expected_shape) + ("," if len(expected_shape) == 1 else "") + ")"
    if actual is None:
        return Verdict(False, f"expected an array of shape {want}, got None.\n" + _NONE_HINT)
    if not isinstance(actual, list) or not all(d is None or (type(d) is int and d >= 0) for d in actual):
        return Verdict(False, f"expected an array of shape {want}, got {_short(actual)}.")
    if len(actual) == len(expected_shape) and all(
        e is None or a == e for a, e in zip(actual, expected_shape)
    ):
        return _PASS
    got = tuple(actual)
    message = f"expected shape {want}, got shape {got}."
    hint = _shape_only_hint(actual, expected_shape)
    return Verdict(False, message + ("\n" + hint if hint else ""))


def _shape_only_hint(actual: list, expected: list) -> str | None:
    if len(actual) == len(expected) == 2 and actual[::-1] == expected:
        return ("Hint: the shape is the expected one reversed: a transposed operand? For a "
                "layer, W has shape (inputs, units) and the product is X @ W.")
    if None in expected or None in actual:
        return None
    if [d for d in actual if d != 1] == [d for d in expected if d != 1]:
        return ("Hint: the shapes differ only by an axis of length 1: use keepdims=True, "
                "reshape, or np.squeeze.")
    if math.prod(actual) == math.prod(expected):
        return "Hint: the number of entries is right but the shape is not: reshape it."
    if len(expected) == 1 and actual == [expected[0], expected[0]] and expected[0] > 1:
        return ("Hint: an (N, N) matrix where (N,) was expected usually comes from "
                "broadcasting a column (N, 1) against a row (N,): make both the same shape.")
    if len(actual) < len(expected):
        return "Hint: an axis is missing: did a sum/mean reduce more axes than it should?"
    return None


def _judge_probabilities(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """Entries in [0, 1] and sums along ``axis`` equal to 1 (within the tolerance rule)."""
    rtol, atol = _tolerances(params)
    axis = params["axis"]
    if type(axis) is not int:
        raise ValueError("axis must be an int")
    special = _special_failure(actual)
    if special:
        return special
    if actual is None:
        return Verdict(False, "expected probabilities, got None.\n" + _NONE_HINT)
    p = _numeric(actual)
    if p is None:
        return Verdict(False, f"expected an array of probabilities, got {_short(actual)}."
                       + _type_hint(actual))
    if p.ndim == 0:
        return Verdict(False, "expected an array of probabilities, got one number "
                       f"({_short_array(p)}); a distribution needs an axis to sum over.")
    if not -p.ndim <= axis < p.ndim:
        return Verdict(False, f"the probabilities have shape {p.shape}, which has no axis {axis}.")
    p = p.astype(np.float64)
    intro = f"not probabilities along axis {axis} (shape {p.shape}): {_short_array(p)}"
    if not np.isfinite(p).all():
        return Verdict(False, intro + "\n" + _nonfinite_hint(p, None, probabilities=True))
    sums = p.sum(axis=axis)
    if p.min() < -atol:
        hint = ("Hint: negative entries cannot be probabilities: these look like logits z; "
                "apply softmax (exp, then divide by the sum) or sigmoid.")
        return Verdict(False, f"{intro}\n  smallest entry {p.min():.4g} < 0.\n{hint}")
    bad = _mismatch(sums, np.ones_like(sums), rtol, atol)
    if bad.any() or p.max() > 1 + atol + rtol:
        lines = [intro, f"  sums along axis {axis}: {_short_array(sums)} (each should be 1)."]
        other = [ax for ax in range(p.ndim) if ax != axis % p.ndim]
        if other and any(_rows_are_distributions(p, axis=ax) for ax in other):
            lines.append("Hint: your values sum to 1 along a different axis: the softmax "
                         f"normalised over the wrong axis; use axis={axis} with keepdims=True.")
        else:
            lines.append("Hint: divide by the sum along the class axis (keepdims=True) so "
                         "that each distribution sums to 1.")
        return Verdict(False, "\n".join(lines))
    return _PASS


def _judge_threshold(actual: Any, params: Mapping[str, Any], at_least: bool) -> Verdict:
    threshold = float(params["threshold"])
    if not math.isfinite(threshold):
        raise ValueError("the threshold must be a finite number")
    special = _special_failure(actual)
    if special:
        return special
    word = "at least" if at_least else "at most"
    if actual is None:
        return Verdict(False, f"expected a number {word} {threshold:g}, got None.\n" + _NONE_HINT)
    arr = _numeric(actual)
    if arr is None or arr.size != 1 or arr.dtype.kind == "b":
        return Verdict(False, f"expected one number {word} {threshold:g}, got {_short(actual)}.")
    value = float(arr.reshape(-1)[0])
    if math.isnan(value):
        return Verdict(False, f"the value is NaN, so it is not {word} {threshold:g}.\n"
                       + _scalar_nonfinite_hint(value))
    if (value >= threshold) if at_least else (value <= threshold):
        return _PASS
    message = f"the value is {value:.6g}, but it must be {word} {threshold:g}."
    if math.isinf(value):
        message += "\n" + _scalar_nonfinite_hint(value)
    elif at_least and 1 < threshold <= 100 and 0 <= value <= 1:
        message += ("\nHint: your value looks like a fraction but the threshold is a "
                    "percentage: multiply by 100.")
    return Verdict(False, message)


def _judge_true(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    special = _special_failure(actual)
    if special:
        return special
    if actual is True:
        return _PASS
    if actual is False:
        return Verdict(False, "the condition is False.")
    return Verdict(False, f"expected True or False, got {_short(actual)}.")


# Check name -> judge(actual, reference_value, params). Used in the kernel and by rejudge.
_JUDGES: dict[str, Callable[[Any, Any, Mapping[str, Any]], Verdict]] = {
    "close": _judge_close,
    "equal": _judge_equal,
    "gradient": _judge_close,
    "shape": _judge_shape,
    "probabilities": _judge_probabilities,
    "at_least": lambda a, e, p: _judge_threshold(a, p, at_least=True),
    "at_most": lambda a, e, p: _judge_threshold(a, p, at_least=False),
    "is_true": _judge_true,
    "returns_value": _judge_true,
    "raises": _judge_true,
}
# Checks whose judge compares with the reference solution's recorded ``actual``.
_COMPARES_WITH_REFERENCE = frozenset({"close", "equal", "gradient"})


# --------------------------------------------------------------------------
# Recording and raising
# --------------------------------------------------------------------------
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
    if not verdict.passed:
        message = f"{label}: {verdict.message}"
        if hint:
            message += f"\nHint: {hint}"
        raise AssertionError(message)


def _finite(value: Any, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"the {what} must be a finite number, got {value!r}")
    return number


def _check_label(label: Any) -> str:
    return label if isinstance(label, str) else str(label)


def close(actual: Any, expected: Any, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
          label: str = "value", hint: str | None = None, n_samples: int | None = None) -> None:
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
    """
    params = {"rtol": float(rtol), "atol": float(atol)}
    _tolerances(params)
    reference = _reference(expected, "value")
    encoded, value = _capture(actual)
    params["expected_shape"] = list(np.shape(reference)) if _numeric(reference) is not None else None
    _declare_samples(params, n_samples)
    _finish("close", _check_label(label), encoded, _judge_close(value, reference, params), params, hint)


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
    _finish("equal", _check_label(label), encoded, _judge_equal(value, reference, params), params, hint)


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
        encoded, measured = {_UNRECORDABLE_KEY: reason}, Unrecordable(reason)
    _finish("shape", _check_label(label), encoded, _judge_shape(measured, None, params), params, hint)


def _shape_of(value: Any) -> list[int | None]:
    if _is_graph_tensor(value):
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
    _tolerances(params)
    encoded, value = _capture(p)
    _finish("probabilities", _check_label(label), encoded, _judge_probabilities(value, None, params),
            params, hint)


def at_least(value: Any, threshold: float, *, label: str = "value", hint: str | None = None) -> None:
    """Assert that the single number ``value`` is >= ``threshold`` (e.g. an accuracy)."""
    params = {"threshold": _finite(threshold, "threshold")}
    encoded, captured = _capture(value)
    _finish("at_least", _check_label(label), encoded, _judge_threshold(captured, params, True),
            params, hint)


def at_most(value: Any, threshold: float, *, label: str = "value", hint: str | None = None) -> None:
    """Assert that the single number ``value`` is <= ``threshold`` (e.g. a loss)."""
    params = {"threshold": _finite(threshold, "threshold")}
    encoded, captured = _capture(value)
    _finish("at_most", _check_label(label), encoded, _judge_threshold(captured, params, False),
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
    encoded = {_UNRECORDABLE_KEY: truth.reason} if isinstance(truth, Unrecordable) else truth
    _finish("is_true", _check_label(label), encoded, _judge_true(truth, None, {}), {}, hint)


def returns_value(value: Any, *, label: str = "your function", hint: str | None = None) -> None:
    """Assert that a function returned something (not None): catches a forgotten ``return``."""
    returned = value is not None
    verdict = _PASS if returned else Verdict(False, "it returned None.\n" + _NONE_HINT)
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
            _finish("raises", _check_label(label), True, _PASS, {}, hint)
            return
        verdict = Verdict(False, f"it raised {type(err).__name__} but with an empty message: "
                                 "say what is wrong, e.g. raise ValueError('shapes (2, 3) and (4, 5) do not fit').")
    except Exception as err:  # noqa: BLE001 - the wrong kind of error is the finding
        verdict = Verdict(False, f"expected {exception.__name__}, but it raised "
                                 f"{type(err).__name__}: {err}")
    else:
        verdict = Verdict(False, f"expected {exception.__name__}, but it returned {_short(result)}.")
    _finish("raises", _check_label(label), False, verdict, {}, hint)


def gradient(f: Callable[[np.ndarray], Any], x: Any, grad: Any, *, eps: float = GRADIENT_EPS,
             rtol: float = GRADIENT_RTOL, atol: float = GRADIENT_ATOL,
             label: str = "gradient", hint: str | None = None, n_samples: int | None = None) -> None:
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
    """
    params = {"rtol": float(rtol), "atol": float(atol), "eps": float(eps)}
    _tolerances(params)
    _declare_samples(params, n_samples)
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
    _finish("gradient", _check_label(label), encoded, _judge_close(value, numerical, params),
            params, hint)


def _scalar(value: Any) -> float:
    plain = decode_value(encode_value(value))
    arr = _numeric(plain)
    if arr is None or arr.size != 1:
        raise TypeError(f"f(x) must return one number (e.g. the loss), got {_short(plain)}")
    return float(arr.reshape(-1)[0])


# --------------------------------------------------------------------------
# Demo cells that run the student's functions
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Rejudging outside the kernel
# --------------------------------------------------------------------------
def _parse_record(record: Any) -> dict:
    if isinstance(record, (str, bytes, bytearray)):
        record = json.loads(record)
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    if not isinstance(record.get("check"), str) or "actual" not in record:
        raise ValueError("a record needs 'check' and 'actual'")
    return record


def rejudge_details(student_record: Any, reference_record: Any) -> tuple[bool, str]:
    """Decide a student's record against the reference solution's record.

    Parameters
    ----------
    student_record, reference_record : dict or str
        Records as written by the checks (a dict or one JSON line).

    Returns
    -------
    (bool, str)
        Whether the student's ``actual`` passes, and a message (empty on a
        pass). Uses the student's ``actual`` only; their ``passed`` and
        ``params`` are ignored. Never raises.
    """
    try:
        try:
            reference = _parse_record(reference_record)
        except Exception as exc:
            return False, f"the reference record is unusable ({exc})."
        try:
            student = _parse_record(student_record)
        except Exception as exc:
            return False, f"the student's record is missing or garbled ({exc})."
        check = reference["check"]
        if check not in _JUDGES:
            return False, f"unknown check {check!r} in the reference record."
        if student["check"] != check:
            return False, (f"the student's record is a {student['check']!r} check where the "
                           f"reference has {check!r}: the records are out of step.")
        if reference.get("passed") is not True:
            return False, "the reference solution did not pass this check itself."
        params = reference.get("params")
        if not isinstance(params, dict):
            return False, "the reference record has no params."
        try:
            actual = decode_value(student["actual"])
        except Exception as exc:
            return False, f"the student's value is garbled ({exc})."
        expected = None
        if check in _COMPARES_WITH_REFERENCE:
            expected = decode_value(reference["actual"])
        verdict = _JUDGES[check](actual, expected, params)
        label = str(reference.get("label", check))
        return verdict.passed, ("" if verdict.passed else f"{label}: {verdict.message}")
    except Exception as exc:  # never let a record crash the grader
        return False, f"the record could not be judged ({type(exc).__name__}: {exc})."


def rejudge(student_record: Any, reference_record: Any) -> bool:
    """True when the student's record passes given the reference record; never raises.

    See :func:`rejudge_details` for the message explaining a failure.
    """
    return rejudge_details(student_record, reference_record)[0]
