"""Sample grids: generated images tiled one row per class, saved as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

GRID_GAP_PIXELS = 2  # Background gap between tiles.


def images_to_grid(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Tile images (rows * columns, H, W, C) in [-1, 1] row-major into one uint8 image.

    Returns:
        (rows * (H + gap) - gap, columns * (W + gap) - gap, C) uint8 array, gaps black.
    """
    count, height, width, channels = images.shape
    if count != rows * columns:
        raise ValueError(f"A {rows}x{columns} grid needs {rows * columns} images. Received: {count} images")
    pixels = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    gap = GRID_GAP_PIXELS
    grid = np.zeros((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * (height + gap), column * (width + gap)
        grid[top : top + height, left : left + width] = pixels[index]
    return grid


def save_grid_png(images: np.ndarray, rows: int, columns: int, path: str | os.PathLike) -> None:
    """Save images in [-1, 1] as a PNG grid of ``rows`` x ``columns`` tiles (row-major)."""
    grid = images_to_grid(images, rows, columns)
    if grid.shape[-1] == 1:
        picture = Image.fromarray(grid[..., 0])
    else:
        picture = Image.fromarray(grid)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
