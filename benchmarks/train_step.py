"""Benchmark of the compiled AC-GAN training step against a Keras-style loop and the matmul peak.

Usage:
    python benchmarks/train_step.py                       # batch 64, default architecture
    python benchmarks/train_step.py --batch-size 64 --steps 60 --threads 2

Measures in one process, one after the other:
  1. our step: ``Trainer.train`` (discriminator and generator update in one compiled call);
  2. a Keras-style loop per step: ``generator.predict`` for the fake batch, ``train_on_batch``
     of the discriminator on the real and the fake batch, ``train_on_batch`` of a combined
     generator->discriminator model. Keras 3 reads trainable flags when it traces a train
     function, so the combined model is traced while the discriminator is frozen and the
     discriminator while it is trainable. The script checks after the run that each model
     trained its own weights.
  3. the rate of a large dense matmul (2048x2048 by default), the practical peak: float32,
     and with ``--set precision=mixed_bfloat16`` also bfloat16. Both loops then build their
     models in mixed precision, and the step is compared with the bfloat16 matmul rate.

The step's FLOPs are counted analytically from the layer shapes (multiply-adds of the Dense,
Conv2D and Conv2DTranspose layers, times 2; forward, weight-gradient and input-gradient
passes; elementwise ops, attention matmuls and the optimiser are not counted). Prints the
images/s of both loops, their ratio, the step's GFLOP/s and its fraction of the matmul rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60, help="Timed steps per measurement.")
    parser.add_argument("--repeats", type=int, default=3, help="Measurements per method; the best is kept.")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: TF default).")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="TensorFlow inter-op threads (0: TF default).")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--skip-keras-loop", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="Override a TrainConfig field (value parsed as YAML), e.g. --set generator_filters=64.",
    )
    return parser.parse_args()


ARGS = parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

if ARGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(ARGS.threads)
if ARGS.inter_op_threads:
    tf.config.threading.set_inter_op_parallelism_threads(ARGS.inter_op_threads)

from acgan_search.config import TrainConfig  # noqa: E402
from acgan_search.data import load_mnist_5k  # noqa: E402
from acgan_search.models import build_discriminator, build_generator  # noqa: E402
from acgan_search.training import Trainer  # noqa: E402


# ---------------------------------------------------------------- FLOP count


def layer_multiply_adds(layer: keras.layers.Layer) -> int:
    """Return the multiply-adds of one forward pass of one image through a kernel layer (else 0)."""
    if isinstance(layer, keras.layers.SpectralNormalization):
        layer = layer.layer
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Conv2DTranspose):
        _, height, width, _ = layer.input.shape  # Every input pixel scatters a full kernel.
        return int(height * width * np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Conv2D):
        _, height, width, _ = layer.output.shape
        return int(height * width * np.prod(layer.kernel.shape))
    return 0


def step_flops(config: TrainConfig, num_classes: int) -> tuple[float, float, float]:
    """Return (FLOPs per training step, generator forward FLOPs per image, discriminator forward FLOPs per image)."""
    generator = build_generator(config, num_classes)
    discriminator = build_discriminator(config, num_classes)
    g = sum(layer_multiply_adds(layer) for layer in generator.layers)
    d = sum(layer_multiply_adds(layer) for layer in discriminator.layers)
    g_first = sum(
        layer_multiply_adds(layer) for layer in generator.layers if layer.name in ("project_noise", "project_label")
    )
    d_first = layer_multiply_adds(discriminator.layers[1])
    # Discriminator update: G forward; D forward, weight and input gradients on real + fake
    # (no input gradient into the images). Generator update: G forward, weight and input
    # gradients (none into the noise and labels); D forward and input gradients.
    per_image = g + 2 * (3 * d - d_first) + (3 * g - g_first) + 2 * d
    return 2.0 * per_image * config.batch_size, 2.0 * g, 2.0 * d


# ---------------------------------------------------------------- measurements


def measure_matmul(size: int, repeats: int, dtype: tf.DType = tf.float32) -> float:
    """Return the best matmul rate in FLOP/s of ``dtype`` operands over ``repeats`` timings."""
    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)

    @tf.function
    def multiply(count: tf.Tensor) -> tf.Tensor:
        total = tf.zeros([size, size], dtype)
        for _ in tf.range(count):
            total += tf.linalg.matmul(a, b)
        return total

    multiply(tf.constant(1)).numpy()
    best = 0.0
    count = 10
    for _ in range(repeats):
        start = time.perf_counter()
        multiply(tf.constant(count)).numpy()
        best = max(best, count * 2.0 * size**3 / (time.perf_counter() - start))
    return best


def measure_our_step(config: TrainConfig, dataset, steps: int, repeats: int) -> float:
    """Return the best images/s of Trainer.train over ``repeats`` runs of ``steps`` steps."""
    trainer = Trainer(config, dataset)
    trainer.train(5)  # Trace and warm up.
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        trainer.train(steps)
        best = max(best, steps * config.batch_size / (time.perf_counter() - start))
    return best


def build_keras_style_models(config: TrainConfig, num_classes: int) -> tuple[keras.Model, keras.Model, keras.Model]:
    """Return (generator, compiled discriminator, compiled combined model) for the Keras-style loop."""
    generator = build_generator(config, num_classes)
    full = build_discriminator(config, num_classes)
    discriminator = keras.Model(full.input, full.outputs[:2], name="discriminator_heads")
    losses = [
        keras.losses.BinaryCrossentropy(from_logits=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ]
    weights = [config.adversarial_weight, config.class_weight_start]

    noise = keras.Input((config.latent_dim,))
    labels = keras.Input((), dtype="int32")
    combined = keras.Model([noise, labels], discriminator(generator([noise, labels])), name="combined")
    return generator, discriminator, combined, losses, weights


def measure_keras_loop(config: TrainConfig, dataset, steps: int, repeats: int) -> float:
    """Return the best images/s of a predict + train_on_batch loop, after checking it trains both models."""
    keras.utils.set_random_seed(config.seed)
    num_classes = dataset.num_classes
    generator, discriminator, combined, losses, weights = build_keras_style_models(config, num_classes)
    batch = config.batch_size
    rng = np.random.default_rng(0)
    ones = np.ones((batch, 1), np.float32)
    zeros = np.zeros((batch, 1), np.float32)

    def adam(learning_rate: float) -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(learning_rate, beta_1=config.beta1)

    # Keras 3 reads trainable flags when a model's train function is first traced: trace the
    # combined model with the discriminator frozen, then the discriminator unfrozen.
    discriminator.trainable = False
    combined.compile(adam(config.generator_lr), loss=losses, loss_weights=weights)
    # Every call passes the same dtypes (float32 noise, int32 labels): a retrace with other
    # dtypes would read the flags again and break the split.
    warm_up_labels = rng.integers(0, num_classes, batch).astype(np.int32)
    combined.train_on_batch(
        [rng.standard_normal((batch, config.latent_dim)).astype(np.float32), warm_up_labels],
        [ones, warm_up_labels],
    )
    discriminator.trainable = True
    discriminator.compile(adam(config.discriminator_lr), loss=losses, loss_weights=weights)

    def one_step() -> None:
        index = rng.integers(0, len(dataset.y_train), batch)
        real, real_labels = dataset.x_train[index], dataset.y_train[index]
        noise = rng.standard_normal((batch, config.latent_dim)).astype(np.float32)
        fake_labels = rng.integers(0, num_classes, batch).astype(np.int32)
        fake = generator.predict([noise, fake_labels], verbose=0)
        discriminator.train_on_batch(real, [ones, real_labels])
        discriminator.train_on_batch(fake, [zeros, fake_labels])
        noise = rng.standard_normal((batch, config.latent_dim)).astype(np.float32)
        fake_labels = rng.integers(0, num_classes, batch).astype(np.int32)
        combined.train_on_batch([noise, fake_labels], [ones, fake_labels])

    for _ in range(3):
        one_step()
    d_before = [v.numpy() for v in discriminator.trainable_variables]
    g_before = [v.numpy() for v in generator.trainable_variables]
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        best = max(best, steps * batch / (time.perf_counter() - start))
    d_trained = all(not np.array_equal(old, v.numpy()) for old, v in zip(d_before, discriminator.trainable_variables))
    g_trained = all(not np.array_equal(old, v.numpy()) for old, v in zip(g_before, generator.trainable_variables))
    if not (d_trained and g_trained):
        sys.exit(f"Keras-style loop does not train both models: D trained={d_trained}, G trained={g_trained}")
    return best


def main() -> None:
    overrides = {}
    for item in ARGS.set:
        field, _, value = item.partition("=")
        overrides[field] = yaml.safe_load(value)
    config = TrainConfig.from_dict({**overrides, "batch_size": ARGS.batch_size}, source="--set")
    dataset = load_mnist_5k()
    flops, g_flops, d_flops = step_flops(config, dataset.num_classes)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, "
          f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
          f"inter-op threads {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    print(f"config overrides: {overrides or 'none'}")
    print(f"batch {config.batch_size}: {flops / 1e9:.2f} GFLOP per step (analytic; "
          f"G forward {g_flops / 1e6:.1f} MFLOP/image, D forward {d_flops / 1e6:.1f} MFLOP/image)")

    matmul_rate = measure_matmul(ARGS.matmul_size, ARGS.repeats)
    print(f"matmul {ARGS.matmul_size}x{ARGS.matmul_size} float32: {matmul_rate / 1e9:.1f} GFLOP/s")
    if config.precision == "mixed_bfloat16":
        matmul_rate = measure_matmul(ARGS.matmul_size, ARGS.repeats, tf.bfloat16)
        print(f"matmul {ARGS.matmul_size}x{ARGS.matmul_size} bfloat16: {matmul_rate / 1e9:.1f} GFLOP/s "
              "(the reference below)")

    ours = measure_our_step(config, dataset, ARGS.steps, ARGS.repeats)
    our_rate = ours / config.batch_size * flops
    print(f"our step: {ours:.0f} images/s = {ours / config.batch_size:.2f} steps/s = {our_rate / 1e9:.1f} GFLOP/s "
          f"= {our_rate / matmul_rate:.0%} of the matmul rate")

    if not ARGS.skip_keras_loop:
        keras_loop = measure_keras_loop(config, dataset, max(ARGS.steps // 3, 10), ARGS.repeats)
        print(f"keras predict/train_on_batch loop: {keras_loop:.0f} images/s = "
              f"{keras_loop / config.batch_size:.2f} steps/s")
        print(f"ratio our step / keras loop: {ours / keras_loop:.2f}x")


if __name__ == "__main__":
    main()
