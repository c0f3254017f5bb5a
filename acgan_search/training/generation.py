"""Batched, compiled image generation from a generator model, reproducible from a seed."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

GENERATION_BATCH_SIZE = 500  # Images per compiled generator call.


def noise_for_seed(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """Return ``count`` standard-normal noise vectors (count, latent_dim) float32 drawn from ``seed``."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)


class GenerateFunction:
    """Callable ``(labels, seed) -> images`` over a generator, compiled once.

    The same labels and seed always give the same images: the noise comes from
    ``noise_for_seed(len(labels), latent_dim, seed)`` and the generator runs in inference mode.
    Images are generated in batches of ``GENERATION_BATCH_SIZE`` by a ``tf.function`` with a
    fixed input signature, so no call retraces and no ``model.predict`` is involved.

    Args:
        generator: Model with inputs ``[noise (N, latent_dim), labels (N,)]``.
    """

    def __init__(self, generator: keras.Model) -> None:
        self.generator = generator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self._generate_batch = tf.function(
            lambda noise, labels: generator([noise, labels], training=False),
            input_signature=[
                tf.TensorSpec([None, self.latent_dim], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    def __call__(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """Generate one image per label.

        Args:
            labels: Class indices, shape (N,).
            seed: Seed of the noise vectors.

        Returns:
            float32 NHWC images in [-1, 1], shape (N, H, W, C).
        """
        labels = np.asarray(labels, dtype=np.int32).reshape(-1)
        noise = noise_for_seed(len(labels), self.latent_dim, seed)
        batches = [
            self._generate_batch(noise[start : start + GENERATION_BATCH_SIZE], labels[start : start + GENERATION_BATCH_SIZE])
            for start in range(0, len(labels), GENERATION_BATCH_SIZE)
        ]
        if not batches:
            shape = tuple(int(dim) for dim in self.generator.outputs[0].shape[1:])
            return np.zeros((0, *shape), np.float32)
        return np.concatenate([batch.numpy() for batch in batches], axis=0).astype(np.float32)
