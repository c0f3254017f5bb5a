"""Optuna samplers adapted so that Ray Tune can save them with the searcher's state."""

from __future__ import annotations

import threading
from typing import Any

import optuna


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    """``NSGAIISampler`` that survives pickling.

    Optuna 5.1's NSGA-II sampler keeps a ``threading.Lock`` in ``_thread_lock``. Ray Tune pickles
    the searcher, sampler included, when it saves the experiment, and a lock cannot be pickled,
    so the lock is left out of the pickled state and created anew on unpickling.
    """

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()
