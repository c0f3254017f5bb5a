"""One AC-GAN training step: a discriminator update, then a generator update.

The step is plain TensorFlow on Keras 3 models: each update computes its loss under a
``tf.GradientTape`` and applies the gradients to its own variables only, so no ``trainable``
flags are involved. ``Trainer`` compiles it with ``tf.function``.

Losses (all from logits; ``w`` is the class-loss weight of the step, ``config.class_weight_at``):

    D loss = adversarial_weight * [BCE(D(real), t_real) + BCE(D(fake), 0)]
             + w * [CE(C(real), y_real) + CE(C(fake), y_fake')]     (fake term: class_head_on_generated)
    G loss = adversarial_weight * BCE(D(fake), 1) + w * CE(C(fake), y_fake)
             + feature_matching_weight * ||mean f(real) - mean f(fake)||^2 / F   (feature_matching)

``t_real`` is 1, or drawn from [1 - label_smoothing, 1]; ``y_fake'`` is the sampled label, or a
wrong label for a ``label_noise_fraction`` of the generated samples when ``label_noise`` is on.
With the multi-scale discriminator each term is the mean over the two scales. Feature matching
uses the full-scale shared features. The real means come from the discriminator pass of the same
step (before its update), so it costs no extra forward pass.

The discriminator update runs the discriminator in training mode (dropout on, one spectral-norm
power iteration) on the real and generated batches concatenated. The generator update runs the
discriminator in inference mode: dropout off and no spectral-norm update, so the generator update
changes generator weights only.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.models import discriminator_head_layers, fade_layers
from acgan_search.training.augment import random_affine
from acgan_search.training.pipeline import RealBatchSampler

# Losses the step returns, in this order.
LOSS_NAMES = (
    metric_names.D_LOSS,
    metric_names.D_ADVERSARIAL_LOSS,
    metric_names.D_CLASS_LOSS,
    metric_names.G_LOSS,
    metric_names.G_ADVERSARIAL_LOSS,
    metric_names.G_CLASS_LOSS,
    metric_names.FEATURE_MATCHING_LOSS,
)


def binary_cross_entropy(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))


def class_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def class_weight_schedule(config: TrainConfig, step: tf.Tensor) -> tf.Tensor:
    """Return ``config.class_weight_at(step)`` as a float32 tensor, for a traced step."""
    decays = tf.cast(step // config.class_weight_decay_steps, tf.float32)
    weight = config.class_weight_start * tf.pow(tf.constant(config.class_weight_decay, tf.float32), decays)
    return tf.maximum(tf.constant(config.class_weight_min, tf.float32), weight)


def fade_alpha_at(config: TrainConfig, step: int) -> float:
    """Return the progressive blend weight of full resolution at a step: 0, then a linear ramp to 1."""
    if not config.progressive:
        return 1.0
    return min(max((step - config.progressive_low_res_steps) / config.progressive_fade_steps, 0.0), 1.0)


def _fade_alpha_tensor(config: TrainConfig, step: tf.Tensor) -> tf.Tensor:
    ramp = (tf.cast(step, tf.float32) - config.progressive_low_res_steps) / config.progressive_fade_steps
    return tf.clip_by_value(ramp, 0.0, 1.0)


def blend_half_resolution(images: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """Blend images with their half-resolution version: ``(1 - alpha) * up(down(x)) + alpha * x``.

    The half-resolution version is a 2x2 average pool followed by nearest upsampling, which
    matches the generator's upsampled half-resolution output during the fade.
    """
    low = tf.nn.avg_pool2d(images, 2, 2, "VALID")
    low = tf.repeat(tf.repeat(low, 2, axis=1), 2, axis=2)
    return low + alpha * (images - low)


@dataclasses.dataclass
class Optimizers:
    """The three Adam optimisers: generator, discriminator trunk + real/fake head, class head."""

    generator: keras.optimizers.Optimizer
    discriminator: keras.optimizers.Optimizer
    class_head: keras.optimizers.Optimizer


def build_optimizers(config: TrainConfig) -> Optimizers:
    """Create the three Adam optimisers with the configured learning rates and betas."""

    def adam(learning_rate: float, name: str) -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(learning_rate, beta_1=config.beta1, beta_2=config.beta2, name=name)

    return Optimizers(
        generator=adam(config.generator_lr, "generator_adam"),
        discriminator=adam(config.discriminator_lr, "discriminator_adam"),
        class_head=adam(config.class_head_lr, "class_head_adam"),
    )


class ACGANStep:
    """The AC-GAN update rule over given models, optimisers, data sampler and random generator.

    Args:
        config: Training configuration; its switches select the terms of the losses.
        generator: Model from ``acgan_search.models.build_generator``.
        discriminator: Model from ``acgan_search.models.build_discriminator``.
        optimizers: From ``build_optimizers``; they are built here on their variable groups.
        sampler: Source of real batches.
        rng: Random generator for batches, noise, labels and every random switch.
        num_classes: Number of classes.
    """

    def __init__(
        self,
        config: TrainConfig,
        generator: keras.Model,
        discriminator: keras.Model,
        optimizers: Optimizers,
        sampler: RealBatchSampler,
        rng: tf.random.Generator,
        num_classes: int,
    ) -> None:
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.optimizers = optimizers
        self.sampler = sampler
        self.rng = rng
        self.num_classes = num_classes
        self.scales = 2 if config.multi_scale_discriminator else 1

        # Variable groups: the class heads train with class_head_lr. The shared trunk and the
        # real/fake heads train with discriminator_lr on the gradient of the whole D loss.
        _, class_layers = discriminator_head_layers(discriminator)
        class_ids = {id(v) for layer in class_layers for v in layer.trainable_variables}
        self.class_head_variables = [v for v in discriminator.trainable_variables if id(v) in class_ids]
        self.discriminator_variables = [v for v in discriminator.trainable_variables if id(v) not in class_ids]
        self.generator_variables = list(generator.trainable_variables)
        optimizers.generator.build(self.generator_variables)
        optimizers.discriminator.build(self.discriminator_variables)
        optimizers.class_head.build(self.class_head_variables)
        self.fade_variables = [layer.alpha for layer in fade_layers(generator)]

    # ------------------------------------------------------------------ inputs of one step

    def sample_generator_inputs(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Return noise (B, latent_dim) and uniformly drawn labels (B,) for one generated batch."""
        batch = self.config.batch_size
        noise = self.rng.normal([batch, self.config.latent_dim])
        labels = self.rng.uniform([batch], 0, self.num_classes, dtype=tf.int32)
        return noise, labels

    def sample_real_batch(self, alpha: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Return a real batch as the discriminator receives it: faded and augmented when switched on."""
        images, labels = self.sampler.sample(self.rng, self.config.batch_size)
        if self.config.progressive:
            images = blend_half_resolution(images, alpha)
        if self.config.augment:
            images = self._augment(images)
        return images, labels

    def _augment(self, images: tf.Tensor) -> tf.Tensor:
        return random_affine(
            images, self.rng, self.config.augment_rotation_degrees, self.config.augment_translation_pixels
        )

    def _augment_generated(self, images: tf.Tensor) -> tf.Tensor:
        if self.config.augment and self.config.augment_generated:
            return self._augment(images)
        return images

    def _real_targets(self) -> tf.Tensor:
        batch = self.config.batch_size
        if self.config.label_smoothing > 0.0:
            # One-sided smoothing: only real targets move below 1.
            return self.rng.uniform([batch, 1], 1.0 - self.config.label_smoothing, 1.0)
        return tf.ones([batch, 1])

    def _labels_for_class_loss(self, labels: tf.Tensor) -> tf.Tensor:
        if not self.config.label_noise:
            return labels
        # A wrong label is the true one shifted by 1..C-1 classes, so it never equals the truth.
        noisy = self.rng.uniform(labels.shape) < self.config.label_noise_fraction
        shift = self.rng.uniform(labels.shape, 1, self.num_classes, dtype=tf.int32)
        return tf.where(noisy, (labels + shift) % self.num_classes, labels)

    def _split_scales(self, outputs: list) -> list[tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
        return [tuple(outputs[3 * scale : 3 * scale + 3]) for scale in range(self.scales)]

    # ------------------------------------------------------------------ the two updates

    def discriminator_update(
        self, real: tf.Tensor, real_labels: tf.Tensor, noise: tf.Tensor, fake_labels: tf.Tensor, class_weight: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Update the discriminator on a real and a generated batch; return its losses and real features."""
        config = self.config
        batch = config.batch_size
        fake = self._augment_generated(self.generator([noise, fake_labels], training=True))
        real_targets = self._real_targets()
        fake_class_labels = self._labels_for_class_loss(fake_labels)

        with tf.GradientTape() as tape:
            outputs = self.discriminator(tf.concat([real, fake], axis=0), training=True)
            adversarial_loss = 0.0
            class_loss = 0.0
            for logits, class_logits, _ in self._split_scales(outputs):
                adversarial_loss += binary_cross_entropy(real_targets, logits[:batch])
                adversarial_loss += binary_cross_entropy(tf.zeros_like(real_targets), logits[batch:])
                class_loss += class_cross_entropy(real_labels, class_logits[:batch])
                if config.class_head_on_generated:
                    class_loss += class_cross_entropy(fake_class_labels, class_logits[batch:])
            adversarial_loss /= self.scales
            class_loss /= self.scales
            loss = config.adversarial_weight * adversarial_loss + class_weight * class_loss

        variables = self.discriminator_variables + self.class_head_variables
        gradients = tape.gradient(loss, variables)
        split = len(self.discriminator_variables)
        self.optimizers.discriminator.apply_gradients(zip(gradients[:split], self.discriminator_variables))
        self.optimizers.class_head.apply_gradients(zip(gradients[split:], self.class_head_variables))
        return {
            metric_names.D_LOSS: loss,
            metric_names.D_ADVERSARIAL_LOSS: adversarial_loss,
            metric_names.D_CLASS_LOSS: class_loss,
            "real_features": tf.stop_gradient(outputs[2][:batch]),
        }

    def generator_update(
        self, noise: tf.Tensor, labels: tf.Tensor, real_features: tf.Tensor, class_weight: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Update the generator through the inference-mode discriminator; return its losses."""
        config = self.config
        with tf.GradientTape() as tape:
            fake = self._augment_generated(self.generator([noise, labels], training=True))
            outputs = self.discriminator(fake, training=False)
            adversarial_loss = 0.0
            class_loss = 0.0
            for logits, class_logits, _ in self._split_scales(outputs):
                adversarial_loss += binary_cross_entropy(tf.ones_like(logits), logits)
                class_loss += class_cross_entropy(labels, class_logits)
            adversarial_loss /= self.scales
            class_loss /= self.scales
            feature_gap = tf.reduce_mean(real_features, axis=0) - tf.reduce_mean(outputs[2], axis=0)
            feature_matching_loss = tf.reduce_mean(tf.square(feature_gap))
            loss = config.adversarial_weight * adversarial_loss + class_weight * class_loss
            if config.feature_matching:
                loss += config.feature_matching_weight * feature_matching_loss

        gradients = tape.gradient(loss, self.generator_variables)
        self.optimizers.generator.apply_gradients(zip(gradients, self.generator_variables))
        return {
            metric_names.G_LOSS: loss,
            metric_names.G_ADVERSARIAL_LOSS: adversarial_loss,
            metric_names.G_CLASS_LOSS: class_loss,
            metric_names.FEATURE_MATCHING_LOSS: feature_matching_loss,
        }

    def __call__(self, step: tf.Tensor) -> dict[str, tf.Tensor]:
        """Run one full training step at step index ``step``; return the losses of ``LOSS_NAMES``."""
        class_weight = class_weight_schedule(self.config, step)
        alpha = _fade_alpha_tensor(self.config, step)
        for variable in self.fade_variables:
            variable.assign(alpha)

        # 1. Train the discriminator on a real batch and a generated batch.
        real, real_labels = self.sample_real_batch(alpha)
        noise, fake_labels = self.sample_generator_inputs()
        d_losses = self.discriminator_update(real, real_labels, noise, fake_labels, class_weight)

        # 2. Train the generator on fresh noise and labels, the discriminator fixed.
        noise, fake_labels = self.sample_generator_inputs()
        g_losses = self.generator_update(noise, fake_labels, d_losses["real_features"], class_weight)
        losses = {**d_losses, **g_losses}
        return {name: losses[name] for name in LOSS_NAMES}
