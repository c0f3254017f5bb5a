"""Measure the cost of one evaluation against the training time of one evaluation interval.

Usage:
    python benchmarks/evaluation_cost.py                          # mnist-5k, default TrainConfig
    python benchmarks/evaluation_cost.py --threads 2 --train-steps 100 --json
    python benchmarks/evaluation_cost.py --floors 65,100,200 --dataset fashion-mnist

Builds a ``Trainer`` with the default ``TrainConfig``: the default generator and discriminator
architecture and batch size. It measures the training speed in steps per second after one
warm-up call. Then it times ``Evaluator.evaluate(trainer.generate, ...)`` at the evaluator's
default sample count, once cold (tracing the compiled functions, as in a trial's first
interval) and ``--repeats`` times warm. It prints the split into generation, feature
extraction and metric computation, and the warm evaluation time as a fraction of
``TrainConfig().interval`` training steps. The evaluator classifier comes from the cache
(trained on first use).

With ``--floors N1,N2,...`` it prints instead the real-versus-real FID and intra-class FID at
each number of images per class: the sampling bias that a perfect generator would still show.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist-5k", help="dataset name (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads (default: %(default)s)")
    parser.add_argument("--train-steps", type=int, default=50, help="timed training steps (default: %(default)s)")
    parser.add_argument("--samples-per-class", type=int, default=None, help="generated images per class (default: the evaluator's default, 500 or 200 on mnist-5k)")
    parser.add_argument("--repeats", type=int, default=3, help="warm evaluations to time (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--floors", default=None, help="comma-separated images per class: print the real-vs-real floors")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import numpy as np

    from acgan_search.config import TrainConfig
    from acgan_search.data import load_dataset
    from acgan_search.evaluation import Evaluator
    from acgan_search.training import Trainer

    config = TrainConfig(dataset=args.dataset)
    dataset = load_dataset(config)
    evaluator = Evaluator.for_dataset(dataset, seed=0)
    samples_per_class = args.samples_per_class or evaluator.default_samples_per_class
    if args.floors:
        return print_floors(evaluator, [int(count) for count in args.floors.split(",")], args.json)

    # Training speed: one warm-up call traces the compiled step, then a timed call.
    trainer = Trainer(config, dataset)
    trainer.train(5)
    start = time.perf_counter()
    trainer.train(args.train_steps)
    seconds_per_step = (time.perf_counter() - start) / args.train_steps
    interval_seconds = config.interval * seconds_per_step

    # Evaluation: cold (first call traces the generator and feature functions), then warm.
    start = time.perf_counter()
    evaluator.evaluate(trainer.generate, samples_per_class=samples_per_class, seed=0)
    cold_seconds = time.perf_counter() - start

    labels = np.repeat(np.arange(dataset.num_classes, dtype=np.int32), samples_per_class)
    totals, generation, features = [], [], []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        evaluator.evaluate(trainer.generate, samples_per_class=samples_per_class, seed=repeat + 1)
        totals.append(time.perf_counter() - start)
        start = time.perf_counter()
        images = trainer.generate(labels, repeat + 1)
        generation.append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluator.features_and_logits(images)
        features.append(time.perf_counter() - start)
    warm_seconds = float(np.median(totals))

    result = {
        "dataset": dataset.name,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "batch_size": config.batch_size,
        "interval_steps": config.interval,
        "train_seconds_per_step": seconds_per_step,
        "interval_train_seconds": interval_seconds,
        "samples_per_class": samples_per_class,
        "eval_images": int(len(labels)),
        "eval_cold_seconds": cold_seconds,
        "eval_warm_seconds": warm_seconds,
        "generation_seconds": float(np.median(generation)),
        "features_seconds": float(np.median(features)),
        "metrics_seconds": warm_seconds - float(np.median(generation)) - float(np.median(features)),
        "eval_fraction_of_interval": warm_seconds / interval_seconds,
        "eval_cold_fraction_of_interval": cold_seconds / interval_seconds,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        width = max(len(key) for key in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return 0


def print_floors(evaluator, counts: list[int], as_json: bool) -> int:
    """Print the real-versus-real FID floors at each number of images per class."""
    rows = [{"samples_per_class": count, **evaluator.real_floors(count)} for count in counts]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print("  ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}" for key, value in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
