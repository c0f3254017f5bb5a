"""Fixtures shared by several test files."""

from __future__ import annotations

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
