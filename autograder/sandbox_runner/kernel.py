"""The student's kernel: an IPython kernel started with the submission's limits, driven by jupyter_client.

jupyter_client does the protocol (connection file, message signing, channels);
this module adds what grading needs on top: resource limits and a process
group for the kernel, a cap on message size (a larger message is dropped by
ZeroMQ and reported as lost output), and execution with deadlines.
"""
from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

from .limits import child_limits, exit_description, kill_process_group
from .outputs import CellOutputs

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # larger kernel messages are refused by ZeroMQ


class StudentKernel:
    """An IPython kernel process running the submission's cells, and a jupyter_client client for it."""

    def __init__(self, workdir: str, env: dict, limits: dict) -> None:
        import zmq
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.zmq = zmq
        runtime = os.path.join(workdir, ".kernel")
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        key = secrets.token_hex(16).encode()
        self.connection_file, info = write_connection_file(
            os.path.join(runtime, "kernel.json"), ip="127.0.0.1", key=key)
        # No capture of the kernel's own file descriptors 1 and 2 (ipykernel's thread for it costs
        # ~40 MB of the memory limit): what C libraries write there (fc-list, OpenBLAS, TensorFlow)
        # goes to a file instead, whose end says why a kernel died (e.g. an allocation that failed).
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
               "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True",
               "--IPKernelApp.capture_fd_output=False"]
        self.stderr_path = os.path.join(runtime, "stderr.log")
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=stderr,
                preexec_fn=lambda: child_limits(limits), close_fds=True)
        self.context = zmq.Context()
        # Defaults for every socket the client makes: oversized messages are refused, closing never blocks.
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.context.setsockopt(zmq.LINGER, 0)
        self.client = BlockingKernelClient(context=self.context)
        self.client.load_connection_info(info)
        self.client.start_channels(shell=True, iopub=True, stdin=True, hb=False, control=False)
        self.shell = self.client.shell_channel
        self.iopub = self.client.iopub_channel
        self.stdin = self.client.stdin_channel  # the judge's functions, called back from the student's side
        # ZeroMQ drops the connection on an oversized message: the monitor tells us it happened.
        self.monitor = self.iopub.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.poller = zmq.Poller()
        for sock in (self.shell.socket, self.iopub.socket, self.stdin.socket, self.monitor):
            self.poller.register(sock, zmq.POLLIN)
        self.lost_messages = False

    # -- plumbing ---------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_description(self) -> dict:
        """How the kernel ended; after a failure, the end of what it wrote to its stderr."""
        described = exit_description(self.proc.poll())
        if described.get("returncode"):
            described["stderr_tail"] = self.stderr_tail()
        return described

    def stderr_tail(self, limit: int = 2048) -> str:
        """The last ``limit`` bytes the kernel wrote to its stderr (the student could write there too)."""
        try:
            with open(self.stderr_path, "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
                return fh.read(limit).decode("utf-8", "replace")
        except OSError:
            return ""

    def poll(self, timeout_s: float) -> set[str]:
        """Which channels have messages ("shell", "iopub"), waiting up to ``timeout_s``."""
        events = dict(self.poller.poll(max(0, int(timeout_s * 1000))))
        if self.monitor in events:
            try:
                self.monitor.recv_multipart(self.zmq.NOBLOCK)
                self.lost_messages = True
            except self.zmq.Again:
                pass
        ready = set()
        if self.shell.socket in events:
            ready.add("shell")
        if self.iopub.socket in events:
            ready.add("iopub")
        if self.stdin.socket in events:
            ready.add("stdin")
        return ready

    @staticmethod
    def recv(channel: Any) -> dict | None:
        """One message, or None when there is none (a garbled or unsigned one is dropped)."""
        try:
            return channel.get_msg(timeout=0)
        except queue.Empty:
            return None
        except Exception:  # not signed with our key, or not a Jupyter message: not trusted
            return None

    def wait_ready(self, timeout: float) -> bool:
        """Ask for kernel_info until the kernel answers and its iopub channel reaches us.

        The kernel is ready to execute once it replies on the shell channel; the
        first cell's outputs are safe once anything (the kernel's iopub welcome,
        a status message) has arrived on our iopub subscription. Both are
        waited for, no longer: nothing here sleeps a fixed time.
        """
        end = time.monotonic() + timeout
        asked: set[str] = set()
        replied = subscribed = False
        while time.monotonic() < end and self.alive():
            asked.add(self.client.kernel_info())
            retry_at = time.monotonic() + 1.0
            while time.monotonic() < min(retry_at, end):
                ready = self.poll(0.2)
                if "shell" in ready:
                    msg = self.recv(self.shell)
                    if msg and msg.get("parent_header", {}).get("msg_id") in asked:
                        replied = True
                if "iopub" in ready:
                    subscribed = True  # a frame arrived: the subscription is live
                    while self.recv(self.iopub) is not None:
                        pass
                if replied and subscribed:
                    return True
        return False

    def interrupt(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGINT)

    def interrupt_and_wait(self, grace: float = 5.0) -> bool:
        """Interrupt a busy kernel; True when it became idle again within ``grace``."""
        self.interrupt()
        end = time.monotonic() + grace
        while time.monotonic() < end and self.alive():
            ready = self.poll(0.1)
            if "iopub" in ready:
                while True:
                    msg = self.recv(self.iopub)
                    if msg is None:
                        break
                    if msg.get("msg_type") == "status" and \
                            (msg.get("content") or {}).get("execution_state") == "idle":
                        return True
            if "shell" in ready:
                self.recv(self.shell)
        return False

    def kill(self) -> None:
        """Kill the kernel and everything it started (its process group)."""
        kill_process_group(self.proc)

    def close(self) -> None:
        self.kill()
        try:
            self.monitor.close(0)
            self.client.stop_channels()
        finally:
            self.context.term()

    # -- execution --------------------------------------------------------------
    def execute(self, code: str, store_history: bool, outputs: CellOutputs | None, timeout: float,
                silent: bool = False, user_expressions: dict | None = None, answer_input: Any = None) -> dict:
        """Run ``code``; collect outputs (into ``outputs``, when given) until the reply and idle arrive.

        ``answer_input(prompt) -> str`` answers the code's input requests (the proxy
        channel's calls back to the judge); without it the code has no stdin.

        Returns {"status": "ok" | "error" | "timeout" | "died", "error": {...} | None,
        "user_expressions": {...}}.
        """
        msg_id = self.client.execute(code, silent=silent, store_history=store_history,
                                     user_expressions=user_expressions or {},
                                     allow_stdin=answer_input is not None, stop_on_error=False)
        start = time.monotonic()
        reply: dict | None = None
        reply_at = 0.0
        idle = False
        error: dict | None = None
        while True:
            now = time.monotonic()
            if reply is not None and (idle or silent):
                break
            if reply is not None and now - reply_at > 1.0:
                self.lost_messages = True  # the reply is in but the idle status never came
                break
            if reply is None and now - start > timeout:
                return {"status": "timeout", "error": error}
            if not self.alive():
                self._drain(0.2)
                return {"status": "died", "error": error, **self.exit_description()}
            ready = self.poll(0.1)
            if "iopub" in ready:
                for _ in range(1000):  # drain a burst without starving the shell channel
                    msg = self.recv(self.iopub)
                    if msg is None:
                        break
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, content = msg.get("msg_type"), msg.get("content") or {}
                    if kind == "status" and content.get("execution_state") == "idle":
                        idle = True
                    elif kind == "error":
                        error = {"ename": str(content.get("ename", ""))[:200],
                                 "evalue": str(content.get("evalue", ""))[:4000]}
                        if outputs is not None:
                            outputs.error(content)
                    elif outputs is None:
                        continue
                    elif kind == "stream":
                        outputs.stream(str(content.get("name", "stdout")), str(content.get("text", "")))
                    elif kind in ("display_data", "execute_result"):
                        outputs.data(kind, content)
                    elif kind == "clear_output":
                        outputs.clear()
            if "stdin" in ready:
                msg = self.recv(self.stdin)
                if msg and msg.get("msg_type") == "input_request" and answer_input is not None \
                        and msg.get("parent_header", {}).get("msg_id") == msg_id:
                    self.client.input(answer_input(str((msg.get("content") or {}).get("prompt", ""))))
            if "shell" in ready:
                msg = self.recv(self.shell)
                if msg and msg.get("parent_header", {}).get("msg_id") == msg_id:
                    reply = msg.get("content") or {}
                    reply_at = time.monotonic()
                    if reply.get("status") == "error" and error is None:
                        error = {"ename": str(reply.get("ename", ""))[:200],
                                 "evalue": str(reply.get("evalue", ""))[:4000]}
        status = "ok" if reply.get("status") == "ok" and error is None else "error"
        expressions = reply.get("user_expressions")
        return {"status": status, "error": error,
                "user_expressions": expressions if isinstance(expressions, dict) else {}}

    def _drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if "iopub" in self.poll(0.05):
                while self.recv(self.iopub) is not None:
                    pass
