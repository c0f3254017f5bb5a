"""``Trainer``: the models, optimisers, data and compiled step of one AC-GAN run.

Example:
    >>> trainer = Trainer(TrainConfig(), load_dataset(TrainConfig()))
    >>> metrics = trainer.train(100)          # mean losses over the 100 steps
    >>> images = trainer.generate(np.arange(10), seed=0)
    >>> trainer.save_checkpoint("run/checkpoints/step_000100")
"""

from __future__ import annotations

import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.data import Dataset
from acgan_search.errors import ConfigError
from acgan_search.models import build_discriminator, build_generator
from acgan_search.training import checkpoint
from acgan_search.training.generation import GenerateFunction
from acgan_search.training.grid import save_grid_png
from acgan_search.training.pipeline import RealBatchSampler
from acgan_search.training.step import LOSS_NAMES, ACGANStep, build_optimizers

logger = logging.getLogger(__name__)

# XLA compilation of the training loop.
# TODO: measure with benchmarks/train_step.py; XLA compilation of the whole loop did not
# finish within minutes on 2 busy cores.
JIT_COMPILE = False


class Trainer:
    """Trains one AC-GAN: models, three Adam optimisers, in-graph data sampling, compiled step.

    All randomness of training (batches, noise, labels, smoothing targets, label noise,
    augmentation) comes from one ``tf.random.Generator`` seeded with ``config.seed``. Weight
    initialisation and dropout are seeded from ``config.seed`` through
    ``keras.utils.set_random_seed``, which also seeds Python's, NumPy's and TensorFlow's
    global generators. Two trainers with the same configuration and dataset therefore compute
    the same losses, and a trainer restored with ``from_checkpoint`` continues exactly.

    Args:
        config: Training configuration.
        dataset: Real images; ``dataset.image_shape`` must equal ``config.image_shape``.
        jit_compile: Compile the training loop with XLA.

    Raises:
        ConfigError: The dataset's image shape does not match the configuration, or it has
            fewer than two classes.
    """

    def __init__(self, config: TrainConfig, dataset: Dataset, *, jit_compile: bool = JIT_COMPILE) -> None:
        if tuple(dataset.image_shape) != config.image_shape:
            raise ConfigError(
                f"Dataset {dataset.name!r} has images of shape {tuple(dataset.image_shape)}, but the "
                f"configuration expects image_size={config.image_size}, channels={config.channels}. "
                f"Received: image_shape={tuple(dataset.image_shape)}. Set image_size and channels "
                f"to match the data."
            )
        if dataset.num_classes < 2:
            raise ConfigError(
                f"An AC-GAN needs at least two classes. Received: num_classes={dataset.num_classes} "
                f"for dataset {dataset.name!r}."
            )
        self.config = config
        self.dataset = dataset
        self.num_classes = dataset.num_classes

        keras.utils.set_random_seed(config.seed)
        self.generator = build_generator(config, self.num_classes)
        self.discriminator = build_discriminator(config, self.num_classes)
        self.optimizers = build_optimizers(config)
        try:
            self.sampler = RealBatchSampler(
                dataset.x_train, dataset.y_train, self.num_classes, config.class_balanced_batches
            )
        except ValueError as error:
            raise ConfigError(f"Dataset {dataset.name!r}: {error}") from None
        self.rng = tf.random.Generator.from_seed(config.seed)
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.training_step = ACGANStep(
            config, self.generator, self.discriminator, self.optimizers, self.sampler, self.rng, self.num_classes
        )
        self._run_steps = tf.function(self._run_steps_uncompiled, jit_compile=jit_compile)
        self._generate = GenerateFunction(self.generator)

    # ------------------------------------------------------------------ training

    @property
    def step(self) -> int:
        """Training steps done so far."""
        return int(self._step.numpy())

    def _run_steps_uncompiled(self, count: tf.Tensor) -> tf.Tensor:
        totals = tf.zeros([len(LOSS_NAMES)], tf.float32)
        for _ in tf.range(count):
            losses = self.training_step(self._step)
            totals += tf.stack([tf.cast(losses[name], tf.float32) for name in LOSS_NAMES])
            self._step.assign_add(1)
        return totals

    def train(self, num_steps: int) -> dict[str, float]:
        """Run ``num_steps`` training steps in one compiled call.

        Args:
            num_steps: Number of steps, >= 1.

        Returns:
            The mean of each loss in ``LOSS_NAMES`` over these steps, ``class_weight`` (the
            class-loss weight of the last step run) and ``images_per_second`` (real images
            consumed per second of wall time, including any tracing on the first call).
            Losses are NaN or infinite when training diverged.

        Raises:
            ValueError: ``num_steps`` is less than 1.
        """
        if num_steps < 1:
            raise ValueError(f"train() needs at least one step. Received: num_steps={num_steps}")
        start = time.perf_counter()
        totals = self._run_steps(tf.constant(num_steps, tf.int32)).numpy()
        elapsed = time.perf_counter() - start
        metrics = {name: float(total) / num_steps for name, total in zip(LOSS_NAMES, totals)}
        metrics[metric_names.CLASS_WEIGHT] = self.config.class_weight_at(self.step - 1)
        metrics[metric_names.IMAGES_PER_SECOND] = num_steps * self.config.batch_size / elapsed if elapsed > 0 else math.inf
        return metrics

    # ------------------------------------------------------------------ generation

    def generate(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """Generate one image per label from noise drawn with ``seed``.

        Same labels and seed give the same images (for unchanged weights). See
        ``GenerateFunction``.

        Returns:
            float32 NHWC images in [-1, 1].
        """
        return self._generate(labels, seed)

    def save_sample_grid(self, path: str | os.PathLike) -> None:
        """Save a PNG with one row per class and ``config.grid_columns`` samples per row.

        The noise is fixed (seeded with ``config.seed``), so grids saved at different steps show
        how the same samples evolve.
        """
        columns = self.config.grid_columns
        labels = np.repeat(np.arange(self.num_classes), columns)
        save_grid_png(self.generate(labels, seed=self.config.seed), self.num_classes, columns, path)

    # ------------------------------------------------------------------ checkpoints

    def state_variables(self) -> list[tf.Variable]:
        """Return every variable a checkpoint stores, in a fixed order.

        Model variables come first, including non-trainable ones (spectral-norm vectors, the
        fade weight) and the dropout seed states. Then follow the three optimisers' variables,
        the random generator's state and the step counter.
        """
        variables = list(self.generator.variables) + list(self.discriminator.variables)
        for optimizer in (self.optimizers.generator, self.optimizers.discriminator, self.optimizers.class_head):
            variables += list(optimizer.variables)
        return variables + [self.rng.state, self._step]

    def save_checkpoint(self, directory: str | os.PathLike) -> None:
        """Write everything needed to continue this run exactly into ``directory``.

        Files: ``config.yaml``, ``generator.keras``, ``training_state.npz`` and
        ``state.json``; see ``acgan_search.training.checkpoint``.
        """
        checkpoint.save(self, directory)

    @classmethod
    def from_checkpoint(cls, directory: str | os.PathLike, dataset: Dataset, **kwargs) -> Trainer:
        """Rebuild a trainer from ``save_checkpoint``'s directory, ready to continue training.

        Raises:
            CheckpointError: Files are missing, or the checkpoint does not fit the dataset.
        """
        return checkpoint.restore_trainer(cls, directory, dataset, **kwargs)
