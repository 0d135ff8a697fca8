"""One training epoch of a 784-512-128-10 ReLU MLP with Adam, batch 128: dlbricks vs Keras.

Three implementations of the same epoch on the same 10,000 random MNIST-shaped
float32 samples (seeded):

dlbricks   ``dlbricks.train.fit`` on an ``nn.Sequential`` (Dense + ReLU), Adam from
           ``dlbricks.optim``, fused softmax cross-entropy from ``dlbricks.losses``.
graph      the same network written with ``dlbricks.graph`` tensors (matmul, add,
           relu, softmax_cross_entropy), rebuilt eagerly every minibatch,
           ``loss.backward()``, then ``dlbricks.optim.Adam`` applied in place to the
           tensors' values and gradients.
keras      ``model.fit(epochs=1, batch_size=128, verbose=0)`` after ``compile`` and a
           warm-up epoch (Keras defaults otherwise, TF CPU).

No metrics are computed in any of them (loss only). Each time is the median of
``--repeats`` epochs after one warm-up epoch, in the same process, with the same
number of BLAS / TensorFlow threads; the three take turns epoch by epoch so that
load from other processes affects them alike (the minimum is reported too).
The last line printed is one JSON object.

Usage: ``python benchmarks/mlp_epoch.py [--repeats 5] [--samples 10000] [--threads N] [--profile]``

On a busy machine (load above the number of cores) compare with ``--threads 1``:
OpenBLAS' worker threads spin while they wait for each other, so when other
processes hold the cores a 2-thread numpy epoch becomes 5-10x slower, while
TensorFlow's thread pool degrades much less. Unloaded, both use every core well.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if "--threads" in sys.argv:
    # BLAS reads its thread count when numpy is imported, so this must come first
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

from dlbricks import graph, losses, nn, optim, train  # noqa: E402

SIZES = (784, 512, 128, 10)
BATCH = 128


def make_data(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((samples, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=samples)
    return X, y


def measure(runners: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per epoch for each runner, after one warm-up epoch each.

    The runners take turns (a, b, c, a, b, c, ...) so that a burst of load from
    other processes on a shared machine hits all of them alike.
    """
    for run in runners.values():
        run()                                        # warm-up: caches, allocator, tracing
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


# --- dlbricks.nn ---------------------------------------------------------------------------
def dlbricks_epoch_runner(X, y):
    layers: list[nn.Layer] = []
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Dense(d_in, d_out, seed=i))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(layers)
    loss = losses.CategoricalCrossentropy()
    opt = optim.Adam()
    seeds = iter(range(10**6))

    def run():
        train.fit(model, loss, opt, X, y, epochs=1, batch_size=BATCH, metrics=(),
                  seed=next(seeds), verbose=False)
    return run


# --- dlbricks.graph ------------------------------------------------------------------------
def graph_epoch_runner(X, y):
    rng = np.random.default_rng(0)
    params = []
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        W = nn.glorot_uniform((d_in, d_out), rng)
        params.append(graph.Tensor(W, requires_grad=True, name=f"W{i}"))
        params.append(graph.Tensor(np.zeros(d_out, dtype=np.float32), requires_grad=True, name=f"b{i}"))
    opt = optim.Adam()
    order_rng = np.random.default_rng(1)

    def run():
        order = order_rng.permutation(len(X))
        for start in range(0, len(X), BATCH):
            idx = order[start:start + BATCH]
            h = graph.Tensor(X[idx])
            for i in range(0, len(params), 2):
                h = graph.matmul(h, params[i]) + params[i + 1]
                if i < len(params) - 2:
                    h = graph.relu(h)
            loss = graph.softmax_cross_entropy(h, y[idx])
            graph.zero_grad(params)
            loss.backward()
            opt.step([p.value for p in params], [p.grad for p in params])
    return run


# --- Keras ---------------------------------------------------------------------------------
def keras_epoch_runner(X, y, threads: int):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(SIZES[0],))]
                             + [keras.layers.Dense(n, activation="relu") for n in SIZES[1:-1]]
                             + [keras.layers.Dense(SIZES[-1])])
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def run():
        model.fit(X, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=True)
    info = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__,
            "keras_jit_compile": bool(getattr(model, "jit_compile", False))}
    return run, info


def profile(run, limit: int = 25) -> None:
    import cProfile
    import pstats
    run()
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="cProfile one dlbricks and one graph epoch (stderr)")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for BLAS and TensorFlow (default: every core available)")
    args = parser.parse_args()

    X, y = make_data(args.samples)
    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                               else os.cpu_count())

    if args.profile:
        profile(dlbricks_epoch_runner(X, y))
        profile(graph_epoch_runner(X, y))

    result: dict = {"benchmark": "mlp_epoch", "network": "784-512-128-10 relu, adam, batch 128",
                    "samples": args.samples, "repeats": args.repeats, "threads": threads,
                    "graph_optimizer": "dlbricks.optim.Adam applied to the tensors' .value/.grad"}
    runners = {"dlbricks": dlbricks_epoch_runner(X, y), "graph": graph_epoch_runner(X, y)}
    if not args.skip_keras:
        runners["keras"], info = keras_epoch_runner(X, y, threads)
        result.update(info)
    times = measure(runners, args.repeats)
    for name, values in times.items():
        result[f"{name}_s"] = round(statistics.median(values), 4)
        result[f"{name}_min_s"] = round(min(values), 4)
        print(f"{name:9s} epoch: median {statistics.median(values):.3f}s  "
              f"min {min(values):.3f}s  all {[round(v, 3) for v in values]}")
    if "keras" in times:
        result["ratio"] = round(result["dlbricks_s"] / result["keras_s"], 3)
        result["graph_ratio"] = round(result["graph_s"] / result["keras_s"], 3)
        result["ratio_of_min"] = round(result["dlbricks_min_s"] / result["keras_min_s"], 3)
        result["graph_ratio_of_min"] = round(result["graph_min_s"] / result["keras_min_s"], 3)
    result["numpy_version"] = np.__version__
    result["python"] = platform.python_version()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
