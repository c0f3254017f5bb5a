"""Writing an output directory all at once, so a failure never leaves half of it behind."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from acgan_search.errors import ResultsError

logger = logging.getLogger(__name__)


def check_output_dir(path: Path, *, overwrite: bool, option: str = "--out") -> None:
    """Raise ResultsError when ``path`` exists and ``overwrite`` is False.

    Args:
        path: The directory about to be written.
        overwrite: Whether replacing an existing directory was requested.
        option: The command-line option that sets ``path``, for the message.
    """
    if path.exists() and not overwrite:
        raise ResultsError(
            f"Output directory already exists; nothing was written. Received: {option}={str(path)!r}. "
            "Choose a new path, or pass --overwrite to replace it."
        )
    if path.exists() and not path.is_dir():
        raise ResultsError(
            f"Output path exists and is not a directory; nothing was written. Received: {option}={str(path)!r}. "
            "Choose a directory path."
        )


@contextlib.contextmanager
def staged_output_dir(path: Path, *, overwrite: bool, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only when the block succeeds.

    The temporary directory is a sibling of ``path``, so the final rename stays on one
    filesystem. It is made with ``mkdir``, so it gets the mode of any new directory under the
    process umask (``tempfile.mkdtemp`` would give 0700). With ``overwrite``, an existing
    ``path`` is moved aside, the new directory is renamed into place and only then is the old
    one deleted. If the block raises, the temporary directory is deleted and ``path`` is left
    as it was.

    Raises:
        ResultsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    check_output_dir(path, overwrite=overwrite, option=option)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _unique_sibling(path, "partial")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Check again: another process may have created the directory in the meantime.
    try:
        check_output_dir(path, overwrite=overwrite, option=option)
    except ResultsError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = None
    if path.exists():
        previous = _unique_sibling(path, "previous")
        path.rename(previous)
    staging.rename(path)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
        logger.info("Replaced %s", path)


def _unique_sibling(path: Path, purpose: str) -> Path:
    # A hidden name that no other process picks: the process ID plus 64 random bits.
    return path.parent / f".{path.name}.{purpose}-{os.getpid()}-{uuid.uuid4().hex[:16]}"
