"""tf.data input pipelines: split folders of JPEGs (cats vs dogs) and .npz arrays (CIFAR-10).

Images stay uint8 all the way to the model, which scales them itself: the cache holds a quarter
of what float32 would, and no Python runs per image. Each pipeline is cached after its first
pass (the images are decoded once per job), shuffled with a seed for training only, batched and
prefetched.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cnnlab.models.catsdogs import CLASS_NAMES


def load_split(
    path: str | os.PathLike,
    batch_size: int,
    image_size: tuple[int, int] | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    threads: int | None = None,
) -> tuple[tf.data.Dataset, int]:
    """A batched (images, labels) dataset of one split, and its number of examples.

    `path` is a split folder with one subfolder per class (then `image_size`, height x width, is
    required) or an .npz file with `images` (N, H, W, 3) uint8 and `labels` (N,).
    """
    path = Path(path)
    if path.is_dir():
        if image_size is None:
            raise ValueError(f"{path} is an image folder: its image_size must be given")
        images, count = _image_folder(path, image_size)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            images = tf.data.Dataset.from_tensor_slices((arrays["images"], arrays["labels"]))
            count = len(arrays["labels"])
    else:
        raise FileNotFoundError(
            f"{path} is neither a split folder nor an .npz file: "
            "rerun the data stage that writes it"
        )
    return batched(images, count, batch_size, shuffle, seed, threads), count


def arrays_dataset(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    threads: int | None = None,
) -> tf.data.Dataset:
    """A batched dataset of in-memory arrays (e.g. features computed once)."""
    examples = tf.data.Dataset.from_tensor_slices((inputs, labels))
    return batched(examples, len(labels), batch_size, shuffle, seed, threads)


def batched(
    examples: tf.data.Dataset,
    count: int,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    threads: int | None,
) -> tf.data.Dataset:
    """Cache, [shuffle], batch and prefetch a dataset of single examples.

    The cache comes before the shuffle, so every epoch draws a new order from the cached
    examples (a shuffle before the cache would freeze the first epoch's order).
    """
    examples = examples.cache()
    if shuffle:
        examples = examples.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    examples = examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    if threads:
        # tf.data's own thread pool, sized like the job's, instead of one thread per core.
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        examples = examples.with_options(options)
    return examples


def _image_folder(path: Path, image_size: tuple[int, int]) -> tuple[tf.data.Dataset, int]:
    """The images of a split folder in file-name order, labelled 0 = cat, 1 = dog."""
    images = keras.utils.image_dataset_from_directory(
        path,
        labels="inferred",
        label_mode="binary",
        class_names=CLASS_NAMES,
        image_size=tuple(image_size),
        batch_size=None,
        shuffle=False,
    )
    count = len(images.file_paths)
    # Keras decodes to float32; the split's images already have the training size, so the
    # values are whole numbers and uint8 holds them exactly.
    return images.map(lambda image, label: (tf.cast(tf.round(image), tf.uint8), label)), count
