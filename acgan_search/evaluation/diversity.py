"""Class accuracy and diversity of generated images, from the evaluator's predictions and features."""

from __future__ import annotations

import numpy as np

from acgan_search.errors import EvaluationError


def class_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Return the fraction of samples whose predicted class equals their label."""
    predicted = np.asarray(predicted)
    labels = np.asarray(labels)
    if predicted.shape != labels.shape or predicted.ndim != 1 or predicted.size == 0:
        raise EvaluationError(
            "Predicted classes and labels must be non-empty 1-D arrays of the same length. "
            f"Received: predicted.shape={predicted.shape}, labels.shape={labels.shape}"
        )
    return float(np.mean(predicted == labels))


def class_entropy(predicted: np.ndarray, num_classes: int) -> float:
    """Return the entropy, in nats, of the histogram of predicted classes.

    It is 0 when every sample is predicted as one class and ln(num_classes) when every class
    is predicted equally often.

    Args:
        predicted: Predicted class index of each sample, shape (N,).
        num_classes: Number of classes K.
    """
    predicted = np.asarray(predicted)
    if predicted.ndim != 1 or predicted.size == 0:
        raise EvaluationError(f"Predicted classes must be a non-empty 1-D array. Received: shape={predicted.shape}")
    if predicted.min() < 0 or predicted.max() >= num_classes:
        raise EvaluationError(
            f"Predicted classes must lie in [0, {num_classes}). "
            f"Received: min={predicted.min()}, max={predicted.max()}"
        )
    probabilities = np.bincount(predicted, minlength=num_classes) / predicted.size
    nonzero = probabilities[probabilities > 0]
    return float(-(nonzero * np.log(nonzero)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0.


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Return the mean Euclidean distance over all pairs of distinct feature vectors, in float64.

    Raises:
        EvaluationError: Fewer than two feature vectors.
    """
    array = np.asarray(features, dtype=np.float64)
    count = array.shape[0]
    if array.ndim != 2 or count < 2:
        raise EvaluationError(
            f"A pairwise distance needs at least two feature vectors. Received: shape={array.shape}"
        )
    squared_norms = np.einsum("ij,ij->i", array, array)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * array @ array.T
    distances = np.sqrt(np.clip(squared, 0.0, None))
    upper = np.triu_indices(count, k=1)
    return float(distances[upper].mean())


def diversity_ratio(generated_features: np.ndarray, real_features: np.ndarray) -> float:
    """Return the mean pairwise feature distance of generated samples over that of real ones.

    Computed for the samples of one class, a value near 1 means the generated images vary as
    much as real images of that class. A generator that ignores its noise input gives 0.

    Raises:
        EvaluationError: Either set has fewer than two vectors, or the real set has no spread.
    """
    real_spread = mean_pairwise_distance(real_features)
    if real_spread <= 0.0:
        raise EvaluationError(
            "Real features of a class have no spread, so the diversity ratio is undefined. "
            f"Received: {len(real_features)} identical real feature vectors."
        )
    return mean_pairwise_distance(generated_features) / real_spread
