"""The banknote authentication data (UCI), the course's first toy task.

1,372 banknote images described by four wavelet statistics (variance,
skewness, curtosis, entropy of the wavelet-transformed image) and a class:
0 genuine (762), 1 forged (610). The lessons' two-feature task uses
**variance and skewness**, the two columns that separate the classes best
and that give a picture in the plane.

Source: UCI Machine Learning Repository, "Banknote Authentication",
Volker Lohweg, Hochschule Ostwestfalen-Lippe, 2012, CC BY 4.0
(see README.md next to this module).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._files import verified_path
from .split import stratified_split

FEATURE_NAMES = ("variance", "skewness", "curtosis", "entropy")
TWO_FEATURES = ("variance", "skewness")
CLASS_NAMES = ("genuine", "forged")


class Table(NamedTuple):
    """Raw data: ``X: (N, D)`` float64, ``y: (N,)`` int64, and the column names of X."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]


def banknote_frame() -> Table:
    """All 1,372 rows: ``X: (1372, 4)`` float64, ``y: (1372,)`` int64 (1 = forged).

    Returns
    -------
    Table
        ``(X, y, feature_names)``; unpack as ``X, y, names = banknote_frame()``.
    """
    path = verified_path("banknote.csv")
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    if tuple(header) != FEATURE_NAMES + ("class",):
        raise ValueError(f"unexpected columns {header} in {path}")
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    return Table(table[:, :4].copy(), table[:, 4].astype(np.int64), FEATURE_NAMES)


def load_banknote(features: str = "two", test_size: float = 0.25, seed: int = 0,
                  standardize: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The banknote task split into training and test parts.

    Parameters
    ----------
    features : {"two", "all"}
        "two": variance and skewness (the lessons' picture in the plane);
        "all": the four wavelet features.
    test_size : float
        Fraction of rows in the test part (stratified by class).
    seed : int
        Seed of the split.
    standardize : bool
        Scale each feature to mean 0 and standard deviation 1 using the
        training part's statistics (applied to both parts).

    Returns
    -------
    X_train : (N_train, D) float64, X_test : (N_test, D) float64,
    y_train : (N_train,) int64, y_test : (N_test,) int64
        D is 2 or 4; labels are 0 genuine, 1 forged.
    """
    X, y, names = banknote_frame()
    if features == "two":
        X = X[:, [names.index(n) for n in TWO_FEATURES]]
    elif features != "all":
        raise ValueError(f'features must be "two" or "all", got {features!r}.')
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_size=test_size, seed=seed)
    if standardize:
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    return X_train, X_test, y_train, y_test
