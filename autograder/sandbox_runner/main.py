"""The runner: execute one notebook inside the sandbox, the student's cells in a kernel, the tests in the judge.

This package runs *inside* the sandbox (bubblewrap) as its own program: it
imports nothing from the ``autograder`` package, which the sandbox does not
contain.

Protocol (plain JSON, never pickle)
-----------------------------------
stdin: one JSON object, the *request*::

    {"cells": [{"index": 3, "where": "student" | "judge",
                "setup": [{"code": "...", "reads": ["name", ...]}],      (judge cells only)
                "segments": [{"code": "...", "hidden": false, "test": true,
                              "reads": ["name", ...]}, ...]}, ...],
     "timeout": 30.0, "deadline": 300.0, "startup_timeout": 90.0,
     "limits": {"memory_mb": 3072, "nproc": 256, "cpu_seconds": 600,
                "fsize_mb": 64, "nofile": 1024},
     "output": {"cell_bytes": 262144, "total_bytes": 2000000},
     "drop_uid": 61234 or null, "workdir": "/home/student",
     "kernel_env": {...}, "record_env": "DLBRICKS_CHECK_RECORD"}

A ``student`` cell runs in the student's kernel: the submission's own cells,
and the few tests marked "judged in the student's kernel" (as segments, with
the check records they write and a tampering guard around them). A ``judge``
cell is a test run by the judge process (:mod:`.judge_process`): first the
master's lesson-state cells it needs (``setup``), then its segments; the names
in ``reads`` are fetched from the student's kernel through the proxy channel.
The student's kernel never receives a judge cell's code.

stdout: one JSON line per event, flushed as it happens, so that the parent
keeps everything done before a crash: ``{"event": "ready"}``, one
``{"event": "cell", ...}`` per executed cell, and ``{"event": "end", ...}``.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
import time

from .channel import JudgeGone, JudgeProcess, ProxyTrace, run_in_judge
from .guard import guard_checks
from .kernel import StudentKernel
from .limits import drop_privileges, make_undumpable
from .outputs import CellOutputs, OutputBudget
from .records import RecordReader
from .student_side import install_code


def emit(event: dict) -> None:
    """Write one protocol line to stdout and flush it."""
    sys.stdout.write(json.dumps(event, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


def marked(segment: dict) -> str:
    """A segment's code as the kernel runs it: a hidden block keeps nbgrader's markers around it,
    so that ``dlbricks.check``'s success line counts the visible checks only."""
    if segment.get("hidden"):
        return f"### BEGIN HIDDEN TESTS\n{segment['code']}\n### END HIDDEN TESTS"
    return segment["code"]


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Evaluated in the student's kernel after a time-out was interrupted: the names under which the
# namespace holds the functions whose frames the interrupted traceback went through.
STRUCK_EXPRESSION = (
    "sorted({_n for _n, _v in list(get_ipython().user_ns.items()) if not _n.startswith('_') "
    "and getattr(_v, '__code__', None) in {_f.f_code for _f, _ in __import__('traceback').walk_tb("
    "getattr(__import__('sys'), 'last_traceback', None))}})")


def names_run(code: str) -> set[str]:
    """The names ``code`` uses when it runs: those inside a ``def`` or ``lambda`` body only count
    when it is called (a cell that defines ``mean_of`` with ``total`` inside does not call ``total``).
    Code that is not plain Python (IPython magics) counts every word."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set(IDENTIFIER.findall(code))
    names: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                # decorators and defaults run now; the body runs when called
                stack.extend(getattr(child, "decorator_list", []))
                stack.extend(child.args.defaults + [d for d in child.args.kw_defaults if d is not None])
            else:
                stack.append(child)
    return names


def struck_timeout(timeout: float) -> float:
    """The time a cell gets when it calls a function that already ran out of time: a tenth of
    the limit, at least 5 s (enough for a small input), at most 30 s."""
    return max(5.0, min(30.0, timeout / 10))


class Notebook:
    """One run: the student's kernel, the judge (when a test needs it), budgets and clocks."""

    def __init__(self, request: dict) -> None:
        self.request = request
        self.workdir = request["workdir"]
        self.timeout = float(request["timeout"])
        self.deadline = float(request["deadline"])
        self.started = time.monotonic()
        self.budget = OutputBudget(request["output"]["cell_bytes"], request["output"]["total_bytes"])
        self.record_path = os.path.join(self.workdir, ".records", "checks.jsonl")
        os.makedirs(os.path.dirname(self.record_path), exist_ok=True)
        self.env = dict(request["kernel_env"])
        self.env["HOME"] = self.workdir
        self.judge: JudgeProcess | None = None
        self.judge_broken = ""
        self.kernel: StudentKernel | None = None
        self.cell_timeout = self.timeout  # shorter for a cell that calls a function that ran out of time
        self.struck: set[str] = set()  # the student's functions that a time-out interrupted

    def left(self, cell_start: float) -> float:
        now = time.monotonic()
        return min(self.cell_timeout - (now - cell_start), self.deadline - (now - self.started))

    # -- functions that ran out of time ------------------------------------------------
    def note_struck(self) -> None:
        """After a time-out was interrupted: the functions of the kernel's namespace that were running."""
        if self.kernel is None or not self.kernel.alive():
            return
        result = self.kernel.execute("", store_history=False, outputs=None, timeout=10.0, silent=True,
                                     user_expressions={"struck": STRUCK_EXPRESSION})
        try:
            text = result["user_expressions"]["struck"]["data"]["text/plain"]
            names = ast.literal_eval(text) if isinstance(text, str) and len(text) < 100_000 else []
        except (KeyError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError):
            return
        if isinstance(names, list):
            self.struck.update(n for n in names[:100] if isinstance(n, str) and n.isidentifier())

    def limit_for(self, cell: dict, outputs: CellOutputs) -> None:
        """A cell that names a function that already ran out of time gets a short time limit, not the full one."""
        self.cell_timeout = self.timeout
        if not self.struck:
            return
        code = "\n".join(str(p.get("code", "")) for p in [*cell.get("setup", []), *cell.get("segments", [])])
        named = sorted(self.struck & names_run(code))
        if not named:
            return
        self.cell_timeout = min(self.timeout, struck_timeout(self.timeout))
        outputs.stream("stderr", (
            f"[autograder] {', '.join(named)} ran out of time in an earlier cell, so this cell gets "
            f"{self.cell_timeout:g} s instead of {self.timeout:g} s\n"))

    def start(self) -> str | None:
        """Start the judge and the kernel side by side (their start-ups overlap); an end status on failure.

        No student code runs before both are ready: the kernel process starts
        empty, and the judge makes itself undumpable before it reads anything.
        """
        startup = float(self.request.get("startup_timeout", 90))
        if any(c.get("where") == "judge" for c in self.request["cells"]):
            # The judge's output is dropped: it draws no figures (the student's kernel keeps them, inline).
            self.judge = JudgeProcess(self.workdir, dict(self.env, MPLBACKEND="Agg"), self.request["limits"])
        kernel_env = dict(self.env)
        kernel_env[self.request.get("record_env", "DLBRICKS_CHECK_RECORD")] = self.record_path
        self.kernel = StudentKernel(self.workdir, kernel_env, self.request["limits"])
        if self.judge is not None and not self.judge.wait_ready(startup):
            # The grader's failure, not the notebook's (no student code has run): no grade.
            self.judge.kill()
            self.judge_broken = "the judge process did not start"
            return "kernel_failed"
        if not self.kernel.wait_ready(startup):
            return "kernel_failed"
        if self.judge is not None:
            installed = self.kernel.execute(install_code(), store_history=False, outputs=None,
                                            timeout=startup, silent=True)
            if installed["status"] != "ok":
                return "kernel_failed"
        return None

    # -- a cell in the student's kernel -------------------------------------------
    def student_cell(self, cell: dict, outputs: CellOutputs, reader: RecordReader) -> tuple[str, list]:
        kernel = self.kernel
        segments_out = []
        cell_status = "ok"
        cell_start = time.monotonic()
        for seg in cell["segments"]:
            left = self.left(cell_start)
            is_test = bool(seg.get("test"))
            before = guard_checks(kernel) if is_test else []
            reader.new_records()  # anything written outside the segment is not its record
            if left <= 0:
                result = {"status": "timeout", "error": None}
            else:
                result = kernel.execute(marked(seg), not is_test, outputs, left)
            records, overflow = reader.new_records()
            after = guard_checks(kernel) if is_test and kernel.alive() and result["status"] != "timeout" else []
            segments_out.append({"hidden": bool(seg.get("hidden")), "test": is_test, "judge": False,
                                 "status": result["status"], "error": result.get("error"),
                                 "records": records, "records_overflow": overflow,
                                 "guard_before": before, "guard_after": after})
            if result["status"] != "ok":
                cell_status = result["status"]
                if result["status"] == "died":
                    segments_out[-1].update({k: v for k, v in result.items() if k in ("returncode", "signal")})
                break
        if cell_status == "timeout":
            recovered = kernel.alive() and kernel.interrupt_and_wait()
            records, _ = reader.new_records()  # records written while interrupting
            if records and segments_out:
                segments_out[-1]["records"].extend(records)
            if not recovered:
                kernel.kill()
            else:
                self.note_struck()
        return cell_status, segments_out

    # -- a test run by the judge ----------------------------------------------------
    def judge_cell(self, cell: dict, outputs: CellOutputs) -> tuple[str, list]:
        cell_start = time.monotonic()
        guard = guard_checks(self.kernel) if self.kernel.alive() else []
        trace = ProxyTrace()
        setup_error = None
        segments_out = []
        for piece in cell.get("setup", []):
            # Each of the master's own cells gets the time a cell gets, as it would in the notebook.
            done = self._judge_run(piece, time.monotonic(), trace, kind="setup")
            if done["status"] != "ok" and setup_error is None:
                setup_error = done.get("error") or {"ename": "Error", "evalue": "the lesson's set-up failed"}
        cell_start = time.monotonic()  # the test's own time starts after the set-up
        for seg in cell["segments"]:
            done = self._judge_run(seg, cell_start, trace)
            if done.get("stdout"):
                outputs.stream("stdout", done["stdout"])
            error = done.get("error")
            if error and setup_error:
                error = {"ename": error["ename"], "evalue": (
                    f"{error['evalue']} (the lesson's own set-up code failed in the judge first: "
                    f"{setup_error['ename']}: {setup_error['evalue'][:500]})")[:4000]}
            if error:
                outputs.error({"ename": error["ename"], "evalue": error["evalue"], "traceback": []})
            segments_out.append({"hidden": bool(seg.get("hidden")), "test": True, "judge": True,
                                 "status": done["status"], "error": error,
                                 "records": done.get("records", []), "records_overflow": False,
                                 "guard_before": guard, "guard_after": [], "proxy_calls": trace.calls})
        status = "ok" if all(s["status"] == "ok" for s in segments_out) else "error"
        if trace.timed_out:
            status = "timeout"
            if trace.died is None:
                self.note_struck()
        if trace.died is not None:
            status = "died"
            if segments_out:
                segments_out[-1].update({k: v for k, v in trace.died.items() if k in ("returncode", "signal")})
        return status, segments_out

    def _judge_run(self, piece: dict, cell_start: float, trace: ProxyTrace, kind: str = "test") -> dict:
        if self.judge is None or self.judge_broken:
            return {"status": "error", "error": {"ename": "JudgeUnavailable", "evalue": self.judge_broken
                                                 or "the judge process is not running"}, "records": []}
        try:
            done = run_in_judge(self.judge, self.kernel, str(piece.get("code", "")),
                                [str(n) for n in piece.get("reads", [])], self.left(cell_start), trace, kind)
        except (JudgeGone, ValueError) as exc:
            self.judge.kill()
            self.judge_broken = f"the judge process stopped: {exc}"
            return {"status": "error", "error": {"ename": "JudgeUnavailable", "evalue": self.judge_broken},
                    "records": []}
        return {"status": done.get("status") if done.get("status") in ("ok", "error") else "error",
                "error": done.get("error") if isinstance(done.get("error"), dict) else None,
                "records": done.get("records") if isinstance(done.get("records"), list) else [],
                "stdout": done.get("stdout") if isinstance(done.get("stdout"), str) else ""}

    # -- the whole notebook -------------------------------------------------------------
    def run(self) -> None:
        failed = self.start()
        kernel = self.kernel
        if failed:
            emit({"event": "end", "status": failed, "message": self.judge_broken,
                  **(kernel.exit_description() if kernel is not None else {})})
            return
        emit({"event": "ready", "seconds": round(time.monotonic() - self.started, 3)})
        reader = RecordReader(self.record_path)
        final = "completed"
        for cell in self.request["cells"]:
            self.budget.new_cell()
            outputs = CellOutputs(self.budget)
            self.limit_for(cell, outputs)
            cell_start = time.monotonic()
            if cell.get("where") == "judge":
                cell_status, segments_out = self.judge_cell(cell, outputs)
            else:
                cell_status, segments_out = self.student_cell(cell, outputs, reader)
            elapsed = time.monotonic() - self.started
            if cell_status == "timeout" and elapsed >= self.deadline:
                cell_status = "deadline"
            emit({"event": "cell", "index": cell["index"], "status": cell_status,
                  "segments": segments_out, "outputs": outputs.finish(),
                  "truncated": outputs.truncated or (kernel.lost_messages and cell_status != "died"),
                  "seconds": round(time.monotonic() - cell_start, 3)})
            kernel.lost_messages = False
            if cell_status == "died":
                final = "kernel_died"
                break
            if cell_status == "deadline":
                final = "deadline"
                break
            if cell_status == "timeout" and not kernel.alive():
                final = "timeout"
                break
        emit({"event": "end", "status": final, "seconds": round(time.monotonic() - self.started, 3),
              **kernel.exit_description()})

    def close(self) -> None:
        if self.judge is not None:
            self.judge.kill()
        if self.kernel is not None:
            self.kernel.close()


def run(request: dict) -> None:
    drop_privileges(request.get("drop_uid"), request["workdir"])
    make_undumpable()
    notebook = Notebook(request)
    try:
        notebook.run()
    finally:
        notebook.close()


def main() -> int:
    # The parent reads our stdout; a student process must not be able to write to it,
    # so the kernel gets /dev/null and this process becomes undumpable (see limits).
    raw = sys.stdin.buffer.read(256 * 1024 * 1024)
    try:
        request = json.loads(raw)
    except ValueError as exc:
        emit({"event": "end", "status": "runner_error", "message": f"bad request: {exc}"})
        return 2
    try:
        run(request)
    except Exception as exc:  # report, never hang: the parent treats this as a failed run
        import traceback

        emit({"event": "end", "status": "runner_error", "message": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc(limit=8)[-4000:]})
        return 1
    return 0
