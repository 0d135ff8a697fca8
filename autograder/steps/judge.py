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
- outside: the cell exported the same sequence of check records as the
  instructor's solution did, and ``dlbricks.check.rejudge`` accepts every one
  against the solution's record (it reads only the student's ``actual``).
When the kernel says "passed" but the outside judgement says no, something in
the kernel was tampered with (a monkeypatched comparison, a rigged ``__eq__``,
a hook that rewrote the test): the cell earns nothing and the submission is
flagged ``tampering``.
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


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    grade_id: str
    points: float
    max_points: float
    status: str  # passed | failed | not_run
    checks: list[CheckResult]
    error: str = ""  # "Name: message" of the error that stopped the cell, if any
    tampering: bool = False
    judged_outside: bool = True
    judged_in: str = "judge"  # "judge" | "student_kernel": where the test code ran

    @property
    def visible_failed(self) -> int:
        return sum(1 for c in self.checks if not c.hidden and not c.passed)

    @property
    def hidden_failed(self) -> int:
        return sum(1 for c in self.checks if c.hidden and not c.passed)

    def summary(self) -> str:
        """One sentence for the student about this test cell."""
        if self.status == "not_run":
            return "This test did not run (the notebook stopped before it)."
        if self.status == "passed":
            hidden = sum(1 for c in self.checks if c.hidden)
            return "All checks passed" + (f", including {hidden} hidden test{'s' * (hidden != 1)}." if hidden else ".")
        if self.tampering and self.judged_in == "student_kernel":
            return ("The checks reported success inside the notebook, but the values they exported "
                    "do not match the solution's: no points.")
        n_hidden = self.hidden_failed
        if self.visible_failed == 0 and n_hidden:
            return f"Visible checks passed, {n_hidden} hidden test{'s' * (n_hidden != 1)} failed."
        if self.visible_failed and n_hidden:
            return (f"{self.visible_failed} visible check{'s' * (self.visible_failed != 1)} and "
                    f"{n_hidden} hidden test{'s' * (n_hidden != 1)} failed.")
        if self.visible_failed:
            return f"{self.visible_failed} visible check{'s' * (self.visible_failed != 1)} failed."
        return "The test stopped with an error." if self.error else "The test failed."


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
        checks = [CheckResult(str(r.get("label", r.get("check", "check"))), s["hidden"], False, "not run")
                  for s in ref_segments for r in s["records"]]
        return TestResult(grade_id, 0.0, points, "not_run", checks)
    if cell.segments and all(s.judge for s in cell.segments):
        return judged_by_the_judge(grade_id, points, ref_segments, cell)
    error = _error_text(cell)
    kernel_ok = cell.status == "ok" and all(s.status == "ok" for s in cell.segments)
    patched = any(s.tampered for s in cell.segments)  # the check library was replaced at some point
    untrusted = any(not s.trusted for s in cell.segments if s.status not in ("timeout", "deadline", "died"))
    checks: list[CheckResult] = []
    outside_ok = True
    n_reference = 0
    for j, ref in enumerate(ref_segments):
        seg = cell.segments[j] if j < len(cell.segments) else None
        got = seg.records if seg is not None else []
        if seg is not None and (seg.records_overflow or len(got) > len(ref["records"])):
            outside_ok = False  # more results than the tests make: not the tests' own records
        for k, ref_record in enumerate(ref["records"]):
            n_reference += 1
            label = str(ref_record.get("label", ref_record.get("check", "check")))
            if k < len(got):
                passed, message = rejudge_details(got[k], ref_record)
                message = message[len(label) + 2:] if message.startswith(label + ": ") else message
            else:
                passed = False
                message = f"not reached: the test stopped at {error}" if error else "no result was recorded"
            outside_ok = outside_ok and passed
            checks.append(CheckResult(label, bool(ref["hidden"]), passed, message))
    if n_reference == 0:
        # The solution's test makes no dlbricks.check call: only the kernel can say.
        passed_cell = kernel_ok
        return TestResult(grade_id, points if passed_cell else 0.0, points,
                          "passed" if passed_cell else "failed", checks, error, judged_outside=False)
    if untrusted:
        # Records written while dlbricks.check was replaced prove nothing.
        outside_ok = False
        checks = [CheckResult(c.label, c.hidden, False, "not counted: dlbricks.check was replaced during this test")
                  for c in checks]
    passed_cell = kernel_ok and outside_ok
    tampering = (kernel_ok and not outside_ok) or patched
    return TestResult(grade_id, points if passed_cell else 0.0, points,
                      "passed" if passed_cell else "failed", checks, error, tampering,
                      judged_in="student_kernel")


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
                checks.append(CheckResult(_label(ref_record), seg.hidden, False, stopped))
        passed_all = passed_all and seg_ok
    if len(cell.segments) < len(ref_segments):
        passed_all = False
        for ref in ref_segments[len(cell.segments):]:
            checks += [CheckResult(_label(r), bool(ref["hidden"]), False, "not run") for r in ref["records"]]
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
    return Judgement(tests, flags)


def judgement_from_dict(data: dict[str, Any]) -> Judgement:
    tests = []
    for t in data["tests"]:
        checks = [CheckResult(**c) for c in t["checks"]]
        tests.append(TestResult(t["grade_id"], t["points"], t["max_points"], t["status"], checks,
                                t.get("error", ""), t.get("tampering", False), t.get("judged_outside", True),
                                t.get("judged_in", "judge")))
    return Judgement(tests, list(data.get("flags", [])))
