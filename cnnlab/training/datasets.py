"""The input path of every model, on every backend: batches drawn from decoded uint8 arrays.

Both data sets reach training as .npz files of `images` (N, H, W, 3) uint8 and `labels` (N,):
CIFAR-10 as parsed from its binary batches, cats vs dogs as its split folders decoded once
(`cnnlab.data.petimages.split_to_arrays`). So no epoch decodes a JPEG and no Python runs per
image. `fit` reads `ArrayBatches.for_fit(epochs)`: on JAX the `PyDataset` itself; on TensorFlow
one tf.data pipeline over the same arrays that serves every epoch of the fit in the same order
(Keras would hand a PyDataset to TensorFlow through `from_generator`, a Python call per batch).
TensorFlow is imported there alone, so the JAX path never imports it.
Images stay uint8 until the model's own rescaling layer (a quarter of float32's memory and
host-to-device traffic).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory (inputs, labels) arrays, in a seeded new order every epoch when
    `shuffle` is set.

    The order of epoch e is a function of (seed, e) alone, so a job resumed from its backup at
    epoch e draws the batches an uninterrupted run would have: `fit` passes the epoch through
    the callback of `for_fit()`. Batches are slices of the arrays, cut in the main thread:
    copying a few MB is far cheaper than a training step, and Keras' JAX trainer already puts
    the next batches on the device while the current one trains.
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
        self._tensorflow_arrays = None  # (inputs, labels) as tensors on the host, made once

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        start, stop = index * self.batch_size, (index + 1) * self.batch_size
        if self._order is None:
            return self.inputs[start:stop], self.labels[start:stop]
        picked = self._order[start:stop]
        return self.inputs[picked], self.labels[picked]

    @property
    def count(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of `epoch` (0-based)."""
        self.epoch = epoch
        self._order = self._order_of(epoch)

    def _order_of(self, epoch: int):
        """The epoch's order, each batch's share sorted: a gather then reads memory in order,
        and the batch holds the same examples."""
        if not self.shuffle:
            return None
        order = epoch_order(self.seed, epoch, len(self.labels))
        starts = range(self.batch_size, len(order), self.batch_size)
        return np.concatenate([np.sort(part) for part in np.split(order, starts)])

    def for_fit(self, epochs: int) -> FitInput:
        """What `fit` reads to train `epochs` epochs on these batches (see `FitInput`).

        On JAX, this PyDataset, which the callback tells each epoch. On TensorFlow, one tf.data
        pipeline for the whole fit: batch i of epoch e gathers the examples of `self[i]` after
        `set_epoch(e)`. Keras makes a new iterator each epoch unless told the steps per epoch,
        and making one instantiates the pipeline's functions (about 4 ms: more than an epoch of
        410 cats/dogs images takes to gather), so here one iterator serves every epoch. The
        epoch a fit starts at is known only once it runs (BackupAndRestore sets it when
        resuming): the callback writes it into the pipeline before the first batch is drawn.
        """
        if keras.backend.backend() != "tensorflow":
            return FitInput(self, None, _EpochCallback(self))
        dataset, first_epoch = _tensorflow_epochs(self, epochs)
        return FitInput(dataset, len(self), _EpochCallback(self, first_epoch))

    def rest_of_epoch(self, epoch: int, first_batch: int) -> keras.utils.PyDataset:
        """Batches `first_batch`.. of `epoch`, as `for_fit` draws them there: what a job resumed
        from a checkpoint within that epoch trains on to finish it (a PyDataset on every
        backend: on TensorFlow a Python call per batch, for the rest of one epoch only)."""
        return _EpochRest(self, epoch, first_batch)

    def for_reading(self):
        """These batches in array order, for one pass (`predict`, `fit`'s validation data): on
        TensorFlow a tf.data pipeline of slices of the arrays, elsewhere this PyDataset."""
        if self.shuffle:
            raise ValueError(
                "a shuffled ArrayBatches is read through for_fit(); for_reading() is in array order"
            )
        if keras.backend.backend() != "tensorflow":
            return self
        import tensorflow as tf  # the TensorFlow backend's alone

        return tf.data.Dataset.from_tensor_slices(self._tensors()).batch(self.batch_size)

    def _tensors(self):
        """(inputs, labels) copied once into TensorFlow's memory on the host, where tf.data runs
        its functions."""
        if self._tensorflow_arrays is None:
            import tensorflow as tf

            with tf.device("/CPU:0"):
                self._tensorflow_arrays = (
                    tf.convert_to_tensor(self.inputs),
                    tf.convert_to_tensor(self.labels),
                )
        return self._tensorflow_arrays


class _EpochRest(keras.utils.PyDataset):
    """Batches first_batch.. of one epoch of an ArrayBatches (see ArrayBatches.rest_of_epoch)."""

    def __init__(self, batches: ArrayBatches, epoch: int, first_batch: int):
        super().__init__()
        if not 0 < first_batch < len(batches):
            raise ValueError(
                f"batch {first_batch} is not within an epoch of {len(batches)} batches"
            )
        self.batches = ArrayBatches(
            batches.inputs, batches.labels, batches.batch_size, batches.shuffle, batches.seed
        )
        self.batches.set_epoch(epoch)
        self.first_batch = first_batch

    def __len__(self) -> int:
        return len(self.batches) - self.first_batch

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        return self.batches[self.first_batch + index]


@dataclass(frozen=True)
class FitInput:
    """What `fit` reads: `model.fit(data, steps_per_epoch=steps_per_epoch, callbacks=[callback,
    ...])`. The callback tells the batches each epoch and belongs in every fit that reads them."""

    data: object
    steps_per_epoch: int | None
    callback: keras.callbacks.Callback


class _EpochCallback(keras.callbacks.Callback):
    """Tells an ArrayBatches which epoch `fit` is starting and, for TensorFlow's pipeline, which
    epoch the fit started at (written into the pipeline's `first_epoch` variable)."""

    def __init__(self, batches: ArrayBatches, first_epoch=None):
        super().__init__()
        self.batches, self.first_epoch = batches, first_epoch
        self.starting = True

    def on_train_begin(self, logs=None):
        self.starting = True

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        if self.first_epoch is not None and self.starting:
            # Keras makes the fit's iterator after this, so no batch was drawn before.
            self.first_epoch.assign(epoch)
        self.starting = False


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order in which a shuffled training split's `count` examples are drawn in `epoch`
    (0-based): a function of (seed, epoch) alone, so a job resumed at epoch e draws what an
    uninterrupted one would. The one description of the order, for every backend."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def _tensorflow_epochs(batches: ArrayBatches, epochs: int):
    """(tf.data dataset, first-epoch variable): every batch of epochs first_epoch .. epochs - 1,
    epoch after epoch, each epoch's batch i the examples of `batches[i]` in that epoch."""
    import tensorflow as tf  # the TensorFlow backend's alone

    count, size, per_epoch = len(batches.labels), batches.batch_size, len(batches)
    identity = np.arange(count)
    # Every epoch's order up front (int32: 60 epochs of CIFAR-10's training split are 11 MB),
    # computed by the same numpy code as the PyDataset's: the order is defined once.
    orders = np.concatenate(
        [
            identity if order is None else order
            for order in (batches._order_of(epoch) for epoch in range(epochs))
        ]
    ).astype(np.int32)
    inputs, labels = batches._tensors()
    # On the host: tf.data runs its functions there, and cannot read a variable on a GPU.
    with tf.device("/CPU:0"):
        orders = tf.convert_to_tensor(orders)
        first_epoch = tf.Variable(0, trainable=False, dtype=tf.int64)

    def batch(position):
        epoch, index = first_epoch + position // per_epoch, position % per_epoch
        start = epoch * count + index * size
        picked = orders[start : start + tf.minimum(np.int64(size), count - index * size)]  # sorted
        return tf.gather(inputs, picked), tf.gather(labels, picked)

    positions = tf.data.Dataset.range(epochs * per_epoch).take_while(
        lambda position: first_epoch * per_epoch + position < epochs * per_epoch  # resumed: fewer
    )
    dataset = positions.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE), first_epoch


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
