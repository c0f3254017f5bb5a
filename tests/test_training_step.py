"""Tests of the AC-GAN training step and of every switch of TrainConfig.

Models are shrunk (latent 8, a few filters, batch 20) so each trainer builds and traces in
seconds on a CPU.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.data import Dataset, load_mnist_5k
from acgan_search.models import SelfAttention
from acgan_search.training import Trainer
from acgan_search.training.augment import affine_transform, random_affine
from acgan_search.training.pipeline import RealBatchSampler
from acgan_search.training.step import LOSS_NAMES, blend_half_resolution, class_weight_schedule

TINY = {
    "latent_dim": 8,
    "embedding_dim": 4,
    "generator_filters": 16,
    "discriminator_filters": 8,
    "batch_size": 20,
}

# Each switch with the settings that turn it on.
SWITCHES = {
    "label_smoothing": {"label_smoothing": 0.1},
    "class_balanced_batches": {"class_balanced_batches": True},
    "label_noise": {"label_noise": True},
    "feature_matching": {"feature_matching": True},
    "progressive": {"progressive": True, "progressive_low_res_steps": 1, "progressive_fade_steps": 2},
    "spectral_norm": {"spectral_norm": True},
    "self_attention": {"self_attention": True},
    "multi_scale_discriminator": {"multi_scale_discriminator": True},
    "augment": {"augment": True},
    "augment_generated_off": {"augment": True, "augment_generated": False},
    "class_head_on_generated": {"class_head_on_generated": True},
    "mixed_bfloat16": {"precision": "mixed_bfloat16"},
}


@pytest.fixture(scope="module")
def rgb32() -> Dataset:
    """A 32x32 RGB dataset: MNIST digits padded to 32x32, each class in its own colour."""
    full = load_mnist_5k()
    subset = np.random.default_rng(1).permutation(len(full.y_train))[:300]
    images = np.pad(full.x_train[subset], [(0, 0), (2, 2), (2, 2), (0, 0)], constant_values=-1.0)
    labels = full.y_train[subset]
    colours = np.random.default_rng(0).uniform(0.3, 1.0, size=(10, 3)).astype(np.float32)
    rgb = ((images + 1.0) / 2.0 * colours[labels][:, None, None, :]) * 2.0 - 1.0
    return Dataset(
        name="rgb32",
        x_train=rgb.astype(np.float32),
        y_train=labels,
        x_test=rgb[:50].astype(np.float32),
        y_test=labels[:50],
        class_names=full.class_names,
        source="test",
    )


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


def first_step_losses(config: TrainConfig, dataset: Dataset) -> dict[str, float]:
    return Trainer(config, dataset).train(1)


# ---------------------------------------------------------------- the two updates


UPDATE_CASES = [
    {},
    {"spectral_norm": True, "self_attention": True, "multi_scale_discriminator": True},
    {"precision": "mixed_bfloat16", "spectral_norm": True, "self_attention": True, "multi_scale_discriminator": True},
]


def _values(variables) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


def _changed(before: list[np.ndarray], variables) -> list[bool]:
    return [not np.array_equal(old, np.array(v)) for old, v in zip(before, variables)]


@pytest.mark.parametrize("switches", UPDATE_CASES, ids=["defaults", "extensions", "mixed_bfloat16"])
def test_discriminator_update_changes_only_discriminator(mnist_small, switches):
    trainer = Trainer(tiny_config(**switches), mnist_small)
    step = trainer.training_step
    g_before = _values(trainer.generator.variables)
    d_before = _values(trainer.discriminator.trainable_variables)
    real, real_labels = step.sample_real_batch(tf.constant(1.0))
    noise, labels = step.sample_generator_inputs()
    step.discriminator_update(real, real_labels, noise, labels, tf.constant(0.5))
    assert not any(_changed(g_before, trainer.generator.variables))
    assert all(_changed(d_before, trainer.discriminator.trainable_variables))


@pytest.mark.parametrize("switches", UPDATE_CASES, ids=["defaults", "extensions", "mixed_bfloat16"])
def test_generator_update_changes_only_generator(mnist_small, switches):
    trainer = Trainer(tiny_config(**switches), mnist_small)
    step = trainer.training_step
    g_before = _values(trainer.generator.trainable_variables)
    d_before = _values(trainer.discriminator.variables)
    noise, labels = step.sample_generator_inputs()
    real_features = tf.zeros([20, trainer.discriminator.outputs[2].shape[-1]])
    step.generator_update(noise, labels, real_features, tf.constant(0.5))
    assert not any(_changed(d_before, trainer.discriminator.variables))
    # Attention convolutions get zero gradient while their gate is still 0; all else moves.
    moved = [
        changed
        for changed, variable in zip(_changed(g_before, trainer.generator.trainable_variables), trainer.generator.trainable_variables)
        if "self_attention" not in variable.path or variable.path.endswith("gamma")
    ]
    assert all(moved)


def test_discriminator_update_uses_three_learning_rate_groups(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    step = trainer.training_step
    class_paths = [v.path for v in step.class_head_variables]
    assert class_paths == ["class_head/kernel", "class_head/bias"]
    assert len(step.discriminator_variables) == len(trainer.discriminator.trainable_variables) - 2
    assert float(trainer.optimizers.class_head.learning_rate) == pytest.approx(1e-3)
    assert float(trainer.optimizers.discriminator.learning_rate) == pytest.approx(2e-4)
    assert float(trainer.optimizers.generator.beta_1) == pytest.approx(0.5)


def test_train_returns_every_metric(mnist_small):
    metrics = Trainer(tiny_config(), mnist_small).train(2)
    expected = set(LOSS_NAMES) | {metric_names.CLASS_WEIGHT, metric_names.IMAGES_PER_SECOND}
    assert set(metrics) == expected
    assert all(math.isfinite(value) for value in metrics.values())


def test_train_runs_exact_step_count(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    trainer.train(3)
    trainer.train(2)
    assert trainer.step == 5


def test_train_rejects_zero_steps(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    with pytest.raises(ValueError, match="at least one step"):
        trainer.train(0)


def test_same_seed_gives_same_losses(mnist_small):
    first = Trainer(tiny_config(), mnist_small).train(2)
    second = Trainer(tiny_config(), mnist_small).train(2)
    assert first[metric_names.D_LOSS] == second[metric_names.D_LOSS]
    assert first[metric_names.G_LOSS] == second[metric_names.G_LOSS]


def test_class_weight_schedule_matches_config():
    config = TrainConfig(class_weight_decay_steps=10, class_weight_start=0.5, class_weight_min=0.1)
    for step in (0, 9, 10, 25, 10_000):
        graph_value = float(class_weight_schedule(config, tf.constant(step, tf.int64)))
        assert graph_value == pytest.approx(config.class_weight_at(step), rel=1e-6)


def test_train_reports_decayed_class_weight(mnist_small):
    trainer = Trainer(tiny_config(class_weight_decay_steps=1), mnist_small)
    metrics = trainer.train(3)
    assert metrics[metric_names.CLASS_WEIGHT] == pytest.approx(0.5 * 0.95**2)


# ---------------------------------------------------------------- every switch builds and trains


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_switch_trains_at_28x28(mnist_small, name):
    metrics = Trainer(tiny_config(**SWITCHES[name]), mnist_small).train(3)
    assert all(math.isfinite(metrics[key]) for key in LOSS_NAMES)


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_switch_trains_at_32x32_rgb(rgb32, name):
    config = tiny_config(image_size=32, channels=3, **SWITCHES[name])
    trainer = Trainer(config, rgb32)
    metrics = trainer.train(3)
    assert all(math.isfinite(metrics[key]) for key in LOSS_NAMES)
    assert trainer.generate(np.arange(4), seed=0).shape == (4, 32, 32, 3)


# ---------------------------------------------------------------- each switch changes the computation


def test_label_smoothing_draws_real_targets_below_one(mnist_small):
    step = Trainer(tiny_config(label_smoothing=0.1), mnist_small).training_step
    targets = step._real_targets().numpy()
    assert targets.min() >= 0.9
    assert targets.max() <= 1.0
    assert targets.std() > 0.0


def test_label_smoothing_off_keeps_real_targets_at_one(mnist_small):
    step = Trainer(tiny_config(), mnist_small).training_step
    assert np.all(step._real_targets().numpy() == 1.0)


def test_class_balanced_sampler_draws_every_class_equally():
    labels = np.repeat(np.arange(4), [50, 5, 20, 1]).astype(np.int32)
    images = np.zeros((len(labels), 2, 2, 1), np.float32)
    sampler = RealBatchSampler(images, labels, 4, class_balanced=True)
    _, batch_labels = sampler.sample(tf.random.Generator.from_seed(0), 40)
    assert np.bincount(batch_labels.numpy(), minlength=4).tolist() == [10, 10, 10, 10]


def test_class_balanced_sampler_spreads_remainder_over_distinct_classes():
    labels = np.repeat(np.arange(4), 10).astype(np.int32)
    sampler = RealBatchSampler(np.zeros((40, 2, 2, 1), np.float32), labels, 4, class_balanced=True)
    _, batch_labels = sampler.sample(tf.random.Generator.from_seed(1), 6)
    assert sorted(np.bincount(batch_labels.numpy(), minlength=4).tolist()) == [1, 1, 2, 2]


def test_class_balanced_sampler_returns_matching_images():
    labels = np.repeat(np.arange(3), [7, 2, 4]).astype(np.int32)
    images = labels.astype(np.float32).reshape(-1, 1, 1, 1) * np.ones((1, 2, 2, 1), np.float32)
    sampler = RealBatchSampler(images, labels, 3, class_balanced=True)
    batch_images, batch_labels = sampler.sample(tf.random.Generator.from_seed(2), 30)
    assert np.array_equal(batch_images.numpy()[:, 0, 0, 0], batch_labels.numpy().astype(np.float32))


def test_class_balanced_sampler_rejects_missing_class():
    labels = np.array([0, 0, 2], np.int32)
    with pytest.raises(ValueError, match=r"classes without images=\[1\]"):
        RealBatchSampler(np.zeros((3, 2, 2, 1), np.float32), labels, 3, class_balanced=True)


def test_uniform_sampler_is_unbalanced_on_skewed_data():
    labels = np.repeat(np.arange(2), [95, 5]).astype(np.int32)
    sampler = RealBatchSampler(np.zeros((100, 2, 2, 1), np.float32), labels, 2, class_balanced=False)
    _, batch_labels = sampler.sample(tf.random.Generator.from_seed(0), 200)
    assert np.bincount(batch_labels.numpy(), minlength=2)[0] > 150


def test_label_noise_relabels_fraction_with_wrong_labels(mnist_small):
    step = Trainer(tiny_config(label_noise=True, label_noise_fraction=0.3), mnist_small).training_step
    labels = tf.constant(np.arange(10_000) % 10, tf.int32)
    noisy = step._labels_for_class_loss(labels).numpy()
    changed = noisy != labels.numpy()
    assert changed.mean() == pytest.approx(0.3, abs=0.02)
    assert noisy.min() >= 0
    assert noisy.max() <= 9


def test_label_noise_off_keeps_labels(mnist_small):
    step = Trainer(tiny_config(), mnist_small).training_step
    labels = tf.constant(np.arange(100) % 10, tf.int32)
    assert np.array_equal(step._labels_for_class_loss(labels).numpy(), labels.numpy())


def test_feature_matching_adds_weighted_term_to_generator_loss(mnist_small):
    metrics = first_step_losses(tiny_config(feature_matching=True, feature_matching_weight=3.0), mnist_small)
    without = metrics[metric_names.G_ADVERSARIAL_LOSS] + 0.5 * metrics[metric_names.G_CLASS_LOSS]
    assert metrics[metric_names.FEATURE_MATCHING_LOSS] > 0.0
    assert metrics[metric_names.G_LOSS] - without == pytest.approx(
        3.0 * metrics[metric_names.FEATURE_MATCHING_LOSS], rel=1e-4
    )


def test_feature_matching_off_leaves_generator_loss(mnist_small):
    metrics = first_step_losses(tiny_config(), mnist_small)
    without = metrics[metric_names.G_ADVERSARIAL_LOSS] + 0.5 * metrics[metric_names.G_CLASS_LOSS]
    assert metrics[metric_names.G_LOSS] == pytest.approx(without, rel=1e-6)


def test_progressive_generator_starts_at_half_resolution(mnist_small):
    trainer = Trainer(tiny_config(**SWITCHES["progressive"]), mnist_small)
    trainer.train(1)  # Step 0 runs with alpha 0.
    images = trainer.generate(np.arange(4), seed=0)
    blocks = images.reshape(4, 14, 2, 14, 2, 1)
    assert np.allclose(blocks, blocks[:, :, :1, :, :1], atol=1e-6)


def test_progressive_generator_fades_to_full_resolution(mnist_small):
    trainer = Trainer(tiny_config(**SWITCHES["progressive"]), mnist_small)
    trainer.train(4)  # Step 3 runs with alpha 1.
    images = trainer.generate(np.arange(4), seed=0)
    blocks = images.reshape(4, 14, 2, 14, 2, 1)
    assert not np.allclose(blocks, blocks[:, :, :1, :, :1], atol=1e-3)


def test_progressive_fade_weight_follows_steps(mnist_small):
    trainer = Trainer(tiny_config(progressive=True, progressive_low_res_steps=2, progressive_fade_steps=4), mnist_small)
    fade = trainer.generator.get_layer("fade_in")
    alphas = []
    for _ in range(7):
        trainer.train(1)
        alphas.append(float(fade.alpha.numpy()))
    assert alphas == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0])


def test_blend_half_resolution_blends_real_images():
    images = tf.random.uniform([2, 4, 4, 1], -1.0, 1.0, seed=0)
    low = tf.nn.avg_pool2d(images, 2, 2, "VALID")
    low_up = np.repeat(np.repeat(low.numpy(), 2, axis=1), 2, axis=2)
    assert np.allclose(blend_half_resolution(images, tf.constant(0.0)).numpy(), low_up)
    assert np.allclose(blend_half_resolution(images, tf.constant(1.0)).numpy(), images.numpy())
    half = blend_half_resolution(images, tf.constant(0.5)).numpy()
    assert np.allclose(half, 0.5 * low_up + 0.5 * images.numpy(), atol=1e-6)


def _kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    found = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.SpectralNormalization)):
            found.append(layer)
    return found


def test_spectral_norm_wraps_every_discriminator_layer(mnist_small):
    trainer = Trainer(tiny_config(spectral_norm=True, multi_scale_discriminator=True), mnist_small)
    layers = _kernel_layers(trainer.discriminator)
    assert len(layers) == 7  # 2 + 1 convolutions and 2 x 2 heads.
    assert all(isinstance(layer, keras.layers.SpectralNormalization) for layer in layers)


def test_spectral_norm_wraps_attention_convolutions(mnist_small):
    trainer = Trainer(tiny_config(spectral_norm=True, self_attention=True), mnist_small)
    attention = [layer for layer in trainer.discriminator.layers if isinstance(layer, SelfAttention)][0]
    assert isinstance(attention.query, keras.layers.SpectralNormalization)


def test_spectral_norm_bounds_kernel_norm_after_training(mnist_small):
    trainer = Trainer(tiny_config(spectral_norm=True), mnist_small)
    trainer.train(3)
    conv = trainer.discriminator.get_layer("conv_7_sn")
    kernel = np.array(conv.layer.kernel).reshape(-1, conv.layer.kernel.shape[-1])
    assert np.linalg.norm(kernel, 2) == pytest.approx(1.0, abs=0.1)


def test_spectral_norm_off_leaves_layers_plain(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in trainer.discriminator.layers)


def test_self_attention_sits_at_configured_resolution(mnist_small):
    trainer = Trainer(tiny_config(self_attention=True, self_attention_resolution=7), mnist_small)
    g_blocks = [layer for layer in trainer.generator.layers if isinstance(layer, SelfAttention)]
    d_blocks = [layer for layer in trainer.discriminator.layers if isinstance(layer, SelfAttention)]
    assert [block.output.shape[1] for block in g_blocks] == [7]
    assert [block.output.shape[1] for block in d_blocks] == [7]


def test_self_attention_gate_starts_at_zero_and_learns(mnist_small):
    trainer = Trainer(tiny_config(self_attention=True), mnist_small)
    gate = [layer for layer in trainer.generator.layers if isinstance(layer, SelfAttention)][0].gamma
    assert float(gate.numpy()) == 0.0
    trainer.train(3)
    assert float(gate.numpy()) != 0.0


def test_multi_scale_discriminator_has_half_resolution_trunk(mnist_small):
    trainer = Trainer(tiny_config(multi_scale_discriminator=True), mnist_small)
    outputs = trainer.discriminator.outputs
    assert len(outputs) == 6
    assert trainer.discriminator.get_layer("half_conv_7").input.shape[1] == 14


def test_multi_scale_discriminator_changes_losses(mnist_small):
    single = first_step_losses(tiny_config(), mnist_small)
    multi = first_step_losses(tiny_config(multi_scale_discriminator=True), mnist_small)
    assert multi[metric_names.D_ADVERSARIAL_LOSS] != single[metric_names.D_ADVERSARIAL_LOSS]


def test_affine_transform_with_zero_parameters_is_identity():
    images = tf.random.uniform([3, 8, 8, 2], -1.0, 1.0, seed=1)
    same = affine_transform(images, tf.zeros([3]), tf.zeros([3, 2]))
    assert np.allclose(same.numpy(), images.numpy(), atol=1e-6)


def test_affine_transform_shifts_by_whole_pixels():
    images = tf.random.uniform([1, 6, 6, 1], -1.0, 1.0, seed=2)
    shifted = affine_transform(images, tf.zeros([1]), tf.constant([[2.0, -1.0]])).numpy()
    assert np.allclose(shifted[0, 2:, :5], images.numpy()[0, :4, 1:], atol=1e-6)
    assert np.all(shifted[0, :2] == -1.0)


def test_affine_transform_rotates_quarter_turn_clockwise():
    images = tf.random.uniform([1, 5, 5, 1], -1.0, 1.0, seed=3)
    rotated = affine_transform(images, tf.constant([math.pi / 2]), tf.zeros([1, 2])).numpy()
    expected = np.rot90(images.numpy()[0], k=-1, axes=(0, 1))  # Clockwise as displayed.
    assert np.allclose(rotated[0], expected, atol=1e-5)


def test_random_affine_stays_within_limits():
    # A single bright pixel at the centre moves at most 2 px, plus interpolation spread.
    images = -np.ones((64, 15, 15, 1), np.float32)
    images[:, 7, 7, 0] = 1.0
    moved = random_affine(tf.constant(images), tf.random.Generator.from_seed(0), 5.0, 2.0).numpy()
    rows, columns = np.nonzero(moved[..., 0].max(axis=0) > -1.0)
    assert rows.min() >= 4
    assert rows.max() <= 10
    assert columns.min() >= 4
    assert columns.max() <= 10
    assert not np.allclose(moved, images)


def test_augment_changes_discriminator_losses(mnist_small):
    plain = first_step_losses(tiny_config(), mnist_small)
    augmented = first_step_losses(tiny_config(augment=True), mnist_small)
    assert augmented[metric_names.D_LOSS] != plain[metric_names.D_LOSS]


def test_augment_generated_changes_generator_losses(mnist_small):
    real_only = first_step_losses(tiny_config(augment=True, augment_generated=False), mnist_small)
    both = first_step_losses(tiny_config(augment=True, augment_generated=True), mnist_small)
    assert both[metric_names.G_LOSS] != real_only[metric_names.G_LOSS]


def test_class_head_on_generated_adds_generated_class_loss(mnist_small):
    # At initialisation each class term is about ln(10) = 2.3, so the loss on real and
    # generated images is about twice the loss on real images alone.
    both = first_step_losses(tiny_config(class_head_on_generated=True), mnist_small)
    real_only = first_step_losses(tiny_config(class_head_on_generated=False), mnist_small)
    assert both[metric_names.D_CLASS_LOSS] == pytest.approx(2 * real_only[metric_names.D_CLASS_LOSS], rel=0.2)
