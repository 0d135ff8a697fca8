"""Losses with their gradients, computed stably from logits.

Each loss is an object with the same life cycle as a layer:

``value = loss.forward(outputs, targets)``
    the loss averaged over the batch, as a Python float;
``doutputs = loss.backward()``
    ``dL/doutputs``, same shape and dtype as ``outputs``.

``loss(outputs, targets)`` is ``forward``. Classification losses take *logits*
(the raw scores before sigmoid / softmax) and fuse the activation with the
cross-entropy: the result is finite for any logits and the gradient is simply
``probabilities - targets`` (divided by the batch size).

Also here: ``softmax``, ``log_softmax`` and ``sigmoid`` as plain, stable numpy
functions.
"""
from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------------------
# Stable activation functions
# --------------------------------------------------------------------------------------
def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(z_i) / sum_j exp(z_j)`` along ``axis``; any shape, same dtype.

    Subtracting the maximum first changes nothing mathematically (the factor
    ``exp(-max)`` cancels) but keeps ``exp`` from overflowing.
    """
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``z_i - log(sum_j exp(z_j))`` along ``axis`` (log-sum-exp with the maximum taken out)."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))``, computed as ``(1 + tanh(z / 2)) / 2``, which never overflows."""
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _float_array(outputs: np.ndarray) -> np.ndarray:
    outputs = np.asarray(outputs)
    if not np.issubdtype(outputs.dtype, np.floating):
        outputs = outputs.astype(np.float64)
    return outputs


def _match_shape(outputs: np.ndarray, targets: np.ndarray, name: str) -> np.ndarray:
    """Targets with the outputs' shape and dtype.

    ``(N,)`` targets for ``(N, 1)`` outputs (and the reverse) are reshaped; any
    other mismatch is an error, because broadcasting ``(N, 1) - (N,)`` would
    silently build an ``(N, N)`` matrix.
    """
    targets = np.asarray(targets)
    if targets.shape != outputs.shape:
        if targets.size == outputs.size and targets.squeeze().shape == outputs.squeeze().shape:
            targets = targets.reshape(outputs.shape)
        else:
            raise ValueError(
                f"{name}: outputs have shape {outputs.shape} but targets have shape "
                f"{targets.shape}; they must match (one target per output)."
            )
    return targets.astype(outputs.dtype, copy=False)


class Loss:
    """Base class: ``forward(outputs, targets) -> float`` and ``backward() -> doutputs``."""

    #: True when ``forward`` expects logits (accuracy then thresholds at 0, not 0.5)
    from_logits = False

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(outputs, targets)

    def _need_cache(self) -> tuple:
        cache = getattr(self, "cache", None)
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward: compute the "
                "loss value first, it stores what the gradient needs."
            )
        return cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------
class MeanSquaredError(Loss):
    """``L = mean((outputs - targets)**2)`` over every entry; ``dL/doutputs = 2 (outputs - targets) / size``.

    Shapes: ``outputs`` and ``targets`` alike, e.g. ``(N,)`` or ``(N, D)``.
    """

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        outputs = _float_array(outputs)
        diff = outputs - _match_shape(outputs, targets, "MeanSquaredError")
        self.cache = (diff,)
        return float(np.mean(diff * diff))

    def backward(self) -> np.ndarray:
        (diff,) = self._need_cache()
        return (2.0 / diff.size) * diff


MSE = MeanSquaredError


class BinaryCrossentropy(Loss):
    """Binary cross-entropy of labels in {0, 1} given logits ``z`` (before the sigmoid).

    ``L = mean(-y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z)))``, rewritten as
    ``max(z, 0) - z*y + log(1 + exp(-|z|))``, which is finite for every ``z``;
    ``dL/dz = (sigmoid(z) - y) / size``.

    Shapes: ``z`` and ``y`` alike, ``(N,)`` or ``(N, 1)`` (or ``(N, K)`` for K
    independent yes/no outputs).
    """

    from_logits = True

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        z = _float_array(outputs)
        y = _match_shape(z, targets, "BinaryCrossentropy")
        self.cache = (z, y)
        losses = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        return float(np.mean(losses))

    def backward(self) -> np.ndarray:
        z, y = self._need_cache()
        return (sigmoid(z) - y) / z.size


class CategoricalCrossentropy(Loss):
    """Softmax + cross-entropy from logits ``z``, averaged over the batch.

    ``L = mean_n( -sum_k y[n, k] * log_softmax(z)[n, k] )``;
    ``dL/dz = (softmax(z) - y) / N``.

    Shapes: ``z: (N, K)``; targets either one-hot (or any probabilities)
    ``(N, K)`` or integer class ids ``(N,)`` in ``0..K-1`` (Keras'
    "sparse" variant, accepted here by the same class).
    """

    from_logits = True

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        z = _float_array(outputs)
        if z.ndim != 2:
            raise ValueError(
                f"CategoricalCrossentropy expects logits of shape (N, K) but got {z.shape}."
            )
        targets = np.asarray(targets)
        N, K = z.shape
        logp = log_softmax(z, axis=1)
        if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
            if targets.shape[0] != N:
                raise ValueError(f"Got {targets.shape[0]} labels for {N} rows of logits.")
            if targets.min(initial=0) < 0 or targets.max(initial=0) >= K:
                raise ValueError(
                    f"Class ids must lie in 0..{K - 1} for {K} logits per row; got "
                    f"values from {targets.min()} to {targets.max()}."
                )
            value = -np.mean(logp[np.arange(N), targets])
        else:
            if targets.shape != z.shape:
                raise ValueError(
                    f"CategoricalCrossentropy: logits have shape {z.shape}; targets must be "
                    f"one-hot of the same shape or integer class ids of shape ({N},), "
                    f"got shape {targets.shape} with dtype {targets.dtype}."
                )
            targets = targets.astype(z.dtype, copy=False)
            value = -np.sum(targets * logp) / N
        self.cache = (logp, targets)
        return float(value)

    def backward(self) -> np.ndarray:
        logp, targets = self._need_cache()
        N = logp.shape[0]
        dz = np.exp(logp)                            # softmax probabilities
        if targets.ndim == 1:
            dz[np.arange(N), targets] -= 1.0         # p - onehot(y) without building onehot
        else:
            dz -= targets
        dz /= N
        return dz
