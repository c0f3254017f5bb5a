"""Random rotation and translation of image batches, differentiable and traceable by XLA.

Each image gets its own rotation about its centre and its own shift, sampled uniformly from
[-max, max]. Pixels are resampled bilinearly, and positions that fall outside the image take
the background value -1 (black in [-1, 1]). Gathers are used instead of
``ImageProjectiveTransformV3`` because that op has no XLA kernel, and because a gather-based
resampling passes gradients to the image values, so generated images can be augmented inside
the generator update.
"""

from __future__ import annotations

import math

import tensorflow as tf

BACKGROUND = -1.0


def random_affine(
    images: tf.Tensor, rng: tf.random.Generator, max_degrees: float, max_pixels: float
) -> tf.Tensor:
    """Rotate and translate each image of a batch by random amounts.

    Args:
        images: (N, H, W, C) float32 in [-1, 1], with a static shape.
        rng: Source of the per-image rotation angles and shifts.
        max_degrees: Largest absolute rotation in degrees.
        max_pixels: Largest absolute shift along each axis in pixels.

    Returns:
        The transformed batch, same shape and dtype.
    """
    batch, height, width, _ = images.shape
    angles = rng.uniform([batch], -max_degrees, max_degrees) * (math.pi / 180.0)
    shifts = rng.uniform([batch, 2], -max_pixels, max_pixels)
    return affine_transform(images, angles, shifts)


def affine_transform(images: tf.Tensor, angles: tf.Tensor, shifts: tf.Tensor) -> tf.Tensor:
    """Rotate each image by ``angles`` about its centre, then shift it.

    Args:
        images: (N, H, W, C) float32.
        angles: (N,) rotation angles in radians; positive turns the image clockwise as
            displayed (row index growing downwards).
        shifts: (N, 2) shifts in pixels as (dy, dx); positive moves content down and right.

    Returns:
        The resampled batch, bilinear, with -1 outside the source image.
    """
    batch, height, width, channels = images.shape
    ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    centre_y, centre_x = (height - 1) / 2.0, (width - 1) / 2.0
    # Inverse map: for each output pixel, find the source position it comes from.
    out_y = ys[None] - centre_y - shifts[:, 0, None, None]
    out_x = xs[None] - centre_x - shifts[:, 1, None, None]
    cos, sin = tf.cos(angles)[:, None, None], tf.sin(angles)[:, None, None]
    source_y = cos * out_y - sin * out_x + centre_y
    source_x = sin * out_y + cos * out_x + centre_x
    return _bilinear_sample(images, source_y, source_x)


def _bilinear_sample(images: tf.Tensor, source_y: tf.Tensor, source_x: tf.Tensor) -> tf.Tensor:
    batch, height, width, channels = images.shape
    # Pad by one background pixel on each side so out-of-range corners read the background.
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=BACKGROUND)
    flat = tf.reshape(padded, [batch * (height + 2) * (width + 2), channels])
    source_y = tf.clip_by_value(source_y + 1.0, 0.0, height + 1.0)
    source_x = tf.clip_by_value(source_x + 1.0, 0.0, width + 1.0)
    y0 = tf.floor(source_y)
    x0 = tf.floor(source_x)
    wy = source_y - y0
    wx = source_x - x0
    y0 = tf.cast(y0, tf.int32)
    x0 = tf.cast(x0, tf.int32)
    y1 = tf.minimum(y0 + 1, height + 1)
    x1 = tf.minimum(x0 + 1, width + 1)
    offsets = (tf.range(batch, dtype=tf.int32) * (height + 2) * (width + 2))[:, None, None]

    def read(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        return tf.gather(flat, offsets + y * (width + 2) + x)

    wy = wy[..., None]
    wx = wx[..., None]
    top = read(y0, x0) * (1.0 - wx) + read(y0, x1) * wx
    bottom = read(y1, x0) * (1.0 - wx) + read(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy
