"""The training loop: train to ``config.max_steps`` with checkpoints, grids and progress lines.

Layout of a work directory:

    WORKDIR/checkpoints/step_000500/   one checkpoint per interval (see checkpoint.py)
    WORKDIR/samples/step_000500.png    sample grid per interval, one row per class
    WORKDIR/config.yaml                the resolved configuration of the run
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import Callable

from acgan_search import metric_names
from acgan_search.config import TrainConfig
from acgan_search.data import Dataset, load_dataset
from acgan_search.errors import CheckpointError, ResultsError
from acgan_search.training.checkpoint import STATE_FILE, check_readable, read_config
from acgan_search.training.trainer import Trainer

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)$")

IntervalCallback = Callable[[int, dict[str, float], Path], None]


def checkpoint_name(step: int) -> str:
    """Return the directory name of the checkpoint taken after ``step`` steps."""
    return f"step_{step:06d}"


def latest_checkpoint(workdir: str | os.PathLike) -> Path | None:
    """Return the complete checkpoint with the highest step under ``workdir``, or None.

    A checkpoint counts as complete when its ``state.json`` exists, which is written last. The
    other files are not read; ``latest_readable_checkpoint`` does that.
    """
    found = _complete_checkpoints(workdir)
    return found[-1] if found else None


def _complete_checkpoints(workdir: str | os.PathLike) -> list[Path]:
    # Sorted by step, oldest first.
    root = Path(workdir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        match = _CHECKPOINT_NAME.match(entry.name)
        if match and (entry / STATE_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return [entry for _, entry in sorted(found)]


def latest_readable_checkpoint(workdir: str | os.PathLike) -> Path | None:
    """Return the newest checkpoint under ``workdir`` whose files all read back, or None.

    Newer checkpoints with a truncated or corrupt file are skipped with a warning and renamed to
    ``step_NNNNNN.unreadable`` (kept for inspection, ignored from then on), so training resumes
    from the newest intact one and recomputes the lost steps. Deterministic training makes the
    recomputed steps equal to the lost ones.

    Raises:
        CheckpointError: Checkpoints exist but none of them can be read. Nothing is renamed then.
    """
    unreadable: list[tuple[Path, CheckpointError]] = []
    for candidate in reversed(_complete_checkpoints(workdir)):
        try:
            check_readable(candidate)
        except CheckpointError as error:
            unreadable.append((candidate, error))
            continue
        for damaged, error in unreadable:
            moved = _move_aside(damaged)
            logger.warning(
                "Checkpoint %s is unreadable (%s). Resuming from the older %s instead. The unreadable "
                "checkpoint was renamed to %s.", damaged, error, candidate, moved,
            )
        return candidate
    if unreadable:
        details = "; ".join(str(error) for _, error in unreadable)
        raise CheckpointError(
            f"Cannot resume in {workdir}: none of its {len(unreadable)} checkpoints can be read. {details}. "
            f"To train from scratch, move {Path(workdir) / CHECKPOINTS_DIR} away (or delete it)."
        )
    return None


def _move_aside(checkpoint_dir: Path) -> Path:
    target = checkpoint_dir.with_name(checkpoint_dir.name + ".unreadable")
    number = 1
    while target.exists():
        number += 1
        target = checkpoint_dir.with_name(f"{checkpoint_dir.name}.unreadable{number}")
    checkpoint_dir.rename(target)
    return target


def _write_checkpoint(trainer: Trainer, workdir: Path) -> Path:
    # Write into a temporary directory and rename it, so a crash never leaves a partial
    # checkpoint under a step_* name.
    final = workdir / CHECKPOINTS_DIR / checkpoint_name(trainer.step)
    temporary = final.with_name(final.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    trainer.save_checkpoint(temporary)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    return final


def _format_progress(step: int, max_steps: int, metrics: dict[str, float]) -> str:
    return (
        f"step {step}/{max_steps} "
        f"d_loss={metrics[metric_names.D_LOSS]:.4f} g_loss={metrics[metric_names.G_LOSS]:.4f} "
        f"d_adv={metrics[metric_names.D_ADVERSARIAL_LOSS]:.4f} d_class={metrics[metric_names.D_CLASS_LOSS]:.4f} "
        f"g_adv={metrics[metric_names.G_ADVERSARIAL_LOSS]:.4f} g_class={metrics[metric_names.G_CLASS_LOSS]:.4f} "
        f"class_weight={metrics[metric_names.CLASS_WEIGHT]:.4f} "
        f"images/s={metrics[metric_names.IMAGES_PER_SECOND]:.0f}"
    )


# Python handles Ctrl-C only between compiled calls, so the loop runs at most this many steps
# per call: under a second at the default model on 2 cores, at well under 1% per-call overhead.
# The count is fixed, not timed, so the interval means do not depend on machine speed.
STEPS_PER_CALL = 10


def _merge_means(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    total_steps = sum(steps for steps, _ in parts)
    merged = {}
    for name in parts[-1][1]:
        if name == metric_names.CLASS_WEIGHT:
            merged[name] = parts[-1][1][name]
        elif name == metric_names.IMAGES_PER_SECOND:
            # Total images over total time: the harmonic mean weighted by steps.
            inverse_rate_sum = sum(steps / metrics[name] for steps, metrics in parts)
            merged[name] = total_steps / inverse_rate_sum if inverse_rate_sum > 0 else math.inf
        else:
            merged[name] = sum(steps * metrics[name] for steps, metrics in parts) / total_steps
    return merged


def train_and_evaluate(
    config: TrainConfig,
    workdir: str | os.PathLike,
    *,
    dataset: Dataset | None = None,
    on_interval: IntervalCallback | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Train to ``config.max_steps``, resuming from the latest checkpoint in ``workdir``.

    Every ``config.interval`` steps (and at ``max_steps``) the loop writes a checkpoint and a
    sample grid, then calls ``on_interval(step, metrics, checkpoint_dir)``, where ``metrics``
    contains the mean losses over the interval plus ``step``. Every ``config.log_every`` steps it
    logs a progress line at INFO.

    A newest checkpoint whose files are truncated or corrupt is skipped with a warning (see
    ``latest_readable_checkpoint``). The data is loaded and the trainer built before ``workdir``
    is created, so a run that fails at start-up leaves no empty directory behind.

    Args:
        config: Training configuration. When resuming, it must equal the checkpoint's
            configuration except for ``max_steps``, ``interval`` and ``log_every``.
        workdir: Run directory; created if missing.
        dataset: Real data; loaded with ``load_dataset(config)`` when None.
        on_interval: Hook for evaluation and search reporting.
        stop_requested: Polled after start-up, after every compiled call (``STEPS_PER_CALL``
            steps at most) and after every checkpoint; when it returns True the loop raises
            ``KeyboardInterrupt``. The train
            command passes ``acgan_search.cli.deferred_interrupt``'s flag, so Ctrl-C stops
            training between steps and never inside a checkpoint write.

    Returns:
        The metrics of the last interval (empty if ``max_steps`` was already reached).

    Raises:
        CheckpointError: The latest checkpoint was trained with a different configuration, or
            no checkpoint in ``workdir`` can be read.
        DataError: The dataset cannot be loaded.
        ResultsError: ``workdir`` exists and is not a directory, or cannot be created.
    """
    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise ResultsError(
            f"The run directory path exists and is not a directory; nothing was written. "
            f"Received: workdir={str(workdir)!r}. Pass a new or existing directory."
        )
    if dataset is None:
        dataset = load_dataset(config)

    latest = latest_readable_checkpoint(workdir)
    if latest is None:
        trainer = Trainer(config, dataset)
        logger.info("Training from scratch in %s", workdir)
    else:
        _check_resumable(config, latest)
        trainer = Trainer.from_checkpoint(latest, dataset)
        # Loop settings may change between runs; the training itself may not.
        trainer.config = config
        logger.info("Resuming from %s at step %d", latest, trainer.step)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ResultsError(
            f"Cannot create the run directory: {error}. Received: workdir={str(workdir)!r}. "
            "Pass a directory path you can write to."
        ) from None
    config.save(workdir / "config.yaml")

    def check_stop() -> None:
        if stop_requested is not None and stop_requested():
            raise KeyboardInterrupt  # The user's Ctrl-C, delivered at a safe point.

    check_stop()
    metrics: dict[str, float] = {}
    since_log: list[tuple[int, dict[str, float]]] = []
    while trainer.step < config.max_steps:
        next_interval = (trainer.step // config.interval + 1) * config.interval
        interval_end = min(next_interval, config.max_steps)
        parts = []
        while trainer.step < interval_end:
            next_log = (trainer.step // config.log_every + 1) * config.log_every
            count = min(next_log, interval_end, trainer.step + STEPS_PER_CALL) - trainer.step
            part = trainer.train(count)
            parts.append((count, part))
            since_log.append((count, part))
            if trainer.step % config.log_every == 0 or trainer.step == config.max_steps:
                logger.info(_format_progress(trainer.step, config.max_steps, _merge_means(since_log)))
                since_log = []
            check_stop()
        metrics = {**_merge_means(parts), metric_names.STEP: float(trainer.step)}
        checkpoint_dir = _write_checkpoint(trainer, workdir)
        trainer.save_sample_grid(workdir / SAMPLES_DIR / f"{checkpoint_name(trainer.step)}.png")
        logger.info("Checkpoint written: %s", checkpoint_dir)
        if on_interval is not None:
            on_interval(trainer.step, metrics, checkpoint_dir)
        check_stop()
    return metrics


_LOOP_ONLY_FIELDS = ("max_steps", "interval", "log_every")


def _check_resumable(config: TrainConfig, checkpoint_dir: Path) -> None:
    saved = read_config(checkpoint_dir).to_dict()
    requested = config.to_dict()
    changed = sorted(
        key for key in requested if key not in _LOOP_ONLY_FIELDS and requested[key] != saved.get(key)
    )
    if changed:
        details = ", ".join(f"{key}={requested[key]!r} (checkpoint: {saved.get(key)!r})" for key in changed)
        raise CheckpointError(
            f"Cannot resume from {checkpoint_dir}: the configuration differs from the checkpoint's. "
            f"Received: {details}. Use a new work directory, or the checkpoint's configuration "
            f"(only {', '.join(_LOOP_ONLY_FIELDS)} may change)."
        )
