"""A minibatch training loop for ``dlbricks.nn`` models, in the style of Keras' ``fit``.

One training step is the whole story of the course in four lines::

    outputs = model.forward(xb, training=True)     # forward pass
    value = loss.forward(outputs, yb)              # how wrong are we?
    model.backward(loss.backward())                # chain rule: dL/dparams
    optimizer.step(model)                          # move the parameters downhill

``fit`` repeats it over shuffled minibatches for some epochs and records a
``History``; ``evaluate`` and ``predict`` run the model in evaluation mode.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .data.split import minibatches
from .losses import Loss
from .optim import Optimizer

Metric = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------
def accuracy(outputs: np.ndarray, targets: np.ndarray, from_logits: bool = True) -> float:
    """Fraction of correctly classified examples.

    Parameters
    ----------
    outputs : (N, K) scores or probabilities (the class is the argmax), or
        (N,) / (N, 1) for a yes/no output: logits (class 1 when > 0) if
        ``from_logits``, else probabilities (class 1 when > 0.5)
    targets : (N,) class ids / 0-1 labels, or (N, K) one-hot rows
    """
    outputs = np.asarray(outputs)
    targets = np.asarray(targets)
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        predicted = outputs.argmax(axis=1)
        labels = targets.argmax(axis=1) if targets.ndim == 2 else targets
    else:
        predicted = outputs.reshape(-1) > (0.0 if from_logits else 0.5)
        labels = targets.reshape(-1) > 0.5
    if predicted.shape != labels.shape:
        raise ValueError(
            f"accuracy: {predicted.shape[0]} predictions but targets of shape {targets.shape}."
        )
    return float(np.mean(predicted == labels))


def _resolve_metrics(metrics: Sequence[str | Metric], loss: Loss) -> dict[str, Metric]:
    resolved: dict[str, Metric] = {}
    for metric in metrics or ():
        if callable(metric):
            resolved[getattr(metric, "__name__", "metric")] = metric
        elif metric in ("accuracy", "acc"):
            from_logits = getattr(loss, "from_logits", True)
            resolved["accuracy"] = lambda o, t, fl=from_logits: accuracy(o, t, from_logits=fl)
        else:
            raise ValueError(
                f"Unknown metric {metric!r}: use 'accuracy' or a function metric(outputs, targets) -> float."
            )
    return resolved


# --------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------
class History(dict):
    """Per-epoch values: ``history["loss"][e]``, ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``.

    A plain dict of lists (one entry per epoch), plus ``plot()``.
    """

    @property
    def epochs(self) -> int:
        return len(self.get("loss", []))

    def plot(self, ax: Any = None) -> Any:
        """Draw the loss (and every metric) per epoch, training and validation.

        Returns the matplotlib Figure. One panel per quantity, epochs from 1.
        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        names = [k for k in self if not k.startswith("val_")]
        if ax is None:
            fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.2), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(np.atleast_1d(ax))
            fig = axes[0].figure
            if len(axes) < len(names):
                raise ValueError(f"History.plot needs {len(names)} axes, got {len(axes)}.")
        for axis, name in zip(axes, names):
            epochs = np.arange(1, len(self[name]) + 1)
            axis.plot(epochs, self[name], marker="o", label="training")
            if f"val_{name}" in self:
                axis.plot(epochs, self[f"val_{name}"], marker="o", label="validation")
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_ylabel(name)
            axis.set_title(name)
            axis.legend()
            axis.grid(alpha=0.3)
        fig.tight_layout()
        return fig


# --------------------------------------------------------------------------------------
# Progress bar (terminal and Jupyter: both honour a carriage return)
# --------------------------------------------------------------------------------------
class ProgressBar:
    """A one-line text bar: ``Epoch 2/5 [=====>    ] 40/79 - loss: 0.3121``.

    Redraws at most ten times a second; prints nothing when ``enabled`` is False.
    """

    def __init__(self, total: int, prefix: str = "", enabled: bool = True, width: int = 25,
                 stream: Any = None) -> None:
        self.total = max(int(total), 1)
        self.prefix = prefix
        self.enabled = enabled
        self.width = width
        self.stream = stream if stream is not None else sys.stdout
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_length = 0

    def update(self, done: int, info: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and done < self.total and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        filled = int(self.width * done / self.total)
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        line = f"{self.prefix} [{bar[:self.width]}] {done}/{self.total}"
        if info:
            line += f" - {info}"
        # pad with spaces so a shorter line fully covers the previous one
        self.stream.write("\r" + line.ljust(self._last_length))
        self._last_length = len(line)
        self.stream.flush()

    def close(self, info: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        self.update(self.total, f"{elapsed:.1f}s" + (f" - {info}" if info else ""), force=True)
        self.stream.write("\n")
        self.stream.flush()


def _format(values: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in values.items())


# --------------------------------------------------------------------------------------
# fit / evaluate / predict
# --------------------------------------------------------------------------------------
def _model_dtype(model: Any) -> np.dtype | None:
    """The dtype of the model's first parameter: inputs are converted to it once, up front."""
    for layer, name in model.parameters():
        return layer.params[name].dtype
    return None


def _check_data(X: np.ndarray, y: np.ndarray, what: str) -> None:
    if len(X) != len(y):
        raise ValueError(f"{what}: X has {len(X)} examples but y has {len(y)}; they must match.")
    if len(X) == 0:
        raise ValueError(f"{what}: there are no examples.")


def fit(model: Any, loss: Loss, optimizer: Optimizer, X: np.ndarray, y: np.ndarray,
        epochs: int = 1, batch_size: int = 32,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        metrics: Sequence[str | Metric] = ("accuracy",), seed: int = 0,
        verbose: bool = True) -> History:
    """Train ``model`` with minibatch gradient descent; return the per-epoch History.

    Parameters
    ----------
    model : an ``nn.Sequential`` (or any layer with ``parameters()``)
    loss : a ``losses.Loss`` taking the model's outputs (logits for cross-entropy)
    optimizer : an ``optim.Optimizer``, updated once per minibatch
    X : (N, ...) inputs, converted once to the model's dtype
    y : (N,) class ids / targets or (N, K) one-hot targets
    epochs, batch_size : the last batch of an epoch may be smaller
    validation_data : optional ``(X_val, y_val)``, evaluated after every epoch
    metrics : ``"accuracy"`` and/or functions ``metric(outputs, targets) -> float``
    seed : seeds the shuffling (a new order every epoch, the same run every time)
    verbose : print a progress bar and one summary line per epoch

    Returns
    -------
    History with lists ``loss``, one per metric, and ``val_...`` when validating.
    The training values are averages over the epoch's minibatches (weighted by
    batch size), computed while the weights change, as Keras reports them.
    """
    dtype = _model_dtype(model)
    X = np.asarray(X, dtype=dtype) if dtype is not None else np.asarray(X)
    y = np.asarray(y)
    _check_data(X, y, "fit")
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"batch_size must be >= 1 and epochs >= 0; got {batch_size} and {epochs}.")
    metric_fns = _resolve_metrics(metrics, loss)
    rng = np.random.default_rng(seed)
    history = History(loss=[], **{name: [] for name in metric_fns})
    if validation_data is not None:
        history["val_loss"] = []
        for name in metric_fns:
            history[f"val_{name}"] = []
    n = len(X)
    steps = -(-n // batch_size)
    # training needs dL/dparams only; backward_params skips dL/dX when the model can
    backward = getattr(model, "backward_params", model.backward)

    for epoch in range(epochs):
        bar = ProgressBar(steps, prefix=f"Epoch {epoch + 1}/{epochs}", enabled=verbose)
        totals = dict.fromkeys(["loss", *metric_fns], 0.0)
        # one generator for the whole run: every epoch sees the data in a new order
        for step, (xb, yb) in enumerate(minibatches(X, y, batch_size, shuffle=True, seed=rng)):
            outputs = model.forward(xb, training=True)
            value = loss.forward(outputs, yb)
            backward(loss.backward())
            optimizer.step(model)

            totals["loss"] += value * len(xb)
            for name, fn in metric_fns.items():
                totals[name] += fn(outputs, yb) * len(xb)
            seen = min((step + 1) * batch_size, n)
            bar.update(step + 1, _format({k: v / seen for k, v in totals.items()}))
        if not np.isfinite(totals["loss"]):
            bar.close()
            raise FloatingPointError(
                f"The training loss became {totals['loss'] / n} in epoch {epoch + 1}: "
                "lower the learning rate, or check the inputs are scaled (e.g. pixels / 255)."
            )
        for name, total in totals.items():
            history[name].append(total / n)
        summary = {k: history[k][-1] for k in totals}
        if validation_data is not None:
            scores = evaluate(model, loss, *validation_data, batch_size=max(batch_size, 256),
                              metrics=metrics)
            for name, value in scores.items():
                history[f"val_{name}"].append(value)
                summary[f"val_{name}"] = value
        bar.close(_format(summary))
    return history


def predict(model: Any, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (e.g. logits) for every row of ``X``, in evaluation mode.

    ``X: (N, ...)`` -> ``(N, ...)``, computed ``batch_size`` rows at a time.
    """
    dtype = _model_dtype(model)
    X = np.asarray(X, dtype=dtype) if dtype is not None else np.asarray(X)
    parts = [model.forward(X[i:i + batch_size], training=False) for i in range(0, len(X), batch_size)]
    if not parts:
        raise ValueError("predict: X has no rows.")
    return np.concatenate(parts, axis=0)


def evaluate(model: Any, loss: Loss, X: np.ndarray, y: np.ndarray, batch_size: int = 256,
             metrics: Sequence[str | Metric] = ("accuracy",)) -> dict[str, float]:
    """Loss and metrics over all of ``(X, y)`` in evaluation mode: ``{"loss": .., "accuracy": ..}``."""
    y = np.asarray(y)
    _check_data(X, y, "evaluate")
    outputs = predict(model, X, batch_size=batch_size)
    scores = {"loss": loss.forward(outputs, y)}
    for name, fn in _resolve_metrics(metrics, loss).items():
        scores[name] = fn(outputs, y)
    return scores
