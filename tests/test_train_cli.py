"""Tests of ``python -m acgan_search.train``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from acgan_search.cli import deferred_interrupt
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


def test_train_cli_out_is_regular_file(tmp_path, capsys):
    config = write_config(tmp_path / "config.yaml", max_steps=2)
    out = tmp_path / "taken"
    out.write_text("not a directory")
    assert main([str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The run directory path exists and is not a directory")
    assert "Traceback" not in err
    assert out.read_text() == "not a directory"


def test_train_cli_missing_data_leaves_no_folder(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(f"dataset: fashion-mnist\ndata_path: {tmp_path / 'absent'}\n")
    assert main([str(config), "--out", str(tmp_path / "parent" / "run")]) == 2
    assert "error: Fashion-MNIST folder not found" in capsys.readouterr().err
    assert not (tmp_path / "parent").exists()


def test_train_cli_missing_data_keeps_existing_folder(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(f"dataset: fashion-mnist\ndata_path: {tmp_path / 'absent'}\n")
    run = tmp_path / "run"
    run.mkdir()
    assert main([str(config), "--out", str(run)]) == 2
    assert run.is_dir()
    assert list(run.iterdir()) == []


def test_train_cli_resumes_past_truncated_checkpoint(tmp_path, capsys, caplog):
    run = tmp_path / "run"
    main([str(write_config(tmp_path / "a.yaml", max_steps=4)), "--out", str(run)])
    damaged = run / "checkpoints" / "step_000004"
    (damaged / "training_state.npz").write_bytes(b"PK\x03\x04 cut off")
    capsys.readouterr()
    assert main([str(write_config(tmp_path / "b.yaml", max_steps=6)), "--out", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 6.0
    assert f"Checkpoint {damaged} is unreadable" in caplog.text
    assert (run / "checkpoints" / "step_000004.unreadable" / "training_state.npz").read_bytes() == b"PK\x03\x04 cut off"


def test_train_cli_ctrl_c_stops_cleanly(tmp_path, default_sigint):
    config = write_config(tmp_path / "config.yaml", max_steps=1_000_000)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "acgan_search.train", str(config), "--out", str(run)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        for line in process.stderr:
            if "Checkpoint written" in line:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in err
    last_lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    assert len(last_lines) == 1
    assert re.match(r"interrupted: training stopped; the last checkpoint is .*step_\d{6}\. Run `python -m "
                    r"acgan_search.train .* --out .*` to resume from it\.", last_lines[0])


def test_deferred_interrupt_turns_first_ctrl_c_into_request(default_sigint):
    with deferred_interrupt() as stop_requested:
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_interrupt_keeps_ignored_sigint():
    inherited = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_interrupt() as stop_requested:
            os.kill(os.getpid(), signal.SIGINT)
            assert not stop_requested()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, inherited)
