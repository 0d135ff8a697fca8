"""Rejudging a student's record against the reference solution's, outside the kernel."""
from __future__ import annotations

import json
from typing import Any

from .codec import decode_value
from .judges import COMPARES_WITH_REFERENCE, JUDGES

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
        if check not in JUDGES:
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
        if check in COMPARES_WITH_REFERENCE:
            expected = decode_value(reference["actual"])
        verdict = JUDGES[check](actual, expected, params)
        label = str(reference.get("label", check))
        return verdict.passed, ("" if verdict.passed else f"{label}: {verdict.message}")
    except Exception as exc:  # never let a record crash the grader
        return False, f"the record could not be judged ({type(exc).__name__}: {exc})."


def rejudge(student_record: Any, reference_record: Any) -> bool:
    """True when the student's record passes given the reference record; never raises.

    See :func:`rejudge_details` for the message explaining a failure.
    """
    return rejudge_details(student_record, reference_record)[0]
