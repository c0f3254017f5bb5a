"""Checkpoint files of a training run, and loading the generator alone.

A checkpoint directory holds:

    config.yaml          the resolved TrainConfig
    generator.keras      the generator as a Keras model file (loads with safe_mode=True)
    training_state.npz   every variable of Trainer.state_variables(): model weights including
                         spectral-norm vectors, the fade weight and dropout seed states, the three
                         Adam optimisers' slots and iteration counters, the random generator's
                         state and the step counter
    state.json           step, class-loss weight, fade alpha, random state, number of classes,
                         dataset fingerprint and the variable paths stored in the npz
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from acgan_search.config import TrainConfig
from acgan_search.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from acgan_search.data import Dataset
    from acgan_search.training.trainer import Trainer

CONFIG_FILE = "config.yaml"
GENERATOR_FILE = "generator.keras"
STATE_ARRAYS_FILE = "training_state.npz"
STATE_FILE = "state.json"
CHECKPOINT_FILES = (CONFIG_FILE, GENERATOR_FILE, STATE_ARRAYS_FILE, STATE_FILE)


def save(trainer: Trainer, directory: str | os.PathLike) -> None:
    """Write the trainer's checkpoint files into ``directory`` (created if missing)."""
    from acgan_search.training.step import fade_alpha_at

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    variables = trainer.state_variables()
    trainer.config.save(directory / CONFIG_FILE)
    trainer.generator.save(directory / GENERATOR_FILE)
    np.savez(directory / STATE_ARRAYS_FILE, **{f"v{index:04d}": v.numpy() for index, v in enumerate(variables)})
    step = trainer.step
    state: dict[str, Any] = {
        "step": step,
        "class_weight": trainer.config.class_weight_at(step),
        "fade_alpha": fade_alpha_at(trainer.config, step),
        "rng_state": trainer.rng.state.numpy().tolist(),
        "num_classes": trainer.num_classes,
        "dataset": trainer.dataset.name,
        "dataset_fingerprint": trainer.dataset.fingerprint(),
        "variable_paths": [_variable_path(v) for v in variables],
    }
    # state.json is written last: its presence marks a complete checkpoint.
    (directory / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")


def _variable_path(variable) -> str:
    return str(getattr(variable, "path", None) or variable.name)


def read_state(directory: str | os.PathLike) -> dict[str, Any]:
    """Return the parsed ``state.json`` of a checkpoint.

    Raises:
        CheckpointError: A checkpoint file is missing or ``state.json`` is unreadable.
    """
    directory = Path(directory)
    missing = [name for name in CHECKPOINT_FILES if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(
            f"Checkpoint directory {directory} is incomplete: missing {', '.join(missing)}. "
            f"Point to a directory written by Trainer.save_checkpoint."
        )
    try:
        return json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError covers JSON syntax and UTF-8 decoding errors.
        raise CheckpointError(f"Cannot read {directory / STATE_FILE}: {error}") from None


# Exceptions that reading a truncated or overwritten checkpoint file raises. numpy's npz reader
# and zipfile raise BadZipFile, EOFError or ValueError, and a file cut inside the zip's central
# directory can also raise OSError.
_UNREADABLE_FILE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile)


def check_readable(directory: str | os.PathLike) -> None:
    """Read every file of a checkpoint completely and raise if one is missing or corrupt.

    ``state.json`` and ``config.yaml`` are parsed, every array of ``training_state.npz`` is
    loaded, and the CRC of every member of ``generator.keras`` is checked. This finds files that
    were truncated (a full disk, a machine that lost power before the data reached the disk) or
    overwritten.

    Raises:
        CheckpointError: A file is missing or cannot be read; the message names the file.
    """
    directory = Path(directory)
    state = read_state(directory)
    if not isinstance(state, dict) or not {"step", "num_classes"} <= set(state):
        raise CheckpointError(
            f"Checkpoint file {directory / STATE_FILE} is corrupt: it lacks the keys step and num_classes."
        )
    read_config(directory)
    arrays_path = directory / STATE_ARRAYS_FILE
    try:
        with np.load(arrays_path) as arrays:
            for name in arrays.files:
                arrays[name]
    except _UNREADABLE_FILE_ERRORS as error:
        raise CheckpointError(f"Checkpoint file {arrays_path} is corrupt or truncated: {error}") from None
    generator_path = directory / GENERATOR_FILE
    try:
        with zipfile.ZipFile(generator_path) as archive:
            bad_member = archive.testzip()
    except _UNREADABLE_FILE_ERRORS as error:
        raise CheckpointError(f"Checkpoint file {generator_path} is corrupt or truncated: {error}") from None
    if bad_member is not None:
        raise CheckpointError(f"Checkpoint file {generator_path} is corrupt: member {bad_member} fails its CRC check.")


def read_config(directory: str | os.PathLike) -> TrainConfig:
    """Return the TrainConfig saved in a checkpoint directory."""
    path = Path(directory) / CONFIG_FILE
    try:
        # A user's empty YAML means "all defaults", but a checkpoint always saves every field.
        if path.is_file() and not path.read_text(encoding="utf-8", errors="replace").strip():
            raise ConfigError(f"{path} is empty, but a checkpoint's configuration lists every field")
        return TrainConfig.from_yaml(path)
    except ConfigError as error:
        raise CheckpointError(f"Checkpoint {directory} has an invalid configuration: {error}") from None


def restore_trainer(trainer_class: type, directory: str | os.PathLike, dataset: Dataset, **kwargs) -> Trainer:
    """Build a trainer from a checkpoint's configuration and load every saved variable into it."""
    directory = Path(directory)
    state = read_state(directory)
    config = read_config(directory)
    if state["num_classes"] != dataset.num_classes:
        raise CheckpointError(
            f"Checkpoint {directory} was trained with {state['num_classes']} classes, but dataset "
            f"{dataset.name!r} has {dataset.num_classes}. Received: num_classes={dataset.num_classes}. "
            f"Resume with the dataset the checkpoint was trained on."
        )
    trainer = trainer_class(config, dataset, **kwargs)
    variables = trainer.state_variables()
    try:
        _assign_saved_arrays(directory, state, variables)
    except _UNREADABLE_FILE_ERRORS as error:
        raise CheckpointError(
            f"Checkpoint file {directory / STATE_ARRAYS_FILE} is corrupt or truncated: {error}. "
            f"Resume from an earlier checkpoint, for example by moving {directory} out of its folder."
        ) from None
    return trainer


def _assign_saved_arrays(directory: Path, state: dict[str, Any], variables: list) -> None:
    with np.load(directory / STATE_ARRAYS_FILE) as arrays:
        if len(arrays.files) != len(variables):
            raise CheckpointError(
                f"Checkpoint {directory} stores {len(arrays.files)} variables, but the trainer built "
                f"from its config.yaml has {len(variables)}. The checkpoint was written by an "
                f"incompatible version of acgan_search."
            )
        for index, variable in enumerate(variables):
            value = arrays[f"v{index:04d}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise CheckpointError(
                    f"Checkpoint {directory}: variable {state['variable_paths'][index]} has shape "
                    f"{value.shape}, expected {tuple(variable.shape)}. The checkpoint does not match "
                    f"its config.yaml."
                )
            variable.assign(value)


def load_generator(checkpoint_dir: str | os.PathLike) -> tuple[keras.Model, TrainConfig, int]:
    """Load the generator of a checkpoint without building a trainer or loading data.

    Args:
        checkpoint_dir: Directory written by ``Trainer.save_checkpoint``.

    Returns:
        ``(generator, config, num_classes)``. The generator takes ``[noise (N, latent_dim),
        labels (N,)]`` and returns images in [-1, 1]; wrap it in
        ``acgan_search.training.generation.GenerateFunction`` to get the ``generate(labels,
        seed)`` callable that reproduces ``Trainer.generate``.

    Raises:
        CheckpointError: Files are missing or the model file cannot be loaded.
    """
    import acgan_search.models  # noqa: F401  (registers the custom layers for deserialisation)

    state = read_state(checkpoint_dir)
    config = read_config(checkpoint_dir)
    path = Path(checkpoint_dir) / GENERATOR_FILE
    try:
        generator = keras.saving.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError, TypeError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"Cannot load the generator from {path}: {error}") from None
    return generator, config, int(state["num_classes"])
