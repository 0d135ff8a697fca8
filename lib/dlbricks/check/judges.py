"""Judges: one pure function per check, ``judge(actual, expected, params) -> Verdict``.

They see plain values only (as decoded from a record), so the same judge decides in the
student's kernel, in the grader's judge process and in :func:`~dlbricks.check.rejudge`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .codec import TooLarge, Unrecordable
from .describe import describe_array, describe_value, numeric, short, short_array
from .hints import (
    NONE_HINT, nonfinite_hint, rows_are_distributions, scalar_nonfinite_hint, shape_hints,
    shape_only_hint, swapped_hint, type_hint, value_hints,
)
from .tolerance import mismatch, tolerances

@dataclass(frozen=True)
class Verdict:
    """The outcome of one judge: ``passed`` and, when not, why (without label)."""

    passed: bool
    message: str = ""


PASS = Verdict(True)


def _special_failure(actual: Any) -> Verdict | None:
    """Values that fail every check: missing, oversized or unrecordable."""
    if isinstance(actual, (TooLarge, Unrecordable)):
        return Verdict(False, actual.describe() + ".")
    return None


def judge_close(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """|actual - expected| <= atol + rtol*|expected| elementwise; recursive over dicts/lists."""
    rtol, atol = tolerances(params)
    return _close_tree(actual, expected, rtol, atol, path="", n_samples=_n_samples(params))


def _n_samples(params: Mapping[str, Any]) -> int | None:
    """The sample count a test declared (params["n_samples"]), or None; it only shapes hints."""
    n = params.get("n_samples")
    return n if type(n) is int and n >= 2 else None


def judge_equal(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """Exact equality: the tolerance rule with rtol = atol = 0."""
    return _close_tree(actual, expected, 0.0, 0.0, path="")


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
            return PASS
        return _at(path, Verdict(False, f"expected None, got {short(actual)}."))
    if actual is None:
        return _at(path, Verdict(False, f"expected {describe_value(expected)}, got None.\n"
                                 + NONE_HINT))
    if isinstance(expected, dict):
        return _close_dict(actual, expected, rtol, atol, path, n_samples)
    expected_arr = numeric(expected)
    if (isinstance(expected, list) and isinstance(actual, list) and len(actual) == len(expected)
            and expected_arr is not None and expected_arr.ndim >= 2):
        # a tuple of arrays (e.g. the gradients of a backward rule): judged part by part
        return _close_list(actual, expected, rtol, atol, path, n_samples)
    if expected_arr is not None:
        actual_arr = numeric(actual)
        if actual_arr is None:
            return _at(path, Verdict(False, f"expected numbers ({describe_value(expected)}), "
                                     f"got {short(actual)}." + type_hint(actual)))
        return _at(path, _compare_arrays(actual_arr, expected_arr, rtol, atol, n_samples))
    if isinstance(expected, list):
        return _close_list(actual, expected, rtol, atol, path, n_samples)
    if isinstance(expected, np.ndarray) or isinstance(expected, str):
        return _at(path, _compare_text(actual, expected))
    return _at(path, Verdict(False, f"cannot compare with {short(expected)}."))


def _close_dict(actual: Any, expected: dict, rtol: float, atol: float, path: str,
                n_samples: int | None = None) -> Verdict:
    if not isinstance(actual, dict):
        return _at(path, Verdict(False, f"expected a dict with keys {sorted(expected)}, "
                                 f"got {short(actual)}."))
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
    names = {key: f"[{key!r}]" for key in expected}
    return _parts_verdict(path, "keys", names, actual, expected, rtol, atol, n_samples)


def _parts_verdict(path: str, what: str, names: Mapping[Any, str], actual: Any, expected: Any,
                   rtol: float, atol: float, n_samples: int | None) -> Verdict:
    """Judge every part of a dict or list: say which parts are right and which wrong.

    The first wrong part's details follow, and a hint when a wrong part holds the value
    that another part should hold (swapped parts).
    """
    verdicts = {key: _close_tree(actual[key], expected[key], rtol, atol, path + name, n_samples)
                for key, name in names.items()}
    wrong = [key for key, verdict in verdicts.items() if not verdict.passed]
    if not wrong:
        return PASS
    right = [key for key in names if key not in wrong]
    lines = []
    if len(names) > 1:
        summary = f"{len(wrong)} of {len(names)} {what} wrong: {', '.join(names[k] for k in wrong)}"
        summary += f"; right: {', '.join(names[k] for k in right)}." if right else "."
        lines.append(summary if not path else f"at {path}: {summary}")
    lines.append(verdicts[wrong[0]].message)
    pairs = []
    for i in wrong:
        a = numeric(actual[i])
        for j in names:
            e = numeric(expected[j])
            if j != i and a is not None and e is not None and a.shape == e.shape and a.size \
                    and not mismatch(a, e, rtol, atol).any():
                pairs.append((names[i], names[j]))
    hint = swapped_hint(pairs)
    if hint:
        lines.append(hint)
    return Verdict(False, "\n".join(lines))


def _close_list(actual: Any, expected: list, rtol: float, atol: float, path: str,
                n_samples: int | None = None) -> Verdict:
    if not isinstance(actual, list):
        return _at(path, Verdict(False, f"expected a list/tuple of {len(expected)} items, "
                                 f"got {short(actual)}."))
    if len(actual) != len(expected):
        return _at(path, Verdict(False, f"expected {len(expected)} items, got {len(actual)}."))
    names = {i: f"[{i}]" for i in range(len(expected))}
    return _parts_verdict(path, "items", names, actual, expected, rtol, atol, n_samples)


def _compare_text(actual: Any, expected: Any) -> Verdict:
    expected_arr = np.asarray(expected)
    actual_arr = np.asarray(actual) if isinstance(actual, (str, np.ndarray, list)) else None
    if actual_arr is None or actual_arr.dtype.kind != "U":
        return Verdict(False, f"expected text {short(expected)}, got {short(actual)}.")
    if actual_arr.shape != expected_arr.shape:
        return Verdict(False, f"expected shape {expected_arr.shape}, got {actual_arr.shape}.")
    if np.array_equal(actual_arr, expected_arr):
        return PASS
    message = f"expected {short(expected)}, got {short(actual)}."
    if np.array_equal(np.char.lower(actual_arr), np.char.lower(expected_arr)):
        message += "\nHint: they differ only in upper/lower case."
    elif np.array_equal(np.char.strip(actual_arr), np.char.strip(expected_arr)):
        message += "\nHint: they differ only in surrounding spaces."
    return Verdict(False, message)


def _at(path: str, verdict: Verdict) -> Verdict:
    if verdict.passed or not path:
        return verdict
    return Verdict(False, f"at {path}: {verdict.message}")


def _compare_arrays(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                    n_samples: int | None = None) -> Verdict:
    if expected.ndim == 0 and actual.size == 1:
        actual = actual.reshape(())  # one number may come as [x] or [[x]]
    if actual.shape != expected.shape:
        lines = [f"expected shape {expected.shape}, got shape {actual.shape}.",
                 f"  expected: {describe_array(expected)}",
                 f"  actual:   {describe_array(actual)}"]
        lines += shape_hints(actual, expected, rtol, atol)
        return Verdict(False, "\n".join(lines))
    bad = mismatch(actual, expected, rtol, atol)
    if not bad.any():
        return PASS
    if rtol == 0 and atol == 0:
        rule = "exact equality"
    else:
        rule = f"|actual - expected| <= {atol:g} + {rtol:g}*|expected|"
    lines = ["values differ from the expected ones.",
             f"  expected: {describe_array(expected)}",
             f"  actual:   {describe_array(actual)}",
             f"  {int(bad.sum())} of {bad.size} entries break {rule}; {_error_summary(actual, expected, bad)}"]
    lines += value_hints(actual, expected, rtol, atol, n_samples)
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


def judge_shape(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
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
        return Verdict(False, f"expected an array of shape {want}, got None.\n" + NONE_HINT)
    if not isinstance(actual, list) or not all(d is None or (type(d) is int and d >= 0) for d in actual):
        return Verdict(False, f"expected an array of shape {want}, got {short(actual)}.")
    if len(actual) == len(expected_shape) and all(
        e is None or a == e for a, e in zip(actual, expected_shape)
    ):
        return PASS
    got = tuple(actual)
    message = f"expected shape {want}, got shape {got}."
    hint = shape_only_hint(actual, expected_shape)
    return Verdict(False, message + ("\n" + hint if hint else ""))


def judge_probabilities(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """Entries in [0, 1] and sums along ``axis`` equal to 1 (within the tolerance rule)."""
    rtol, atol = tolerances(params)
    axis = params["axis"]
    if type(axis) is not int:
        raise ValueError("axis must be an int")
    special = _special_failure(actual)
    if special:
        return special
    if actual is None:
        return Verdict(False, "expected probabilities, got None.\n" + NONE_HINT)
    p = numeric(actual)
    if p is None:
        return Verdict(False, f"expected an array of probabilities, got {short(actual)}."
                       + type_hint(actual))
    if p.ndim == 0:
        return Verdict(False, "expected an array of probabilities, got one number "
                       f"({short_array(p)}); a distribution needs an axis to sum over.")
    if not -p.ndim <= axis < p.ndim:
        return Verdict(False, f"the probabilities have shape {p.shape}, which has no axis {axis}.")
    p = p.astype(np.float64)
    intro = f"not probabilities along axis {axis} (shape {p.shape}): {short_array(p)}"
    if not np.isfinite(p).all():
        return Verdict(False, intro + "\n" + nonfinite_hint(p, None, probabilities=True))
    sums = p.sum(axis=axis)
    if p.min() < -atol:
        hint = ("Hint: negative entries cannot be probabilities: these look like logits z; "
                "apply softmax (exp, then divide by the sum) or sigmoid.")
        return Verdict(False, f"{intro}\n  smallest entry {p.min():.4g} < 0.\n{hint}")
    bad = mismatch(sums, np.ones_like(sums), rtol, atol)
    if bad.any() or p.max() > 1 + atol + rtol:
        lines = [intro, f"  sums along axis {axis}: {short_array(sums)} (each should be 1)."]
        other = [ax for ax in range(p.ndim) if ax != axis % p.ndim]
        if other and any(rows_are_distributions(p, axis=ax) for ax in other):
            lines.append("Hint: your values sum to 1 along a different axis: the softmax "
                         f"normalised over the wrong axis; use axis={axis} with keepdims=True.")
        else:
            lines.append("Hint: divide by the sum along the class axis (keepdims=True) so "
                         "that each distribution sums to 1.")
        return Verdict(False, "\n".join(lines))
    return PASS


def judge_threshold(actual: Any, params: Mapping[str, Any], at_least: bool) -> Verdict:
    threshold = float(params["threshold"])
    if not math.isfinite(threshold):
        raise ValueError("the threshold must be a finite number")
    special = _special_failure(actual)
    if special:
        return special
    word = "at least" if at_least else "at most"
    if actual is None:
        return Verdict(False, f"expected a number {word} {threshold:g}, got None.\n" + NONE_HINT)
    arr = numeric(actual)
    if arr is None or arr.size != 1 or arr.dtype.kind == "b":
        return Verdict(False, f"expected one number {word} {threshold:g}, got {short(actual)}.")
    value = float(arr.reshape(-1)[0])
    if math.isnan(value):
        return Verdict(False, f"the value is NaN, so it is not {word} {threshold:g}.\n"
                       + scalar_nonfinite_hint(value))
    if (value >= threshold) if at_least else (value <= threshold):
        return PASS
    message = f"the value is {value:.6g}, but it must be {word} {threshold:g}."
    if math.isinf(value):
        message += "\n" + scalar_nonfinite_hint(value)
    elif at_least and 1 < threshold <= 100 and 0 <= value <= 1:
        message += ("\nHint: your value looks like a fraction but the threshold is a "
                    "percentage: multiply by 100.")
    return Verdict(False, message)


def judge_true(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    special = _special_failure(actual)
    if special:
        return special
    if actual is True:
        return PASS
    if actual is False:
        return Verdict(False, "the condition is False.")
    return Verdict(False, f"expected True or False, got {short(actual)}.")


def judge_forbidden(actual: Any, expected: Any, params: Mapping[str, Any]) -> Verdict:
    """``actual`` is the list of forbidden uses found (see ``calls``): it passes when empty."""
    special = _special_failure(actual)
    if special:
        return special
    if isinstance(actual, list) and not actual:
        return PASS
    if isinstance(actual, list) and all(isinstance(a, str) for a in actual):
        return Verdict(False, "it uses what this exercise asks you to write yourself:\n"
                       + "\n".join(f"  - {a}" for a in actual[:10])
                       + "\nRemove that call and write the computation with the operations the "
                         "exercise allows.")
    return Verdict(False, f"expected the list of forbidden calls found, got {short(actual)}.")


# Check name -> judge(actual, reference_value, params). Used in the kernel and by rejudge.
JUDGES: dict[str, Callable[[Any, Any, Mapping[str, Any]], Verdict]] = {
    "close": judge_close,
    "equal": judge_equal,
    "gradient": judge_close,
    "shape": judge_shape,
    "probabilities": judge_probabilities,
    "at_least": lambda a, e, p: judge_threshold(a, p, at_least=True),
    "at_most": lambda a, e, p: judge_threshold(a, p, at_least=False),
    "is_true": judge_true,
    "returns_value": judge_true,
    "raises": judge_true,
    "forbidden": judge_forbidden,
}


# Checks whose judge compares with the reference solution's recorded ``actual``.
COMPARES_WITH_REFERENCE = frozenset({"close", "equal", "gradient"})
