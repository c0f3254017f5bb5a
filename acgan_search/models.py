"""Generator and two-headed discriminator of the AC-GAN, and their custom layers.

Both models follow the same resolution ladder (``acgan_search.config.feature_map_sizes``): the
generator starts at ``base_resolution(image_size)`` (7 for 28x28 images, 4 for powers of two)
and doubles the side length with each transposed convolution. The discriminator halves it with
each strided convolution until it reaches the same base.

Default architecture at 28x28x1 (``generator_filters=128``, ``discriminator_filters=64``):

    generator:     z (100) -> Dense 7*7*128 -> LeakyReLU -> reshape 7x7x128
                   label -> Embedding 50 -> Dense 49 -> reshape 7x7x1
                   concat 7x7x129 -> ConvT 64 (4x4, /2) -> 14x14x64 -> ConvT 32 (4x4, /2)
                   -> 28x28x32 -> Conv 1 (5x5) -> tanh
    discriminator: 28x28x1 -> Conv 64 (4x4, /2) -> 14x14x64 -> Conv 128 (4x4, /2) -> 7x7x128
                   -> flatten (shared features, 6272) -> Dropout 0.4
                   -> real/fake logit (Dense 1) and class logits (Dense num_classes)

With ``config.precision == "mixed_bfloat16"`` every layer computes in bfloat16 except the
generator's image outputs and the discriminator's flattened features and heads, which stay in
float32: both models take and return float32 tensors whatever the precision.

The discriminator returns, per scale, ``[real/fake logit (N, 1), class logits (N, C), shared
features (N, F)]``; with ``multi_scale_discriminator`` a second trunk with its own heads sees the
image average-pooled to half resolution, and its three outputs follow the first three.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf
from keras import layers, ops

from acgan_search.config import TrainConfig, base_resolution

LEAKY_RELU_SLOPE = 0.2
ADVERSARIAL_HEAD = "adversarial_head"  # Layer-name prefix of the real/fake heads.
CLASS_HEAD = "class_head"  # Layer-name prefix of the class heads.
GENERATOR_FADE = "fade_in"  # Name of the generator's progressive fade layer.


@keras.saving.register_keras_serializable(package="acgan_search")
class SelfAttention(layers.Layer):
    """Self-attention over the spatial positions of a feature map, with a gate starting at zero.

    Follows SAGAN (Zhang et al., 2019, "Self-Attention Generative Adversarial Networks"):
    1x1 convolutions give queries and keys with ``channels // 8`` channels and values with
    ``channels // 2``; a 1x1 convolution maps the attended values back to ``channels``, and the
    output is ``inputs + gamma * attended`` with a learned scalar ``gamma`` initialised to 0, so
    a freshly built block is the identity.

    Args:
        spectral_norm: Wrap the four 1x1 convolutions in ``keras.layers.SpectralNormalization``.

    Call arguments:
        inputs: Feature map (N, H, W, channels).
        training: Passed to the spectral normalisation wrappers.
    """

    def __init__(self, spectral_norm: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm

    def build(self, input_shape) -> None:
        channels = input_shape[-1]
        reduced = max(channels // 8, 1)
        value_channels = max(channels // 2, 1)

        # The sub-layers take the block's policy: a loaded model is built under the global
        # policy (float32), which would otherwise mix float32 and bfloat16 in a mixed-precision block.
        def conv(filters: int, name: str) -> layers.Layer:
            layer = layers.Conv2D(filters, 1, use_bias=False, dtype=self.dtype_policy, name=name)
            if self.spectral_norm:
                return layers.SpectralNormalization(layer, dtype=self.dtype_policy, name=f"{name}_sn")
            return layer

        self.query = conv(reduced, "query")
        self.key = conv(reduced, "key")
        self.value = conv(value_channels, "value")
        self.output_projection = conv(channels, "output_projection")
        self.query.build(input_shape)
        self.key.build(input_shape)
        self.value.build(input_shape)
        self.output_projection.build((*input_shape[:-1], value_channels))
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma")

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        height, width = shape[1], shape[2]
        positions = height * width

        def flatten_positions(tensor):
            return ops.reshape(tensor, (-1, positions, ops.shape(tensor)[-1]))

        query = flatten_positions(self.query(inputs, training=training))  # (N, HW, C/8)
        key = flatten_positions(self.key(inputs, training=training))  # (N, HW, C/8)
        value = flatten_positions(self.value(inputs, training=training))  # (N, HW, C/2)
        attention = ops.softmax(ops.matmul(query, ops.transpose(key, (0, 2, 1))), axis=-1)  # (N, HW, HW)
        attended = ops.reshape(ops.matmul(attention, value), (-1, height, width, ops.shape(value)[-1]))
        return inputs + self.gamma * self.output_projection(attended, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "spectral_norm": self.spectral_norm}


@keras.saving.register_keras_serializable(package="acgan_search")
class FadeIn(layers.Layer):
    """Blend of a low-resolution path into a high-resolution path: ``(1 - alpha) * low + alpha * high``.

    ``alpha`` is a non-trainable weight of the layer, set by the trainer from the training step,
    so a saved model carries the blend it was trained with and reproduces the trainer's images.

    Call arguments:
        inputs: ``[low, high]``, two tensors of the same shape.
    """

    def build(self, input_shape) -> None:
        self.alpha = self.add_weight(shape=(), initializer="zeros", trainable=False, name="alpha")

    def call(self, inputs):
        low, high = inputs
        return low + self.alpha * (high - low)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="acgan_search")
class NarrowConv2D(layers.Conv2D):
    """``Conv2D`` with the same result, faster on CPU when it has few output channels.

    oneDNN computes a convolution with one output channel, such as the generator's 5x5
    ``to_image`` layer, at under a tenth of its usual rate. This layer computes the same sum in
    another order. Forward: a depthwise convolution per input channel, summed over the input
    channels. Backward: one stack of the output gradient shifted to each kernel tap, then
    two matmuls, one for the kernel gradient and one for the input gradient. Results match
    ``Conv2D`` up to float32 rounding. ``tests/test_models.py`` checks this, and
    ``docs/benchmarks.md`` records the speed.

    Only stride 1, dilation 1, ``"same"`` padding, odd square kernels, ``channels_last`` and
    ``groups=1``; other arguments raise ``ValueError``. Saved models need this module imported
    to load, like the other custom layers here. Above ``NARROW_CONV_MAX_ELEMENTS`` (large
    batches, large images) the layer computes as ``Conv2D`` does.

    NOTE: timed only on CPUs. When TensorFlow finds a GPU device, the layer computes as ``Conv2D``.
    """

    def __init__(self, filters, kernel_size, **kwargs) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        size = self.kernel_size[0]
        supported = (
            self.kernel_size == (size, size)
            and size % 2 == 1
            and self.strides == (1, 1)
            and self.dilation_rate == (1, 1)
            and self.padding == "same"
            and self.data_format == "channels_last"
            and self.groups == 1
        )
        if not supported:
            raise ValueError(
                f"NarrowConv2D supports only odd square kernels with stride 1, dilation 1, 'same' padding, "
                f"channels_last and groups=1; got kernel_size={self.kernel_size}, strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}, padding={self.padding!r}, data_format={self.data_format!r}, "
                f"groups={self.groups}. Use keras.layers.Conv2D instead."
            )

    def convolution_op(self, inputs, kernel):
        if tf.config.list_physical_devices("GPU"):
            return super().convolution_op(inputs, kernel)
        return _narrow_convolution(inputs, kernel)


# Largest intermediate tensor, in elements, of NarrowConv2D's depthwise form. Above it the layer
# computes with tf.nn.conv2d instead: TensorFlow's depthwise convolution crashed the process
# once its output passed 2**31 elements, and such tensors take gigabytes anyway.
NARROW_CONV_MAX_ELEMENTS = 2**28


def _narrow_convolution(inputs: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Return ``conv2d(inputs, kernel)`` (stride 1, "same" padding, odd square kernel) with a custom gradient."""
    size, _, in_channels, filters = kernel.shape
    taps = size * size

    def elements(tensor: tf.Tensor, factor: int) -> tf.Tensor:
        return tf.reduce_prod(tf.cast(tf.shape(tensor), tf.int64)) * factor

    @tf.custom_gradient
    def convolve(x, w):
        def depthwise_form():
            # per_channel[..., c * filters + f] is input channel c's share of output channel f.
            per_channel = tf.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")
            pixels = tf.shape(per_channel)[:3]
            return tf.reduce_sum(tf.reshape(per_channel, tf.concat([pixels, [in_channels, filters]], 0)), axis=3)

        outputs = tf.cond(
            elements(x, filters) <= NARROW_CONV_MAX_ELEMENTS,
            depthwise_form,
            lambda: tf.nn.conv2d(x, w, strides=1, padding="SAME"),
        )

        def plain_gradient(upstream):
            strides = [1, 1, 1, 1]
            input_gradient = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=w, out_backprop=upstream, strides=strides, padding="SAME"
            )
            kernel_gradient = tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(w), out_backprop=upstream, strides=strides, padding="SAME"
            )
            return input_gradient, kernel_gradient

        def shifted_gradient(upstream):
            # shifted[n, h, w, f * taps + i * size + j] = upstream[n, h + i - r, w + j - r, f]
            # (r = size // 2, zero outside the image): a depthwise convolution with one-hot
            # kernels, which copies values exactly.
            one_hot = tf.reshape(tf.eye(taps, dtype=upstream.dtype), [size, size, 1, taps])
            shifted = tf.nn.depthwise_conv2d(
                upstream, tf.tile(one_hot, [1, 1, filters, 1]), strides=[1, 1, 1, 1], padding="SAME"
            )
            shifted = tf.reshape(shifted, [-1, filters * taps])
            # Tap (i, j) reads the input at offset (i - r, j - r) from each output, so its
            # gradient pairs each input with the output gradient at the mirrored offset.
            kernel_gradient = tf.matmul(tf.reshape(x, [-1, in_channels]), shifted, transpose_a=True)
            kernel_gradient = tf.reverse(tf.reshape(kernel_gradient, [in_channels, filters, size, size]), [2, 3])
            kernel_gradient = tf.transpose(kernel_gradient, [2, 3, 0, 1])
            mirrored = tf.reshape(tf.transpose(tf.reverse(w, [0, 1]), [3, 0, 1, 2]), [filters * taps, in_channels])
            input_gradient = tf.reshape(tf.matmul(shifted, mirrored), tf.shape(x))
            return input_gradient, kernel_gradient

        def gradient(upstream):
            return tf.cond(
                elements(upstream, taps) <= NARROW_CONV_MAX_ELEMENTS,
                lambda: shifted_gradient(upstream),
                lambda: plain_gradient(upstream),
            )

        return outputs, gradient

    # A tensor, not the variable: tf.custom_gradient would otherwise ask for variable gradients.
    return convolve(inputs, tf.convert_to_tensor(kernel))


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy ``name``, then restore the previous global policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def generator_filters_at(config: TrainConfig, level: int) -> int:
    """Return the generator's channel count after ``level`` upsamplings (halved per level, at least 8)."""
    return max(config.generator_filters >> level, 8)


def discriminator_filters_at(config: TrainConfig, level: int) -> int:
    """Return the channel count of the discriminator's ``level``-th strided convolution (doubled, at most 8x)."""
    return config.discriminator_filters * 2 ** min(level, 3)


def _leaky_relu(name: str) -> layers.Layer:
    return layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=name)


def build_generator(config: TrainConfig, num_classes: int) -> keras.Model:
    """Build the conditional generator.

    Args:
        config: Training configuration (image size and channels, latent and embedding sizes,
            filters, self-attention and progressive switches).
        num_classes: Number of classes of the dataset.

    Returns:
        A ``keras.Model`` with inputs ``[noise (N, latent_dim) float32, labels (N,) int32]`` and
        output images (N, H, W, C) in [-1, 1]. With ``config.progressive`` the output is the
        ``FadeIn`` blend of the upsampled half-resolution image and the full-resolution image.
    """
    with dtype_policy(config.precision):
        return _build_generator(config, num_classes)


def _build_generator(config: TrainConfig, num_classes: int) -> keras.Model:
    size = base_resolution(config.image_size)
    filters = config.generator_filters
    noise = keras.Input((config.latent_dim,), dtype="float32", name="noise")
    labels = keras.Input((), dtype="int32", name="labels")

    # Project the noise and the label embedding to the lowest resolution and merge them there.
    hidden = layers.Dense(size * size * filters, name="project_noise")(noise)
    hidden = _leaky_relu("project_noise_activation")(hidden)
    hidden = layers.Reshape((size, size, filters), name="noise_map")(hidden)
    label_map = layers.Embedding(num_classes, config.embedding_dim, name="label_embedding")(labels)
    label_map = layers.Dense(size * size, name="project_label")(label_map)
    label_map = layers.Reshape((size, size, 1), name="label_map")(label_map)
    hidden = layers.Concatenate(name="merge_label")([hidden, label_map])
    if config.self_attention and config.attention_resolution == size:
        hidden = SelfAttention(name=f"self_attention_{size}")(hidden)

    # Upsample by transposed convolutions to the image size.
    level = 0
    half_resolution_features = None
    while size < config.image_size:
        level += 1
        size *= 2
        hidden = layers.Conv2DTranspose(
            generator_filters_at(config, level), 4, strides=2, padding="same", name=f"upsample_{size}"
        )(hidden)
        hidden = _leaky_relu(f"upsample_{size}_activation")(hidden)
        if config.self_attention and config.attention_resolution == size and size < config.image_size:
            hidden = SelfAttention(name=f"self_attention_{size}")(hidden)
        if size * 2 == config.image_size:
            half_resolution_features = hidden

    images = NarrowConv2D(
        config.channels, 5, padding="same", activation="tanh", dtype="float32", name="to_image"
    )(hidden)
    if config.progressive:
        # ProGAN-style fade (Karras et al., 2018): nearest-upsampled half-resolution image,
        # blended into the full-resolution image as the trainer raises alpha from 0 to 1.
        low = NarrowConv2D(
            config.channels, 5, padding="same", activation="tanh", dtype="float32", name="to_image_half"
        )(half_resolution_features)
        low = layers.UpSampling2D(2, interpolation="nearest", dtype="float32", name="upsample_half_image")(low)
        images = FadeIn(dtype="float32", name=GENERATOR_FADE)([low, images])
    return keras.Model([noise, labels], images, name="generator")


def _discriminator_trunk(
    config: TrainConfig, images, num_classes: int, prefix: str, input_size: int, seed_offset: int
) -> list:
    """Build one trunk with its two heads on ``images`` of side ``input_size``; return its three outputs."""

    def maybe_normalised(layer: layers.Layer) -> layers.Layer:
        if config.spectral_norm:
            return layers.SpectralNormalization(layer, dtype=layer.dtype_policy, name=f"{layer.name}_sn")
        return layer

    base = base_resolution(config.image_size)
    hidden = images
    size = input_size
    level = 0
    while size > base:
        size //= 2
        hidden = maybe_normalised(
            layers.Conv2D(
                discriminator_filters_at(config, level), 4, strides=2, padding="same", name=f"{prefix}conv_{size}"
            )
        )(hidden)
        hidden = _leaky_relu(f"{prefix}conv_{size}_activation")(hidden)
        if config.self_attention and config.attention_resolution == size:
            hidden = SelfAttention(spectral_norm=config.spectral_norm, name=f"{prefix}self_attention_{size}")(hidden)
        level += 1

    # Features and heads stay float32 under mixed precision: the losses need float32 logits.
    features = layers.Flatten(dtype="float32", name=f"{prefix}features")(hidden)
    # Each trunk's dropout gets its own seed, so the two scales draw different masks.
    dropped = layers.Dropout(config.dropout, seed=config.seed + seed_offset, dtype="float32", name=f"{prefix}dropout")(features)
    head_suffix = f"_{prefix.rstrip('_')}" if prefix else ""
    adversarial = maybe_normalised(layers.Dense(1, dtype="float32", name=f"{ADVERSARIAL_HEAD}{head_suffix}"))(dropped)
    class_logits = maybe_normalised(layers.Dense(num_classes, dtype="float32", name=f"{CLASS_HEAD}{head_suffix}"))(
        dropped
    )
    return [adversarial, class_logits, features]


def build_discriminator(config: TrainConfig, num_classes: int) -> keras.Model:
    """Build the two-headed discriminator, optionally with a second half-resolution trunk.

    Args:
        config: Training configuration (image shape, filters, dropout, spectral-norm,
            self-attention and multi-scale switches).
        num_classes: Number of classes of the dataset.

    Returns:
        A ``keras.Model`` taking images (N, H, W, C) in [-1, 1] and returning a flat list of
        ``[real/fake logit (N, 1), class logits (N, num_classes), shared features (N, F)]`` per
        scale: one scale, or two with ``config.multi_scale_discriminator`` (full first).
    """
    with dtype_policy(config.precision):
        return _build_discriminator(config, num_classes)


def _build_discriminator(config: TrainConfig, num_classes: int) -> keras.Model:
    images = keras.Input(config.image_shape, dtype="float32", name="images")
    outputs = _discriminator_trunk(config, images, num_classes, "", config.image_size, 0)
    if config.multi_scale_discriminator:
        half = layers.AveragePooling2D(2, name="downsample_half")(images)
        outputs += _discriminator_trunk(config, half, num_classes, "half_", config.image_size // 2, 1)
    return keras.Model(images, outputs, name="discriminator")


def discriminator_head_layers(discriminator: keras.Model) -> tuple[list[layers.Layer], list[layers.Layer]]:
    """Return the discriminator's (real/fake head layers, class head layers), found by name prefix."""
    adversarial = [layer for layer in discriminator.layers if layer.name.startswith(ADVERSARIAL_HEAD)]
    classes = [layer for layer in discriminator.layers if layer.name.startswith(CLASS_HEAD)]
    return adversarial, classes


def fade_layers(model: keras.Model) -> list[FadeIn]:
    """Return the model's ``FadeIn`` layers (empty when progressive training is off)."""
    return [layer for layer in model.layers if isinstance(layer, FadeIn)]
