"""Tests of ``python -m acgan_search.train``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from acgan_search.train import main

TINY_YAML = """\
latent_dim: 8
embedding_dim: 4
generator_filters: 16
discriminator_filters: 8
batch_size: 20
max_steps: {max_steps}
interval: 2
log_every: 1
"""


def write_config(path, max_steps: int):
    path.write_text(TINY_YAML.format(max_steps=max_steps))
    return path


def test_train_cli_trains_and_prints_metrics(tmp_path, capsys):
    config = write_config(tmp_path / "config.yaml", max_steps=2)
    assert main([str(config), "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["step"] == 2.0
    assert (tmp_path / "run" / "checkpoints" / "step_000002" / "generator.keras").is_file()
    assert (tmp_path / "run" / "samples" / "step_000002.png").is_file()


def test_train_cli_resumes_from_out_directory(tmp_path, capsys):
    run = tmp_path / "run"
    main([str(write_config(tmp_path / "a.yaml", max_steps=2)), "--out", str(run)])
    capsys.readouterr()
    assert main([str(write_config(tmp_path / "b.yaml", max_steps=4)), "--out", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 4.0
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["step_000002", "step_000004"]


def test_train_cli_reports_unknown_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("batch_sise: 20\n")
    assert main([str(config), "--out", str(tmp_path / "run")]) == 2
    assert "unknown training setting 'batch_sise'. Did you mean batch_size?" in capsys.readouterr().err


def test_train_cli_reports_missing_file(tmp_path, capsys):
    assert main([str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "Configuration file not found" in capsys.readouterr().err


def test_train_cli_requires_out(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "config.yaml")])


def test_train_cli_help_runs_as_module():
    result = subprocess.run(
        [sys.executable, "-m", "acgan_search.train", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "--out" in result.stdout
