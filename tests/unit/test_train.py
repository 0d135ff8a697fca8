"""dlbricks.train: the fit loop, history, progress output, evaluate/predict, and MNIST."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from dlbricks import losses, nn, optim, train


def blobs(n=300, seed=0):
    """Three well separated Gaussian blobs in 2-D: (n, 2) float64, (n,) int labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, size=n)
    return centres[y] + rng.normal(scale=0.7, size=(n, 2)), y


def small_mlp(seed=0, dropout=0.0):
    return nn.Sequential([nn.Dense(2, 16, seed=seed), nn.ReLU(), nn.Dropout(dropout, seed=seed),
                          nn.Dense(16, 3, seed=seed + 1)])


def test_fit_learns_and_records_history(capsys):
    X, y = blobs()
    Xv, yv = blobs(100, seed=1)
    history = train.fit(small_mlp(), losses.CategoricalCrossentropy(), optim.Adam(0.01), X, y,
                        epochs=6, batch_size=32, validation_data=(Xv, yv), verbose=False)
    assert capsys.readouterr().out == ""                  # verbose=False is silent
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 6 for v in history.values()) and history.epochs == 6
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.95 and history["val_accuracy"][-1] > 0.95


def test_fit_is_reproducible_with_a_seed_and_shuffles_differently_per_seed():
    X, y = blobs()
    runs = [train.fit(small_mlp(dropout=0.2), losses.CategoricalCrossentropy(), optim.SGD(0.1), X, y,
                      epochs=2, batch_size=16, seed=seed, verbose=False)["loss"]
            for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_fit_matches_a_hand_written_loop():
    X, y = blobs(64)
    model_a, model_b = small_mlp(), small_mlp()
    loss = losses.CategoricalCrossentropy()
    train.fit(model_a, loss, optim.SGD(0.1), X, y, epochs=1, batch_size=64, verbose=False)
    # one full batch: the order does not matter for the mean loss's gradient
    loss(model_b.forward(X.astype(np.float32), training=True), y)
    model_b.backward(loss.backward())
    optim.SGD(0.1).step(model_b)
    for (la, name), (lb, _) in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_allclose(la.params[name], lb.params[name], rtol=1e-5, atol=1e-6)


def test_verbose_prints_a_progress_bar_and_epoch_summaries(capsys):
    X, y = blobs(100)
    train.fit(small_mlp(), losses.CategoricalCrossentropy(), optim.Adam(), X, y, epochs=2,
              batch_size=50, validation_data=blobs(20, seed=3), verbose=True)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "2/2" in out and "loss:" in out and "val_accuracy:" in out
    assert out.count("\n") == 2                            # one finished line per epoch


def test_float32_model_trains_in_float32():
    X, y = blobs()
    model = small_mlp()
    train.fit(model, losses.CategoricalCrossentropy(), optim.Adam(), X, y, epochs=1, verbose=False)
    assert all(layer.params[name].dtype == np.float32 for layer, name in model.parameters())
    assert train.predict(model, X).dtype == np.float32


def test_evaluate_and_predict_use_evaluation_mode():
    X, y = blobs(50)
    model = small_mlp(dropout=0.5)
    out1, out2 = train.predict(model, X, batch_size=7), train.predict(model, X)
    assert out1.shape == (50, 3)
    np.testing.assert_allclose(out1, out2, rtol=1e-6)     # no dropout, batching does not matter
    scores = train.evaluate(model, losses.CategoricalCrossentropy(), X, y)
    assert set(scores) == {"loss", "accuracy"}
    assert scores["accuracy"] == pytest.approx(np.mean(out2.argmax(axis=1) == y))
    assert scores["loss"] == pytest.approx(losses.CategoricalCrossentropy()(out2, y), rel=1e-6)


def test_binary_classification_with_logits_and_custom_metric():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)

    def positive_rate(outputs, targets):
        return float(np.mean(outputs > 0))

    history = train.fit(nn.Dense(2, 1, seed=0), losses.BinaryCrossentropy(), optim.Adam(0.05), X, y,
                        epochs=10, batch_size=20, metrics=("accuracy", positive_rate), verbose=False)
    assert set(history) == {"loss", "accuracy", "positive_rate"}
    assert history["accuracy"][-1] > 0.95
    assert 0.3 < history["positive_rate"][-1] < 0.7


def test_accuracy_metric_conventions():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    assert train.accuracy(logits, np.array([0, 1])) == 0.5
    assert train.accuracy(logits, np.eye(3)[[0, 2]]) == 1.0
    assert train.accuracy(np.array([[-0.2], [0.3]]), np.array([0, 1])) == 1.0                     # logits
    assert train.accuracy(np.array([0.2, 0.3]), np.array([0, 1]), from_logits=False) == 0.5       # probabilities


def test_fit_errors_are_sentences():
    with pytest.raises(ValueError, match="X has 3 examples but y has 2"):
        train.fit(small_mlp(), losses.CategoricalCrossentropy(), optim.SGD(), np.zeros((3, 2)), np.zeros(2),
                  verbose=False)
    with pytest.raises(ValueError, match="metric"):
        train.fit(small_mlp(), losses.CategoricalCrossentropy(), optim.SGD(), np.zeros((3, 2)),
                  np.zeros(3, dtype=int), metrics=("f1",), verbose=False)
    X, y = blobs(50)
    with pytest.raises(FloatingPointError, match="learning rate"), np.errstate(over="ignore", invalid="ignore"):
        train.fit(nn.Dense(2, 1, seed=0), losses.MeanSquaredError(), optim.SGD(50.0), X * 100,
                  y.astype(float), epochs=3, metrics=(), verbose=False)


def test_history_plot_has_labelled_panels():
    history = train.History(loss=[1.0, 0.5], accuracy=[0.5, 0.8], val_loss=[1.1, 0.7], val_accuracy=[0.4, 0.7])
    fig = history.plot()
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in axes)
    assert [len(ax.lines) for ax in axes] == [2, 2]
    np.testing.assert_array_equal(axes[0].lines[1].get_ydata(), [1.1, 0.7])
    matplotlib.pyplot.close(fig)


def test_progress_bar_draws_and_is_silent_when_disabled():
    import io
    stream = io.StringIO()
    bar = train.ProgressBar(4, prefix="Epoch 1/1", stream=stream)
    bar.update(2, "loss: 1.0", force=True)
    bar.close("loss: 0.5")
    text = stream.getvalue()
    assert text.startswith("\rEpoch 1/1 [") and "2/4" in text and "4/4" in text and text.endswith("loss: 0.5\n")
    quiet = io.StringIO()
    off = train.ProgressBar(4, stream=quiet, enabled=False)
    off.update(1, force=True)
    off.close()
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_numpy_mlp_reaches_90_percent_on_mnist():
    from dlbricks.data import load_mnist
    # offline: the shipped 4,000/1,000 sample (or the same-sized subset of a local Keras copy)
    (x_train, y_train), (x_test, y_test) = load_mnist(subset=4000, seed=0, offline=True)
    X = x_train.reshape(len(x_train), -1).astype(np.float32) / 255.0
    Xt = x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0
    model = nn.Sequential([nn.Dense(784, 128, seed=0), nn.ReLU(), nn.Dense(128, 10, seed=1)])
    loss = losses.CategoricalCrossentropy()
    history = train.fit(model, loss, optim.Adam(), X, y_train, epochs=5, batch_size=32, verbose=False)
    scores = train.evaluate(model, loss, Xt, y_test)
    assert history["loss"][-1] < history["loss"][0]
    assert scores["accuracy"] >= 0.90, scores
