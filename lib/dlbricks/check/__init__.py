"""Assertions for exercise test cells, with messages a student can act on.

Every check raises ``AssertionError`` when it fails. The message says what was
checked (the ``label``), the expected and actual shape and a few values, the
largest error, and a hint when the mistake looks familiar: a transposed
result, a missing bias, a sum where a mean was wanted, a flipped sign, a
factor of 2, probabilities that do not sum to 1, NaN or inf (which kind, where,
and what that pattern points to), integer division, a wrong dtype, or a
function that returned ``None``. Checks print nothing: the message travels in
the exception only. (Demonstration cells use :func:`dlbricks.demo.demo_uses`.)

The package, one idea per module:

- ``checks``: the public checks (``close``, ``equal``, ``shape``, ...): capture the
  student's value, judge it, write the grading record, raise on failure;
- ``judges``: one pure function per check, ``(actual, expected, params) -> Verdict``;
- ``hints``: the sentences that name a familiar mistake, and when they may speak;
- ``tolerance``: the one tolerance rule (``numpy.isclose``'s);
- ``codec``: values as plain JSON (the record's format) and back;
- ``describe``: how values look in messages;
- ``rejudge``: deciding a student's record against the reference record;
- ``calls``: what ``forbidden`` reads: uses of ruled-out calls, in the source and while the
  function runs (the grader's parent reads the source the same way).

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

from ..demo import demo_uses
from .checks import (
    RECORD_ENV, at_least, at_most, close, equal, forbidden, gradient, is_true, probabilities, raises,
    returns_value, shape,
)
from .codec import MAX_RECORD_ELEMENTS, TooLarge, Unrecordable, decode_value, encode_value
from .judges import Verdict
from .notebook import also_at_grading, install as _install_notebook_hooks
from .rejudge import rejudge, rejudge_details
from .tolerance import DEFAULT_ATOL, DEFAULT_RTOL

__all__ = [
    "close", "equal", "shape", "probabilities", "at_least", "at_most", "is_true", "raises",
    "returns_value", "gradient", "forbidden", "demo_uses", "encode_value", "decode_value", "rejudge",
    "rejudge_details", "TooLarge", "Unrecordable", "DEFAULT_RTOL", "DEFAULT_ATOL",
    "RECORD_ENV", "MAX_RECORD_ELEMENTS", "Verdict", "also_at_grading",
]

_install_notebook_hooks()  # in IPython: short failures, a success line per checked cell
