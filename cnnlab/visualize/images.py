"""The images the figures show: a split's files in a fixed order, read as the models read them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def split_images(split_dir: str | os.PathLike) -> list[Path]:
    """Every image of a split folder (one subfolder per class), sorted by class, then name."""
    split_dir = Path(split_dir)
    images = sorted(path for path in split_dir.glob("*/*") if path.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(
            f"no images in {split_dir}/<class>/: rerun the split_petimages job that writes it"
        )
    return images


def pick_image(split_dir: str | os.PathLike, index: int) -> Path:
    """The `index`-th image of a split, with an error that says how many there are."""
    images = split_images(split_dir)
    if not 0 <= index < len(images):
        raise IndexError(
            f"image index {index} is out of range: {split_dir} holds {len(images)} images, so "
            f"set it between 0 and {len(images) - 1} (config figures.activation_image_index)"
        )
    return images[index]


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """An RGB image as float32 pixels in 0..255, height x width x 3, resized to `size` (height,
    width) if given.

    Split images are already at the training size; resizing only guards against a model
    trained at another size.
    """
    with Image.open(path) as image:
        image = image.convert("RGB")
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32)
