"""Neural-network layers with explicit numpy forward and backward passes.

Every layer follows one life cycle:

``y = layer.forward(x, training=False)``
    computes the output and keeps (caches) exactly what the backward pass needs;
``dx = layer.backward(dy)``
    takes ``dy = dL/dy`` (same shape as ``y``), fills ``layer.grads`` (one entry per
    ``layer.params`` entry, same key, same shape) and returns ``dx = dL/dx``.

``backward`` overwrites ``grads`` (it never accumulates), so calling it twice gives
the same answer twice. Arrays follow the layer's dtype: a float32 model stays
float32 all the way through (numpy would otherwise silently upcast to float64 and
run at half speed), and a float64 layer is what gradient checks use.

Layouts follow Keras/TensorFlow: a dense kernel ``W`` is ``(in_features, units)``
and ``y = x @ W + b``; images are NHWC ``(N, H, W, C)``; a convolution kernel is
``(kh, kw, in_channels, filters)``; ``padding="same"`` follows TensorFlow's rule.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .losses import sigmoid, softmax

Initializer = Callable[[tuple[int, ...], np.random.Generator, Any], np.ndarray]


# --------------------------------------------------------------------------------------
# Initialisers: each one is ``init(shape, rng, dtype) -> array``.
# --------------------------------------------------------------------------------------
def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fan-in and fan-out as Keras counts them.

    Dense kernel ``(in, out)``; conv kernel ``(kh, kw, in, out)`` where every input
    channel is seen through a ``kh * kw`` window.
    """
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator,
                   dtype: Any = np.float32) -> np.ndarray:
    """Uniform on ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))``.

    Keras' default kernel initialiser: it keeps the variance of activations and
    of gradients roughly constant from layer to layer.
    """
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _truncated_normal(shape: tuple[int, ...], rng: np.random.Generator,
                      stddev: float) -> np.ndarray:
    """Normal(0, stddev) with every draw beyond two standard deviations redrawn."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values * stddev


def he_normal(shape: tuple[int, ...], rng: np.random.Generator,
              dtype: Any = np.float32) -> np.ndarray:
    """Truncated normal with variance ``2 / fan_in`` (He et al. 2015), as in Keras.

    Suited to ReLU layers, which zero half of their inputs. The standard deviation
    is divided by 0.8796 because truncating at two sigmas shrinks the spread.
    """
    fan_in, _ = _fans(shape)
    stddev = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    return _truncated_normal(shape, rng, stddev).astype(dtype)


def normal(stddev: float = 0.05, mean: float = 0.0) -> Initializer:
    """An initialiser drawing from Normal(mean, stddev), e.g. ``Dense(784, 512, init=normal(0.039))``."""
    def init(shape: tuple[int, ...], rng: np.random.Generator,
             dtype: Any = np.float32) -> np.ndarray:
        return rng.normal(mean, stddev, size=shape).astype(dtype)
    init.__name__ = f"normal(stddev={stddev}, mean={mean})"
    return init


def zeros(shape: tuple[int, ...], rng: np.random.Generator | None = None,
          dtype: Any = np.float32) -> np.ndarray:
    """All zeros (the usual bias initialiser)."""
    return np.zeros(shape, dtype=dtype)


_INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "normal": normal(),
    "zeros": zeros,
}


def get_initializer(init: str | Initializer) -> Initializer:
    """Turn a name (``"glorot_uniform"``, ``"he_normal"``, ``"normal"``, ``"zeros"``) or a callable into an initialiser."""
    if callable(init):
        return init
    try:
        return _INITIALIZERS[init]
    except KeyError:
        raise ValueError(
            f"Unknown initialiser {init!r}. Use one of {sorted(_INITIALIZERS)} "
            "or a function init(shape, rng, dtype) -> array."
        ) from None


# --------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------
class Layer:
    """Base class: ``forward(x, training=False) -> y`` and ``backward(dy) -> dx``.

    Attributes
    ----------
    params : dict[str, np.ndarray]
        Trainable arrays, updated in place by an optimiser.
    grads : dict[str, np.ndarray]
        ``dL/dparam`` for each entry of ``params`` (same key and shape), filled by
        ``backward``.
    """

    #: names of non-trainable array attributes (e.g. running averages) that
    #: ``astype`` converts together with the parameters.
    buffers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, training).")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement backward(dy).")

    def backward_params(self, dy: np.ndarray) -> None:
        """Fill ``grads`` only. Layers that can skip computing ``dx`` override this."""
        self.backward(dy)

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.forward(x, training=training)

    def parameters(self) -> list[tuple[Layer, str]]:
        """``(layer, name)`` pairs, one per trainable array: ``layer.params[name]``."""
        return [(self, name) for name in self.params]

    def astype(self, dtype: Any) -> Layer:
        """Convert parameters, gradients and buffers to ``dtype`` (in place; returns self)."""
        for store in (self.params, self.grads):
            for name, value in store.items():
                store[name] = value.astype(dtype)
        for name in self.buffers:
            setattr(self, name, getattr(self, name).astype(dtype))
        if hasattr(self, "dtype"):
            self.dtype = np.dtype(dtype)
        return self

    def _need_cache(self, attribute: str) -> Any:
        value = getattr(self, attribute, None)
        if value is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward: run "
                "forward(x) first, it stores what the backward pass needs."
            )
        return value

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def _as_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` as ``dtype`` without a copy when it already is (inputs follow the layer)."""
    return np.asarray(x, dtype=dtype)


# --------------------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------------------
class Dense(Layer):
    """Fully connected layer: ``y = x @ W + b``.

    Parameters
    ----------
    in_features : int
        ``D``, the size of each input row.
    units : int
        ``M``, the number of outputs.
    init : str or callable
        Kernel initialiser (``"glorot_uniform"`` as in Keras); the bias starts at 0.
    seed : int or None
        Seed of the initialiser's random generator.

    Shapes: ``x: (N, D)``, ``W: (D, M)`` (like a Keras kernel), ``b: (M,)``,
    ``y: (N, M)``.
    """

    def __init__(self, in_features: int, units: int, init: str | Initializer = "glorot_uniform",
                 seed: int | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.params["W"] = get_initializer(init)((in_features, units), rng, self.dtype)
        self.params["b"] = zeros((units,), dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _as_dtype(x, self.dtype)
        W = self.params["W"]
        if x.ndim != 2 or x.shape[1] != W.shape[0]:
            raise ValueError(
                f"Dense expects input of shape (N, {W.shape[0]}) but got {x.shape}. "
                "Flatten images first, or check in_features."
            )
        self.x = x
        y = x @ W
        y += self.params["b"]                       # broadcast over the batch
        return y

    def backward_params(self, dy: np.ndarray) -> None:
        x = self._need_cache("x")
        # dL/dW = x^T dy: each weight collects (input) * (upstream gradient) over the batch
        np.matmul(x.T, dy, out=self.grads["W"])
        # dL/db = sum of dy over the batch: the bias is added to every row
        np.sum(dy, axis=0, out=self.grads["b"])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.backward_params(dy)
        # dL/dx = dy W^T
        return dy @ self.params["W"].T


# --------------------------------------------------------------------------------------
# Activations (no parameters; they keep the input's dtype)
# --------------------------------------------------------------------------------------
class ReLU(Layer):
    """``y = max(x, 0)``; ``dx = dy * [x > 0]``. Any shape."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0, dtype=x.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        # the gradient flows only where the unit was active
        return dy * self._need_cache("mask")


class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-x))``; ``dx = dy * y * (1 - y)``. Any shape."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.y = sigmoid(x)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._need_cache("y")
        return dy * y * (1.0 - y)


class Tanh(Layer):
    """``y = tanh(x)``; ``dx = dy * (1 - y**2)``. Any shape."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._need_cache("y")
        return dy * (1.0 - y * y)


class Softmax(Layer):
    """``y_i = exp(x_i) / sum_j exp(x_j)`` over the last axis.

    Backward (the Jacobian ``diag(y) - y y^T`` applied to ``dy``):
    ``dx = y * (dy - sum(dy * y, axis=-1))``. For training a classifier prefer
    logits + ``losses.CategoricalCrossentropy``, which fuses both and is stable.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.y = softmax(x, axis=-1)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._need_cache("y")
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------
class Dropout(Layer):
    """Inverted dropout: in training, zero each entry with probability ``rate``
    and scale the survivors by ``1 / (1 - rate)`` so the expected output equals
    the input; in evaluation, the identity.

    ``y = x * mask``, ``dx = dy * mask`` with ``mask in {0, 1/(1-rate)}``. Any shape.
    """

    def __init__(self, rate: float, seed: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1) (the fraction of units dropped), got {rate}.")
        self.rate = float(rate)
        self.rng = np.random.default_rng(seed)
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0.0:
            self.mask = None                         # identity: backward passes dy through
            return x
        dtype = np.float32 if x.dtype == np.float32 else np.float64
        keep = self.rng.random(x.shape, dtype=dtype) >= self.rate
        self.mask = keep.astype(dtype) / dtype(1.0 - self.rate)
        return x * self.mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self.mask is None else dy * self.mask


# --------------------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------------------
class BatchNorm(Layer):
    """Batch normalisation over the last (feature / channel) axis, Keras defaults.

    Training: ``mu, var`` are the mean and (biased) variance of the batch over every
    axis but the last, ``xhat = (x - mu) / sqrt(var + epsilon)``,
    ``y = gamma * xhat + beta``, and the running averages move as
    ``running = momentum * running + (1 - momentum) * batch_statistic``.
    Evaluation: the same formula with ``running_mean`` / ``running_var``.

    Shapes: ``x: (N, D)`` or NHWC ``(N, H, W, C)`` with ``features = D`` or ``C``;
    ``gamma, beta, running_mean, running_var: (features,)``; ``y`` like ``x``.
    """

    buffers = ("running_mean", "running_var")

    def __init__(self, features: int, momentum: float = 0.99, epsilon: float = 1e-3,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.dtype = np.dtype(dtype)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.params["gamma"] = np.ones(features, dtype=self.dtype)
        self.params["beta"] = np.zeros(features, dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(features, dtype=self.dtype)
        self.running_var = np.ones(features, dtype=self.dtype)
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _as_dtype(x, self.dtype)
        features = self.params["gamma"].shape[0]
        if x.shape[-1] != features:
            raise ValueError(
                f"BatchNorm({features}) normalises the last axis, but the input has "
                f"shape {x.shape}. Use BatchNorm({x.shape[-1]}) or put the features last."
            )
        axes = tuple(range(x.ndim - 1))              # every axis but the features
        if training:
            mean = x.mean(axis=axes)
            centred = x - mean
            var = np.mean(centred * centred, axis=axes)
            m = self.momentum
            self.running_mean *= m
            self.running_mean += (1.0 - m) * mean
            self.running_var *= m
            self.running_var += (1.0 - m) * var
        else:
            centred = x - self.running_mean
            var = self.running_var
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        xhat = centred * inv_std
        self.cache = (xhat, inv_std, axes, training)
        return self.params["gamma"] * xhat + self.params["beta"]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, inv_std, axes, training = self._need_cache("cache")
        gamma = self.params["gamma"]
        self.grads["beta"][...] = dy.sum(axis=axes)
        self.grads["gamma"][...] = np.sum(dy * xhat, axis=axes)
        dxhat = dy * gamma
        if not training:
            # running statistics are constants: y is an affine function of x
            return dxhat * inv_std
        # mu and var depend on every x in the batch; with m values per feature:
        # dx = inv_std / m * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
        m = xhat.size // xhat.shape[-1]
        sum_dxhat = dxhat.sum(axis=axes)
        sum_dxhat_xhat = np.sum(dxhat * xhat, axis=axes)
        return (inv_std / m) * (m * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)


# --------------------------------------------------------------------------------------
# Convolution and pooling (NHWC, TensorFlow's padding rules)
# --------------------------------------------------------------------------------------
def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """``2 -> (2, 2)``; ``(2, 3)`` stays; TensorFlow's ``[1, 2, 3, 1]`` -> ``(2, 3)``."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) == 2:
        return value  # type: ignore[return-value]
    if len(value) == 4 and value[0] == 1 and value[3] == 1:
        return value[1], value[2]
    raise ValueError(f"{name} must be an int, a pair (h, w) or TensorFlow's [1, h, w, 1]; got {value}.")


def _padding_mode(padding: str) -> str:
    mode = str(padding).lower()
    if mode not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}.")
    return mode


def conv_output_size(n: int, k: int, stride: int, padding: str) -> int:
    """Output length along one axis, TensorFlow's rule.

    ``'valid'`` (only windows fully inside): ``floor((n - k) / stride) + 1``.
    ``'same'`` (zero-pad so every stride position counts): ``ceil(n / stride)``,
    which does not depend on ``k``.
    """
    if _padding_mode(padding) == "same":
        return -(-n // stride)
    if k > n:
        raise ValueError(f"A window of {k} does not fit in an input of {n} with 'valid' padding.")
    return (n - k) // stride + 1


def same_padding(n: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one axis: ``(before, after)`` zeros, the extra one after.

    The output has ``ceil(n / stride)`` entries; the input is padded by
    ``max((out - 1) * stride + k - n, 0)`` zeros in all.
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def _pad_amounts(shape: tuple[int, ...], kernel: tuple[int, int], strides: tuple[int, int],
                 padding: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if _padding_mode(padding) == "valid":
        return (0, 0), (0, 0)
    return (same_padding(shape[1], kernel[0], strides[0]),
            same_padding(shape[2], kernel[1], strides[1]))


def _windows(xp: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """All ``kh x kw`` windows of a padded NHWC array as a view (no copy).

    ``xp: (N, Hp, Wp, C)`` -> ``(N, Ho, Wo, kh, kw, C)``, where
    ``[n, i, j]`` is the window whose top-left corner is ``(i*sh, j*sw)``.
    """
    kh, kw = kernel
    sh, sw = strides
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
    win = win[:, ::sh, ::sw]                         # (N, Ho, Wo, C, kh, kw)
    return win.transpose(0, 1, 2, 4, 5, 3)


def _add_windows(dxp: np.ndarray, dwin: np.ndarray, strides: tuple[int, int]) -> None:
    """The adjoint of ``_windows``: add each window's gradient back where it came from.

    ``dwin: (N, Ho, Wo, kh, kw, C)`` is added into ``dxp: (N, Hp, Wp, C)``;
    overlapping windows add up. One slice per kernel offset ``(a, b)``.
    """
    _, Ho, Wo, kh, kw, _ = dwin.shape
    sh, sw = strides
    for a in range(kh):
        for b in range(kw):
            dxp[:, a:a + sh * (Ho - 1) + 1:sh, b:b + sw * (Wo - 1) + 1:sw, :] += dwin[:, :, :, a, b, :]


def _im2col(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
            padding: str) -> tuple[np.ndarray, tuple[int, int, int], tuple[int, ...]]:
    """Pad ``x: (N, H, W, C)`` and lay its windows out as the rows of a matrix.

    Returns ``cols: (N*Ho*Wo, kh*kw*C)`` (one row per output pixel, ordered like a
    flattened ``(kh, kw, C)`` kernel), the output size ``(N, Ho, Wo)`` and the
    padded input's shape.
    """
    (top, bottom), (left, right) = _pad_amounts(x.shape, kernel, strides, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))) if top + bottom + left + right else x
    for axis, k in ((1, kernel[0]), (2, kernel[1])):
        if xp.shape[axis] < k:
            raise ValueError(
                f"The {k}-wide window does not fit in the input {x.shape} (NHWC) with "
                f"padding {padding!r}; use padding='same' or a smaller kernel."
            )
    win = _windows(xp, kernel, strides)
    N, Ho, Wo = win.shape[:3]
    # this reshape copies the overlapping windows side by side: that is the im2col
    return win.reshape(N * Ho * Wo, -1), (N, Ho, Wo), xp.shape


def conv2d(x: np.ndarray, w: np.ndarray, strides: int | Sequence[int] = 1,
           padding: str = "valid") -> np.ndarray:
    """2-D convolution as in ``tf.nn.conv2d`` (cross-correlation, NHWC, no bias).

    ``y[n, i, j, f] = sum_{a, b, c} xpad[n, i*sh + a, j*sw + b, c] * w[a, b, c, f]``

    Parameters
    ----------
    x : (N, H, W, C)
    w : (kh, kw, C, F)
    strides : int, (sh, sw) or TensorFlow's [1, sh, sw, 1]
    padding : 'valid' (no padding) or 'same' (zero padding so that
        ``Ho = ceil(H / sh)``, the extra row/column going to the bottom/right)

    Returns
    -------
    y : (N, Ho, Wo, F) with ``Ho = conv_output_size(H, kh, sh, padding)``.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4 or w.ndim != 4 or x.shape[3] != w.shape[2]:
        raise ValueError(
            f"conv2d expects x of shape (N, H, W, C) and w of shape (kh, kw, C, F) with "
            f"the same C; got x {x.shape} and w {w.shape}."
        )
    cols, out_shape, _ = _im2col(x, w.shape[:2], _pair(strides, "strides"), padding)
    F = w.shape[3]
    # every output pixel is a dot product of its window with each filter:
    # one matrix product does them all
    return (cols @ w.reshape(-1, F)).reshape(*out_shape, F)


class Conv2D(Layer):
    """Convolution layer: ``y = conv2d(x, W, strides, padding) + b`` (NHWC, like Keras).

    Forward builds the im2col matrix ``cols`` (one row per output pixel) so that
    ``y = cols @ W2 + b`` with ``W2 = W.reshape(kh*kw*C, F)``; backward is then the
    dense layer's backward plus putting window gradients back in place:
    ``dW2 = cols^T dy``, ``db = sum(dy)``, ``dcols = dy W2^T`` -> ``dx``.

    Shapes: ``x: (N, H, W, C)``, ``W: (kh, kw, C, F)``, ``b: (F,)``,
    ``y: (N, Ho, Wo, F)`` with ``Ho = conv_output_size(H, kh, sh, padding)``.
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int | Sequence[int],
                 strides: int | Sequence[int] = 1, padding: str = "valid",
                 init: str | Initializer = "glorot_uniform", seed: int | None = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.dtype = np.dtype(dtype)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _padding_mode(padding)
        rng = np.random.default_rng(seed)
        shape = (*self.kernel_size, in_channels, filters)
        self.params["W"] = get_initializer(init)(shape, rng, self.dtype)
        self.params["b"] = zeros((filters,), dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _as_dtype(x, self.dtype)
        W = self.params["W"]
        if x.ndim != 4 or x.shape[3] != W.shape[2]:
            raise ValueError(
                f"Conv2D expects NHWC input (N, H, W, {W.shape[2]}) but got {x.shape}."
            )
        cols, out_shape, padded_shape = _im2col(x, self.kernel_size, self.strides, self.padding)
        self.cache = (cols, x.shape, padded_shape)
        F = W.shape[3]
        y = cols @ W.reshape(-1, F)                  # (N*Ho*Wo, F)
        y += self.params["b"]
        return y.reshape(*out_shape, F)

    def backward_params(self, dy: np.ndarray) -> None:
        cols, _, _ = self._need_cache("cache")
        dy2 = dy.reshape(-1, dy.shape[-1])           # (N*Ho*Wo, F)
        # dW2 = cols^T dy, then back to the (kh, kw, C, F) kernel layout
        np.matmul(cols.T, dy2, out=self.grads["W"].reshape(cols.shape[1], -1))
        np.sum(dy2, axis=0, out=self.grads["b"])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.backward_params(dy)
        _, x_shape, padded_shape = self.cache  # type: ignore[misc]
        W = self.params["W"]
        kh, kw, C, F = W.shape
        dcols = dy.reshape(-1, F) @ W.reshape(-1, F).T       # (N*Ho*Wo, kh*kw*C)
        dwin = dcols.reshape(*dy.shape[:3], kh, kw, C)
        dxp = np.zeros(padded_shape, dtype=dcols.dtype)
        _add_windows(dxp, dwin, self.strides)
        (top, _), (left, _) = _pad_amounts(x_shape, self.kernel_size, self.strides, self.padding)
        return dxp[:, top:top + x_shape[1], left:left + x_shape[2], :]


class MaxPool2D(Layer):
    """Max pooling over ``pool_size`` windows of NHWC input, channel by channel.

    ``y[n, i, j, c] = max over the window of x``; backward sends ``dy`` to the
    position of each window's maximum (the first one on ties) and 0 elsewhere.
    ``'same'`` padding pads with -inf, so padding never wins the max.

    Shapes: ``x: (N, H, W, C)`` -> ``y: (N, Ho, Wo, C)``. ``strides`` defaults to
    ``pool_size`` (non-overlapping windows), as in Keras.
    """

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] | None = None,
                 padding: str = "valid") -> None:
        super().__init__()
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _padding_mode(padding)
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"MaxPool2D expects NHWC input (N, H, W, C) but got shape {x.shape}.")
        (top, bottom), (left, right) = _pad_amounts(x.shape, self.pool_size, self.strides, self.padding)
        xp = x
        if top + bottom + left + right:
            xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
        win = _windows(xp, self.pool_size, self.strides)          # (N, Ho, Wo, ph, pw, C)
        N, Ho, Wo, ph, pw, C = win.shape
        flat = win.reshape(N, Ho, Wo, ph * pw, C)
        argmax = flat.argmax(axis=3)                                # (N, Ho, Wo, C)
        self.cache = (argmax, x.shape, xp.shape, (top, left))
        return np.take_along_axis(flat, argmax[:, :, :, None, :], axis=3)[:, :, :, 0, :]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        argmax, x_shape, padded_shape, (top, left) = self._need_cache("cache")
        ph, pw = self.pool_size
        # one-hot of the winning position inside each window, times dy
        positions = np.arange(ph * pw).reshape(1, 1, 1, ph * pw, 1)
        dflat = (argmax[:, :, :, None, :] == positions) * dy[:, :, :, None, :]
        dxp = np.zeros(padded_shape, dtype=dy.dtype)
        _add_windows(dxp, dflat.reshape(*dy.shape[:3], ph, pw, dy.shape[3]), self.strides)
        return dxp[:, top:top + x_shape[1], left:left + x_shape[2], :]


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)``; backward reshapes back."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._need_cache("x_shape"))


# --------------------------------------------------------------------------------------
# Sequential
# --------------------------------------------------------------------------------------
class Sequential(Layer):
    """A stack of layers applied in order: ``y = layers[-1](...layers[0](x))``.

    ``backward(dy)`` runs the layers in reverse (the chain rule), each one turning
    ``dL/d(its output)`` into ``dL/d(its input)`` and filling its own ``grads``.
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        super().__init__()
        self.layers: list[Layer] = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential expects dlbricks.nn layers; item {i} is {type(layer).__name__}."
                )

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Back-propagate ``dy = dL/dy`` through every layer.

        With ``input_grad=False`` the gradient with respect to the model's input is
        not computed (training never needs it, and for the first dense layer of an
        MLP it costs as much as its weight gradient); then ``None`` is returned.
        """
        first = 0
        if not input_grad:
            # layers below the first one with parameters need no gradient at all
            with_params = [i for i, layer in enumerate(self.layers) if layer.parameters()]
            if not with_params:
                return None
            first = with_params[0]
        for layer in reversed(self.layers[first + 1:]):
            dy = layer.backward(dy)
        if not input_grad:
            self.layers[first].backward_params(dy)
            return None
        return self.layers[0].backward(dy) if self.layers else dy

    def backward_params(self, dy: np.ndarray) -> None:
        self.backward(dy, input_grad=False)

    def parameters(self) -> list[tuple[Layer, str]]:
        """``(layer, name)`` pairs for every trainable array of every layer, in order."""
        return [pair for layer in self.layers for pair in layer.parameters()]

    def astype(self, dtype: Any) -> Sequential:
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def count_params(self) -> int:
        """Number of trainable scalars."""
        return sum(layer.params[name].size for layer, name in self.parameters())

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])"

