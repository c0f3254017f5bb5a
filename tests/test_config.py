"""Tests of TrainConfig: defaults, loading, validation messages and derived values."""

from __future__ import annotations

import pytest

from acgan_search.config import (
    FIELD_NAMES,
    TrainConfig,
    base_resolution,
    check_known_keys,
    feature_map_sizes,
    field_allows_none,
    field_type,
)
from acgan_search.errors import ConfigError


def test_config_defaults_match_documented_values():
    config = TrainConfig()
    assert config.latent_dim == 100
    assert config.batch_size == 64
    assert config.generator_lr == 2e-4
    assert config.discriminator_lr == 2e-4
    assert config.class_head_lr == 1e-3
    assert config.beta1 == 0.5
    assert config.dropout == 0.4
    assert config.class_weight_start == 0.5
    assert config.class_weight_decay == 0.95
    assert config.class_weight_min == 0.1


def test_config_switches_default_off():
    config = TrainConfig()
    for name in (
        "class_balanced_batches",
        "label_noise",
        "feature_matching",
        "progressive",
        "spectral_norm",
        "self_attention",
        "multi_scale_discriminator",
        "augment",
    ):
        assert getattr(config, name) is False, name
    assert config.class_head_on_generated is False
    assert config.label_smoothing == 0.0
    assert config.label_noise_fraction == 0.1


def test_from_dict_accepts_partial_mapping():
    config = TrainConfig.from_dict({"batch_size": 32, "spectral_norm": True})
    assert config.batch_size == 32
    assert config.spectral_norm is True


def test_from_dict_converts_int_to_float():
    config = TrainConfig.from_dict({"generator_lr": 1})
    assert isinstance(config.generator_lr, float)


def test_from_dict_rejects_unknown_key_with_suggestion():
    with pytest.raises(ConfigError, match=r"unknown training setting 'batch_sise'\. Did you mean batch_size\?"):
        TrainConfig.from_dict({"batch_sise": 32})


def test_from_dict_rejects_non_mapping():
    with pytest.raises(ConfigError, match=r"must be a mapping.*Received: list"):
        TrainConfig.from_dict([1, 2])


def test_from_dict_names_source_in_message():
    with pytest.raises(ConfigError, match=r"^run\.yaml: setting 'batch_size'"):
        TrainConfig.from_dict({"batch_size": 1}, source="run.yaml")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("batch_size", "64", r"'batch_size' must be of type int\. Received: batch_size='64' \(str\)"),
        ("batch_size", 64.0, r"'batch_size' must be of type int\. Received: batch_size=64\.0 \(float\)"),
        ("spectral_norm", 1, r"'spectral_norm' must be of type bool\. Received: spectral_norm=1 \(int\)"),
        ("latent_dim", True, r"'latent_dim' must be of type int\. Received: latent_dim=True \(bool\)"),
        ("generator_lr", float("nan"), r"'generator_lr' must be a finite number"),
        ("dataset", "cifar", r"'dataset' must be one of mnist-5k, mnist, fashion-mnist, image-folder\. Received: dataset='cifar'"),
        ("image_size", 30, r"'image_size' must be 28 or a power of two from 16 to 128\. Received: image_size=30"),
        ("image_size", 256, r"Received: image_size=256"),
        ("channels", 2, r"'channels' must be 1 or 3\. Received: channels=2"),
        ("seed", -1, r"'seed' must be >= 0\. Received: seed=-1"),
        ("seed", 2**32, r"'seed' must be <= 4294967295 .*Received: seed=4294967296"),
        ("latent_dim", 0, r"'latent_dim' must be >= 1\. Received: latent_dim=0"),
        ("dropout", 1.0, r"'dropout' must be in \[0, 1\)\. Received: dropout=1\.0"),
        ("precision", "float16", r"'precision' must be one of float32, mixed_bfloat16\. Received: precision='float16'"),
        ("batch_size", 1, r"'batch_size' must be >= 2\. Received: batch_size=1"),
        ("class_head_lr", 0.0, r"'class_head_lr' must be > 0\. Received: class_head_lr=0\.0"),
        ("beta1", 1.0, r"'beta1' must be in \[0, 1\)\. Received: beta1=1\.0"),
        ("class_weight_decay", 1.5, r"'class_weight_decay' must be in \(0, 1\]\. Received: class_weight_decay=1\.5"),
        ("class_weight_decay_steps", 0, r"'class_weight_decay_steps' must be >= 1"),
        ("class_weight_min", 0.9, r"'class_weight_min' must be in \[0, class_weight_start=0\.5\]\. Received: class_weight_min=0\.9"),
        ("feature_matching_weight", -1.0, r"'feature_matching_weight' must be >= 0"),
        ("label_smoothing", 0.5, r"'label_smoothing' must be in \[0, 0\.5\)\. Received: label_smoothing=0\.5"),
        ("label_noise_fraction", 0.0, r"'label_noise_fraction' must be in \(0, 1\]"),
        ("progressive_fade_steps", 0, r"'progressive_fade_steps' must be >= 1"),
        ("self_attention_resolution", 28, r"one of \[7, 14\]\. Received: self_attention_resolution=28"),
        ("augment_rotation_degrees", 90.0, r"'augment_rotation_degrees' must be in \[0, 45\]"),
        ("augment_translation_pixels", 8.0, r"in \[0, image_size / 4 = 7\.0\]\. Received: augment_translation_pixels=8\.0"),
        ("max_steps", 0, r"'max_steps' must be >= 1"),
        ("interval", 0, r"'interval' must be >= 1"),
        ("grid_columns", 0, r"'grid_columns' must be >= 1"),
    ],
)
def test_from_dict_rejects_bad_value(key, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({key: value})


def test_from_dict_rejects_data_path_for_mnist_5k():
    message = r"'data_path' must be unset for dataset 'mnist-5k'.*Received: dataset='mnist-5k', data_path='/data/mnist.npz'"
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({"data_path": "/data/mnist.npz"})


def test_replace_validates_changes():
    with pytest.raises(ConfigError, match="Received: batch_size=0"):
        TrainConfig().replace(batch_size=0)


def test_replace_rejects_unknown_key():
    with pytest.raises(ConfigError, match=r"replace\(\): unknown training setting 'lr'"):
        TrainConfig().replace(lr=0.1)


def test_check_known_keys_lists_valid_settings():
    with pytest.raises(ConfigError, match="Valid settings: dataset, data_path"):
        check_known_keys(["zzz"], source="test")


def test_yaml_round_trip(tmp_path):
    config = TrainConfig(batch_size=16, self_attention=True, self_attention_resolution=7, data_path=None)
    config.save(tmp_path / "config.yaml")
    assert TrainConfig.from_yaml(tmp_path / "config.yaml") == config


def test_from_yaml_reads_empty_file_as_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert TrainConfig.from_yaml(path) == TrainConfig()


def test_from_yaml_rejects_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="Configuration file not found: .*absent.yaml"):
        TrainConfig.from_yaml(tmp_path / "absent.yaml")


def test_from_yaml_rejects_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:2:1: invalid YAML: expected ',' or '\]'"):
        TrainConfig.from_yaml(path)


def test_from_yaml_invalid_yaml_message_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: 32\nlatent_dim: 16: 8\n")
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_yaml(path)
    assert "\n" not in str(info.value)
    assert "bad.yaml:2:15: invalid YAML: mapping values are not allowed here" in str(info.value)


def test_from_yaml_rejects_duplicate_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("batch_size: 32\nlatent_dim: 16\nbatch_size: 64\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:3:1: duplicate key 'batch_size' \(first set on line 1\)"):
        TrainConfig.from_yaml(path)


def test_from_yaml_rejects_non_utf8_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"data_path: /tmp/\xff\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: the configuration file is not UTF-8 text: byte 0xff"):
        TrainConfig.from_yaml(path)



def test_from_yaml_names_file_on_bad_value(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("channels: 4\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: setting 'channels' must be 1 or 3\. Received: channels=4"):
        TrainConfig.from_yaml(path)


def test_class_weight_schedule_decays_per_step_block():
    config = TrainConfig(class_weight_start=0.5, class_weight_decay=0.5, class_weight_decay_steps=100, class_weight_min=0.1)
    assert config.class_weight_at(0) == 0.5
    assert config.class_weight_at(99) == 0.5
    assert config.class_weight_at(100) == 0.25
    assert config.class_weight_at(250) == 0.125
    assert config.class_weight_at(300) == 0.1


def test_attention_resolution_defaults_to_half_image_size():
    assert TrainConfig().attention_resolution == 14
    assert TrainConfig(self_attention_resolution=7).attention_resolution == 7


def test_image_shape_combines_size_and_channels():
    assert TrainConfig(image_size=32, channels=3).image_shape == (32, 32, 3)


def test_feature_map_sizes_follow_ladder():
    assert base_resolution(28) == 7
    assert base_resolution(64) == 4
    assert feature_map_sizes(28) == [7, 14]
    assert feature_map_sizes(32) == [4, 8, 16]


def test_field_helpers_describe_types():
    assert field_type("batch_size") is int
    assert field_type("data_path") is str
    assert field_allows_none("self_attention_resolution")
    assert not field_allows_none("batch_size")
    assert "seed" in FIELD_NAMES
