"""Run a hyperparameter search described by a search-space YAML file.

    python -m acgan_search.run search_spaces/weights.yaml                  # embedded Ray, ./results
    python -m acgan_search.run search_spaces/weights.yaml --resume         # continue after an interruption
    python -m acgan_search.run search_spaces/full.yaml --address auto --storage s3://bucket/searches

The file is validated completely before Ray starts. At the end the top-k trials are printed,
best first, with the path of the results, ranked and classified as ``python -m
acgan_search.report`` does. Errors in the input print one line and exit with 2; a search that
ends with trials unfinished (Ctrl-C) or with every trial failed exits with 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from acgan_search.errors import ACGANSearchError
from acgan_search.reporting.ranking import DEFAULT_ACCURACY_THRESHOLD
from acgan_search.reporting.results import FAILED, UNFINISHED_STATUSES


def at_least(option: str, minimum: int) -> Callable[[str], int]:
    """Return an argparse ``type`` that accepts integers >= ``minimum`` for ``option``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {minimum}. Received: {option}={text!r}. Pass a whole number."
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {minimum}. Received: {option}={value}. Pass {minimum} or more."
            )
        return value

    return parse


def fraction(option: str) -> Callable[[str], float]:
    """Return an argparse ``type`` that accepts a number in [0, 1] for ``option``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:  # Also rejects NaN.
            raise argparse.ArgumentTypeError(
                f"must be a fraction in [0, 1]. Received: {option}={text!r}. Pass e.g. 0.9 for 90%."
            )
        return value

    return parse


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
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
        "--num-cpus",
        type=at_least("--num-cpus", 1),
        default=None,
        help="CPUs of the embedded Ray instance, >= 1 (default: all)",
    )
    parser.add_argument(
        "--top-k",
        type=at_least("--top-k", 1),
        default=None,
        help="trials in the final ranking, >= 1 (default: report.top_k of the file)",
    )
    parser.add_argument(
        "--min-accuracy",
        type=fraction("--min-accuracy"),
        default=DEFAULT_ACCURACY_THRESHOLD,
        help="class-accuracy threshold of the final ranking, a fraction in [0, 1], as in "
        "python -m acgan_search.report (default: %(default)s)",
    )
    parser.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Validate the search space, run or resume the search, print the ranking; return the exit status."""
    arguments = parse_arguments(argv)
    try:
        return _run(arguments)
    except KeyboardInterrupt:
        # One Ctrl-C lets Ray stop the trials and return normally; a second one ends up here.
        print(
            "interrupted: the search stopped before it could print its ranking. If a trial had "
            "reported, run the same command with --resume to continue it (python -m "
            "acgan_search.report shows the trials so far); otherwise run the same command again.",
            file=sys.stderr,
        )
        return 130


def _run(arguments: argparse.Namespace) -> int:
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

    summaries = summarize_results(
        grid,
        space.metrics,
        space.modes,
        space.max_steps,
        accuracy_threshold=arguments.min_accuracy,
        parameter_names=space.parameter_names,
    )
    top_k = arguments.top_k or space.top_k
    print()
    print(
        f"Top {min(top_k, len(summaries))} of {len(summaries)} trials, ranked as python -m acgan_search.report "
        f"ranks them (tier, then {space.metrics[0]} at the best interval with class_accuracy >= "
        f"{arguments.min_accuracy:g}):"
    )
    print(format_ranking(summaries, space.metrics, top_k))
    print()
    print(f"Results: {run.experiment_path}")
    return search_exit_status([summary.status for summary in summaries], space.num_trials)


def search_exit_status(statuses: Sequence[str], num_trials: int) -> int:
    """Return 0 when every trial ended, 1 when the search was interrupted or every trial failed.

    Args:
        statuses: The status of every trial Ray created (``TrialSummary.status``).
        num_trials: Trials the search space requests; trials the searcher had not created when
            the search stopped count as unfinished too.

    Returns:
        The exit status. With 1, a line on stderr gives the reason and the next step.
    """
    trials = len(statuses)
    total = max(num_trials, trials)
    cut_off = sum(status in UNFINISHED_STATUSES for status in statuses)
    not_started = total - trials
    if cut_off or not_started:
        print(
            f"error: the search stopped with {cut_off + not_started} of {total} trials unfinished "
            f"({cut_off} interrupted, {not_started} not started). "
            f"Continue it with the same command and --resume.",
            file=sys.stderr,
        )
        return 1
    if trials and all(status == FAILED for status in statuses):
        print(
            f"error: all {trials} trials failed; each trial folder under the results path contains its error.txt.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
