"""The one preprocessing step that real and generated images both pass through.

Every image the evaluator classifies or extracts features from goes through
``preprocess_images``, so real and generated images share range, dtype and quantisation.
"""

from __future__ import annotations

import numpy as np

from acgan_search.errors import EvaluationError

# Values beyond this magnitude are not a [-1, 1] image with some overshoot but a wrong scale,
# such as pixels in [0, 255].
MAX_ABS_PIXEL = 2.0
# Real images come from 8-bit pixels, so generated images are rounded to the same 256 levels.
QUANTISATION_LEVELS = 256


def preprocess_images(images: np.ndarray, image_shape: tuple[int, int, int], *, name: str = "images") -> np.ndarray:
    """Validate images, clip them to [-1, 1] and quantise them to 8-bit levels.

    The quantisation maps x to round((x + 1) * 127.5) / 127.5 - 1. Images made from uint8
    pixels by ``acgan_search.data.uint8_to_unit_range`` pass unchanged, bit for bit. Generated
    images, and real images resized by the data loader, are rounded to the same grid, so
    neither side keeps sub-level detail the other lacks.

    Args:
        images: Array of shape (N, height, width, channels) with values in [-1, 1].
        image_shape: Expected (height, width, channels) of one image.
        name: What the images are, used in error messages.

    Returns:
        float32 array of the same shape with values on the 8-bit grid in [-1, 1].

    Raises:
        EvaluationError: The input is not a 4-D array of the expected image shape, is empty,
            contains NaN or infinite values, or has values beyond +-2 (a wrong scale).
    """
    array = np.asarray(images)
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(image_shape):
        raise EvaluationError(
            f"{name} must have shape (N, {', '.join(str(side) for side in image_shape)}) to match "
            f"the dataset's images. Received: shape={array.shape}. Check the generator's output "
            "shape and the dataset's image_size and channels."
        )
    if array.shape[0] == 0:
        raise EvaluationError(f"{name} must contain at least one image. Received: shape={array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise EvaluationError(
            f"{name} must be floating point in [-1, 1]. Received: dtype={array.dtype}. "
            "Convert uint8 pixels with acgan_search.data.uint8_to_unit_range."
        )
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.shape[0] - finite.reshape(array.shape[0], -1).all(axis=1).sum())
        raise EvaluationError(
            f"{name} contain NaN or infinite values: the generator diverged or produced invalid "
            f"output. Received: {bad} of {array.shape[0]} images with non-finite pixels."
        )
    largest = float(np.abs(array).max())
    if largest > MAX_ABS_PIXEL:
        raise EvaluationError(
            f"{name} must be scaled to [-1, 1]; values beyond +-{MAX_ABS_PIXEL} mean a different "
            f"scale, such as [0, 255]. Received: max |value|={largest:.4g}"
        )
    half_range = (QUANTISATION_LEVELS - 1) / 2.0
    clipped = np.clip(array, -1.0, 1.0)
    return (np.round((clipped + 1.0) * half_range) / half_range - 1.0).astype(np.float32)
