"""Tests of ``python -m acgan_search.sample``: images from a bundle alone, and its bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from acgan_search import sample as sample_cli
from acgan_search.reporting.exporting import export_bundle
from test_export import make_checkpoint

SUBPROCESS_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint") / "checkpoint_000000")
    bundle = export_bundle(tmp_path_factory.mktemp("bundle") / "bundle", checkpoint=checkpoint)
    # The bundle must work without the checkpoint it came from.
    for path in sorted(checkpoint.iterdir()):
        path.unlink()
    checkpoint.rmdir()
    return bundle


def test_sample_cli_writes_grid(bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sevens.png"
    command = [sys.executable, "-m", "acgan_search.sample", str(bundle_dir), "--label", "7", "-n", "16",
               "--seed", "0", "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_SECONDS,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "wrote 16 images of class 7" in completed.stdout
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (4 * 28 + 3 * 2, 4 * 28 + 3 * 2)  # A 4x4 grid with 2-pixel gaps.


def test_sample_same_seed_same_images(bundle_dir: Path, tmp_path: Path) -> None:
    for name in ("first", "second"):
        assert sample_cli.main([str(bundle_dir), "--label", "3", "-n", "5", "--seed", "11",
                                "--out", str(tmp_path / f"{name}.png"), "--array", str(tmp_path / f"{name}.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()


def test_sample_images_in_unit_range(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample_cli.main([str(bundle_dir), "--label", "0", "-n", "3", "--out", str(tmp_path / "x.png"),
                     "--array", str(tmp_path / "x.npy")])
    assert "float32 array in [0, 1]" in capsys.readouterr().out
    images = np.load(tmp_path / "x.npy")
    assert images.shape == (3, 28, 28, 1)
    assert images.dtype == np.float32
    assert images.min() >= 0.0
    assert images.max() <= 1.0


def test_sample_label_out_of_range(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "12", "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "labels must be in [0, 9]" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_sample_count_below_one(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "-n", "0", "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "error: -n must be at least 1. Received: -n=0." in capsys.readouterr().err


def test_sample_negative_seed(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "--seed", "-1", "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "error: --seed must be at least 0. Received: --seed=-1." in capsys.readouterr().err


def test_sample_seed_above_32_bits(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "--seed", str(2**32), "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "error: --seed must be at most 4294967295 (2**32 - 1)" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("columns", ["0", "-2"])
def test_sample_columns_below_one(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], columns: str) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "--columns", columns, "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: --columns must be at least 1. Received: --columns={columns}.")
    assert not (tmp_path / "x.png").exists()


def test_sample_existing_png_kept(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.png"
    out.write_bytes(b"mine")
    status = sample_cli.main([str(bundle_dir), "--label", "1", "-n", "2", "--out", str(out)])
    assert status == 2
    assert "error: Output file already exists; nothing was written. Received: --out=" in capsys.readouterr().err
    assert out.read_bytes() == b"mine"


def test_sample_existing_array_kept(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    array = tmp_path / "images.npy"
    array.write_bytes(b"mine")
    status = sample_cli.main([str(bundle_dir), "--label", "1", "-n", "2", "--out", str(tmp_path / "x.png"),
                              "--array", str(tmp_path / "images")])
    assert status == 2
    assert "Received: --array=" in capsys.readouterr().err
    assert array.read_bytes() == b"mine"
    assert not (tmp_path / "x.png").exists()


def test_sample_overwrite_replaces_png(bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    out.write_bytes(b"mine")
    assert sample_cli.main([str(bundle_dir), "--label", "1", "-n", "2", "--out", str(out), "--overwrite"]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_sample_out_is_directory(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "--out", str(tmp_path), "--overwrite"])
    assert status == 2
    assert "error: The output path is a directory, not a file" in capsys.readouterr().err


def test_sample_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(tmp_path / "absent"), "--label", "1", "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "Not a deployment bundle: model_card.json not found" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["x.txt", "noext"])
def test_sample_out_without_image_suffix(
    bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "--out", str(tmp_path / name)])
    assert status == 2
    assert "needs an image suffix that Pillow can write" in capsys.readouterr().err
    assert not (tmp_path / name).exists()


def test_sample_array_directory_rejected(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = sample_cli.main([str(bundle_dir), "--label", "1", "--out", str(tmp_path / "x.png"), "--array", str(tmp_path)])
    assert status == 2
    assert "Received: --array=" in capsys.readouterr().err
    assert not Path(str(tmp_path) + ".npy").exists()
