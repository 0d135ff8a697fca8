"""Values as plain JSON data and back (no pickle): the format of the grading record.

Arrays become ``{"__ndarray__": true, "dtype", "shape", "data"}``, NaN/inf the strings
"nan", "inf", "-inf"; a value with more than ``MAX_RECORD_ELEMENTS`` numbers becomes a
summary (:class:`TooLarge`), one that is not data an :class:`Unrecordable`. A change to a
hint or a judge never touches this module.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A record holds at most this many numbers; bigger values are summarised and fail.
MAX_RECORD_ELEMENTS = 2_000_000
_ARRAY_KEY = "__ndarray__"
_TOO_LARGE_KEY = "__too_large__"
UNRECORDABLE_KEY = "__unrecordable__"
_RESERVED_KEYS = frozenset({_ARRAY_KEY, _TOO_LARGE_KEY, UNRECORDABLE_KEY})
_MAX_DEPTH = 64
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_DTYPE_NAMES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
     "uint64", "float16", "float32", "float64", "str"}
)


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
    if is_graph_tensor(value):
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


def is_graph_tensor(value: Any) -> bool:
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
        if UNRECORDABLE_KEY in data:
            return Unrecordable(str(data[UNRECORDABLE_KEY]))
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
