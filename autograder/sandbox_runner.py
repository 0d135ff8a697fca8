"""Execute one notebook's cells in a Jupyter kernel, inside the sandbox.

This file runs *inside* the sandbox (bubblewrap), as its own script: it imports
nothing from the ``autograder`` package, which the sandbox does not contain.

Protocol (plain JSON, never pickle)
-----------------------------------
stdin: one JSON object, the *request*::

    {"cells": [{"index": 3, "segments": [{"code": "...", "hidden": false,
                                          "test": true}, ...]}, ...],
     "timeout": 30.0, "deadline": 300.0, "startup_timeout": 90.0,
     "limits": {"memory_mb": 3072, "nproc": 256, "cpu_seconds": 600,
                "fsize_mb": 64, "nofile": 1024},
     "output": {"cell_bytes": 65536, "total_bytes": 2000000},
     "drop_uid": 61234 or null, "workdir": "/home/student",
     "kernel_env": {...}, "record_env": "DLBRICKS_CHECK_RECORD"}

stdout: one JSON line per event, flushed as it happens, so that the parent
keeps everything done before a crash: ``{"event": "ready"}``, one
``{"event": "cell", ...}`` per executed cell, and ``{"event": "end", ...}``.

Each test cell is executed as separate *segments* (the visible part, then each
hidden block), so that the check records written while a segment runs can be
attributed to the visible checks or to the hidden tests. Test segments are run
with ``store_history=False`` so that later student cells cannot read hidden
test code back from IPython's input history.
"""
from __future__ import annotations

import ast
import ctypes
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

TRUNCATION_MARKER = "\n[... output truncated by the autograder: {n} more bytes not shown ...]\n"
MAX_RECORD_BYTES = 32 * 1024 * 1024  # per segment; records beyond this are dropped and flagged
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # larger kernel messages are refused by ZeroMQ
KEPT_MIME = ("text/plain", "image/png", "text/html")
MAX_IMAGE_BYTES = 1024 * 1024
PR_SET_DUMPABLE = 4

# Sent to the kernel (silently, without history) before and after every test segment:
# reports which parts of dlbricks.check were replaced from outside the library (a
# monkeypatched check function, a rebound `check` name, a swapped module) and
# puts the real ones back. Its answer comes back in the execute reply.
CHECK_GUARD = r"""
def __autograder_guard():
    import importlib, json, sys, types
    module = sys.modules.get("dlbricks.check")
    if module is None:
        return json.dumps([])
    # dlbricks.check is a package: its submodules (checks, judges, codec, ...) are looked at too.
    parts = [(name, mod) for name, mod in list(sys.modules.items())
             if name.startswith("dlbricks.check.") and isinstance(mod, types.ModuleType)]
    changed = []
    for prefix, scanned in [("", module)] + [(name[len("dlbricks.check."):] + ".", mod) for name, mod in parts]:
        for name, value in list(vars(scanned).items()):
            if name.startswith("__"):
                continue
            owner = getattr(value, "__module__", None)
            if isinstance(value, types.ModuleType):
                if sys.modules.get(value.__name__) is not value:
                    changed.append(prefix + name)
            elif isinstance(value, (types.FunctionType, type)):
                home = sys.modules.get(owner or "")
                if owner is None or owner.startswith(("__main__", "<")) or home is None:
                    changed.append(prefix + name)
                elif isinstance(value, types.FunctionType) and value.__code__.co_filename != getattr(home, "__file__", None):
                    changed.append(prefix + name)
    package = sys.modules.get("dlbricks")
    if package is not None and package.__dict__.get("check", module) is not module:
        changed.append("dlbricks.check")
        package.check = module
    namespace = get_ipython().user_ns
    if "check" in namespace and namespace["check"] is not module and hasattr(namespace["check"], "close"):
        changed.append("check")
        namespace["check"] = module
    if changed:
        # Import the package afresh (every submodule from its file), then put the fresh
        # names into the module objects the student's namespace may still hold.
        for name, _ in parts:
            sys.modules.pop(name, None)
        sys.modules.pop("dlbricks.check", None)
        fresh = importlib.import_module("dlbricks.check")
        # Names the student added (e.g. a fake _allclose) go, the library's own come back.
        for name, old in parts + [("dlbricks.check", module)]:
            new = fresh if old is module else sys.modules.get(name)
            if new is not None and new is not old:
                for key in [k for k in vars(old) if k not in vars(new)]:
                    delattr(old, key)
                old.__dict__.update(new.__dict__)
        sys.modules["dlbricks.check"] = module
        if package is not None:
            package.check = module
    return json.dumps(changed)
__autograder_guard_result = __autograder_guard()
"""
PR_SET_PDEATHSIG = 1


def emit(event: dict) -> None:
    """Write one protocol line to stdout and flush it."""
    sys.stdout.write(json.dumps(event, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Privileges and limits
# ---------------------------------------------------------------------------
def drop_privileges(uid: int | None, workdir: str) -> None:
    """When started as root in the sandbox, become ``uid`` for good.

    The sandbox's own tmpfs folders belong to root; the work folder is handed
    to the unprivileged user first. A real, unshared uid also makes the
    process-count limit (RLIMIT_NPROC) count this submission's processes only.
    """
    if uid is None or os.getuid() != 0:
        return
    os.chown(workdir, uid, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("could not drop privileges")


def make_undumpable() -> None:
    """Keep processes of the same uid (the student's kernel) out of this one.

    A non-dumpable process cannot be ptraced, and its /proc/PID/mem and fd/
    cannot be opened by other processes of the same user. Raises OSError when
    the setting fails: the runner must not go on readable by the student.
    """
    _prctl(PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE 0 (keeps the student's processes out of the runner)")


def _prctl(option: int, value: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl {what} failed: {os.strerror(errno)}")


def _set(limit: int, value: int) -> None:
    try:
        resource.setrlimit(limit, (value, value))
    except (ValueError, OSError):
        # Never raise a limit above what we were given.
        soft, hard = resource.getrlimit(limit)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (capped, capped))


def kernel_limits(limits: dict) -> None:
    """Apply the submission's resource limits; runs in the kernel process before exec.

    Memory is limited through RLIMIT_DATA (heap and private mappings), not the
    address space: TensorFlow reserves far more address space than it uses.
    """
    mb = 1024 * 1024
    _set(resource.RLIMIT_DATA, int(limits["memory_mb"]) * mb)
    _set(resource.RLIMIT_NPROC, int(limits["nproc"]))
    # SIGXCPU at the soft limit says why the kernel stopped; SIGKILL follows if it is ignored.
    cpu = int(limits["cpu_seconds"])
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (ValueError, OSError):
        _set(resource.RLIMIT_CPU, cpu)
    _set(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * mb)
    _set(resource.RLIMIT_NOFILE, int(limits["nofile"]))
    _set(resource.RLIMIT_CORE, 0)
    # The kernel dies with the runner, whatever kills the runner; if that cannot be set, it does not start.
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG SIGKILL (the kernel dies with the runner)")
    os.setsid()  # its own process group, so that a timeout can kill every child at once


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------
class OutputBudget:
    """Caps on how much output one cell and the whole notebook may keep."""

    def __init__(self, cell_bytes: int, total_bytes: int) -> None:
        self.cell_bytes = int(cell_bytes)
        self.total_left = int(total_bytes)
        self.cell_left = self.cell_bytes
        self.truncated = False

    def new_cell(self) -> None:
        self.cell_left = self.cell_bytes

    def take(self, n: int) -> int:
        """How many of ``n`` bytes may be kept."""
        allowed = max(0, min(n, self.cell_left, self.total_left))
        self.cell_left -= allowed
        self.total_left -= allowed
        if allowed < n:
            self.truncated = True
        return allowed


class CellOutputs:
    """The outputs of one cell in nbformat's shape, with truncation applied."""

    def __init__(self, budget: OutputBudget) -> None:
        self.budget = budget
        self.outputs: list[dict] = []
        self.omitted = 0
        self.truncated = False

    def _text(self, text: str) -> str:
        data = text.encode("utf-8", "replace")
        keep = self.budget.take(len(data))
        if keep < len(data):
            self.truncated = True
            self.omitted += len(data) - keep
            return data[:keep].decode("utf-8", "ignore")
        return text

    def stream(self, name: str, text: str) -> None:
        kept = self._text(text)
        if not kept:
            return
        if self.outputs and self.outputs[-1].get("output_type") == "stream" \
                and self.outputs[-1].get("name") == name:
            self.outputs[-1]["text"] += kept
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": kept})

    def data(self, output_type: str, content: dict) -> None:
        bundle: dict[str, Any] = {}
        for mime in KEPT_MIME:
            value = content.get("data", {}).get(mime)
            if not isinstance(value, str):
                continue
            if mime == "image/png":
                if len(value) <= MAX_IMAGE_BYTES and self.budget.take(len(value) // 8) > 0:
                    bundle[mime] = value
                else:
                    self.truncated = self.budget.truncated = True
                    self.omitted += len(value)
            else:
                kept = self._text(value)
                if kept:
                    bundle[mime] = kept
        if not bundle:
            return
        out = {"output_type": output_type, "data": bundle, "metadata": {}}
        if output_type == "execute_result":
            count = content.get("execution_count")
            out["execution_count"] = count if isinstance(count, int) else None
        self.outputs.append(out)

    def error(self, content: dict) -> None:
        tb = [str(line) for line in (content.get("traceback") or [])[:60]]
        self.outputs.append({
            "output_type": "error",
            "ename": self._text(str(content.get("ename", "Error"))[:200]),
            "evalue": self._text(str(content.get("evalue", ""))[:4000]),
            "traceback": [self._text(line[:4000]) for line in tb],
        })

    def clear(self) -> None:
        self.outputs = []

    def finish(self) -> list[dict]:
        if self.truncated and self.omitted:
            self.outputs.append({"output_type": "stream", "name": "stderr",
                                 "text": TRUNCATION_MARKER.format(n=self.omitted)})
        return self.outputs


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------
class Kernel:
    """An IPython kernel process and the two ZeroMQ channels the runner needs."""

    def __init__(self, workdir: str, env: dict, limits: dict) -> None:
        import zmq
        from jupyter_client.connect import write_connection_file
        from jupyter_client.session import Session

        self.zmq = zmq
        runtime = os.path.join(workdir, ".kernel")
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        key = secrets.token_hex(16).encode()
        self.connection_file, info = write_connection_file(
            os.path.join(runtime, "kernel.json"), ip="127.0.0.1", key=key)
        self.session = Session(key=key, signature_scheme="hmac-sha256", username="autograder")
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
               "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"]
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: kernel_limits(limits), close_fds=True)
        self.ctx = zmq.Context()
        url = f"tcp://127.0.0.1:{{}}"
        self.shell = self.ctx.socket(zmq.DEALER)
        self.shell.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.shell.setsockopt(zmq.LINGER, 0)
        self.shell.connect(url.format(info["shell_port"]))
        self.iopub = self.ctx.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.iopub.setsockopt(zmq.LINGER, 0)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        # A monitor tells us when ZeroMQ dropped the connection (an oversized message).
        self.monitor = self.iopub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.iopub.connect(url.format(info["iopub_port"]))
        self.poller = zmq.Poller()
        for sock in (self.shell, self.iopub, self.monitor):
            self.poller.register(sock, zmq.POLLIN)
        self.lost_messages = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_description(self) -> dict:
        code = self.proc.poll()
        if code is None:
            return {"returncode": None}
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel, once reaped
        out: dict[str, Any] = {"returncode": code, "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2)}
        if code < 0:
            try:
                out["signal"] = signal.Signals(-code).name
            except ValueError:
                out["signal"] = str(-code)
        return out

    def recv(self, sock: Any) -> dict | None:
        try:
            frames = sock.recv_multipart(self.zmq.NOBLOCK)
            _, parts = self.session.feed_identities(frames)
            return self.session.deserialize(parts, content=True)
        except self.zmq.Again:
            return None
        except Exception:  # a garbled or unsigned message is ignored, not trusted
            return None

    def send(self, msg_type: str, content: dict) -> str:
        msg = self.session.send(self.shell, msg_type, content)
        return msg["header"]["msg_id"]

    def poll(self, timeout_s: float) -> dict:
        events = dict(self.poller.poll(max(0, int(timeout_s * 1000))))
        if self.monitor in events:
            try:
                self.monitor.recv_multipart(self.zmq.NOBLOCK)
                self.lost_messages = True
            except self.zmq.Again:
                pass
        return events

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
            asked.add(self.send("kernel_info_request", {}))
            retry_at = time.monotonic() + 1.0
            while time.monotonic() < min(retry_at, end):
                events = self.poll(0.2)
                if self.shell in events:
                    msg = self.recv(self.shell)
                    if msg and msg.get("parent_header", {}).get("msg_id") in asked:
                        replied = True
                if self.iopub in events:
                    subscribed = True  # a frame arrived: the subscription is live
                    while self.recv(self.iopub) is not None:
                        pass
                if replied and subscribed:
                    return True
        return False

    def _drain_iopub(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.iopub in self.poll(0.05):
                self.recv(self.iopub)

    def interrupt(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        """Kill the kernel and everything it started (its process group)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        self.kill()
        for sock in (self.shell, self.iopub, self.monitor):
            sock.close(0)
        self.ctx.term()


def execute(kernel: Kernel, code: str, store_history: bool, outputs: CellOutputs,
            timeout: float) -> dict:
    """Run ``code``; collect outputs until the reply and the idle status arrive.

    Returns {"status": "ok" | "error" | "timeout" | "died", "error": {...}?}.
    """
    msg_id = kernel.send("execute_request", {
        "code": code, "silent": False, "store_history": store_history,
        "user_expressions": {}, "allow_stdin": False, "stop_on_error": False})
    start = time.monotonic()
    reply: dict | None = None
    idle = False
    error: dict | None = None
    while True:
        now = time.monotonic()
        if reply is not None and (idle or now - start > timeout + 2.0):
            break
        if reply is not None and not idle:
            # The reply is in; give the last outputs a moment to arrive.
            if now - reply_at > 1.0:
                kernel.lost_messages = True
                break
        elif now - start > timeout:
            return {"status": "timeout", "error": error}
        if not kernel.alive():
            kernel._drain_iopub(0.2)
            return {"status": "died", "error": error, **kernel.exit_description()}
        events = kernel.poll(0.1)
        if kernel.iopub in events:
            for _ in range(1000):  # drain a burst without starving the shell socket
                msg = kernel.recv(kernel.iopub)
                if msg is None:
                    break
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg.get("msg_type"), msg.get("content") or {}
                if kind == "stream":
                    outputs.stream(str(content.get("name", "stdout")), str(content.get("text", "")))
                elif kind in ("display_data", "execute_result"):
                    outputs.data(kind, content)
                elif kind == "error":
                    outputs.error(content)
                    error = {"ename": str(content.get("ename", ""))[:200],
                             "evalue": str(content.get("evalue", ""))[:4000]}
                elif kind == "clear_output":
                    outputs.clear()
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
        if kernel.shell in events:
            msg = kernel.recv(kernel.shell)
            if msg and msg.get("parent_header", {}).get("msg_id") == msg_id:
                reply = msg.get("content") or {}
                reply_at = time.monotonic()
                if reply.get("status") == "error" and error is None:
                    error = {"ename": str(reply.get("ename", ""))[:200],
                             "evalue": str(reply.get("evalue", ""))[:4000]}
    status = "ok" if reply.get("status") == "ok" and error is None else "error"
    return {"status": status, "error": error}


def guard_checks(kernel: Kernel, timeout: float = 30.0) -> list[str] | None:
    """Run CHECK_GUARD; the names found replaced, or None when the guard itself failed.

    A failed guard (the kernel rewrote or refused it) counts as tampering.
    """
    msg_id = kernel.send("execute_request", {
        "code": CHECK_GUARD, "silent": True, "store_history": False,
        "user_expressions": {"guard": "__autograder_guard_result"}, "allow_stdin": False,
        "stop_on_error": False})
    end = time.monotonic() + timeout
    while time.monotonic() < end and kernel.alive():
        events = kernel.poll(0.1)
        if kernel.iopub in events:
            while kernel.recv(kernel.iopub) is not None:
                pass
        if kernel.shell in events:
            msg = kernel.recv(kernel.shell)
            if not msg or msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            try:
                text = msg["content"]["user_expressions"]["guard"]["data"]["text/plain"]
                names = json.loads(ast.literal_eval(text))
                return [str(n)[:100] for n in names][:50] if isinstance(names, list) else None
            except (KeyError, TypeError, ValueError, SyntaxError):
                return None
    return None


class RecordReader:
    """Reads the check records appended since the last call (the check-record protocol)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def new_records(self) -> tuple[list, bool]:
        """(records, overflowed): parsed JSON lines written since the last call."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(MAX_RECORD_BYTES + 1)
                self.offset = fh.seek(0, os.SEEK_END)
        except FileNotFoundError:
            return [], False
        overflow = len(data) > MAX_RECORD_BYTES
        records = []
        for line in data[:MAX_RECORD_BYTES].splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"garbled": True})
        return records, overflow


def interrupt_and_wait(kernel: Kernel, grace: float = 5.0) -> bool:
    """Interrupt a busy kernel; True when it became idle again within ``grace``."""
    kernel.interrupt()
    end = time.monotonic() + grace
    while time.monotonic() < end and kernel.alive():
        events = kernel.poll(0.1)
        if kernel.iopub in events:
            while True:
                msg = kernel.recv(kernel.iopub)
                if msg is None:
                    break
                if msg.get("msg_type") == "status" and \
                        (msg.get("content") or {}).get("execution_state") == "idle":
                    return True
        if kernel.shell in events:
            kernel.recv(kernel.shell)
    return False


def run(request: dict) -> None:
    workdir = request["workdir"]
    drop_privileges(request.get("drop_uid"), workdir)
    make_undumpable()
    record_path = os.path.join(workdir, ".records", "checks.jsonl")
    os.makedirs(os.path.dirname(record_path), exist_ok=True)
    env = dict(request["kernel_env"])
    env[request.get("record_env", "DLBRICKS_CHECK_RECORD")] = record_path
    env["HOME"] = workdir
    budget = OutputBudget(request["output"]["cell_bytes"], request["output"]["total_bytes"])
    started = time.monotonic()
    deadline = float(request["deadline"])
    kernel = Kernel(workdir, env, request["limits"])
    try:
        if not kernel.wait_ready(float(request.get("startup_timeout", 90))):
            emit({"event": "end", "status": "kernel_failed", **kernel.exit_description()})
            return
        emit({"event": "ready", "seconds": round(time.monotonic() - started, 3)})
        reader = RecordReader(record_path)
        final = "completed"
        for cell in request["cells"]:
            budget.new_cell()
            outputs = CellOutputs(budget)
            segments_out = []
            cell_status = "ok"
            cell_start = time.monotonic()
            for seg in cell["segments"]:
                left = min(float(request["timeout"]) - (time.monotonic() - cell_start),
                           deadline - (time.monotonic() - started))
                is_test = bool(seg.get("test"))
                before = guard_checks(kernel) if is_test else []
                reader.new_records()  # anything written outside the segment is not its record
                if left <= 0:
                    result = {"status": "timeout", "error": None}
                else:
                    result = execute(kernel, seg["code"], not is_test, outputs, left)
                records, overflow = reader.new_records()
                after = guard_checks(kernel) if is_test and kernel.alive() and result["status"] != "timeout" else []
                segments_out.append({"hidden": bool(seg.get("hidden")), "test": is_test,
                                     "status": result["status"], "error": result.get("error"),
                                     "records": records, "records_overflow": overflow,
                                     "guard_before": before, "guard_after": after})
                if result["status"] != "ok":
                    cell_status = result["status"]
                    if result["status"] == "died":
                        segments_out[-1].update({k: v for k, v in result.items()
                                                 if k in ("returncode", "signal")})
                    break
            if cell_status == "timeout":
                recovered = kernel.alive() and interrupt_and_wait(kernel)
                records, overflow = reader.new_records()  # records written while interrupting
                if records and segments_out:
                    segments_out[-1]["records"].extend(records)
                if not recovered:
                    kernel.kill()
            elapsed = time.monotonic() - started
            if cell_status == "timeout" and elapsed >= deadline:
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
        emit({"event": "end", "status": final, "seconds": round(time.monotonic() - started, 3),
              **kernel.exit_description()})
    finally:
        kernel.close()


def main() -> int:
    # The parent reads our stdout; a student process must not be able to write to it,
    # so the kernel gets /dev/null and this process becomes undumpable (see above).
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


if __name__ == "__main__":
    sys.exit(main())
