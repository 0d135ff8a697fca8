"""Check what TensorFlow sees inside the image, for `make test-image`.

    python check_devices.py {cpu,cuda} [--expect-gpu]

Prints ``dlbricks.keras_tools.device_summary()`` as one JSON line, after running a
small matrix product and one Keras training step on the device TensorFlow picks,
and exits 1, naming the problem on stderr, when:

- the TensorFlow build does not match the variant (``cpu``: tensorflow-cpu, not
  built with CUDA; ``cuda``: tensorflow[and-cuda], built with CUDA);
- ``--expect-gpu`` is given (the container was started with ``--gpus all`` on a
  host with an NVIDIA GPU) and no GPU is listed, or the product did not run on it;
- no ``--expect-gpu`` and a GPU is listed anyway (the container was given none);
- the product's result is wrong.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    expect_gpu = "--expect-gpu" in argv
    if len(args) != 1 or args[0] not in ("cpu", "cuda"):
        print("usage: check_devices.py {cpu,cuda} [--expect-gpu]", file=sys.stderr)
        return 2
    variant = args[0]

    import numpy as np

    from dlbricks.keras_tools import device_summary

    summary = dict(device_summary())
    problems = []
    if variant == "cuda" and not summary["built_with_cuda"]:
        problems.append("the cuda variant's TensorFlow is not built with CUDA (tensorflow[and-cuda] expected)")
    if variant == "cpu" and summary["built_with_cuda"]:
        problems.append("the cpu variant's TensorFlow is built with CUDA (tensorflow-cpu expected)")
    if expect_gpu and not summary["gpus"]:
        problems.append("no GPU listed although the container was given one (--gpus all)")
    if not expect_gpu and summary["gpus"]:
        problems.append(f"GPUs listed although the container was given none: {summary['gpus']}")

    import keras
    import tensorflow as tf

    a = np.arange(12, dtype="float32").reshape(3, 4)
    b = np.ones((4, 2), dtype="float32")
    product = tf.matmul(tf.constant(a), tf.constant(b))
    summary["matmul_device"] = product.device
    if not np.allclose(product.numpy(), a @ b):
        problems.append(f"tf.matmul gave a wrong result on {product.device}")
    if expect_gpu and "GPU" not in product.device.upper():
        problems.append(f"tf.matmul ran on {product.device}, not on the GPU")

    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(a, a @ b, epochs=1, verbose=0)
    loss = float(history.history["loss"][0])
    summary["keras_fit_loss"] = round(loss, 4)
    if not np.isfinite(loss):
        problems.append(f"one Keras training step gave a non-finite loss ({loss})")

    print(json.dumps(summary, sort_keys=True))
    for problem in problems:
        print(f"check_devices: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
