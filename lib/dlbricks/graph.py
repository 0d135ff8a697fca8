"""A small tensor-valued autodiff engine, written to be read.

A :class:`Tensor` holds a numpy value, the op that made it, its parents and,
after a backward pass, its gradient. Every op below keeps its forward rule and
its backward rule side by side, so the chain rule can be read off the code::

    # z = a * b        dz/da = b,  dz/db = a
    _define("mul", forward=lambda a, b: a * b,
                   backward=lambda g, z, a, b: (g * b, g * a))

Two ways to use it, as in the course notes:

Eager mode
    Build and evaluate at once: ``z = exp(a * x + b * y + c); z.backward()``
    fills ``.grad`` of every tensor that requires a gradient.
Symbolic mode
    Declare ``placeholder`` inputs and ``variable`` parameters, build the graph
    (nothing is computed yet), then ``Session().run(fetches, feed_dict)`` as in
    TensorFlow 1. ``grad(loss, variables)`` and ``sgd(loss, variables, lr)``
    make fetchable gradient and training nodes.

Gradients accumulate
    ``backward()`` *adds* into ``.grad`` (as PyTorch does), so calling it twice
    doubles the gradients. Call ``zero_grad()`` between steps. This is on
    purpose: a tensor used by two losses receives the sum of both gradients.

dtypes
    Values are float64 by default, so gradient checks are exact to ~1e-10;
    float32 values stay float32 (Python numbers combined with them do too).
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

# The stable formulas live in one place (softmax with the max taken out, log-softmax,
# sigmoid through tanh); the graph's ops reuse them.
from .losses import log_softmax as _log_softmax
from .losses import sigmoid as _sigmoid
from .losses import softmax as _softmax

__all__ = [
    "Tensor", "as_tensor", "exp", "log", "sigmoid", "relu", "tanh", "softmax",
    "sum", "mean", "reshape", "transpose", "matmul", "softmax_cross_entropy",
    "argmax", "equal", "greater", "placeholder", "variable", "constant", "grad", "sgd",
    "Session", "topological_order", "walk", "local_gradients", "parallel_levels",
    "zero_grad", "OPS",
]

ArrayLike = Any


# --------------------------------------------------------------------------
# The op table: forward and backward rule of every operation, side by side.
# forward(*parent_values, **attrs) -> value
# backward(g, out, *parent_values, **attrs) -> one gradient per parent
#   (g is dLoss/dout; a parent that takes no gradient gets None)
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """Everything the kit knows about one operation, in one place.

    ``forward`` and ``backward`` are the maths. ``symbol`` is how the graph widget
    writes the op in its box (``infix`` when it also reads as ``a + b``), and
    ``tf(tf, node, *parent_tensors)`` is the same op in TensorFlow, used by
    :func:`dlbricks.keras_tools.tape_gradients`; it receives the ``tensorflow``
    module as an argument, so this module never imports TensorFlow.
    """

    name: str
    forward: Callable[..., np.ndarray]
    backward: Callable[..., tuple]
    # True when backward accepts needs=(bool per parent) and skips unwanted gradients
    skips_unneeded: bool = False
    symbol: str | None = None
    infix: str | None = None
    tf: Callable[..., Any] | None = None


OPS: dict[str, Op] = {}


def _define(name: str, forward: Callable[..., np.ndarray], backward: Callable[..., tuple],
            skips_unneeded: bool = False, *, symbol: str | None = None, infix: str | None = None,
            tf: Callable[..., Any] | None = None) -> None:
    OPS[name] = Op(name, forward, backward, skips_unneeded, symbol or infix, infix, tf)


# z = a + b        dz/da = 1, dz/db = 1
_define("add", forward=lambda a, b: a + b,
        backward=lambda g, z, a, b: (g, g),
        infix="+", tf=lambda tf, node, a, b: a + b)
# z = a - b        dz/da = 1, dz/db = -1
_define("sub", forward=lambda a, b: a - b,
        backward=lambda g, z, a, b: (g, -g),
        infix="\u2212", tf=lambda tf, node, a, b: a - b)
# z = a * b        dz/da = b, dz/db = a
_define("mul", forward=lambda a, b: a * b,
        backward=lambda g, z, a, b: (g * b, g * a),
        infix="\u00d7", tf=lambda tf, node, a, b: a * b)
# z = a / b        dz/da = 1/b, dz/db = -a/b^2
_define("div", forward=lambda a, b: a / b,
        backward=lambda g, z, a, b: (g / b, -g * a / (b * b)),
        infix="/", symbol="\u00f7", tf=lambda tf, node, a, b: a / b)
# z = -a           dz/da = -1
_define("neg", forward=lambda a: -a,
        backward=lambda g, z, a: (-g,),
        symbol="\u2212 (neg)", tf=lambda tf, node, a: -a)
# z = a^p (p a number)      dz/da = p a^(p-1)
_define("pow", forward=lambda a, exponent: a ** exponent,
        backward=lambda g, z, a, exponent: (g * exponent * a ** (exponent - 1),),
        symbol="pow", tf=lambda tf, node, a: tf.pow(a, tf.constant(node.attrs["exponent"], dtype=a.dtype)))
# z = a^b (b a tensor)      dz/da = b a^(b-1), dz/db = z log a
_define("pow_tensor", forward=lambda a, b: a ** b,
        backward=lambda g, z, a, b: (g * b * a ** (b - 1), g * z * np.log(a)),
        symbol="pow", tf=lambda tf, node, a, b: tf.pow(a, b))
# z = e^a          dz/da = e^a = z
_define("exp", forward=np.exp,
        backward=lambda g, z, a: (g * z,),
        tf=lambda tf, node, a: tf.exp(a))
# z = log a        dz/da = 1/a
_define("log", forward=np.log,
        backward=lambda g, z, a: (g / a,),
        tf=lambda tf, node, a: tf.math.log(a))
# z = 1/(1+e^-a), computed as (1 + tanh(a/2))/2: no overflow for large |a|
#                  dz/da = z (1 - z)
_define("sigmoid", forward=_sigmoid,
        backward=lambda g, z, a: (g * z * (1.0 - z),),
        symbol="\u03c3 sigmoid", tf=lambda tf, node, a: tf.sigmoid(a))
# z = max(a, 0)    dz/da = 1 where a > 0, else 0
_define("relu", forward=lambda a: np.maximum(a, 0),
        backward=lambda g, z, a: (g * (a > 0),),
        tf=lambda tf, node, a: tf.nn.relu(a))
# z = tanh a       dz/da = 1 - z^2
_define("tanh", forward=np.tanh,
        backward=lambda g, z, a: (g * (1.0 - z * z),),
        tf=lambda tf, node, a: tf.tanh(a))


# z = softmax(a)   dz_i/da_j = z_i (delta_ij - z_j), so g -> z * (g - <g, z>)
_define("softmax", forward=_softmax,
        backward=lambda g, z, a, axis: (z * (g - (g * z).sum(axis=axis, keepdims=True)),),
        tf=lambda tf, node, a: tf.nn.softmax(a, axis=node.attrs.get("axis", -1)))


def _expand_reduced(g: np.ndarray, shape: tuple, axis, keepdims: bool) -> np.ndarray:
    """Put back the axes a reduction removed, then broadcast g to ``shape``."""
    if axis is not None and not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        g = np.expand_dims(g, tuple(ax % len(shape) for ax in axes))
    return np.broadcast_to(g, shape)


def _count(shape: tuple, axis) -> int:
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return int(np.prod([shape[ax] for ax in axes]))


# z = sum of a over axis     dz/da = 1 for every summed entry
_define("sum", forward=lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims),
        backward=lambda g, z, a, axis, keepdims: (_expand_reduced(g, a.shape, axis, keepdims),),
        symbol="\u03a3 sum",
        tf=lambda tf, node, a: tf.reduce_sum(a, axis=_tf_axis(node), keepdims=node.attrs["keepdims"]))
# z = mean of a over axis    dz/da = 1/n for every averaged entry
_define("mean", forward=lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims),
        backward=lambda g, z, a, axis, keepdims: (
            _expand_reduced(g, a.shape, axis, keepdims) / _count(a.shape, axis),),
        tf=lambda tf, node, a: tf.reduce_mean(a, axis=_tf_axis(node), keepdims=node.attrs["keepdims"]))
# Reshape and transpose only move entries: the gradient moves them back.
_define("reshape", forward=lambda a, shape: np.reshape(a, shape),
        backward=lambda g, z, a, shape: (np.reshape(g, a.shape),),
        tf=lambda tf, node, a: tf.reshape(a, node.attrs["shape"]))
_define("transpose", forward=lambda a, axes: np.transpose(a, axes),
        backward=lambda g, z, a, axes: (
            np.transpose(g, None if axes is None else np.argsort(axes)),),
        symbol="transpose", tf=lambda tf, node, a: tf.transpose(
            a, perm=None if node.attrs["axes"] is None else list(node.attrs["axes"])))


def _matmul_backward(g: np.ndarray, z: np.ndarray, a: np.ndarray, b: np.ndarray,
                     needs: tuple[bool, bool] = (True, True)) -> tuple:
    # z = a @ b        dL/da = g @ b^T,  dL/db = a^T @ g   (shapes decide the rest)
    if a.ndim == 1 and b.ndim == 1:          # dot product: z is a scalar
        return g * b, g * a
    if a.ndim == 1:                          # (k,) @ (..., k, m) -> (..., m)
        return (b @ g[..., None])[..., 0], a[:, None] * g[..., None, :]
    if b.ndim == 1:                          # (..., n, k) @ (k,) -> (..., n)
        return g[..., :, None] * b, (np.swapaxes(a, -1, -2) @ g[..., :, None])[..., 0]
    # The two products are the costly part of training: skip one nobody needs (the data X).
    da = g @ np.swapaxes(b, -1, -2) if needs[0] else None
    db = np.swapaxes(a, -1, -2) @ g if needs[1] else None
    return da, db


_define("matmul", forward=np.matmul, backward=_matmul_backward, skips_unneeded=True,
        infix="@", tf=lambda tf, node, a, b: _tf_matmul(tf, a, b))


def _index_backward(g: np.ndarray, z: np.ndarray, a: np.ndarray, index) -> tuple:
    # z = a[index]     the gradient goes back to the entries that were picked
    da = np.zeros_like(a)
    np.add.at(da, index, g)
    return (da,)


_define("getitem", forward=lambda a, index: a[index], backward=_index_backward,
        symbol="[ ] index", tf=lambda tf, node, a: _tf_getitem(tf, a, node.attrs["index"]))


def _one_hot_like(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    if labels.ndim == logits.ndim:           # already one-hot (or soft) targets
        return labels.astype(logits.dtype, copy=False)
    ids = labels.astype(np.int64)
    onehot = np.zeros_like(logits)
    np.put_along_axis(onehot, ids[..., None], 1.0, axis=-1)
    return onehot


def _sce_forward(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # L = mean over the batch of -sum_k y_k log softmax(logits)_k
    targets = _one_hot_like(labels, logits)
    n = logits.shape[0] if logits.ndim > 1 else 1
    return np.asarray(-(targets * _log_softmax(logits)).sum() / n, dtype=logits.dtype)


def _sce_backward(g, z, logits, labels) -> tuple:
    # dL/dlogits = (softmax(logits) - y) / N ; labels take no gradient
    targets = _one_hot_like(labels, logits)
    n = logits.shape[0] if logits.ndim > 1 else 1
    return g * (_softmax(logits) - targets) / n, None


_define("softmax_cross_entropy", forward=_sce_forward, backward=_sce_backward,
        symbol="cross-entropy", tf=lambda tf, node, z, y: _tf_softmax_cross_entropy(tf, node, z, y))

# Comparisons are not differentiable: they pass no gradient back.
_define("argmax", forward=lambda a, axis: np.argmax(a, axis=axis),
        backward=lambda g, z, a, axis: (None,),
        tf=lambda tf, node, a: tf.argmax(a, axis=node.attrs["axis"]))
_define("equal", forward=lambda a, b: (a == b).astype(np.float64),
        backward=lambda g, z, a, b: (None, None),
        tf=lambda tf, node, a, b: tf.stop_gradient(
            tf.cast(tf.equal(tf.cast(a, tf.float64), tf.cast(b, tf.float64)), tf.as_dtype(node.value.dtype))))

# z = [a > b] (1.0 or 0.0): a step, flat on both sides, so no gradient either
_define("greater", forward=lambda a, b: (a > b).astype(np.float64),
        backward=lambda g, z, a, b: (None, None),
        tf=lambda tf, node, a, b: tf.stop_gradient(
            tf.cast(tf.greater(tf.cast(a, tf.float64), tf.cast(b, tf.float64)), tf.as_dtype(node.value.dtype))))


# --------------------------------------------------------------------------
# TensorFlow counterparts that need more than one call (used by Op.tf; the
# ``tf`` module is passed in, never imported here)
# --------------------------------------------------------------------------
def _tf_axis(node: "Tensor") -> Any:
    axis = node.attrs.get("axis")
    return list(axis) if isinstance(axis, (tuple, list)) else axis


def _tf_matmul(tf: Any, a: Any, b: Any) -> Any:
    # numpy's rules for 1-D operands: promote to a matrix, multiply, drop the axis again.
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.tensordot(a, b, axes=1)
    if a.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a[None, :], b), axis=-2)
    if b.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a, b[:, None]), axis=-1)
    return tf.linalg.matmul(a, b)


def _tf_getitem(tf: Any, a: Any, index: Any) -> Any:
    basic = (int, slice, type(Ellipsis), type(None))
    parts = index if isinstance(index, tuple) else (index,)
    if builtins.all(isinstance(p, basic) for p in parts):
        return a[index]
    if not isinstance(index, tuple):
        ids = np.asarray(index)
        if ids.dtype.kind in "iu":
            return tf.gather(a, ids, axis=0)
        if ids.dtype.kind == "b":
            return tf.boolean_mask(a, ids)
    raise NotImplementedError("tape_gradients replays basic indexing (ints and slices) and "
                              "integer or boolean index arrays on the first axis only.")


def _tf_softmax_cross_entropy(tf: Any, node: "Tensor", logits: Any, labels: Any) -> Any:
    # TensorFlow's own fused op; then the graph's reduction: sum over the batch / N.
    dtype = tf.as_dtype(node.parents[0].value.dtype)
    logits = tf.cast(logits, dtype)
    if labels.shape.rank == logits.shape.rank:
        targets = tf.cast(labels, dtype)
    else:
        targets = tf.one_hot(tf.cast(labels, tf.int64), depth=logits.shape[-1], dtype=dtype)
    per_sample = tf.nn.softmax_cross_entropy_with_logits(labels=tf.stop_gradient(targets), logits=logits)
    n = logits.shape[0] if logits.shape.rank > 1 else 1
    return tf.reduce_sum(per_sample) / tf.constant(n, dtype=dtype)


# --------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------
_LEAF_OPS = frozenset({"const", "placeholder", "variable"})
_STEP_OPS = frozenset({"grad", "sgd"})


def _as_array(value: ArrayLike, like: np.ndarray | None = None) -> np.ndarray:
    """float64 by default; float32 stays float32; Python numbers follow ``like``."""
    if isinstance(value, (bool, int, float)) and like is not None and like.dtype.kind == "f":
        return np.asarray(value, dtype=like.dtype)
    arr = np.asarray(value)
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    if arr.dtype == object:
        raise TypeError(f"a Tensor holds numbers, not {type(value).__name__} objects")
    return arr.astype(np.float64)


class Tensor:
    """A node of the graph: a value, how it was made, and its gradient.

    Parameters
    ----------
    value : array-like
        Stored as a numpy array (float64 unless it is float32).
    requires_grad : bool
        Whether ``backward()`` should fill ``.grad`` for this tensor.
    name : str, optional
        Shown by ``repr`` and the graph widgets.

    Attributes
    ----------
    value : np.ndarray or None
        None only for a placeholder (or a node built on one) before
        ``Session.run`` has fed it.
    grad : np.ndarray or None
        dOutput/dthis after ``backward()``, same shape as ``value``.
    op, parents, attrs
        The op name, the input tensors, and the op's settings (axis, shape...).
    """

    __slots__ = ("value", "grad", "requires_grad", "name", "op", "parents", "attrs",
                 "symbolic", "edge_grads", "shape_hint", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our operators: np.float64(2) * t is a Tensor

    def __init__(self, value: ArrayLike, requires_grad: bool = False, name: str | None = None):
        if isinstance(value, Tensor):
            value = value.value
        self.value = _as_array(value)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self.op = "const"
        self.parents: tuple[Tensor, ...] = ()
        self.attrs: dict[str, Any] = {}
        self.symbolic = False      # True when a placeholder is upstream
        self.edge_grads: tuple | None = None  # what each parent got in the last backward
        self.shape_hint: tuple | None = None

    # -- shape and display -------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.value.shape if self.value is not None else tuple(self.shape_hint or ())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return None if self.value is None else self.value.dtype

    @property
    def T(self) -> "Tensor":
        return transpose(self)

    def item(self) -> float:
        return self.value.item()

    def numpy(self) -> np.ndarray:
        return self.value

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        if self.value is None:
            shape = "?" if self.shape_hint is None else "(" + ", ".join(
                "None" if n is None else str(n) for n in self.shape_hint) + ")"
            return f"Tensor({label}op={self.op}, shape={shape}, not computed yet: run it in a Session)"
        body = np.array2string(self.value, precision=4, threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({label}{body}{extra})"

    # -- operators -----------------------------------------------------------
    def __add__(self, other): return _apply("add", self, other)
    def __radd__(self, other): return _apply("add", other, self)
    def __sub__(self, other): return _apply("sub", self, other)
    def __rsub__(self, other): return _apply("sub", other, self)
    def __mul__(self, other): return _apply("mul", self, other)
    def __rmul__(self, other): return _apply("mul", other, self)
    def __truediv__(self, other): return _apply("div", self, other)
    def __rtruediv__(self, other): return _apply("div", other, self)
    def __matmul__(self, other): return _apply("matmul", self, other)
    def __rmatmul__(self, other): return _apply("matmul", other, self)
    def __neg__(self): return _apply("neg", self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return _apply("pow_tensor", self, exponent)
        return _apply("pow", self, exponent=exponent)

    def __rpow__(self, base): return _apply("pow_tensor", base, self)

    def __getitem__(self, index): return _apply("getitem", self, index=index)

    # Comparisons stay plain Python so that tensors can be dict keys and set members.
    __hash__ = object.__hash__

    # -- gradients -------------------------------------------------------------
    def backward(self, grad: ArrayLike | None = None) -> None:
        """Reverse-mode pass from this tensor; *adds* into ``.grad``.

        Parameters
        ----------
        grad : array-like, optional
            dLoss/dthis. Defaults to 1 for a scalar. A non-scalar output needs
            it (pass ``np.ones_like(t.value)`` for the gradient of its sum).
        """
        grads = _backprop(self, grad)
        for node, g in grads.items():
            if not node.requires_grad:
                continue
            if node.grad is not None:
                node.grad = node.grad + g
            elif node.parents:
                node.grad = g  # an intermediate's gradient is for reading: no copy
            else:
                node.grad = np.array(g)  # a leaf's own array: optimisers may update it in place

    def zero_grad(self) -> None:
        """Clear ``.grad`` of this tensor and of every tensor upstream of it."""
        zero_grad(topological_order(self))


def as_tensor(x: ArrayLike, like: np.ndarray | None = None) -> Tensor:
    """Return ``x`` if it is a Tensor, else a constant Tensor holding it."""
    if isinstance(x, Tensor):
        return x
    t = Tensor.__new__(Tensor)
    Tensor.__init__(t, _as_array(x, like))
    return t


def _apply(op_name: str, *inputs: Any, **attrs: Any) -> Tensor:
    """Make a new node: its value is computed now unless a placeholder is upstream."""
    like = next((t.value for t in inputs if isinstance(t, Tensor) and t.value is not None), None)
    parents = tuple(as_tensor(t, like) for t in inputs)
    out = Tensor.__new__(Tensor)
    out.grad, out.name, out.edge_grads, out.shape_hint = None, None, None, None
    out.op, out.parents, out.attrs = op_name, parents, attrs
    out.requires_grad = builtins.any(p.requires_grad for p in parents)
    out.symbolic = builtins.any(p.symbolic for p in parents)
    out.value = None if out.symbolic else _evaluate(out)
    return out


def _evaluate(node: Tensor) -> np.ndarray:
    op = OPS[node.op]
    value = op.forward(*(p.value for p in node.parents), **node.attrs)
    return np.asarray(value)


# --------------------------------------------------------------------------
# Functions (the public vocabulary of the engine)
# --------------------------------------------------------------------------
def exp(t: ArrayLike) -> Tensor:
    """e to the power t, elementwise."""
    return _apply("exp", t)


def log(t: ArrayLike) -> Tensor:
    """Natural logarithm, elementwise."""
    return _apply("log", t)


def sigmoid(t: ArrayLike) -> Tensor:
    """1 / (1 + e^-t), elementwise, computed without overflow."""
    return _apply("sigmoid", t)


def relu(t: ArrayLike) -> Tensor:
    """max(t, 0), elementwise."""
    return _apply("relu", t)


def tanh(t: ArrayLike) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return _apply("tanh", t)


def softmax(t: ArrayLike, axis: int = -1) -> Tensor:
    """exp(t) / sum(exp(t)) along ``axis``, shifted by the max for stability."""
    return _apply("softmax", t, axis=axis)


def sum(t: ArrayLike, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all entries when None), like ``tf.reduce_sum``."""
    return _apply("sum", t, axis=axis, keepdims=keepdims)


def mean(t: ArrayLike, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all entries when None), like ``tf.reduce_mean``."""
    return _apply("mean", t, axis=axis, keepdims=keepdims)


def reshape(t: ArrayLike, shape: tuple) -> Tensor:
    """Same entries, new shape (one entry may be -1)."""
    return _apply("reshape", t, shape=tuple(shape))


def transpose(t: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None)."""
    return _apply("transpose", t, axes=None if axes is None else tuple(axes))


def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Matrix product ``a @ b``: (N, K) @ (K, M) -> (N, M), batched like numpy."""
    return _apply("matmul", a, b)


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Tensor:
    """Mean over the batch of -log softmax(logits)[true class].

    Parameters
    ----------
    logits : (N, C)
        Unnormalised scores. Computed with log-sum-exp, so logits of +-1000
        give a finite loss.
    labels : (N, C) one-hot (or probabilities) or (N,) integer class ids
        Takes no gradient.
    """
    return _apply("softmax_cross_entropy", logits, labels)


def argmax(t: ArrayLike, axis: int = -1) -> Tensor:
    """Index of the largest entry along ``axis`` (no gradient)."""
    return _apply("argmax", t, axis=axis)


def equal(a: ArrayLike, b: ArrayLike) -> Tensor:
    """1.0 where a == b, else 0.0 (no gradient); ``mean(equal(...))`` is accuracy."""
    return _apply("equal", a, b)


def greater(a: ArrayLike, b: ArrayLike) -> Tensor:
    """1.0 where a > b, else 0.0 (no gradient), broadcast like numpy.

    The predicted class of a yes/no model is ``greater(z, 0)`` (score above 0,
    probability above 1/2), so ``mean(equal(greater(z, 0), Y))`` is its accuracy.
    """
    return _apply("greater", a, b)


# --------------------------------------------------------------------------
# Graph walking (used by backward, Session and the widgets)
# --------------------------------------------------------------------------
def topological_order(*outputs: Tensor) -> list[Tensor]:
    """Every node the outputs depend on, each after all of its parents."""
    order: list[Tensor] = []
    seen: set[int] = set()
    for root in outputs:
        stack: list[tuple[Tensor, bool]] = [(root, False)]
        while stack:  # iterative DFS: deep graphs do not hit the recursion limit
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for parent in reversed(_inputs_of(node)):
                if id(parent) not in seen:
                    stack.append((parent, False))
    return order


def _inputs_of(node: Tensor) -> tuple[Tensor, ...]:
    return node.parents


@dataclass(frozen=True)
class NodeView:
    """What a widget needs to draw one node."""

    index: int
    node: Tensor
    op: str
    name: str | None
    value: np.ndarray | None
    grad: np.ndarray | None
    parents: tuple[int, ...]
    level: int


def walk(output: Tensor) -> list[NodeView]:
    """Nodes in topological order, with op, value, gradient, parent indices and level.

    ``level`` is the length of the longest path from a leaf: nodes with the
    same level do not depend on each other and could run in parallel.
    """
    order = topological_order(output)
    index = {id(n): i for i, n in enumerate(order)}
    levels = parallel_levels(output)
    return [NodeView(i, n, n.op, n.name, n.value, n.grad,
                     tuple(index[id(p)] for p in n.parents), levels[n])
            for i, n in enumerate(order)]


def parallel_levels(output: Tensor) -> dict[Tensor, int]:
    """Map each node to its depth: leaves are 0, a node is 1 + its deepest parent.

    All nodes of one level are independent, so a runtime could compute them at
    the same time (the "subgraphs that can run in parallel" of the notes).
    """
    level: dict[Tensor, int] = {}
    for node in topological_order(output):
        level[node] = 1 + max((level[p] for p in node.parents), default=-1)
    return level


def local_gradients(node: Tensor) -> list[tuple[Tensor, np.ndarray | None]]:
    """After ``backward()``: ``(parent, gradient sent to it)`` for each input slot of ``node``.

    The gradient on the edge parent -> node is g * (d node / d parent), the number
    a widget writes on that edge. It is a list in slot order, not a dict, because
    a node may use one parent twice (``x * x`` has two edges from ``x``). It shows
    the most recent backward pass through ``node`` (``.grad`` accumulates; this
    does not). Before any backward pass every gradient is None.
    """
    sent = node.edge_grads if node.edge_grads is not None else (None,) * len(node.parents)
    return list(zip(node.parents, sent))


def zero_grad(tensors: Iterable[Tensor]) -> None:
    """Set ``.grad`` of the given tensors to None (call between training steps)."""
    for t in tensors:
        t.grad = None


# --------------------------------------------------------------------------
# Reverse-mode differentiation
# --------------------------------------------------------------------------
def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes numpy broadcasting added or stretched, to ``shape``."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)


def _backprop(output: Tensor, seed: ArrayLike | None = None) -> dict[Tensor, np.ndarray]:
    """dOutput/dnode for every node that requires a gradient (one reverse pass)."""
    if output.value is None:
        raise RuntimeError(
            "this tensor has no value yet: it depends on a placeholder. Run the graph "
            "with Session().run(...) and use grad()/sgd() for its gradients."
        )
    if seed is None:
        if output.value.size != 1:
            raise ValueError(
                f"backward() on a tensor of shape {output.shape} needs the upstream "
                "gradient: pass grad=np.ones_like(t.value) for the gradient of its sum, "
                "or reduce it to a scalar first (e.g. mean(t))."
            )
        seed = np.ones_like(output.value)
    seed = np.broadcast_to(np.asarray(seed, dtype=output.value.dtype), output.shape)
    grads: dict[Tensor, np.ndarray] = {output: seed}
    for node in reversed(topological_order(output)):
        g = grads.get(node)
        if g is None or not node.parents or not node.requires_grad:
            continue
        op = OPS[node.op]
        parent_values = [p.value for p in node.parents]
        if op.skips_unneeded:
            needs = tuple(p.requires_grad for p in node.parents)
            local = op.backward(g, node.value, *parent_values, needs=needs, **node.attrs)
        else:
            local = op.backward(g, node.value, *parent_values, **node.attrs)
        edge = []
        for parent, pg in zip(node.parents, local):
            if pg is None or not parent.requires_grad:
                edge.append(None)
                continue
            pg = _unbroadcast(np.asarray(pg), parent.value.shape)
            edge.append(pg)
            grads[parent] = pg if parent not in grads else grads[parent] + pg
        node.edge_grads = tuple(edge)
    return grads


# --------------------------------------------------------------------------
# Symbolic mode: placeholders, variables, Session.run
# --------------------------------------------------------------------------
def placeholder(shape: Sequence[int | None] | None = None, name: str | None = None) -> Tensor:
    """An input that gets its value from ``feed_dict`` at ``Session.run`` time.

    ``shape`` may use None for a dimension of any size (usually the batch).
    """
    t = Tensor.__new__(Tensor)
    t.value, t.grad, t.requires_grad, t.name = None, None, False, name
    t.op, t.parents, t.attrs, t.symbolic, t.edge_grads = "placeholder", (), {}, True, None
    t.shape_hint = None if shape is None else tuple(shape)
    return t


def variable(value: ArrayLike, name: str | None = None) -> Tensor:
    """A trainable parameter: a tensor that keeps its value between runs."""
    t = Tensor(value, requires_grad=True, name=name)
    t.op = "variable"
    return t


def constant(value: ArrayLike, name: str | None = None) -> Tensor:
    """A fixed value in the graph."""
    return Tensor(value, name=name)


def grad(loss: Tensor, variables: Sequence[Tensor]) -> list[Tensor]:
    """Fetchable gradients dloss/dvariable, one node per variable.

    ``Session().run(grad(loss, [W, b]), feed_dict)`` returns the arrays.
    """
    nodes = []
    for v in variables:
        if not v.requires_grad:
            raise ValueError(f"{v!r} is not a variable: make it with variable(value) to differentiate it")
        g = Tensor.__new__(Tensor)
        g.value, g.grad, g.requires_grad, g.name = None, None, False, f"d{loss.name or 'loss'}/d{v.name or 'var'}"
        g.op, g.parents, g.attrs, g.symbolic = "grad", (loss,), {"wrt": v}, True
        g.edge_grads, g.shape_hint = None, v.shape
        nodes.append(g)
    return nodes


def sgd(loss: Tensor | Sequence[Tensor], variables: Sequence[Tensor], lr: float = 0.01) -> Tensor:
    """A train op: running it applies one step ``v <- v - lr * dloss/dv`` to each variable.

    ``loss`` may also be the list that ``grad(loss, variables)`` returned (the
    notes write ``train_op = sgd(gradient, parameters)``).
    """
    if isinstance(loss, (list, tuple)):
        grads_given = list(loss)
        if not grads_given or any(g.op != "grad" for g in grads_given):
            raise TypeError("sgd() takes a loss tensor or the list returned by grad(loss, variables)")
        loss = grads_given[0].parents[0]
    step = Tensor.__new__(Tensor)
    step.value, step.grad, step.requires_grad, step.name = None, None, False, "sgd"
    step.op, step.parents, step.attrs, step.symbolic = "sgd", (loss,), {"variables": tuple(variables), "lr": lr}, True
    step.edge_grads, step.shape_hint = None, ()
    return step


def _check_feed(node: Tensor, value: ArrayLike) -> np.ndarray:
    arr = _as_array(value)
    hint = node.shape_hint
    if hint is not None:
        ok = len(hint) == arr.ndim and all(h is None or h == n for h, n in zip(hint, arr.shape))
        if not ok:
            want = "(" + ", ".join("None" if h is None else str(h) for h in hint) + ")"
            raise ValueError(f"placeholder {node.name or ''!r} expects shape {want}, "
                             f"but the fed value has shape {arr.shape}")
    return arr


class Session:
    """Runs a graph, as ``tf.Session`` did in TensorFlow 1.

    ``run`` computes every node the fetches need, in topological order, using
    ``feed_dict`` for placeholders; gradient nodes trigger one backward pass and
    train ops update their variables in place. Each node keeps the value of the
    last run, so a widget can show it.
    """

    def run(self, fetches: Tensor | Sequence[Tensor], feed_dict: Mapping[Any, ArrayLike] | None = None):
        """Evaluate ``fetches`` (a tensor, or a list/tuple of them).

        Returns a numpy array per fetch (None for a train op), in the same structure.
        """
        single = isinstance(fetches, Tensor)
        wanted = [fetches] if single else list(fetches)
        feeds = self._resolve_feeds(wanted, feed_dict or {})
        order = topological_order(*wanted)
        for node in order:
            if node.op == "placeholder":
                if node not in feeds:
                    raise KeyError(f"placeholder {node.name or ''!r} needs a value: "
                                   f"pass feed_dict={{{node.name or 'X'}: array}}")
                node.value = feeds[node]
            elif node.op in ("const", "variable"):
                continue
            elif node.op not in _STEP_OPS:
                node.value = _evaluate(node)
        # Gradients are taken after the forward pass, all from one backward per loss.
        by_loss: dict[Tensor, dict[Tensor, np.ndarray]] = {}
        for node in order:
            if node.op in _STEP_OPS:
                loss = node.parents[0]
                if loss not in by_loss:
                    by_loss[loss] = _backprop(loss)
        results = []
        for node in wanted:
            if node.op == "grad":
                g = by_loss[node.parents[0]].get(node.attrs["wrt"])
                node.value = np.zeros_like(node.attrs["wrt"].value) if g is None else g
            results.append(None if node.op == "sgd" else node.value)
        for node in order:  # apply updates only after every fetch has been read
            if node.op == "sgd":
                grads = by_loss[node.parents[0]]
                for v in node.attrs["variables"]:
                    g = grads.get(v)
                    if g is not None:
                        v.value -= node.attrs["lr"] * g
        return results[0] if single else type(fetches)(results) if isinstance(fetches, tuple) else results

    @staticmethod
    def _resolve_feeds(wanted: list[Tensor], feed_dict: Mapping[Any, ArrayLike]) -> dict[Tensor, np.ndarray]:
        by_name = {}
        for node in topological_order(*wanted):
            if node.op == "placeholder" and node.name:
                by_name[node.name] = node
        feeds = {}
        for key, value in feed_dict.items():
            node = by_name.get(key) if isinstance(key, str) else key
            if not isinstance(node, Tensor) or node.op != "placeholder":
                raise KeyError(f"feed_dict key {key!r} is not a placeholder of this graph")
            feeds[node] = _check_feed(node, value)
        return feeds

    # A Session holds no resources; ``with Session() as s:`` reads like the notes.
    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        return None
