"""Step 4: execute the planned cells in the sandbox and read back what happened.

Everything that comes back was produced inside the sandbox and is untrusted:
it is parsed into a fixed shape here (unknown statuses, malformed outputs and
records are dropped or marked), and nothing in it is ever executed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..sandbox import RunSettings, run_cells

CELL_STATUSES = ("ok", "error", "timeout", "deadline", "died")
MEMORY_ERRORS = ("MemoryError", "_ArrayMemoryError", "ResourceExhaustedError", "OutOfMemoryError")
# What a kernel's stderr says when an allocation failed in C code that then exits or aborts
# (OpenBLAS, TensorFlow, the C++ runtime, glibc, CPython's fatal errors).
MEMORY_WORDS = re.compile(r"MemoryError|Cannot allocate memory|[Mm]emory allocation|bad_alloc|[Oo]ut of memory"
                          r"|ResourceExhausted|[Ff]ailed to allocate|OOM")


@dataclass
class SegmentResult:
    hidden: bool
    test: bool
    status: str
    error: dict | None
    records: list
    records_overflow: bool = False
    guard_before: list[str] | None = field(default_factory=list)  # check parts found replaced (None: guard failed)
    guard_after: list[str] | None = field(default_factory=list)
    judge: bool = False  # run by the judge process (its records are the verdict), not in the student's kernel

    @property
    def trusted(self) -> bool:
        """The segment ran with the real dlbricks.check from start to end."""
        return self.guard_before is not None and self.guard_after == []

    @property
    def tampered(self) -> bool:
        return not self.trusted or bool(self.guard_before)


@dataclass
class CellResult:
    index: int
    status: str
    segments: list[SegmentResult]
    outputs: list[dict]
    truncated: bool
    seconds: float


@dataclass
class ExecutionReport:
    """What the sandbox reported for one notebook."""

    cells: dict[int, CellResult]
    end_status: str  # completed | kernel_died | timeout | deadline | kernel_failed | runner_error | lost
    started: bool  # the kernel came up (so anything after is the notebook's doing)
    returncode: int | None = None
    signal: str | None = None
    message: str = ""
    wall_seconds: float = 0.0
    flags: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # CPU time the kernel used (known once it ended)
    stderr_tail: str = ""  # the end of what a kernel that failed wrote to its stderr (untrusted)


def _text(value: Any, limit: int = 20000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _outputs(raw: Any) -> list[dict]:
    out: list[dict] = []
    for o in raw if isinstance(raw, list) else []:
        if not isinstance(o, dict):
            continue
        kind = o.get("output_type")
        if kind == "stream":
            out.append({"output_type": "stream", "name": "stderr" if o.get("name") == "stderr" else "stdout",
                        "text": _text(o.get("text"), 2**20)})
        elif kind in ("display_data", "execute_result") and isinstance(o.get("data"), dict):
            data = {k: v for k, v in o["data"].items()
                    if k in ("text/plain", "image/png", "text/html") and isinstance(v, str)}
            item = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                item["execution_count"] = o.get("execution_count") if isinstance(o.get("execution_count"), int) else None
            out.append(item)
        elif kind == "error":
            tb = o.get("traceback") if isinstance(o.get("traceback"), list) else []
            out.append({"output_type": "error", "ename": _text(o.get("ename"), 200),
                        "evalue": _text(o.get("evalue"), 4000), "traceback": [_text(t, 4000) for t in tb[:60]]})
    return out


def _segment(raw: Any) -> SegmentResult:
    raw = raw if isinstance(raw, dict) else {}
    error = raw.get("error") if isinstance(raw.get("error"), dict) else None
    if error is not None:
        error = {"ename": _text(error.get("ename"), 200), "evalue": _text(error.get("evalue"), 4000)}
    records = raw.get("records") if isinstance(raw.get("records"), list) else []
    status = raw.get("status") if raw.get("status") in CELL_STATUSES else "error"
    return SegmentResult(bool(raw.get("hidden")), bool(raw.get("test")), status, error, records,
                         bool(raw.get("records_overflow")), _guard(raw.get("guard_before"), status),
                         _guard(raw.get("guard_after"), status), raw.get("judge") is True)


def _guard(value: Any, status: str) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v[:100] for v in value[:50]]
    # No answer after a segment that timed out or killed the kernel is expected, not tampering.
    return [] if value is None and status in ("timeout", "deadline", "died") else None


def parse_events(events: list[dict], planned: set[int]) -> dict[int, CellResult]:
    """Cell results by index, keeping only cells that were planned (first report wins)."""
    cells: dict[int, CellResult] = {}
    for e in events:
        if e.get("event") != "cell" or not isinstance(e.get("index"), int):
            continue
        index = e["index"]
        if index not in planned or index in cells:
            continue
        segments = [_segment(s) for s in (e.get("segments") if isinstance(e.get("segments"), list) else [])]
        status = e.get("status") if e.get("status") in CELL_STATUSES else "error"
        seconds = e.get("seconds") if isinstance(e.get("seconds"), (int, float)) else 0.0
        cells[index] = CellResult(index, status, segments, _outputs(e.get("outputs")),
                                  bool(e.get("truncated")), float(seconds))
    return cells


def execution_flags(report: ExecutionReport, cpu_limit: float = float("inf")) -> list[str]:
    """What the instructor should know about how the execution went."""
    flags: list[str] = []
    statuses = {c.status for c in report.cells.values()}
    if statuses & {"timeout", "deadline"} or report.end_status in ("timeout", "deadline"):
        flags.append("timeout")
    errors = [s.error for c in report.cells.values() for s in c.segments if s.error]
    if any(e["ename"] in MEMORY_ERRORS for e in errors):
        flags.append("memory_limit")
    if report.end_status == "kernel_died" or "died" in statuses:
        out_of_cpu = report.signal == "SIGXCPU" or (
            report.signal == "SIGKILL" and report.cpu_seconds >= cpu_limit - 1)
        if out_of_cpu:
            flags += ["kernel_died", "cpu_limit"]
        elif "memory_limit" in flags or MEMORY_WORDS.search(report.stderr_tail) or \
                report.signal in ("SIGKILL", "SIGABRT"):
            # Out of memory, said as such: a native allocation failure (TensorFlow, OpenBLAS, numpy
            # internals) aborts or exits instead of raising, and the memory cgroup kills with SIGKILL.
            if "memory_limit" not in flags:
                flags.append("memory_limit")
        else:
            flags.append("kernel_died")
            if report.signal in ("SIGSEGV", "SIGBUS"):  # maybe a failed allocation used anyway
                flags.append("memory_limit")
    if any(c.truncated for c in report.cells.values()):
        flags.append("output_truncated")
    if report.started and report.end_status in ("lost", "runner_error"):
        flags.append("sandbox_crashed")
    return flags


def execute_plan(plan: list[dict], settings: RunSettings) -> ExecutionReport:
    """Run ``plan`` (see :func:`autograder.steps.plan.execution_plan`) in a fresh sandbox."""
    request = [{k: c[k] for k in ("index", "where", "setup", "segments") if k in c} for c in plan]
    outcome = run_cells(request, settings)
    started = any(e.get("event") == "ready" for e in outcome.events)
    end = outcome.end or {}
    end_status = end.get("status") if isinstance(end.get("status"), str) else "lost"
    message = _text(end.get("message"), 2000)
    if outcome.killed:
        end_status, message = "deadline", "the sandbox was killed at its wall-clock limit"
    if not started and not message:
        message = outcome.stderr[-2000:]
    cells = parse_events(outcome.events, {c["index"] for c in plan})
    sig = end.get("signal") if isinstance(end.get("signal"), str) else None
    cpu = end.get("cpu_seconds")
    report = ExecutionReport(cells, end_status, started,
                             end.get("returncode") if isinstance(end.get("returncode"), int) else None,
                             sig, message, outcome.wall_seconds,
                             cpu_seconds=float(cpu) if isinstance(cpu, (int, float)) else 0.0,
                             stderr_tail=_text(end.get("stderr_tail"), 4096))
    report.flags = execution_flags(report, settings.limits.cpu_seconds)
    if outcome.oom_kills:  # the sandbox's cgroup killed a process: out of memory, not a crash
        report.flags = [f for f in report.flags if f != "kernel_died"]
        if "memory_limit" not in report.flags:
            report.flags.append("memory_limit")
    if outcome.problems:  # lines the parent refused (too large, too deep): that output was cut
        report.message = "; ".join([report.message, *outcome.problems]).strip("; ")[:2000]
        if "output_truncated" not in report.flags:
            report.flags.append("output_truncated")
    return report
