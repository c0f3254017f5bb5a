"""The evaluator classifier: a small CNN trained on real data, separate from the discriminator.

Its penultimate layer gives the features for FID and the diversity measure, and its class
predictions give class accuracy and class entropy. ``ARCHITECTURE_VERSION`` names the layer
layout and training recipe below; change it whenever either changes, so cached classifiers
trained under the old recipe are not reused.
"""

from __future__ import annotations

import logging
import math

import keras
import numpy as np
import tensorflow as tf

from acgan_search.evaluation.preprocessing import preprocess_images

logger = logging.getLogger(__name__)

ARCHITECTURE_VERSION = "cnn-v1"
FEATURE_DIM = 64  # Width of the penultimate layer, the feature space of FID.
FEATURE_LAYER = "features"

# Training recipe.
BATCH_SIZE = 64
LEARNING_RATE = 1e-3  # Adam, decayed to 0 along a cosine over the whole run.
TARGET_TRAINING_IMAGES = 100_000  # Images seen in total; the epoch count follows from this.
MIN_EPOCHS = 6
MAX_EPOCHS = 40
TRANSLATION_FRACTION = 0.08  # Random shift of up to 8% of the side (about 2 px at 28 x 28).
DROPOUT = 0.3
# Batch size of the compiled feature call. It changes speed only: the features of an image do
# not depend on which other images share its batch.
INFERENCE_BATCH_SIZE = 500


def build_classifier(image_shape: tuple[int, int, int], num_classes: int, seed: int) -> keras.Model:
    """Build the evaluator CNN with two outputs: penultimate features and class logits.

    Layout: a random translation (training only), then blocks of two 3x3 convolutions and a 2x2
    max-pool until the side is at most 8. That is two blocks at 28 x 28, with 32 then 64
    filters, doubling per block up to 128. Then come dropout, a dense ``FEATURE_DIM`` layer
    whose pre-activation output is the feature vector, ReLU, dropout and a dense layer of
    ``num_classes`` logits. Features taken before the ReLU have no dimensions that are zero
    for a whole class, so their covariance can be full rank.

    Args:
        image_shape: (height, width, channels) of the images.
        num_classes: Number of classes K.
        seed: Seeds every initialiser, the dropout and the random translation.
    """
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def kernel_initializer() -> keras.initializers.Initializer:
        return keras.initializers.HeUniform(seed=next(seeds))

    inputs = keras.Input(shape=image_shape, name="images")
    x = keras.layers.RandomTranslation(
        TRANSLATION_FRACTION, TRANSLATION_FRACTION, fill_mode="constant", fill_value=-1.0, seed=next(seeds)
    )(inputs)
    side = image_shape[0]
    filters = 32
    while True:
        for _ in range(2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", kernel_initializer=kernel_initializer()
            )(x)
        x = keras.layers.MaxPooling2D(2)(x)
        side = side // 2
        if side <= 8:
            break
        filters = min(filters * 2, 128)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(DROPOUT, seed=next(seeds))(x)
    features = keras.layers.Dense(FEATURE_DIM, kernel_initializer=kernel_initializer(), name=FEATURE_LAYER)(x)
    x = keras.layers.Activation("relu")(features)
    x = keras.layers.Dropout(DROPOUT, seed=next(seeds))(x)
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)), name="logits"
    )(x)
    return keras.Model(inputs, [features, logits], name="evaluator_classifier")


def epochs_for(train_size: int) -> int:
    """Return the number of training epochs for a training set of ``train_size`` images."""
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_TRAINING_IMAGES / train_size))))


def train_classifier(
    x_train: np.ndarray, y_train: np.ndarray, num_classes: int, seed: int
) -> keras.Model:
    """Train a new evaluator classifier on real training images with a fixed seed.

    Args:
        x_train: Real images, float in [-1, 1], shape (N, H, W, C).
        y_train: Integer labels in [0, num_classes).
        num_classes: Number of classes K.
        seed: Seeds the weights, the augmentation, the dropout and the order of the batches.

    Returns:
        The trained model, with outputs [features, logits].
    """
    image_shape = tuple(x_train.shape[1:])
    images = preprocess_images(x_train, image_shape, name="real training images")
    labels = np.asarray(y_train, dtype=np.int32)
    model = build_classifier(image_shape, num_classes, seed)
    epochs = epochs_for(len(images))
    steps = epochs * math.ceil(len(images) / BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=[None, keras.losses.SparseCategoricalCrossentropy(from_logits=True)],
    )
    rng = np.random.default_rng(seed)
    logger.info(
        "Training evaluator classifier: %d images, %d classes, %d epochs, seed %d",
        len(images), num_classes, epochs, seed,
    )
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        history = model.fit(
            images[order], labels[order], batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0
        )
        logger.info("Evaluator classifier epoch %d/%d: loss %.4f", epoch + 1, epochs, history.history["loss"][-1])
    return model


class FeatureExtractor:
    """Compiled, batched inference of the evaluator classifier.

    Calls the model in inference mode (no dropout, no translation) through one ``tf.function``
    traced for any batch size, in batches of ``INFERENCE_BATCH_SIZE``.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        spec = tf.TensorSpec(shape=(None, *model.input_shape[1:]), dtype=tf.float32)
        self._call = tf.function(lambda images: model(images, training=False), input_signature=[spec])

    def features_and_logits(
        self, images: np.ndarray, batch_size: int = INFERENCE_BATCH_SIZE
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return penultimate features (N, FEATURE_DIM) and logits (N, K) of preprocessed images."""
        feature_batches = []
        logit_batches = []
        for start in range(0, len(images), batch_size):
            features, logits = self._call(tf.constant(images[start : start + batch_size]))
            feature_batches.append(features.numpy())
            logit_batches.append(logits.numpy())
        return np.concatenate(feature_batches), np.concatenate(logit_batches)
