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
        ("setup": the master's own lesson-state code, whose output is dropped)
    {"answer": <the student's side's JSON answer, a string>} | {"failure": {...}}
        (only while a "proxy" request of ours is open)

judge -> runner::

    {"op": "ready"}
    {"op": "proxy", "request": {...}}      a request for the student's side
    {"op": "done", "status": "ok" | "error", "error": {"ename", "evalue"} | None,
     "records": [...], "stdout": str}
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import pathlib
import sys
import types
from typing import Any

import numpy as np

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
        self.in_callback = False

    def call_back(self, text: Any, sent: dict) -> str:
        """Run a function of the test that the student's code calls, with plain data; the answer as text.

        Only a function the judge passed with the request can be called, only
        called (no attribute of it is read), with arguments decoded as untrusted
        plain data; its result goes back as plain data, an exception as its type
        name and message.
        """
        try:
            call = json.loads(text) if isinstance(text, str) else None
            if not isinstance(call, dict) or set(call) != {"$call", "args", "kwargs"} \
                    or type(call["$call"]) is not int or not isinstance(sent.get(call["$call"]), types.FunctionType):
                raise codec.CodecError("not a call of a function the test passed")
            args, kwargs = codec.decode(call["args"]), codec.decode(call["kwargs"])
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise codec.CodecError("garbled arguments")
            self.in_callback = True
            try:
                result = sent[call["$call"]](*args, **kwargs)
            finally:
                self.in_callback = False
            return json.dumps({"ok": codec.encode(result)}, allow_nan=False, separators=(",", ":"))
        except Exception as exc:  # the test's function raised, or the call was garbage: the caller hears of it
            return json.dumps(codec.exception_answer(exc), separators=(",", ":"))

    def send(self, message: dict) -> None:
        self.wfile.write(json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n")
        self.wfile.flush()

    def receive(self) -> dict:
        line = self.rfile.readline(MAX_LINE)
        if not line:
            raise SystemExit(0)  # the runner is gone
        return json.loads(line)

    def request(self, request: dict, sent: dict | None = None) -> Any:
        """Send ``request`` to the student's side; its decoded result, or raise what it raised.

        ``sent``: the judge's graph nodes and variables that went with the request, by key.
        """
        if self.in_callback:
            raise ProxyError("the student's objects cannot be used in a function the student's code calls back")
        self.send({"op": "proxy", "request": request})
        reply = self.receive()
        while "callback" in reply:  # the student's code calls a function the test passed it
            self.send({"op": "callback_answer", "answer": self.call_back(reply["callback"], sent or {})})
            reply = self.receive()
        if "failure" in reply:  # the runner's own account: a timeout, a dead kernel
            failure = reply["failure"]
            raise RAISABLE.get(failure.get("raised"), ProxyError)(str(failure.get("message", ""))[:2000])
        return self.decode_answer(reply.get("answer"), sent or {})

    def decode_answer(self, text: Any, sent: dict | None = None) -> Any:
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
        if not {"ok"} <= set(answer) <= {"ok", "sync"}:
            raise ProxyError("the student's kernel answered with something that is not data")
        sent = sent or {}
        try:
            value = codec.decode(answer["ok"], lambda h: StudentObject(h, self), made=dict(sent))
            sync_variables(answer.get("sync", []), sent)
        except (codec.CodecError, RecursionError) as exc:
            raise ProxyError(f"the value cannot be used: {exc}") from None
        return value


MISSING = object()


def sync_variables(synced: Any, sent: dict) -> None:
    """Give the judge's variables that went with a call the values the student's code left in its copies.

    Only variables the judge sent are touched, each with an array of its own
    shape (the student's training is what the test then reads); anything else
    is refused.
    """
    import numpy as np

    if type(synced) is not list or len(synced) > len(sent):
        raise codec.CodecError("garbled variable values")
    for pair in synced:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int or pair[0] not in sent:
            raise codec.CodecError("a value for a variable that was not sent")
        target = sent[pair[0]]
        value = codec.decode(pair[1])
        if not codec.is_graph_tensor(target) and not hasattr(target, "assign"):
            raise codec.CodecError("a value for something that is not a variable")
        if codec.is_graph_tensor(target):
            if target.op != "variable" or type(value) is not np.ndarray or value.shape != target.value.shape:
                raise codec.CodecError(f"the student's code changed the shape of the variable {target.name or ''}")
            target.value = value.astype(target.value.dtype)
        else:
            shape = tuple(target.shape)
            if type(value) is not np.ndarray or value.shape != shape:
                raise codec.CodecError("the student's code changed the shape of a tf.Variable it was given")
            target.assign(value.astype(target.dtype.as_numpy_dtype))


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
        sent: dict = {}
        for name in ("args", "call_args"):
            if fields.get(name) is not None:
                fields[name] = encode_argument(list(fields[name]), sent)
        if "kwargs" in fields:
            fields["kwargs"] = encode_argument(dict(fields["kwargs"]), sent)
        request.update(fields)
        return self._channel.request(request, sent)

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

    def __float__(self) -> float:
        import numpy as np

        value = self._ask("array")
        if not isinstance(value, np.ndarray) or value.size != 1 or value.dtype.kind not in "biuf":
            raise TypeError(f"the student's {self._handle.type_name} is not a single number")
        return float(value.reshape(()))

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


def library_function(obj: Any) -> list[str] | None:
    """[module, name] of a course-library function (``G.relu``), which the student's side has too."""
    import types

    if type(obj) is not types.FunctionType:
        return None
    module, name = getattr(obj, "__module__", None) or "", getattr(obj, "__qualname__", "")
    if module not in codec.LIBRARY_FUNCTION_MODULES or not name.isidentifier():
        return None
    return [module, name] if getattr(sys.modules.get(module), name, None) is obj else None


def encode_argument(value: Any, sent: dict | None = None) -> Any:
    """An argument for the student's side: plain data, tensors as arrays, the student's own objects.

    dlbricks.graph tensors go as copies of their graph, tf.Variables as new
    variables; both are recorded in ``sent`` (by key), so that the nodes the
    student's code builds on them come back as the judge's own, and the
    variables it changes come back as new values (see :func:`sync_variables`).
    """
    sent = {} if sent is None else sent

    def keyed(node: Any) -> tuple:
        sent[id(node)] = node
        return id(node), False

    def other(obj: Any) -> Any:
        if type(obj) is StudentObject:
            h = obj._handle
            return {"$h": h.id, "t": h.type_name, "c": h.callable}
        if codec.is_graph_tensor(obj):
            return codec.encode_graph(obj, keyed)
        named = library_function(obj)
        if named is not None:
            return {"$fn": named}
        if type(obj) is types.FunctionType:  # the test's own function: the student's code calls it back
            sent[id(obj)] = obj
            return {"$jf": id(obj)}
        module = type(obj).__module__ or ""
        if module == "dlbricks.graph" and type(obj).__name__ == "Session":
            return {"$gs": 0}
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(obj, tf.Variable):
            sent[id(obj)] = obj
            return {"$tv": {"k": id(obj), "v": codec.encode(np.asarray(obj.numpy()))}}
        config = keras_configuration(obj) if module.startswith("keras") else None
        if config is not None:
            return {"$keras": config}
        if module.startswith(("tensorflow", "keras")) and hasattr(obj, "numpy"):
            return {"$tf": codec.encode(np.asarray(obj.numpy()))}
        if isinstance(obj, pathlib.PurePath):
            return {"$path": str(obj)}
        if module.startswith("numpy") and type(obj).__name__ == "Generator" and hasattr(obj, "bit_generator"):
            return {"$rng": codec.encode(obj.bit_generator.state)}  # a copy: the judge's own does not advance
        if hasattr(obj, "__array__") and module.startswith("numpy"):
            return codec.encode(np.asarray(obj))
        raise TypeError(f"a {type(obj).__name__} cannot be passed to the student's code "
                        "(only numbers, strings, numpy arrays, tensors, tf.Variables, dlbricks.graph "
                        "tensors and sessions, functions, lists, tuples and dicts can); "
                        "mark this test \"judged in the student's kernel\" in the source notebook")
    return codec.encode(value, other)


def trace_in_student_kernel() -> None:
    """``tf.function(f)`` of a student's callable ``f`` traces it in the student's kernel.

    Tracing runs the student's Python code on symbolic tensors, which cannot
    cross the channel; the traced function stays beside the code, and the judge
    holds a handle to it (calls with plain data, tensors and tf.Variables as
    usual). Other uses of ``tf.function`` are TensorFlow's own. Installed once
    TensorFlow has been imported (by a lesson-state cell), never imported for it.
    """
    tf = sys.modules.get("tensorflow")
    original = getattr(tf, "function", None)
    if original is None or getattr(original, "dlbricks_judge", False):
        return

    def function(func: Any = None, *args: Any, **kwargs: Any) -> Any:
        if type(func) is StudentObject:
            if args or kwargs:
                raise TypeError("tf.function(student's function, ...) takes no options in a judged test")
            return func._ask("tf_function")
        return original(func, *args, **kwargs)

    function.dlbricks_judge = True  # type: ignore[attr-defined]
    function.__doc__ = original.__doc__
    tf.function = function


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
                              call_args=None if args is None else list(args),
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
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins,
                                          "__lazy_module__": LazyModule}

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

    def run(self, code: str, reads: list[str], setup: bool = False) -> dict:
        out = io.StringIO()
        error = None
        self.new_records()  # what earlier code wrote is not this code's
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                self.bind(reads)
                trace_in_student_kernel()
                exec(compile(transform(code, setup), "<test cell>", "exec"), self.namespace)
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


def transform(code: str, setup: bool = False) -> str:
    """IPython syntax (magics) as plain Python, as the kernel would run it; heavy imports made lazy.

    ``setup``: the master's own lesson-state code, whose output nobody sees: its
    top-level ``print(...)`` of plain names and attributes is left out (printing
    ``tf.__version__`` would import TensorFlow for nothing).
    """
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        pass
    else:
        code = TransformerManager().transform_cell(code)
    return lazy_imports(code, drop_prints=setup)


# Libraries whose import costs seconds (TensorFlow, Keras) or a good part of one (matplotlib):
# the judge binds their names to a module that imports on first use, so a test that never
# touches them (most of lesson 01's) never pays for them.
LAZY_LIBRARIES = ("tensorflow", "keras", "matplotlib")


class LazyModule(types.ModuleType):
    """A module imported on its first attribute read (then every read goes to the real module)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__dict__["_lazy_target"])
        trace_in_student_kernel()  # TensorFlow has just arrived: tf.function learns of students' callables
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<module {self.__dict__['_lazy_target']!r} (imported on first use)>"


def _print_only(node: ast.stmt) -> bool:
    """``print(...)`` whose arguments call nothing (names, attributes, constants, f-strings of them)."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print"
            and not any(isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr))
                        for arg in [*node.value.args, *node.value.keywords] for n in ast.walk(arg)))


def lazy_imports(code: str, drop_prints: bool = False) -> str:
    """``code`` with its top-level ``import tensorflow as tf`` (and the like) as lazy bindings.

    ``drop_prints``: leave out top-level ``print`` statements that call nothing (see :func:`transform`).
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # exec reports it
    changed = False
    body = []
    for node in tree.body:
        if isinstance(node, ast.Import) and all(
                alias.name.split(".")[0] in LAZY_LIBRARIES and (alias.asname or "." not in alias.name)
                for alias in node.names):
            for alias in node.names:
                body.append(ast.copy_location(ast.parse(
                    f"{alias.asname or alias.name} = __lazy_module__({alias.name!r})").body[0], node))
            changed = True
        elif drop_prints and _print_only(node):
            changed = True
        else:
            body.append(node)
    if not changed:
        return code
    tree.body = body
    return ast.unparse(ast.fix_missing_locations(tree))


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
        channel.send(judge.run(str(command.get("code", "")), [str(n) for n in command.get("reads", [])],
                               setup=command.get("kind") == "setup"))
