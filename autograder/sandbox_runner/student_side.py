"""What the student's kernel runs for the proxy channel (the student's side of it).

The runner sends this module's source, with :mod:`.codec`'s, to the student's
kernel once, silently; it lives there as the module ``_dlbricks_proxy``. The
judge's requests arrive as ``_dlbricks_proxy.serve(request_json)`` and the
answer is read back from ``_dlbricks_proxy.last``.

Nothing here is trusted: the student's code can replace any of it. That is
fine by design. It only ever sees the arguments of calls the judge makes, never
test code or an expected value, and the judge decodes and checks whatever
comes back as it would any value a student's function returns.
"""
from __future__ import annotations

import json
from typing import Any

from .codec import CodecError, decode, encode, encode_graph, exception_answer, is_graph_tensor  # noqa: F401 (replaced in the kernel)

MAX_ANSWER_CHARS = 48 * 1024 * 1024

_objects: dict[int, Any] = {}
last = ""


def _handle(obj: Any) -> dict:
    key = id(obj)
    _objects[key] = obj
    kind = type(obj)
    return {"$h": key, "t": str(kind.__name__), "c": callable(obj),
            "m": str(getattr(kind, "__module__", "")), "q": str(getattr(kind, "__qualname__", ""))}


def _object(handle: Any) -> Any:
    if handle.id not in _objects:
        raise LookupError("the judge asked for an object that is gone")
    return _objects[handle.id]


def _namespace() -> dict:
    from IPython import get_ipython

    return get_ipython().user_ns


def _encoder(made: dict) -> Any:
    """How a result that is not plain data goes back: graph tensors as copies (the nodes the judge
    sent by their keys), anything else as a handle."""
    sent = {id(obj): key for key, obj in made.items()}

    def other(obj: Any) -> Any:
        if is_graph_tensor(obj):
            return encode_graph(obj, lambda n: (sent[id(n)], True) if id(n) in sent else (f"s{id(n)}", False))
        return _handle(obj)
    return other


def _synced(made: dict) -> list:
    """The values, after the call, of the variables the judge sent (its copies are updated from them)."""
    out = []
    for key, obj in made.items():
        if is_graph_tensor(obj):
            if obj.op == "variable":
                out.append([key, encode(obj.value)])
        elif type(obj).__name__ in ("ResourceVariable", "UninitializedVariable") or hasattr(obj, "assign_sub"):
            out.append([key, encode(obj.numpy())])
    return out


def _run(request: dict) -> Any:
    op = request["op"]
    if op == "get":
        ns = _namespace()
        if request["name"] not in ns:
            return {"missing": True}
        return {"ok": encode(ns[request["name"]], _encoder({}))}
    made: dict = {}
    target = decode(request["h"], _object) if "h" in request else None
    args = decode(request.get("args", []), _object, made=made)
    kwargs = decode(request.get("kwargs", {"$d": []}), _object, made=made)
    if op == "call":
        result = target(*args, **kwargs)
    elif op == "getattr":
        result = getattr(target, request["name"])
    elif op == "setattr":
        setattr(target, request["name"], args[0])
        result = None
    elif op == "getitem":
        result = target[args[0]]
    elif op == "len":
        result = len(target)
    elif op == "list":
        result = list(target)
    elif op == "forbidden":  # check.forbidden in the judge: read our cells, record the calls
        from dlbricks.check import calls

        call_args = decode(request["call_args"], _object, made=made) if request.get("call_args") is not None else None
        result = calls.scan(target, request["names"], _namespace(), call_args, kwargs)
    elif op == "array":
        import numpy

        result = numpy.asarray(target)
    elif op == "repr":
        result = repr(target)[:2000]
    elif op == "tf_function":  # tf.function(student's callable) in a test: traced here, beside the code
        import tensorflow

        result = tensorflow.function(target)
    else:
        raise ValueError(f"unknown proxy request {op!r}")
    answer = {"ok": encode(result, _encoder(made))}
    if made:
        answer["sync"] = _synced(made)
    return answer


def serve(request_json: str) -> None:
    """Answer one request of the judge; the JSON answer is left in ``last``."""
    global last
    try:
        answer = _run(json.loads(request_json))
    except BaseException as exc:  # the student's code raised (or exited): the judge hears of it
        if isinstance(exc, KeyboardInterrupt):  # the time limit: the runner reads which functions ran
            import sys

            sys.last_traceback = exc.__traceback__
        answer = exception_answer(exc)
    text = json.dumps(answer, allow_nan=False, separators=(",", ":"))
    if len(text) > MAX_ANSWER_CHARS:
        text = json.dumps(exception_answer(CodecError(
            f"the value is too large to send ({len(text):,} characters of data)")))
    last = text


def kernel_source() -> str:
    """This module and the codec as one source text for the student's kernel."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    codec = (here / "codec.py").read_text()
    own = Path(__file__).read_text().replace(
        "from .codec import CodecError, decode, encode, encode_graph, exception_answer, is_graph_tensor  # noqa: F401 (replaced in the kernel)", "")
    own = own.replace("from __future__ import annotations", "")
    return codec + "\nRECEIVES_JUDGE_FUNCTIONS = True\n\n" + own


def install_code() -> str:
    """Code that makes ``_dlbricks_proxy`` a module of the student's kernel."""
    return ("import sys as _s, types as _t\n"
            "_m = _t.ModuleType('_dlbricks_proxy')\n"
            f"exec(compile({kernel_source()!r}, '<dlbricks proxy>', 'exec'), _m.__dict__)\n"
            "_s.modules['_dlbricks_proxy'] = _m\n"
            "del _s, _t, _m\n")


def request_code(request: dict) -> str:
    """The code that asks the student's kernel to serve ``request``."""
    return f"__import__('_dlbricks_proxy').serve({json.dumps(request, separators=(',', ':'))!r})"


ANSWER_EXPRESSION = "__import__('_dlbricks_proxy').last"
