"""The one tolerance rule of the kit: |actual - expected| <= atol + rtol*|expected|.

The expected value is the reference, as in ``numpy.isclose``; NaN matches only NaN and an
infinity only the same infinity. ``equal`` is the rule with rtol = atol = 0.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-8
GRADIENT_RTOL = 1e-4
GRADIENT_ATOL = 1e-6
GRADIENT_EPS = 1e-6


def tolerances(params: Mapping[str, Any]) -> tuple[float, float]:
    rtol, atol = float(params["rtol"]), float(params["atol"])
    if not (0 <= rtol < math.inf and 0 <= atol < math.inf):  # also rejects NaN
        raise ValueError("tolerances must be finite non-negative numbers")
    return rtol, atol


def mismatch(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Boolean mask of entries breaking |a - e| <= atol + rtol*|e| (the one convention)."""
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        if rtol == 0 and atol == 0:
            return np.asarray(actual != expected)  # exact, without float rounding of big ints
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        # numpy.isclose is this very rule (expected as the reference; an infinity matches
        # only the same infinity); equal_nan lets a NaN match a NaN at the same place.
        return ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)


def allclose(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    return actual.shape == expected.shape and not mismatch(actual, expected, rtol, atol).any()
