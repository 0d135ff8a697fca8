"""The judge: runs the master's test cells, and the master's lesson state they read, never student code.

It is a plain Python process started by the runner, talking to it over its
stdin and stdout only (JSON lines). A name that the student's solution defines
is, here, whatever the student's kernel holds under that name, fetched through
the proxy channel: plain data becomes the judge's own copy, anything else a
:class:`StudentObject` whose calls and attribute reads go over the channel the
same way. ``dlbricks.check`` runs here, on these copies; its records go to a
memory file that only this process can open.

Protocol (runner -> judge, one JSON object a line)::

    {"op": "run", "code": str, "reads": [name, ...], "kind": "setup" | "test"}
    {"answer": <the student's side's JSON answer, a string>} | {"failure": {...}}
        (only while a "proxy" request of ours is open)

judge -> runner::

    {"op": "ready"}
    {"op": "proxy", "request": {...}}      a request for the student's side
    {"op": "done", "status": "ok" | "error", "error": {"ename", "evalue"} | None,
     "records": [...], "stdout": str}
"""
from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import pathlib
import sys
from typing import Any

from . import codec
from .limits import make_undumpable

MAX_LINE = 64 * 1024 * 1024
MAX_STDOUT = 64 * 1024
MAX_RECORDS_BYTES = 32 * 1024 * 1024
# Exceptions of the student's side that come back as themselves (others as a subclass of their nearest one).
RAISABLE = {name: getattr(builtins, name) for name in dir(builtins)
            if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), Exception)}


class StudentCodeError(Exception):
    """The student's code raised something that is not an ordinary exception (exit, interrupt)."""


class ProxyError(RuntimeError):
    """The student's side gave an answer that is not plain data of the channel's format."""


class Channel:
    """The judge's end of the proxy channel: one request, one answer, in order."""

    def __init__(self, rfile: Any, wfile: Any) -> None:
        self.rfile, self.wfile = rfile, wfile

    def send(self, message: dict) -> None:
        self.wfile.write(json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n")
        self.wfile.flush()

    def receive(self) -> dict:
        line = self.rfile.readline(MAX_LINE)
        if not line:
            raise SystemExit(0)  # the runner is gone
        return json.loads(line)

    def request(self, request: dict) -> Any:
        """Send ``request`` to the student's side; its decoded result, or raise what it raised."""
        self.send({"op": "proxy", "request": request})
        reply = self.receive()
        if "failure" in reply:  # the runner's own account: a timeout, a dead kernel
            failure = reply["failure"]
            raise RAISABLE.get(failure.get("raised"), ProxyError)(str(failure.get("message", ""))[:2000])
        return self.decode_answer(reply.get("answer"))

    def decode_answer(self, text: Any) -> Any:
        if not isinstance(text, str):
            raise ProxyError("the student's kernel gave no answer")
        try:
            answer = json.loads(text)
        except (ValueError, RecursionError):
            raise ProxyError("the student's kernel answered with something that is not data") from None
        if not isinstance(answer, dict):
            raise ProxyError("the student's kernel answered with something that is not data")
        if "raised" in answer:
            raise_student_exception(answer)
        if "missing" in answer:
            return MISSING
        if set(answer) != {"ok"}:
            raise ProxyError("the student's kernel answered with something that is not data")
        try:
            return codec.decode(answer["ok"], lambda h: StudentObject(h, self))
        except (codec.CodecError, RecursionError) as exc:
            raise ProxyError(f"the value cannot be used: {exc}") from None


MISSING = object()


def raise_student_exception(answer: dict) -> None:
    """Raise, in the judge, the exception the student's code raised: builtin types as themselves."""
    name = answer.get("raised") if isinstance(answer.get("raised"), str) else "Exception"
    message = answer.get("message") if isinstance(answer.get("message"), str) else ""
    bases = answer.get("bases") if isinstance(answer.get("bases"), list) else []
    base = next((RAISABLE[b] for b in bases if isinstance(b, str) and b in RAISABLE), None)
    if base is None:  # SystemExit, KeyboardInterrupt and the like: not something a test expects
        raise StudentCodeError(f"{name[:200]}: {message[:2000]}")
    if base.__name__ == name:
        raise base(message)
    raise type(name[:200], (base,), {"__module__": "student"})(message)


class StudentObject:
    """An object that stays in the student's kernel; calls and attribute reads go over the channel."""

    __slots__ = ("_handle", "_channel")

    def __init__(self, handle: codec.Handle, channel: Channel) -> None:
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_channel", channel)

    def _ask(self, op: str, **fields: Any) -> Any:
        h = object.__getattribute__(self, "_handle")
        request = {"op": op, "h": {"$h": h.id, "t": h.type_name, "c": h.callable}}
        if "args" in fields:
            fields["args"] = encode_argument(list(fields["args"]))
        if "kwargs" in fields:
            fields["kwargs"] = encode_argument(dict(fields["kwargs"]))
        request.update(fields)
        return self._channel.request(request)

    @property
    def __class__(self) -> type:
        """A library class (Keras, TensorFlow, dlbricks, numpy) the judge knows, so that
        ``isinstance(model.layers[0], keras.layers.Dense)`` reads as it would beside the
        student's code; ``type()`` still says StudentObject."""
        return library_class(self._handle) or StudentObject

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", args=args, kwargs=kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ask("setattr", name=name, args=[value])

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", args=[key])

    def __len__(self) -> int:
        n = self._ask("len")
        if type(n) is not int or n < 0:
            raise TypeError("len() of the student's object is not a whole number")
        return n

    def __iter__(self) -> Any:
        items = self._ask("list")
        if not isinstance(items, list):
            raise TypeError("the student's object did not list its items")
        return iter(items)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        value = self._ask("array")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"the student's {self._handle.type_name} is not an array of numbers")
        return value if dtype is None else value.astype(dtype)

    def __repr__(self) -> str:
        return f"<the student's {self._handle.type_name}>"


LIBRARIES = ("keras", "tensorflow", "dlbricks", "numpy")


def library_class(handle: codec.Handle) -> type | None:
    """The judge's own class named by a handle, when it is a class of an already imported library.

    The names come from the student's side: they are looked up in modules the
    judge has imported (never imported because of them), and only classes count.
    """
    if not handle.module.split(".")[0] in LIBRARIES or not handle.qualname:
        return None
    found: Any = sys.modules.get(handle.module)
    for part in handle.qualname.split("."):
        if found is None or part.startswith("<"):
            return None
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def keras_configuration(obj: Any) -> Any:
    """A Keras configuration object (optimiser, loss, metric, initializer, regularizer) as its
    serialized config, encoded; None for anything else (models and layers hold state: no copies)."""
    import keras

    kinds = (keras.optimizers.Optimizer, keras.losses.Loss, keras.metrics.Metric,
             keras.initializers.Initializer, keras.regularizers.Regularizer)
    if not isinstance(obj, kinds):
        return None
    return codec.encode(keras.saving.serialize_keras_object(obj))


def encode_argument(value: Any) -> Any:
    """An argument for the student's side: plain data, tensors as arrays, the student's own objects."""
    def other(obj: Any) -> Any:
        if type(obj) is StudentObject:
            h = obj._handle
            return {"$h": h.id, "t": h.type_name, "c": h.callable}
        module = type(obj).__module__ or ""
        config = keras_configuration(obj) if module.startswith("keras") else None
        if config is not None:
            return {"$keras": config}
        if module.startswith(("tensorflow", "keras")) and hasattr(obj, "numpy"):
            import numpy as np

            return {"$tf": codec.encode(np.asarray(obj.numpy()))}
        if isinstance(obj, pathlib.PurePath):
            return {"$path": str(obj)}
        if module.startswith("numpy") and type(obj).__name__ == "Generator" and hasattr(obj, "bit_generator"):
            return {"$rng": codec.encode(obj.bit_generator.state)}  # a copy: the judge's own does not advance
        if hasattr(obj, "__array__") and module.startswith("numpy"):
            import numpy as np

            return codec.encode(np.asarray(obj))
        raise TypeError(f"a {type(obj).__name__} cannot be passed to the student's code "
                        "(only numbers, strings, numpy arrays, tensors, lists, tuples and dicts can); "
                        "mark this test \"judged in the student's kernel\" in the source notebook")
    return codec.encode(value, other)


def bridge_forbidden_calls() -> None:
    """``check.forbidden`` on a student's function: the call recording runs in the student's kernel.

    The declaration (which names are ruled out, on what input) comes from the
    test code here; the student's side reads its own cells and records the calls
    its function makes, and answers with the uses it found (plain strings). It
    could lie; the grader's parent repeats the reading of the submitted source
    where the student cannot reach (``autograder/steps/forbidden.py``).
    """
    try:
        from dlbricks.check import calls
    except ImportError:  # a course library without forbidden-call checks
        return
    original = calls.scan

    def scan(function: Any, forbidden: Any, namespace: dict, args: Any, kwargs: Any) -> list[str]:
        if type(function) is not StudentObject:
            return original(function, forbidden, namespace, args, kwargs)
        found = function._ask("forbidden", names=[str(n) for n in forbidden],
                              call_args=None if args is None else encode_argument(list(args)),
                              kwargs=dict(kwargs or {}))
        if not isinstance(found, list) or not all(isinstance(x, str) for x in found):
            raise ProxyError("the student's kernel did not list the calls it found")
        return [x[:500] for x in found[:100]]

    calls.scan = scan


class Judge:
    """The judge's state: the master's namespace and the record file of dlbricks.check."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.records_fd = os.memfd_create("dlbricks-check-records")
        os.environ["DLBRICKS_CHECK_RECORD"] = f"/proc/self/fd/{self.records_fd}"
        self.records_read = 0
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}

    def new_records(self) -> list:
        size = os.fstat(self.records_fd).st_size
        os.lseek(self.records_fd, self.records_read, os.SEEK_SET)
        data = os.read(self.records_fd, min(size - self.records_read, MAX_RECORDS_BYTES + 1)) if size > self.records_read else b""
        self.records_read = size
        records = []
        for line in data[:MAX_RECORDS_BYTES].splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"garbled": True})
        return records

    def bind(self, names: list[str]) -> None:
        """Bind each student name the code reads to its current value in the student's kernel."""
        for name in names:
            value = self.channel.request({"op": "get", "name": name})
            if value is MISSING:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value

    def run(self, code: str, reads: list[str]) -> dict:
        out = io.StringIO()
        error = None
        self.new_records()  # what earlier code wrote is not this code's
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                self.bind(reads)
                exec(compile(transform(code), "<test cell>", "exec"), self.namespace)
        except BaseException as exc:  # the test failed (or the master's code did): report, go on
            error = {"ename": type(exc).__name__[:200], "evalue": _message(exc)}
        stdout = out.getvalue()
        if len(stdout) > MAX_STDOUT:
            stdout = stdout[:MAX_STDOUT] + "\n[... output truncated ...]\n"
        return {"op": "done", "status": "ok" if error is None else "error", "error": error,
                "records": self.new_records(), "stdout": stdout}


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:4000]
    except Exception:
        return "(the message could not be read)"


def transform(code: str) -> str:
    """IPython syntax (magics) as plain Python, as the kernel would run it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return code
    return TransformerManager().transform_cell(code)


def main() -> int:
    make_undumpable()  # before any test code arrives: the student's processes share our uid
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # stray native output (TensorFlow's) must not corrupt the protocol
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull)
    channel = Channel(proto_in, proto_out)
    judge = Judge(channel)
    bridge_forbidden_calls()
    channel.send({"op": "ready"})
    while True:
        command = channel.receive()
        if command.get("op") != "run":
            continue
        channel.send(judge.run(str(command.get("code", "")), [str(n) for n in command.get("reads", [])]))
