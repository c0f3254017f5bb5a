"""Tests of ``python -m acgan_search.evaluate`` on real checkpoints, run folders, bundles and .keras files.

The generator is a real, untrained ``Trainer`` generator of a shrunken configuration; its
checkpoint is written by ``Trainer.save_checkpoint``. The mnist-5k evaluator classifier comes
from the default cache (trained on first use, as in tests/test_evaluation.py).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.data import load_dataset
from acgan_search.evaluate import evaluate_path, main
from acgan_search.training import Trainer
from acgan_search.training.loop import CHECKPOINTS_DIR, checkpoint_name

SAMPLES_PER_CLASS = 65  # The minimum for the 64-dimensional evaluator features.
TINY = TrainConfig(
    generator_filters=8, discriminator_filters=8, latent_dim=8, embedding_dim=4, batch_size=16, max_steps=2, interval=2
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("checkpoint") / "step"
    Trainer(TINY, load_dataset(TINY)).save_checkpoint(directory)
    return directory


@pytest.fixture(scope="module")
def bundle(checkpoint, tmp_path_factory) -> Path:
    # The two files of an exported bundle that evaluation reads.
    directory = tmp_path_factory.mktemp("bundle")
    shutil.copy(checkpoint / "generator.keras", directory / "generator.keras")
    (directory / "model_card.json").write_text(json.dumps({"config": TINY.to_dict()}), encoding="utf-8")
    return directory


def _run_json(capsys, *args: str) -> dict:
    status = main([*args, "--json", "--samples-per-class", str(SAMPLES_PER_CLASS)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def test_cli_checkpoint_json(checkpoint, capsys):
    result = _run_json(capsys, str(checkpoint))
    assert result["dataset"] == "mnist-5k"
    assert len(result["evaluator_fingerprint"]) == 16
    assert result["metrics"][metric_names.EVAL_SAMPLES] == 10 * SAMPLES_PER_CLASS
    assert metric_names.FID_REAL_FLOOR in result["metrics"]


def test_cli_checkpoint_table(checkpoint, capsys):
    status = main([str(checkpoint), "--samples-per-class", str(SAMPLES_PER_CLASS)])
    output = capsys.readouterr().out
    assert status == 0
    assert "evaluator fingerprint" in output
    assert "FID real vs real (noise floor)" in output
    assert output.count("\n") > 20  # Summary plus one row per class.


def test_cli_run_directory_uses_latest_checkpoint(checkpoint, tmp_path, capsys, caplog):
    for step in (2, 4):
        shutil.copytree(checkpoint, tmp_path / CHECKPOINTS_DIR / checkpoint_name(step))
    with caplog.at_level(logging.INFO, logger="acgan_search.evaluate"):
        result = _run_json(capsys, str(tmp_path))
    assert result["metrics"][metric_names.EVAL_SAMPLES] == 10 * SAMPLES_PER_CLASS
    assert f"Loading checkpoint {tmp_path / CHECKPOINTS_DIR / checkpoint_name(4)}" in caplog.text


def test_cli_bundle_matches_checkpoint(checkpoint, bundle):
    # Same generator, same noise recipe, same seed: the same metrics.
    from_checkpoint = evaluate_path(checkpoint, samples_per_class=SAMPLES_PER_CLASS, seed=5)
    from_bundle = evaluate_path(bundle, samples_per_class=SAMPLES_PER_CLASS, seed=5)
    assert from_bundle.metrics == from_checkpoint.metrics


def test_cli_keras_file_with_dataset(checkpoint, capsys):
    result = _run_json(capsys, str(checkpoint / "generator.keras"), "--dataset", "mnist-5k")
    assert result["dataset"] == "mnist-5k"


def test_cli_same_seed_same_metrics(checkpoint):
    first = evaluate_path(checkpoint, samples_per_class=SAMPLES_PER_CLASS, seed=1)
    second = evaluate_path(checkpoint, samples_per_class=SAMPLES_PER_CLASS, seed=1)
    assert first.metrics == second.metrics


def test_cli_keras_file_without_dataset_fails(checkpoint, capsys):
    status = main([str(checkpoint / "generator.keras")])
    assert status == 2
    assert "Pass --dataset" in capsys.readouterr().err


def test_cli_missing_path_fails(tmp_path, capsys):
    status = main([str(tmp_path / "absent")])
    assert status == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_folder_without_checkpoint_fails(tmp_path, capsys):
    status = main([str(tmp_path)])
    assert status == 2
    assert "neither a checkpoint directory" in capsys.readouterr().err


def test_cli_bundle_without_config_fails(checkpoint, tmp_path, capsys):
    shutil.copy(checkpoint / "generator.keras", tmp_path / "generator.keras")
    (tmp_path / "model_card.json").write_text("{}", encoding="utf-8")
    status = main([str(tmp_path)])
    assert status == 2
    assert 'under the key "config"' in capsys.readouterr().err


def test_cli_too_few_samples_fails(checkpoint, capsys):
    status = main([str(checkpoint), "--samples-per-class", "10"])
    assert status == 2
    assert "error: --samples-per-class must be at least 65. Received: --samples-per-class=10" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "minimum"),
    [("--seed", "-1", 0), ("--evaluator-seed", "-3", 0), ("--samples-per-class", "0", 65), ("--samples-per-class", "-5", 65)],
)
def test_cli_out_of_range_option_fails(tmp_path, capsys, option, value, minimum):
    status = main([str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {option} must be at least {minimum}. Received: {option}={value}.")
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--seed", "--evaluator-seed"])
def test_cli_seed_too_large_fails(tmp_path, capsys, option):
    status = main([str(tmp_path), option, str(2**32)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {option} must be at most 4294967295 (2**32 - 1)")
    assert "Traceback" not in err


def test_cli_truncated_keras_file_fails(checkpoint, tmp_path, capsys):
    damaged = tmp_path / "generator.keras"
    damaged.write_bytes((checkpoint / "generator.keras").read_bytes()[:100])
    status = main([str(damaged), "--dataset", "mnist-5k"])
    assert status == 2
    assert capsys.readouterr().err.startswith(f"error: Cannot load the generator from {damaged}")


def test_cli_unreadable_dataset_fails(checkpoint, capsys):
    status = main([str(checkpoint / "generator.keras"), "--dataset", "image-folder", "--data-path", "/nonexistent"])
    assert status == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.slow
def test_cli_subprocess_prints_only_json_on_stdout(checkpoint):
    result = subprocess.run(
        [sys.executable, "-m", "acgan_search.evaluate", str(checkpoint), "--json", "--samples-per-class", "65"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["samples_per_class"] == 65
    assert "Evaluating" in result.stderr
