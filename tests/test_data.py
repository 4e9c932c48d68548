"""Tests for neuromorph.data: idx / CIFAR parsing on tiny files written here, sklearn and synthetic
datasets, error messages, and the batching helpers.  Runs offline with no dataset installed; the one
test that reads the Debian Fashion-MNIST package skips when it is absent."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from neuromorph import data
from neuromorph.data import DATASETS, Dataset, batches, load_dataset, one_hot
from neuromorph.errors import ConfigError, DataUnavailableError

IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """Make every test independent of this machine's data: empty default root, no Debian dir."""
    empty = tmp_path_factory.mktemp("empty_default")
    monkeypatch.setenv("NEUROMORPH_DATA", str(empty))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", str(empty / "no-debian-fashion-mnist"))


def idx_bytes(arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def tiny_mnist(seed=0, n_train=7, n_test=5):
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": rng.integers(0, 10, n_train).astype(np.uint8),
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def write_idx(directory, arrays, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    for role, arr in arrays.items():
        raw = idx_bytes(arr)
        if gz:
            (directory / (IDX_NAMES[role] + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / IDX_NAMES[role]).write_bytes(raw)


def assert_matches(ds, arrays):
    np.testing.assert_array_equal(ds.x_train, arrays["train_x"].reshape(len(arrays["train_x"]), -1) / np.float32(255))
    np.testing.assert_array_equal(ds.x_test, arrays["test_x"].reshape(len(arrays["test_x"]), -1) / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, arrays["train_y"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_y"])
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.image_shape == (28, 28) and ds.n_classes == 10


# ------------------------------------------------------------------------------------------- idx


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_round_trip(tmp_path, layout, gz):
    arrays = tiny_mnist()
    directory = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    write_idx(directory, arrays, gz=gz)
    ds = load_dataset("mnist", root=tmp_path)
    assert_matches(ds, arrays)
    assert ds.name == "mnist" and ds.source == str(directory)


def test_kmnist_torchvision_layout_and_env_var(tmp_path, monkeypatch):
    arrays = tiny_mnist(seed=3)
    write_idx(tmp_path / "KMNIST" / "raw", arrays)
    assert_matches(load_dataset("KMNIST", root=tmp_path), arrays)
    monkeypatch.setenv("NEUROMORPH_DATA", str(tmp_path))  # root=None falls back to the env var
    assert_matches(load_dataset("kmnist"), arrays)


def test_torchvision_layout_preferred_over_flat(tmp_path):
    flat, nested = tiny_mnist(seed=1), tiny_mnist(seed=2)
    write_idx(tmp_path, flat)
    write_idx(tmp_path / "FashionMNIST" / "raw", nested)
    assert_matches(load_dataset("fashion-mnist", root=tmp_path), nested)


def test_subset_and_scales(tmp_path):
    arrays = tiny_mnist(n_train=20, n_test=10)
    write_idx(tmp_path, arrays)
    a = load_dataset("mnist", root=tmp_path, n_train=6, n_test=4, seed=5)
    b = load_dataset("mnist", root=tmp_path, n_train=6, n_test=4, seed=5)
    c = load_dataset("mnist", root=tmp_path, n_train=6, n_test=4, seed=6)
    assert a.x_train.shape == (6, 784) and a.x_test.shape == (4, 784)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    full = load_dataset("mnist", root=tmp_path)
    rows = [int(np.flatnonzero((full.x_train == r).all(axis=1))[0]) for r in a.x_train]
    assert rows == sorted(rows)  # a subset of the real rows, original order kept
    np.testing.assert_array_equal(a.y_train, full.y_train[rows])
    sym = load_dataset("mnist", root=tmp_path, scale="symmetric")
    np.testing.assert_allclose(sym.x_train, (full.x_train - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(ConfigError, match="n_train=21"):
        load_dataset("mnist", root=tmp_path, n_train=21)


def test_corrupt_magic_names_file(tmp_path):
    arrays = tiny_mnist()
    write_idx(tmp_path, arrays, gz=False)
    bad = tmp_path / IDX_NAMES["train_y"]
    raw = bytearray(bad.read_bytes())
    raw[2:4] = b"\x08\x03"  # a labels file claiming to be 3-D images
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataUnavailableError, match="magic number") as err:
        load_dataset("mnist", root=tmp_path)
    assert str(bad) in str(err.value)


def test_truncated_idx_names_file(tmp_path):
    write_idx(tmp_path, tiny_mnist(), gz=False)
    bad = tmp_path / IDX_NAMES["test_x"]
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(DataUnavailableError) as err:
        load_dataset("mnist", root=tmp_path)
    assert str(bad) in str(err.value)


def test_missing_files_message(tmp_path, monkeypatch):
    env_root = tmp_path / "envroot"
    debian = tmp_path / "debian-fmnist"
    monkeypatch.setenv("NEUROMORPH_DATA", str(env_root))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", str(debian))
    with pytest.raises(DataUnavailableError) as err:
        load_dataset("fashion_mnist")
    msg = str(err.value)
    for part in ("fashion_mnist", str(env_root), str(env_root / "FashionMNIST" / "raw"), str(debian),
                 "NEUROMORPH_DATA", "download=True", "apt-get install dataset-fashion-mnist"):
        assert part in msg, part
    with pytest.raises(DataUnavailableError, match="'mnist'") as err:
        load_dataset("mnist", root=tmp_path / "given")
    assert str(tmp_path / "given") in str(err.value) and "NEUROMORPH_DATA" in str(err.value)
    assert "apt-get" not in str(err.value)


def test_partial_files_reported(tmp_path):
    arrays = tiny_mnist()
    del arrays["test_y"]
    write_idx(tmp_path, arrays)
    with pytest.raises(DataUnavailableError, match=IDX_NAMES["test_y"]):
        load_dataset("mnist", root=tmp_path)


def test_download_failure_is_data_unavailable(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(DataUnavailableError, match="no network"):
        load_dataset("mnist", root=tmp_path, download=True)


# ----------------------------------------------------------------------------------------- CIFAR


def write_cifar(directory, files, n_per_file, label_key, n_classes, seed=0):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for name in files:
        x = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
        y = rng.integers(0, n_classes, n_per_file).tolist()
        with open(directory / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": x, label_key: y}, f)
        out[name] = (x, np.array(y))
    return out


def test_cifar10_round_trip_and_3std(tmp_path):
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = write_cifar(tmp_path / "cifar-10-batches-py", files, 3, b"labels", 10)
    ds = load_dataset("CIFAR-10", root=tmp_path)
    x_train = np.concatenate([written[f][0] for f in files[:5]])
    np.testing.assert_array_equal(ds.x_train, x_train / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, np.concatenate([written[f][1] for f in files[:5]]))
    np.testing.assert_array_equal(ds.y_test, written["test_batch"][1])
    assert ds.x_train.shape == (15, 3072) and ds.image_shape == (3, 32, 32) and ds.n_classes == 10

    std = load_dataset("cifar10", root=tmp_path, scale="cifar_3std")
    x = written["test_batch"][0]
    # Hand computation: pixel j of the flat row belongs to channel j // 1024.
    j = 2 * 1024 + 17  # channel 2 (blue)
    expected = (x[1, j] / 255 - 0.4465) / (3 * 0.2010)
    assert std.x_test[1, j] == pytest.approx(expected, abs=1e-5)
    j = 5  # channel 0 (red)
    assert std.x_test[0, j] == pytest.approx((x[0, j] / 255 - 0.4914) / (3 * 0.2023), abs=1e-5)
    plain = load_dataset("cifar10", root=tmp_path, scale="cifar_std")
    assert plain.x_test[0, 1024] == pytest.approx((x[0, 1024] / 255 - 0.4822) / 0.243, abs=1e-5)


def test_cifar100_fine_labels(tmp_path):
    written = write_cifar(tmp_path / "cifar-100-python", ["train", "test"], 4, b"fine_labels", 100, seed=1)
    ds = load_dataset("cifar100", root=tmp_path)
    np.testing.assert_array_equal(ds.y_train, written["train"][1])
    np.testing.assert_array_equal(ds.x_test, written["test"][0] / np.float32(255))
    assert ds.n_classes == 100 and ds.y_train.dtype == np.int64


def test_cifar_missing_and_corrupt(tmp_path):
    with pytest.raises(DataUnavailableError, match="cifar10") as err:
        load_dataset("cifar10", root=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value) and "NEUROMORPH_DATA" in str(err.value)
    write_cifar(tmp_path / "cifar-100-python", ["train", "test"], 2, b"coarse_labels", 20)
    with pytest.raises(DataUnavailableError, match="fine_labels") as err:
        load_dataset("cifar100", root=tmp_path)
    assert str(tmp_path / "cifar-100-python" / "train") in str(err.value)


# ------------------------------------------------------------------------------ sklearn / synthetic


def test_digits_split_and_determinism():
    a = load_dataset("digits", seed=0)
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64) and a.image_shape == (8, 8)
    assert a.x_train.dtype == np.float32 and a.x_train.min() >= 0 and a.x_train.max() == 1
    assert a.source == "sklearn" and set(np.unique(a.y_test)) == set(range(10))
    b = load_dataset("digits", seed=0)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    c = load_dataset("digits", seed=1)
    assert not np.array_equal(a.x_train, c.x_train)
    sym = load_dataset("digits", seed=0, scale="symmetric")
    np.testing.assert_allclose(sym.x_train, 2 * a.x_train - 1, atol=1e-6)


def test_moons_and_latent_mixture():
    m = load_dataset("two_moons", seed=2)
    assert m.x_train.shape == (1000, 2) and m.x_test.shape == (500, 2) and m.n_classes == 2
    np.testing.assert_allclose(m.x_train.min(axis=0), 0, atol=1e-7)
    np.testing.assert_allclose(m.x_train.max(axis=0), 1, atol=1e-6)
    np.testing.assert_array_equal(m.x_train, load_dataset("moons", seed=2).x_train)
    lm = load_dataset("latent-mixture", n_train=200, n_test=100, seed=3)
    assert lm.x_train.shape == (200, 16) and lm.x_test.shape == (100, 16) and lm.n_classes == 5
    assert lm.x_train.min() >= 0 and lm.x_train.max() <= 1 and lm.source == "synthetic"
    np.testing.assert_array_equal(lm.x_test, load_dataset("latent_mixture", n_train=200, n_test=100, seed=3).x_test)
    assert not np.array_equal(lm.x_train, load_dataset("latent_mixture", n_train=200, n_test=100, seed=4).x_train)


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("alias", ["fashion-mnist", "fmnist", "FashionMNIST", "Fashion_MNIST", " fashion mnist "])
def test_fashion_aliases(alias, tmp_path):
    arrays = tiny_mnist()
    write_idx(tmp_path / "FashionMNIST" / "raw", arrays)
    assert load_dataset(alias, root=tmp_path).name == "fashion_mnist"


def test_unknown_name_and_scale():
    with pytest.raises(ConfigError) as err:
        load_dataset("imagenet")
    assert all(name in str(err.value) for name in DATASETS)
    with pytest.raises(ConfigError) as err:
        load_dataset("digits", scale="zscore")
    assert all(s in str(err.value) for s in ("unit", "symmetric", "cifar_3std", "cifar_std"))
    with pytest.raises(ConfigError, match="CIFAR"):
        load_dataset("digits", scale="cifar_3std")
    with pytest.raises(ConfigError):
        load_dataset("digits", n_train=0)


# --------------------------------------------------------------------------------------- helpers


def test_batches_cover_each_sample_once_and_are_seeded():
    x = np.arange(23, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    y = np.arange(23)
    epoch = list(batches(x, y, 5, shuffle=True, seed=7))
    assert [len(yb) for _, yb in epoch] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in epoch])
    assert sorted(seen.tolist()) == list(range(23)) and not np.array_equal(seen, y)
    for xb, yb in epoch:
        np.testing.assert_array_equal(xb[:, 0], yb)  # x and y stay paired
    again = np.concatenate([yb for _, yb in batches(x, y, 5, shuffle=True, seed=7)])
    np.testing.assert_array_equal(seen, again)
    other = np.concatenate([yb for _, yb in batches(x, y, 5, shuffle=True, seed=8)])
    assert not np.array_equal(seen, other)
    ordered = np.concatenate([yb for _, yb in batches(x, y, 5, shuffle=False, seed=None)])
    np.testing.assert_array_equal(ordered, y)
    assert [len(yb) for _, yb in batches(x, y, 5, shuffle=True, seed=1, drop_last=True)] == [5, 5, 5, 5]
    with pytest.raises(ConfigError):
        next(batches(x, y, 0, shuffle=False, seed=None))


def test_one_hot():
    out = one_hot(np.array([2, 0, 1]), 4)
    np.testing.assert_array_equal(out, np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]], np.float32))
    assert out.dtype == np.float32 and one_hot(np.array([1]), 2, dtype=np.float64).dtype == np.float64
    with pytest.raises(ConfigError):
        one_hot(np.array([4]), 4)


def test_dataset_repr_is_short():
    ds = load_dataset("latent_mixture", n_train=10, n_test=5)
    assert isinstance(ds, Dataset) and len(repr(ds)) < 200 and ds.n_features == 16


# ------------------------------------------------------------------------------ installed data


def test_fashion_mnist_from_debian_package(monkeypatch):
    path = "/usr/share/datasets/fashion-mnist"
    if not os.path.isdir(path):
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", path)
    ds = load_dataset("fashion_mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.source == path and ds.image_shape == (28, 28)
    assert set(np.unique(ds.y_train)) == set(range(10)) and set(np.unique(ds.y_test)) == set(range(10))
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
