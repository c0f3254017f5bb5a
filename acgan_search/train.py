"""Train one AC-GAN from a YAML configuration, resuming from the output directory.

Usage:
    python -m acgan_search.train CONFIG.yaml --out runs/mnist
    python -m acgan_search.train CONFIG.yaml --out runs/mnist   # run again to resume

Checkpoints go to OUT/checkpoints/step_NNNNNN/, sample grids to OUT/samples/. The final
interval's metrics are printed to stdout as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from acgan_search.config import TrainConfig
from acgan_search.errors import ACGANSearchError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m acgan_search.train",
        description="Train one AC-GAN; rerun with the same --out to resume from its latest checkpoint.",
    )
    parser.add_argument("config", help="YAML file of TrainConfig fields; missing fields take their defaults.")
    parser.add_argument("--out", required=True, help="Run directory for checkpoints, sample grids and logs.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = TrainConfig.from_yaml(args.config)
        # Imported after parsing so that --help and configuration errors need no TensorFlow start-up.
        from acgan_search.training import train_and_evaluate

        metrics = train_and_evaluate(config, args.out)
    except ACGANSearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
