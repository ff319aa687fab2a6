"""The input path of every model, on every backend: batches drawn from decoded uint8 arrays.

Both data sets reach training as .npz files of `images` (N, H, W, 3) uint8 and `labels` (N,):
CIFAR-10 as parsed from its binary batches, cats vs dogs as its split folders decoded once
(`cnnlab.data.petimages.split_to_arrays`). So no epoch decodes a JPEG, no Python runs per
image, and nothing here needs TensorFlow: Keras feeds a `PyDataset` to TensorFlow and JAX alike.
Images stay uint8 until the model's own rescaling layer (a quarter of float32's memory and
host-to-device traffic).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory (inputs, labels) arrays, in a seeded new order every epoch when
    `shuffle` is set.

    The order of epoch e is a function of (seed, e) alone, so a job resumed from its backup at
    epoch e draws the batches an uninterrupted run would have: `fit` passes the epoch through
    the callback from `epoch_callback()`. Batches are slices of the arrays, cut in the main
    thread: copying a few MB is far cheaper than a training step, and Keras' JAX trainer
    already puts the next batches on the device while the current one trains.
    """

    def __init__(
        self,
        inputs: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        if len(inputs) != len(labels):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
        if len(labels) == 0:
            raise ValueError("no examples to batch")
        if shuffle and seed is None:
            raise ValueError("a shuffled ArrayBatches needs a seed, so its orders repeat")
        self.inputs, self.labels = inputs, labels
        self.batch_size = batch_size
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0
        self._order = self._order_of(0)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        start, stop = index * self.batch_size, (index + 1) * self.batch_size
        if self._order is None:
            return self.inputs[start:stop], self.labels[start:stop]
        # Sorted, the gather reads memory in order; the batch holds the same examples.
        picked = np.sort(self._order[start:stop])
        return self.inputs[picked], self.labels[picked]

    @property
    def count(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of `epoch` (0-based)."""
        self.epoch = epoch
        self._order = self._order_of(epoch)

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback that tells this dataset which epoch `fit` is starting."""
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: self.set_epoch(epoch)
        )

    def _order_of(self, epoch: int):
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.labels))


def read_arrays(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a split's .npz file."""
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        raise FileNotFoundError(
            f"{path} is not a split's .npz file: rerun the data stage that writes it"
        )
    with np.load(path, allow_pickle=False) as arrays:
        missing = {"images", "labels"} - set(arrays.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}: rerun the data stage that writes it")
        return arrays["images"], arrays["labels"]


def read_identities(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(ids, class_names) of a split's .npz file: each image's name in its split, in array
    order, and the name of each label."""
    with np.load(path, allow_pickle=False) as arrays:
        missing = {"ids", "class_names"} - set(arrays.files)
        if missing:
            raise ValueError(
                f"{path} lacks {sorted(missing)}, written by an older version of the data stage: "
                "rerun the job that writes it (snakemake --forcerun on that file)"
            )
        return arrays["ids"], arrays["class_names"]


def load_split(
    path: str | os.PathLike,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> ArrayBatches:
    """The batches of one split's .npz file (`count` is its number of examples)."""
    images, labels = read_arrays(path)
    return ArrayBatches(images, labels, batch_size, shuffle=shuffle, seed=seed)
