"""dlbricks.nn: every backward against finite differences, modes, shapes, dtypes."""
from __future__ import annotations

import numpy as np
import pytest

from dlbricks import nn
from dlbricks.gradcheck import check_layer

# float64 centred differences of correct gradients land near 1e-8; small entries
# lose a few more digits to cancellation in f(x+eps) - f(x-eps). A wrong gradient
# (missing factor, transposed, wrong mask) is off by far more than 1e-5.
TOL = 1e-5


def assert_gradients_ok(errors: dict[str, float]) -> None:
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"gradients disagree with finite differences: {bad}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_gradients(seed):
    rng = np.random.default_rng(seed)
    n, d, m = rng.integers(1, 6, size=3)
    layer = nn.Dense(d, m, seed=seed)
    errors = check_layer(layer, rng.normal(size=(n, d)))
    assert set(errors) == {"x", "W", "b"}
    assert_gradients_ok(errors)


def test_dense_forward_is_x_W_plus_b_with_keras_kernel_layout():
    layer = nn.Dense(3, 2, seed=0, dtype=np.float64)
    assert layer.params["W"].shape == (3, 2) and layer.params["b"].shape == (2,)
    layer.params["b"][:] = [1.0, -1.0]
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["W"] + [1.0, -1.0])


def test_dense_rejects_wrong_input_width_with_a_sentence():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        nn.Dense(4, 2).forward(np.zeros((3, 5)))


@pytest.mark.parametrize("layer_cls", [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Softmax])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_activation_gradients(layer_cls, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape)
    if layer_cls is nn.ReLU:      # keep away from the kink at 0, where no derivative exists
        x = np.where(np.abs(x) < 1e-3, 0.5, x)
    assert_gradients_ok(check_layer(layer_cls(), x))


def test_activation_values():
    x = np.array([[-1000.0, -1.0, 0.0, 2.0, 1000.0]])
    np.testing.assert_array_equal(nn.ReLU().forward(x), [[0, 0, 0, 2, 1000]])
    s = nn.Sigmoid().forward(x)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[0, 1:4], 1 / (1 + np.exp(-x[0, 1:4])))
    np.testing.assert_allclose(nn.Tanh().forward(x), np.tanh(x))
    p = nn.Softmax().forward(x)
    assert np.all(np.isfinite(p)) and np.isclose(p.sum(), 1.0) and p[0, -1] == pytest.approx(1.0)


def test_backward_before_forward_says_what_to_do():
    with pytest.raises(RuntimeError, match="forward"):
        nn.Dense(2, 2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="forward"):
        nn.ReLU().backward(np.ones((1, 2)))


# --- Dropout -----------------------------------------------------------------------------
def test_dropout_is_identity_in_evaluation():
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    layer = nn.Dropout(0.5, seed=0)
    y = layer.forward(x, training=False)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))


def test_dropout_training_keeps_expectation_and_drops_the_rate():
    x = np.ones((400, 500), dtype=np.float32)
    rate = 0.3
    y = nn.Dropout(rate, seed=1).forward(x, training=True)
    assert y.dtype == np.float32
    assert np.mean(y == 0) == pytest.approx(rate, abs=0.01)
    # survivors are scaled by 1/(1-rate), so the mean stays 1 (inverted dropout)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - rate), rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.01)


def test_dropout_is_seeded_and_backward_uses_the_same_mask():
    x = np.random.default_rng(0).normal(size=(6, 7))
    a, b = nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=3)
    ya, yb = a.forward(x, training=True), b.forward(x, training=True)
    np.testing.assert_array_equal(ya, yb)
    dx = a.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx == 0, ya == 0)
    assert_gradients_ok(check_layer(nn.Dropout(0.4, seed=5), x, training=True))


def test_dropout_rejects_rate_one():
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)


# --- BatchNorm ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 4), (3, 4, 5, 2)])
def test_batchnorm_gradients_in_training_mode(shape):
    rng = np.random.default_rng(len(shape))
    layer = nn.BatchNorm(shape[-1])
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, size=shape[-1])
    layer.params["beta"][:] = rng.normal(size=shape[-1])
    x = rng.normal(loc=3.0, scale=2.0, size=shape)
    errors = check_layer(layer, x, training=True)
    assert set(errors) == {"x", "gamma", "beta"}
    assert_gradients_ok(errors)


def test_batchnorm_gradients_in_evaluation_mode():
    rng = np.random.default_rng(4)
    layer = nn.BatchNorm(3)
    layer.running_mean[:] = [1.0, -2.0, 0.5]
    layer.running_var[:] = [4.0, 0.25, 1.0]
    assert_gradients_ok(check_layer(layer, rng.normal(size=(5, 3)), training=False))


def test_batchnorm_training_normalises_the_batch_per_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[1.0, -5.0, 10.0], scale=[1.0, 3.0, 0.1], size=(2, 6, 6, 3))
    y = nn.BatchNorm(3, dtype=np.float64).forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-10)
    # epsilon=1e-3 (Keras) shrinks the variance slightly below 1 for small channels
    var = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), var / (var + 1e-3), rtol=1e-10)


def test_batchnorm_running_averages_follow_keras_and_evaluation_uses_them():
    rng = np.random.default_rng(1)
    layer = nn.BatchNorm(2, dtype=np.float64)
    assert (layer.momentum, layer.epsilon) == (0.99, 1e-3)
    x = rng.normal(loc=[2.0, -1.0], scale=[0.5, 3.0], size=(50, 2))
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.running_mean, 0.01 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.99 + 0.01 * x.var(axis=0))
    # evaluation: the running statistics, not the batch's
    layer.running_mean[:] = [1.0, 2.0]
    layer.running_var[:] = [4.0, 9.0]
    layer.params["gamma"][:] = [2.0, 1.0]
    layer.params["beta"][:] = [0.5, 0.0]
    x_eval = rng.normal(size=(4, 2))
    expected = [2.0, 1.0] * (x_eval - [1.0, 2.0]) / np.sqrt(np.array([4.0, 9.0]) + 1e-3) + [0.5, 0.0]
    np.testing.assert_allclose(layer.forward(x_eval, training=False), expected)
    # and evaluation leaves the running statistics alone
    np.testing.assert_array_equal(layer.running_mean, [1.0, 2.0])


def test_batchnorm_rejects_features_not_last():
    with pytest.raises(ValueError, match="last axis"):
        nn.BatchNorm(3).forward(np.zeros((2, 3, 4, 4)), training=True)


# --- Convolution and pooling ---------------------------------------------------------------
@pytest.mark.parametrize("n,k,s,padding,expected", [
    (28, 5, 1, "valid", 24), (28, 5, 1, "same", 28), (28, 3, 2, "same", 14),
    (7, 3, 2, "same", 4), (7, 3, 2, "valid", 3), (6, 2, 3, "valid", 2), (5, 5, 1, "VALID", 1),
])
def test_conv_output_size(n, k, s, padding, expected):
    assert nn.conv_output_size(n, k, s, padding) == expected


def test_conv_output_size_errors():
    with pytest.raises(ValueError, match="padding"):
        nn.conv_output_size(5, 3, 1, "full")
    with pytest.raises(ValueError, match="does not fit"):
        nn.conv_output_size(2, 3, 1, "valid")


def conv2d_loops(x, w, strides, padding):
    """The definition, with loops: a slow but obvious reference."""
    sh, sw = strides
    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    Ho, Wo = nn.conv_output_size(H, kh, sh, padding), nn.conv_output_size(W, kw, sw, padding)
    if padding == "same":   # TensorFlow: total padding split, the extra at the bottom/right
        ph = max((Ho - 1) * sh + kh - H, 0)
        pw = max((Wo - 1) * sw + kw - W, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    y = np.zeros((N, Ho, Wo, F))
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            y[:, i, j, :] = np.tensordot(window, w, axes=([1, 2, 3], [0, 1, 2]))
    return y


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 3)])
@pytest.mark.parametrize("kernel", [(1, 1), (3, 3), (2, 3)])
def test_conv2d_matches_the_loop_definition(padding, strides, kernel):
    rng = np.random.default_rng(sum(strides) + sum(kernel))
    x = rng.normal(size=(2, 7, 6, 3))
    w = rng.normal(size=(*kernel, 3, 4))
    np.testing.assert_allclose(nn.conv2d(x, w, strides, padding), conv2d_loops(x, w, strides, padding),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_accepts_tensorflow_style_strides():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 8, 8, 1)), rng.normal(size=(3, 3, 1, 2))
    np.testing.assert_array_equal(nn.conv2d(x, w, [1, 2, 2, 1], "SAME"), nn.conv2d(x, w, 2, "same"))


def test_conv2d_shape_errors_name_the_layout():
    with pytest.raises(ValueError, match="kh, kw, C, F"):
        nn.conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 4)))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, (1, 2)])
def test_conv2d_layer_gradients(padding, strides):
    rng = np.random.default_rng(7)
    layer = nn.Conv2D(2, 3, (3, 2), strides=strides, padding=padding, seed=1)
    layer.params["b"][:] = rng.normal(size=3)
    x = rng.normal(size=(2, 5, 6, 2))
    errors = check_layer(layer, x)
    assert set(errors) == {"x", "W", "b"}
    assert_gradients_ok(errors)


def test_conv2d_layer_is_conv2d_plus_bias():
    rng = np.random.default_rng(2)
    layer = nn.Conv2D(3, 4, 3, strides=2, padding="same", seed=0, dtype=np.float64)
    layer.params["b"][:] = [1.0, 2.0, 3.0, 4.0]
    assert layer.params["W"].shape == (3, 3, 3, 4)
    x = rng.normal(size=(2, 9, 9, 3))
    y = layer.forward(x)
    assert y.shape == (2, 5, 5, 4)
    np.testing.assert_allclose(y, nn.conv2d(x, layer.params["W"], 2, "same") + layer.params["b"])


@pytest.mark.parametrize("pool,strides,padding", [
    (2, None, "valid"), (2, None, "same"), (3, 2, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "same"),
])
def test_maxpool_gradients(pool, strides, padding):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 5 * 7 * 3).reshape(2, 5, 7, 3) / 10.0   # distinct values: no ties
    assert_gradients_ok(check_layer(nn.MaxPool2D(pool, strides, padding), x))


def test_maxpool_values_and_gradient_routing():
    x = np.array([[1.0, 2.0, 5.0, 0.0],
                   [3.0, 4.0, 1.0, 1.0],
                   [0.0, 0.0, 2.0, 2.5],
                   [9.0, 0.0, 1.0, 0.0]]).reshape(1, 4, 4, 1)
    layer = nn.MaxPool2D(2)
    y = layer.forward(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[4.0, 5.0], [9.0, 2.5]])
    dx = layer.backward(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1))
    expected = np.zeros((4, 4))
    expected[1, 1], expected[0, 2], expected[3, 0], expected[2, 3] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_maxpool_same_padding_never_picks_the_padding():
    x = -np.ones((1, 3, 3, 1))
    y = nn.MaxPool2D(2, padding="same").forward(x)
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(y, -1.0)


def test_flatten_round_trip():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    layer = nn.Flatten()
    y = layer.forward(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(layer.backward(y), x)


# --- Sequential, initialisers, dtypes -----------------------------------------------------------
def small_cnn(dtype=np.float32):
    # BatchNorm first: after a conv it would cancel the conv bias, whose gradient is then
    # exactly 0 (and the relative error of 0 against 1e-11 of rounding noise is meaningless)
    return nn.Sequential([
        nn.BatchNorm(1, dtype=dtype), nn.Conv2D(1, 3, 3, padding="same", seed=0, dtype=dtype), nn.ReLU(),
        nn.MaxPool2D(2), nn.Flatten(), nn.Dropout(0.2, seed=0), nn.Dense(12, 5, seed=1, dtype=dtype),
        nn.Tanh(), nn.Dense(5, 3, seed=2, dtype=dtype), nn.Softmax(),
    ])


def test_sequential_gradients_through_every_layer():
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 1))
    errors = check_layer(small_cnn(), x, training=True)
    assert set(errors) == {"x", "0.gamma", "0.beta", "1.W", "1.b", "6.W", "6.b", "8.W", "8.b"}
    assert_gradients_ok(errors)


def test_sequential_parameters_and_input_grad_switch():
    model = small_cnn(np.float64)
    pairs = model.parameters()
    assert [(model.layers.index(layer), name) for layer, name in pairs] == [
        (0, "gamma"), (0, "beta"), (1, "W"), (1, "b"), (6, "W"), (6, "b"), (8, "W"), (8, "b")]
    assert model.count_params() == 1 + 1 + 3 * 9 + 3 + 12 * 5 + 5 + 5 * 3 + 3
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 1))
    dy = np.random.default_rng(2).normal(size=(2, 3))
    model.forward(x, training=False)
    dx = model.backward(dy)
    assert dx.shape == x.shape
    full = {(id(layer), name): layer.grads[name].copy() for layer, name in pairs}
    model.forward(x, training=False)
    assert model.backward(dy, input_grad=False) is None
    for layer, name in pairs:  # skipping dx changes no parameter gradient
        np.testing.assert_allclose(layer.grads[name], full[(id(layer), name)], rtol=1e-12)


def test_backward_overwrites_instead_of_accumulating():
    layer = nn.Dense(3, 2, seed=0, dtype=np.float64)
    x, dy = np.ones((4, 3)), np.ones((4, 2))
    layer.forward(x)
    layer.backward(dy)
    first = layer.grads["W"].copy()
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_array_equal(layer.grads["W"], first)


def test_float32_model_stays_float32():
    model = small_cnn(np.float32)
    x = np.random.default_rng(0).normal(size=(4, 4, 4, 1))   # float64 input: cast at the door
    for training in (True, False):
        y = model.forward(x, training=training)
        assert y.dtype == np.float32
        dx = model.backward(np.ones_like(y))
        assert dx.dtype == np.float32
    for layer, name in model.parameters():
        assert layer.params[name].dtype == np.float32 and layer.grads[name].dtype == np.float32
    mlp = nn.Sequential([nn.Dense(6, 4, seed=0), nn.ReLU(), nn.Sigmoid(), nn.Dense(4, 2, seed=1)])
    assert mlp.forward(np.ones((3, 6), dtype=np.float32)).dtype == np.float32
    assert mlp.backward(np.ones((3, 2), dtype=np.float32)).dtype == np.float32


def test_astype_converts_parameters_and_buffers():
    bn = nn.BatchNorm(4).astype(np.float64)
    assert bn.params["gamma"].dtype == bn.running_var.dtype == bn.grads["beta"].dtype == np.float64
    assert bn.forward(np.ones((2, 4))).dtype == np.float64


def test_initialisers_statistics_and_seeding():
    rng = np.random.default_rng(0)
    w = nn.glorot_uniform((300, 200), rng)
    limit = np.sqrt(6 / 500)
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    k = nn.glorot_uniform((3, 3, 16, 32), rng, np.float64)   # conv fans include the window
    assert np.abs(k).max() <= np.sqrt(6 / (9 * 16 + 9 * 32))
    h = nn.he_normal((400, 300), rng)
    assert h.std() == pytest.approx(np.sqrt(2 / 400), rel=0.03)
    assert np.abs(h).max() <= 2 * np.sqrt(2 / 400) / 0.87962566103423978 + 1e-6
    g = nn.normal(0.039)((784, 512), rng)
    assert g.std() == pytest.approx(0.039, rel=0.02) and abs(g.mean()) < 1e-3
    assert not nn.zeros((3,)).any()
    np.testing.assert_array_equal(nn.Dense(5, 4, seed=9).params["W"], nn.Dense(5, 4, seed=9).params["W"])
    assert not np.array_equal(nn.Dense(5, 4, seed=9).params["W"], nn.Dense(5, 4, seed=10).params["W"])
    assert nn.Dense(5, 4, init="he_normal", seed=0).params["W"].shape == (5, 4)
    with pytest.raises(ValueError, match="glorot_uniform"):
        nn.Dense(2, 2, init="xavier")


@pytest.mark.tf
def test_layers_match_keras_and_tensorflow():
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)

    x = rng.normal(size=(2, 7, 8, 3)).astype(np.float32)
    for kernel, strides, padding in [((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "valid"), ((4, 4), (3, 3), "same")]:
        w = rng.normal(size=(*kernel, 3, 5)).astype(np.float32)
        expected = tf.nn.conv2d(x, w, [1, *strides, 1], padding.upper()).numpy()
        np.testing.assert_allclose(nn.conv2d(x, w, strides, padding), expected, rtol=1e-4, atol=1e-5)
        pooled = tf.nn.max_pool2d(x, kernel, strides, padding.upper()).numpy()
        np.testing.assert_array_equal(nn.MaxPool2D(kernel, strides, padding).forward(x), pooled)

    # BatchNorm: training output, running statistics after one step, evaluation output
    ours = nn.BatchNorm(3)
    theirs = keras.layers.BatchNormalization()
    theirs.build(x.shape)
    gamma, beta = rng.uniform(0.5, 2, size=3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    ours.params["gamma"][:], ours.params["beta"][:] = gamma, beta
    theirs.gamma.assign(gamma)
    theirs.beta.assign(beta)
    np.testing.assert_allclose(ours.forward(x, training=True), theirs(x, training=True).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.running_mean, theirs.moving_mean.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.running_var, theirs.moving_variance.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.forward(x), theirs(x, training=False).numpy(), rtol=1e-4, atol=1e-5)

    # Dense: same kernel layout, so the same weights give the same outputs
    dense = nn.Dense(4, 3, seed=0)
    k_dense = keras.layers.Dense(3)
    k_dense.build((None, 4))
    k_dense.set_weights([dense.params["W"], dense.params["b"]])
    xd = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(dense.forward(xd), k_dense(xd).numpy(), rtol=1e-5, atol=1e-6)
