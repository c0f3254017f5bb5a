"""The one module that imports Ray Tune, so a change of Ray's API touches one file.

Checked against Ray 2.60: function trainables report with ``ray.tune.report`` and resume with
``ray.tune.get_checkpoint`` (``ray.train.report`` raises inside Tune, and ``ray.air.session`` no
longer exists). Large objects reach trials through ``tune.with_parameters``, which puts them in
the object store once, so workers on other nodes need no local files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import ray
from ray import tune
from ray.tune import Checkpoint, CLIReporter, FailureConfig, ResultGrid, RunConfig, TuneConfig, Tuner
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

__all__ = [
    "ASHAScheduler",
    "Checkpoint",
    "CLIReporter",
    "FailureConfig",
    "FIFOScheduler",
    "OptunaSearch",
    "ResultGrid",
    "RunConfig",
    "Searcher",
    "TrialScheduler",
    "TuneConfig",
    "Tuner",
    "bind_trainable",
    "can_restore",
    "init_ray",
    "is_ray_initialized",
    "node_id",
    "report",
    "restored_checkpoint_directory",
    "shutdown_ray",
    "trial_directory",
    "use_classic_progress_reporter",
]


def report(metrics: Mapping[str, Any], checkpoint_directory: str | os.PathLike | None = None) -> None:
    """Report one result of the running trial, with the directory as its checkpoint when given.

    Ray copies the directory into the trial's storage before this call returns, so the caller
    may delete it afterwards.
    """
    checkpoint = Checkpoint.from_directory(str(checkpoint_directory)) if checkpoint_directory else None
    tune.report(dict(metrics), checkpoint=checkpoint)


@contextlib.contextmanager
def restored_checkpoint_directory() -> Iterator[Path | None]:
    """Yield a local directory holding the trial's latest checkpoint, or None on a first start."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield Path(directory)


def trial_directory() -> Path:
    """Return the local directory of the running trial, where Ray writes its logs."""
    return Path(tune.get_context().get_trial_dir())


def node_id() -> str:
    """Return the id of the Ray node this process runs on (hex)."""
    return ray.get_runtime_context().get_node_id()


def bind_trainable(
    function: Callable[..., None], resources: Mapping[str, float], **objects: Any
) -> Callable[..., None]:
    """Attach large objects through the object store and a resource request to a trainable."""
    return tune.with_resources(tune.with_parameters(function, **objects), dict(resources))


def can_restore(experiment_path: str) -> bool:
    """Return whether a Tuner experiment exists at the path (local or a bucket URI)."""
    return Tuner.can_restore(experiment_path)


def use_classic_progress_reporter() -> None:
    """Select Ray's classic progress table, the one that accepts a ``CLIReporter``.

    Ray 2.60 ignores ``RunConfig(progress_reporter=...)`` unless ``RAY_AIR_NEW_OUTPUT=0`` is set
    in the driver before ``Tuner.fit``. A value the user set already is kept.
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


def is_ray_initialized() -> bool:
    """Return whether this process is connected to a Ray instance."""
    return ray.is_initialized()


def init_ray(address: str | None, *, num_cpus: int | None = None) -> None:
    """Start an embedded Ray instance, or connect to the cluster at ``address``."""
    # Trial workers import TensorFlow; without this its C++ start-up lines flood the driver's log.
    runtime_env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}}
    if address:
        ray.init(address=address, runtime_env=runtime_env)
    else:
        ray.init(num_cpus=num_cpus, runtime_env=runtime_env)


def shutdown_ray() -> None:
    """Disconnect from Ray, stopping an embedded instance."""
    ray.shutdown()
