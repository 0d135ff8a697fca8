"""The runner's end of the proxy channel: the judge process, and its requests served by the student's kernel.

The runner starts the judge, hands it code to run, and while the judge works,
carries each of its proxy requests to the student's kernel as one silent
execution (``_dlbricks_proxy.serve(...)``), bounded in time; the answer goes
back to the judge as the student's side wrote it (a string), for the judge to
decode and check. Test code and expected values stay in the judge: the
student's kernel sees only the requests (a name, the arguments of a call).
"""
from __future__ import annotations

import ast
import json
import os
import select
import subprocess
import sys
import time
from typing import Any

from .kernel import StudentKernel
from .limits import child_limits, kill_process_group
from .student_side import ANSWER_EXPRESSION, request_code

MAX_LINE = 64 * 1024 * 1024
JUDGE_GRACE = 30.0  # seconds the judge's own code may run past the time the student's code was given
MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")


class JudgeGone(RuntimeError):
    """The judge process stopped answering (it ended or ran out of time)."""


class JudgeProcess:
    """The judge (see :mod:`.judge_process`), started with the submission's limits."""

    def __init__(self, workdir: str, env: dict, limits: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", MAIN, "judge"], cwd=workdir, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: child_limits(limits), close_fds=True)
        self.buffer = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise JudgeGone("the judge process stopped") from exc

    def receive(self, timeout: float) -> dict:
        """The judge's next message, waiting up to ``timeout`` seconds."""
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise JudgeGone("the judge ran out of time")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise JudgeGone("the judge process stopped")
                self.buffer += chunk
                if len(self.buffer) > MAX_LINE:
                    raise JudgeGone("the judge sent an oversized message")
            elif not self.alive():
                raise JudgeGone("the judge process stopped")
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def wait_ready(self, timeout: float) -> bool:
        try:
            return self.receive(timeout).get("op") == "ready"
        except (JudgeGone, ValueError):
            return False

    def kill(self) -> None:
        """Kill the judge and everything it started (its process group)."""
        kill_process_group(self.proc)


class ProxyTrace:
    """What happened to the student's kernel while the judge ran one piece of code."""

    def __init__(self) -> None:
        self.timed_out = False
        self.died: dict | None = None
        self.calls = 0


def serve_request(kernel: StudentKernel, request: Any, timeout: float, trace: ProxyTrace,
                  judge: JudgeProcess | None = None) -> dict:
    """Carry one proxy request to the student's kernel; the reply for the judge.

    While the student's code runs, its calls of a function the test passed
    arrive as input requests; each goes to the judge (``{"callback": text}``)
    and the judge's answer back to the kernel, as text either way: the judge
    decodes and checks the call, the student's side the answer.
    """
    end = time.monotonic() + timeout

    def call_back(prompt: str) -> str:
        if judge is None:
            return json.dumps({"raised": "RuntimeError", "bases": ["RuntimeError"], "message": "no judge to call"})
        judge.send({"callback": prompt})
        message = judge.receive(max(0.0, end - time.monotonic()) + JUDGE_GRACE)
        answer = message.get("answer") if message.get("op") == "callback_answer" else None
        if not isinstance(answer, str):
            raise JudgeGone("the judge answered a call back with something else")
        return answer

    trace.calls += 1
    if trace.died is not None or not kernel.alive():
        return {"failure": {"raised": "RuntimeError",
                            "message": "the student's kernel is not running any more (it stopped earlier)"}}
    if timeout <= 0:
        trace.timed_out = True
        return {"failure": {"raised": "TimeoutError", "message": "no time was left for the student's code"}}
    result = kernel.execute(request_code(request), store_history=False, outputs=None, timeout=timeout,
                            silent=True, user_expressions={"answer": ANSWER_EXPRESSION}, answer_input=call_back)
    status = result["status"]
    if status == "timeout":
        trace.timed_out = True
        if not kernel.interrupt_and_wait():
            kernel.kill()
            trace.died = kernel.exit_description()
        return {"failure": {"raised": "TimeoutError",
                            "message": f"the student's code did not return within {timeout:.0f} s"}}
    if status == "died":
        trace.died = {k: v for k, v in result.items() if k in ("returncode", "signal", "cpu_seconds")}
        return {"failure": {"raised": "RuntimeError",
                            "message": "the student's kernel stopped while running the student's code"}}
    try:
        text = result["user_expressions"]["answer"]["data"]["text/plain"]
        answer = ast.literal_eval(text) if isinstance(text, str) and len(text) < MAX_LINE else None
    except (KeyError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError):
        answer = None
    if not isinstance(answer, str):
        error = result.get("error") or {}
        return {"failure": {"raised": "RuntimeError", "message": (
            "the student's kernel did not answer the judge"
            + (f" ({error.get('ename')})" if error.get("ename") else ""))}}
    return {"answer": answer}


def run_in_judge(judge: JudgeProcess, kernel: StudentKernel, code: str, reads: list[str],
                 timeout: float, trace: ProxyTrace, kind: str = "test") -> dict:
    """Run ``code`` in the judge, serving its proxy requests; the judge's "done" message.

    The student's code gets at most ``timeout`` seconds in all; the judge's own
    work a grace period beyond that. ``kind``: "setup" for the master's own lesson-state
    code (its output is dropped), "test" for a test. Raises :class:`JudgeGone` when the judge
    stops or overruns both.
    """
    end = time.monotonic() + timeout
    judge.send({"op": "run", "code": code, "reads": reads, "kind": kind})
    while True:
        message = judge.receive(end + JUDGE_GRACE - time.monotonic())
        if message.get("op") == "done":
            return message
        if message.get("op") == "proxy":
            judge.send(serve_request(kernel, message.get("request"), end - time.monotonic(), trace, judge))
