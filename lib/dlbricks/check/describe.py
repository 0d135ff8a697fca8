"""How values appear in failure messages: short, with shape and dtype."""
from __future__ import annotations

from typing import Any

import numpy as np

from .codec import TooLarge, Unrecordable

def numeric(value: Any) -> np.ndarray | None:
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


def short_array(arr: np.ndarray) -> str:
    with np.printoptions(precision=6, threshold=8, edgeitems=3, suppress=False):
        text = np.array2string(np.asarray(arr), max_line_width=72, separator=", ")
    return text.replace("\n", "\n              ")


def describe_array(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return f"{short_array(arr)} (one number, dtype {arr.dtype})"
    return f"shape {arr.shape}, dtype {arr.dtype}: {short_array(arr)}"


def describe_value(value: Any) -> str:
    arr = numeric(value)
    if arr is not None:
        return describe_array(arr)
    return short(value)


def short(value: Any) -> str:
    if isinstance(value, (TooLarge, Unrecordable)):
        return value.describe()
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return describe_array(value) if value.dtype.kind in "biuf" else repr(value.tolist())[:120]
    text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(value).__name__} {text}"
