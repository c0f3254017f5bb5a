"""Write the report of a search: ranking.csv, report.md, report.html and PNG plots.

Usage:
    python -m acgan_search.report RESULTS_DIR [--out DIR] [--min-accuracy 0.9] [--overwrite]

RESULTS_DIR is the experiment directory the search printed at the end
(``<storage>/<experiment name>``). The report works on a finished, an interrupted or a
still-running search, and on a copy of the directory. It is written to
``RESULTS_DIR/report/`` unless ``--out`` names another directory.
"""

from __future__ import annotations

import argparse
import sys

from acgan_search.cli import configure_logging, run_cli
from acgan_search.reporting.ranking import DEFAULT_ACCURACY_THRESHOLD


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m acgan_search.report", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    parser.add_argument("results_dir", help="experiment directory of the search (<storage>/<name>)")
    parser.add_argument("--out", default=None, help="report directory (default: RESULTS_DIR/report)")
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=DEFAULT_ACCURACY_THRESHOLD,
        help="class-accuracy threshold of the ranking, a fraction in [0, 1] (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report directory")
    parser.add_argument("--verbose", action="store_true", help="log DEBUG lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        from acgan_search.reporting.build import write_report

        files = write_report(
            args.results_dir, args.out, accuracy_threshold=args.min_accuracy, overwrite=args.overwrite
        )
        print(f"ranking:  {files.ranking_csv}")
        print(f"markdown: {files.markdown}")
        print(f"html:     {files.html}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
