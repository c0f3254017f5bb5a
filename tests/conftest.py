"""Fixtures shared by several test files."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from acgan_search.data import Dataset, load_mnist_5k


@pytest.fixture(scope="session")
def mnist_small() -> Dataset:
    """400 training and 100 test digits of mnist-5k: enough for a few steps of a tiny model."""
    full = load_mnist_5k()
    subset = np.random.default_rng(0).permutation(len(full.y_train))[:400]
    return Dataset(
        name="mnist-5k-small",
        x_train=full.x_train[subset],
        y_train=full.y_train[subset],
        x_test=full.x_test[:100],
        y_test=full.y_test[:100],
        class_names=full.class_names,
        source=full.source,
    )


@pytest.fixture()
def default_sigint():
    """Give this process Python's default SIGINT handler for the test, then restore the inherited one.

    A test runner started in the background (nohup, a CI job) inherits SIGINT ignored, and child
    processes would inherit that too. With a handler installed here, a child starts with the
    default disposition, so a test can stop it with SIGINT as a user's Ctrl-C would.
    """
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)
