"""Tests of the generator, the discriminator and their custom layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from acgan_search import models
from acgan_search.config import TrainConfig
from acgan_search.models import (
    FadeIn,
    NarrowConv2D,
    SelfAttention,
    build_discriminator,
    build_generator,
    discriminator_head_layers,
)

TINY = {"latent_dim": 8, "embedding_dim": 4, "generator_filters": 16, "discriminator_filters": 8}


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


def generator_inputs(config: TrainConfig, count: int = 3) -> list[np.ndarray]:
    noise = np.random.default_rng(0).standard_normal((count, config.latent_dim)).astype(np.float32)
    return [noise, np.arange(count, dtype=np.int32) % 10]


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 1), (32, 3), (64, 1), (64, 3), (16, 3)])
def test_generator_builds_image_shape(size, channels):
    config = tiny_config(image_size=size, channels=channels)
    images = build_generator(config, 10)(generator_inputs(config))
    assert tuple(images.shape) == (3, size, size, channels)
    assert float(keras.ops.min(images)) >= -1.0
    assert float(keras.ops.max(images)) <= 1.0


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 1), (32, 3), (64, 1), (64, 3), (16, 3)])
def test_discriminator_builds_two_heads(size, channels):
    config = tiny_config(image_size=size, channels=channels)
    outputs = build_discriminator(config, 7)(np.zeros((2, size, size, channels), np.float32))
    assert len(outputs) == 3
    assert tuple(outputs[0].shape) == (2, 1)
    assert tuple(outputs[1].shape) == (2, 7)


def test_default_generator_merges_label_at_7x7():
    generator = build_generator(TrainConfig(), 10)
    assert tuple(generator.get_layer("merge_label").output.shape) == (None, 7, 7, 129)
    assert generator.get_layer("to_image").output.shape[1:] == (28, 28, 1)


def test_default_discriminator_has_dropout_after_shared_features():
    discriminator = build_discriminator(TrainConfig(), 10)
    assert discriminator.get_layer("dropout").rate == 0.4
    assert discriminator.get_layer("features").output.shape[-1] == 7 * 7 * 128


def test_discriminator_head_layers_found_by_name():
    discriminator = build_discriminator(tiny_config(multi_scale_discriminator=True), 10)
    adversarial, classes = discriminator_head_layers(discriminator)
    assert [layer.name for layer in adversarial] == ["adversarial_head", "adversarial_head_half"]
    assert [layer.name for layer in classes] == ["class_head", "class_head_half"]


def test_self_attention_is_identity_at_initialisation():
    layer = SelfAttention()
    inputs = np.random.default_rng(1).standard_normal((2, 5, 5, 16)).astype(np.float32)
    assert np.allclose(layer(inputs), inputs)


def test_self_attention_mixes_positions_when_gate_opens():
    layer = SelfAttention()
    inputs = np.random.default_rng(1).standard_normal((1, 4, 4, 16)).astype(np.float32)
    layer(inputs)
    layer.gamma.assign(1.0)
    changed = inputs.copy()
    changed[0, 0, 0] += 5.0
    difference = np.abs(np.array(layer(changed)) - np.array(layer(inputs)))[0]
    assert difference[3, 3].max() > 0.0  # Attention carries the change to a far position.


def test_fade_in_blends_by_alpha():
    layer = FadeIn()
    low, high = np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    layer([low, high])
    layer.alpha.assign(0.25)
    assert np.allclose(layer([low, high]), 0.25)


def test_models_load_in_safe_mode(tmp_path):
    config = tiny_config(progressive=True, self_attention=True, spectral_norm=True, multi_scale_discriminator=True)
    for model in (build_generator(config, 10), build_discriminator(config, 10)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        assert len(loaded.weights) == len(model.weights)
        if model.name == "generator":
            assert isinstance(loaded.get_layer("to_image"), NarrowConv2D)
            inputs = generator_inputs(config)
            np.testing.assert_array_equal(loaded(inputs), model(inputs))


@pytest.mark.parametrize(
    ("batch", "height", "width", "in_channels", "filters", "kernel"),
    [(4, 28, 28, 32, 1, 5), (3, 16, 12, 5, 3, 3), (2, 9, 9, 4, 2, 1), (2, 8, 8, 7, 1, 7)],
)
def test_narrow_conv_matches_conv2d(batch, height, width, in_channels, filters, kernel):
    rng = np.random.default_rng(0)
    plain = keras.layers.Conv2D(filters, kernel, padding="same", activation="tanh")
    narrow = NarrowConv2D(filters, kernel, padding="same", activation="tanh")
    inputs = tf.constant(rng.standard_normal((batch, height, width, in_channels)), tf.float32)
    plain.build(inputs.shape)
    narrow.build(inputs.shape)
    plain.set_weights([0.2 * rng.standard_normal((kernel, kernel, in_channels, filters)), rng.standard_normal(filters)])
    narrow.set_weights(plain.get_weights())
    upstream = tf.constant(rng.standard_normal((batch, height, width, filters)), tf.float32)
    results = []
    for layer in (narrow, plain):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs)
            loss = tf.reduce_sum(outputs * upstream)
        results.append([outputs, *tape.gradient(loss, [inputs, *layer.trainable_variables])])
    # Both sum the same products in different orders: compare up to float32 rounding of the sums.
    for name, ours, reference in zip(("outputs", "input gradient", "kernel gradient", "bias gradient"), *results):
        scale = float(np.max(np.abs(reference)))
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * scale, err_msg=name)


def test_narrow_conv_above_size_limit_equals_conv2d(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "NARROW_CONV_MAX_ELEMENTS", 1)
    rng = np.random.default_rng(1)
    plain = keras.layers.Conv2D(3, 5, padding="same")
    narrow = NarrowConv2D(3, 5, padding="same")
    inputs = tf.constant(rng.standard_normal((2, 12, 12, 8)), tf.float32)
    plain.build(inputs.shape)
    narrow.build(inputs.shape)
    narrow.set_weights(plain.get_weights())
    results = []
    for layer in (narrow, plain):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.sin(layer(inputs)))
        results.append([layer(inputs), *tape.gradient(loss, [inputs, layer.kernel])])
    # Above the limit the layer runs the same TensorFlow ops as Conv2D, so the results are identical.
    for name, ours, reference in zip(("outputs", "input gradient", "kernel gradient"), *results):
        np.testing.assert_array_equal(ours, reference, err_msg=name)


@pytest.mark.parametrize(
    "arguments",
    [{"kernel_size": 4}, {"kernel_size": 5, "strides": 2}, {"kernel_size": 5, "padding": "valid"}, {"kernel_size": (3, 5)}],
)
def test_narrow_conv_rejects_unsupported_arguments(arguments):
    with pytest.raises(ValueError, match="NarrowConv2D supports only"):
        NarrowConv2D(1, **arguments)


MIXED = {"precision": "mixed_bfloat16", "progressive": True, "spectral_norm": True, "multi_scale_discriminator": True}


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_bfloat16_attention_models_reload(tmp_path, spectral_norm):
    config = tiny_config(precision="mixed_bfloat16", self_attention=True, spectral_norm=spectral_norm)
    generator = build_generator(config, 10)
    discriminator = build_discriminator(config, 10)
    images = np.random.default_rng(0).uniform(-1, 1, (3, *config.image_shape)).astype(np.float32)
    for model, inputs in ((generator, generator_inputs(config)), (discriminator, images)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        for ours, reference in zip(keras.tree.flatten(loaded(inputs)), keras.tree.flatten(model(inputs))):
            np.testing.assert_array_equal(ours, reference)


def test_mixed_bfloat16_half_image_upsampled_in_float32():
    generator = build_generator(TrainConfig.from_dict(MIXED), 10)
    assert generator.get_layer("upsample_half_image").compute_dtype == "float32"


def test_mixed_bfloat16_models_return_float32():
    config = TrainConfig.from_dict(MIXED)
    generator = build_generator(config, 10)
    discriminator = build_discriminator(config, 10)
    assert generator.output.dtype == "float32"
    assert [output.dtype for output in discriminator.outputs] == ["float32"] * 6


def test_mixed_bfloat16_models_compute_hidden_layers_in_bfloat16():
    config = TrainConfig.from_dict(MIXED)
    generator = build_generator(config, 10)
    discriminator = build_discriminator(config, 10)
    assert generator.get_layer("upsample_14").compute_dtype == "bfloat16"
    assert discriminator.get_layer("conv_7_sn").compute_dtype == "bfloat16"
    assert generator.get_layer("upsample_14").variable_dtype == "float32"


def test_building_mixed_bfloat16_models_keeps_global_policy():
    build_generator(TrainConfig.from_dict(MIXED), 10)
    assert keras.config.dtype_policy().name == "float32"


def test_float32_models_compute_in_float32():
    generator = build_generator(TrainConfig(), 10)
    assert generator.get_layer("upsample_14").compute_dtype == "float32"
