"""Tests of ``python -m acgan_search.export``: choosing the checkpoint, the bundle, bad input.

The checkpoints are real: a tiny ``Trainer`` trains a few steps and saves itself. They are
placed in experiment directories written in Ray's layout (see ``test_ranking.write_trial``).
The slow test exports the best trial of a real tiny search run.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from acgan_search import export as export_cli
from acgan_search import metric_names as mn
from acgan_search.config import TrainConfig
from acgan_search.errors import CheckpointError, ResultsError
from acgan_search.reporting import bundle as bd
from acgan_search.reporting import results as rs
from acgan_search.reporting.exporting import export_bundle
from acgan_search.reporting.output_dir import staged_output_dir
from acgan_search.training import GenerateFunction, load_generator
from acgan_search.training.generation import GENERATION_BATCH_SIZE, noise_for_seed
from test_ranking import metrics, tiny_search_dir, write_record, write_trial

TINY_CONFIG = {
    "batch_size": 8, "latent_dim": 8, "embedding_dim": 4, "generator_filters": 8,
    "discriminator_filters": 4, "max_steps": 4, "interval": 2, "grid_columns": 2,
}
SUBPROCESS_TIMEOUT_SECONDS = 300


def make_checkpoint(directory: Path, **changes) -> Path:
    """Train a tiny AC-GAN for two steps and save its checkpoint with a sample grid."""
    from acgan_search.data import load_dataset
    from acgan_search.training import Trainer

    config = TrainConfig.from_dict({**TINY_CONFIG, **changes})
    trainer = Trainer(config, load_dataset(config), jit_compile=False)
    trainer.train(2)
    trainer.save_checkpoint(directory)
    trainer.save_sample_grid(directory / "sample_grid.png")
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("checkpoint") / "checkpoint_000000")


@pytest.fixture()
def search_dir(tmp_path: Path, checkpoint: Path) -> Path:
    """Two trials; trial 1 has the best accurate interval, at step 20 (checkpoint_000000)."""
    experiment = tmp_path / "search"
    experiment.mkdir()
    write_record(experiment)
    write_trial(experiment, 0, {"generator_lr": 1e-3, "dropout": 0.1}, [metrics(30, 0.95), metrics(25, 0.95)],
                checkpoints=True)
    write_trial(experiment, 1, {"generator_lr": 2e-3, "dropout": 0.2}, [metrics(10, 0.95), metrics(12, 0.97)],
                checkpoints=True)
    for directory in experiment.glob("*/checkpoint_*"):
        directory.rmdir()
        shutil.copytree(checkpoint, directory)
    return experiment


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    return export_bundle(tmp_path_factory.mktemp("bundle") / "bundle", checkpoint=checkpoint)


def checkpoint_images(checkpoint_dir: Path, labels: np.ndarray, seed: int) -> np.ndarray:
    """Generate from a checkpoint as training does, mapped from [-1, 1] to [0, 1]."""
    generator, _, _ = load_generator(checkpoint_dir)
    return GenerateFunction(generator)(labels, seed) * 0.5 + 0.5


def sample_in_fresh_process(bundle: Path, tmp_path: Path, label: int, count: int, seed: int) -> np.ndarray:
    """Run ``python -m acgan_search.sample`` in a new interpreter and return its images."""
    array = tmp_path / f"images_{label}_{seed}.npy"
    command = [sys.executable, "-m", "acgan_search.sample", str(bundle), "--label", str(label), "-n", str(count),
               "--seed", str(seed), "--out", str(tmp_path / "grid.png"), "--array", str(array)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_SECONDS,
                               env=environment, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return np.load(array)


# ------------------------------------------------------------------ the bundle


def test_export_bundle_files(bundle_dir: Path) -> None:
    assert (bundle_dir / bd.KERAS_FILE).is_file()
    assert (bundle_dir / bd.SAVED_MODEL_DIR / "saved_model.pb").is_file()
    assert (bundle_dir / bd.MODEL_CARD).is_file()
    with Image.open(bundle_dir / bd.SAMPLE_GRID) as image:
        assert image.format == "PNG"


def test_export_sample_grid_one_row_per_class(bundle_dir: Path) -> None:
    with Image.open(bundle_dir / bd.SAMPLE_GRID) as image:
        height = image.size[1]
    assert height == 10 * 28 + 9 * 2  # Ten rows of 28-pixel images with 2-pixel gaps.


def test_export_model_card_fields(bundle_dir: Path, checkpoint: Path) -> None:
    card = json.loads((bundle_dir / bd.MODEL_CARD).read_text())
    assert card["format"] == bd.BUNDLE_FORMAT
    assert card["generator"]["latent_dim"] == TINY_CONFIG["latent_dim"]
    assert card["generator"]["num_classes"] == 10
    assert card["generator"]["image_shape"] == [28, 28, 1]
    assert card["config"]["generator_filters"] == TINY_CONFIG["generator_filters"]
    assert card["dataset"]["name"] == "mnist-5k"
    assert len(card["dataset"]["fingerprint"]) == 64
    assert card["origin"]["checkpoint"] == str(checkpoint.resolve())
    assert card["origin"]["step"] == 2
    assert set(card["software"]) >= {"tensorflow", "keras", "numpy", "acgan_search", "python"}
    assert card["created_utc"].endswith("+00:00")
    assert set(card["serving"]) == {bd.NOISE_SIGNATURE, bd.SEED_SIGNATURE}


def test_bundle_fresh_process_matches_checkpoint(bundle_dir: Path, checkpoint: Path, tmp_path: Path) -> None:
    images = sample_in_fresh_process(bundle_dir, tmp_path, label=7, count=16, seed=0)
    expected = checkpoint_images(checkpoint, np.full(16, 7), seed=0)
    assert images.shape == (16, 28, 28, 1)
    np.testing.assert_allclose(images, expected, atol=1e-6)


def test_bundle_generate_seed_changes_images(bundle_dir: Path) -> None:
    bundle = bd.load_bundle(bundle_dir)
    first = bundle.generate(np.full(4, 3), seed=0)
    assert np.array_equal(first, bundle.generate(np.full(4, 3), seed=0))
    assert not np.allclose(first, bundle.generate(np.full(4, 3), seed=1))


def test_bundle_generate_batches_match_one_call(bundle_dir: Path) -> None:
    bundle = bd.load_bundle(bundle_dir)
    count = GENERATION_BATCH_SIZE + 7  # two calls of the generator, the second partial
    labels = np.arange(count) % 10
    images = bundle.generate(labels, seed=3)
    noise = noise_for_seed(count, TINY_CONFIG["latent_dim"], 3)
    expected = np.asarray(bundle.generator([noise, labels.astype(np.int32)], training=False)) * 0.5 + 0.5
    assert images.shape == (count, 28, 28, 1)
    np.testing.assert_allclose(images, expected, atol=1e-6)


def test_bfloat16_bundle_paths_give_same_images(tmp_path: Path) -> None:
    checkpoint_dir = make_checkpoint(
        tmp_path / "checkpoint", precision="mixed_bfloat16", self_attention=True, progressive=True
    )
    bundle_path = export_bundle(tmp_path / "bundle", checkpoint=checkpoint_dir)
    labels = np.arange(20) % 10
    images = bd.load_bundle(bundle_path).generate(labels, seed=4)
    np.testing.assert_array_equal(images, checkpoint_images(checkpoint_dir, labels, seed=4))
    served = tf.saved_model.load(str(bundle_path / bd.SAVED_MODEL_DIR)).signatures[bd.NOISE_SIGNATURE](
        noise=tf.constant(noise_for_seed(20, TINY_CONFIG["latent_dim"], 4)), labels=tf.constant(labels, tf.int32)
    )
    np.testing.assert_allclose(served["images"].numpy(), images, atol=1e-6)


def test_bundle_generate_label_out_of_range(bundle_dir: Path) -> None:
    bundle = bd.load_bundle(bundle_dir)
    with pytest.raises(ResultsError, match=r"labels must be in \[0, 9\].*label=10"):
        bundle.generate(np.array([1, 10]), seed=0)


def test_saved_model_serving_default_matches_keras(bundle_dir: Path) -> None:
    loaded = tf.saved_model.load(str(bundle_dir / bd.SAVED_MODEL_DIR))
    labels = np.arange(10, dtype=np.int32)
    noise = np.random.default_rng(5).standard_normal((10, TINY_CONFIG["latent_dim"])).astype(np.float32)
    outputs = loaded.signatures[bd.NOISE_SIGNATURE](noise=tf.constant(noise), labels=tf.constant(labels))
    generator = bd.load_bundle(bundle_dir).generator
    expected = np.asarray(generator([noise, labels], training=False)) * 0.5 + 0.5
    np.testing.assert_allclose(outputs["images"].numpy(), expected, atol=1e-5)
    assert outputs["images_uint8"].dtype == tf.uint8
    assert outputs["images_uint8"].shape == (10, 28, 28, 1)


def test_saved_model_seed_signature(bundle_dir: Path) -> None:
    loaded = tf.saved_model.load(str(bundle_dir / bd.SAVED_MODEL_DIR))
    generate = loaded.signatures[bd.SEED_SIGNATURE]
    labels = tf.constant([0, 7, 7], tf.int32)
    first = generate(labels=labels, seed=tf.constant(3, tf.int64))["images"].numpy()
    second = generate(labels=labels, seed=tf.constant(3, tf.int64))["images"].numpy()
    other = generate(labels=labels, seed=tf.constant(4, tf.int64))["images"].numpy()
    assert first.shape == (3, 28, 28, 1)
    assert first.dtype == np.float32
    assert first.min() >= 0.0
    assert first.max() <= 1.0
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)


# ------------------------------------------------------------------ choosing the checkpoint


def test_export_from_results_picks_best_interval(search_dir: Path, tmp_path: Path) -> None:
    out = export_bundle(tmp_path / "bundle", results_dir=search_dir)
    card = json.loads((out / bd.MODEL_CARD).read_text())
    assert card["origin"]["trial_id"] == "abcde_00001"
    assert Path(card["origin"]["checkpoint"]).name == "checkpoint_000000"
    assert card["metrics"][mn.FID] == 10
    assert card["evaluator"][mn.EVALUATOR_FINGERPRINT] == "e" * 16
    assert card["evaluator"][mn.FID_REAL_FLOOR] == 1.25


def test_export_trial_option(search_dir: Path, tmp_path: Path) -> None:
    out = export_bundle(tmp_path / "bundle", results_dir=search_dir, trial_id="abcde_00000")
    card = json.loads((out / bd.MODEL_CARD).read_text())
    assert card["origin"]["trial_id"] == "abcde_00000"
    assert Path(card["origin"]["checkpoint"]).name == "checkpoint_000001"


def test_export_checkpoint_inside_results_gets_metrics(search_dir: Path, tmp_path: Path) -> None:
    chosen = next(search_dir.glob("train_trial_abcde_00000_*/checkpoint_000000"))
    out = export_bundle(tmp_path / "bundle", results_dir=search_dir, checkpoint=chosen)
    card = json.loads((out / bd.MODEL_CARD).read_text())
    assert card["metrics"][mn.FID] == 30
    assert card["origin"]["selection"] == "checkpoint given with --checkpoint"


def test_export_checkpoint_inside_results_records_trial(search_dir: Path, tmp_path: Path) -> None:
    chosen = next(search_dir.glob("train_trial_abcde_00000_*/checkpoint_000000"))
    out = export_bundle(tmp_path / "bundle", results_dir=search_dir, checkpoint=chosen)
    origin = json.loads((out / bd.MODEL_CARD).read_text())["origin"]
    assert origin["trial_id"] == "abcde_00000"
    assert origin["experiment_dir"] == str(search_dir.resolve())
    assert origin["checkpoint"] == str(chosen.resolve())


def test_export_checkpoint_outside_results_origin(search_dir: Path, checkpoint: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    out = export_bundle(tmp_path / "bundle", results_dir=search_dir, checkpoint=checkpoint)
    card = json.loads((out / bd.MODEL_CARD).read_text())
    assert card["origin"]["checkpoint"] == str(checkpoint.resolve())
    assert card["origin"]["trial_id"] is None
    assert card["origin"]["experiment_dir"] is None
    assert card["metrics"] == {}
    assert card["search"] == {}
    assert "is not inside any trial of the search" in caplog.text


def test_export_bundle_dir_mode_follows_umask(checkpoint: Path, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        out = export_bundle(tmp_path / "bundle", checkpoint=checkpoint)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_staged_output_dir_mode_follows_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        with staged_output_dir(tmp_path / "out", overwrite=False) as staging:
            (staging / "file.txt").write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750


def test_export_skips_interval_without_checkpoint(search_dir: Path, tmp_path: Path) -> None:
    best = next(search_dir.glob("train_trial_abcde_00001_*/checkpoint_000000"))
    shutil.rmtree(best)  # E.g. removed by Ray's num_to_keep.
    out = export_bundle(tmp_path / "bundle", results_dir=search_dir)
    card = json.loads((out / bd.MODEL_CARD).read_text())
    assert card["origin"]["trial_id"] == "abcde_00001"
    assert Path(card["origin"]["checkpoint"]).name == "checkpoint_000001"


# ------------------------------------------------------------------ bad input


def test_export_existing_output_rejected(search_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ResultsError, match=r"Output directory already exists; nothing was written.*--overwrite"):
        export_bundle(out, results_dir=search_dir)
    assert sorted(path.name for path in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"


def test_export_overwrite_replaces(search_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("old")
    export_bundle(out, results_dir=search_dir, overwrite=True)
    assert not (out / "old.txt").exists()
    assert (out / bd.MODEL_CARD).is_file()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".bundle")] == []


def test_staged_output_dir_failure_keeps_existing(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with staged_output_dir(out, overwrite=True) as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise RuntimeError("disk full")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bundle"]
    assert sorted(path.name for path in out.iterdir()) == ["old.txt"]


def test_export_unknown_trial(search_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"Trial not found.*trial='nope_00009'.*Known trial IDs: abcde_00000"):
        export_bundle(tmp_path / "bundle", results_dir=search_dir, trial_id="nope_00009")
    assert not (tmp_path / "bundle").exists()


def test_export_no_finished_interval(tmp_path: Path) -> None:
    write_trial(tmp_path / "search", 0, {"generator_lr": 1e-3}, [], status="RUNNING")
    with pytest.raises(ResultsError, match=r"no finished evaluation interval yet.*--checkpoint PATH"):
        export_bundle(tmp_path / "bundle", results_dir=tmp_path / "search")
    assert not (tmp_path / "bundle").exists()


def test_export_dir_without_results(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match=r"No search results in"):
        export_bundle(tmp_path / "bundle", results_dir=tmp_path / "empty")


def test_export_incomplete_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(CheckpointError, match=r"is incomplete: missing config.yaml"):
        export_bundle(tmp_path / "bundle", checkpoint=tmp_path / "checkpoint")


def test_export_nothing_to_export(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"Nothing to export"):
        export_bundle(tmp_path / "bundle")


def test_export_trial_and_checkpoint_together(search_dir: Path, checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"--trial and --checkpoint both choose the checkpoint"):
        export_bundle(tmp_path / "bundle", results_dir=search_dir, trial_id="abcde_00000", checkpoint=checkpoint)


def test_export_cli_existing_output(search_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bundle").mkdir()
    status = export_cli.main([str(search_dir), "--out", str(tmp_path / "bundle")])
    assert status == 2
    assert "error: Output directory already exists" in capsys.readouterr().err


def test_load_bundle_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"Not a deployment bundle: model_card.json not found"):
        bd.load_bundle(tmp_path)


# ------------------------------------------------------------------ a real tiny search


@pytest.mark.slow
def test_real_search_export_matches_checkpoint(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    experiment = tiny_search_dir(tmp_path_factory)
    out = export_bundle(tmp_path / "bundle", results_dir=experiment, accuracy_threshold=0.0)
    card = json.loads((out / bd.MODEL_CARD).read_text())
    results = rs.load_search_results(experiment)
    assert card["origin"]["trial_id"] in results.trial_ids()
    assert card["evaluator"][mn.EVALUATOR_FINGERPRINT] == results.record["evaluator"][mn.EVALUATOR_FINGERPRINT]
    images = sample_in_fresh_process(out, tmp_path, label=7, count=8, seed=3)
    expected = checkpoint_images(Path(card["origin"]["checkpoint"]), np.full(8, 7), seed=3)
    np.testing.assert_allclose(images, expected, atol=1e-6)
