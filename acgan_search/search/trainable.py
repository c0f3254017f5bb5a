"""The Ray Tune trainable: one trial trains one AC-GAN configuration and reports every interval.

Each trial builds its models fresh (or restores them from its last checkpoint), trains for
``interval`` steps, evaluates the generator with the shared evaluator, saves a checkpoint with a
sample grid and reports. Every result carries the training losses, the evaluator's metrics,
``step`` and ``diverged``.

Divergence: when a loss, a generated image or a metric becomes NaN or infinite, the trial
reports one last result with ``diverged = 1.0`` and stops. The search continues with the other
trials. Ray's schedulers and Optuna cannot compare NaN, so that result carries only finite
numbers. Every value that is missing or not finite becomes ``DIVERGED_PENALTY`` for metrics
where lower is better (FID, intra-class FID, losses) and 0 for metrics where higher is better
(class accuracy, class entropy, within-class diversity). The diverged result has no checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from acgan_search import metric_names
from acgan_search.search import ray_adapter

logger = logging.getLogger(__name__)

DIVERGED_PENALTY = 1.0e6  # Stands in for a NaN or infinite value where lower is better.
SAMPLE_GRID_FILE = "sample_grid.png"
# The interval's result, stored in its checkpoint. Ray 2.60 can drop rows of a trial's
# result.json when the trial restarts after a worker failure (its logger copies the last uploaded
# file over the local one), so the checkpoints hold the complete record of every interval.
CHECKPOINT_METRICS_FILE = "metrics.json"
NODE_ID = "node_id"  # Result key: the Ray node the trial ran on; Ray's own node_ip is one per machine.

# Metrics where a higher value is better; a diverged result reports 0 for them.
HIGHER_IS_BETTER = frozenset(
    {metric_names.CLASS_ACCURACY, metric_names.CLASS_ENTROPY, metric_names.WITHIN_CLASS_DIVERSITY}
)
# Keys a diverged result carries when the trial diverged before its first evaluation.
CORE_EVALUATION_METRICS = (
    metric_names.FID,
    metric_names.INTRA_FID,
    metric_names.CLASS_ACCURACY,
    metric_names.CLASS_ENTROPY,
)


@dataclasses.dataclass(frozen=True)
class TrialSettings:
    """Everything a trial needs besides the sampled parameters, the dataset and the evaluator.

    Attributes:
        base_config: The resolved training configuration before sampling, as a dict.
        samples_per_class: Generated images per class in every evaluation.
        evaluation_seed: Seed of the evaluation noise, the same in every trial and interval.
        cpus_per_trial: CPUs reserved per trial; sets TensorFlow's thread pools.
    """

    base_config: Mapping[str, Any]
    samples_per_class: int
    evaluation_seed: int
    cpus_per_trial: float


class _NonFiniteImagesError(Exception):
    """The generator produced NaN or infinite pixels."""


def train_trial(
    sampled: Mapping[str, Any], *, dataset: Any, evaluator: Any, settings: TrialSettings
) -> None:
    """Train one configuration, reporting a result and a checkpoint every interval.

    Ray calls this in a worker process, with the dataset and the evaluator taken from the object
    store. Both unpickle to plain arrays (the evaluator builds its Keras model on first use), so
    no TensorFlow operation runs before ``configure_tensorflow``.

    Args:
        sampled: The parameter values Optuna chose for this trial.
        dataset: The ``Dataset``.
        evaluator: The ``Evaluator`` shared by every trial.
        settings: The fixed part of every trial's setup.
    """
    configure_tensorflow(settings.cpus_per_trial)

    import keras

    from acgan_search.config import TrainConfig
    from acgan_search.training import Trainer

    config = TrainConfig.from_dict({**settings.base_config, **sampled}, source="trial configuration")
    # A reused worker still holds the previous trial's models; release them first.
    keras.backend.clear_session()

    with ray_adapter.restored_checkpoint_directory() as checkpoint_directory:
        if checkpoint_directory is None:
            trainer = Trainer(config, dataset)
        else:
            trainer = Trainer.from_checkpoint(checkpoint_directory, dataset)
            logger.info("Resumed trial from its checkpoint at step %d", trainer.step)

    evaluation_keys: tuple[str, ...] = CORE_EVALUATION_METRICS
    while trainer.step < config.max_steps:
        steps = min(config.interval, config.max_steps - trainer.step)
        losses = trainer.train(steps)
        if not _all_finite(losses):
            _report_diverged(trainer.step, losses, evaluation_keys, reason="a training loss")
            return

        try:
            metrics = evaluator.evaluate(
                _generate_finite(trainer.generate),
                samples_per_class=settings.samples_per_class,
                seed=settings.evaluation_seed,
            )
        except _NonFiniteImagesError:
            _report_diverged(trainer.step, losses, evaluation_keys, reason="a generated image")
            return
        if not _all_finite(metrics):
            _report_diverged(trainer.step, {**losses, **metrics}, evaluation_keys, reason="an evaluation metric")
            return
        evaluation_keys = tuple(metrics)

        result = {
            **losses,
            **metrics,
            metric_names.STEP: trainer.step,
            metric_names.DIVERGED: 0.0,
            NODE_ID: ray_adapter.node_id(),
        }
        with tempfile.TemporaryDirectory(prefix="acgan_checkpoint_") as directory:
            trainer.save_checkpoint(directory)
            trainer.save_sample_grid(Path(directory) / SAMPLE_GRID_FILE)
            (Path(directory) / CHECKPOINT_METRICS_FILE).write_text(json.dumps(result, indent=1), encoding="utf-8")
            ray_adapter.report(result, directory)


def configure_tensorflow(cpus: float) -> None:
    """Size TensorFlow's thread pools to the trial's CPUs and let GPU memory grow on demand.

    Must run before the first TensorFlow operation in the process: TensorFlow fixes its thread
    pools then, and by default it reserves all GPU memory, which breaks fractional GPUs.
    """
    import tensorflow as tf

    threads = max(1, int(cpus))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:
        logger.warning("TensorFlow was initialised before the trial set its thread pools: %s", error)
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:
            logger.warning("Cannot enable memory growth on %s: %s", gpu.name, error)


def _generate_finite(generate: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
    def generate_checked(labels: np.ndarray, seed: int) -> np.ndarray:
        images = generate(labels, seed)
        if not np.all(np.isfinite(images)):
            raise _NonFiniteImagesError
        return images

    return generate_checked


def _all_finite(values: Mapping[str, Any]) -> bool:
    return all(_is_finite_number(value) for value in values.values() if _is_number(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return math.isfinite(float(value))


def diverged_result(step: int, measured: Mapping[str, Any], evaluation_keys: tuple[str, ...]) -> dict[str, Any]:
    """Build the last result of a diverged trial, with every number finite.

    Args:
        step: Training steps done when the divergence was found.
        measured: Losses and metrics of the interval, some of them NaN or infinite.
        evaluation_keys: Evaluation metric keys the trial reports, so the result has them all.

    Returns:
        A result with every key of ``measured`` and ``evaluation_keys``; each missing or
        non-finite number replaced by 0 for metrics in ``HIGHER_IS_BETTER`` and by
        ``DIVERGED_PENALTY`` otherwise, plus ``step`` and ``diverged = 1.0``.
    """
    result: dict[str, Any] = {}
    for key in (*measured, *evaluation_keys):
        value = measured.get(key)
        if value is not None and not _is_number(value):
            result[key] = value
        elif value is not None and _is_finite_number(value):
            result[key] = float(value)
        else:
            result[key] = 0.0 if key in HIGHER_IS_BETTER else DIVERGED_PENALTY
    result[metric_names.STEP] = step
    result[metric_names.DIVERGED] = 1.0
    return result


def _report_diverged(step: int, measured: Mapping[str, Any], evaluation_keys: tuple[str, ...], *, reason: str) -> None:
    logger.warning("Trial diverged at step %d: %s became NaN or infinite; stopping it", step, reason)
    ray_adapter.report({**diverged_result(step, measured, evaluation_keys), NODE_ID: ray_adapter.node_id()})
