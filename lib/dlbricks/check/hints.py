"""Hints: recognise the usual mistakes from the values alone.

A hint names a cause only when the values are evidence for it (see the package's
docstring, "When hints speak"); each function returns its sentence or None.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..losses import sigmoid, softmax
from .describe import short_array
from .tolerance import allclose

NONE_HINT = (
    "Hint: the value is None. A function without a `return` statement returns None: "
    "check that your function ends with `return <result>` (and that no early `return` "
    "or a `print` took its place)."
)


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


def nonfinite_hint(actual: np.ndarray, expected: np.ndarray | None,
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
        probabilities = rows_are_distributions(e) and (e.ndim >= 2 or bool((e > 0).all()))
    causes = []
    if nan.any():
        causes.append(_nan_cause(a, e, nan, probabilities))
    if pinf.any():
        causes.append(_inf_cause(e, pinf))
    if ninf.any():
        causes.append(_NEG_INF_CAUSE)
    facts = _nonfinite_facts([(nan, "NaN"), (pinf, "inf"), (ninf, "-inf")])
    return f"Hint: your result has {facts}. " + " ".join(causes)


def scalar_nonfinite_hint(value: float) -> str:
    """For one number (a loss, an accuracy) that is NaN or inf: there is no pattern to read."""
    if math.isnan(value):
        return ("Hint: " + _NAN_SOURCES + " If this is a loss after training, the updates "
                "probably diverged: try a smaller learning rate.")
    if value > 0:
        return ("Hint: " + _inf_cause(None, None)
                + " If this is a loss after training, try a smaller learning rate.")
    return "Hint: " + _NEG_INF_CAUSE


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
        if allclose(actual, rounding(expected), rtol, atol):
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
    if not allclose(a, c * e, loose_rtol, loose_atol * max(1.0, abs(c))):
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
    # The wording names no idea of a later lesson: only what the numbers show.
    if _near(c, -1.0):
        return ("Hint: your result has the opposite sign of the expected one: a sign is flipped "
                "somewhere (a subtraction in the wrong order, or a minus sign lost or added).")
    if _near(c, 2.0) or _near(c, 0.5):
        which = "twice" if _near(c, 2.0) else "half"
        return (f"Hint: your result is {which} the expected value: a factor of 2 is off "
                "somewhere (a term counted twice, or a 2 or 1/2 left out).")
    if _near(c, -2.0) or _near(c, -0.5):
        return ("Hint: the result has the wrong sign and is off by a factor of 2: look for a "
                "flipped sign and a 2 (or 1/2) that is missing or extra.")
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
    if whose.startswith("every"):  # one factor shared by several different values: a pattern
        if abs(c) < 1:
            return (f"Hint: every entry is the expected one divided by the same number "
                    f"{1 / c:.4g}: a factor common to all of them is missing. In a chain rule "
                    "that is the outer derivative, which multiplies every partial derivative.")
        return (f"Hint: every entry is the expected one times the same number {c:.4g}: a "
                "factor common to all of them is extra (multiplied in once too often).")
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


def rows_are_distributions(p: np.ndarray, axis: int = -1) -> bool:
    if p.ndim == 0 or p.dtype.kind not in "biuf" or not np.isfinite(p).all():
        return False
    return bool((p >= -1e-9).all() and np.allclose(p.sum(axis=axis), 1.0, rtol=1e-5, atol=1e-6))


def _activation_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    """The student returned z where sigmoid(z) or softmax(z) was wanted."""
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return None
    if e.ndim >= 1 and rows_are_distributions(e) and not rows_are_distributions(a):
        uniform = np.all(np.ptp(e, axis=-1) <= 1e-12)  # softmax of any constant row is uniform
        if not uniform and allclose(softmax(a), e, max(rtol, 1e-6), max(atol, 1e-9)):
            return ("Hint: softmax of your result gives the expected probabilities: you "
                    "returned the logits z; apply softmax (exp, then divide by the row sum).")
        if a.ndim >= 2 and rows_are_distributions(a, axis=0):
            return ("Hint: your columns sum to 1 instead of your rows: the softmax normalised "
                    "over the wrong axis (use axis=-1 with keepdims=True).")
        sums = a.sum(axis=-1)
        if e.ndim >= 2:
            return ("Hint: the expected rows are probabilities that sum to 1, yours sum to "
                    f"{short_array(sums)}: divide by the sum over the last axis.")
        # One vector summing to 1 may be anything (weights, a split): only values that
        # are the expected ones times a constant show a missing normalisation.
        if (a >= 0).all() and sums > 0 and allclose(a / sums, e, max(rtol, 1e-6), max(atol, 1e-9)):
            return ("Hint: the expected values are probabilities that sum to 1; yours are "
                    f"proportional to them but sum to {short_array(sums)}: divide by their sum.")
    if ((e > 0) & (e < 1)).all() and _is_evident(expected):
        sig = sigmoid(a)
        if not ((a > 0) & (a < 1)).all() and allclose(sig, e, max(rtol, 1e-6), max(atol, 1e-9)):
            return ("Hint: sigmoid of your result gives the expected values: apply the "
                    "activation, sigmoid(z) = 1 / (1 + exp(-z)).")
    return None


def _transpose_hint(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if expected.ndim != 2:
        return None
    if actual.shape == expected.shape[::-1] and allclose(actual.T, expected, rtol, atol):
        if expected.shape[0] == expected.shape[1] and allclose(expected.T, expected, rtol, atol):
            return None
        return ("Hint: your result is the transpose of the expected one: check the order of "
                "a matrix product (X @ W, not W @ X; W has shape (inputs, units)) or a stray .T.")
    return None


def value_hints(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                 n_samples: int | None = None) -> list[str]:
    """Hints for a same-shape mismatch, most specific first; at most two."""
    hints: list[str] = []
    nonfinite = nonfinite_hint(actual, expected)
    if nonfinite:
        return [nonfinite]
    finders = (_transpose_hint, _truncation_hint, _activation_hint,
               lambda a, e, r, t: _scaled_hint(a, e, r, t, n_samples), _offset_hint)
    for finder in finders:
        found = finder(actual, expected, rtol, atol)
        if found:
            hints.append(found)
            break
    # A dtype hint only when nothing else explains the values: np.sum of booleans is an
    # integer, so "integer division" would mislead next to "a sum where a mean was wanted".
    dtype = _dtype_hint(actual, expected)
    if dtype and not hints:
        hints.append(dtype)
    return hints[:2]


def shape_hints(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> list[str]:
    a_shape, e_shape = actual.shape, expected.shape
    if expected.ndim == 2 and a_shape == e_shape[::-1]:
        if allclose(actual.T, expected, rtol, atol):
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
        if allclose(actual.reshape(e_shape), expected, rtol, atol):
            return ["Hint: the values are right but arranged in the wrong shape: reshape "
                    f"to {e_shape}."]
        return ["Hint: the number of entries is right but the shape is not: check reshape "
                "and transpose."]
    if expected.ndim == 0 and actual.size > 1:
        hint = ("Hint: an array came back where one number was expected: did you forget to "
                "reduce it (np.mean or np.sum)?")
        if actual.dtype.kind in "biuf" and np.isfinite(actual).all():
            if allclose(np.asarray(actual.mean()), expected, rtol, atol):
                hint += " The mean of your array is the expected value."
            elif allclose(np.asarray(actual.sum()), expected, rtol, atol):
                hint += " The sum of your array is the expected value."
        return [hint]
    if actual.ndim == 0 or (actual.size == 1 and expected.size > 1):
        return ["Hint: one number came back where an array was expected: did you sum or "
                "average over all axes? Pass axis=... to reduce only the axis you mean."]
    if actual.ndim == expected.ndim:
        return ["Hint: check the axis of a sum/mean/softmax and the shapes of the "
                "matrices in a product."]
    return []


def type_hint(actual: Any) -> str:
    if isinstance(actual, str):
        return "\nHint: you returned text; return the number itself (not a formatted string)."
    if isinstance(actual, dict):
        return "\nHint: you returned a dict; return the array itself."
    if isinstance(actual, list):
        return ("\nHint: the list could not be turned into one array of numbers (items of "
                "different lengths or types?).")
    return ""


def shape_only_hint(actual: list, expected: list) -> str | None:
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


def swapped_hint(pairs: list[tuple[str, str]]) -> str | None:
    """Parts holding the value another part should hold: ``pairs`` of (where, whose value)."""
    if not pairs:
        return None
    both = [(i, j) for i, j in pairs if (j, i) in pairs and i < j]
    if both:
        i, j = both[0]
        return (f"Hint: the values at {i} and {j} are swapped: each holds what the other "
                "should. In a backward rule: are the gradients returned in the order of the "
                "inputs, and does each input's gradient use the other input's value where a "
                "product needs it?")
    i, j = pairs[0]
    return (f"Hint: the value at {i} is the one expected at {j}: a part computed with the "
            "wrong input, or put in the wrong place?")
