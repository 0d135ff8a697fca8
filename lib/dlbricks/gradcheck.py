"""Numerical gradients by centred differences, and the relative error used to compare them.

The one convention of this kit for comparing an analytic gradient ``a`` with a
numerical one ``b``::

    rel_error(a, b) = max over entries of |a - b| / max(1e-8, |a| + |b|)

It is scale-free (a gradient of size 1e6 and one of size 1e-3 are judged alike)
and the floor 1e-8 keeps entries where both are ~0 from dividing by zero. With
float64 and ``eps=1e-6``, a correct gradient typically gives below 1e-7; above
1e-4 something is wrong.

``numerical_grad`` perturbs one entry at a time, ``x[i] += eps``, so it costs two
evaluations of ``f`` per entry: fine for checking, far too slow for training
(which is why backpropagation exists).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def numerical_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Centred-difference gradient of a scalar function: ``df/dx[i] ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``.

    Parameters
    ----------
    f : function of ``x`` returning a scalar (it may also read ``x`` from outside:
        ``x`` is changed in place, one entry at a time, and then restored)
    x : float64 array of any shape
    eps : step size

    Returns
    -------
    grad : array shaped like ``x``
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        kind = type(x).__name__ if not isinstance(x, np.ndarray) else f"a {x.dtype} array"
        raise TypeError(
            f"numerical_grad needs a float64 numpy array (it changes x in place by {eps}); "
            f"got {kind}. Use x = np.asarray(x, dtype=np.float64)."
        )
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        try:
            x[i] = original + eps
            f_plus = _scalar_value(f(x))
            x[i] = original - eps
            f_minus = _scalar_value(f(x))
        finally:
            x[i] = original                          # leave x exactly as it was
        grad[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def _scalar_value(value: Any) -> float:
    value = np.asarray(getattr(value, "value", value))      # a graph Tensor or a number
    if value.size != 1:
        raise ValueError(
            f"numerical_grad needs f(x) to return one number, got an array of shape {value.shape}; "
            "reduce it first, e.g. np.sum(f(x) * upstream_gradient)."
        )
    return float(value.reshape(()))


def rel_error(a: Any, b: Any) -> float:
    """``max |a - b| / max(1e-8, |a| + |b|)`` over entries (see the module docstring)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error compares arrays of the same shape, got {a.shape} and {b.shape}.")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_layer(layer: Any, x: np.ndarray, seed: int = 0, training: bool = True,
                eps: float = 1e-6) -> dict[str, float]:
    """Compare a layer's backward with numerical gradients, in float64.

    The scalar checked is ``L = sum(layer.forward(x) * dy)`` for a random upstream
    gradient ``dy``, so that ``dL/dx`` is exactly what ``backward(dy)`` returns and
    ``dL/dparam`` what it stores in ``grads``. The layer is copied and converted to
    float64 (the original is untouched), and every evaluation starts from a fresh
    copy, so random masks (dropout) and running averages (batch norm) are the same
    in every evaluation.

    Parameters
    ----------
    layer : a ``dlbricks.nn`` layer (or ``Sequential``)
    x : input of the shape the layer expects, e.g. ``(N, D)`` or ``(N, H, W, C)``
    seed : seeds ``dy``
    training : the mode of ``forward`` (batch statistics / dropout masks when True)

    Returns
    -------
    ``{"x": rel_error of dx, name: rel_error of grads[name] for each parameter}``
    (for a Sequential the names are ``"<index>.<name>"``, e.g. ``"0.W"``).
    """
    base = copy.deepcopy(layer)
    base.astype(np.float64)
    x = np.array(x, dtype=np.float64)

    def output(x_value: np.ndarray) -> np.ndarray:
        return copy.deepcopy(base).forward(x_value, training=training)

    dy = np.random.default_rng(seed).standard_normal(output(x).shape)

    analytic = copy.deepcopy(base)
    analytic.forward(x, training=training)
    dx = analytic.backward(dy)

    errors = {"x": rel_error(dx, numerical_grad(lambda v: np.sum(output(v) * dy), x, eps))}
    sublayers = getattr(base, "layers", None)
    for j, ((owner, name), (copied_owner, _)) in enumerate(zip(base.parameters(), analytic.parameters())):
        key = name if sublayers is None else f"{_index_of(sublayers, owner, j)}.{name}"
        numeric = numerical_grad(lambda _p: np.sum(output(x) * dy), owner.params[name], eps)
        errors[key] = rel_error(copied_owner.grads[name], numeric)
    return errors


def _index_of(layers: Sequence[Any], layer: Any, position: int) -> str:
    """Index of ``layer`` in ``layers``; for a layer nested deeper, its parameter's position."""
    index = next((i for i, candidate in enumerate(layers) if candidate is layer), None)
    return str(index) if index is not None else f"param{position}"


def check_graph(output_fn: Callable[[], Any], tensors: Sequence[Any], eps: float = 1e-6) -> dict[str, float]:
    """Compare ``dlbricks.graph`` gradients with numerical ones.

    Parameters
    ----------
    output_fn : function with no arguments that builds the graph from ``tensors``
        (eager mode) and returns a scalar Tensor, e.g.
        ``lambda: graph.mean((x @ W + b) ** 2)``
    tensors : the Tensors to differentiate, made with ``requires_grad=True``
        and holding float64 values; their ``.value`` is perturbed in place and
        restored, and their ``.grad`` is overwritten by one backward pass

    Returns
    -------
    ``{name: rel_error}`` with each tensor's ``name`` (or its position ``"0"``,
    ``"1"``, ... when unnamed).
    """
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not getattr(t, "requires_grad", False):
            raise ValueError(
                f"Tensor {i} ({getattr(t, 'name', None) or 'unnamed'}) has requires_grad=False: "
                "create it with requires_grad=True (or graph.variable) to check its gradient."
            )
        t.grad = None                                # backward accumulates: start clean
    output = output_fn()
    if np.size(output.value) != 1:
        raise ValueError(f"output_fn must return a scalar Tensor; got shape {np.shape(output.value)}.")
    output.backward()

    errors: dict[str, float] = {}
    for i, t in enumerate(tensors):
        analytic = np.zeros_like(t.value) if t.grad is None else t.grad
        numeric = numerical_grad(lambda _v: float(output_fn().value), t.value, eps)
        errors[t.name or str(i)] = rel_error(analytic, numeric)
    return errors
