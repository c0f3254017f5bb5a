"""On-disk cache of trained evaluator classifiers.

Each entry is a folder named by ``cache_key`` (dataset content, architecture version, seed).
It contains ``weights.npz`` (the weight arrays in ``model.get_weights()`` order),
``real_features.npy`` and ``metadata.json``. The real features are the classifier's float32
features of every real training image, stored so that loading needs no pass over the data. Entries are written to a temporary folder and renamed into place, and
training runs under a file lock, so concurrent processes never read a half-written entry and
train the same classifier once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from acgan_search.errors import EvaluationError

logger = logging.getLogger(__name__)

CACHE_ENVIRONMENT_VARIABLE = "ACGAN_SEARCH_CACHE"
WEIGHTS_FILE = "weights.npz"
REAL_FEATURES_FILE = "real_features.npy"
METADATA_FILE = "metadata.json"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder of cached evaluator classifiers.

    It is ``cache_dir/evaluator`` when given, else ``$ACGAN_SEARCH_CACHE/evaluator``, else
    ``~/.cache/acgan_search/evaluator``.
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENVIRONMENT_VARIABLE) or Path.home() / ".cache" / "acgan_search"
    return Path(cache_dir) / "evaluator"


def cache_key(dataset_fingerprint: str, architecture_version: str, seed: int) -> str:
    """Return the cache entry name for a dataset's content, an architecture version and a seed."""
    text = f"{dataset_fingerprint}\n{architecture_version}\n{seed}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@contextlib.contextmanager
def entry_lock(root: Path, key: str) -> Iterator[None]:
    """Hold an exclusive lock on one cache entry while it is checked and, if missing, trained."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def load_entry(root: Path, key: str) -> tuple[list[np.ndarray], np.ndarray, dict[str, Any]] | None:
    """Return the weights, real features and metadata of a cache entry, or None if it is absent.

    Raises:
        EvaluationError: The entry exists but cannot be read; delete its folder to retrain.
    """
    folder = root / key
    if not folder.is_dir():
        return None
    try:
        with np.load(folder / WEIGHTS_FILE) as archive:
            weights = [archive[f"arr_{index}"] for index in range(len(archive.files))]
        real_features = np.load(folder / REAL_FEATURES_FILE)
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as error:
        raise EvaluationError(
            f"Cached evaluator classifier in {folder} is unreadable: {error}. "
            "Delete that folder to retrain the classifier."
        ) from error
    return weights, real_features, metadata


def save_entry(
    root: Path, key: str, weights: list[np.ndarray], real_features: np.ndarray, metadata: dict[str, Any]
) -> Path:
    """Write a cache entry atomically and return its folder."""
    root.mkdir(parents=True, exist_ok=True)
    # Made with mkdir, not tempfile.mkdtemp, so the entry gets the umask mode instead of 0700. A
    # cache shared through ACGAN_SEARCH_CACHE then stays readable by the team.
    temporary = root / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        np.savez(temporary / WEIGHTS_FILE, *weights)
        np.save(temporary / REAL_FEATURES_FILE, np.asarray(real_features, dtype=np.float32))
        (temporary / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True), encoding="utf-8")
        folder = root / key
        os.rename(temporary, folder)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logger.info("Cached evaluator classifier in %s", folder)
    return folder
