"""dlbricks.optim: update rules, convergence on toy problems, and Keras equivalence."""
from __future__ import annotations

import os

import numpy as np
import pytest

from dlbricks import losses, nn, optim

# A quadratic bowl f(w) = 1/2 sum_i a_i (w_i - c_i)^2, badly conditioned on purpose.
A = np.array([1.0, 10.0, 0.5])
C = np.array([3.0, -2.0, 1.0])


def bowl_grad(w):
    return A * (w - C)


def descend(optimizer, steps, w0=(0.0, 0.0, 0.0)):
    w = np.array(w0, dtype=np.float64)
    for _ in range(steps):
        optimizer.step([w], [bowl_grad(w)])
    return w


@pytest.mark.parametrize("optimizer,steps", [
    (optim.SGD(learning_rate=0.1), 400),
    (optim.SGD(learning_rate=0.05, momentum=0.9), 400),
    (optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True), 400),
    (optim.Adam(learning_rate=0.1), 1000),
    (optim.RMSprop(learning_rate=0.01), 1000),
])
def test_converges_on_a_quadratic_bowl(optimizer, steps):
    w = descend(optimizer, steps)
    np.testing.assert_allclose(w, C, atol=2e-2)
    assert optimizer.iterations == steps


def test_sgd_step_is_learning_rate_times_gradient():
    w = np.array([1.0, 2.0])
    optim.SGD(learning_rate=0.5).step([w], [np.array([2.0, -4.0])])
    np.testing.assert_allclose(w, [0.0, 4.0])


def test_momentum_accumulates_velocity():
    w, g = np.zeros(1), np.ones(1)
    opt = optim.SGD(learning_rate=1.0, momentum=0.5)
    opt.step([w], [g])   # v = -1, w = -1
    opt.step([w], [g])   # v = -1.5, w = -2.5
    np.testing.assert_allclose(w, [-2.5])
    w2 = np.zeros(1)
    nesterov = optim.SGD(learning_rate=1.0, momentum=0.5, nesterov=True)
    nesterov.step([w2], [g])   # v = -1, w += 0.5 * -1 - 1 = -1.5
    np.testing.assert_allclose(w2, [-1.5])


def test_adam_first_step_moves_by_the_learning_rate_along_the_sign():
    # with bias correction, step 1 is lr * g / (|g| + eps') whatever the scale of g
    w = np.zeros(3)
    optim.Adam(learning_rate=0.01).step([w], [np.array([0.1, -5.0, 200.0])])
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_adam_defaults_are_keras_defaults():
    opt = optim.Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert optim.SGD().learning_rate == 0.01 and optim.SGD().momentum == 0.0
    assert isinstance(optim.get("adam"), optim.Adam)
    with pytest.raises(ValueError, match="sgd"):
        optim.get("adamw")


def test_step_with_a_model_updates_params_in_place():
    model = nn.Sequential([nn.Dense(4, 3, seed=0), nn.ReLU(), nn.Dense(3, 2, seed=1)])
    arrays = [layer.params[name] for layer, name in model.parameters()]
    before = [a.copy() for a in arrays]
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    loss = losses.CategoricalCrossentropy()
    opt = optim.Adam()
    for _ in range(3):
        loss(model.forward(x, training=True), np.array([0, 1, 0, 1, 1]))
        model.backward(loss.backward())
        opt.step(model)
    after = [layer.params[name] for layer, name in model.parameters()]
    assert all(a is b for a, b in zip(arrays, after))           # same arrays, new values
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    assert all(a.dtype == np.float32 for a in after)            # float32 stays float32
    state_ids = {k: id(v[1]["m"]) for k, v in opt._state.items()}
    opt.step(model)
    assert state_ids == {k: id(v[1]["m"]) for k, v in opt._state.items()}  # state allocated once


def test_step_errors_are_actionable():
    opt = optim.SGD()
    with pytest.raises(ValueError, match="backward"):
        opt.step([np.zeros(2)], [None])
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(ValueError, match="2 parameters but 1"):
        opt.step([np.zeros(2), np.zeros(2)], [np.zeros(2)])
    with pytest.raises(TypeError, match="step\\(params, grads\\)"):
        opt.step(np.zeros(2))
    with pytest.raises(ValueError, match="learning_rate"):
        optim.Adam(learning_rate=0.0)


def test_logistic_regression_with_adam_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X @ np.array([2.0, -1.0]) + 0.5 > 0).astype(np.float64)
    model = nn.Dense(2, 1, seed=0, dtype=np.float64)
    loss = losses.BinaryCrossentropy()
    opt = optim.Adam(learning_rate=0.05)
    first = None
    for _ in range(300):
        value = loss(model.forward(X), y)
        first = value if first is None else first
        model.backward(loss.backward())
        opt.step(model)
    accuracy = np.mean((model.forward(X)[:, 0] > 0) == (y > 0.5))
    assert value < 0.2 * first and accuracy > 0.97
    w = model.params["W"][:, 0]
    assert w[0] > 0 > w[1] and w[0] / -w[1] == pytest.approx(2.0, rel=0.25)   # the true direction


@pytest.mark.tf
def test_matches_keras_step_for_step_on_a_quadratic():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")

    # Compared in float32, the dtype models train in. (In float64 the two differ by
    # ~1e-5 relative for a dull reason: Keras turns its Python hyperparameters into
    # float32 tensors before casting them, so beta_2 is really 0.99900001287.)
    # The large-epsilon case makes the place of epsilon matter: inside the bias
    # correction or outside it changes the steps by far more than the tolerance.
    cases = [
        (optim.Adam(), keras.optimizers.Adam()),
        (optim.Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=0.5),
         keras.optimizers.Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=0.5)),
        (optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True),
         keras.optimizers.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)),
        (optim.RMSprop(learning_rate=0.01, epsilon=0.5), keras.optimizers.RMSprop(learning_rate=0.01, epsilon=0.5)),
    ]
    for ours, theirs in cases:
        w = np.zeros(3, dtype=np.float32)
        kw = keras.Variable(np.zeros(3, dtype=np.float32))
        for step in range(50):
            ours.step([w], [bowl_grad(w).astype(np.float32)])
            theirs.apply([keras.ops.convert_to_tensor(bowl_grad(kw.numpy()).astype(np.float32))], [kw])
            np.testing.assert_allclose(w, kw.numpy(), rtol=2e-5, atol=1e-7,
                                       err_msg=f"{type(ours).__name__} differs at step {step + 1}")
        assert w.dtype == np.float32
