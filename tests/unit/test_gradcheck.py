"""dlbricks.gradcheck: numerical gradients, the relative error, and the layer/graph checkers."""
from __future__ import annotations

import numpy as np
import pytest

from dlbricks import graph, nn
from dlbricks.gradcheck import check_graph, check_layer, numerical_grad, rel_error


def test_numerical_grad_of_known_functions():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(numerical_grad(lambda v: np.sum(v ** 2), x), 2 * x, rtol=1e-8)
    np.testing.assert_allclose(numerical_grad(lambda v: np.sum(np.sin(v)), x), np.cos(x), rtol=1e-7)


def test_numerical_grad_restores_x_even_when_f_reads_it_from_outside():
    x = np.array([0.3, -1.7, 2.2])
    before = x.copy()
    grad = numerical_grad(lambda _: float(np.prod(x)), x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, [x[1] * x[2], x[0] * x[2], x[0] * x[1]], rtol=1e-8)


def test_numerical_grad_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def f(v):
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        numerical_grad(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numerical_grad_demands_float64():
    with pytest.raises(TypeError, match="float64"):
        numerical_grad(lambda v: v.sum(), np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="float64"):
        numerical_grad(lambda v: v.sum(), [1.0, 2.0])


def test_rel_error_convention():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)                  # |1-3| / (1+3)
    assert rel_error([1e6], [1.000001e6]) == pytest.approx(0.5e-6, rel=1e-3)  # scale-free
    assert rel_error([0.0], [0.0]) == 0.0                                  # floor avoids 0/0
    assert rel_error([0.0], [1e-9]) == pytest.approx(1e-9 / 1e-8)
    assert rel_error([[1.0, 0.0]], [[1.0, 1.0]]) == 1.0                    # the worst entry counts
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


class BrokenDense(nn.Dense):
    """Forgets to sum the bias gradient over the batch (a classic mistake): takes row 0."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"][...] = dy[0]
        return dx


class WrongSignReLU(nn.ReLU):
    def backward(self, dy):
        return -super().backward(dy)


def test_check_layer_catches_broken_backward_passes():
    x = np.random.default_rng(0).normal(size=(4, 3))
    errors = check_layer(BrokenDense(3, 2, seed=0), x)
    assert errors["x"] < 1e-7 and errors["W"] < 1e-7 and errors["b"] > 0.1
    assert check_layer(WrongSignReLU(), x)["x"] == pytest.approx(1.0)


def test_check_layer_leaves_the_layer_untouched_and_float32():
    layer = nn.BatchNorm(3)
    before = (layer.params["gamma"].copy(), layer.running_mean.copy())
    errors = check_layer(layer, np.random.default_rng(1).normal(size=(5, 3)))
    assert max(errors.values()) < 1e-6
    assert layer.params["gamma"].dtype == np.float32 and layer.running_mean.dtype == np.float32
    np.testing.assert_array_equal(layer.params["gamma"], before[0])
    np.testing.assert_array_equal(layer.running_mean, before[1])     # copies did the forwards


def test_check_graph_on_an_mlp_loss():
    rng = np.random.default_rng(0)
    X = graph.Tensor(rng.normal(size=(5, 3)))
    W = graph.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W")
    b = graph.Tensor(np.zeros(4), requires_grad=True, name="b")
    labels = np.array([0, 3, 1, 1, 2])
    W.grad = np.full((3, 4), 123.0)          # stale gradient: check_graph must start clean

    errors = check_graph(lambda: graph.softmax_cross_entropy(graph.tanh(X @ W + b), labels), [W, b])
    assert set(errors) == {"W", "b"}
    assert max(errors.values()) < 1e-6


def test_check_graph_names_unnamed_tensors_by_position_and_rejects_constants():
    a = graph.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    errors = check_graph(lambda: graph.sum(graph.exp(a) * a), [a])
    assert list(errors) == ["0"] and errors["0"] < 1e-7
    with pytest.raises(ValueError, match="requires_grad"):
        check_graph(lambda: graph.sum(a), [graph.Tensor(np.ones(2))])
    with pytest.raises(ValueError, match="scalar"):
        check_graph(lambda: graph.exp(a), [a])


def test_numerical_grad_wants_a_scalar_function():
    with pytest.raises(ValueError, match="one number"):
        numerical_grad(lambda v: v * 2, np.ones(3))
    t = graph.Tensor(np.array([1.0, 2.0]))
    np.testing.assert_allclose(numerical_grad(lambda v: graph.sum(graph.Tensor(v) ** 2), t.value), [2.0, 4.0])
