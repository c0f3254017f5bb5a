"""Train one AC-GAN from a YAML configuration, resuming from the output directory.

Usage:
    python -m acgan_search.train CONFIG.yaml --out runs/mnist
    python -m acgan_search.train CONFIG.yaml --out runs/mnist   # run again to resume

Checkpoints go to OUT/checkpoints/step_NNNNNN/, sample grids to OUT/samples/. The final
interval's metrics are printed to stdout as JSON. Ctrl-C stops training with exit status 130
and prints the checkpoint that a rerun of the same command resumes from.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from acgan_search.cli import configure_logging, deferred_interrupt, run_cli
from acgan_search.config import TrainConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m acgan_search.train",
        description="Train one AC-GAN; rerun with the same --out to resume from its latest checkpoint.",
    )
    parser.add_argument("config", help="YAML file of TrainConfig fields; missing fields take their defaults.")
    parser.add_argument("--out", required=True, help="Run directory for checkpoints, sample grids and logs.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def describe_resume_point(out: Path, command: str) -> str:
    """Return the interruption message: the latest checkpoint under ``out`` and how to resume."""
    loop = sys.modules.get("acgan_search.training.loop")
    if loop is None:
        # Interrupted while TensorFlow was still being imported: importing it again here could
        # fail half-way, and this run cannot have written a checkpoint yet.
        return f"stopped during start-up, before training began. Run `{command}` to start or resume."
    checkpoint = loop.latest_checkpoint(out) if out.is_dir() else None
    if checkpoint is None:
        return f"training stopped before its first checkpoint. Run `{command}` to start again."
    return f"training stopped; the last checkpoint is {checkpoint}. Run `{command}` to resume from it."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=False, level=args.log_level)
    out = Path(args.out)
    command = "python -m acgan_search.train " + shlex.join([args.config, "--out", args.out])

    def body() -> int:
        config = TrainConfig.from_yaml(args.config)
        # Imported after parsing so that --help and configuration errors need no TensorFlow start-up.
        from acgan_search.training import train_and_evaluate

        with deferred_interrupt() as stop_requested:
            metrics = train_and_evaluate(config, out, stop_requested=stop_requested)
        print(json.dumps(metrics, sort_keys=True))
        return 0

    return run_cli(body, on_interrupt=lambda: describe_resume_point(out, command))


if __name__ == "__main__":
    sys.exit(main())
