"""dlbricks: the course library of the deep-learning teaching kit.

Each idea lives in its own module, imported on first use so that
``import dlbricks`` stays fast and never imports TensorFlow:

graph        a small tensor autodiff engine (eager and symbolic modes)
nn           layers with explicit numpy forward/backward
losses       MSE, binary and categorical cross-entropy (stable, from logits)
optim        SGD, momentum, Adam (Keras' update rules and defaults)
train        a minibatch training loop with history and a progress bar
gradcheck    centred-difference numerical gradients and relative error
data         the course data sets, shipped or generated (never downloaded in tests)
check        the assertions used in exercise test cells, with hints
keras_tools  the TensorFlow/Keras side (TensorFlow imported lazily)
widgets      ipywidgets views drawn as SVG/HTML in Python
"""
from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = frozenset(
    {"graph", "nn", "losses", "optim", "train", "gradcheck", "data", "check",
     "keras_tools", "widgets"}
)

QUICK_ENV = "DLBRICKS_QUICK"


def quick_mode() -> bool:
    """True when the kit runs in quick mode (CI, grading): ``DLBRICKS_QUICK=1``.

    Lessons read this to shorten long training runs; students get the full run.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dlbricks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
