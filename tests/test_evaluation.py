"""Tests of the evaluator: classifier floors, metric properties, caching, pickling and errors.

The mnist-5k evaluator classifier is trained once (about two minutes on 2 shared CPU cores)
into the default cache (``$ACGAN_SEARCH_CACHE`` or ``~/.cache/acgan_search``) and loaded from
there afterwards, in the same way as the search and the command line load it.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import scipy.ndimage

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.data import Dataset, load_dataset
from acgan_search.errors import EvaluationError
from acgan_search.evaluation import Evaluator, preprocess_images
from acgan_search.evaluation import cache
from acgan_search.evaluation.classifier import ARCHITECTURE_VERSION, FEATURE_DIM
from acgan_search.evaluation.diversity import class_entropy, diversity_ratio, mean_pairwise_distance
from acgan_search.evaluation.evaluator import ACCURACY_FLOORS
from acgan_search.evaluation.fid import features_to_statistics, frechet_distance

IMAGE_SHAPE = (28, 28, 1)


@pytest.fixture(scope="module")
def mnist_5k() -> Dataset:
    return load_dataset(TrainConfig(dataset="mnist-5k"))


@pytest.fixture(scope="module")
def evaluator(mnist_5k) -> Evaluator:
    return Evaluator.for_dataset(mnist_5k, seed=0)


def _real_image_generator(dataset: Dataset):
    # A "generator" that returns held-out real images of the requested classes, drawn with
    # the seed: the best a generator can do.
    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        images = np.empty((len(labels), *dataset.image_shape), np.float32)
        for k in np.unique(labels):
            slots = np.flatnonzero(labels == k)
            pool = np.flatnonzero(dataset.y_test == k)
            images[slots] = dataset.x_test[rng.choice(pool, len(slots), replace=False)]
        return images

    return generate


def _real_image_generator_with_replacement(dataset: Dataset):
    # Held-out real images drawn with replacement, for more images per class than the test
    # split has.
    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        images = np.empty((len(labels), *dataset.image_shape), np.float32)
        for k in np.unique(labels):
            slots = np.flatnonzero(labels == k)
            images[slots] = dataset.x_test[rng.choice(np.flatnonzero(dataset.y_test == k), len(slots))]
        return images

    return generate


def _tiny_generator(num_classes: int, latent_dim: int = 8) -> keras.Model:
    noise = keras.Input((latent_dim,))
    labels = keras.Input((), dtype="int32")
    embedded = keras.layers.Embedding(num_classes, latent_dim, embeddings_initializer=keras.initializers.RandomNormal(seed=1))(labels)
    x = keras.layers.Concatenate()([noise, embedded])
    x = keras.layers.Dense(7 * 7 * 4, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=2))(x)
    x = keras.layers.Reshape((7, 7, 4))(x)
    x = keras.layers.UpSampling2D(4)(x)
    x = keras.layers.Conv2D(1, 3, padding="same", activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed=3))(x)
    return keras.Model([noise, labels], x)


def _generate_with(model: keras.Model, latent_dim: int = 8):
    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        noise = np.random.default_rng(seed).standard_normal((len(labels), latent_dim)).astype(np.float32)
        return np.asarray(model([noise, labels.astype(np.int32)], training=False))

    return generate


def _held_out_fid(evaluator: Evaluator, images: np.ndarray, labels: np.ndarray) -> float:
    return evaluator.evaluate_images(images, labels)[metric_names.FID]


# ---------------------------------------------------------------------- preprocessing


def test_preprocess_keeps_real_pixels_unchanged(mnist_5k):
    images = np.asarray(mnist_5k.x_test[:50])
    np.testing.assert_array_equal(preprocess_images(images, IMAGE_SHAPE), images)


def test_preprocess_clips_and_quantises():
    images = np.full((1, *IMAGE_SHAPE), 1.3, np.float32)
    images[0, 0, 0, 0] = -1.7
    images[0, 1, 0, 0] = 0.001  # Between the 8-bit levels 127 (-0.0039) and 128 (+0.0039).
    processed = preprocess_images(images, IMAGE_SHAPE)
    assert processed.max() == 1.0
    assert processed.min() == -1.0
    assert processed[0, 1, 0, 0] == pytest.approx(128 / 127.5 - 1.0, abs=1e-6)  # float32 rounding.
    assert processed.dtype == np.float32


def test_preprocess_rejects_nan():
    images = np.zeros((3, *IMAGE_SHAPE), np.float32)
    images[1, 5, 5, 0] = np.nan
    with pytest.raises(EvaluationError, match="NaN or infinite.*1 of 3 images"):
        preprocess_images(images, IMAGE_SHAPE)


def test_preprocess_rejects_wrong_shape():
    with pytest.raises(EvaluationError, match=r"shape \(N, 28, 28, 1\).*shape=\(4, 32, 32, 1\)"):
        preprocess_images(np.zeros((4, 32, 32, 1), np.float32), IMAGE_SHAPE)


def test_preprocess_rejects_missing_channel_axis():
    with pytest.raises(EvaluationError, match=r"Received: shape=\(4, 28, 28\)"):
        preprocess_images(np.zeros((4, 28, 28), np.float32), IMAGE_SHAPE)


def test_preprocess_rejects_pixel_scale():
    with pytest.raises(EvaluationError, match=r"scaled to \[-1, 1\].*max \|value\|=255"):
        preprocess_images(np.full((2, *IMAGE_SHAPE), 255.0, np.float32), IMAGE_SHAPE)


def test_preprocess_rejects_integer_images():
    with pytest.raises(EvaluationError, match="floating point.*dtype=uint8"):
        preprocess_images(np.zeros((2, *IMAGE_SHAPE), np.uint8), IMAGE_SHAPE)


def test_preprocess_rejects_empty():
    with pytest.raises(EvaluationError, match="at least one image"):
        preprocess_images(np.zeros((0, *IMAGE_SHAPE), np.float32), IMAGE_SHAPE)


# ---------------------------------------------------------------------- diversity


def test_class_entropy_uniform_is_ln_k():
    predicted = np.repeat(np.arange(10), 7)
    assert class_entropy(predicted, 10) == pytest.approx(np.log(10), rel=1e-12)


def test_class_entropy_single_class_is_zero():
    assert class_entropy(np.full(50, 3), 10) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_class_entropy_within_bounds(seed):
    predicted = np.random.default_rng(seed).integers(0, 4, size=30)
    entropy = class_entropy(predicted, 10)
    assert 0.0 <= entropy <= np.log(10)


def test_class_entropy_rejects_out_of_range_class():
    with pytest.raises(EvaluationError, match=r"lie in \[0, 10\).*max=10"):
        class_entropy(np.array([0, 10]), 10)


def test_diversity_ratio_collapsed_is_zero():
    rng = np.random.default_rng(0)
    collapsed = np.repeat(rng.standard_normal((1, 16)), 50, axis=0)
    assert diversity_ratio(collapsed, rng.standard_normal((50, 16))) == 0.0


def test_diversity_ratio_same_set_is_one():
    features = np.random.default_rng(1).standard_normal((40, 16))
    assert diversity_ratio(features, features) == pytest.approx(1.0, rel=1e-12)


def test_mean_pairwise_distance_matches_explicit_pairs():
    features = np.random.default_rng(2).standard_normal((12, 5))
    pairs = [np.linalg.norm(features[i] - features[j]) for i in range(12) for j in range(i + 1, 12)]
    assert mean_pairwise_distance(features) == pytest.approx(np.mean(pairs), rel=1e-9)


def test_diversity_ratio_rejects_single_vector():
    with pytest.raises(EvaluationError, match="at least two feature vectors"):
        diversity_ratio(np.zeros((1, 4)), np.random.default_rng(3).standard_normal((5, 4)))


def test_diversity_ratio_rejects_real_without_spread():
    with pytest.raises(EvaluationError, match="no spread.*5 identical"):
        diversity_ratio(np.zeros((3, 4)), np.ones((5, 4)))


# ---------------------------------------------------------------------- classifier and cache


def test_evaluator_meets_mnist_5k_floor(evaluator):
    assert evaluator.heldout_accuracy >= ACCURACY_FLOORS["mnist-5k"]


def test_evaluator_heldout_real_accuracy_matches(evaluator, mnist_5k):
    # The mnist-5k test split has 100 images per class, more than FEATURE_DIM, so it can be
    # scored as a class-balanced set with its true labels.
    metrics = evaluator.evaluate_images(mnist_5k.x_test, mnist_5k.y_test)
    assert metrics[metric_names.CLASS_ACCURACY] == evaluator.heldout_accuracy


def test_evaluator_reports_heldout_accuracy(evaluator, mnist_5k):
    metrics = evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=FEATURE_DIM + 1, seed=0)
    assert metrics[metric_names.EVALUATOR_ACCURACY] == evaluator.heldout_accuracy


def test_evaluator_loads_from_cache(mnist_5k, evaluator, caplog):
    with caplog.at_level(logging.INFO, logger="acgan_search.evaluation.evaluator"):
        again = Evaluator.for_dataset(mnist_5k, seed=0)
    assert again.fingerprint == evaluator.fingerprint
    assert "Loaded evaluator classifier" in caplog.text


def test_evaluator_cached_real_features_match_recomputed(evaluator, mnist_5k):
    recomputed, _ = evaluator.features_and_logits(mnist_5k.x_train[:200])
    # Same weights, same images; only the batch composition differs (float32 rounding).
    np.testing.assert_allclose(evaluator.real_features[:200], recomputed, rtol=1e-5, atol=1e-5)


def test_evaluator_below_floor_raises(mnist_5k, evaluator):
    with pytest.raises(EvaluationError, match=r"below its accuracy floor.*floor=0\.9999"):
        Evaluator.for_dataset(mnist_5k, seed=0, min_accuracy=0.9999)


def test_cache_key_changes_with_each_input():
    base = cache.cache_key("dataset-a", ARCHITECTURE_VERSION, 0)
    assert cache.cache_key("dataset-b", ARCHITECTURE_VERSION, 0) != base
    assert cache.cache_key("dataset-a", ARCHITECTURE_VERSION + "-next", 0) != base
    assert cache.cache_key("dataset-a", ARCHITECTURE_VERSION, 1) != base


def test_cache_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path))
    assert cache.cache_root() == tmp_path / "evaluator"


def test_cache_entry_round_trip(tmp_path):
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)]
    features = np.full((4, 64), 0.5, np.float32)
    cache.save_entry(tmp_path, "key", weights, features, {"heldout_accuracy": 0.5})
    loaded_weights, loaded_features, metadata = cache.load_entry(tmp_path, "key")
    np.testing.assert_array_equal(loaded_weights[0], weights[0])
    np.testing.assert_array_equal(loaded_features, features)
    assert metadata == {"heldout_accuracy": 0.5}


def test_cache_entry_gets_umask_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        folder = cache.save_entry(tmp_path, "key", [np.zeros(2, np.float32)], np.zeros((3, 2), np.float32), {})
    finally:
        os.umask(previous)
    assert folder.stat().st_mode & 0o777 == 0o755


def test_cache_missing_entry_is_none(tmp_path):
    assert cache.load_entry(tmp_path, "absent") is None


def test_cache_unreadable_entry_raises(tmp_path):
    (tmp_path / "broken").mkdir()
    with pytest.raises(EvaluationError, match="unreadable.*Delete that folder"):
        cache.load_entry(tmp_path, "broken")


def _two_shape_dataset(seed: int = 0, train_per_class: int = 140) -> Dataset:
    # 16 x 16 RGB images of two classes: a bright square in the top-left or bottom-right
    # corner, with pixel noise. Small enough to train a classifier in seconds.
    rng = np.random.default_rng(seed)

    def images_of(count: int, label: int) -> np.ndarray:
        images = np.full((count, 16, 16, 3), -1.0, np.float32)
        corner = slice(2, 8) if label == 0 else slice(8, 14)
        images[:, corner, corner, :] = 1.0
        noisy = images + 0.3 * rng.standard_normal(images.shape).astype(np.float32)
        return np.clip(noisy, -1.0, 1.0)

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        images = np.concatenate([images_of(count, 0), images_of(count, 1)])
        return images, np.repeat(np.arange(2, dtype=np.int32), count)

    x_train, y_train = split(train_per_class)
    x_test, y_test = split(30)
    return Dataset(
        name="image-folder", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        class_names=("top-left", "bottom-right"), source="test",
    )


@pytest.fixture(scope="module")
def two_shape_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("evaluator_cache")


def test_evaluator_trains_and_caches_new_classifier(two_shape_cache, caplog):
    dataset = _two_shape_dataset()
    with caplog.at_level(logging.INFO, logger="acgan_search.evaluation"):
        trained = Evaluator.for_dataset(dataset, seed=0, cache_dir=two_shape_cache)
        loaded = Evaluator.for_dataset(dataset, seed=0, cache_dir=two_shape_cache)
    assert "Training evaluator classifier: 280 images, 2 classes" in caplog.text
    assert "Loaded evaluator classifier" in caplog.text
    assert loaded.fingerprint == trained.fingerprint
    assert trained.heldout_accuracy == 1.0
    assert len(list((two_shape_cache / "evaluator").glob("*/weights.npz"))) == 1


def test_evaluator_scores_rgb_images(two_shape_cache):
    evaluator = Evaluator.for_dataset(_two_shape_dataset(), seed=0, cache_dir=two_shape_cache)
    assert evaluator.default_samples_per_class == 70

    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        fresh = _two_shape_dataset(seed + 1)
        images = np.empty((len(labels), 16, 16, 3), np.float32)
        for k in (0, 1):
            slots = np.flatnonzero(labels == k)
            images[slots] = fresh.x_train[fresh.y_train == k][: len(slots)]
        return images

    metrics = evaluator.evaluate(generate, seed=0)
    assert metrics[metric_names.CLASS_ACCURACY] == 1.0
    assert metrics[metric_names.EVAL_SAMPLES] == 140


# ---------------------------------------------------------------------- metric properties


def test_evaluator_returns_every_metric(evaluator, mnist_5k):
    metrics = evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=FEATURE_DIM + 1, seed=0)
    expected = {
        metric_names.FID,
        metric_names.FID_REAL_FLOOR,
        metric_names.INTRA_FID,
        metric_names.INTRA_FID_REAL_FLOOR,
        metric_names.CLASS_ACCURACY,
        metric_names.CLASS_ENTROPY,
        metric_names.WITHIN_CLASS_DIVERSITY,
        metric_names.EVALUATOR_ACCURACY,
        metric_names.EVAL_SAMPLES,
    }
    expected |= {f"{metric_names.INTRA_FID_PREFIX}{k}" for k in range(10)}
    expected |= {f"{metric_names.CLASS_ACCURACY_PREFIX}{k}" for k in range(10)}
    assert set(metrics) == expected
    assert all(isinstance(value, float) and np.isfinite(value) for value in metrics.values())


def test_evaluator_fid_independent_of_batch_size(evaluator, mnist_5k):
    images = mnist_5k.x_test[:300]
    reference = features_to_statistics(evaluator.features_and_logits(mnist_5k.x_train[:300])[0])
    fids = [
        frechet_distance(features_to_statistics(evaluator.features_and_logits(images, batch_size=size)[0]), reference)
        for size in (7, 64, 300)
    ]
    # Features differ between batch sizes by float32 rounding at most, because kernels may split
    # the batch differently. That moves an FID of order 10 by far less than 1e-4.
    assert fids[0] == pytest.approx(fids[2], rel=1e-5)
    assert fids[1] == pytest.approx(fids[2], rel=1e-5)


def test_evaluator_fid_of_features_with_themselves_is_zero(evaluator, mnist_5k):
    features, _ = evaluator.features_and_logits(mnist_5k.x_test)
    assert frechet_distance(features_to_statistics(features), features_to_statistics(features)) == pytest.approx(0.0, abs=1e-6)


def test_evaluator_fid_rises_with_noise(evaluator, mnist_5k):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(mnist_5k.x_test.shape).astype(np.float32)
    fids = [
        _held_out_fid(evaluator, np.clip(mnist_5k.x_test + sigma * noise, -1.0, 1.0), mnist_5k.y_test)
        for sigma in (0.0, 0.1, 0.25, 0.5, 1.0)
    ]
    assert all(later > earlier for earlier, later in zip(fids, fids[1:])), fids


def test_evaluator_fid_rises_with_blur(evaluator, mnist_5k):
    fids = [
        _held_out_fid(
            evaluator,
            scipy.ndimage.gaussian_filter(mnist_5k.x_test, sigma=(0, sigma, sigma, 0)) if sigma else mnist_5k.x_test,
            mnist_5k.y_test,
        )
        for sigma in (0.0, 0.5, 1.0, 1.5, 2.5)
    ]
    assert all(later > earlier for earlier, later in zip(fids, fids[1:])), fids


def test_evaluator_real_images_score_near_floor(evaluator, mnist_5k):
    metrics = evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=100, seed=0)
    # Held-out real images against training images differ from the floor (training images
    # against training images) by sampling noise and the small train/test shift only.
    assert metrics[metric_names.FID] < 2.0 * metrics[metric_names.FID_REAL_FLOOR]
    assert metrics[metric_names.CLASS_ACCURACY] > ACCURACY_FLOORS["mnist-5k"] - 0.02
    assert metrics[metric_names.CLASS_ENTROPY] == pytest.approx(np.log(10), abs=0.01)
    assert metrics[metric_names.WITHIN_CLASS_DIVERSITY] == pytest.approx(1.0, abs=0.1)


def test_evaluator_real_floors_match_evaluate(evaluator, mnist_5k):
    metrics = evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=100, seed=0)
    floors = evaluator.real_floors(100)
    assert floors[metric_names.FID_REAL_FLOOR] == metrics[metric_names.FID_REAL_FLOOR]
    assert floors[metric_names.INTRA_FID_REAL_FLOOR] == metrics[metric_names.INTRA_FID_REAL_FLOOR]


def test_evaluator_real_floor_falls_with_sample_count(evaluator):
    # FID is biased upwards at small sample counts, so the real-versus-real floor shrinks as
    # the count grows.
    floors = [evaluator.real_floors(count)[metric_names.FID_REAL_FLOOR] for count in (65, 100, 200)]
    assert floors[0] > floors[1] > floors[2]


def test_evaluator_collapsed_generator_has_no_diversity(evaluator, mnist_5k):
    # One fixed real image per class: perfect class accuracy and entropy, no diversity.
    first_of_class = np.stack([mnist_5k.x_test[np.flatnonzero(mnist_5k.y_test == k)[0]] for k in range(10)])

    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        return first_of_class[labels]

    metrics = evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=0)
    # Distances come from a Gram matrix, so identical vectors are 0 up to float64 rounding.
    assert metrics[metric_names.WITHIN_CLASS_DIVERSITY] == pytest.approx(0.0, abs=1e-6)
    assert metrics[metric_names.CLASS_ENTROPY] == pytest.approx(np.log(10), abs=0.25)


def test_evaluator_same_seed_same_metrics(evaluator):
    generate = _generate_with(_tiny_generator(10))
    first = evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=3)
    second = evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=3)
    assert first == second


def test_evaluator_different_seed_different_fid(evaluator):
    generate = _generate_with(_tiny_generator(10))
    first = evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=3)
    second = evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=4)
    assert first[metric_names.FID] != second[metric_names.FID]


def test_evaluator_untrained_generator_scores_worse_than_real(evaluator, mnist_5k):
    untrained = evaluator.evaluate(_generate_with(_tiny_generator(10)), samples_per_class=FEATURE_DIM + 1, seed=0)
    real = evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=FEATURE_DIM + 1, seed=0)
    assert untrained[metric_names.FID] > 10.0 * real[metric_names.FID]


def test_evaluator_generates_class_balanced_labels(evaluator):
    received = []

    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        received.append((labels.copy(), seed))
        return np.zeros((len(labels), *IMAGE_SHAPE), np.float32) + np.linspace(-1, 1, len(labels))[:, None, None, None]

    evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=11)
    labels, seed = received[0]
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, FEATURE_DIM + 1))
    assert seed == 11


# ---------------------------------------------------------------------- pickling


def test_evaluator_pickle_round_trip_same_metrics(evaluator, mnist_5k):
    generate = _real_image_generator(mnist_5k)
    before = evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=2)
    restored = pickle.loads(pickle.dumps(evaluator))
    assert restored.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=2) == before
    assert restored.fingerprint == evaluator.fingerprint


def test_evaluator_state_holds_no_keras_objects(evaluator):
    state = evaluator.__getstate__()
    assert state["_extractor"] is None
    assert all(isinstance(weight, np.ndarray) for weight in state["weights"])


def test_evaluator_unpickles_in_fresh_process_without_cache(evaluator, tmp_path):
    # A fresh interpreter with an empty cache folder stands for a Ray worker on another node.
    path = tmp_path / "evaluator.pkl"
    path.write_bytes(pickle.dumps(evaluator))
    script = (
        "import pickle, sys, numpy as np\n"
        f"evaluator = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        "print(evaluator.fingerprint, evaluator.classify(np.zeros((2, 28, 28, 1), np.float32)).shape)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"ACGAN_SEARCH_CACHE": str(tmp_path / "empty"), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [evaluator.fingerprint, "(2,)"]
    assert not (tmp_path / "empty").exists()


# ---------------------------------------------------------------------- errors


def test_evaluator_default_sample_count_limited_by_real_data(evaluator):
    # mnist-5k has 400 training images per class: two disjoint real sets of 200.
    assert evaluator.default_samples_per_class == 200


def test_evaluator_default_sample_count_used(evaluator, mnist_5k):
    metrics = evaluator.evaluate(_real_image_generator_with_replacement(mnist_5k), seed=0)
    assert metrics[metric_names.EVAL_SAMPLES] == 2000


def test_evaluator_rejects_too_few_samples_per_class(evaluator, mnist_5k):
    with pytest.raises(EvaluationError, match=f"more samples than feature dimensions.*samples={FEATURE_DIM}"):
        evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=FEATURE_DIM, seed=0)


def test_evaluator_rejects_more_samples_than_real_data(evaluator, mnist_5k):
    with pytest.raises(EvaluationError, match=r"limited by the real data.*samples_per_class=201, maximum=200"):
        evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=201, seed=0)


@pytest.mark.parametrize("samples_per_class", [None, FEATURE_DIM + 1])
def test_evaluator_small_dataset_names_missing_images(tmp_path, samples_per_class):
    dataset = _two_shape_dataset(train_per_class=48)
    small = Evaluator.for_dataset(dataset, seed=0, cache_dir=tmp_path)
    message = rf"too few training images per class for FID.*at least {2 * (FEATURE_DIM + 1)}.*smallest class=48"
    with pytest.raises(EvaluationError, match=message):
        small.evaluate(_real_image_generator(dataset), samples_per_class=samples_per_class, seed=0)


def test_evaluator_rejects_non_integer_samples_per_class(evaluator, mnist_5k):
    with pytest.raises(EvaluationError, match=r"must be an int.*samples_per_class=100\.0"):
        evaluator.evaluate(_real_image_generator(mnist_5k), samples_per_class=100.0, seed=0)


def test_evaluator_rejects_nan_images(evaluator):
    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        return np.full((len(labels), *IMAGE_SHAPE), np.nan, np.float32)

    with pytest.raises(EvaluationError, match="NaN or infinite"):
        evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=0)


def test_evaluator_rejects_wrong_image_shape(evaluator):
    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        return np.zeros((len(labels), 32, 32, 1), np.float32)

    with pytest.raises(EvaluationError, match=r"shape \(N, 28, 28, 1\)"):
        evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=0)


def test_evaluator_rejects_wrong_image_count(evaluator):
    def generate(labels: np.ndarray, seed: int) -> np.ndarray:
        return np.zeros((len(labels) - 1, *IMAGE_SHAPE), np.float32)

    with pytest.raises(EvaluationError, match="one image per label.*labels=650"):
        evaluator.evaluate(generate, samples_per_class=FEATURE_DIM + 1, seed=0)


def test_evaluator_rejects_unbalanced_labels(evaluator, mnist_5k):
    labels = np.asarray(mnist_5k.y_test)
    keep = np.ones(len(labels), bool)
    keep[np.flatnonzero(labels == 3)[:5]] = False
    with pytest.raises(EvaluationError, match="same number of images for every class"):
        evaluator.evaluate_images(mnist_5k.x_test[keep], labels[keep])


def test_evaluator_rejects_labels_out_of_range(evaluator, mnist_5k):
    with pytest.raises(EvaluationError, match=r"lie in \[0, 10\)"):
        evaluator.evaluate_images(mnist_5k.x_test, np.asarray(mnist_5k.y_test) + 1)


# ---------------------------------------------------------------------- fashion-mnist


@pytest.mark.slow
def test_evaluator_meets_fashion_mnist_floor():
    # Trains on 60,000 images the first time (about ten minutes on 2 CPU cores), then loads
    # from the cache.
    dataset = load_dataset(TrainConfig(dataset="fashion-mnist"))
    evaluator = Evaluator.for_dataset(dataset, seed=0)
    assert evaluator.heldout_accuracy >= ACCURACY_FLOORS["fashion-mnist"]
