"""Step 5, in the trusted parent: each test's verdict.

A test run by the judge process (the usual case) is decided there: the judge
ran the master's test code with ``dlbricks.check`` on its own copies of the
student's values, and its check records and status are the verdict. The
tampering guard's findings in the student's kernel only raise the
``tampering`` flag for the instructor; they change no points.

A test marked "judged in the student's kernel" ran next to the student's code,
so its outcome is re-decided here from exported values, not the kernel's word.
Such a test cell earns its points only when both agree:
- in the kernel: every segment of the cell ran without an error;
- outside: each check record the cell exported is accepted by
  ``dlbricks.check.rejudge`` against the solution's record of the same check
  (same kind, same label: a test that loops over returned values may make more
  of them), and every check the solution made was made.
When the kernel says "passed" but the outside judgement says no, the test made
other checks than the solution, or computed its expected values from the
student's own variables: the cell earns nothing, its checks say which, and the
submission is flagged ``differs_from_solution`` for the instructor to review.

``tampering`` needs evidence: a guard that found ``dlbricks.check`` replaced
(or was itself silenced) around a test. An honest mistake (a test that stopped
early, a test that made other checks than the solution's) is never called that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlbricks.check import rejudge_details

from ..master import MasterNotebook
from .execute import CellResult, ExecutionReport
from .forbidden import enforce as enforce_forbidden

# reference[grade_id] = [{"hidden": bool, "records": [record, ...]}, ...] (one per segment)
Reference = dict[str, list[dict]]


@dataclass
class CheckResult:
    label: str
    hidden: bool
    passed: bool
    message: str  # empty when passed
    ran: bool = True  # False: an earlier failure stopped the test before this check


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    grade_id: str
    points: float
    max_points: float
    status: str  # passed | failed | not_run
    checks: list[CheckResult]
    error: str = ""  # "Name: message" of the error that stopped the cell, if any
    tampering: bool = False  # evidence only: dlbricks.check found replaced around this test
    judged_outside: bool = True
    judged_in: str = "judge"  # "judge" | "student_kernel": where the test code ran
    differs: str = ""  # in the student's kernel: how its checks differ from the solution's (none: "")

    def _count(self, hidden: bool, ran: bool) -> int:
        return sum(1 for c in self.checks if c.hidden == hidden and not c.passed and c.ran == ran)

    @property
    def visible_failed(self) -> int:
        return self._count(False, True)

    @property
    def hidden_failed(self) -> int:
        return self._count(True, True)

    @property
    def not_reached(self) -> int:
        """Checks an earlier failure kept from running (never counted as failed)."""
        return sum(1 for c in self.checks if not c.ran)

    def summary(self) -> str:
        """One sentence for the student about this test cell."""
        if self.status == "not_run":
            return "This test did not run (the notebook stopped before it)."
        if self.status == "passed":
            hidden = sum(1 for c in self.checks if c.hidden)
            return "All checks passed" + (f", including {hidden} hidden test{'s' * (hidden != 1)}." if hidden else ".")
        if self.tampering and self.judged_in == "student_kernel":
            return ("dlbricks.check was replaced while this test ran in your notebook, so its "
                    "results cannot be counted: no points.")
        if self.differs:
            return (f"The checks passed in your notebook, but this test is judged against the solution's "
                    f"values and {self.differs}: no points (your instructor can review it).")
        parts = []
        visible, hidden = self.visible_failed, self.hidden_failed
        if visible:
            parts.append(f"{visible} visible check{'s' * (visible != 1)} failed")
        elif any(not c.hidden for c in self.checks) and all(c.passed for c in self.checks if not c.hidden):
            parts.append("visible checks passed")
        if hidden:
            parts.append(f"{hidden} hidden test{'s' * (hidden != 1)} failed")
        text = ", ".join(parts)
        skipped = self.not_reached
        if skipped:
            stopped_by_failure = self.error.startswith("AssertionError") and bool(visible or hidden)
            # only the exception's name: its message may come from a hidden test
            where = f" at {self.error.split(':', 1)[0]}" if self.error and not stopped_by_failure else ""
            later = (f"{skipped} later check{'s' * (skipped != 1)}" if any(not c.hidden for c in self.checks if not c.ran)
                     else f"{skipped} hidden test{'s' * (skipped != 1)}")
            stop = f"the test stopped{where}, so {later} did not run"
            text = f"{text}; {stop}" if text else stop
        if not text:
            return "The test stopped with an error." if self.error else "The test failed."
        return text[0].upper() + text[1:] + "."


@dataclass
class Judgement:
    tests: list[TestResult]
    flags: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return float(sum(t.points for t in self.tests))

    @property
    def max_score(self) -> float:
        return float(sum(t.max_points for t in self.tests))


def reference_from_report(report: ExecutionReport, plan: list[dict]) -> tuple[Reference, list[str]]:
    """The solution's check records per test cell, and the problems found in the solution run."""
    reference: Reference = {}
    problems: list[str] = []
    by_index = {c["index"]: c for c in plan}
    for index, planned in by_index.items():
        gid = planned.get("grade_id")
        if gid is None:
            continue
        cell = report.cells.get(index)
        if cell is None:
            problems.append(f"test cell {gid} did not run ({report.end_status} {report.message})".strip())
            continue
        if cell.status != "ok":
            err = next((s.error for s in cell.segments if s.error), None)
            problems.append(f"test cell {gid} fails on the solution: {cell.status}"
                            + (f" ({err['ename']}: {err['evalue'][:300]})" if err else ""))
        segs = []
        for seg in cell.segments:
            bad = [r for r in seg.records if not isinstance(r, dict) or r.get("passed") is not True]
            if bad:
                problems.append(f"test cell {gid}: a check of the solution itself did not pass")
            segs.append({"hidden": seg.hidden, "records": seg.records})
        reference[gid] = segs
    return reference, problems


def _error_text(cell: CellResult) -> str:
    err = next((s.error for s in cell.segments if s.error), None)
    if err:
        evalue = err["evalue"].strip().splitlines()[0][:300] if err["evalue"].strip() else ""
        return f"{err['ename']}: {evalue}" if evalue else err["ename"]
    if cell.status in ("timeout", "deadline"):
        return "the test ran out of time"
    if cell.status == "died":
        return "the kernel died during the test"
    return ""


def judge_test(grade_id: str, points: float, ref_segments: list[dict], cell: CellResult | None) -> TestResult:
    """Judge one test cell from its records and the reference records (see the module doc)."""
    if cell is None:
        checks = [CheckResult(str(r.get("label", r.get("check", "check"))), s["hidden"], False, "not run",
                              ran=False) for s in ref_segments for r in s["records"]]
        return TestResult(grade_id, 0.0, points, "not_run", checks)
    if cell.segments and all(s.judge for s in cell.segments):
        return judged_by_the_judge(grade_id, points, ref_segments, cell)
    return judged_in_the_kernel(grade_id, points, ref_segments, cell)


def _key(record: Any) -> tuple[str, str]:
    return (str(record.get("check", "")), _label(record)) if isinstance(record, dict) else ("", "")


def judged_in_the_kernel(grade_id: str, points: float, ref_segments: list[dict], cell: CellResult) -> TestResult:
    """Re-decide a test that ran in the student's kernel from the records it exported.

    Each exported record is matched with the solution's record of the same
    check and label (the one at the same place when it is that check, else
    the first such), and rejudged against it. See the module doc for the verdict.
    """
    error = _error_text(cell)
    kernel_ok = cell.status == "ok" and all(s.status == "ok" for s in cell.segments)
    patched = any(s.tampered for s in cell.segments)  # the check library was replaced at some point
    untrusted = any(not s.trusted for s in cell.segments if s.status not in ("timeout", "deadline", "died"))
    checks: list[CheckResult] = []
    outside_ok = True
    n_reference = 0
    missing = unmatched = mismatched = 0
    for j, ref in enumerate(ref_segments):
        seg = cell.segments[j] if j < len(cell.segments) else None
        got = seg.records if seg is not None else []
        refs = ref["records"]
        n_reference += len(refs)
        if seg is not None and (seg.records_overflow or len(got) > 10 * max(len(refs), 10)):
            outside_ok = False  # far more results than the tests make: not the tests' own records
        made: set[int] = set()
        for k, record in enumerate(got):
            match = k if k < len(refs) and _key(refs[k]) == _key(record) else \
                next((i for i, r in enumerate(refs) if _key(r) == _key(record)), None)
            if match is None:
                unmatched += 1
                outside_ok = False
                checks.append(CheckResult(_label(record), bool(ref["hidden"]), False,
                                          "a check the solution's run did not make"))
                continue
            made.add(match)
            label = _label(refs[match])
            passed, message = rejudge_details(record, refs[match])
            message = message[len(label) + 2:] if message.startswith(label + ": ") else message
            if not passed:
                mismatched += 1
                message = f"your value differs from the solution's: {message}"
            outside_ok = outside_ok and passed
            checks.append(CheckResult(label, bool(ref["hidden"]), passed, message))
        for i, ref_record in enumerate(refs):
            if i in made:
                continue
            outside_ok = False
            if not kernel_ok:
                stopped = f"not reached: the test stopped at {error}" if error else "not reached"
                checks.append(CheckResult(_label(ref_record), bool(ref["hidden"]), False, stopped, ran=False))
            else:
                missing += 1
                checks.append(CheckResult(_label(ref_record), bool(ref["hidden"]), False,
                                          "the test made this check on the solution but not on your answer"))
    if n_reference == 0:
        # The solution's test makes no dlbricks.check call: only the kernel can say.
        passed_cell = kernel_ok and not untrusted
        return TestResult(grade_id, points if passed_cell else 0.0, points,
                          "passed" if passed_cell else "failed", checks, error, patched,
                          judged_outside=False, judged_in="student_kernel")
    if untrusted:
        # Records written while dlbricks.check was replaced prove nothing.
        outside_ok = False
        checks = [CheckResult(c.label, c.hidden, False, "not counted: dlbricks.check was replaced during this test",
                              ran=c.ran) for c in checks]
    passed_cell = kernel_ok and outside_ok
    differs = ""
    if kernel_ok and not outside_ok and not patched:
        reasons = []
        if mismatched:
            reasons.append(f"{mismatched} of your values differ{'s' * (mismatched == 1)} from the solution's "
                           "(a test whose expected value is computed from your own variables does that)")
        if missing:
            made_n = n_reference - missing
            reasons.append(f"the test made fewer checks than the solution ({made_n} of {n_reference} of its checks)")
        if unmatched:
            reasons.append(f"the test made {unmatched} check{'s' * (unmatched != 1)} the solution did not make")
        differs = "; ".join(reasons) or "its records differ from the solution's"
    return TestResult(grade_id, points if passed_cell else 0.0, points,
                      "passed" if passed_cell else "failed", checks, error, patched,
                      judged_in="student_kernel", differs=differs)


def _label(record: Any) -> str:
    return str(record.get("label", record.get("check", "check"))) if isinstance(record, dict) else "check"


def judged_by_the_judge(grade_id: str, points: float, ref_segments: list[dict], cell: CellResult) -> TestResult:
    """The judge's verdict on one test: every segment ran without an error and every check passed.

    The records came from ``dlbricks.check`` in the judge process. The
    reference (the solution's records) only names the checks a failed segment
    did not reach.
    """
    error = _error_text(cell)
    checks: list[CheckResult] = []
    passed_all = cell.status == "ok"
    for j, seg in enumerate(cell.segments):
        seg_ok = seg.status == "ok"
        records = [r for r in seg.records if isinstance(r, dict)]
        for k, record in enumerate(records):
            passed = record.get("passed") is True
            message = ""
            if not passed:
                message = "failed"
                if seg.error and k == len(records) - 1:
                    message = seg.error["evalue"].strip()
                    label = _label(record)
                    message = message[len(label) + 2:] if message.startswith(label + ": ") else message
            checks.append(CheckResult(_label(record), seg.hidden, passed, message))
            seg_ok = seg_ok and passed
        if len(records) != len(seg.records):
            seg_ok = False
        ref = ref_segments[j]["records"] if j < len(ref_segments) else []
        if seg.status != "ok":
            stopped = (f"not reached: the test stopped at {error}" if error else "not reached")
            for ref_record in ref[len(records):]:
                checks.append(CheckResult(_label(ref_record), seg.hidden, False, stopped, ran=False))
        passed_all = passed_all and seg_ok
    if len(cell.segments) < len(ref_segments):
        passed_all = False
        for ref in ref_segments[len(cell.segments):]:
            checks += [CheckResult(_label(r), bool(ref["hidden"]), False, "not run: the test stopped before it",
                                   ran=False) for r in ref["records"]]
    flagged = any(s.guard_before for s in cell.segments) or any(s.guard_before is None for s in cell.segments)
    return TestResult(grade_id, points if passed_all else 0.0, points, "passed" if passed_all else "failed",
                      checks, error, tampering=flagged, judged_in="judge")


def judge(report: ExecutionReport, plan: list[dict], master: MasterNotebook, reference: Reference) -> Judgement:
    """Judge every test of ``master`` for one executed submission."""
    cell_of: dict[str, CellResult | None] = {}
    for planned in plan:
        gid = planned.get("grade_id")
        if gid is not None:
            cell_of[gid] = report.cells.get(planned["index"])
    tests = [judge_test(t.grade_id, t.points, reference.get(t.grade_id, []), cell_of.get(t.grade_id))
             for t in master.tests]
    # Forbidden calls, read from the submitted source here in the parent (see steps/forbidden.py:
    # enforce(tests, plan, master) -> tests; it reads only the plan's student cells and the master).
    tests = enforce_forbidden(tests, plan, master)
    flags = list(report.flags)
    if any(t.tampering for t in tests):
        flags.append("tampering")
    if any(t.differs for t in tests):
        flags.append("differs_from_solution")
    return Judgement(tests, flags)


def judgement_from_dict(data: dict[str, Any]) -> Judgement:
    tests = []
    for t in data["tests"]:
        checks = [CheckResult(**c) for c in t["checks"]]
        tests.append(TestResult(t["grade_id"], t["points"], t["max_points"], t["status"], checks,
                                t.get("error", ""), t.get("tampering", False), t.get("judged_outside", True),
                                t.get("judged_in", "judge"), t.get("differs", "")))
    return Judgement(tests, list(data.get("flags", [])))
