"""``Evaluator``: scores a conditional generator against real data with an independent classifier.

Example:
    >>> evaluator = Evaluator.for_dataset(dataset, seed=0)
    >>> metrics = evaluator.evaluate(trainer.generate, samples_per_class=200, seed=1)
    >>> metrics[metric_names.FID], metrics[metric_names.FID_REAL_FLOOR]
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from typing import Any, Callable

import numpy as np

from acgan_search import metric_names
from acgan_search.data import Dataset
from acgan_search.errors import EvaluationError
from acgan_search.evaluation import cache
from acgan_search.evaluation.classifier import (
    ARCHITECTURE_VERSION,
    FEATURE_DIM,
    FeatureExtractor,
    build_classifier,
    train_classifier,
)
from acgan_search.evaluation.diversity import class_accuracy, class_entropy, diversity_ratio
from acgan_search.evaluation.fid import (
    FeatureStatistics,
    check_sample_count,
    features_to_statistics,
    frechet_distance,
)
from acgan_search.evaluation.preprocessing import preprocess_images

logger = logging.getLogger(__name__)

# Minimum accuracy of the evaluator classifier on held-out real images, per dataset. Datasets
# without an entry (image folders) have no floor unless the caller gives one.
ACCURACY_FLOORS = {"mnist-5k": 0.97, "mnist": 0.99, "fashion-mnist": 0.90}

# Generated images per class in one evaluation. Where the real data has fewer than twice as
# many training images per class, the default drops to half the smallest class (200 on
# mnist-5k). docs/evaluation.md explains the choice.
DEFAULT_SAMPLES_PER_CLASS = 500

GenerateFn = Callable[[np.ndarray, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class _RealReference:
    # Statistics of the real reference set (samples_per_class images of each class) and the
    # real-versus-real floors, computed against a second, disjoint real set of the same size.
    overall: FeatureStatistics
    per_class: list[FeatureStatistics]
    per_class_spread_features: list[np.ndarray]
    fid_floor: float
    intra_fid_floor: float


class Evaluator:
    """Independent classifier plus cached real-data statistics, scoring generated images.

    Build it with ``Evaluator.for_dataset``. It pickles to plain numpy arrays and settings, so
    Ray can place it in the object store and rebuild it on another node without files or
    retraining. The Keras model is rebuilt from the weights on first use.

    Attributes:
        fingerprint: Hex digest of the architecture version and the classifier weights. FID
            values are comparable only between evaluations with the same fingerprint.
        heldout_accuracy: Classifier accuracy on the dataset's held-out real images.
        dataset_name: Name of the dataset the classifier was trained on.
        num_classes: Number of classes K.
        image_shape: (height, width, channels) of the images.
        seed: Seed of the classifier training and of the choice of real reference images.
    """

    def __init__(
        self,
        *,
        weights: list[np.ndarray],
        heldout_accuracy: float,
        dataset_name: str,
        num_classes: int,
        image_shape: tuple[int, int, int],
        seed: int,
        real_features: np.ndarray,
        real_labels: np.ndarray,
    ) -> None:
        self.weights = [np.asarray(weight) for weight in weights]
        self.heldout_accuracy = float(heldout_accuracy)
        self.dataset_name = dataset_name
        self.num_classes = int(num_classes)
        self.image_shape = tuple(int(side) for side in image_shape)
        self.seed = int(seed)
        self.real_features = np.asarray(real_features, dtype=np.float32)
        self.real_labels = np.asarray(real_labels, dtype=np.int32)
        self.fingerprint = _weights_fingerprint(self.weights)
        self._references: dict[int, _RealReference] = {}
        self._extractor: FeatureExtractor | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def for_dataset(
        cls,
        dataset: Dataset,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        min_accuracy: float | None = None,
    ) -> Evaluator:
        """Load the cached evaluator classifier of a dataset, or train and cache it.

        The cache entry is keyed by ``dataset.fingerprint()``, ``ARCHITECTURE_VERSION`` and
        ``seed``, so the classifier is retrained only when one of them changes.

        Args:
            dataset: Real data; the classifier trains on its training split and is scored on
                its test split.
            seed: Seeds the classifier training and the choice of real reference images.
            cache_dir: Cache folder; see ``cache.cache_root`` for the default.
            min_accuracy: Held-out accuracy floor; None takes ``ACCURACY_FLOORS[dataset.name]``
                (no floor for datasets without an entry).

        Raises:
            EvaluationError: The classifier's held-out accuracy is below the floor.
        """
        floor = ACCURACY_FLOORS.get(dataset.name, 0.0) if min_accuracy is None else min_accuracy
        root = cache.cache_root(cache_dir)
        dataset_fingerprint = dataset.fingerprint()
        key = cache.cache_key(dataset_fingerprint, ARCHITECTURE_VERSION, seed)
        with cache.entry_lock(root, key):
            entry = cache.load_entry(root, key)
            if entry is None:
                model = train_classifier(dataset.x_train, dataset.y_train, dataset.num_classes, seed)
                extractor = FeatureExtractor(model)
                weights = model.get_weights()
                heldout_accuracy = _accuracy(extractor, dataset.x_test, dataset.y_test)
                real_features, _ = extractor.features_and_logits(
                    preprocess_images(dataset.x_train, dataset.image_shape, name="real training images")
                )
                metadata = {
                    "architecture_version": ARCHITECTURE_VERSION,
                    "dataset": dataset.name,
                    "dataset_fingerprint": dataset_fingerprint,
                    "seed": seed,
                    "heldout_accuracy": heldout_accuracy,
                    "fingerprint": _weights_fingerprint(weights),
                }
                cache.save_entry(root, key, weights, real_features, metadata)
            else:
                weights, real_features, metadata = entry
                heldout_accuracy = float(metadata["heldout_accuracy"])
                logger.info("Loaded evaluator classifier %s from %s", metadata["fingerprint"], root / key)
        if heldout_accuracy < floor:
            raise EvaluationError(
                f"Evaluator classifier for dataset {dataset.name!r} is below its accuracy floor on "
                f"held-out real images, so its metrics cannot be trusted. Received: "
                f"heldout_accuracy={heldout_accuracy:.4f}, floor={floor:.4f}. Change the "
                f"architecture in acgan_search/evaluation/classifier.py (and its version) or the seed."
            )
        if len(real_features) != len(dataset.y_train):
            raise EvaluationError(
                f"Cached evaluator entry {root / key} has features of {len(real_features)} real images, "
                f"but dataset {dataset.name!r} has {len(dataset.y_train)} training images. "
                "Delete that folder to retrain the classifier."
            )
        evaluator = cls(
            weights=weights,
            heldout_accuracy=heldout_accuracy,
            dataset_name=dataset.name,
            num_classes=dataset.num_classes,
            image_shape=dataset.image_shape,
            seed=seed,
            real_features=real_features,
            real_labels=dataset.y_train,
        )
        if evaluator.max_samples_per_class() > FEATURE_DIM:
            # Reference statistics at the default count travel with the pickled evaluator, so
            # Ray workers do not each recompute them.
            evaluator.real_floors()
        logger.info(
            "Evaluator %s ready: dataset %s, held-out accuracy %.4f",
            evaluator.fingerprint, dataset.name, heldout_accuracy,
        )
        return evaluator

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_extractor"] = None  # Holds a Keras model and a traced function; rebuilt lazily.
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ inference

    def preprocess(self, images: np.ndarray, *, name: str = "images") -> np.ndarray:
        """Validate, clip and quantise images: the one preprocessing of real and generated images."""
        return preprocess_images(images, self.image_shape, name=name)

    def features_and_logits(self, images: np.ndarray, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the penultimate features (N, FEATURE_DIM) and class logits (N, K) of images.

        Images pass through ``preprocess`` first. ``batch_size`` changes speed only.
        """
        extractor = self._extractor_instance()
        images = self.preprocess(images)
        if batch_size is None:
            return extractor.features_and_logits(images)
        return extractor.features_and_logits(images, batch_size=batch_size)

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Return the predicted class of each image, shape (N,)."""
        _, logits = self.features_and_logits(images)
        return logits.argmax(axis=1).astype(np.int32)

    def _extractor_instance(self) -> FeatureExtractor:
        if self._extractor is None:
            model = build_classifier(self.image_shape, self.num_classes, self.seed)
            model.set_weights(self.weights)
            self._extractor = FeatureExtractor(model)
        return self._extractor

    # ------------------------------------------------------------------ metrics

    def evaluate(
        self,
        generate: GenerateFn,
        samples_per_class: int | None = None,
        seed: int = 0,
    ) -> dict[str, float]:
        """Generate class-balanced images and score them.

        Args:
            generate: ``generate(labels, seed)`` returning float images in [-1, 1] of the
                dataset's image shape, one per label.
            samples_per_class: Images generated per class; must exceed ``FEATURE_DIM`` and be
                at most half the real training images of the smallest class. None takes
                ``default_samples_per_class``.
            seed: Passed to ``generate``; the same seed gives the same metrics.

        Returns:
            Metrics keyed by ``acgan_search.metric_names`` (see ``evaluate_images``).

        Raises:
            EvaluationError: Too few or too many samples per class, or generated images of the
                wrong shape or count, or with NaN values.
        """
        if samples_per_class is None:
            samples_per_class = self.default_samples_per_class
        self._check_samples_per_class(samples_per_class)
        labels = np.repeat(np.arange(self.num_classes, dtype=np.int32), samples_per_class)
        images = generate(labels, seed)
        if not isinstance(images, np.ndarray) or len(images) != len(labels):
            received = images.shape if isinstance(images, np.ndarray) else type(images).__name__
            raise EvaluationError(
                f"generate(labels, seed) must return a numpy array with one image per label. "
                f"Received: labels={len(labels)}, output={received}"
            )
        return self.evaluate_images(images, labels)

    def evaluate_images(self, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Score images, each labelled with the class it was generated for.

        Every class must have the same number of images, more than ``FEATURE_DIM``.

        Returns:
            ``FID``: FID of all images against the real reference set (the same count per class).
            ``FID_REAL_FLOOR``: FID between the real reference set and a disjoint real set of
            the same size, the value a perfect generator would get on average.
            ``INTRA_FID`` and ``INTRA_FID_PREFIX + k``: FID of class k's images against class
            k's real reference images, and their mean over classes.
            ``INTRA_FID_REAL_FLOOR``: mean over classes of the per-class real-versus-real FID.
            ``CLASS_ACCURACY`` and ``CLASS_ACCURACY_PREFIX + k``: fraction of images the
            classifier assigns to the class they were generated for.
            ``CLASS_ENTROPY``: entropy in nats of the histogram of predicted classes.
            ``WITHIN_CLASS_DIVERSITY``: mean over classes of the mean pairwise feature distance
            of generated images over that of real reference images (1 is real-like, 0 is one
            image per class).
            ``EVALUATOR_ACCURACY``: held-out accuracy of the classifier.
            ``EVAL_SAMPLES``: number of images scored.
        """
        labels = np.asarray(labels)
        samples_per_class = self._balanced_count(labels)
        features, logits = self.features_and_logits(images)
        predicted = logits.argmax(axis=1)
        reference = self._reference(samples_per_class)

        metrics: dict[str, float] = {
            metric_names.FID: frechet_distance(features_to_statistics(features), reference.overall),
            metric_names.FID_REAL_FLOOR: reference.fid_floor,
        }
        intra_fids = []
        for k in range(self.num_classes):
            in_class = labels == k
            intra_fids.append(
                frechet_distance(features_to_statistics(features[in_class], name=f"class {k}"), reference.per_class[k])
            )
            metrics[f"{metric_names.INTRA_FID_PREFIX}{k}"] = intra_fids[-1]
        metrics[metric_names.INTRA_FID] = float(np.mean(intra_fids))
        metrics[metric_names.INTRA_FID_REAL_FLOOR] = reference.intra_fid_floor

        metrics[metric_names.CLASS_ACCURACY] = class_accuracy(predicted, labels)
        for k in range(self.num_classes):
            in_class = labels == k
            metrics[f"{metric_names.CLASS_ACCURACY_PREFIX}{k}"] = class_accuracy(predicted[in_class], labels[in_class])
        metrics[metric_names.CLASS_ENTROPY] = class_entropy(predicted, self.num_classes)
        metrics[metric_names.WITHIN_CLASS_DIVERSITY] = float(
            np.mean(
                [
                    diversity_ratio(features[labels == k], reference.per_class_spread_features[k])
                    for k in range(self.num_classes)
                ]
            )
        )
        metrics[metric_names.EVALUATOR_ACCURACY] = self.heldout_accuracy
        metrics[metric_names.EVAL_SAMPLES] = float(len(labels))
        return metrics

    def real_floors(self, samples_per_class: int | None = None) -> dict[str, float]:
        """Return the real-versus-real FID and mean intra-class FID at a number of images per class.

        These are the values a generator that samples the real distribution exactly would get on
        average, from sampling noise alone. ``evaluate`` reports them beside FID and intra-FID.
        None takes ``default_samples_per_class``.
        """
        if samples_per_class is None:
            samples_per_class = self.default_samples_per_class
        self._check_samples_per_class(samples_per_class)
        reference = self._reference(samples_per_class)
        return {
            metric_names.FID_REAL_FLOOR: reference.fid_floor,
            metric_names.INTRA_FID_REAL_FLOOR: reference.intra_fid_floor,
        }

    @property
    def default_samples_per_class(self) -> int:
        """Images per class used when none is given: ``DEFAULT_SAMPLES_PER_CLASS`` or fewer if
        the real data cannot supply two disjoint sets of that size."""
        return min(DEFAULT_SAMPLES_PER_CLASS, self.max_samples_per_class())

    def max_samples_per_class(self) -> int:
        """Return the largest samples_per_class the real data supports (half the smallest class)."""
        counts = np.bincount(self.real_labels, minlength=self.num_classes)
        return int(counts.min() // 2)

    def _check_samples_per_class(self, samples_per_class: int) -> None:
        if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, (int, np.integer)):
            raise EvaluationError(
                f"samples_per_class must be an int. Received: samples_per_class={samples_per_class!r}"
            )
        largest = self.max_samples_per_class()
        if largest <= FEATURE_DIM:
            # No samples_per_class can work, so the error names the missing training images.
            smallest = int(np.bincount(self.real_labels, minlength=self.num_classes).min())
            raise EvaluationError(
                f"Dataset {self.dataset_name!r} has too few training images per class for FID. "
                f"Intra-class FID needs more than {FEATURE_DIM} images of each class, in two "
                f"disjoint real sets. That takes at least {2 * (FEATURE_DIM + 1)} training images "
                f"of every class. Received: smallest class={smallest} images. Add images to the "
                f"small classes."
            )
        check_sample_count(samples_per_class, FEATURE_DIM, name="the images of one class")
        if samples_per_class > largest:
            raise EvaluationError(
                f"samples_per_class is limited by the real data: the real reference set and the "
                f"disjoint real set of the noise floor each need that many real training images "
                f"of every class. Received: samples_per_class={samples_per_class}, "
                f"maximum={largest} for dataset {self.dataset_name!r}. Use at most {largest}."
            )

    def _balanced_count(self, labels: np.ndarray) -> int:
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise EvaluationError(
                f"labels must be a 1-D integer array. Received: shape={labels.shape}, dtype={labels.dtype}"
            )
        if labels.size == 0 or labels.min() < 0 or labels.max() >= self.num_classes:
            raise EvaluationError(
                f"labels must lie in [0, {self.num_classes}). Received: "
                f"min={labels.min() if labels.size else None}, max={labels.max() if labels.size else None}"
            )
        counts = np.bincount(labels, minlength=self.num_classes)
        if counts.min() != counts.max():
            raise EvaluationError(
                "Evaluation needs the same number of images for every class, so FID is not "
                f"skewed by the class mix. Received: images per class={counts.tolist()}"
            )
        samples_per_class = int(counts[0])
        self._check_samples_per_class(samples_per_class)
        return samples_per_class

    def _reference(self, samples_per_class: int) -> _RealReference:
        # Real reference set A and noise-floor set B: for each class, a fixed random order of
        # its real training images (seeded by the evaluator's seed) gives A as the first
        # samples_per_class images and B as the next samples_per_class.
        if samples_per_class in self._references:
            return self._references[samples_per_class]
        rng = np.random.default_rng(self.seed)
        set_a, set_b = [], []
        for k in range(self.num_classes):
            members = rng.permutation(np.flatnonzero(self.real_labels == k))
            set_a.append(self.real_features[members[:samples_per_class]])
            set_b.append(self.real_features[members[samples_per_class : 2 * samples_per_class]])
        per_class_a = [features_to_statistics(features, name=f"real class {k}") for k, features in enumerate(set_a)]
        per_class_b = [features_to_statistics(features, name=f"real class {k}") for k, features in enumerate(set_b)]
        overall_a = features_to_statistics(np.concatenate(set_a), name="real reference features")
        overall_b = features_to_statistics(np.concatenate(set_b), name="real floor features")
        reference = _RealReference(
            overall=overall_a,
            per_class=per_class_a,
            per_class_spread_features=set_a,
            fid_floor=frechet_distance(overall_a, overall_b),
            intra_fid_floor=float(np.mean([frechet_distance(a, b) for a, b in zip(per_class_a, per_class_b)])),
        )
        self._references[samples_per_class] = reference
        return reference


def _accuracy(extractor: FeatureExtractor, images: np.ndarray, labels: np.ndarray) -> float:
    _, logits = extractor.features_and_logits(
        preprocess_images(images, tuple(images.shape[1:]), name="held-out real images")
    )
    return class_accuracy(logits.argmax(axis=1), np.asarray(labels))


def _weights_fingerprint(weights: list[np.ndarray]) -> str:
    digest = hashlib.sha256(ARCHITECTURE_VERSION.encode())
    for weight in weights:
        array = np.ascontiguousarray(weight)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]
