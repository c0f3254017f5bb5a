"""Property tests of FID on feature vectors given directly: no classifier involved."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from acgan_search.errors import EvaluationError
from acgan_search.evaluation.fid import (
    FeatureStatistics,
    features_to_statistics,
    fid_from_features,
    frechet_distance,
    trace_sqrt_product,
)


def _random_covariance(rng: np.random.Generator, dimension: int) -> np.ndarray:
    factor = rng.standard_normal((dimension, dimension))
    return factor @ factor.T / dimension + 0.1 * np.eye(dimension)


def _statistics(mean: np.ndarray, covariance: np.ndarray) -> FeatureStatistics:
    return FeatureStatistics(mean=np.asarray(mean, np.float64), covariance=np.asarray(covariance, np.float64), count=0)


def test_fid_of_features_with_themselves_is_zero():
    features = np.random.default_rng(0).standard_normal((500, 32)) * 3.0 + 1.0
    # The only error is float64 rounding of sums over 32 eigenvalues of magnitude ~10.
    assert fid_from_features(features, features) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_fid_never_negative(seed):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((200, 16))
    nearly_same = features + 1e-9 * rng.standard_normal(features.shape)
    assert fid_from_features(features, nearly_same) >= 0.0


def test_fid_float32_input_computed_in_float64():
    features = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32) * 100.0
    statistics = features_to_statistics(features)
    assert statistics.covariance.dtype == np.float64


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    # For diagonal covariances A and B the matrices commute, and
    # FID = ||m1 - m2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 exactly.
    mean_1, mean_2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    variances_1, variances_2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mean_1 - mean_2) ** 2) + np.sum((np.sqrt(variances_1) - np.sqrt(variances_2)) ** 2)
    distance = frechet_distance(
        _statistics(mean_1, np.diag(variances_1)), _statistics(mean_2, np.diag(variances_2))
    )
    assert distance == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_for_general_covariances():
    rng = np.random.default_rng(2)
    covariance_1 = _random_covariance(rng, 10)
    covariance_2 = _random_covariance(rng, 10)
    mean_1, mean_2 = rng.standard_normal(10), rng.standard_normal(10)
    # Reference: the usual formula with scipy's general matrix square root of C1 C2, whose
    # imaginary part is rounding error for these well-conditioned matrices.
    root = scipy.linalg.sqrtm(covariance_1 @ covariance_2)
    expected = (
        np.sum((mean_1 - mean_2) ** 2) + np.trace(covariance_1) + np.trace(covariance_2) - 2.0 * np.trace(root).real
    )
    distance = frechet_distance(_statistics(mean_1, covariance_1), _statistics(mean_2, covariance_2))
    assert distance == pytest.approx(expected, rel=1e-9)


def test_fid_of_gaussian_samples_matches_closed_form():
    rng = np.random.default_rng(3)
    count = 200_000
    mean_1, mean_2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, -1.0, 0.5])
    scales_1, scales_2 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 1.5])
    samples_1 = mean_1 + scales_1 * rng.standard_normal((count, 3))
    samples_2 = mean_2 + scales_2 * rng.standard_normal((count, 3))
    expected = np.sum((mean_1 - mean_2) ** 2) + np.sum((scales_1 - scales_2) ** 2)  # = 5.25
    # Sampling error of the means and standard deviations at 200,000 samples is ~0.005 per
    # coordinate, which moves the distance by ~0.02; 0.1 leaves room without hiding a wrong
    # formula (dropping the cross term alone would add 2 * sum(scales_1 * scales_2) = 11.5).
    assert fid_from_features(samples_1, samples_2) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_fid_symmetric(seed):
    rng = np.random.default_rng(seed)
    features_1 = rng.standard_normal((400, 24))
    features_2 = rng.standard_normal((300, 24)) @ _random_covariance(rng, 24) + 0.5
    # Both orders compute tr sqrt of similar matrices; they agree to float64 rounding.
    assert fid_from_features(features_1, features_2) == pytest.approx(
        fid_from_features(features_2, features_1), rel=1e-9
    )


def test_trace_sqrt_product_real_for_singular_covariance():
    rng = np.random.default_rng(4)
    low_rank = rng.standard_normal((6, 2))
    singular = low_rank @ low_rank.T  # Rank 2, where scipy.linalg.sqrtm can return complex parts.
    value = trace_sqrt_product(singular, _random_covariance(rng, 6))
    assert isinstance(value, float)
    assert np.isfinite(value)


def test_trace_sqrt_product_of_identity_scalings():
    # tr sqrt((a I)(b I)) = D sqrt(a b).
    assert trace_sqrt_product(4.0 * np.eye(5), 9.0 * np.eye(5)) == pytest.approx(5 * 6.0, rel=1e-12)


def test_fid_rises_with_mean_shift():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((1000, 8))
    distances = [fid_from_features(base, base + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert distances == sorted(distances)


def test_features_to_statistics_rejects_too_few_samples():
    with pytest.raises(EvaluationError, match=r"more samples than feature dimensions.*samples=64, feature_dimensions=64"):
        features_to_statistics(np.zeros((64, 64)))


def test_features_to_statistics_rejects_non_finite_values():
    features = np.ones((100, 4))
    features[3, 1] = np.nan
    with pytest.raises(EvaluationError, match="NaN or infinite"):
        features_to_statistics(features)


def test_features_to_statistics_rejects_wrong_rank():
    with pytest.raises(EvaluationError, match=r"2-D array.*shape=\(10, 2, 2\)"):
        features_to_statistics(np.zeros((10, 2, 2)))


def test_frechet_distance_rejects_dimension_mismatch():
    with pytest.raises(EvaluationError, match="same dimension.*dimensions=3 and 4"):
        frechet_distance(_statistics(np.zeros(3), np.eye(3)), _statistics(np.zeros(4), np.eye(4)))
