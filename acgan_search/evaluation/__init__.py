"""Evaluation of generated images with an independent classifier: FID, intra-class FID, class
accuracy and diversity. It imports nothing from training: it scores any ``generate(labels, seed)`` callable.
"""

from acgan_search.evaluation.evaluator import ACCURACY_FLOORS, DEFAULT_SAMPLES_PER_CLASS, Evaluator
from acgan_search.evaluation.fid import FeatureStatistics, features_to_statistics, fid_from_features, frechet_distance
from acgan_search.evaluation.preprocessing import preprocess_images

__all__ = [
    "ACCURACY_FLOORS",
    "DEFAULT_SAMPLES_PER_CLASS",
    "Evaluator",
    "FeatureStatistics",
    "features_to_statistics",
    "fid_from_features",
    "frechet_distance",
    "preprocess_images",
]
