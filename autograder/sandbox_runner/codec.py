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

A whole answer of the student's side is one of::

    {"ok": value}                          the result
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
def decode(data: Any, make_handle: Any = None, depth: int = 0, budget: _Budget | None = None) -> Any:
    """Invert :func:`encode`, checking everything; ``make_handle(Handle)`` builds handle objects."""
    budget = budget or _Budget(MAX_ELEMENTS)
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
        return [decode(v, make_handle, depth + 1, budget) for v in data]
    if kind is not dict or len(data) == 0:
        raise CodecError(f"unexpected {kind.__name__} in the data")
    if "$t" in data and len(data) == 1 and type(data["$t"]) is list:
        budget.take(1)
        return tuple(decode(v, make_handle, depth + 1, budget) for v in data["$t"])
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
            out[key] = decode(pair[1], make_handle, depth + 1, budget)
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
