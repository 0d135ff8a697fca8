"""Optimisers that update parameter arrays in place, with Keras 3's rules and defaults.

``optimizer.step(model)`` updates every ``layer.params[name]`` of a model (anything
with ``parameters()`` returning ``(layer, name)`` pairs, e.g. ``nn.Sequential``)
using ``layer.grads[name]``; ``optimizer.step(params, grads)`` does the same for
two matching lists of arrays (e.g. the ``.value`` and ``.grad`` of graph tensors).

Updates happen in place (``param -= ...``) so that everyone holding the array sees
the new values, and per-parameter state (velocities, moments, a scratch buffer) is
allocated once, on the first step, so a training step allocates nothing big.
State is keyed by the parameter array itself: keep updating the same arrays.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class Optimizer:
    """Base class: ``step(model)`` or ``step(params, grads)``; ``iterations`` counts steps."""

    def __init__(self, learning_rate: float) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}.")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        # id(param) -> (param, state dict); holding param keeps its id from being reused
        self._state: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def step(self, model_or_params: Any, grads: Sequence[np.ndarray] | None = None) -> None:
        """Apply one update to every parameter, in place.

        Parameters
        ----------
        model_or_params : a model with ``parameters()``, or a list of arrays
        grads : None when a model is given, else a list of arrays matching
            ``model_or_params`` one to one (same shapes)
        """
        if grads is None:
            if not hasattr(model_or_params, "parameters"):
                raise TypeError(
                    "step(model) needs a model with parameters() (e.g. nn.Sequential); "
                    "for plain arrays call step(params, grads)."
                )
            pairs = [(layer.params[name], layer.grads[name])
                     for layer, name in model_or_params.parameters()]
        else:
            params = list(model_or_params)
            grads = list(grads)
            if len(params) != len(grads):
                raise ValueError(f"step got {len(params)} parameters but {len(grads)} gradients.")
            pairs = list(zip(params, grads))
        self.iterations += 1
        for param, grad in pairs:
            if grad is None:
                raise ValueError(
                    "A parameter has no gradient (None): run the backward pass before step()."
                )
            if grad.shape != param.shape:
                raise ValueError(
                    f"Gradient of shape {grad.shape} for a parameter of shape {param.shape}: "
                    "each gradient must have its parameter's shape."
                )
            self._update(param, grad, self._state_for(param))

    def _state_for(self, param: np.ndarray) -> dict[str, np.ndarray]:
        entry = self._state.get(id(param))
        if entry is None or entry[0] is not param:
            entry = (param, self._init_state(param))
            self._state[id(param)] = entry
        return entry[1]

    def _init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all state (moments, velocities) and the step count."""
        self._state.clear()
        self.iterations = 0


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as in Keras.

    Plain:     ``param -= learning_rate * grad``
    Momentum:  ``v = momentum * v - learning_rate * grad``; ``param += v``
    Nesterov:  same ``v``, then ``param += momentum * v - learning_rate * grad``
               (a look-ahead along the velocity).
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        if self.momentum == 0.0:
            return {"scratch": np.empty_like(param)}
        return {"velocity": np.zeros_like(param), "scratch": np.empty_like(param)}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, tmp = self.learning_rate, state["scratch"]
        np.multiply(grad, lr, out=tmp)               # tmp = lr * grad
        if self.momentum == 0.0:
            param -= tmp
            return
        v, mu = state["velocity"], self.momentum
        v *= mu
        v -= tmp                                     # v = mu * v - lr * grad
        if self.nesterov:
            param -= tmp
            np.multiply(v, mu, out=tmp)
            param += tmp                             # param += mu * v - lr * grad
        else:
            param += v


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with Keras 3's exact update and defaults.

    With step count ``t`` (starting at 1):

    ``m += (1 - beta_1) * (grad - m)``            (first moment, moving mean of grad)
    ``v += (1 - beta_2) * (grad**2 - v)``         (second moment, moving mean of grad**2)
    ``alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``  (bias correction)
    ``param -= alpha * m / (sqrt(v) + epsilon)``

    Folding the bias correction into ``alpha`` puts ``epsilon`` outside the
    corrected ``sqrt(v)``: this is the paper's "epsilon hat", as in Keras.
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {beta}.")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"m": np.zeros_like(param), "v": np.zeros_like(param),
                "scratch": np.empty_like(param)}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        m, v, tmp = state["m"], state["v"], state["scratch"]
        t = self.iterations
        alpha = self.learning_rate * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        # in-place arithmetic into one scratch buffer: no temporary arrays per step
        np.subtract(grad, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp                                     # m += (1 - beta_1) * (grad - m)
        np.multiply(grad, grad, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta_2
        v += tmp                                     # v += (1 - beta_2) * (grad**2 - v)
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        param -= tmp                                 # param -= alpha * m / (sqrt(v) + eps)


class RMSprop(Optimizer):
    """RMSprop as in Keras (no momentum, not centred).

    ``v = rho * v + (1 - rho) * grad**2``;
    ``param -= learning_rate * grad / sqrt(v + epsilon)`` (Keras puts epsilon inside the root).
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9,
                 epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho}.")
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"v": np.zeros_like(param), "scratch": np.empty_like(param)}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        v, tmp = state["v"], state["scratch"]
        v *= self.rho
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - self.rho
        v += tmp                                     # v = rho * v + (1 - rho) * grad**2
        np.add(v, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(grad, tmp, out=tmp)
        tmp *= self.learning_rate
        param -= tmp                                 # param -= lr * grad / sqrt(v + eps)


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(optimizer: str | Optimizer) -> Optimizer:
    """An optimiser from its name (``"sgd"``, ``"adam"``, ``"rmsprop"``, Keras defaults) or as is."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    try:
        return _OPTIMIZERS[str(optimizer).lower()]()
    except KeyError:
        raise ValueError(
            f"Unknown optimiser {optimizer!r}; use one of {sorted(_OPTIMIZERS)} or an Optimizer."
        ) from None
