"""dlbricks.losses: values, stability for extreme logits, gradients against finite differences."""
from __future__ import annotations

import numpy as np
import pytest

from dlbricks import losses
from dlbricks.gradcheck import numerical_grad, rel_error

EXTREME = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0], [3.0, 2.0, 1.0]])


def loss_gradient_error(loss, z, y):
    loss.forward(z, y)
    analytic = loss.backward()
    numeric = numerical_grad(lambda v: loss.forward(v, y), z)
    return rel_error(analytic, numeric)


# --- softmax / log_softmax / sigmoid ---------------------------------------------------
def test_softmax_and_log_softmax_are_stable_and_consistent():
    p = losses.softmax(EXTREME)
    logp = losses.log_softmax(EXTREME)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(logp[0], [0.0, -2000.0, -1000.0])
    np.testing.assert_allclose(np.exp(logp), p, atol=1e-300)
    small = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(losses.softmax(small), np.exp(small) / np.exp(small).sum())


def test_softmax_axis_and_dtype():
    z = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    assert losses.softmax(z).dtype == np.float32 and losses.log_softmax(z).dtype == np.float32
    np.testing.assert_allclose(losses.softmax(z, axis=0).sum(axis=0), 1.0, rtol=1e-6)


def test_sigmoid_is_stable():
    z = np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = losses.sigmoid(z)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(20.0)), 0.5, 1 / (1 + np.exp(-20.0)), 1.0])


# --- MSE ---------------------------------------------------------------------------------------
def test_mse_value_and_gradient():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    loss = losses.MeanSquaredError()
    assert loss(pred, target) == pytest.approx(np.mean((pred - target) ** 2))
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / pred.size)
    assert loss_gradient_error(loss, pred, target) < 1e-5
    assert losses.MSE is losses.MeanSquaredError


def test_mse_column_against_flat_targets_does_not_broadcast():
    pred = np.array([[1.0], [2.0], [3.0]])
    assert losses.MSE()(pred, np.array([1.0, 2.0, 5.0])) == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="must match"):
        losses.MSE()(pred, np.zeros(4))


# --- Binary cross-entropy ---------------------------------------------------------------------
def test_binary_crossentropy_matches_the_definition():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3, size=8)
    y = rng.integers(0, 2, size=8).astype(float)
    p = 1 / (1 + np.exp(-z))
    expected = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))
    assert losses.BinaryCrossentropy()(z, y) == pytest.approx(expected, rel=1e-12)


def test_binary_crossentropy_extreme_logits_are_finite_and_exact():
    loss = losses.BinaryCrossentropy()
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        value = loss(z, y)
        grad = loss.backward()
    # right with confidence costs nothing, wrong with confidence costs |z|
    assert value == pytest.approx((0 + 0 + 1000 + 1000) / 4)
    np.testing.assert_allclose(grad, [0.0, 0.0, 0.25, -0.25])


@pytest.mark.parametrize("shape", [(7,), (5, 1), (4, 3)])
def test_binary_crossentropy_gradient(shape):
    rng = np.random.default_rng(len(shape))
    z = rng.normal(scale=2, size=shape)
    y = rng.integers(0, 2, size=shape).astype(float)
    assert loss_gradient_error(losses.BinaryCrossentropy(), z, y) < 1e-5


# --- Categorical cross-entropy -----------------------------------------------------------------
def test_categorical_crossentropy_one_hot_and_ids_agree():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 4))
    ids = np.array([0, 3, 1, 1, 2], dtype=np.uint8)
    onehot = np.eye(4)[ids]
    a, b = losses.CategoricalCrossentropy(), losses.CategoricalCrossentropy()
    expected = -np.mean(np.log(losses.softmax(z))[np.arange(5), ids])
    assert a(z, onehot) == pytest.approx(expected) and b(z, ids) == pytest.approx(expected)
    np.testing.assert_allclose(a.backward(), b.backward())
    np.testing.assert_allclose(a.backward(), (losses.softmax(z) - onehot) / 5)


def test_categorical_crossentropy_extreme_logits():
    loss = losses.CategoricalCrossentropy()
    ids = np.array([0, 0, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss(EXTREME, ids)
        grad = loss.backward()
    expected = (0.0 + 2000.0 - np.log(losses.softmax(EXTREME[2])[0])) / 3
    assert value == pytest.approx(expected)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize("labels", ["ids", "onehot", "soft"])
def test_categorical_crossentropy_gradient(labels):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 5))
    ids = rng.integers(0, 5, size=6)
    y = {"ids": ids, "onehot": np.eye(5)[ids], "soft": losses.softmax(rng.normal(size=(6, 5)))}[labels]
    assert loss_gradient_error(losses.CategoricalCrossentropy(), z, y) < 1e-5


def test_categorical_crossentropy_errors_are_actionable():
    loss = losses.CategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"0\.\.2"):
        loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="one-hot"):
        loss(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        losses.CategoricalCrossentropy().backward()


@pytest.mark.parametrize("loss,target", [
    (losses.CategoricalCrossentropy(), np.array([0, 2, 1])),
    (losses.BinaryCrossentropy(), np.ones((3, 3))),
    (losses.MeanSquaredError(), np.zeros((3, 3))),
])
def test_gradients_keep_float32(loss, target):
    z = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    value = loss(z, target)
    assert isinstance(value, float)
    assert loss.backward().dtype == np.float32
