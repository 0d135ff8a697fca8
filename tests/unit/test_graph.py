"""dlbricks.graph: every op's gradient, broadcasting, accumulation, symbolic mode."""
from __future__ import annotations

import sys
import zlib

import numpy as np
import pytest

from dlbricks import graph as G
from dlbricks.gradcheck import numerical_grad, rel_error

RNG = np.random.default_rng(1234)  # replaced in every test by its own seeded generator


@pytest.fixture(autouse=True)
def _test_seeded_rng(rng, monkeypatch):
    # The values a test draws depend on that test alone, not on what its xdist worker ran before.
    monkeypatch.setattr(sys.modules[__name__], "RNG", rng)


def _grad_check(build, *shapes, positive=False, tol=1e-5):
    """Compare graph gradients of sum(build(*leaves) * weights) with finite differences.

    Each check draws its values from its own seed (the op and the shapes), not from the
    module's generator: which values a check sees must not depend on which tests the
    same pytest worker ran before it. The tolerance leaves room for the centred
    difference's round-off on entries near zero (it is relative per entry): a wrong
    gradient is off by far more.
    """
    rng = np.random.default_rng(zlib.crc32(repr((getattr(build, "__name__", ""), shapes, positive)).encode()))
    values = [rng.uniform(0.5, 2.0, s) if positive else rng.normal(size=s) for s in shapes]
    out_shape = build(*[G.Tensor(v) for v in values]).shape
    weights = rng.normal(size=out_shape)  # a random upstream gradient catches transposes

    leaves = [G.Tensor(v.copy(), requires_grad=True) for v in values]
    loss = G.sum(build(*leaves) * weights)
    loss.backward()
    for i, leaf in enumerate(leaves):
        def f(x, i=i):
            args = [G.Tensor(x if j == i else values[j]) for j in range(len(values))]
            return float(np.sum(build(*args).value * weights))
        expected = numerical_grad(f, values[i].copy())
        assert leaf.grad.shape == values[i].shape
        assert rel_error(leaf.grad, expected) < tol, (i, leaf.grad, expected)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)),
                                    ((2, 3, 4), (3, 1)), ((), (2, 3))])
def test_binary_ops_broadcast_gradients(op, shapes):
    _grad_check(BINARY[op], *shapes, positive=(op == "div"))


@pytest.mark.parametrize("fn", [G.exp, G.sigmoid, G.tanh, G.relu, G.softmax, lambda t: -t,
                                lambda t: t ** 3, lambda t: t ** 2.5, lambda t: G.log(t),
                                lambda t: 2.0 ** t, lambda t: t ** G.Tensor(1.7),
                                lambda t: G.softmax(t, axis=0)])
def test_unary_op_gradients(fn):
    _grad_check(fn, (4, 5), positive=True)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, False)])
@pytest.mark.parametrize("reduce", [G.sum, G.mean])
def test_reduction_gradients(reduce, axis, keepdims):
    _grad_check(lambda t: reduce(t, axis=axis, keepdims=keepdims), (2, 3, 4))


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5))])
def test_matmul_gradients(shapes):
    _grad_check(G.matmul, *shapes)


def test_reshape_transpose_getitem_gradients():
    _grad_check(lambda t: G.reshape(t, (6, 2)), (3, 4))
    _grad_check(lambda t: G.transpose(t, (2, 0, 1)), (2, 3, 4))
    _grad_check(lambda t: t.T, (3, 4))
    _grad_check(lambda t: t[1:, ::2], (3, 4))


@pytest.mark.parametrize("labels", ["ids", "onehot"])
def test_softmax_cross_entropy_gradient_and_value(labels):
    ids = np.array([0, 2, 1, 2])
    y = ids if labels == "ids" else np.eye(3)[ids]
    _grad_check(lambda z: G.softmax_cross_entropy(z, y), (4, 3))
    logits = RNG.normal(size=(4, 3))
    expected = -np.mean(np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))[np.arange(4), ids])
    assert np.isclose(G.softmax_cross_entropy(logits, y).item(), expected)


def test_softmax_cross_entropy_is_finite_for_huge_logits():
    logits = G.Tensor(np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [1000.0, 1000.0]]), requires_grad=True)
    loss = G.softmax_cross_entropy(logits, np.array([0, 0, 1]))
    loss.backward()
    assert np.isfinite(loss.value) and np.isclose(loss.value, (0 + 2000 + np.log(2)) / 3)
    assert np.all(np.isfinite(logits.grad))
    assert np.all(np.isfinite(G.sigmoid(np.array([-1000.0, 1000.0])).value))
    assert np.allclose(G.softmax(np.array([1000.0, 1000.0])).value, [0.5, 0.5])


def test_course_example_exp_graph_partials():
    # z = exp(a x + b y + c): dz/da = x z, dz/dx = a z, dz/db = y z, dz/dy = b z, dz/dc = z
    a, x, b, y, c = (G.Tensor(v, requires_grad=True) for v in (1.0, 2.0, -1.0, 3.0, 0.5))
    z = G.exp(a * x + b * y + c)
    z.backward()
    zv = np.exp(1 * 2 - 1 * 3 + 0.5)
    assert np.isclose(z.item(), zv)
    for t, expected in ((a, 2 * zv), (x, 1 * zv), (b, 3 * zv), (y, -1 * zv), (c, zv)):
        assert np.isclose(t.grad, expected)


def test_gradients_accumulate_until_zero_grad():
    w = G.Tensor([1.0, 2.0], requires_grad=True)
    loss = G.sum(w * w)
    loss.backward()
    assert np.allclose(w.grad, [2.0, 4.0])
    loss.backward()
    assert np.allclose(w.grad, [4.0, 8.0]), "a second backward adds to .grad"
    loss.zero_grad()
    assert w.grad is None
    loss.backward()
    assert np.allclose(w.grad, [2.0, 4.0])


def test_shared_subexpression_receives_both_gradients():
    x = G.Tensor(3.0, requires_grad=True)
    s = x * x          # used twice below
    z = s + s * 2.0
    z.backward()
    assert np.isclose(x.grad, 3 * 2 * 3.0)


def test_backward_on_non_scalar_needs_upstream_gradient():
    t = G.Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="upstream gradient"):
        (t * 2.0).backward()
    (t * 2.0).backward(np.ones((2, 2)))
    assert np.allclose(t.grad, 2.0)


def test_dtypes_float64_default_float32_kept():
    assert G.Tensor([1, 2]).value.dtype == np.float64
    w = G.Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    x = np.ones((4, 3), np.float32)
    out = G.mean(G.relu(x @ w + 1.0) * 0.5 - 2)
    assert out.value.dtype == np.float32
    out.backward()
    assert w.grad.dtype == np.float32
    assert (2.0 * G.Tensor(np.ones(2, np.float32))).value.dtype == np.float32


def test_numpy_scalars_on_the_left_give_tensors():
    t = np.float64(2.0) * G.Tensor([1.0, 2.0])
    assert isinstance(t, G.Tensor) and np.allclose(t.value, [2.0, 4.0])


def test_topological_order_levels_and_local_gradients():
    a, x, b, y, c = (G.Tensor(v, requires_grad=True, name=n)
                     for v, n in zip((1.0, 2.0, 3.0, 4.0, 5.0), "axbyc"))
    ax, by = a * x, b * y
    z = ax + by + c
    order = G.topological_order(z)
    pos = {id(n): i for i, n in enumerate(order)}
    for node in order:
        assert all(pos[id(p)] < pos[id(node)] for p in node.parents)
    levels = G.parallel_levels(z)
    assert levels[ax] == levels[by] == 1, "a*x and b*y are independent: same level"
    assert levels[z] == 3
    z.backward()
    (pa, ga), (px, gx) = G.local_gradients(ax)
    assert pa is a and px is x and np.isclose(ga, 2.0) and np.isclose(gx, 1.0)
    square = x * x
    square.backward()
    assert [(p is x, float(g)) for p, g in G.local_gradients(square)] == [(True, 2.0), (True, 2.0)]
    views = G.walk(z)
    assert [v.op for v in views].count("mul") == 2 and views[-1].node is z
    assert all(v.grad is not None for v in views)


# ---------------------------------------------------------------- symbolic mode
def test_session_runs_placeholders_and_fetches():
    X = G.placeholder((None, 2), name="X")
    W = G.variable(np.array([[1.0], [2.0]]), name="W")
    y = X @ W
    assert y.value is None and "not computed" in repr(y)
    sess = G.Session()
    out = sess.run(y, {X: np.array([[1.0, 1.0], [0.0, 2.0]])})
    assert np.allclose(out, [[3.0], [4.0]])
    (again,) = sess.run([y], {"X": np.array([[1.0, 0.0]])})
    assert np.allclose(again, [[1.0]])
    with pytest.raises(KeyError, match="needs a value"):
        sess.run(y, {})
    with pytest.raises(ValueError, match=r"expects shape \(None, 2\)"):
        sess.run(y, {X: np.ones((2, 3))})


def test_grad_nodes_match_eager_backward():
    X = G.placeholder((None, 3), name="X")
    Y = G.placeholder((None,), name="Y")
    W = G.variable(RNG.normal(size=(3, 2)), name="W")
    b = G.variable(np.zeros(2), name="b")
    loss = G.softmax_cross_entropy(X @ W + b, Y)
    xs, ys = RNG.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    dW, db = G.Session().run(G.grad(loss, [W, b]), {X: xs, Y: ys})
    W2, b2 = G.Tensor(W.value, requires_grad=True), G.Tensor(b.value, requires_grad=True)
    G.softmax_cross_entropy(xs @ W2 + b2, ys).backward()
    assert np.allclose(dW, W2.grad) and np.allclose(db, b2.grad)
    assert W.grad is None, "Session gradients do not accumulate into .grad"


def test_sgd_train_op_updates_variables_after_fetching():
    X = G.placeholder((None, 1), name="X")
    w = G.variable(np.array([[0.0]]), name="w")
    loss = G.mean((X @ w - 3.0 * X) ** 2)
    train = G.sgd(loss, [w], lr=0.1)
    sess = G.Session()
    first_loss, _ = sess.run([loss, train], {X: np.ones((4, 1))})
    assert np.isclose(first_loss, 9.0)  # read before the update
    assert np.isclose(w.value.item(), 0.6)  # w - 0.1 * 2 * (0 - 3)
    train_from_grads = G.sgd(G.grad(loss, [w]), [w], lr=0.1)  # the notes' sgd(gradient, params)
    for _ in range(100):
        sess.run(train_from_grads, {X: np.ones((4, 1))})
    assert np.isclose(w.value.item(), 3.0)


def test_symbolic_logistic_regression_on_banknote_beats_95_percent():
    from dlbricks.data import load_banknote

    x_train, x_test, y_train, y_test = load_banknote(features="all", seed=0)
    mu, sd = x_train.mean(0), x_train.std(0)
    X = G.placeholder((None, 4), name="X")
    Y = G.placeholder((None,), name="Y")
    W = G.variable(np.zeros((4, 2)), name="W")
    b = G.variable(np.zeros(2), name="b")
    logits = X @ W + b
    loss = G.softmax_cross_entropy(logits, Y)
    accuracy = G.mean(G.equal(G.argmax(logits, axis=1), Y))
    train = G.sgd(loss, [W, b], lr=0.5)
    sess = G.Session()
    rng = np.random.default_rng(0)
    xs = (x_train - mu) / sd
    for _ in range(30):
        for idx in np.array_split(rng.permutation(len(xs)), len(xs) // 64):
            sess.run(train, {X: xs[idx], Y: y_train[idx]})
    test_acc = sess.run(accuracy, {X: (x_test - mu) / sd, Y: y_test})
    assert test_acc > 0.95



def test_greater_is_a_step_with_no_gradient_and_broadcasts():
    a = G.Tensor(np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.0]]), requires_grad=True)
    step = G.greater(a, 0.0)
    assert np.array_equal(step.value, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])   # 0 > 0 is false
    assert np.array_equal(G.greater(a, np.array([0.0, -1.0, 5.0])).value, [[0, 1, 0], [1, 1, 0]])
    # used as a mask, it passes the gradient of what it multiplies and none of its own
    (G.sum(step * a * a)).backward()
    assert np.array_equal(a.grad, 2.0 * a.value * step.value)


def test_greater_gives_the_accuracy_of_a_yes_no_model_in_a_session():
    X, Y = G.placeholder((None, 2), name="X"), G.placeholder((None,), name="Y")
    w, b = G.variable(np.array([1.0, -1.0]), name="w"), G.variable(0.5, name="b")
    z = G.matmul(X, w) + b
    accuracy = G.mean(G.equal(G.greater(z, 0.0), Y))
    x = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0], [-1.0, 0.0]])     # z = 2.5, -1.5, 0.5, -0.5
    assert G.Session().run(accuracy, {X: x, Y: np.array([1.0, 0.0, 1.0, 0.0])}) == 1.0
    assert G.Session().run(accuracy, {X: x, Y: np.array([1.0, 1.0, 1.0, 1.0])}) == 0.5
    # the accuracy node does not stop the loss's gradient from being fetched in the same run
    loss = G.mean((G.sigmoid(z) - Y) ** 2)
    acc, dw = G.Session().run([accuracy, *G.grad(loss, [w])], {X: x, Y: np.zeros(4)})
    assert acc == 0.5 and np.all(np.isfinite(dw))


# ---------------------------------------------------------------- against TensorFlow
TF_CASES = {
    "add/sub/mul/div broadcast": (lambda a, b: (a + b) * (a - b) / (b * b + 1.0), (3, 4), (4,)),
    "matmul": (G.matmul, (3, 4), (4, 2)),
    "batched matmul": (G.matmul, (2, 3, 4), (4, 5)),
    "vector matmul": (G.matmul, (4,), (4, 3)),
    "exp/log/pow": (lambda a, b: G.log(G.exp(a) + b ** 2 + 1.0) ** 1.5, (3, 4), (3, 1)),
    "sigmoid/tanh/relu": (lambda a, b: G.sigmoid(a) * G.tanh(b) + G.relu(a - b), (2, 5), (2, 5)),
    "softmax/sum/mean": (lambda a, b: G.sum(G.softmax(a) * b, axis=1) + G.mean(a, axis=0, keepdims=True).T,
                         (4, 3), (4, 3)),
    "reshape/transpose/getitem": (lambda a, b: G.reshape(G.transpose(a), (6, 2))[1:4] * b, (2, 6), (2,)),
    "softmax cross-entropy": (lambda a, b: G.softmax_cross_entropy(a @ b, np.array([0, 2, 1])), (3, 4), (4, 3)),
    "tensor power": (lambda a, b: (G.sigmoid(a) + 0.5) ** b, (3, 2), (3, 2)),
    "greater as a mask": (lambda a, b: G.greater(a, b) * a * b + G.equal(a, a) * b, (3, 4), (4,)),
}


@pytest.mark.tf
@pytest.mark.parametrize("case", sorted(TF_CASES))
def test_graph_gradients_match_tf_gradient_tape(case):
    from dlbricks.keras_tools import tape_gradients

    build, shape_a, shape_b = TF_CASES[case]
    rng = np.random.default_rng(7)
    a = G.Tensor(rng.normal(size=shape_a), requires_grad=True)
    b = G.Tensor(rng.normal(size=shape_b), requires_grad=True)
    out = build(a, b)
    out.backward(np.ones_like(out.value))
    tf_da, tf_db = tape_gradients(out, [a, b])
    assert rel_error(a.grad, tf_da) < 1e-6 and rel_error(b.grad, tf_db) < 1e-6
