"""Augmentation samples: one training image as the augmented VGG16 stage sees it, several times.

The samples come from `cnnlab.models.augmentation.augmentation_layers`, the very block that
stage trains with, so the figure shows what training used, not a lookalike.
"""

from __future__ import annotations

import os

import numpy as np

from cnnlab.models.augmentation import augmentation_layers
from cnnlab.plots import image_grid_figure
from cnnlab.visualize.images import load_image, split_images


def augmented_samples(image: np.ndarray, settings: dict, count: int, seed: int) -> list[np.ndarray]:
    """`count` augmented versions (uint8, height x width x 3) of one image in 0..255 pixels.

    `settings` is config `catsdogs.augmentation`. The layers are seeded, so the same seed gives
    the same samples; each call draws a fresh transformation.
    """
    layers = augmentation_layers(settings, seed=seed)
    batch = np.asarray(image, dtype=np.float32)[np.newaxis]
    samples = []
    for _ in range(count):
        augmented = np.asarray(layers(batch, training=True))[0]
        samples.append(np.clip(augmented, 0, 255).astype(np.uint8))
    return samples


def augmentation_figure(
    train_dir: str | os.PathLike,
    settings: dict,
    count: int,
    seed: int,
    title: str,
):
    """The first training image beside `count` augmented versions of it."""
    image_path = split_images(train_dir)[0]
    image = load_image(image_path)
    samples = augmented_samples(image, settings, count, seed)
    images = [(f"original: {image_path.parent.name}", image.astype(np.uint8))]
    images += [(f"augmented {number}", sample) for number, sample in enumerate(samples, start=1)]
    return image_grid_figure([("", images)], title=title, columns=min(len(images), 5))
