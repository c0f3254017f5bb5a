"""Deployment bundles: a generator exported as ``.keras`` and as a TensorFlow SavedModel.

A bundle directory contains:

- ``generator.keras``: the Keras generator, inputs ``[noise (N, latent_dim) float32, labels (N,)
  int32]``, output images in [-1, 1]. Load it with ``keras.saving.load_model(path,
  safe_mode=True)`` after importing ``acgan_search.models`` (which registers the custom layers).
- ``saved_model/``: a SavedModel written by ``keras.export.ExportArchive`` with two signatures,
  both returning ``images`` (float32 in [0, 1]) and ``images_uint8`` (uint8 in [0, 255]), NHWC:
  ``serving_default(noise: float32 [N, latent_dim], labels: int32 [N])`` and
  ``generate_from_seed(labels: int32 [N], seed: int64 [])``. The second draws its noise with
  ``tf.random.stateless_normal``, which is deterministic but is a different stream from the
  NumPy noise below, so the same seed gives different images on the two paths.
- ``model_card.json``: configuration, metrics, evaluator fingerprint, dataset, origin,
  software versions and the date.
- ``sample_grid.png``: one row per class.

The Python path (``load_bundle`` and ``python -m acgan_search.sample``) draws noise exactly as
training does, ``numpy.random.default_rng(seed).standard_normal((N, latent_dim))`` as float32,
so a bundle and the checkpoint it came from give the same images for the same labels and seed.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import json
import logging
import platform
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from acgan_search import models  # noqa: F401  Registers the custom layers for safe-mode loading.
from acgan_search.errors import ResultsError
from acgan_search.reporting.document import utc_now
from acgan_search.reporting.output_dir import staged_output_dir
from acgan_search.training.generation import GenerateFunction
from acgan_search.training.grid import save_grid_png

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "acgan_search.bundle"
BUNDLE_FORMAT_VERSION = 1
KERAS_FILE = "generator.keras"
SAVED_MODEL_DIR = "saved_model"
MODEL_CARD = "model_card.json"
SAMPLE_GRID = "sample_grid.png"
SEED_SIGNATURE = "generate_from_seed"
NOISE_SIGNATURE = "serving_default"
NOISE_RECIPE = "numpy.random.default_rng(seed).standard_normal((N, latent_dim)).astype(numpy.float32)"
SAMPLE_GRID_SEED = 0


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A loaded deployment bundle.

    Attributes:
        directory: The bundle directory.
        generator: The Keras generator (outputs in [-1, 1]).
        card: The parsed ``model_card.json``.
    """

    directory: Path
    generator: keras.Model
    card: dict[str, Any]

    @property
    def latent_dim(self) -> int:
        return int(self.card["generator"]["latent_dim"])

    @property
    def num_classes(self) -> int:
        return int(self.card["generator"]["num_classes"])

    @functools.cached_property
    def _generate_function(self) -> GenerateFunction:
        return GenerateFunction(self.generator)

    def generate(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """Generate one image per label, float32 NHWC in [0, 1].

        The generator runs as training's ``GenerateFunction`` runs it: compiled, on
        ``GENERATION_BATCH_SIZE`` images at a time. An eager call would give other bfloat16
        roundings than the checkpoint and the SavedModel under mixed precision.

        Raises:
            ResultsError: A label is outside [0, num_classes).
        """
        labels = np.asarray(labels, dtype=np.int32).reshape(-1)
        check_labels(labels, self.num_classes)
        return self._generate_function(labels, seed) * 0.5 + 0.5


def check_labels(labels: np.ndarray, num_classes: int) -> None:
    """Raise ResultsError when a label is outside [0, num_classes)."""
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ResultsError(
            f"Class labels must be in [0, {num_classes - 1}] for this generator. "
            f"Received: label={int(bad[0])}. Pass a class index the model was trained on."
        )


# ------------------------------------------------------------------ export


def write_bundle(
    generator: keras.Model,
    out_dir: str | Path,
    *,
    card: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write a deployment bundle for a generator.

    Everything is written to a temporary sibling directory first and renamed into place at the
    end, so a failure leaves ``out_dir`` as it was.

    Args:
        generator: Model with inputs ``[noise (N, latent_dim), labels (N,)]`` and images in
            [-1, 1] out.
        out_dir: The bundle directory to create.
        card: Model-card fields from the caller (configuration, metrics, origin, ...). An
            optional ``num_classes`` entry overrides the count read from the label embedding.
            The generator's shapes, the signatures, versions and the date are added here.
        overwrite: Replace an existing ``out_dir``.

    Returns:
        ``out_dir``.

    Raises:
        ResultsError: ``out_dir`` exists and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    card = dict(card)
    latent_dim = int(generator.inputs[0].shape[-1])
    image_shape = [int(dim) for dim in generator.outputs[0].shape[1:]]
    num_classes = _num_classes(generator, card)
    with staged_output_dir(out_dir, overwrite=overwrite) as staging:
        generator.save(staging / KERAS_FILE)
        _write_saved_model(generator, staging / SAVED_MODEL_DIR, latent_dim)
        full_card = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "created_utc": utc_now(),
            "generator": {
                "keras_file": KERAS_FILE,
                "saved_model_dir": SAVED_MODEL_DIR,
                "latent_dim": latent_dim,
                "num_classes": num_classes,
                "image_shape": image_shape,
                "keras_output_range": [-1.0, 1.0],
            },
            "noise": {"recipe": NOISE_RECIPE, "distribution": "standard normal"},
            "serving": _signature_description(latent_dim, image_shape),
            "sample_grid": {"file": SAMPLE_GRID, "seed": SAMPLE_GRID_SEED, "rows": "one per class"},
            **card,
            "software": software_versions(),
        }
        (staging / MODEL_CARD).write_text(json.dumps(full_card, indent=2, default=str) + "\n", encoding="utf-8")
        loaded = load_bundle(staging)
        _write_sample_grid(loaded, staging / SAMPLE_GRID)
    logger.info("Wrote the deployment bundle %s", out_dir)
    return out_dir


def _num_classes(generator: keras.Model, card: dict[str, Any]) -> int:
    if "num_classes" in card:
        return int(card.pop("num_classes"))
    embedding = generator.get_layer("label_embedding")
    return int(embedding.input_dim)


def _write_saved_model(generator: keras.Model, path: Path, latent_dim: int) -> None:
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def to_outputs(images: tf.Tensor) -> dict[str, tf.Tensor]:
        unit = tf.clip_by_value(images * 0.5 + 0.5, 0.0, 1.0)
        return {"images": unit, "images_uint8": tf.cast(tf.round(unit * 255.0), tf.uint8)}

    def from_noise(noise: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        return to_outputs(generator([noise, labels], training=False))

    def from_seed(labels: tf.Tensor, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        count = tf.shape(labels)[0]
        noise = tf.random.stateless_normal(
            tf.stack([count, latent_dim]), seed=tf.stack([seed, tf.constant(0, tf.int64)]), dtype=tf.float32
        )
        return to_outputs(generator([noise, labels], training=False))

    archive.add_endpoint(
        name=NOISE_SIGNATURE,
        fn=from_noise,
        input_signature=[
            tf.TensorSpec([None, latent_dim], tf.float32, name="noise"),
            tf.TensorSpec([None], tf.int32, name="labels"),
        ],
    )
    archive.add_endpoint(
        name=SEED_SIGNATURE,
        fn=from_seed,
        input_signature=[tf.TensorSpec([None], tf.int32, name="labels"), tf.TensorSpec([], tf.int64, name="seed")],
    )
    archive.write_out(str(path), verbose=False)


def _signature_description(latent_dim: int, image_shape: list[int]) -> dict[str, Any]:
    outputs = {
        "images": f"float32 [N, {', '.join(map(str, image_shape))}] in [0, 1]",
        "images_uint8": f"uint8 [N, {', '.join(map(str, image_shape))}] in [0, 255]",
    }
    return {
        NOISE_SIGNATURE: {
            "inputs": {"noise": f"float32 [N, {latent_dim}], standard normal", "labels": "int32 [N], class index"},
            "outputs": outputs,
        },
        SEED_SIGNATURE: {
            "inputs": {"labels": "int32 [N], class index", "seed": "int64 scalar"},
            "outputs": outputs,
            "noise": "tf.random.stateless_normal([N, latent_dim], seed=[seed, 0]); not the NumPy recipe",
        },
    }


def _write_sample_grid(bundle: Bundle, path: Path) -> None:
    columns = 10
    labels = np.repeat(np.arange(bundle.num_classes, dtype=np.int32), columns)
    images = bundle.generate(labels, SAMPLE_GRID_SEED)
    save_grid_png(images * 2.0 - 1.0, bundle.num_classes, columns, path)


def software_versions() -> dict[str, str]:
    """Return the versions of Python and the libraries that shape a bundle's numbers."""
    return {
        # Installed metadata, not acgan_search.__version__: a folder named acgan_search in the
        # working directory can shadow the package as a namespace package without that attribute.
        "acgan_search": importlib.metadata.version("acgan-search"),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


# ------------------------------------------------------------------ loading


def load_bundle(bundle_dir: str | Path) -> Bundle:
    """Load a deployment bundle with Keras' safe mode (no Python code is deserialised).

    Raises:
        ResultsError: The directory, its model card or its ``.keras`` file is missing or
            unreadable, or the card is not a bundle card.
    """
    bundle_dir = Path(bundle_dir)
    card_path = bundle_dir / MODEL_CARD
    if not card_path.is_file():
        raise ResultsError(
            f"Not a deployment bundle: {MODEL_CARD} not found. Received: bundle_dir={str(bundle_dir)!r}. "
            "Pass a directory written by `python -m acgan_search.export`."
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(f"Cannot read the model card {card_path}: {error}. Export the bundle again.") from None
    if card.get("format") != BUNDLE_FORMAT:
        raise ResultsError(
            f"{card_path} is not an acgan_search bundle card. Received: format={card.get('format')!r}, "
            f"expected {BUNDLE_FORMAT!r}."
        )
    model_path = bundle_dir / card["generator"].get("keras_file", KERAS_FILE)
    if not model_path.is_file():
        raise ResultsError(f"The bundle {bundle_dir} has no {model_path.name}. Export the bundle again.")
    generator = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    return Bundle(directory=bundle_dir, generator=generator, card=card)
