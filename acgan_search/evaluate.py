"""Evaluate a trained generator with the independent evaluator classifier.

Usage:
    python -m acgan_search.evaluate runs/mnist                          # latest checkpoint of a run
    python -m acgan_search.evaluate runs/mnist/checkpoints/step_002000  # one checkpoint
    python -m acgan_search.evaluate exports/best --json                 # an exported bundle
    python -m acgan_search.evaluate generator.keras --dataset mnist-5k  # a bare Keras file

PATH is a training run directory (its latest checkpoint is used), a checkpoint directory
(``state.json``, ``config.yaml``, ``generator.keras``), a bundle directory (``generator.keras``
and ``model_card.json`` with the training configuration under ``"config"``) or a ``.keras``
file, which needs ``--dataset``. Progress goes to stderr; the metrics go to stdout as a table,
or as one JSON object with ``--json``. Errors in the input exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from acgan_search.cli import check_minimum, check_seed, configure_logging, run_cli
from acgan_search.errors import CheckpointError, EvaluationError

logger = logging.getLogger(__name__)

MODEL_CARD_FILE = "model_card.json"
GENERATOR_FILE = "generator.keras"
CHECKPOINT_STATE_FILE = "state.json"


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Metrics of one generator, with what is needed to compare them to other results.

    Attributes:
        path: The evaluated checkpoint, bundle or file.
        dataset: Dataset name the evaluator classifier was trained on.
        evaluator_fingerprint: Identity of the evaluator. FIDs are comparable only between
            results with the same fingerprint.
        samples_per_class: Generated images per class.
        seed: Seed passed to the generator.
        metrics: Metric values keyed by ``acgan_search.metric_names``.
    """

    path: str
    dataset: str
    evaluator_fingerprint: str
    samples_per_class: int
    seed: int
    metrics: dict[str, float]


def evaluate_path(
    path: str | os.PathLike,
    *,
    samples_per_class: int | None = None,
    seed: int = 0,
    dataset: str | None = None,
    data_path: str | None = None,
    evaluator_seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> EvaluationResult:
    """Load the generator at ``path`` and its dataset, and evaluate it.

    Args:
        path: Run directory, checkpoint directory, bundle directory or ``.keras`` file.
        samples_per_class: Generated images per class; None takes the evaluator's default,
            lowered to what the dataset's real images allow.
        seed: Seed of the generator's noise.
        dataset: Dataset name; required for a ``.keras`` file, else overrides the saved one.
        data_path: Local data source for the dataset, as ``TrainConfig.data_path``.
        evaluator_seed: Seed of the evaluator classifier (and of its cache entry).
        cache_dir: Folder of cached evaluator classifiers; None uses the default.

    Raises:
        ACGANSearchError: The path cannot be read, the dataset cannot be loaded, or the
            evaluation inputs are invalid.
    """
    from acgan_search.data import load_dataset
    from acgan_search.evaluation import Evaluator
    from acgan_search.training import GenerateFunction

    generator, config, num_classes = load_generator_any(path, dataset=dataset, data_path=data_path)
    real = load_dataset(config)
    if real.num_classes != num_classes:
        raise EvaluationError(
            f"The generator at {path} produces {num_classes} classes, but dataset {real.name!r} has "
            f"{real.num_classes}. Received: num_classes={num_classes}. Pass the --dataset it was trained on."
        )
    evaluator = Evaluator.for_dataset(real, seed=evaluator_seed, cache_dir=cache_dir)
    if samples_per_class is None:
        samples_per_class = evaluator.default_samples_per_class
    logger.info("Evaluating %s: %d images per class, seed %d", path, samples_per_class, seed)
    metrics = evaluator.evaluate(GenerateFunction(generator), samples_per_class=samples_per_class, seed=seed)
    return EvaluationResult(
        path=str(path),
        dataset=real.name,
        evaluator_fingerprint=evaluator.fingerprint,
        samples_per_class=samples_per_class,
        seed=seed,
        metrics=metrics,
    )


def load_generator_any(
    path: str | os.PathLike, *, dataset: str | None = None, data_path: str | None = None
) -> tuple[Any, Any, int]:
    """Load ``(generator, TrainConfig, num_classes)`` from any of the accepted kinds of path.

    A ``dataset`` (and ``data_path``) given here replaces the one in the saved configuration.

    Raises:
        CheckpointError: The path does not exist or is not one of the accepted kinds.
        EvaluationError: A ``.keras`` file is given without a dataset.
    """
    from acgan_search.config import TrainConfig
    from acgan_search.training import latest_checkpoint, load_generator

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Nothing to evaluate at {path}: the path does not exist.")
    if path.is_file():
        if path.suffix != ".keras":
            raise CheckpointError(
                f"A file to evaluate must be a Keras model file ending in .keras. Received: {path}"
            )
        if dataset is None:
            raise EvaluationError(
                f"A bare .keras file does not record its dataset. Received: {path} without --dataset. "
                "Pass --dataset NAME (mnist-5k, mnist, fashion-mnist or image-folder)."
            )
        generator = _load_keras_file(path)
        height, width, channels = (int(side) for side in generator.outputs[0].shape[1:])
        config = TrainConfig(dataset=dataset, data_path=data_path, image_size=height, channels=channels)
        return generator, config, _generator_num_classes(generator, dataset)

    if (path / MODEL_CARD_FILE).is_file():
        generator = _load_keras_file(path / GENERATOR_FILE)
        config, num_classes = _read_model_card(path / MODEL_CARD_FILE)
    else:
        checkpoint = path if (path / CHECKPOINT_STATE_FILE).is_file() else latest_checkpoint(path)
        if checkpoint is None:
            raise CheckpointError(
                f"{path} is neither a checkpoint directory (with {CHECKPOINT_STATE_FILE}), a run directory "
                f"with checkpoints, nor a bundle directory (with {MODEL_CARD_FILE}). Point to one of those "
                "or to a .keras file."
            )
        logger.info("Loading checkpoint %s", checkpoint)
        generator, config, num_classes = load_generator(checkpoint)
    if dataset is not None:
        config = config.replace(dataset=dataset, data_path=data_path)
    if num_classes is None:
        num_classes = _generator_num_classes(generator, config.dataset)
    return generator, config, num_classes


def _load_keras_file(path: Path) -> Any:
    import keras

    import acgan_search.models  # noqa: F401  Registers the custom layers for safe-mode loading.

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError, TypeError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"Cannot load the generator from {path}: {error}") from None


def _read_model_card(path: Path) -> tuple[Any, int | None]:
    # Returns the TrainConfig and, when the card records it, the generator's class count.
    from acgan_search.config import TrainConfig

    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        values = card["config"]
        num_classes = card.get("generator", {}).get("num_classes")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"Cannot read the training configuration from {path}: {error!r}. A bundle's model card "
            "must be JSON with the TrainConfig fields under the key \"config\"."
        ) from None
    config = TrainConfig.from_dict(values, source=str(path))
    return config, None if num_classes is None else int(num_classes)


def _generator_num_classes(generator: Any, dataset: str) -> int:
    # The label input of the generator feeds an Embedding with one row per class.
    import keras

    pending = list(generator.layers)
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        pending.extend(getattr(layer, "layers", []))
    raise CheckpointError(
        f"Cannot tell how many classes the generator produces: it has no Embedding layer for its "
        f"labels. Evaluate its checkpoint directory instead, which records num_classes. Dataset: {dataset}"
    )


# ---------------------------------------------------------------------- output


def format_table(result: EvaluationResult) -> str:
    """Return the metrics as a plain-text table: summary lines, then one row per class."""
    from acgan_search import metric_names

    metrics = result.metrics
    lines = [
        f"path                  {result.path}",
        f"dataset               {result.dataset}",
        f"evaluator fingerprint {result.evaluator_fingerprint}",
        f"images                {int(metrics[metric_names.EVAL_SAMPLES])} ({result.samples_per_class} per class), seed {result.seed}",
        "",
    ]
    summary = [
        (metric_names.FID, "FID (lower is better)"),
        (metric_names.FID_REAL_FLOOR, "FID real vs real (noise floor)"),
        (metric_names.INTRA_FID, "intra-class FID, mean"),
        (metric_names.INTRA_FID_REAL_FLOOR, "intra-class FID real vs real"),
        (metric_names.CLASS_ACCURACY, "class accuracy"),
        (metric_names.CLASS_ENTROPY, "class entropy (nats)"),
        (metric_names.WITHIN_CLASS_DIVERSITY, "within-class diversity (real = 1)"),
        (metric_names.EVALUATOR_ACCURACY, "evaluator held-out accuracy"),
    ]
    width = max(len(label) for _, label in summary)
    lines += [f"{label:<{width}}  {metrics[key]:10.4f}" for key, label in summary]
    lines += ["", f"{'class':>5}  {'class accuracy':>14}  {'intra-class FID':>15}"]
    k = 0
    while f"{metric_names.CLASS_ACCURACY_PREFIX}{k}" in metrics:
        lines.append(
            f"{k:>5}  {metrics[f'{metric_names.CLASS_ACCURACY_PREFIX}{k}']:>14.4f}"
            f"  {metrics[f'{metric_names.INTRA_FID_PREFIX}{k}']:>15.4f}"
        )
        k += 1
    return "\n".join(lines)


def result_to_json(result: EvaluationResult) -> str:
    """Return the result as one JSON object; non-finite values become null."""
    payload = dataclasses.asdict(result)
    payload["metrics"] = {key: (value if math.isfinite(value) else None) for key, value in result.metrics.items()}
    return json.dumps(payload, indent=2, sort_keys=False)


# ---------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m acgan_search.evaluate",
        description="Evaluate a generator checkpoint, run, bundle or .keras file with the independent evaluator.",
    )
    parser.add_argument("path", help="run directory, checkpoint directory, bundle directory or .keras file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--samples-per-class",
        type=int,
        default=None,
        help="generated images per class; must exceed the evaluator's feature size, 64 (default: 500, "
        "or half the smallest class of real training images if fewer: 200 on mnist-5k)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator's noise (default: %(default)s)")
    parser.add_argument("--dataset", default=None, help="dataset name; required for a .keras file, else overrides the saved one")
    parser.add_argument("--data-path", default=None, help="local file or folder of the dataset (TrainConfig.data_path)")
    parser.add_argument("--evaluator-seed", type=int, default=0, help="seed of the evaluator classifier (default: %(default)s)")
    parser.add_argument("--cache-dir", default=None, help="folder of cached evaluator classifiers (default: $ACGAN_SEARCH_CACHE or ~/.cache/acgan_search)")
    parser.add_argument("--verbose", action="store_true", help="log DEBUG lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, evaluate and print the result; return the exit status."""
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        from acgan_search.evaluation.classifier import FEATURE_DIM

        check_minimum("--samples-per-class", args.samples_per_class, FEATURE_DIM + 1)
        check_seed("--seed", args.seed)
        check_seed("--evaluator-seed", args.evaluator_seed)
        result = evaluate_path(
            args.path,
            samples_per_class=args.samples_per_class,
            seed=args.seed,
            dataset=args.dataset,
            data_path=args.data_path,
            evaluator_seed=args.evaluator_seed,
            cache_dir=args.cache_dir,
        )
        print(result_to_json(result) if args.json else format_table(result))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
