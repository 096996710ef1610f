"""Data sets: scikit-learn's 8x8 digits (offline), MNIST / Fashion-MNIST from IDX files, CIFAR-10 from its
binary batches, a synthetic CIFAR-shaped set for cost studies, and the seed paper's synthetic least-squares
problem. Splits and shuffling are deterministic in the run's seed."""

from __future__ import annotations

import gzip
import importlib.util
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from archsim.config.workload import DatasetConfig
from archsim.errors import ConfigError


@dataclass
class Dataset:
    """Arrays ready for training. Inputs are float64 of shape (n, *input_shape)."""

    train_x: np.ndarray
    train_y: np.ndarray  # class indices (classification) or target vectors (regression)
    test_x: np.ndarray
    test_y: np.ndarray
    task: str  # "classification" or "regression"
    classes: int = 0
    target_weights: np.ndarray | None = None  # least squares: the W* that generated the data
    warning: str | None = None  # said in the report: why the metric on this data set may mean nothing

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed) into a numpy array of its stored dtype."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    dtypes: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if dtype_code not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{dtype_code:02x}")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=dtypes[dtype_code], offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: holds {array.size} values, header says {shape}")
    return array.reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _data_folder(config: DatasetConfig, source: str, unset: str, holding: str) -> Path:
    """The existing folder ``dataset.path`` names; ``unset``: the error when it is not set; ``holding``: the files
    the folder is expected to hold, named in the error when it does not exist."""
    if config.path is None:
        raise ConfigError(source, "dataset.path", unset)
    folder = Path(config.path).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            source, "dataset.path", f"folder {str(folder)!r} not found; expected the folder holding {holding}"
        )
    return folder


def load_idx_dataset(config: DatasetConfig, source: str) -> Dataset:
    folder = _data_folder(
        config,
        source,
        f"{config.name} is read from IDX files; set dataset.path to their folder (e.g. --set dataset.path=/data/mnist)",
        f"{IDX_FILES['train_x']}[.gz] and the other three IDX files",
    )
    arrays = {}
    for key, stem in IDX_FILES.items():
        path = _find_idx(folder, stem)
        if path is None:
            raise ConfigError(source, "dataset.path", f"{stem}[.gz] not found in {str(folder)!r}")
        try:
            arrays[key] = read_idx(path)
        except (OSError, ValueError, EOFError, struct.error, zlib.error) as exc:
            raise ConfigError(source, "dataset.path", f"cannot read {path}: {exc}") from None
    _check_idx_pairs(arrays, folder, source, classes=10)
    train_x = arrays["train_x"].astype(np.float64) / 255.0
    test_x = arrays["test_x"].astype(np.float64) / 255.0
    return Dataset(
        train_x.reshape(len(train_x), -1),
        arrays["train_y"].astype(np.int64),
        test_x.reshape(len(test_x), -1),
        arrays["test_y"].astype(np.int64),
        "classification",
        10,
    )


def _check_idx_pairs(arrays: dict, folder: Path, source: str, classes: int) -> None:
    """Images and labels must pair up, labels name a class, and images hold finite numbers."""

    def fail(message: str):
        raise ConfigError(source, "dataset.path", f"{str(folder)!r}: {message}")

    for split in ("train", "test"):
        images, labels = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if images.ndim < 2 or len(images) == 0:
            fail(f"{IDX_FILES[split + '_x']} holds no images (shape {list(images.shape)}); expected [n, rows, cols]")
        if labels.ndim != 1:
            fail(f"{IDX_FILES[split + '_y']} has shape {list(labels.shape)}; expected one label per image")
        if len(images) != len(labels):
            fail(f"{len(images)} {split} images but {len(labels)} labels; expected one label per image")
        if labels.min() < 0 or labels.max() >= classes:
            bad = labels[(labels < 0) | (labels >= classes)][0]
            fail(f"{IDX_FILES[split + '_y']} holds the label {int(bad)}; expected class numbers 0 to {classes - 1}")
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            fail(f"{IDX_FILES[split + '_x']} holds NaN or infinite pixel values; expected finite numbers")


def _split_sizes(config: DatasetConfig, total: int, source: str) -> int:
    """Test samples of ``total``; refuses a test_fraction that leaves no test or no training sample."""
    n_test = round(config.test_fraction * total)
    if n_test < 1 or n_test > total - 1:
        which = "no test samples" if n_test < 1 else "no training samples"
        raise ConfigError(
            source,
            "dataset.test_fraction",
            f"{config.test_fraction:g} of {total} samples leaves {which}; expected a fraction "
            f"in [{1.5 / total:.3g}, {1 - 1.5 / total:.6g}]",
        )
    return n_test


CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch.bin"
#: One record of a CIFAR-10 binary batch: a label byte, then 32x32 red, green and blue planes (bytes).
CIFAR_SHAPE = (3, 32, 32)
CIFAR_RECORD = 1 + 3 * 32 * 32
CIFAR_CLASSES = 10
SYNTHETIC_WARNING = (
    "cifar10_synthetic: random class-dependent images, not CIFAR-10; the accuracy means nothing (cost studies only)"
)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch -> images (n, 3, 32, 32) uint8 and labels (n,) int64."""
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0 or data.size % CIFAR_RECORD:
        raise ValueError(f"{data.size} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records")
    records = data.reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= CIFAR_CLASSES:
        raise ValueError(f"label {labels.max()} found; CIFAR-10 labels are 0..{CIFAR_CLASSES - 1}")
    return records[:, 1:].reshape((-1,) + CIFAR_SHAPE), labels


def _standardise(train_x: np.ndarray, test_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel standardisation with the training set's own mean and std; float32 halves the memory of
    50,000 images (the network computes in float64)."""
    train = train_x.astype(np.float32) / 255.0
    mean = train.mean(axis=(0, 2, 3), dtype=np.float64, keepdims=True)
    std = train.std(axis=(0, 2, 3), dtype=np.float64, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    scale = lambda x: ((x - mean) / std).astype(np.float32)
    return scale(train), scale(test_x.astype(np.float32) / 255.0)


def load_cifar10_dataset(config: DatasetConfig, source: str) -> Dataset:
    folder = _data_folder(
        config,
        source,
        "cifar10 is read from its binary batches; set dataset.path to their folder (cifar-10-batches-bin), "
        "or use dataset.name cifar10_synthetic for cost studies without the data",
        f"{', '.join(CIFAR_TRAIN_FILES)} and {CIFAR_TEST_FILE}",
    )
    parts = {}
    for name in CIFAR_TRAIN_FILES + (CIFAR_TEST_FILE,):
        path = folder / name
        if not path.is_file():
            raise ConfigError(source, "dataset.path", f"{name} not found in {str(folder)!r}")
        try:
            parts[name] = read_cifar_batch(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(source, "dataset.path", f"cannot read {path}: {exc}") from None
    train_x = np.concatenate([parts[name][0] for name in CIFAR_TRAIN_FILES])
    train_y = np.concatenate([parts[name][1] for name in CIFAR_TRAIN_FILES])
    if config.max_train is not None:
        train_x, train_y = train_x[: config.max_train], train_y[: config.max_train]
    train_x, test_x = _standardise(train_x, parts[CIFAR_TEST_FILE][0])
    return Dataset(train_x, train_y, test_x, parts[CIFAR_TEST_FILE][1], "classification", CIFAR_CLASSES)


def load_cifar10_synthetic(config: DatasetConfig, seed: int) -> Dataset:
    """CIFAR-shaped images for cost studies without the data: each class has a smooth random colour pattern,
    each image is its class pattern plus pixel noise, so activations, errors and pulse counts have realistic
    structure and training lowers the loss; the accuracy says nothing about CIFAR-10."""
    rng = np.random.default_rng([seed, 0xC1FA])
    coarse = rng.normal(size=(CIFAR_CLASSES, 3, 8, 8))
    patterns = coarse.repeat(4, axis=2).repeat(4, axis=3)  # 8x8 blobs upsampled to 32x32

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, CIFAR_CLASSES, size=n)
        images = patterns[labels] + rng.normal(scale=1.0, size=(n,) + CIFAR_SHAPE)
        return images.astype(np.float32), labels.astype(np.int64)

    train_x, train_y = draw(config.synthetic_train)
    test_x, test_y = draw(config.synthetic_test)
    return Dataset(train_x, train_y, test_x, test_y, "classification", CIFAR_CLASSES, warning=SYNTHETIC_WARNING)


def digits_arrays(source: str = "workload") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1797 images, pixel values 0..16, labels 0..9), read from the CSV that
    scikit-learn ships, as its ``load_digits`` does, without importing scikit-learn (~1-2 s of imports)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(source, "dataset.name", "digits needs scikit-learn, which ships the data set")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_digits_dataset(config: DatasetConfig, seed: int, source: str = "workload") -> Dataset:
    pixels, y = digits_arrays(source)
    x = pixels / 16.0
    order = np.random.default_rng([seed, 0xD1617]).permutation(len(x))
    n_test = _split_sizes(config, len(x), source)
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test], "classification", 10)


def load_lsq_dataset(config: DatasetConfig, seed: int) -> Dataset:
    """The seed paper's least squares: y = W* x + noise, x ~ N(0, I), so f(W) = 1/2 E||W x - y||^2 has
    its minimum at W* and its Hessian is the identity. W* is drawn uniformly in [-0.5, 0.5]."""
    rng = np.random.default_rng([seed, 0x15A])
    target = rng.uniform(-0.5, 0.5, size=(config.lsq_outputs, config.lsq_inputs))
    n_total = config.lsq_samples
    n_test = max(1, round(config.test_fraction * n_total))
    x = rng.standard_normal((n_total + n_test, config.lsq_inputs))
    y = x @ target.T + config.lsq_noise * rng.standard_normal((n_total + n_test, config.lsq_outputs))
    return Dataset(x[:n_total], y[:n_total], x[n_total:], y[n_total:], "regression", 0, target)


def load_dataset(config: DatasetConfig, seed: int, source: str = "workload") -> Dataset:
    """Load the configured data set; ``source`` names the configuration file in error messages."""
    if config.name == "digits":
        data = load_digits_dataset(config, seed, source)
    elif config.name in ("mnist", "fashion_mnist"):
        data = load_idx_dataset(config, source)
    elif config.name == "lsq":
        data = load_lsq_dataset(config, seed)
    elif config.name == "cifar10":
        data = load_cifar10_dataset(config, source)
    elif config.name == "cifar10_synthetic":
        data = load_cifar10_synthetic(config, seed)
    else:  # pragma: no cover - the schema restricts the choices
        raise ConfigError(source, "dataset.name", f"unknown data set {config.name!r}")
    if config.max_train is not None and config.max_train < len(data.train_x):
        data.train_x = data.train_x[: config.max_train]
        data.train_y = data.train_y[: config.max_train]
    if config.max_test is not None and config.max_test < len(data.test_x):
        data.test_x = data.test_x[: config.max_test]
        data.test_y = data.test_y[: config.max_test]
    return data
