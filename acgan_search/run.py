"""Run a hyperparameter search described by a search-space YAML file.

    python -m acgan_search.run search_spaces/weights.yaml                  # embedded Ray, ./results
    python -m acgan_search.run search_spaces/weights.yaml --resume         # continue after an interruption
    python -m acgan_search.run search_spaces/full.yaml --address auto --storage s3://bucket/searches

The file is validated completely before Ray starts. At the end the top-k trials are printed,
best first, with the path of the results. Errors in the input print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from acgan_search.errors import ACGANSearchError


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m acgan_search.run",
        description="Search AC-GAN hyperparameters with Ray Tune, Optuna and ASHA.",
    )
    parser.add_argument("space", help="search-space YAML file (see docs/search.md)")
    parser.add_argument(
        "--storage",
        default=None,
        help="storage root for results: a local path (default ./results) or, for multi-node runs, "
        "a shared filesystem path or bucket URI that every node reaches",
    )
    parser.add_argument(
        "--address", default=None, help="address of a running Ray cluster (e.g. auto); default: start Ray here"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the search stored at <storage>/<name> of the file"
    )
    parser.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of the embedded Ray instance (default: all)"
    )
    parser.add_argument("--top-k", type=int, default=None, help="trials in the final ranking (default: report.top_k)")
    parser.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Validate the search space, run or resume the search, print the ranking; return the exit status."""
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        from acgan_search.search import format_ranking, load_search_space, run_search, summarize_results

        space = load_search_space(arguments.space)
        run, grid = run_search(
            space,
            storage=arguments.storage,
            address=arguments.address,
            resume=arguments.resume,
            num_cpus=arguments.num_cpus,
        )
    except ACGANSearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    summaries = summarize_results(grid, space.metrics, space.modes, space.max_steps)
    top_k = arguments.top_k or space.top_k
    print()
    print(f"Top {min(top_k, len(summaries))} of {len(summaries)} trials, ranked by {space.metrics[0]} at each trial's best interval:")
    print(format_ranking(summaries, space.metrics, top_k))
    print()
    print(f"Results: {run.experiment_path}")
    return search_exit_status(grid, space.num_trials)


def search_exit_status(grid, num_trials: int) -> int:
    """Return 0 when every trial ended, 1 when the search was interrupted or every trial failed."""
    trials = len(grid)
    # Trials the searcher had not created yet when the search stopped count as unfinished too.
    unfinished = max(num_trials, trials) - grid.num_terminated - grid.num_errors
    if unfinished:
        print(
            f"error: the search stopped with {unfinished} of {max(num_trials, trials)} trials unfinished. "
            f"Continue it with the same command and --resume.",
            file=sys.stderr,
        )
        return 1
    if trials and grid.num_errors == trials:
        print(f"error: all {trials} trials failed; each trial folder under the results path contains its error.txt.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
