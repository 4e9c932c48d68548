"""Datasets for neuromorph experiments, loaded as flat float32 numpy arrays.

Every loader returns a :class:`Dataset` whose inputs are flattened images (or feature vectors) of shape
``(n, d)`` in float32 and whose labels are int64 of shape ``(n,)``.  Circuits consume numpy or torch
arrays of that shape, so nothing here depends on torch's ``DataLoader``.

Where the data comes from
-------------------------
* ``mnist``, ``fashion_mnist``, ``kmnist``: raw idx files (gzip or plain) parsed here with numpy.  They
  are looked for in ``root`` (default: ``$NEUROMORPH_DATA``, else ``~/.neuromorph/data``), first in the
  torchvision layout ``<root>/<TorchvisionClass>/raw/`` and then directly in ``<root>``; Fashion-MNIST is
  also found in ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).  Only
  with ``download=True`` is torchvision asked to fetch them.
* ``cifar10``, ``cifar100``: the python-pickle batches torchvision also uses
  (``<root>/cifar-10-batches-py/``, ``<root>/cifar-100-python/``; fine labels for CIFAR-100).
* ``digits``: scikit-learn's bundled 8x8 digits (offline), split 1437/360 stratified by ``seed``.
* ``moons``: scikit-learn's two moons, noise 0.1.
* ``moons_ksm``: the same generator as ``moons`` with the KSM paper's settings (§6.3): noise 0.01, 2500
  training samples by default (+ 500 test).
* ``ksm_sparse``: the KSM paper's synthetic sparse set (§6.1): x = A z, A (30 x 16) ~ N(0, 1) fixed (see
  :func:`true_dictionary`), z 12.5 % sparse (2 of 16 latents active) with amplitudes U[4, 6]; 1500 training
  samples by default (+ 500 test). Label: the index of the largest active latent.
* ``smpc_sparse``: the SMPC paper's N = 30 set (§7.1, Fig. 8): x = A z with A (30 x 16) drawn from N(0, 1) and
  Gram-Schmidt orthonormalised (low mutual coherence; unit-norm atoms, fixed, see :func:`true_dictionary`), z
  with 2 of 16 latents active (87.5 % zero) and amplitudes N(5, 1); 1500 training samples by default (+ 500
  test). Label: the index of the largest active latent.
* ``ksm_two_atoms``: the SMPC paper's 2-D set (§7.1): 512 points, two unit atoms with correlation 0.14, each
  sample on one atom with an N(0, 1) amplitude, plus N(0, 0.01²) noise. Label: the atom.
* ``patches``: 16 x 16 patches of scikit-learn's two bundled photographs (``load_sample_images``, offline),
  grey, whitened with Olshausen & Field's filter R(f) = f exp(-(f/f0)^4) (f0 = 0.4 Nyquist) and cut at seeded
  positions; training patches from the left 3/4 of each photograph, test patches from the right 1/4, so the
  two splits share no pixel. 20000 / 2000 by default. Labels: which photograph.
* ``latent_mixture``: a synthetic 5-class Gaussian mixture in a 2-D latent space, embedded in 16-D by a
  fixed random linear map (see :func:`_latent_mixture`).

Scale ``"raw"`` (synthetic sets only) keeps the values as generated (make_moons' coordinates, x = A z, whitened
patches of unit pixel variance). Scale ``"variance"`` divides both splits by sqrt((1/T) Σ ||x_i||²) of the
training split (the KSM paper's variance normalisation, §7.1), applied to the raw values where there are raw
values and to the ``"unit"`` ones otherwise. The KSM sets accept only these two (min-max scaling would break
x = A z).

Everything is deterministic for a given ``seed``.  Nothing is cached between calls: a loader reads the
files each time (MNIST-sized data takes about a second).

The CIFAR pickles are unpickled, which can run code: only point ``root`` at files you trust.
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import ConfigError, DataUnavailableError, ShapeError

__all__ = [
    "Dataset",
    "DATASETS",
    "SCALES",
    "DATA_ENV_VAR",
    "DEFAULT_DATA_DIR",
    "DEBIAN_FASHION_MNIST_DIR",
    "default_data_root",
    "load_dataset",
    "one_hot",
    "batches",
    "true_dictionary",
]

DATASETS = ("mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "digits", "moons", "latent_mixture",
            "moons_ksm", "ksm_sparse", "ksm_two_atoms", "patches", "smpc_sparse")

SCALES = ("unit", "symmetric", "cifar_3std", "cifar_std", "variance", "raw")
# Data sets whose structure (x = A z, whitened patches) only "raw" and the global "variance" scaling keep.
_VARIANCE_ONLY = ("ksm_sparse", "ksm_two_atoms", "patches", "smpc_sparse")
# Data sets that have a "raw" form: the values as generated (no scaling at all).
_RAW_OK = _VARIANCE_ONLY + ("moons", "moons_ksm")

DATA_ENV_VAR = "NEUROMORPH_DATA"
DEFAULT_DATA_DIR = "~/.neuromorph/data"
# Module-level so tests (and unusual installs) can point it elsewhere; read at call time.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# CIFAR channel statistics.  "cifar_3std" is what CorInfoMax's reference code normalises with (three
# times the usual std, which keeps inputs mostly inside [-1, 1]); "cifar_std" is the plain per-channel std.
_CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR_STD = {
    "cifar_3std": (3 * 0.2023, 3 * 0.1994, 3 * 0.2010),
    "cifar_std": (0.247, 0.243, 0.261),
}

_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_TORCHVISION_CLASS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
_PRETTY = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "kmnist": "KMNIST",
           "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_CIFAR = {
    # name: (folder, train files, test files, label key, n_classes)
    "cifar10": ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                "labels", 10),
    "cifar100": ("cifar-100-python", ("train",), ("test",), "fine_labels", 100),
}

# Aliases after lower-casing and dropping '-', '_', ' ' and '.'.
_ALIASES = {
    "mnist": "mnist",
    "fashionmnist": "fashion_mnist", "fmnist": "fashion_mnist", "fashion": "fashion_mnist",
    "kmnist": "kmnist", "kuzushijimnist": "kmnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "digits": "digits", "sklearndigits": "digits",
    "moons": "moons", "twomoons": "moons",
    "latentmixture": "latent_mixture",
    "moonsksm": "moons_ksm",
    "ksmsparse": "ksm_sparse",
    "ksmtwoatoms": "ksm_two_atoms", "twoatoms": "ksm_two_atoms",
    "smpcsparse": "smpc_sparse", "smpcn30": "smpc_sparse",
    "patches": "patches", "imagepatches": "patches",
}

_SYNTHETIC_DEFAULT_SIZES = (1000, 500)

# latent_mixture constants: the task (centres and embedding) is fixed; `seed` only draws the samples.
_LATENT_CLASSES = 5
_LATENT_DIM = 2
_LATENT_OUT_DIM = 16
_LATENT_RADIUS = 2.0
_LATENT_NOISE = 0.5
_LATENT_MAP_SEED = 20240611
_LATENT_GAIN = 1.0 / 6.0


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array comparison has no single truth value
class Dataset:
    """A train/test split of flattened inputs and integer labels.

    Attributes
    ----------
    name : str
        Canonical dataset name (one of :data:`DATASETS`).
    x_train, x_test : np.ndarray
        float32 inputs of shape ``(n, d)``; images are flattened row-major from ``image_shape``.
    y_train, y_test : np.ndarray
        int64 labels of shape ``(n,)`` in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    image_shape : tuple
        Shape of one input before flattening, e.g. ``(28, 28)``, ``(3, 32, 32)``, ``(8, 8)`` or ``(2,)``.
    source : str
        Where the data came from: a directory, ``'sklearn'`` or ``'synthetic'``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple
    source: str

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if np.ndim(x) != 2 or np.ndim(y) != 1 or len(x) != len(y):
                raise ShapeError(
                    f"Dataset {self.name!r}: x_{split} must be (n, d) and y_{split} (n,), got "
                    f"{np.shape(x)} and {np.shape(y)}")

    @property
    def n_features(self) -> int:
        """Length ``d`` of one flattened input."""
        return int(self.x_train.shape[1])

    def __repr__(self):  # the default repr would print whole arrays
        return (f"Dataset(name={self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"n_classes={self.n_classes}, image_shape={self.image_shape}, source={self.source!r})")


# ----------------------------------------------------------------------------------------------- API


def default_data_root() -> Path:
    """Directory searched when ``root`` is not given.

    Returns
    -------
    pathlib.Path
        ``$NEUROMORPH_DATA`` if set and non-empty, else ``~/.neuromorph/data`` (user-expanded).
    """
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(env or DEFAULT_DATA_DIR).expanduser()


def load_dataset(name: str, root: str | os.PathLike | None = None, *, download: bool = False,
                 n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 scale: str = "unit") -> Dataset:
    """Load a dataset as flat float32 arrays.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`; case, ``-``/``_`` and common aliases are accepted
        (``"Fashion-MNIST"``, ``"fmnist"``, ``"FashionMNIST"``, ``"CIFAR-10"`` ...).
    root : str or os.PathLike, optional
        Directory holding the raw files.  Defaults to :func:`default_data_root`.  Ignored by
        ``digits``, ``moons`` and ``latent_mixture``.
    download : bool, default False
        If the files are not on disk, fetch them with torchvision into ``root`` (needs internet).
    n_train, n_test : int, optional
        Keep a seeded random subset of this many train / test samples (original order preserved).
        ``None`` keeps everything; for ``moons`` and ``latent_mixture`` it means 1000 / 500 and the
        numbers are how many samples to generate.
    seed : int, default 0
        Seeds the subsets, the ``digits`` split and the synthetic samples.
    scale : {"unit", "symmetric", "cifar_3std", "cifar_std"}
        ``"unit"``: values in [0, 1] (pixels / 255; digits / 16; synthetic data min-max scaled).
        ``"symmetric"``: ``(unit - 0.5) / 0.5``, in [-1, 1].  ``"cifar_3std"`` / ``"cifar_std"``
        (CIFAR only): per-channel ``(unit - mean) / std`` with the CIFAR mean and three times /
        once the CIFAR std.

    Returns
    -------
    Dataset

    Raises
    ------
    ConfigError
        Unknown name or scale, a CIFAR scale on a non-CIFAR dataset, or a bad ``n_train``/``n_test``.
    DataUnavailableError
        The files are neither on disk nor downloadable, or a file on disk is corrupt.
    """
    key = _canonical_name(name)
    if scale not in SCALES:
        raise ConfigError(f"Unknown scale {scale!r}; allowed values: {', '.join(SCALES)}.")
    if scale.startswith("cifar") and key not in _CIFAR:
        raise ConfigError(f"scale={scale!r} is for CIFAR data only; for {key!r} use 'unit' or 'symmetric'.")
    if key in _VARIANCE_ONLY and scale not in ("variance", "raw"):
        raise ConfigError(f"{key} takes only scale 'raw' or 'variance' (the KSM paper's normalisation; {scale!r} would "
                          "break its structure): set train.scale = \"raw\" or \"variance\".")
    if scale == "raw" and key not in _RAW_OK:
        raise ConfigError(f"scale 'raw' is for the synthetic sets {', '.join(_RAW_OK)}; for {key!r} use 'unit' or 'variance'.")
    for arg, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or value <= 0):
            raise ConfigError(f"{arg} must be a positive integer or None, got {value!r}.")

    if scale == "variance":
        base = "raw" if key in _RAW_OK else "unit"
        return _variance_scaled(_load(key, root, download, n_train, n_test, seed, base))
    return _load(key, root, download, n_train, n_test, seed, scale)


def _load(key, root, download, n_train, n_test, seed, scale) -> Dataset:
    if key == "ksm_sparse":
        return _ksm_sparse(n_train, n_test, seed)
    if key == "ksm_two_atoms":
        return _ksm_two_atoms(n_train, n_test, seed)
    if key == "smpc_sparse":
        return _smpc_sparse(n_train, n_test, seed)
    if key == "patches":
        return _patches(n_train, n_test, seed)
    if key == "moons_ksm":
        return _load_moons(n_train or _MOONS_KSM_SIZES[0], n_test or _MOONS_KSM_SIZES[1], seed, scale,
                           noise=_MOONS_KSM_NOISE, name="moons_ksm")
    if key in _TORCHVISION_CLASS:
        return _load_idx_dataset(key, root, download, n_train, n_test, seed, scale)
    if key in _CIFAR:
        return _load_cifar(key, root, download, n_train, n_test, seed, scale)
    if key == "digits":
        return _load_digits(n_train, n_test, seed, scale)
    if key == "moons":
        return _load_moons(n_train, n_test, seed, scale)
    return _latent_mixture(n_train, n_test, seed, scale)


def one_hot(y: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Encode integer labels as one-hot rows.

    Parameters
    ----------
    y : array_like of int, shape (n,)
        Labels in ``[0, n_classes)``.
    n_classes : int
        Number of columns.
    dtype : numpy dtype, default np.float32

    Returns
    -------
    np.ndarray, shape (n, n_classes)

    Raises
    ------
    ConfigError
        A label is out of range or not an integer.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ShapeError(f"one_hot expects labels of shape (n,), got {y.shape}.")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"one_hot expects integer labels, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ConfigError(f"labels must lie in [0, {n_classes}), got range [{y.min()}, {y.max()}].")
    out = np.zeros((y.shape[0], n_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def batches(x, y, batch_size: int, *, shuffle: bool, seed: int | None,
            drop_last: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate once over ``(x, y)`` in mini-batches.

    Parameters
    ----------
    x, y : np.ndarray
        Inputs and labels with the same first dimension.
    batch_size : int
        Samples per batch (the last one may be smaller unless ``drop_last``).
    shuffle : bool
        Visit samples in a random permutation drawn from ``np.random.default_rng(seed)``.
    seed : int or None
        Seed of the permutation; ``None`` draws fresh OS entropy (not reproducible).  Ignored when
        ``shuffle`` is False.
    drop_last : bool, default False
        Skip a final batch smaller than ``batch_size``.

    Yields
    ------
    xb, yb : np.ndarray
        Slices of ``x`` and ``y``: views when not shuffling, copies otherwise.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
    n = len(x)
    if len(y) != n:
        raise ShapeError(f"x and y have different lengths: {n} and {len(y)}.")
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        if order is None:
            yield x[start:end], y[start:end]
        else:
            idx = order[start:end]
            yield x[idx], y[idx]


# ------------------------------------------------------------------------------------------ helpers


def _canonical_name(name) -> str:
    """Map a user-written dataset name to its entry in DATASETS."""
    if not isinstance(name, str):
        raise ConfigError(f"Dataset name must be a string, got {name!r}. Known datasets: {', '.join(DATASETS)}.")
    key = _ALIASES.get(re.sub(r"[-_ .]", "", name.strip().lower()))
    if key is None:
        raise ConfigError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")
    return key


def _resolve_root(root) -> Path:
    return Path(root).expanduser() if root is not None else default_data_root()


def _subset(x, y, n, rng, what):
    """Seeded random subset of n rows (sorted, so the original order survives)."""
    if n is None or n == len(y):
        return x, y
    if n > len(y):
        raise ConfigError(f"{what}={n} exceeds the {len(y)} samples available.")
    idx = np.sort(rng.choice(len(y), size=n, replace=False))
    return x[idx], y[idx]


def _scale(x, scale, *, max_value, channels=None):
    """Map raw values in [0, max_value] to float32 according to `scale`."""
    unit = x.astype(np.float32) / np.float32(max_value)
    if scale in ("unit", "raw"):  # "raw" reaches here only with max_value 1 (synthetic sets)
        return unit
    if scale == "symmetric":
        return (unit - np.float32(0.5)) / np.float32(0.5)
    # CIFAR per-channel scaling; x is channel-major, so reshape to (n, C, H*W) to broadcast per channel.
    n = unit.shape[0]
    mean = np.asarray(_CIFAR_MEAN, np.float32)[:, None]
    std = np.asarray(_CIFAR_STD[scale], np.float32)[:, None]
    return ((unit.reshape(n, channels, -1) - mean) / std).reshape(n, -1)


def _finish(name, x_train, y_train, x_test, y_test, *, n_train, n_test, seed, scale, max_value,
            n_classes, image_shape, source):
    """Subset, scale and package raw arrays; labels are validated against n_classes."""
    rng = np.random.default_rng(seed)
    x_train, y_train = _subset(x_train, y_train, n_train, rng, "n_train")
    x_test, y_test = _subset(x_test, y_test, n_test, rng, "n_test")
    for split, y in (("train", y_train), ("test", y_test)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise DataUnavailableError(
                f"{name} {split} labels in {source} lie in [{y.min()}, {y.max()}], outside [0, {n_classes}); "
                f"the files are corrupt or belong to another dataset.")
    channels = image_shape[0] if len(image_shape) == 3 else None
    d = int(np.prod(image_shape))
    return Dataset(
        name=name,
        x_train=_scale(x_train.reshape(len(x_train), d), scale, max_value=max_value, channels=channels),
        y_train=np.asarray(y_train, dtype=np.int64),
        x_test=_scale(x_test.reshape(len(x_test), d), scale, max_value=max_value, channels=channels),
        y_test=np.asarray(y_test, dtype=np.int64),
        n_classes=n_classes,
        image_shape=tuple(image_shape),
        source=str(source),
    )


# ------------------------------------------------------------------------------- idx (MNIST family)

def _read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """Parse one idx file (gzip detected from its content, not its name) into a native-endian array."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic; decide by content so a mis-named file still loads
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataUnavailableError(f"Cannot read idx file {path}: {exc}. Delete it and fetch it again.") from exc
    expected_magic = 0x0800 | ndim
    magic = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
    if magic != expected_magic:
        found = "a file shorter than 4 bytes" if magic is None else f"0x{magic:08X}"
        raise DataUnavailableError(
            f"Corrupt idx file {path}: magic number {found}, expected 0x{expected_magic:08X} "
            f"(unsigned-byte idx, {ndim}-D). Delete it and fetch it again.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataUnavailableError(f"Corrupt idx file {path}: truncated header. Delete it and fetch it again.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims))
    if len(raw) - header != count:  # one byte per value (type code 0x08)
        raise DataUnavailableError(
            f"Corrupt idx file {path}: header says {dims} ({count} values) but it holds "
            f"{len(raw) - header} bytes of data. Delete it and fetch it again.")
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=header).reshape(dims)


def _find_idx_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _idx_search_dirs(key: str, root: Path) -> list[Path]:
    # The torchvision layout comes first: it is unambiguous, whereas flat files in `root` carry no
    # dataset name (MNIST and Fashion-MNIST use the same file names).
    dirs = [root / _TORCHVISION_CLASS[key] / "raw", root]
    if key == "fashion_mnist":
        dirs.append(Path(DEBIAN_FASHION_MNIST_DIR))
    return dirs


def _load_idx_dataset(key, root, download, n_train, n_test, seed, scale) -> Dataset:
    root = _resolve_root(root)
    searched, partial = [], []
    for directory in _idx_search_dirs(key, root):
        searched.append(directory)
        files = {role: _find_idx_file(directory, stem) for role, stem in _IDX_FILES.items()}
        if all(files.values()):
            arrays = {role: _read_idx(path, ndim=3 if role.endswith("_x") else 1) for role, path in files.items()}
            for split in ("train", "test"):
                if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]):
                    raise DataUnavailableError(
                        f"{_PRETTY[key]} in {directory}: {files[f'{split}_x'].name} has "
                        f"{len(arrays[f'{split}_x'])} images but {files[f'{split}_y'].name} has "
                        f"{len(arrays[f'{split}_y'])} labels.")
            return _finish(key, arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"],
                           n_train=n_train, n_test=n_test, seed=seed, scale=scale, max_value=255,
                           n_classes=10, image_shape=arrays["train_x"].shape[1:], source=directory)
        if any(files.values()):
            missing = [_IDX_FILES[r] for r, p in files.items() if p is None]
            partial.append(f"{directory} has only some of the files (missing: {', '.join(missing)})")

    if download:
        return _download_torchvision(key, root, n_train, n_test, seed, scale)

    fixes = [
        f"put the four idx files in {root / _TORCHVISION_CLASS[key] / 'raw'} (or directly in {root})",
        f"set `train.data_root` in the run config (or {DATA_ENV_VAR}; root=... in Python) to a directory that holds them",
        "set `train.download = true` in the run config (download=True in Python) on a machine with internet access",
    ]
    if key == "fashion_mnist":
        fixes.append(f"on Debian/Ubuntu, `apt-get install dataset-fashion-mnist` "
                     f"(installs them in {DEBIAN_FASHION_MNIST_DIR})")
    raise DataUnavailableError(
        f"Dataset {key!r} ({_PRETTY[key]}) not found. Searched: {', '.join(map(str, searched))}. "
        + (" ".join(p + "." for p in partial) + " " if partial else "")
        + f"Needed: {', '.join(s + '[.gz]' for s in _IDX_FILES.values())}. "
        + "Fixes: " + "; or ".join(fixes) + ".")


def _download_torchvision(key, root: Path, n_train, n_test, seed, scale) -> Dataset:
    """Fetch an MNIST-family or CIFAR dataset with torchvision and convert it."""
    cls_name = {**_TORCHVISION_CLASS, "cifar10": "CIFAR10", "cifar100": "CIFAR100"}[key]
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    except Exception as exc:  # network, checksum, disk: all mean "not available"
        raise DataUnavailableError(
            f"Downloading {_PRETTY[key]} with torchvision.datasets.{cls_name} into {root} failed: "
            f"{type(exc).__name__}: {exc}. Without internet, copy the files into {root} "
            f"or set {DATA_ENV_VAR}.") from exc

    def arrays(ds):
        data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
        targets = ds.targets.numpy() if hasattr(ds.targets, "numpy") else np.asarray(ds.targets)
        if key in _CIFAR:  # torchvision stores CIFAR as (n, H, W, C); we use channel-major rows
            data = data.transpose(0, 3, 1, 2)
        return data.reshape(len(data), -1), targets.astype(np.int64)

    (xtr, ytr), (xte, yte) = arrays(train), arrays(test)
    if key in _CIFAR:
        n_classes, image_shape = _CIFAR[key][4], (3, 32, 32)
    else:
        n_classes, image_shape = 10, tuple(train.data.shape[1:])
    return _finish(key, xtr, ytr, xte, yte, n_train=n_train, n_test=n_test, seed=seed, scale=scale,
                   max_value=255, n_classes=n_classes, image_shape=image_shape, source=root)


# ------------------------------------------------------------------------------------------- CIFAR


def _read_cifar_batch(path: Path, label_key: str):
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # the official files are Python 2 pickles
        # The official pickles use bytes keys; accept str keys from re-pickled copies too.
        get = lambda k: batch[k.encode()] if k.encode() in batch else batch[k]  # noqa: E731
        data = np.asarray(get("data"), dtype=np.uint8)
        labels = np.asarray(get(label_key), dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataUnavailableError(
            f"Corrupt CIFAR batch {path}: {type(exc).__name__}: {exc} (expected a pickled dict with "
            f"b'data' and b'{label_key}'). Delete it and fetch it again.") from exc
    data = data.reshape(len(data), -1) if data.ndim else data
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataUnavailableError(
            f"Corrupt CIFAR batch {path}: data {data.shape} and {len(labels)} labels; "
            f"expected (n, 3072) uint8 and n labels.")
    return data, labels


def _load_cifar(key, root, download, n_train, n_test, seed, scale) -> Dataset:
    folder, train_files, test_files, label_key, n_classes = _CIFAR[key]
    root = _resolve_root(root)
    searched = [root / folder, root]
    for directory in searched:
        if all((directory / f).is_file() for f in train_files + test_files):
            train = [_read_cifar_batch(directory / f, label_key) for f in train_files]
            test = [_read_cifar_batch(directory / f, label_key) for f in test_files]
            xtr, ytr = np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])
            xte, yte = np.concatenate([b[0] for b in test]), np.concatenate([b[1] for b in test])
            return _finish(key, xtr, ytr, xte, yte, n_train=n_train, n_test=n_test, seed=seed, scale=scale,
                           max_value=255, n_classes=n_classes, image_shape=(3, 32, 32), source=directory)
    if download:
        return _download_torchvision(key, root, n_train, n_test, seed, scale)
    raise DataUnavailableError(
        f"Dataset {key!r} ({_PRETTY[key]}) not found. Searched: {', '.join(map(str, searched))}. "
        f"Needed: {', '.join(train_files + test_files)} (python-pickle version). Fixes: extract the "
        f"python version of {_PRETTY[key]} into {root} (giving {root / folder}); or set `train.data_root` in the "
        f"run config (or {DATA_ENV_VAR}; root=... in Python) to a directory that holds it; or set "
        f"`train.download = true` in the run config (download=True in Python) on a machine with internet access.")


# ------------------------------------------------------------------------------ sklearn / synthetic


def _load_digits(n_train, n_test, seed, scale) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x, y = digits.data, digits.target.astype(np.int64)
    # 360 test samples gives the conventional 1437/360 split of the 1797 images.
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=360, random_state=seed, stratify=y)
    return _finish("digits", xtr, ytr, xte, yte, n_train=n_train, n_test=n_test, seed=seed, scale=scale,
                   max_value=16, n_classes=10, image_shape=(8, 8), source="sklearn")


def _minmax_unit(xtr, xte):
    """Min-max scale both splits with the train statistics (test values may leave [0, 1] slightly)."""
    lo, hi = xtr.min(axis=0), xtr.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (xtr - lo) / span, (xte - lo) / span


def _load_moons(n_train, n_test, seed, scale, *, noise=0.1, name="moons") -> Dataset:
    from sklearn.datasets import make_moons

    n_train = n_train or _SYNTHETIC_DEFAULT_SIZES[0]
    n_test = n_test or _SYNTHETIC_DEFAULT_SIZES[1]
    x, y = make_moons(n_samples=n_train + n_test, noise=noise, random_state=seed)  # shuffled by sklearn
    xtr, xte = x[:n_train], x[n_train:]
    if scale != "raw":
        xtr, xte = _minmax_unit(xtr, xte)
    # Data are already in unit range, so max_value=1 and the subset step is a no-op.
    return _finish(name, xtr, y[:n_train], xte, y[n_train:], n_train=None, n_test=None, seed=seed,
                   scale=scale, max_value=1, n_classes=2, image_shape=(2,), source="sklearn")


def _latent_mixture(n_train, n_test, seed, scale) -> Dataset:
    """Synthetic 5-class mixture: 2-D Gaussian clusters embedded linearly in 16-D.

    Class ``k`` has its centre on a circle of radius 2 at angle ``2*pi*k/5``; a sample is its class
    centre plus isotropic Gaussian noise (std 0.5), so neighbouring classes overlap a little.  The
    2-D latent ``z`` is mapped to ``x = clip(0.5 + (W z) / 6, 0, 1)`` where ``W`` (16x2, entries
    N(0, 1/2)) is drawn from a *fixed* seed: the task is the same for every ``seed``, which only draws
    labels (uniform) and samples.  The gain leaves about 98% of coordinates inside (0, 1), so few
    are clipped.  A linear readout on x reaches about 97% test accuracy (the classes overlap a
    little); the 16 inputs are correlated (rank 2 before clipping), a small low-rank test case.
    """
    n_train = n_train or _SYNTHETIC_DEFAULT_SIZES[0]
    n_test = n_test or _SYNTHETIC_DEFAULT_SIZES[1]
    angles = 2 * np.pi * np.arange(_LATENT_CLASSES) / _LATENT_CLASSES
    centres = _LATENT_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    w = np.random.default_rng(_LATENT_MAP_SEED).normal(0.0, np.sqrt(0.5), size=(_LATENT_OUT_DIM, _LATENT_DIM))
    rng = np.random.default_rng(seed)

    def draw(n):
        y = rng.integers(0, _LATENT_CLASSES, size=n).astype(np.int64)
        z = centres[y] + _LATENT_NOISE * rng.standard_normal((n, _LATENT_DIM))
        return np.clip(0.5 + _LATENT_GAIN * (z @ w.T), 0.0, 1.0), y

    (xtr, ytr), (xte, yte) = draw(n_train), draw(n_test)
    return _finish("latent_mixture", xtr, ytr, xte, yte, n_train=None, n_test=None, seed=seed, scale=scale,
                   max_value=1, n_classes=_LATENT_CLASSES, image_shape=(_LATENT_OUT_DIM,), source="synthetic")


# ------------------------------------------------------------------------ the KSM / SMPC paper's sets
# ksm_sparse (§6.1): the dictionary is fixed (drawn from this seed) so train and test, and every seed, share
# it; `seed` draws the codes.
_KSM_SPARSE_N, _KSM_SPARSE_K, _KSM_SPARSE_ACTIVE = 30, 16, 2  # 2/16 = 12.5 % sparsity
_KSM_SPARSE_AMPLITUDE = (4.0, 6.0)
_KSM_SPARSE_SIZES = (1500, 500)
_KSM_DICT_SEED = 20241129
_TWO_ATOMS_CORRELATION, _TWO_ATOMS_NOISE, _TWO_ATOMS_SIZES = 0.14, 0.01, (512, 128)
_MOONS_KSM_NOISE, _MOONS_KSM_SIZES = 0.01, (2500, 500)
_PATCH, _PATCH_SIZES, _PATCH_TRAIN_FRACTION = 16, (20000, 2000), 0.75
# smpc_sparse (SMPC §7.1, Fig. 8): ksm_sparse's shape and sparsity, an orthonormalised dictionary of its own
# (drawn from this seed), N(5, 1) amplitudes.
_SMPC_SPARSE_AMPLITUDE = (5.0, 1.0)  # mean, standard deviation
_SMPC_DICT_SEED = 20241130


def true_dictionary(name: str) -> np.ndarray:
    """The generating dictionary A (N, K), columns = atoms, of a synthetic set that has one (``ksm_sparse``,
    ``ksm_two_atoms``), in the raw (unscaled) units; ConfigError for any other set."""
    key = _canonical_name(name)
    if key == "ksm_sparse":
        return np.random.default_rng(_KSM_DICT_SEED).standard_normal((_KSM_SPARSE_N, _KSM_SPARSE_K))
    if key == "ksm_two_atoms":
        c = _TWO_ATOMS_CORRELATION
        return np.array([[1.0, c], [0.0, np.sqrt(1 - c * c)]])
    if key == "smpc_sparse":
        return _gram_schmidt(np.random.default_rng(_SMPC_DICT_SEED).standard_normal((_KSM_SPARSE_N, _KSM_SPARSE_K)))
    raise ConfigError(f"data set {key!r} has no true dictionary; only ksm_sparse, ksm_two_atoms and smpc_sparse do")


def true_codes(name: str, n_train: int | None = None, n_test: int | None = None, seed: int = 0):
    """(Z_train, Z_test), rows = samples, the latents that generated :func:`load_dataset` (same arguments)."""
    key = _canonical_name(name)
    if key == "ksm_sparse":
        return _ksm_sparse(n_train, n_test, seed, codes=True)
    if key == "ksm_two_atoms":
        return _ksm_two_atoms(n_train, n_test, seed, codes=True)
    if key == "smpc_sparse":
        return _smpc_sparse(n_train, n_test, seed, codes=True)
    raise ConfigError(f"data set {key!r} has no true codes; only ksm_sparse, ksm_two_atoms and smpc_sparse do")


def _sparse_code_set(key, amplitudes, n_train, n_test, seed, codes):
    """x = A z with z 2-of-16 sparse: the KSM set and the SMPC paper's set differ only in the dictionary A
    (``true_dictionary(key)``) and in how the active amplitudes are drawn (``amplitudes(rng, shape)``)."""
    n_train = n_train or _KSM_SPARSE_SIZES[0]
    n_test = n_test or _KSM_SPARSE_SIZES[1]
    A = true_dictionary(key)
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    z = np.zeros((n, _KSM_SPARSE_K))
    support = np.argsort(rng.random((n, _KSM_SPARSE_K)), axis=1)[:, :_KSM_SPARSE_ACTIVE]
    np.put_along_axis(z, support, amplitudes(rng, support.shape), axis=1)
    if codes:
        return z[:n_train], z[n_train:]
    x, y = z @ A.T, z.argmax(axis=1)
    return _finish(key, x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_train=None, n_test=None,
                   seed=seed, scale="unit", max_value=1, n_classes=_KSM_SPARSE_K, image_shape=(_KSM_SPARSE_N,),
                   source="synthetic")


def _ksm_sparse(n_train, n_test, seed, codes=False):
    return _sparse_code_set("ksm_sparse", lambda rng, shape: rng.uniform(*_KSM_SPARSE_AMPLITUDE, size=shape),
                            n_train, n_test, seed, codes)


def _gram_schmidt(G: np.ndarray) -> np.ndarray:
    """The columns of G orthonormalised in order (classical Gram-Schmidt with re-orthogonalisation, which keeps
    the columns orthonormal to rounding: one pass loses orthogonality on ill-conditioned G)."""
    Q = np.zeros_like(G, dtype=np.float64)
    for k in range(G.shape[1]):
        q = G[:, k].astype(np.float64)
        for _ in range(2):
            q = q - Q[:, :k] @ (Q[:, :k].T @ q)
        Q[:, k] = q / np.linalg.norm(q)
    return Q


def _smpc_sparse(n_train, n_test, seed, codes=False):
    return _sparse_code_set("smpc_sparse", lambda rng, shape: rng.normal(*_SMPC_SPARSE_AMPLITUDE, size=shape),
                            n_train, n_test, seed, codes)


def _ksm_two_atoms(n_train, n_test, seed, codes=False):
    n_train = n_train or _TWO_ATOMS_SIZES[0]
    n_test = n_test or _TWO_ATOMS_SIZES[1]
    A = true_dictionary("ksm_two_atoms")
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, 2, size=n)
    z = np.zeros((n, 2))
    z[np.arange(n), y] = rng.standard_normal(n)
    if codes:
        return z[:n_train], z[n_train:]
    x = z @ A.T + _TWO_ATOMS_NOISE * rng.standard_normal((n, 2))
    return _finish("ksm_two_atoms", x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_train=None, n_test=None,
                   seed=seed, scale="unit", max_value=1, n_classes=2, image_shape=(2,), source="synthetic")


def _whiten(img: np.ndarray) -> np.ndarray:
    """Olshausen & Field (1996) whitening: multiply the spectrum by f exp(-(f/f0)^4), f0 = 0.4 Nyquist."""
    h, w = img.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f0 = 0.4 * 0.5
    out = np.real(np.fft.ifft2(np.fft.fft2(img - img.mean()) * f * np.exp(-((f / f0) ** 4))))
    return out / out.std()


def _patches(n_train, n_test, seed):
    from sklearn.datasets import load_sample_images

    n_train = n_train or _PATCH_SIZES[0]
    n_test = n_test or _PATCH_SIZES[1]
    images = [_whiten(im.astype(np.float64).mean(axis=2) / 255.0) for im in load_sample_images().images]
    rng = np.random.default_rng(seed)

    def cut(n, train):
        out = np.empty((n, _PATCH * _PATCH))
        labels = rng.integers(0, len(images), size=n)
        for i, k in enumerate(labels):
            h, w = images[k].shape
            split = int(_PATCH_TRAIN_FRACTION * w)
            lo, hi = (0, split - _PATCH) if train else (split, w - _PATCH)
            r, c = rng.integers(0, h - _PATCH + 1), rng.integers(lo, hi + 1)
            out[i] = images[k][r : r + _PATCH, c : c + _PATCH].ravel()
        return out, labels

    (xtr, ytr), (xte, yte) = cut(n_train, True), cut(n_test, False)
    return _finish("patches", xtr, ytr, xte, yte, n_train=None, n_test=None, seed=seed, scale="unit", max_value=1,
                   n_classes=len(images), image_shape=(_PATCH, _PATCH), source="sklearn")


def _variance_scaled(data: Dataset) -> Dataset:
    """Both splits divided by sqrt((1/T) Σ ||x_i||²) of the training split (KSM paper §7.1)."""
    s = np.float32(np.sqrt(np.mean(np.sum(data.x_train.astype(np.float64) ** 2, axis=1))))
    if not s > 0:
        raise DataUnavailableError(f"{data.name}: the training inputs are all zero; nothing to normalise")
    return Dataset(name=data.name, x_train=data.x_train / s, y_train=data.y_train, x_test=data.x_test / s,
                   y_test=data.y_test, n_classes=data.n_classes, image_shape=data.image_shape, source=data.source)
