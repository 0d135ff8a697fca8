"""TensorBoard logs as lesson 08 writes them: what the Keras callback puts in the log directory.

One epoch of a tiny CNN with ``keras.callbacks.TensorBoard(histogram_freq=1,
write_graph=True)`` must leave event files that TensorBoard's own reader finds
scalars (``epoch_loss`` ...), one histogram per weight and the model graph in;
the op graph the lesson adds with ``tf.summary.graph`` must be readable too.
"""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from dlbricks.keras_tools import quiet_tensorflow

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tensorflow")]


@pytest.fixture(scope="module")
def tf_keras():
    quiet_tensorflow()
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if importlib.util.find_spec("tensorboard") is None:
        pytest.fail("TensorFlow is installed but TensorBoard is not: since TensorFlow 2.20 it is a "
                    "separate package, and keras.callbacks.TensorBoard needs it to write summaries. "
                    "Install the kit's 'tf' extra (it should list tensorboard) or `pip install tensorboard`.")
    return tf, keras


def _tiny_cnn(keras):
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(2, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(24, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, size=24)
    return x, y


def _accumulator(path):
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"tensors": 0})   # 0: keep every event
    acc.Reload()
    return acc


def _scalar(tf, acc, tag):
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


@pytest.fixture(scope="module")
def logged_run(tf_keras, tmp_path_factory):
    tf, keras = tf_keras
    log_dir = tmp_path_factory.mktemp("tb")
    model = _tiny_cnn(keras)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x, y = _data()
    callback = keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=1, write_graph=True)
    history = model.fit(x, y, epochs=1, batch_size=8, validation_data=(x[:8], y[:8]),
                        callbacks=[callback], verbose=0)
    return log_dir, model, history.history


def test_one_event_file_per_run(logged_run):
    log_dir, _, _ = logged_run
    files = sorted(p.relative_to(log_dir).parts for p in log_dir.rglob("events.out.tfevents.*"))
    assert [f[0] for f in files] == ["train", "validation"]
    assert all(len(f) == 2 for f in files)


def test_scalars_hold_the_history(tf_keras, logged_run):
    tf, _ = tf_keras
    log_dir, _, history = logged_run
    train = _accumulator(log_dir / "train")
    scalars = train.PluginTagToContent("scalars")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(scalars)
    (step, loss), = _scalar(tf, train, "epoch_loss")
    assert step == 0 and loss == pytest.approx(history["loss"][0], rel=1e-6)
    (_, lr), = _scalar(tf, train, "epoch_learning_rate")
    assert lr == pytest.approx(1e-2)
    validation = _accumulator(log_dir / "validation")
    (_, val_loss), = _scalar(tf, validation, "epoch_loss")
    assert val_loss == pytest.approx(history["val_loss"][0], rel=1e-6)


def test_one_histogram_per_weight(tf_keras, logged_run):
    tf, _ = tf_keras
    log_dir, model, _ = logged_run
    train = _accumulator(log_dir / "train")
    tags = set(train.PluginTagToContent("histograms"))
    assert len(tags) == len(model.weights) == 4
    for weight in model.weights:
        tag = next(t for t in tags if t.startswith(weight.path.replace(":", "_")))
        (event,) = train.Tensors(tag)
        buckets = tf.make_ndarray(event.tensor_proto)     # rows: left edge, right edge, count
        assert buckets.ndim == 2 and buckets.shape[1] == 3
        assert buckets[:, 2].sum() == pytest.approx(int(np.prod(weight.shape)))
        values = np.asarray(weight.numpy())
        assert buckets[0, 0] <= values.min() + 1e-6 and buckets[-1, 1] >= values.max() - 1e-6


def test_model_graph_lists_the_layers(tf_keras, logged_run):
    tf, _ = tf_keras
    log_dir, _, _ = logged_run
    train = _accumulator(log_dir / "train")
    assert train.PluginTagToContent("graph_keras_model").keys() == {"keras"}
    (event,) = train.Tensors("keras")
    config = json.loads(tf.make_ndarray(event.tensor_proto).item())
    layers = [layer["class_name"] for layer in config["config"]["layers"]]
    assert layers[-4:] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]


def test_event_records_parse_without_tensorboard(tf_keras, logged_run):
    # The lesson's reader: tf.data.TFRecordDataset + tf.compat.v1.Event, no TensorBoard needed.
    tf, _ = tf_keras
    log_dir, _, history = logged_run
    (path,) = (log_dir / "train").glob("events.out.tfevents.*")
    found = {}
    for record in tf.data.TFRecordDataset(str(path)):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
            found.setdefault(value.metadata.plugin_data.plugin_name, []).append(value.tag)
            if value.tag == "epoch_loss":
                assert float(tf.make_ndarray(value.tensor)) == pytest.approx(history["loss"][0], rel=1e-6)
    assert "epoch_loss" in found["scalars"] and len(found["histograms"]) == 4
    assert found["graph_keras_model"] == ["keras"]


def test_op_graph_written_with_tf_summary_graph(tf_keras, tmp_path):
    tf, keras = tf_keras
    model = _tiny_cnn(keras)
    traced = tf.function(lambda images: model(images, training=False))
    graph = traced.get_concrete_function(tf.TensorSpec([None, 8, 8, 1], tf.float32)).graph
    writer = tf.summary.create_file_writer(str(tmp_path / "ops"))
    with writer.as_default():
        tf.summary.graph(graph)
    writer.flush()
    acc = _accumulator(tmp_path / "ops")
    assert acc.Tags()["graph"] is True
    ops = {node.op for node in acc.Graph().node}
    assert {"Conv2D", "MaxPool", "MatMul", "Relu"} <= ops
