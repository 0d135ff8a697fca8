"""Two-dimensional toy classification sets, in the spirit of TensorFlow Playground.

Every set has two balanced classes (0 and 1) in the square of about
[-1, 1] x [-1, 1]; ``noise`` is the standard deviation of Gaussian jitter
added to each coordinate, in those units.

circle   class 0 fills a disc of radius 0.5, class 1 a ring from 0.7 to 1.0
xor      points in the four quadrants; class 1 where x1 and x2 share a sign
gauss    two round Gaussian blobs around (-0.5, -0.5) and (0.5, 0.5): linearly separable
spiral   two interleaved spiral arms (needs hidden layers)
moons    two interleaving half circles
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

NAMES = ("circle", "xor", "gauss", "spiral", "moons")


def _circle(rng: np.random.Generator, n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
    # sqrt of a uniform radius^2 spreads points evenly over the area.
    r_in = 0.5 * np.sqrt(rng.uniform(0.0, 1.0, n0))
    r_out = np.sqrt(rng.uniform(0.7 ** 2, 1.0, n1))
    radius = np.concatenate([r_in, r_out])
    angle = rng.uniform(0.0, 2 * math.pi, n0 + n1)
    return _polar(radius, angle), _labels(n0, n1)


def _xor(rng: np.random.Generator, n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
    # Keep a small margin from the axes so that the label is not ambiguous before noise.
    def corner(k: int, same_sign: bool) -> np.ndarray:
        mag = rng.uniform(0.05, 1.0, size=(k, 2))
        s1 = rng.choice([-1.0, 1.0], size=k)
        s2 = s1 if same_sign else -s1
        return mag * np.stack([s1, s2], axis=1)

    return np.concatenate([corner(n0, False), corner(n1, True)]), _labels(n0, n1)


def _gauss(rng: np.random.Generator, n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
    spread = 0.2
    X = np.concatenate([rng.normal(-0.5, spread, size=(n0, 2)),
                        rng.normal(0.5, spread, size=(n1, 2))])
    return X, _labels(n0, n1)


def _spiral(rng: np.random.Generator, n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
    def arm(k: int, phase: float) -> np.ndarray:
        t = np.linspace(0.0, 1.0, k, endpoint=False) + rng.uniform(0.0, 1.0 / max(k, 1), k)
        radius = 0.05 + 0.95 * t
        angle = 1.75 * 2 * math.pi * t + phase
        return _polar(radius, angle)

    return np.concatenate([arm(n0, 0.0), arm(n1, math.pi)]), _labels(n0, n1)


def _moons(rng: np.random.Generator, n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
    upper = rng.uniform(0.0, math.pi, n0)
    lower = rng.uniform(0.0, math.pi, n1)
    X = np.concatenate([np.stack([np.cos(upper), np.sin(upper)], axis=1),
                        np.stack([1.0 - np.cos(lower), 0.5 - np.sin(lower)], axis=1)])
    # Centre the pair on the origin and fit it into about [-1, 1].
    X = (X - np.array([0.5, 0.25])) / 1.5
    return X, _labels(n0, n1)


def _polar(radius: np.ndarray, angle: np.ndarray) -> np.ndarray:
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def _labels(n0: int, n1: int) -> np.ndarray:
    return np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])


_GENERATORS: dict[str, Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]] = {
    "circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "moons": _moons,
}


def toy_2d(name: str, n: int = 200, noise: float = 0.1, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """A seeded 2-D classification set.

    Parameters
    ----------
    name : {"circle", "xor", "gauss", "spiral", "moons"}
    n : int
        Number of points; the classes get n // 2 and n - n // 2.
    noise : float
        Standard deviation of the Gaussian jitter on each coordinate (0 = none).
    seed : int
        The same seed gives the same points.

    Returns
    -------
    X : (n, 2) float64
    y : (n,) int64 in {0, 1}, in shuffled order
    """
    if name not in _GENERATORS:
        raise ValueError(f"unknown toy set {name!r}; choose one of {', '.join(NAMES)}.")
    if int(n) < 2:
        raise ValueError(f"n must be at least 2 (one point per class), got {n}.")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and cannot be negative, got {noise}.")
    rng = np.random.default_rng(seed)
    n1 = int(n) // 2
    X, y = _GENERATORS[name](rng, int(n) - n1, n1)
    X = X + rng.normal(0.0, noise, size=X.shape) if noise > 0 else X
    order = rng.permutation(len(y))
    return X[order].astype(np.float64), y[order]
