"""Tests of resuming past damaged checkpoints and of the work directory's lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.errors import CheckpointError, ConfigError, ResultsError
from acgan_search.training import Trainer, train_and_evaluate
from acgan_search.training.checkpoint import GENERATOR_FILE, STATE_ARRAYS_FILE, STATE_FILE, check_readable
from acgan_search.training.loop import latest_checkpoint, latest_readable_checkpoint

TINY = {"latent_dim": 8, "embedding_dim": 4, "generator_filters": 16, "discriminator_filters": 8, "batch_size": 20}


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


@pytest.fixture()
def run_dir(mnist_small, tmp_path: Path) -> Path:
    """A run directory with checkpoints at steps 2 and 4."""
    train_and_evaluate(tiny_config(max_steps=4, interval=2), tmp_path / "run", dataset=mnist_small)
    return tmp_path / "run"


def truncate(path: Path, size: int = 40) -> None:
    path.write_bytes(path.read_bytes()[:size])


def test_check_readable_accepts_fresh_checkpoint(run_dir: Path) -> None:
    check_readable(run_dir / "checkpoints" / "step_000004")


@pytest.mark.parametrize("name", [STATE_ARRAYS_FILE, GENERATOR_FILE])
def test_check_readable_truncated_file(run_dir: Path, name: str) -> None:
    checkpoint = run_dir / "checkpoints" / "step_000004"
    truncate(checkpoint / name)
    with pytest.raises(CheckpointError, match=rf"Checkpoint file .*step_000004/{name} is corrupt or truncated"):
        check_readable(checkpoint)


def test_check_readable_corrupt_state_json(run_dir: Path) -> None:
    checkpoint = run_dir / "checkpoints" / "step_000004"
    (checkpoint / STATE_FILE).write_bytes(b'{"step": 4, \xff')
    with pytest.raises(CheckpointError, match=r"Cannot read .*state.json"):
        check_readable(checkpoint)


def test_from_checkpoint_truncated_arrays(run_dir: Path, mnist_small) -> None:
    checkpoint = run_dir / "checkpoints" / "step_000004"
    truncate(checkpoint / STATE_ARRAYS_FILE)
    with pytest.raises(CheckpointError, match=r"training_state.npz is corrupt or truncated.*earlier checkpoint"):
        Trainer.from_checkpoint(checkpoint, mnist_small)


def test_latest_readable_checkpoint_skips_damaged(run_dir: Path) -> None:
    truncate(run_dir / "checkpoints" / "step_000004" / STATE_ARRAYS_FILE)
    assert latest_readable_checkpoint(run_dir) == run_dir / "checkpoints" / "step_000002"
    assert (run_dir / "checkpoints" / "step_000004.unreadable").is_dir()
    assert not (run_dir / "checkpoints" / "step_000004").exists()


def test_latest_readable_checkpoint_none_readable(run_dir: Path) -> None:
    for step in ("step_000002", "step_000004"):
        truncate(run_dir / "checkpoints" / step / STATE_ARRAYS_FILE)
    with pytest.raises(CheckpointError, match=r"none of its 2 checkpoints can be read.*To train from scratch, move"):
        latest_readable_checkpoint(run_dir)
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["step_000002", "step_000004"]


def test_train_and_evaluate_resumes_from_intact_checkpoint(run_dir: Path, mnist_small, tmp_path: Path) -> None:
    truncate(run_dir / "checkpoints" / "step_000004" / STATE_ARRAYS_FILE)
    resumed = train_and_evaluate(tiny_config(max_steps=6, interval=2), run_dir, dataset=mnist_small)
    expected = train_and_evaluate(tiny_config(max_steps=6, interval=2), tmp_path / "fresh", dataset=mnist_small)
    assert resumed[metric_names.D_LOSS] == expected[metric_names.D_LOSS]
    assert resumed[metric_names.G_LOSS] == expected[metric_names.G_LOSS]


def test_train_and_evaluate_workdir_is_file(mnist_small, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("keep")
    with pytest.raises(ResultsError, match="exists and is not a directory; nothing was written"):
        train_and_evaluate(tiny_config(max_steps=2, interval=2), path, dataset=mnist_small)
    assert path.read_text() == "keep"


def test_train_and_evaluate_bad_config_creates_no_workdir(mnist_small, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image_size"):
        train_and_evaluate(tiny_config(max_steps=2, interval=2, image_size=32), tmp_path / "run", dataset=mnist_small)
    assert not (tmp_path / "run").exists()


def test_train_and_evaluate_stops_when_requested(mnist_small, tmp_path):
    config = TrainConfig.from_dict({**TINY, "max_steps": 100, "interval": 2, "log_every": 1})
    polls = []

    def stop_requested() -> bool:
        polls.append(1)
        return len(polls) > 3

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, tmp_path, dataset=mnist_small, stop_requested=stop_requested)
    assert latest_checkpoint(tmp_path).name == "step_000002"
