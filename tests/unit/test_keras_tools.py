"""dlbricks.keras_tools: lazy TensorFlow, numpy <-> Keras models, GradientTape cross-checks."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from dlbricks import graph as G
from dlbricks import keras_tools as kt
from dlbricks import nn

RNG = np.random.default_rng(7)  # replaced in every test by its own seeded generator


@pytest.fixture(autouse=True)
def _test_seeded_rng(rng, monkeypatch):
    # The values a test draws depend on that test alone, not on what its xdist worker ran before.
    monkeypatch.setattr(sys.modules[__name__], "RNG", rng)
# One worker runs this whole module, so TensorFlow is imported once.
pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tensorflow")]


@pytest.fixture(autouse=True)
def _tensorflow_installed():
    pytest.importorskip("tensorflow")


def test_importing_the_library_leaves_tensorflow_out():
    code = ("import sys, json\n"
            "import dlbricks, dlbricks.keras_tools, dlbricks.check, dlbricks.data, "
            "dlbricks.graph, dlbricks.nn\n"
            "print(json.dumps('tensorflow' in sys.modules or 'keras' in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) is False


def test_quiet_tensorflow_sets_defaults_but_respects_the_user(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    kt.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------
def _mlp(seed: int, dtype=np.float32) -> nn.Sequential:
    model = nn.Sequential([
        nn.Dense(4, 8, seed=seed, dtype=dtype), nn.BatchNorm(8, dtype=dtype), nn.ReLU(),
        nn.Dropout(0.3, seed=seed), nn.Dense(8, 6, seed=seed + 1, dtype=dtype), nn.Tanh(),
        nn.Dense(6, 3, seed=seed + 2, dtype=dtype), nn.Softmax(),
    ])
    bn = model.layers[1]
    rng = np.random.default_rng(seed)
    # Non-trivial statistics and biases, so that a forgotten copy shows.
    bn.running_mean[...] = rng.normal(size=8)
    bn.running_var[...] = rng.uniform(0.5, 2.0, size=8)
    bn.params["gamma"][...] = rng.normal(size=8)
    bn.params["beta"][...] = rng.normal(size=8)
    for layer in (model.layers[0], model.layers[4], model.layers[6]):
        layer.params["b"][...] = rng.normal(size=layer.params["b"].shape)
    return model


def _cnn(seed: int) -> nn.Sequential:
    model = nn.Sequential([
        nn.Conv2D(1, 4, 3, padding="same", seed=seed), nn.ReLU(), nn.MaxPool2D(2),
        nn.Conv2D(4, 3, (3, 2), strides=2, padding="valid", seed=seed + 1), nn.Sigmoid(),
        nn.Flatten(), nn.Dense(3 * 2 * 3, 5, seed=seed + 2),
    ])
    for layer in (model.layers[0], model.layers[3]):
        layer.params["b"][...] = np.random.default_rng(seed).normal(size=layer.params["b"].shape)
    return model


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_to_keras_mlp_matches_numpy(dtype, tol):
    model = _mlp(0, dtype)
    keras_model = kt.to_keras(model)
    x = RNG.normal(size=(7, 4)).astype(dtype)
    out = keras_model(x).numpy()
    assert out.dtype == dtype and keras_model.input_shape == (None, 4)
    np.testing.assert_allclose(out, model.forward(x), rtol=tol, atol=tol)
    assert [type(layer).__name__ for layer in keras_model.layers][:3] == [
        "Dense", "BatchNormalization", "Activation"]


def test_to_keras_cnn_matches_numpy():
    model = _cnn(3)
    x = RNG.normal(size=(2, 14, 10, 1)).astype(np.float32)
    keras_model = kt.to_keras(model, input_shape=(14, 10, 1))
    np.testing.assert_allclose(keras_model(x).numpy(), model.forward(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="input_shape"):
        kt.to_keras(model)


def test_copy_weights_brings_keras_weights_back():
    source, target = _mlp(0), _mlp(10)
    keras_model = kt.to_keras(source)
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    assert not np.allclose(target.forward(x), source.forward(x))
    assert kt.copy_weights(keras_model, target) is target
    np.testing.assert_allclose(target.forward(x), keras_model(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(target.layers[1].running_var, source.layers[1].running_var)
    with pytest.raises(ValueError, match="same layout"):
        kt.copy_weights(keras_model, nn.Sequential([nn.Dense(4, 3)]))
    wrong = nn.Sequential([nn.Dense(4, 9), nn.BatchNorm(9), nn.Dense(9, 6), nn.Dense(6, 3)])
    with pytest.raises(ValueError, match="shape"):
        kt.copy_weights(keras_model, wrong)


def test_to_keras_rejects_unknown_layers():

    class Square(nn.Layer):
        def forward(self, x, training=False):
            return x * x

    with pytest.raises(TypeError, match="Square"):
        kt.to_keras(nn.Sequential([nn.Dense(2, 2), Square()]))


# --------------------------------------------------------------------------
# GradientTape against the graph's own backward pass
# --------------------------------------------------------------------------
def _leaf(*shape, positive=False, name=None):
    value = RNG.uniform(0.5, 2.0, shape) if positive else RNG.normal(size=shape)
    return G.Tensor(value, requires_grad=True, name=name)


GRAPHS = {
    "dense layer with broadcast bias": lambda: (lambda X, W, b: G.sigmoid(X @ W + b),
                                                [_leaf(5, 3), _leaf(3, 2), _leaf(2)]),
    "outer broadcasting mul/div/sub": lambda: (lambda a, b: (a * b - b) / (a * a + 1.0),
                                               [_leaf(4, 1), _leaf(1, 3)]),
    "pow, exp, log": lambda: (lambda a, b: G.log(a ** 3 + G.exp(b)) + a ** b,
                              [_leaf(2, 3, positive=True), _leaf(3, positive=True)]),
    "relu, tanh, neg": lambda: (lambda a: -G.relu(a) * G.tanh(a), [_leaf(3, 4)]),
    "softmax over axis 0, mean with keepdims": lambda: (
        lambda a, w: G.mean(G.softmax(a, axis=0) * w, axis=1, keepdims=True),
        [_leaf(4, 3), _leaf(4, 3)]),
    "sum over a tuple of axes": lambda: (lambda a: G.sum(a * a, axis=(0, 2)), [_leaf(2, 3, 4)]),
    "reshape, transpose, 1-D matmul": lambda: (
        lambda a, v: G.matmul(G.transpose(G.reshape(a, (3, 4))), v), [_leaf(12), _leaf(3)]),
    "indexing": lambda: (lambda a: a[1:, ::2] * a[0, 0], [_leaf(3, 4)]),
    "softmax cross-entropy, integer labels": lambda: (
        lambda z, W: G.softmax_cross_entropy(z @ W, np.array([0, 2, 1, 2])),
        [_leaf(4, 3), _leaf(3, 3)]),
    "softmax cross-entropy, one-hot labels": lambda: (
        lambda z: G.softmax_cross_entropy(z, np.eye(3)[[1, 0, 2, 2, 0]]), [_leaf(5, 3)]),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_tape_gradients_agree_with_backward(name, monkeypatch):
    # Values from the graph's own seed: the same whatever tests this worker ran before.
    monkeypatch.setattr(sys.modules[__name__], "RNG", np.random.default_rng(zlib.crc32(name.encode())))
    build, leaves = GRAPHS[name]()
    out = build(*leaves)
    out.backward(np.ones_like(out.value))  # the gradient of sum(out), as the tape takes
    tape = kt.tape_gradients(out, leaves)
    for leaf, grad in zip(leaves, tape):
        assert grad.shape == leaf.value.shape
        np.testing.assert_allclose(grad, leaf.grad, rtol=1e-9, atol=1e-12)


def test_tape_gradients_catch_a_wrong_backward_rule(monkeypatch):
    # A deliberately broken rule for tanh: the tape must disagree with it.
    broken = dataclasses.replace(G.OPS["tanh"], backward=lambda g, z, a: (g * (1.0 + z * z),))
    monkeypatch.setitem(G.OPS, "tanh", broken)
    a = _leaf(3)
    out = G.sum(G.tanh(a))
    out.backward()
    [tape] = kt.tape_gradients(out, [a])
    assert not np.allclose(tape, a.grad)
    np.testing.assert_allclose(tape, 1.0 - np.tanh(a.value) ** 2)


def test_tape_gradients_in_symbolic_mode_and_for_unused_variables():
    x = G.placeholder((None, 2), name="x")
    W = G.variable(RNG.normal(size=(2, 3)), name="W")
    unused = G.variable(RNG.normal(size=4), name="unused")
    loss = G.mean((x @ W) ** 2)
    with pytest.raises(ValueError, match="Session"):
        kt.tape_gradients(loss, [W])
    feed = {x: RNG.normal(size=(6, 2))}
    [expected] = G.Session().run(G.grad(loss, [W]), feed)
    [tape] = kt.tape_gradients(loss, [W])
    np.testing.assert_allclose(tape, expected, rtol=1e-10)
    with pytest.raises(ValueError, match="not part of the graph"):
        kt.tape_gradients(loss, [unused])
    both = loss + 0.0 * G.sum(unused)
    G.Session().run(both, feed)
    assert np.array_equal(kt.tape_gradients(both, [unused])[0], np.zeros(4))


def test_tape_gradients_for_an_intermediate_node():
    a = _leaf(3)
    hidden = G.exp(a)
    out = G.sum(hidden * hidden)
    out.backward()
    [g_hidden] = kt.tape_gradients(out, [hidden])
    np.testing.assert_allclose(g_hidden, 2 * hidden.value)


# --------------------------------------------------------------------------
# Device summary and training helper
# --------------------------------------------------------------------------
def test_device_summary_on_this_machine():
    import tensorflow as tf
    summary = kt.device_summary()
    assert summary["tensorflow"] == tf.__version__
    assert set(summary) == {"tensorflow", "keras", "gpus", "device", "cpu_count", "built_with_cuda"}
    if not tf.config.list_physical_devices("GPU"):
        assert summary["device"] == "CPU only" and summary["gpus"] == []
    text = str(summary)
    assert f"TensorFlow {tf.__version__}" in text and "device:" in text
    assert repr(summary) == text


def test_fit_keras_is_seeded_and_shortened_in_quick_mode(monkeypatch):
    from dlbricks.data import toy_2d

    X, y = toy_2d("gauss", n=64, seed=1)

    def run(epochs):
        model = kt.to_keras(nn.Sequential([nn.Dense(2, 4, seed=0), nn.ReLU(),
                                           nn.Dense(4, 2, seed=1), nn.Softmax()]))
        return kt.fit_keras(model, X, y, epochs=epochs, batch_size=16, optimizer="sgd",
                            learning_rate=0.5, seed=3)

    monkeypatch.delenv("DLBRICKS_QUICK", raising=False)
    first, second = run(4), run(4)
    assert first == second and len(first["loss"]) == 4
    assert first["loss"][-1] < first["loss"][0]
    monkeypatch.setenv("DLBRICKS_QUICK", "1")
    assert len(run(4)["loss"]) == 1
    with pytest.raises(ValueError, match="optimizer"):
        kt.fit_keras(kt.to_keras(nn.Sequential([nn.Dense(2, 2)])), X, y, optimizer="lbfgs")



def test_quiet_tensorflow_survives_tensorflow_resetting_its_logger():
    import logging

    from dlbricks.keras_tools import quiet_tensorflow

    quiet_tensorflow()
    quiet_tensorflow()  # idempotent: one filter
    logger = logging.getLogger("tensorflow")
    logger.setLevel(logging.INFO)  # what TensorFlow does in an interactive session
    seen = []

    class Catch(logging.Handler):
        def emit(self, record):
            seen.append(record.levelno)

    handler = Catch()
    logger.addHandler(handler)
    try:
        logger.warning("retracing")
        logger.info("chatter")
        logger.error("real problem")
    finally:
        logger.removeHandler(handler)
    assert seen == [logging.ERROR]
    assert sum(type(f).__name__ == "_ErrorsOnly" for f in logger.filters) == 1
