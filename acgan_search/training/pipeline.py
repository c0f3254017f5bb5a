"""Real-batch sampling inside the compiled training step.

The training images stay in memory as one TensorFlow variable, and each step draws its batch
indices from a ``tf.random.Generator``. No Python or ``tf.data`` work runs per step, and the
generator's state is part of the checkpoint, so a resumed run draws the same batches.
Batches are drawn with replacement (uniformly, or class-balanced), not by epochs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class RealBatchSampler:
    """Draws batches of real images and labels from a training set held as tensors.

    Args:
        images: Training images, float32 NHWC in [-1, 1].
        labels: Integer labels in [0, num_classes).
        num_classes: Number of classes; every class must have at least one image when
            ``class_balanced`` is on.
        class_balanced: Draw every class equally often in each batch: ``batch_size //
            num_classes`` images of each class, and the remainder from distinct classes
            chosen at random.

    Raises:
        ValueError: A class has no image while ``class_balanced`` is on.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int, class_balanced: bool) -> None:
        self.num_classes = num_classes
        self.class_balanced = class_balanced
        self.size = len(labels)
        # Variables rather than constants keep large training sets out of the traced graph.
        self.images = tf.Variable(np.asarray(images, np.float32), trainable=False, name="train_images")
        self.labels = tf.Variable(np.asarray(labels, np.int32), trainable=False, name="train_labels")
        if class_balanced:
            counts = np.bincount(labels, minlength=num_classes)
            if counts.min() == 0:
                empty = np.flatnonzero(counts == 0).tolist()
                raise ValueError(
                    f"Class-balanced batches need at least one training image per class. "
                    f"Received: classes without images={empty}. Turn class_balanced_batches off "
                    f"or use a dataset with every class."
                )
            # Row c contains the indices of class c, padded with its first index to a common length.
            table = np.zeros((num_classes, counts.max()), np.int32)
            for label in range(num_classes):
                members = np.flatnonzero(labels == label)
                table[label, : len(members)] = members
                table[label, len(members) :] = members[0]
            self.class_indices = tf.constant(table)
            self.class_counts = tf.constant(counts.astype(np.float32))

    def sample(self, rng: tf.random.Generator, batch_size: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Return a batch (images (B, H, W, C), labels (B,)) drawn with ``rng``."""
        if self.class_balanced:
            indices = self._balanced_indices(rng, batch_size)
        else:
            indices = rng.uniform([batch_size], 0, self.size, dtype=tf.int32)
        return tf.gather(self.images, indices), tf.gather(self.labels, indices)

    def _balanced_indices(self, rng: tf.random.Generator, batch_size: int) -> tf.Tensor:
        repeats, remainder = divmod(batch_size, self.num_classes)
        classes = tf.tile(tf.range(self.num_classes, dtype=tf.int32), [repeats])
        if remainder:
            # Distinct random classes for the remainder: the first entries of a random permutation.
            scores = rng.uniform([self.num_classes])
            extra = tf.cast(tf.argsort(scores)[:remainder], tf.int32)
            classes = tf.concat([classes, extra], axis=0)
        position = tf.floor(rng.uniform([batch_size]) * tf.gather(self.class_counts, classes))
        position = tf.minimum(tf.cast(position, tf.int32), tf.cast(tf.gather(self.class_counts, classes), tf.int32) - 1)
        return tf.gather_nd(self.class_indices, tf.stack([classes, position], axis=1))
