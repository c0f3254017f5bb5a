"""Export the best generator of a search (or a chosen one) as a deployment bundle.

Usage:
    python -m acgan_search.export RESULTS_DIR --out BUNDLE_DIR [--trial ID] [--min-accuracy 0.9]
    python -m acgan_search.export --checkpoint CHECKPOINT_DIR --out BUNDLE_DIR

The checkpoint is chosen by the report's ranking rule; see docs/deployment.md for the bundle's
files and its serving signatures.
"""

from __future__ import annotations

import argparse
import sys

from acgan_search.cli import configure_logging, run_cli
from acgan_search.reporting.ranking import DEFAULT_ACCURACY_THRESHOLD


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m acgan_search.export", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    parser.add_argument("results_dir", nargs="?", default=None,
                        help="experiment directory of the search (optional with --checkpoint)")
    parser.add_argument("--out", required=True, help="bundle directory to create")
    parser.add_argument("--trial", default=None, help="export this trial's best interval instead of the top-ranked trial")
    parser.add_argument("--checkpoint", default=None, help="export this checkpoint directory as it is")
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=DEFAULT_ACCURACY_THRESHOLD,
        help="class-accuracy threshold of the ranking, a fraction in [0, 1] (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle directory")
    parser.add_argument("--verbose", action="store_true", help="log DEBUG lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        from acgan_search.reporting.exporting import export_bundle

        bundle_dir = export_bundle(
            args.out,
            results_dir=args.results_dir,
            trial_id=args.trial,
            checkpoint=args.checkpoint,
            accuracy_threshold=args.min_accuracy,
            overwrite=args.overwrite,
        )
        print(f"bundle: {bundle_dir}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
