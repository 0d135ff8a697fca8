"""The proxy channel's value format: plain data as JSON, never pickle.

Both ends use this module: the judge encodes arguments and decodes results;
the student's kernel runs a copy of this source (see :mod:`.student_side`) to
decode arguments and encode results. What the student's side sends is
untrusted, so :func:`decode` checks everything: types, dtypes, shapes against
byte counts, nesting depth and the number of elements. It never evaluates,
imports or unpickles anything.

Format (a JSON value)::

    None, true/false, int, float, str      themselves (ints up to 256 bits)
    [..]                                   a list
    {"$t": [..]}                           a tuple
    {"$d": [[key, value], ..]}             a dict (keys: str, int, float, bool, None, tuples)
    {"$f": "nan" | "inf" | "-inf"}         a float that JSON cannot hold
    {"$a": dtype, "s": shape, "b": b64}    a numpy array of a numeric or bool dtype
    {"$n": dtype, "b": b64}                a numpy scalar (np.float64, np.int32, np.bool_, ...)
    {"$tf": {"$a": ...}}                   a TensorFlow tensor (judge to student only)
    {"$path": str}                         a pathlib path (judge to student only)
    {"$keras": config}                     a Keras optimiser, loss, metric, initializer or regularizer,
                                           as its serialized config (judge to student only)
    {"$rng": {...}}                        a numpy Generator's bit generator state (judge to student only)
    {"$h": id, "t": type name, "c": bool, "m": module, "q": qualname}
                                           an object that stays in the student's process (a handle)
    {"$g": [node, ..]}                     a dlbricks.graph tensor and its graph, parents first (a copy,
                                           both ways); node = {"k": key} (a node the other side sent
                                           in this request) or {"k", "op", "p": [parent keys], "a": attrs,
                                           "n": name, "s": shape hint, "v": array (const, variable)}
    {"$r": key}                            a graph node named in a node's attrs (sgd's variables, grad's wrt)
    {"$gs": 0}                             a dlbricks.graph Session (judge to student only: a new one)
    {"$tv": {"k": key, "v": array}}        a tf.Variable (judge to student only: a new one, whose value
                                           goes back after the call)
    {"$sl": [start, stop, step]}, {"$el": 0}   a slice, Ellipsis (in a graph node's index)
    {"$fn": [module, name]}                a function of the course library, e.g. dlbricks.graph.relu
                                           (judge to student only: the student's side's own one)
    {"$jf": key}                           a function of the test (judge to student only): calling it
                                           asks the judge, through the kernel's input channel, as
                                           {"$call": key, "args": [..], "kwargs": {"$d": ..}}

A whole answer of the student's side is one of::

    {"ok": value, "sync": [[key, array], ..]}   the result, and the values after the call of the
                                           variables (graph or TensorFlow) the judge sent with it
    {"raised": name, "bases": [..], "message": str}   the exception it raised
"""
from __future__ import annotations

import base64
import math
from typing import Any

MAX_DEPTH = 32
MAX_ELEMENTS = 20_000_000  # numbers in one message (a float64 array of 160 MB at most)
MAX_INT_BITS = 256
MAX_MESSAGE_LEN = 2_000  # characters of an exception's message kept
MAX_GRAPH_NODES = 100_000
GRAPH_LEAVES = ("const", "variable", "placeholder")
GRAPH_STEPS = ("grad", "sgd")
LIBRARY_FUNCTION_MODULES = ("dlbricks.graph", "dlbricks.nn", "dlbricks.losses")
# Fixed-size dtypes an array may have, in numpy's little-endian notation.
DTYPES = frozenset({"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"})


class CodecError(ValueError):
    """A value that is not plain data of this format (or too large, or too deep)."""


class Handle:
    """Marks an object that stays on the student's side: its id there, its type's name, module
    and qualified name (as the student's side claims them), and whether it is callable."""

    __slots__ = ("id", "type_name", "callable", "module", "qualname")

    def __init__(self, id: int, type_name: str, callable: bool, module: str = "", qualname: str = "") -> None:
        self.id, self.type_name, self.callable = id, type_name, callable
        self.module, self.qualname = module, qualname


RECEIVES_JUDGE_FUNCTIONS = False  # True in the student's kernel's copy of this module


class JudgeFunction:
    """A function of the test, on the student's side: a call goes to the judge and back.

    The request travels as the prompt of an input request of the kernel (the
    one way the student's side can reach the judge while the judge waits for
    an answer); arguments and result are plain data, an exception comes back
    as a builtin type (others as RuntimeError) with its message.
    """

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import builtins
        import json

        from IPython import get_ipython

        try:
            data = {"$call": self.key, "args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        except CodecError as exc:
            raise TypeError(f"a function of the test takes plain data only: {exc}") from None
        request = json.dumps(data, allow_nan=False, separators=(",", ":"))
        answer = json.loads(get_ipython().kernel.raw_input(request))
        if isinstance(answer, dict) and "raised" in answer:
            kind = getattr(builtins, str(answer.get("raised")), None)
            kind = kind if isinstance(kind, type) and issubclass(kind, Exception) else RuntimeError
            raise kind(str(answer.get("message", "")))
        return decode(answer["ok"])

    def __repr__(self) -> str:
        return "<a function of the test>"


class _Budget:
    def __init__(self, elements: int) -> None:
        self.left = elements

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise CodecError(f"the value holds more than {MAX_ELEMENTS:,} numbers")


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------
def encode(value: Any, handle_of: Any = None, depth: int = 0, budget: _Budget | None = None) -> Any:
    """``value`` as JSON data; ``handle_of(obj)`` encodes what is not plain data (or raises)."""
    budget = budget or _Budget(MAX_ELEMENTS)
    if depth > MAX_DEPTH:
        raise CodecError(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        budget.take(1 + (len(value) // 8 if kind is str else 0))
        return value
    if kind is int:
        if value.bit_length() > MAX_INT_BITS:
            raise CodecError(f"an integer larger than {MAX_INT_BITS} bits")
        budget.take(1)
        return value
    if kind is float:
        budget.take(1)
        if math.isfinite(value):
            return value
        return {"$f": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if kind is list or kind is tuple:
        budget.take(1)
        items = [encode(v, handle_of, depth + 1, budget) for v in value]
        return items if kind is list else {"$t": items}
    if kind is dict:
        budget.take(1)
        return {"$d": [[encode(k, handle_of, depth + 1, budget), encode(v, handle_of, depth + 1, budget)]
                       for k, v in value.items()]}
    np = _numpy()
    if np is not None and kind is np.ndarray:
        return _encode_array(value, budget)
    if np is not None and isinstance(value, np.generic) and type(value).__module__ == "numpy":
        dtype = _dtype_name(value.dtype)
        if dtype is not None:
            budget.take(1)
            return {"$n": dtype, "b": base64.b64encode(np.asarray(value).astype(dtype).tobytes()).decode()}
    if handle_of is None:
        raise CodecError(f"a value of type {kind.__name__} is not plain data")
    return handle_of(value)


def _encode_array(arr: Any, budget: _Budget) -> dict:
    np = _numpy()
    dtype = _dtype_name(arr.dtype)
    if dtype is None:
        raise CodecError(f"an array of dtype {arr.dtype} (only numbers and booleans are sent)")
    budget.take(int(arr.size))
    data = np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes()
    return {"$a": dtype, "s": [int(n) for n in arr.shape], "b": base64.b64encode(data).decode()}


def _dtype_name(dtype: Any) -> str | None:
    np = _numpy()
    if dtype.kind not in "biuf" or dtype.hasobject or dtype.fields is not None:
        return None
    name = np.dtype(dtype).newbyteorder("<").str if dtype.itemsize > 1 else np.dtype(dtype).str
    name = name.replace(">", "<").replace("=", "<")
    if dtype.kind == "b":
        name = "|b1"
    elif dtype.itemsize == 1:
        name = "|" + name[1:]
    return name if name in DTYPES else None


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is part of the course environment
        return None
    return numpy


def exception_answer(exc: BaseException) -> dict:
    """An exception as plain data: its type name, builtin base classes and message."""
    import builtins

    bases = [c.__name__ for c in type(exc).__mro__
             if getattr(builtins, c.__name__, None) is c and issubclass(c, BaseException)]
    try:
        message = str(exc)[:MAX_MESSAGE_LEN]
    except Exception:  # a message that cannot even be shown
        message = "(the exception's message could not be read)"
    return {"raised": str(type(exc).__name__)[:200], "bases": bases[:20], "message": message}


# --------------------------------------------------------------------------
# Decoding (of untrusted data)
# --------------------------------------------------------------------------
def decode(data: Any, make_handle: Any = None, depth: int = 0, budget: _Budget | None = None,
           made: dict | None = None) -> Any:
    """Invert :func:`encode`, checking everything; ``make_handle(Handle)`` builds handle objects.

    ``made`` maps the keys of mutable copies (graph nodes, variables) to the
    objects that stand for them in this request: on the student's side the copies
    it makes of the judge's objects, on the judge's side the judge's own objects
    that it sent (a node the student's side only refers to is the judge's own).
    """
    budget = budget or _Budget(MAX_ELEMENTS)
    made = {} if made is None else made
    if depth > MAX_DEPTH:
        raise CodecError(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(data)
    if data is None or kind is bool or kind is str:
        budget.take(1 + (len(data) // 8 if kind is str else 0))
        return data
    if kind is int:
        if data.bit_length() > MAX_INT_BITS:
            raise CodecError(f"an integer larger than {MAX_INT_BITS} bits")
        budget.take(1)
        return data
    if kind is float:
        if not math.isfinite(data):
            raise CodecError("a non-finite float outside its marker")
        budget.take(1)
        return data
    if kind is list:
        budget.take(1)
        return [decode(v, make_handle, depth + 1, budget, made) for v in data]
    if kind is not dict or len(data) == 0:
        raise CodecError(f"unexpected {kind.__name__} in the data")
    if "$t" in data and len(data) == 1 and type(data["$t"]) is list:
        budget.take(1)
        return tuple(decode(v, make_handle, depth + 1, budget, made) for v in data["$t"])
    if "$d" in data and len(data) == 1 and type(data["$d"]) is list:
        budget.take(1)
        out = {}
        for pair in data["$d"]:
            if type(pair) is not list or len(pair) != 2:
                raise CodecError("a garbled dict item")
            key = decode(pair[0], None, depth + 1, budget)
            try:
                hash(key)
            except TypeError:
                raise CodecError("a dict key that cannot be hashed") from None
            out[key] = decode(pair[1], make_handle, depth + 1, budget, made)
        return out
    if "$f" in data and len(data) == 1:
        special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
        if data["$f"] not in special:
            raise CodecError("a garbled float marker")
        budget.take(1)
        return special[data["$f"]]
    if "$a" in data:
        return _decode_array(data, budget)
    if "$n" in data:
        if set(data) != {"$n", "b"}:
            raise CodecError("a garbled numpy scalar")
        arr = _decode_array({"$a": data["$n"], "s": [], "b": data["b"]}, budget)
        return arr[()]
    if "$tf" in data and len(data) == 1:
        arr = _decode_array(data["$tf"], budget) if type(data["$tf"]) is dict else None
        if arr is None:
            raise CodecError("a garbled tensor")
        import tensorflow as tf  # only the student's side receives tensors

        return tf.constant(arr)
    if "$keras" in data and len(data) == 1:
        import keras  # only the student's side receives Keras configuration objects: a new one

        return keras.saving.deserialize_keras_object(decode(data["$keras"], None, depth + 1, budget))
    if "$tv" in data and len(data) == 1 and type(data["$tv"]) is dict and set(data["$tv"]) == {"k", "v"}:
        key = data["$tv"]["k"]
        if type(key) is not int:
            raise CodecError("a garbled variable")
        if key not in made:  # only the student's side receives variables: a new one, synced back after the call
            import tensorflow as tf

            arr = _decode_array(data["$tv"]["v"], budget) if type(data["$tv"]["v"]) is dict else None
            if arr is None:
                raise CodecError("a garbled variable")
            made[key] = tf.Variable(arr)
        return made[key]
    if "$fn" in data and len(data) == 1 and type(data["$fn"]) is list and len(data["$fn"]) == 2 \
            and data["$fn"][0] in LIBRARY_FUNCTION_MODULES and type(data["$fn"][1]) is str \
            and data["$fn"][1].isidentifier():
        import importlib  # only the student's side receives functions: its own copy of the library's

        return getattr(importlib.import_module(data["$fn"][0]), data["$fn"][1])
    if "$jf" in data and len(data) == 1 and type(data["$jf"]) is int and RECEIVES_JUDGE_FUNCTIONS:
        return JudgeFunction(data["$jf"])
    if "$gs" in data and len(data) == 1:
        from dlbricks import graph  # a dlbricks.graph Session holds nothing: a new one

        return graph.Session()
    if "$g" in data and len(data) == 1 and type(data["$g"]) is list:
        return _decode_graph(data["$g"], budget, made, depth)
    if "$r" in data and len(data) == 1:
        if type(data["$r"]) not in (int, str) or not is_graph_tensor(made.get(data["$r"])):
            raise CodecError("a reference to a graph node that was not sent")
        return made[data["$r"]]
    if "$sl" in data and len(data) == 1 and type(data["$sl"]) is list and len(data["$sl"]) == 3 \
            and all(v is None or type(v) is int for v in data["$sl"]):
        budget.take(1)
        return slice(*data["$sl"])
    if "$el" in data and len(data) == 1:
        return Ellipsis
    if "$path" in data and len(data) == 1 and type(data["$path"]) is str:
        import pathlib  # only the student's side receives paths

        return pathlib.Path(data["$path"])
    if "$rng" in data and len(data) == 1 and type(data["$rng"]) is dict:
        np = _numpy()  # only the student's side receives generators: a copy in the same state
        state = decode(data["$rng"], None, depth + 1, budget)
        bit_generator = getattr(np.random, str(state.get("bit_generator", "")), None)
        if bit_generator is None or not isinstance(bit_generator, type):
            raise CodecError("an unknown random generator")
        generator = np.random.Generator(bit_generator())
        generator.bit_generator.state = state
        return generator
    if "$h" in data:
        if make_handle is None or not {"$h", "t", "c"} <= set(data) <= {"$h", "t", "c", "m", "q"} \
                or type(data["$h"]) is not int or type(data["t"]) is not str or type(data["c"]) is not bool \
                or type(data.get("m", "")) is not str or type(data.get("q", "")) is not str:
            raise CodecError("a garbled or unexpected handle")
        budget.take(1)
        return make_handle(Handle(data["$h"], data["t"][:200], data["c"], data.get("m", "")[:200],
                                  data.get("q", "")[:200]))
    raise CodecError("an unknown marker in the data")


def _decode_array(data: dict, budget: _Budget) -> Any:
    np = _numpy()
    if set(data) != {"$a", "s", "b"} or data["$a"] not in DTYPES or type(data["b"]) is not str:
        raise CodecError("a garbled array")
    shape = data["s"]
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape):
        raise CodecError("a garbled array shape")
    count = math.prod(shape)
    budget.take(count)
    dtype = np.dtype(data["$a"])
    try:
        raw = base64.b64decode(data["b"].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise CodecError("garbled array data") from None
    if len(raw) != count * dtype.itemsize:
        raise CodecError(f"the array data ({len(raw)} bytes) does not match its shape {tuple(shape)}")
    if dtype.kind == "b":  # any nonzero byte is True, as numpy itself would read it
        return np.frombuffer(raw, dtype=np.uint8).reshape(shape) != 0
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------
# dlbricks.graph tensors: copies of the nodes, both ways
# --------------------------------------------------------------------------
def is_graph_tensor(value: Any) -> bool:
    kind = type(value)
    return kind.__name__ == "Tensor" and kind.__module__ == "dlbricks.graph"


def _graph_inputs(node: Any) -> list:
    found = list(node.parents)
    for value in node.attrs.values():
        if is_graph_tensor(value):
            found.append(value)
        elif type(value) in (list, tuple):
            found += [v for v in value if is_graph_tensor(v)]
    return found


def encode_graph(output: Any, key_of: Any, budget: _Budget | None = None) -> dict:
    """A dlbricks.graph tensor and everything upstream of it, parents first.

    ``key_of(node) -> (key, known)``: a known node (one the other side sent in
    this request) goes as ``{"k": key}`` alone, and what is upstream of it is
    not sent again.
    """
    budget = budget or _Budget(MAX_ELEMENTS)
    np = _numpy()
    order: list = []
    state: dict[int, int] = {}
    stack = [output]
    while stack:  # iterative post-order: deep graphs do not reach the recursion limit
        node = stack[-1]
        seen = state.get(id(node))
        if seen is None:
            state[id(node)] = 1
            if not key_of(node)[1]:
                stack += [p for p in _graph_inputs(node) if id(p) not in state]
            continue
        stack.pop()
        if seen == 1:
            state[id(node)] = 2
            order.append(node)
        if len(order) > MAX_GRAPH_NODES:
            raise CodecError(f"the graph has more than {MAX_GRAPH_NODES:,} nodes")

    def in_attrs(obj: Any) -> Any:
        if is_graph_tensor(obj):
            return {"$r": key_of(obj)[0]}
        if type(obj) is slice:
            return {"$sl": [obj.start, obj.stop, obj.step]}
        if obj is Ellipsis:
            return {"$el": 0}
        raise CodecError(f"a graph node's setting of type {type(obj).__name__} is not plain data")

    nodes = []
    for node in order:
        key, known = key_of(node)
        if known:
            nodes.append({"k": key})
            continue
        budget.take(1)
        hint = node.shape_hint
        item = {"k": key, "op": str(node.op), "p": [key_of(p)[0] for p in node.parents],
                "a": encode(dict(node.attrs), in_attrs, 1, budget),
                "n": node.name if type(node.name) is str else None,
                "s": None if hint is None else [None if n is None else int(n) for n in hint]}
        if node.op in ("const", "variable"):
            item["v"] = _encode_array(np.asarray(node.value), budget)
        nodes.append(item)
    return {"$g": nodes}


def _decode_graph(items: list, budget: _Budget, made: dict, depth: int) -> Any:
    from dlbricks import graph

    if len(items) > MAX_GRAPH_NODES:
        raise CodecError(f"the graph has more than {MAX_GRAPH_NODES:,} nodes")
    node = None
    for item in items:
        if type(item) is not dict or type(item.get("k")) not in (int, str):
            raise CodecError("a garbled graph node")
        key = item["k"]
        if key in made:  # sent by the other side in this request, or defined above
            node = made[key]
            if not is_graph_tensor(node):
                raise CodecError("a graph node that is not one")
            continue
        if set(item) == {"k"}:
            raise CodecError("a reference to a graph node that was not sent")
        node = _graph_node(graph, item, budget, made, depth)
        made[key] = node
    if node is None:
        raise CodecError("an empty graph")
    return node


def _graph_node(graph: Any, item: dict, budget: _Budget, made: dict, depth: int) -> Any:
    """One node of an untrusted graph, built with this side's own dlbricks.graph and computed here."""
    if not set(item) <= {"k", "op", "p", "a", "n", "s", "v"}:
        raise CodecError("a garbled graph node")
    budget.take(1)
    op = item.get("op")
    if type(op) is not str or (op not in graph.OPS and op not in GRAPH_LEAVES + GRAPH_STEPS):
        raise CodecError(f"a graph node of an unknown operation {str(op)[:50]!r}")
    keys = item.get("p", [])
    if type(keys) is not list or not all(type(k) in (int, str) and k in made and is_graph_tensor(made[k])
                                         for k in keys):
        raise CodecError("a graph node whose inputs were not sent before it")
    parents = tuple(made[k] for k in keys)
    attrs = decode(item.get("a", {"$d": []}), None, depth + 1, budget, made)
    if type(attrs) is not dict or not all(type(k) is str for k in attrs):
        raise CodecError("a graph node with garbled settings")
    name = item.get("n")
    if name is not None and type(name) is not str:
        raise CodecError("a graph node with a garbled name")
    name = None if name is None else name[:200]
    hint = item.get("s")
    if hint is not None and (type(hint) is not list or len(hint) > 32
                             or not all(n is None or (type(n) is int and n >= 0) for n in hint)):
        raise CodecError("a graph node with a garbled shape")
    if op in GRAPH_LEAVES:
        if parents or attrs:
            raise CodecError("a garbled graph leaf")
        if op == "placeholder":
            return graph.placeholder(None if hint is None else tuple(hint), name=name)
        value = item.get("v")
        arr = _decode_array(value, budget) if type(value) is dict else None
        if arr is None:
            raise CodecError("a graph constant without its value")
        return graph.variable(arr, name=name) if op == "variable" else graph.constant(arr, name=name)
    node = graph.Tensor.__new__(graph.Tensor)
    node.grad, node.name, node.edge_grads, node.shape_hint = None, name, None, None
    node.op, node.parents, node.attrs = op, parents, attrs
    if op == "grad":
        if len(parents) != 1 or set(attrs) != {"wrt"} or not is_graph_tensor(attrs["wrt"]):
            raise CodecError("a garbled gradient node")
        node.requires_grad, node.symbolic, node.value, node.shape_hint = False, True, None, attrs["wrt"].shape
        return node
    if op == "sgd":
        variables, lr = attrs.get("variables"), attrs.get("lr")
        if len(parents) != 1 or set(attrs) != {"variables", "lr"} or type(variables) not in (list, tuple) \
                or not all(is_graph_tensor(v) for v in variables) or type(lr) not in (int, float):
            raise CodecError("a garbled training-step node")
        node.attrs = {"variables": tuple(variables), "lr": float(lr)}
        node.requires_grad, node.symbolic, node.value, node.shape_hint = False, True, None, ()
        return node
    node.requires_grad = any(p.requires_grad for p in parents)
    node.symbolic = any(p.symbolic for p in parents)
    node.value = None
    if not node.symbolic:  # computed here, from the inputs: a value claimed by the other side is not read
        try:
            node.value = graph._evaluate(node)
        except Exception as exc:
            raise CodecError(f"the graph's {op} node cannot be computed ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
    return node
