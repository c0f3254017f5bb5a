"""Harness overhead: a Ray Tune search against the same trials trained back to back without Ray.

    python benchmarks/search_overhead.py search_spaces/weights.yaml --storage /tmp/overhead --num-cpus 2

Phase 1 runs the search with ``run_search`` (embedded Ray) and times it from the call to the
ranking, which includes starting Ray, the evaluator and every trial. Phase 2 takes each trial's
sampled configuration and the number of steps it trained (so trials ASHA stopped are retrained
only as far), and runs the same work in this process with no Ray: build the trainer, train
interval by interval, evaluate, save a checkpoint and a sample grid. TensorFlow gets all
``--num-cpus`` threads in phase 2, and the search runs ``max_concurrent_trials`` trials at once
on the same cores, so both phases have the same CPUs.

Overhead = search wall time / back-to-back wall time - 1. Prints one JSON object with both
times, the number of trials, how many ASHA stopped early, and the best trial's metrics.
Timings on a machine shared with other work are unreliable; say so next to any number quoted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("space", help="search-space YAML file")
    parser.add_argument("--storage", required=True, help="storage root for the search (a fresh directory)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs for Ray and for the back-to-back run")
    parser.add_argument("--skip-baseline", action="store_true", help="run only the search (phase 1)")
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from acgan_search import metric_names
    from acgan_search.search import format_ranking, load_search_space, run_search, summarize_results
    from acgan_search.search.results import STOPPED_EARLY

    space = load_search_space(arguments.space)

    # Phase 1: the search.
    start = time.perf_counter()
    run, grid = run_search(space, storage=arguments.storage, num_cpus=arguments.num_cpus)
    summaries = summarize_results(grid, space.metrics, space.modes, space.max_steps)
    search_seconds = time.perf_counter() - start
    print(format_ranking(summaries, space.metrics, space.top_k), file=sys.stderr)

    best = summaries[0].best if summaries else {}
    record = {
        "space": str(space.path),
        "num_cpus": arguments.num_cpus,
        "trials": len(summaries),
        "stopped_early": sum(summary.status == STOPPED_EARLY for summary in summaries),
        "statuses": [summary.status for summary in summaries],
        "steps_trained": sum(summary.last_step for summary in summaries),
        "search_seconds": round(search_seconds, 1),
        "best_trial": summaries[0].trial_id if summaries else None,
        "best_fid": best.get(metric_names.FID),
        "best_class_accuracy": best.get(metric_names.CLASS_ACCURACY),
        # The highest class accuracy of any interval of any trial that did not diverge.
        "max_class_accuracy": max(
            (
                float(result.metrics_dataframe.query(f"{metric_names.DIVERGED} == 0")[metric_names.CLASS_ACCURACY].max())
                for result in grid
                if result.metrics_dataframe is not None and not result.metrics_dataframe.empty
            ),
            default=None,
        ),
        "results": run.experiment_path,
    }
    if arguments.skip_baseline:
        print(json.dumps(record, indent=2))
        return 0

    # Phase 2: the same trials back to back in this process, without Ray.
    work = [(summary.parameters, summary.last_step) for summary in summaries if summary.last_step > 0]
    baseline_seconds = train_back_to_back(space, work, arguments.num_cpus)
    record["baseline_seconds"] = round(baseline_seconds, 1)
    record["overhead"] = round(search_seconds / baseline_seconds - 1.0, 3)
    print(json.dumps(record, indent=2))
    return 0


def train_back_to_back(space, work: list[tuple[dict, int]], num_cpus: int) -> float:
    """Train each (parameters, steps) pair in turn with the trial's work per interval; return seconds."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(num_cpus)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(num_cpus)
    from acgan_search.data import load_dataset
    from acgan_search.evaluation import Evaluator
    from acgan_search.search.trainable import SAMPLE_GRID_FILE, configure_tensorflow
    from acgan_search.search.tuner import EVALUATOR_SEED
    from acgan_search.training import Trainer

    configure_tensorflow(num_cpus)
    start = time.perf_counter()
    dataset = load_dataset(space.base_config())
    evaluator = Evaluator.for_dataset(dataset, seed=EVALUATOR_SEED)
    for parameters, steps in work:
        trainer = Trainer(space.training_config(parameters), dataset)
        while trainer.step < steps:
            trainer.train(min(space.interval, steps - trainer.step))
            evaluator.evaluate(trainer.generate, samples_per_class=space.samples_per_class, seed=space.evaluation_seed)
            with tempfile.TemporaryDirectory() as directory:
                trainer.save_checkpoint(directory)
                trainer.save_sample_grid(Path(directory) / SAMPLE_GRID_FILE)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
