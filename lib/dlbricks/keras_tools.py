"""The TensorFlow/Keras side of the course, next to the numpy library.

TensorFlow is imported only inside these functions (``import
dlbricks.keras_tools`` stays light); :func:`quiet_tensorflow` runs before
that import so that TensorFlow's start-up chatter stays off stderr.

quiet_tensorflow  TF_CPP_MIN_LOG_LEVEL=3, TF_ENABLE_ONEDNN_OPTS=0, quiet Python loggers
device_summary    TensorFlow and Keras versions, GPUs or "CPU only"
to_keras          the same model in Keras, built from a ``dlbricks.nn.Sequential``
copy_weights      Keras weights back into a ``dlbricks.nn.Sequential``
tape_gradients    replay a ``dlbricks.graph`` computation under ``tf.GradientTape``
fit_keras         compile (if needed) and fit a Keras model with a fixed seed
"""
from __future__ import annotations

import logging
import os
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:  # only for type checkers: never imported at run time here
    from .graph import Tensor
    from .nn import Sequential

__all__ = ["quiet_tensorflow", "device_summary", "DeviceSummary", "to_keras", "copy_weights",
           "tape_gradients", "fit_keras"]

_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


class _ErrorsOnly(logging.Filter):
    """Let through only errors (TensorFlow's INFO/WARNING chatter is not for students)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def quiet_tensorflow() -> None:
    """Keep TensorFlow's log lines off stderr (nbgrader treats stderr output as a failure).

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` and ``TF_ENABLE_ONEDNN_OPTS=0`` unless the
    user already set them (they only take effect before TensorFlow is first
    imported), and lowers the Python-side ``tensorflow`` and absl loggers to
    errors. Safe to call many times.
    """
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.setLevel(logging.ERROR)
    # In Jupyter, TensorFlow resets this logger to INFO the first time it logs;
    # a filter survives that, whether TensorFlow is imported before or after.
    if not any(isinstance(f, _ErrorsOnly) for f in tf_logger.filters):
        tf_logger.addFilter(_ErrorsOnly())
    try:
        import absl.logging  # comes with TensorFlow; does not import it

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    # Library deprecation notices are for library authors, not for students.
    for module in ("tensorflow", "keras", "tf_keras"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)


def _tf():
    """TensorFlow, imported quietly on first use."""
    quiet_tensorflow()
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(
            "This needs TensorFlow, which is not installed. Install the course extras with "
            "pip install 'dlbricks[tf]' (Colab already has TensorFlow)."
        ) from exc
    return tf


def _keras():
    _tf()
    import keras

    return keras


# --------------------------------------------------------------------------
# Device information
# --------------------------------------------------------------------------
class DeviceSummary(dict):
    """A dict of device facts that prints as a short table."""

    def __str__(self) -> str:
        gpus = ", ".join(self["gpus"]) if self["gpus"] else "none"
        return "\n".join([
            f"TensorFlow {self['tensorflow']}, Keras {self['keras']}",
            f"device:     {self['device']}",
            f"GPUs:       {gpus}",
            f"CPU cores:  {self['cpu_count']}",
            f"CUDA build: {'yes' if self['built_with_cuda'] else 'no'}",
        ])

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython display
        printer.text(str(self))


def device_summary() -> DeviceSummary:
    """TensorFlow and Keras versions and the devices TensorFlow can use.

    Returns
    -------
    DeviceSummary (a dict)
        ``tensorflow``, ``keras`` (versions), ``gpus`` (list of GPU names),
        ``device`` ("GPU: <name>" or "CPU only"), ``cpu_count``,
        ``built_with_cuda``. Displays as a small table in a notebook.
    """
    tf = _tf()
    keras = _keras()
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except Exception:  # details are optional; the device itself is what matters
            details = {}
        names.append(str(details.get("device_name") or gpu.name))
    return DeviceSummary(
        tensorflow=tf.__version__, keras=keras.__version__, gpus=names,
        device=f"GPU: {names[0]}" if names else "CPU only",
        cpu_count=os.cpu_count() or 1, built_with_cuda=bool(tf.test.is_built_with_cuda()),
    )


# --------------------------------------------------------------------------
# dlbricks.nn <-> Keras
# --------------------------------------------------------------------------
def _flat_layers(model: Any) -> list:
    from . import nn

    layers = []
    for layer in model.layers:
        layers.extend(_flat_layers(layer) if isinstance(layer, nn.Sequential) else [layer])
    return layers


def _infer_input_shape(layers: list) -> tuple[int, ...]:
    from . import nn

    shape_free = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Softmax, nn.Dropout)
    for layer in layers:
        if isinstance(layer, nn.Dense):
            return (layer.params["W"].shape[0],)
        if isinstance(layer, nn.BatchNorm):
            return (layer.params["gamma"].shape[0],)
        if not isinstance(layer, shape_free):
            break
    raise ValueError(
        "to_keras cannot tell the input shape of this model (it starts with a "
        f"{type(layers[0]).__name__ if layers else 'empty stack'}): pass input_shape, e.g. "
        "to_keras(model, input_shape=(28, 28, 1)) for NHWC images without the batch axis."
    )


def _model_dtype(layers: list) -> str:
    for layer in layers:
        for value in layer.params.values():
            return str(value.dtype)
    return "float32"


def to_keras(sequential: "Sequential", input_shape: Sequence[int] | None = None) -> Any:
    """Build the same model in Keras, with the same weights.

    Parameters
    ----------
    sequential : dlbricks.nn.Sequential
        Made of Dense, ReLU, Sigmoid, Tanh, Softmax, Dropout, BatchNorm,
        Conv2D, MaxPool2D, Flatten (nested Sequentials are flattened).
    input_shape : tuple of int, optional
        Shape of one sample, without the batch axis. Inferred when the model
        starts with Dense or BatchNorm; needed for images, e.g. (28, 28, 1).

    Returns
    -------
    keras.Sequential
        ``keras.Input(shape=input_shape)`` followed by the matching layers; its
        outputs equal ``sequential.forward(x)`` (both in inference mode).
        Weights are stored as Keras does: Dense kernel (in, units), Conv2D
        kernel (kh, kw, in, out), BatchNormalization [gamma, beta, moving_mean,
        moving_variance]. The dtype follows the numpy model's parameters.
    """
    from . import nn

    keras = _keras()
    layers = _flat_layers(sequential)
    shape = tuple(input_shape) if input_shape is not None else _infer_input_shape(layers)
    dtype = _model_dtype(layers)
    built = [keras.Input(shape=shape, dtype=dtype)]
    weights: list[tuple[int, list[np.ndarray]]] = []
    for layer in layers:
        if isinstance(layer, nn.Dense):
            built.append(keras.layers.Dense(layer.params["W"].shape[1], dtype=dtype))
            weights.append((len(built) - 1, [layer.params["W"], layer.params["b"]]))
        elif isinstance(layer, nn.Conv2D):
            W = layer.params["W"]
            built.append(keras.layers.Conv2D(W.shape[3], kernel_size=W.shape[:2],
                                             strides=layer.strides, padding=layer.padding,
                                             dtype=dtype))
            weights.append((len(built) - 1, [W, layer.params["b"]]))
        elif isinstance(layer, nn.BatchNorm):
            built.append(keras.layers.BatchNormalization(momentum=layer.momentum,
                                                         epsilon=layer.epsilon, dtype=dtype))
            weights.append((len(built) - 1, [layer.params["gamma"], layer.params["beta"],
                                             layer.running_mean, layer.running_var]))
        elif isinstance(layer, nn.ReLU):
            built.append(keras.layers.Activation("relu", dtype=dtype))
        elif isinstance(layer, nn.Sigmoid):
            built.append(keras.layers.Activation("sigmoid", dtype=dtype))
        elif isinstance(layer, nn.Tanh):
            built.append(keras.layers.Activation("tanh", dtype=dtype))
        elif isinstance(layer, nn.Softmax):
            built.append(keras.layers.Softmax(axis=-1, dtype=dtype))
        elif isinstance(layer, nn.Dropout):
            built.append(keras.layers.Dropout(layer.rate, dtype=dtype))
        elif isinstance(layer, nn.MaxPool2D):
            built.append(keras.layers.MaxPooling2D(pool_size=layer.pool_size, strides=layer.strides,
                                                   padding=layer.padding, dtype=dtype))
        elif isinstance(layer, nn.Flatten):
            built.append(keras.layers.Flatten(dtype=dtype))
        else:
            raise TypeError(f"to_keras does not know the layer {type(layer).__name__}; supported: "
                            "Dense, ReLU, Sigmoid, Tanh, Softmax, Dropout, BatchNorm, Conv2D, "
                            "MaxPool2D, Flatten.")
    model = keras.Sequential(built)
    for position, arrays in weights:
        # built[0] is the Input, which is not a layer of the model.
        keras_layer = model.layers[position - 1]
        keras_layer.set_weights([np.asarray(a, dtype=dtype) for a in arrays])
    return model


def copy_weights(keras_model: Any, sequential: "Sequential") -> "Sequential":
    """Copy a Keras model's weights into a ``dlbricks.nn.Sequential`` of the same layout.

    Layers with weights are matched in order: Keras Dense / Conv2D /
    BatchNormalization to dlbricks Dense / Conv2D / BatchNorm (moving mean
    and variance go to ``running_mean`` / ``running_var``). Values keep the
    numpy layer's dtype. Returns ``sequential`` (changed in place).
    """
    from . import nn

    ours = [layer for layer in _flat_layers(sequential)
            if isinstance(layer, (nn.Dense, nn.Conv2D, nn.BatchNorm))]
    theirs = [layer for layer in keras_model.layers if layer.get_weights()]
    if len(ours) != len(theirs):
        raise ValueError(f"The Keras model has {len(theirs)} layers with weights, the dlbricks "
                         f"model {len(ours)}: they must have the same layout.")
    for index, (mine, other) in enumerate(zip(ours, theirs)):
        kind = other.__class__.__name__  # not type(other): the grader's judge holds a proxy of a student's layer
        expected = {nn.Dense: "Dense", nn.Conv2D: "Conv2D", nn.BatchNorm: "BatchNormalization"}[type(mine)]
        if kind != expected:
            raise ValueError(f"Layer {index} with weights is a Keras {kind} but a dlbricks "
                             f"{type(mine).__name__} (expected a Keras {expected}).")
        arrays = other.get_weights()
        if isinstance(mine, nn.BatchNorm):
            targets = [(mine.params, "gamma"), (mine.params, "beta"),
                       (mine, "running_mean"), (mine, "running_var")]
        else:
            targets = [(mine.params, "W"), (mine.params, "b")]
        if len(arrays) != len(targets):
            raise ValueError(f"Keras layer {other.name} has {len(arrays)} weight arrays, "
                             f"expected {len(targets)} (use_bias=False is not supported).")
        for (owner, name), value in zip(targets, arrays):
            current = owner[name] if isinstance(owner, dict) else getattr(owner, name)
            if current.shape != value.shape:
                raise ValueError(f"Keras layer {other.name}: weight of shape {value.shape} does "
                                 f"not fit {type(mine).__name__}.{name} of shape {current.shape}.")
            current[...] = value.astype(current.dtype)
    return sequential


# --------------------------------------------------------------------------
# dlbricks.graph -> tf.GradientTape
# --------------------------------------------------------------------------
def tape_gradients(output: "Tensor", variables: Sequence["Tensor"]) -> list[np.ndarray]:
    """Gradients of a dlbricks graph computed by TensorFlow, for cross-checking.

    The graph that produced ``output`` is replayed op by op with TensorFlow
    operations (``tf.matmul``, ``tf.nn.softmax``, ``tf.reduce_sum``, ...)
    under a ``tf.GradientTape``; the tape then differentiates it.

    Parameters
    ----------
    output : dlbricks.graph.Tensor
        Any node with a value (eager mode, or after ``Session.run``). A
        non-scalar output is summed first, as ``backward(np.ones_like(...))``.
    variables : sequence of dlbricks.graph.Tensor
        Nodes of that graph (usually leaves) to differentiate with respect to.

    Returns
    -------
    list of np.ndarray
        d output / d variable, one array per variable with its shape (zeros
        for a variable the output does not depend on).
    """
    from . import graph

    tf = _tf()
    if output.value is None:
        raise ValueError("The output has no value yet (a placeholder is upstream): run the graph "
                         "with Session().run(...) first, then call tape_gradients.")
    order = graph.topological_order(output)
    in_graph = {id(node) for node in order}
    for i, v in enumerate(variables):
        if id(v) not in in_graph:
            raise ValueError(f"variables[{i}] ({v!r}) is not part of the graph of the output.")
    replayed: dict[int, Any] = {}
    with tf.GradientTape() as tape:
        for node in order:
            if not node.parents:
                if node.value is None:
                    raise ValueError(f"The {node.op} {node.name or ''!r} has no value: feed it "
                                     "with Session().run(...) first.")
                leaf = tf.constant(node.value)
                if node.value.dtype.kind == "f":
                    tape.watch(leaf)  # every float leaf, so any of them can be asked for
                replayed[id(node)] = leaf
            else:
                replayed[id(node)] = _replay(tf, node, [replayed[id(p)] for p in node.parents])
        target = replayed[id(output)]
        if target.shape.rank:
            target = tf.reduce_sum(target)
    sources = [replayed[id(v)] for v in variables]
    grads = tape.gradient(target, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [np.asarray(g.numpy()) for g in grads]


def _replay(tf: Any, node: "Tensor", args: list) -> Any:
    """The TensorFlow operation for one dlbricks node: its op's own ``tf`` rule (``graph.OPS``)."""
    from . import graph as G

    op = G.OPS.get(node.op)
    if op is None or op.tf is None:
        raise NotImplementedError(f"tape_gradients cannot replay the op {node.op!r} in TensorFlow.")
    dtype = tf.as_dtype(node.value.dtype) if node.value is not None and node.value.dtype.kind == "f" else None
    if dtype is not None and node.op not in ("softmax_cross_entropy", "argmax", "equal", "greater"):
        # numpy promotes mixed float32/float64 silently; TensorFlow needs one dtype.
        args = [tf.cast(a, dtype) if a.dtype.is_floating or a.dtype.is_integer else a for a in args]
    return op.tf(tf, node, *args)


# --------------------------------------------------------------------------
# Training helper
# --------------------------------------------------------------------------
def fit_keras(model: Any, x: Any, y: Any, *, epochs: int = 5, batch_size: int = 32,
              optimizer: Any = "adam", learning_rate: float | None = None,
              loss: Any = "sparse_categorical_crossentropy", metrics: Sequence[Any] = ("accuracy",),
              validation_data: Any = None, seed: int = 0, quick_epochs: int | None = 1,
              verbose: int = 0) -> dict[str, list[float]]:
    """Seed, compile and fit a Keras model; returns the history as a dict of lists.

    Parameters
    ----------
    model : keras.Model
        Compiled with ``optimizer``/``loss``/``metrics`` here unless
        ``optimizer`` is None (then it must already be compiled).
    x : (N, ...), y : (N,) or (N, K)
        Training data.
    epochs, batch_size : int
        In quick mode (``DLBRICKS_QUICK=1``) epochs is capped at ``quick_epochs``
        (None: no cap), so CI and grading stay short.
    optimizer : str or keras optimizer
        "adam", "sgd", "rmsprop" or an optimizer object; ``learning_rate``
        applies to the named ones.
    seed : int
        Passed to ``keras.utils.set_random_seed`` (Python, numpy and TensorFlow)
        before compiling, so weights initialised afterwards and the shuffles
        repeat exactly.
    verbose : int
        Keras' progress output (0: none).

    Returns
    -------
    dict
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}`` per epoch.
    """
    from . import quick_mode

    keras = _keras()
    keras.utils.set_random_seed(int(seed))
    if optimizer is not None:
        if isinstance(optimizer, str):
            kinds = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
                     "rmsprop": keras.optimizers.RMSprop}
            if optimizer.lower() not in kinds:
                raise ValueError(f"optimizer must be one of {sorted(kinds)} or an optimizer object, "
                                 f"got {optimizer!r}.")
            kwargs = {} if learning_rate is None else {"learning_rate": float(learning_rate)}
            optimizer = kinds[optimizer.lower()](**kwargs)
        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    if quick_mode() and quick_epochs is not None:
        epochs = min(int(epochs), int(quick_epochs))
    history = model.fit(x, y, epochs=int(epochs), batch_size=int(batch_size),
                        validation_data=validation_data, verbose=verbose, shuffle=True)
    return {name: [float(v) for v in values] for name, values in history.history.items()}
