"""Tests of Trainer generation, checkpoints, resume, load_generator and the training loop."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.data import Dataset, load_mnist_5k
from acgan_search.errors import CheckpointError, ConfigError
from acgan_search.training import GenerateFunction, Trainer, latest_checkpoint, load_generator, train_and_evaluate
from acgan_search.training.step import LOSS_NAMES

TINY = {
    "latent_dim": 8,
    "embedding_dim": 4,
    "generator_filters": 16,
    "discriminator_filters": 8,
    "batch_size": 20,
}

# Every switch that draws random numbers or keeps state, so resume covers all of it.
ALL_SWITCHES = {
    "label_smoothing": 0.1,
    "class_balanced_batches": True,
    "label_noise": True,
    "feature_matching": True,
    "progressive": True,
    "progressive_low_res_steps": 2,
    "progressive_fade_steps": 4,
    "spectral_norm": True,
    "self_attention": True,
    "multi_scale_discriminator": True,
    "augment": True,
}


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


# ---------------------------------------------------------------- generation


def test_generate_returns_images_in_range(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    images = trainer.generate(np.arange(12) % 10, seed=3)
    assert images.shape == (12, 28, 28, 1)
    assert images.dtype == np.float32
    assert images.min() >= -1.0
    assert images.max() <= 1.0


def test_generate_is_reproducible_from_seed(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    labels = np.arange(10)
    assert np.array_equal(trainer.generate(labels, seed=5), trainer.generate(labels, seed=5))
    assert not np.array_equal(trainer.generate(labels, seed=5), trainer.generate(labels, seed=6))


def test_generate_handles_more_than_one_batch(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    labels = np.arange(1203) % 10
    images = trainer.generate(labels, seed=0)
    assert images.shape[0] == 1203
    # The noise of a seed is a prefix-stable stream, so the first images match a shorter call.
    assert np.allclose(images[:7], trainer.generate(labels[:7], seed=0), atol=1e-5)


def test_generate_handles_empty_labels(mnist_small):
    trainer = Trainer(tiny_config(), mnist_small)
    assert trainer.generate(np.array([], np.int32), seed=0).shape == (0, 28, 28, 1)


def test_sample_grid_has_one_row_per_class(mnist_small, tmp_path):
    trainer = Trainer(tiny_config(grid_columns=4), mnist_small)
    path = tmp_path / "grid.png"
    trainer.save_sample_grid(path)
    with Image.open(path) as picture:
        assert picture.size == (4 * 30 - 2, 10 * 30 - 2)
        assert picture.mode == "L"


# ---------------------------------------------------------------- construction errors


def test_trainer_rejects_mismatched_image_shape(mnist_small):
    with pytest.raises(ConfigError, match=r"image_size=32, channels=1.*Received: image_shape=\(28, 28, 1\)"):
        Trainer(tiny_config(image_size=32), mnist_small)


def test_trainer_rejects_single_class(mnist_small):
    single = Dataset(
        name="one-class",
        x_train=mnist_small.x_train[:10],
        y_train=np.zeros(10, np.int32),
        x_test=mnist_small.x_test[:2],
        y_test=np.zeros(2, np.int32),
        class_names=("only",),
        source="test",
    )
    with pytest.raises(ConfigError, match="at least two classes"):
        Trainer(tiny_config(), single)


# ---------------------------------------------------------------- checkpoints and resume


@pytest.mark.parametrize(
    "switches",
    [{}, ALL_SWITCHES, {**ALL_SWITCHES, "precision": "mixed_bfloat16"}],
    ids=["defaults", "all_switches", "all_switches_bfloat16"],
)
def test_resume_continues_with_same_losses(mnist_small, tmp_path, switches):
    config = tiny_config(**switches)
    uninterrupted = Trainer(config, mnist_small)
    uninterrupted.train(3)
    uninterrupted.save_checkpoint(tmp_path / "checkpoint")
    expected = uninterrupted.train(4)

    resumed = Trainer.from_checkpoint(tmp_path / "checkpoint", mnist_small)
    assert resumed.step == 3
    continued = resumed.train(4)
    for name in LOSS_NAMES:
        assert continued[name] == expected[name], name


def test_checkpoint_writes_documented_files(mnist_small, tmp_path):
    trainer = Trainer(tiny_config(), mnist_small)
    trainer.train(2)
    trainer.save_checkpoint(tmp_path)
    for name in ("config.yaml", "generator.keras", "training_state.npz", "state.json"):
        assert (tmp_path / name).is_file(), name
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["step"] == 2
    assert state["num_classes"] == 10
    assert TrainConfig.from_yaml(tmp_path / "config.yaml") == trainer.config


def test_load_generator_reproduces_trainer_images(mnist_small, tmp_path):
    trainer = Trainer(tiny_config(progressive=True, progressive_low_res_steps=1, progressive_fade_steps=4), mnist_small)
    trainer.train(3)  # Mid-fade: alpha is neither 0 nor 1.
    trainer.save_checkpoint(tmp_path)
    generator, config, num_classes = load_generator(tmp_path)
    labels = np.arange(10)
    assert num_classes == 10
    assert config == trainer.config
    assert np.allclose(GenerateFunction(generator)(labels, seed=1), trainer.generate(labels, seed=1), atol=1e-6)


def test_load_generator_reproduces_bfloat16_trainer_images(mnist_small, tmp_path):
    trainer = Trainer(tiny_config(precision="mixed_bfloat16"), mnist_small)
    trainer.train(2)
    trainer.save_checkpoint(tmp_path)
    generator, _, _ = load_generator(tmp_path)
    labels = np.arange(10)
    images = GenerateFunction(generator)(labels, seed=1)
    assert images.dtype == np.float32
    assert np.array_equal(images, trainer.generate(labels, seed=1))


def test_saved_generator_loads_in_safe_mode(mnist_small, tmp_path):
    trainer = Trainer(tiny_config(self_attention=True, progressive=True), mnist_small)
    path = tmp_path / "generator.keras"
    trainer.generator.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    noise = np.zeros((2, 8), np.float32)
    labels = np.array([1, 2], np.int32)
    assert np.allclose(loaded([noise, labels]), trainer.generator([noise, labels]), atol=1e-6)


def test_from_checkpoint_rejects_incomplete_directory(mnist_small, tmp_path):
    (tmp_path / "config.yaml").write_text("batch_size: 20\n")
    with pytest.raises(CheckpointError, match="incomplete: missing generator.keras"):
        Trainer.from_checkpoint(tmp_path, mnist_small)


def test_from_checkpoint_rejects_empty_config(mnist_small, tmp_path):
    Trainer(tiny_config(), mnist_small).save_checkpoint(tmp_path)
    (tmp_path / "config.yaml").write_text("")
    with pytest.raises(CheckpointError, match=r"invalid configuration: .*config\.yaml is empty"):
        Trainer.from_checkpoint(tmp_path, mnist_small)


def test_from_checkpoint_rejects_other_class_count(mnist_small, tmp_path):
    trainer = Trainer(tiny_config(), mnist_small)
    trainer.save_checkpoint(tmp_path)
    state = json.loads((tmp_path / "state.json").read_text())
    state["num_classes"] = 3
    (tmp_path / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="trained with 3 classes"):
        Trainer.from_checkpoint(tmp_path, mnist_small)


# ---------------------------------------------------------------- the training loop


def test_train_and_evaluate_writes_intervals(mnist_small, tmp_path):
    calls = []
    config = tiny_config(max_steps=5, interval=2, log_every=1)
    metrics = train_and_evaluate(
        config, tmp_path, dataset=mnist_small, on_interval=lambda step, m, path: calls.append((step, path.name))
    )
    assert calls == [(2, "step_000002"), (4, "step_000004"), (5, "step_000005")]
    assert metrics[metric_names.STEP] == 5.0
    assert (tmp_path / "samples" / "step_000004.png").is_file()
    assert latest_checkpoint(tmp_path).name == "step_000005"


def test_train_and_evaluate_resumes_from_latest_checkpoint(mnist_small, tmp_path):
    train_and_evaluate(tiny_config(max_steps=4, interval=2), tmp_path, dataset=mnist_small)
    resumed = train_and_evaluate(tiny_config(max_steps=6, interval=2), tmp_path, dataset=mnist_small)
    expected = train_and_evaluate(tiny_config(max_steps=6, interval=2), tmp_path / "fresh", dataset=mnist_small)
    assert resumed[metric_names.D_LOSS] == expected[metric_names.D_LOSS]
    assert resumed[metric_names.G_LOSS] == expected[metric_names.G_LOSS]


def test_train_and_evaluate_rejects_changed_config(mnist_small, tmp_path):
    train_and_evaluate(tiny_config(max_steps=2, interval=2), tmp_path, dataset=mnist_small)
    with pytest.raises(CheckpointError, match=r"Received: batch_size=10 \(checkpoint: 20\)"):
        train_and_evaluate(tiny_config(max_steps=4, interval=2, batch_size=10), tmp_path, dataset=mnist_small)


def test_train_and_evaluate_logs_progress(mnist_small, tmp_path, caplog):
    caplog.set_level("INFO", logger="acgan_search.training.loop")
    train_and_evaluate(tiny_config(max_steps=2, interval=2, log_every=1), tmp_path, dataset=mnist_small)
    progress = [record.message for record in caplog.records if record.message.startswith("step ")]
    assert len(progress) == 2
    assert "d_loss=" in progress[0]
    assert "images/s=" in progress[0]


# ---------------------------------------------------------------- quality on real digits


def _train_digit_classifier(dataset: Dataset) -> keras.Model:
    """Train a small CNN on the real training split, independent of the GAN."""
    keras.utils.set_random_seed(123)
    classifier = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    classifier.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(dataset.x_train, dataset.y_train, epochs=8, batch_size=64, verbose=0)
    return classifier


def _accuracy(classifier: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    predictions = np.argmax(classifier.predict(images, batch_size=500, verbose=0), axis=1)
    return float(np.mean(predictions == labels))


@pytest.mark.slow
def test_default_training_generates_requested_digits(tmp_path):
    # 2,000 steps (32 epochs of mnist-5k) with the defaults: 3 to 7 minutes on 2 CPU cores.
    # A run with these settings reached 98% accuracy, so 90% leaves room for other seeds.
    dataset = load_mnist_5k()
    classifier = _train_digit_classifier(dataset)
    heldout_accuracy = _accuracy(classifier, dataset.x_test, dataset.y_test)
    assert heldout_accuracy > 0.93

    metrics = train_and_evaluate(TrainConfig(max_steps=2000, interval=1000, log_every=500), tmp_path, dataset=dataset)
    assert all(np.isfinite(metrics[name]) for name in LOSS_NAMES)
    assert (tmp_path / "samples" / "step_002000.png").is_file()

    generator, _, _ = load_generator(tmp_path / "checkpoints" / "step_002000")
    labels = np.repeat(np.arange(10), 100)
    accuracy = _accuracy(classifier, GenerateFunction(generator)(labels, seed=7), labels)
    assert accuracy > 0.9
