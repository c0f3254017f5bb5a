"""Fréchet Inception Distance (FID) on arbitrary feature vectors, computed in float64.

The chain is ``features_to_statistics`` (mean and covariance) then ``frechet_distance`` (the
distance between two Gaussians with those statistics); ``fid_from_features`` runs both.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from acgan_search.errors import EvaluationError


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
    """Mean and covariance of a set of feature vectors, both float64.

    Attributes:
        mean: Shape (D,).
        covariance: Shape (D, D), unbiased (divided by N - 1).
        count: Number of feature vectors N they were computed from.
    """

    mean: np.ndarray
    covariance: np.ndarray
    count: int


def check_sample_count(count: int, dimension: int, *, name: str = "features") -> None:
    """Raise EvaluationError unless there are more samples than feature dimensions.

    With N samples the covariance has rank at most N - 1, so N > D is the least that can give a
    full-rank D x D covariance. Fewer samples make FID a number without meaning.
    """
    if count <= dimension:
        raise EvaluationError(
            f"FID needs more samples than feature dimensions, or the covariance of {name} is "
            f"rank-deficient. Received: samples={count}, feature_dimensions={dimension}. "
            f"Use at least {dimension + 1} samples (per class for intra-class FID)."
        )


def features_to_statistics(features: np.ndarray, *, name: str = "features") -> FeatureStatistics:
    """Compute the float64 mean and unbiased covariance of feature vectors.

    Args:
        features: Array of shape (N, D).
        name: What the features are, used in error messages.

    Raises:
        EvaluationError: The array is not 2-D, contains non-finite values, or N <= D.
    """
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise EvaluationError(f"{name} must be a 2-D array (samples, dimensions). Received: shape={array.shape}")
    if not np.isfinite(array).all():
        raise EvaluationError(f"{name} contain NaN or infinite values. Received: shape={array.shape}")
    check_sample_count(array.shape[0], array.shape[1], name=name)
    mean = array.mean(axis=0)
    centred = array - mean
    covariance = centred.T @ centred / (array.shape[0] - 1)
    return FeatureStatistics(mean=mean, covariance=covariance, count=int(array.shape[0]))


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    # Square root of a symmetric positive semi-definite matrix through its eigendecomposition.
    # Eigenvalues below zero are rounding error and are clipped.
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def trace_sqrt_product(covariance_1: np.ndarray, covariance_2: np.ndarray) -> float:
    """Return tr(sqrt(C1 C2)) for two covariance matrices, without complex arithmetic.

    C1 C2 is similar to sqrt(C1) C2 sqrt(C1), which is symmetric positive semi-definite, so the
    eigenvalues of C1 C2 are the (real, non-negative) eigenvalues of that symmetric matrix and
    tr(sqrt(C1 C2)) is the sum of their square roots.
    """
    sqrt_1 = _symmetric_sqrt(covariance_1)
    product = sqrt_1 @ covariance_2 @ sqrt_1
    product = (product + product.T) / 2.0  # Remove asymmetry from rounding before eigvalsh.
    eigenvalues = np.linalg.eigvalsh(product)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(statistics_1: FeatureStatistics, statistics_2: FeatureStatistics) -> float:
    """Return the Fréchet distance between two Gaussians given by their statistics.

    FID = ||m1 - m2||^2 + tr(C1) + tr(C2) - 2 tr(sqrt(C1 C2)), from Heusel et al., "GANs
    Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017
    (the Fréchet distance between Gaussians of Dowson and Landau, 1982). The result is clipped
    at 0, because rounding can make it slightly negative for identical statistics.

    Raises:
        EvaluationError: The two statistics have different feature dimensions.
    """
    if statistics_1.mean.shape != statistics_2.mean.shape:
        raise EvaluationError(
            "FID compares features of the same extractor, so both sets need the same dimension. "
            f"Received: dimensions={statistics_1.mean.shape[0]} and {statistics_2.mean.shape[0]}"
        )
    difference = statistics_1.mean - statistics_2.mean
    distance = (
        float(difference @ difference)
        + float(np.trace(statistics_1.covariance))
        + float(np.trace(statistics_2.covariance))
        - 2.0 * trace_sqrt_product(statistics_1.covariance, statistics_2.covariance)
    )
    return max(distance, 0.0)


def fid_from_features(features_1: np.ndarray, features_2: np.ndarray) -> float:
    """Return the FID between two sets of feature vectors of shape (N1, D) and (N2, D)."""
    return frechet_distance(
        features_to_statistics(features_1, name="first feature set"),
        features_to_statistics(features_2, name="second feature set"),
    )
