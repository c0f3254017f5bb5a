"""Hyperparameter search and scaling harness for AC-GANs on Keras 3, Ray Tune and Optuna."""

__version__ = "0.1.0"
