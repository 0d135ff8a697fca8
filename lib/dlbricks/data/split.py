"""Seeded, stratified train/test splits and minibatches."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def stratified_split(X: np.ndarray, y: np.ndarray, test_size: float = 0.25, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``X: (N, ...)`` and ``y: (N,)`` keeping each class's share in both parts.

    Parameters
    ----------
    X : array, shape (N, ...)
    y : array, shape (N,)
        Class labels.
    test_size : float
        Fraction of the samples that go to the test part, in (0, 1).
    seed : int
        Seed of the shuffle; the same seed gives the same split.

    Returns
    -------
    X_train, X_test, y_train, y_test
        The test part holds round(test_size * N) samples; within each part the
        order is shuffled (not sorted by class).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]} labels.")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction between 0 and 1, got {test_size}.")
    rng = np.random.default_rng(seed)
    n_test = int(round(test_size * len(y)))
    classes, counts = np.unique(y, return_counts=True)
    # Largest-remainder allocation: per-class test counts that add up to n_test exactly.
    ideal = counts * n_test / len(y)
    per_class = np.floor(ideal).astype(int)
    shortfall = n_test - per_class.sum()
    per_class[np.argsort(-(ideal - per_class), kind="stable")[:shortfall]] += 1
    test_parts, train_parts = [], []
    for label, k in zip(classes, per_class):
        members = rng.permutation(np.flatnonzero(y == label))
        test_parts.append(members[:k])
        train_parts.append(members[k:])
    test_idx = rng.permutation(np.concatenate(test_parts))
    train_idx = rng.permutation(np.concatenate(train_parts))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def minibatches(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = True,
                seed: int | np.random.Generator = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch: (B, ...), y_batch: (B, ...))`` covering every sample once.

    The last batch is smaller when ``batch_size`` does not divide N. With
    ``shuffle`` the order is a seeded permutation (pass a different seed per
    epoch, e.g. ``seed=epoch``, to see the data in a new order each time, or one
    ``numpy.random.Generator`` for the whole run, as :func:`dlbricks.train.fit` does).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]} labels.")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive whole number, got {batch_size}.")
    order = np.random.default_rng(seed).permutation(len(y)) if shuffle else np.arange(len(y))
    for start in range(0, len(y), int(batch_size)):
        idx = order[start:start + int(batch_size)]
        yield X[idx], y[idx]
