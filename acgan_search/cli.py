"""Shared command-line plumbing of the train, evaluate, report, export and sample entry points."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from acgan_search.config import MAX_SEED
from acgan_search.errors import ACGANSearchError, OptionError

EXIT_USAGE_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a program stopped with Ctrl-C.


def configure_logging(verbose: bool, level: str | None = None) -> None:
    """Send lifecycle lines of acgan_search to stderr.

    Args:
        verbose: Log DEBUG lines; otherwise INFO.
        level: A logging level name that overrides ``verbose`` (``--log-level`` of train).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Hide TensorFlow's C++ start-up banner.
    logging.basicConfig(
        level=level or (logging.DEBUG if verbose else logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("matplotlib", "PIL", "optuna", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_cli(main: Callable[[], int], on_interrupt: Callable[[], str] | None = None) -> int:
    """Run a CLI body and turn its expected failures into one line on stderr.

    An ``ACGANSearchError`` prints ``error: <message>`` and returns exit status 2. Ctrl-C
    (``KeyboardInterrupt``) prints ``interrupted: <message>`` and returns 130, where the
    message comes from ``on_interrupt`` (for example where to resume from).
    """
    try:
        return main()
    except ACGANSearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except KeyboardInterrupt:
        message = on_interrupt() if on_interrupt is not None else "stopped by Ctrl-C before the command finished. Run it again to finish."
        print(f"interrupted: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a stop request that the caller polls at safe points.

    Keras' ``model.save`` swallows a ``KeyboardInterrupt`` that arrives in one of its bare
    ``except:`` blocks, so a Ctrl-C during a checkpoint could be lost and training would go
    on. Inside this context the first SIGINT only sets a flag and prints one line, and the
    second raises ``KeyboardInterrupt`` at once. Outside the main thread, or where SIGINT is
    ignored (``nohup``), the context changes nothing.

    Yields:
        A function that returns True once Ctrl-C was pressed.
    """
    pressed = False
    if threading.current_thread() is not threading.main_thread():
        yield lambda: pressed
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        # Started with Ctrl-C ignored (nohup, a background job): keep ignoring it.
        yield lambda: pressed
        return

    def request_stop(signum, frame) -> None:
        nonlocal pressed
        pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.stderr.write("Ctrl-C: stopping at the next safe point; press Ctrl-C again to stop at once.\n")

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield lambda: pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def check_minimum(option: str, value: int | None, minimum: int) -> None:
    """Raise OptionError when an integer option is below ``minimum``; None means unset and passes.

    Args:
        option: The option as typed on the command line, for the message (``--seed``).
        value: The parsed value.
        minimum: The smallest allowed value.
    """
    if value is not None and value < minimum:
        raise OptionError(
            f"{option} must be at least {minimum}. Received: {option}={value}. "
            f"Pass an integer >= {minimum}."
        )


def check_seed(option: str, value: int | None) -> None:
    """Raise OptionError unless a seed option is unset or in [0, MAX_SEED]."""
    check_minimum(option, value, 0)
    if value is not None and value > MAX_SEED:
        raise OptionError(
            f"{option} must be at most {MAX_SEED} (2**32 - 1), the limit of every seed in "
            f"acgan_search. Received: {option}={value}. Pass a smaller integer."
        )


def check_new_file(option: str, path: str | os.PathLike, *, overwrite: bool) -> None:
    """Raise OptionError when an output file exists (without ``overwrite``) or is a directory."""
    path = Path(path)
    if path.is_dir():
        raise OptionError(
            f"The output path is a directory, not a file; nothing was written. Received: {option}={str(path)!r}. "
            "Pass a file path."
        )
    if path.exists() and not overwrite:
        raise OptionError(
            f"Output file already exists; nothing was written. Received: {option}={str(path)!r}. "
            "Choose a new path, or pass --overwrite to replace it."
        )


def check_image_suffix(option: str, path: str | os.PathLike) -> None:
    """Raise OptionError when Pillow cannot write an image file with the suffix of ``path``."""
    from PIL import Image

    Image.init()
    suffix = Path(path).suffix.lower()
    if Image.registered_extensions().get(suffix) not in Image.SAVE:
        raise OptionError(
            f"The output file needs an image suffix that Pillow can write, such as .png or .jpg; nothing "
            f"was written. Received: {option}={str(path)!r}."
        )
