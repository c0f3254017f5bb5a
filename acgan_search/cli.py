"""Shared command-line plumbing of the evaluate, report, export and sample entry points."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from acgan_search.errors import ACGANSearchError

EXIT_USAGE_ERROR = 2


def configure_logging(verbose: bool) -> None:
    """Send INFO (or DEBUG with ``verbose``) lifecycle lines of acgan_search to stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Hide TensorFlow's C++ start-up banner.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("matplotlib", "PIL", "optuna", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_cli(main: Callable[[], int]) -> int:
    """Run a CLI body, turning an ``ACGANSearchError`` into one line on stderr and exit status 2."""
    try:
        return main()
    except ACGANSearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE_ERROR
